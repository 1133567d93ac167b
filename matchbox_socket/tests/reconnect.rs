//! Signaling comes and goes, peers stay: on real native WebRTC, with the
//! in-memory hub playing a server that drops connections, restarts, gives a
//! new id, or is unreachable. Connected peers keep their links through all
//! of it, and `reconnect_signaling` lets new peers in again on the same
//! socket.

#[path = "../../tests/support/sealed.rs"]
mod sealed;
mod support;
use sealed::sealed;

use matchbox_socket::{PeerEvent, PeerSignal, PeerState, SignalingState};
use std::{
    sync::{Mutex, Once},
    thread,
    time::Duration,
};
use support::{Hub, Peer, RawPeer, Sent, UNREACHABLE, seat_url};

const CLOSED: &str = "closed by the server";

/// A socket that outlives its signaling sessions, waiting forever for a
/// handshake (these tests end handshakes themselves).
fn surviving(hub: &Hub) -> Peer {
    Peer::start_with(hub, |builder| {
        builder.survive_signaling_loss(true).handshake_timeout(None)
    })
}

fn lost(reason: &str) -> SignalingState {
    SignalingState::Lost(reason.into())
}

#[test]
fn peers_outlive_a_signaling_restart_and_meet_a_new_peer() {
    if !sealed("peers_outlive_a_signaling_restart_and_meet_a_new_peer") {
        return;
    }
    let hub = Hub::default();
    let mut a = surviving(&hub);
    let mut b = surviving(&hub);
    let (a_id, b_id) = (a.id(), b.id());
    a.wait_for_state(b_id, PeerState::Connected);
    b.wait_for_state(a_id, PeerState::Connected);
    assert_eq!(a.socket.signaling_state(), SignalingState::Connected);

    hub.restart();
    a.wait_signaling(lost(CLOSED));
    b.wait_signaling(lost(CLOSED));
    a.assert_link(&mut b);
    b.assert_link(&mut a);

    // The same socket, its seat back (the server gives the same id).
    a.socket.reconnect_signaling(seat_url(a_id));
    b.socket.reconnect_signaling(seat_url(b_id));
    a.wait_signaling(SignalingState::Connected);
    b.wait_signaling(SignalingState::Connected);
    assert_eq!((a.id(), b.id()), (a_id, b_id));
    a.assert_link(&mut b);
    b.assert_link(&mut a);

    // A peer the new session introduces connects to both.
    let mut c = Peer::start(&hub, None);
    let c_id = c.id();
    a.wait_for_state(c_id, PeerState::Connected);
    b.wait_for_state(c_id, PeerState::Connected);
    a.assert_link(&mut c);
    c.assert_link(&mut a);
    c.assert_link(&mut b);
    assert!(!a.history.contains(&(b_id, PeerState::Disconnected)));
    assert!(!b.history.contains(&(a_id, PeerState::Disconnected)));
}

#[test]
fn a_connected_peer_that_leaves_signaling_stays_connected() {
    if !sealed("a_connected_peer_that_leaves_signaling_stays_connected") {
        return;
    }
    let hub = Hub::default();
    let mut a = Peer::start(&hub, None);
    let mut b = Peer::start(&hub, None);
    let b_id = b.id();
    a.wait_for_state(b_id, PeerState::Connected);

    // The server drops b's connection and tells a that b left.
    hub.kick(b_id, None);
    b.wait_signaling(lost(CLOSED));
    // a handles the events of its session in order: once it connects to a
    // peer introduced after b left, it has handled b's leaving.
    let mut c = Peer::start(&hub, None);
    a.wait_for_state(c.id(), PeerState::Connected);
    assert!(
        !a.history.contains(&(b_id, PeerState::Disconnected)),
        "{:?}",
        a.history
    );
    a.assert_link(&mut b);
    b.assert_link(&mut a);
    assert_eq!(a.state(b_id), Some(PeerState::Connected));
}

/// Warnings, for the test that looks for one (by the ids in it: several
/// tests may run in this process).
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct WarningLog;

impl log::Log for WarningLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

#[test]
fn a_new_id_from_the_server_is_warned_about_and_ignored() {
    if !sealed("a_new_id_from_the_server_is_warned_about_and_ignored") {
        return;
    }
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        if log::set_logger(&WarningLog).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
    let hub = Hub::default();
    let mut a = surviving(&hub);
    let mut b = Peer::start(&hub, None);
    let a_id = a.id();
    a.wait_for_state(b.id(), PeerState::Connected);

    // No seat in the URL: the hub assigns a new id. The session still open
    // is replaced.
    a.socket.reconnect_signaling("memory://room");
    a.wait_signaling(SignalingState::Connected);
    assert_eq!(a.id(), a_id);
    a.assert_running();
    let warned = WARNINGS
        .lock()
        .unwrap()
        .iter()
        .any(|warning| warning.contains("assigned id") && warning.contains(&a_id.to_string()));
    assert!(warned, "{:?}", WARNINGS.lock().unwrap());
    a.assert_link(&mut b);
    b.assert_link(&mut a);
}

#[test]
fn without_peers_a_surviving_socket_waits_for_signaling() {
    if !sealed("without_peers_a_surviving_socket_waits_for_signaling") {
        return;
    }
    let hub = Hub::default();
    let mut a = surviving(&hub);
    let a_id = a.id();

    hub.kick(a_id, None);
    a.wait_signaling(lost(CLOSED));
    thread::sleep(Duration::from_secs(1));
    a.assert_running();

    // A server that does not answer: lost again, with its reason, and the
    // socket still waits.
    a.socket.reconnect_signaling(UNREACHABLE);
    a.wait_until("the unreachable server's reason", |p| {
        matches!(p.socket.signaling_state(), SignalingState::Lost(reason) if reason.contains("no signaling server"))
    });
    thread::sleep(Duration::from_secs(1));
    a.assert_running();

    a.socket.reconnect_signaling(seat_url(a_id));
    a.wait_signaling(SignalingState::Connected);
    assert_eq!(a.id(), a_id);
    let mut b = Peer::start(&hub, None);
    a.wait_for_state(b.id(), PeerState::Connected);
    a.assert_link(&mut b);
    b.assert_link(&mut a);
}

#[test]
fn without_peers_a_socket_ends_with_its_signaling() {
    if !sealed("without_peers_a_socket_ends_with_its_signaling") {
        return;
    }
    let hub = Hub::default();
    let mut a = Peer::start(&hub, None);
    let a_id = a.id();

    hub.kick(a_id, None);
    // As before the fork: a server that closes the connection ends the
    // socket without an error.
    let ended = a.wait_ended();
    assert!(ended.is_ok(), "{ended:?}");
    assert_eq!(a.socket.signaling_state(), lost(CLOSED));
    // Too late to reconnect: nothing happens.
    a.socket.reconnect_signaling(seat_url(a_id));
    assert_eq!(a.socket.signaling_state(), lost(CLOSED));
}

#[test]
fn signals_made_without_signaling_never_reach_the_next_server() {
    if !sealed("signals_made_without_signaling_never_reach_the_next_server") {
        return;
    }
    let hub = Hub::default();
    let mut a = surviving(&hub);
    let a_id = a.id();
    // a offers to r, and holds its candidates until an answer comes.
    let mut r = RawPeer::join(&hub);
    let offer = r.offer_from(a_id);

    // A real answer to that offer, from a socket in another room.
    let other_room = Hub::default();
    let mut x = RawPeer::join(&other_room);
    let mut answerer = Peer::start(&other_room, None);
    let answerer_id = answerer.id();
    x.send(answerer_id, PeerSignal::Offer(offer));
    let answer = x.answer_from(answerer_id);

    // The server passes a the answer and closes the connection: a's
    // handshake sends its candidates with no session open.
    hub.kick(
        a_id,
        Some(PeerEvent::Signal {
            sender: r.id,
            data: PeerSignal::Answer(answer),
        }),
    );
    let candidates = |a: &Peer| {
        a.socket
            .gathered_candidates()
            .iter()
            .filter(|(peer, _)| *peer == r.id)
            .map(|(_, kinds)| kinds.host + kinds.server_reflexive + kinds.relay)
            .sum::<u16>()
    };
    a.wait_until("candidates sent with no session open", |a| {
        candidates(a) > 0
    });
    assert_eq!(a.socket.signaling_state(), lost(CLOSED));
    let during_the_gap = candidates(&a);

    hub.forget_sent();
    a.socket.reconnect_signaling(seat_url(a_id));
    a.wait_signaling(SignalingState::Connected);
    // The handshake belonged to the old session: cancelled.
    a.wait_for_state(r.id, PeerState::Disconnected);
    // What a sends in the new session goes out in order: once its offer to
    // a newcomer is through, anything queued before it would be too.
    let mut newcomer = RawPeer::join(&hub);
    newcomer.offer_from(a_id);
    let since = candidates(&a) - during_the_gap;
    let sent = hub.sent();
    let to_r = sent
        .iter()
        .filter(
            |sent| matches!(sent, Sent::Signal { from, to, .. } if *from == a_id && *to == r.id),
        )
        .count();
    assert!(
        to_r <= usize::from(since),
        "{to_r} signals for r reached the new server, {since} made since it opened: {sent:?}"
    );
}

#[test]
fn a_new_session_lets_a_disconnected_peer_connect_again() {
    if !sealed("a_new_session_lets_a_disconnected_peer_connect_again") {
        return;
    }
    let hub = Hub::default();
    let mut a = surviving(&hub);
    let mut b = surviving(&hub);
    let (a_id, b_id) = (a.id(), b.id());
    a.wait_for_state(b_id, PeerState::Connected);
    a.socket.disconnect(b_id);
    a.wait_for_state(b_id, PeerState::Disconnected);
    b.wait_for_state(a_id, PeerState::Disconnected);

    // In the same session, a ignores b; the new server introduces them anew.
    hub.restart();
    a.wait_signaling(lost(CLOSED));
    b.wait_signaling(lost(CLOSED));
    a.socket.reconnect_signaling(seat_url(a_id));
    a.wait_signaling(SignalingState::Connected);
    b.socket.reconnect_signaling(seat_url(b_id));
    a.wait_for_state(b_id, PeerState::Connected);
    b.wait_for_state(a_id, PeerState::Connected);
    a.assert_link(&mut b);
    b.assert_link(&mut a);
}
