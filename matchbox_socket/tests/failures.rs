//! The fork's failure paths, on real native WebRTC: a peer's bad signal, a
//! stalled handshake, a peer that leaves mid-handshake and a disconnect on
//! purpose each end that one peer's connection, never the socket.

#[path = "../../tests/support/sealed.rs"]
mod sealed;
mod support;
use sealed::sealed;

use matchbox_socket::{PeerSignal, PeerState};
use std::time::{Duration, Instant};
use support::{Hub, Peer, RawPeer};

/// Answers that are not SDP, or not a usable answer.
const BAD_ANSWERS: [&str; 4] = [
    "garbage",
    "",
    "v=0\r\nnonsense",
    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\n",
];

/// ICE candidates that are not JSON, not a candidate, or nonsense in a
/// candidate's shape.
const BAD_CANDIDATES: [&str; 5] = [
    "not json",
    "{}",
    r#"{"candidate":"candidate:garbage","sdpMid":"0","sdpMLineIndex":0}"#,
    r#"{"candidate":"candidate:1 1 udp 1 999.1.1.1 70000 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
    r#"{"candidate":"","sdpMid":"nope","sdpMLineIndex":9}"#,
];

#[test]
fn a_bad_answer_fails_that_peer_only() {
    if !sealed("a_bad_answer_fails_that_peer_only") {
        return;
    }
    let hub = Hub::default();
    let mut host = Peer::start(&hub, None);
    let mut friend = Peer::start(&hub, None);
    let friend_id = friend.id();
    host.wait_for_state(friend_id, PeerState::Connected);

    for answer in BAD_ANSWERS {
        let mut hostile = RawPeer::join(&hub);
        let host_id = host.id();
        hostile.offer_from(host_id);
        hostile.send(host_id, PeerSignal::Answer(answer.into()));
        host.wait_for_state(hostile.id, PeerState::Disconnected);
        assert_eq!(
            host.state(friend_id),
            Some(PeerState::Connected),
            "after {answer:?}"
        );
        host.assert_link(&mut friend);
        friend.assert_link(&mut host);
        hostile.leave();
    }
}

#[test]
fn bad_ice_candidates_are_skipped() {
    if !sealed("bad_ice_candidates_are_skipped") {
        return;
    }
    let hub = Hub::default();
    let mut host = Peer::start(&hub, None);
    let host_id = host.id();
    // Before the answer, during the handshake of a real peer (sent in its name).
    let mut friend = Peer::start(&hub, None);
    let friend_id = friend.id();
    for candidate in BAD_CANDIDATES {
        hub.signal(
            friend_id,
            host_id,
            PeerSignal::IceCandidate(candidate.into()),
        );
    }
    host.wait_for_state(friend_id, PeerState::Connected);
    friend.wait_for_state(host_id, PeerState::Connected);
    // And once connected.
    for candidate in BAD_CANDIDATES {
        hub.signal(
            friend_id,
            host_id,
            PeerSignal::IceCandidate(candidate.into()),
        );
        hub.signal(
            host_id,
            friend_id,
            PeerSignal::IceCandidate(candidate.into()),
        );
    }
    host.assert_link(&mut friend);
    friend.assert_link(&mut host);
    assert_eq!(host.state(friend_id), Some(PeerState::Connected));
}

#[test]
fn an_unanswered_handshake_times_out() {
    if !sealed("an_unanswered_handshake_times_out") {
        return;
    }
    // Long enough for the friend's real handshake on any machine, short
    // enough for a test.
    let timeout = Duration::from_secs(10);
    let hub = Hub::default();
    let mut host = Peer::start(&hub, Some(timeout));
    let mut friend = Peer::start(&hub, None);
    host.wait_for_state(friend.id(), PeerState::Connected);

    let mut silent = RawPeer::join(&hub);
    silent.offer_from(host.id());
    let asked = Instant::now();
    host.wait_for_state(silent.id, PeerState::Disconnected);
    assert!(
        asked.elapsed() >= timeout - Duration::from_millis(100),
        "{:?}",
        asked.elapsed()
    );
    // Its late answer starts nothing, and the friend never noticed.
    silent.send(host.id(), PeerSignal::Answer("garbage".into()));
    host.assert_link(&mut friend);
    friend.assert_link(&mut host);
    assert_eq!(host.state(friend.id()), Some(PeerState::Connected));
}

#[test]
fn an_offer_that_is_not_sdp_fails_that_peer_only() {
    if !sealed("an_offer_that_is_not_sdp_fails_that_peer_only") {
        return;
    }
    let hub = Hub::default();
    // Whoever is in the room first offers: here the hostile peer, to each
    // socket that joins after it.
    let hostile = RawPeer::join(&hub);
    let mut host = Peer::start(&hub, None);
    let host_id = host.id();
    hostile.send(host_id, PeerSignal::Offer("garbage".into()));
    host.wait_for_state(hostile.id, PeerState::Disconnected);
    // Its next signals are ignored: no second handshake starts.
    hostile.send(host_id, PeerSignal::Offer("v=0\r\nnonsense".into()));
    let mut friend = Peer::start(&hub, None);
    host.wait_for_state(friend.id(), PeerState::Connected);
    friend.assert_link(&mut host);
    assert_eq!(host.state(hostile.id), Some(PeerState::Disconnected));
}

#[test]
fn a_peer_is_disconnected_on_purpose() {
    if !sealed("a_peer_is_disconnected_on_purpose") {
        return;
    }
    let hub = Hub::default();
    let mut host = Peer::start(&hub, None);
    let mut friend = Peer::start(&hub, None);
    let mut other = Peer::start(&hub, None);
    let (host_id, friend_id, other_id) = (host.id(), friend.id(), other.id());
    host.wait_for_state(friend_id, PeerState::Connected);
    host.wait_for_state(other_id, PeerState::Connected);

    host.socket.disconnect(friend_id);
    host.wait_for_state(friend_id, PeerState::Disconnected);
    // The peer connection is closed: the other side sees its channels close.
    friend.wait_for_state(host_id, PeerState::Disconnected);
    host.assert_link(&mut other);
    other.assert_link(&mut host);
    // A disconnected peer cannot come back in through a new handshake.
    hub.signal(friend_id, host_id, PeerSignal::Offer("v=0\r\n".into()));
    host.assert_link(&mut other);
    assert_eq!(host.state(friend_id), Some(PeerState::Disconnected));
}

#[test]
fn leaving_mid_handshake_reports_the_peer_gone_at_once() {
    if !sealed("leaving_mid_handshake_reports_the_peer_gone_at_once") {
        return;
    }
    let hub = Hub::default();
    // No timeout: only the leave can end these handshakes.
    let mut host = Peer::start(&hub, None);
    for _ in 0..5 {
        let mut leaver = RawPeer::join(&hub);
        leaver.offer_from(host.id());
        let id = leaver.id;
        leaver.leave();
        host.wait_for_state(id, PeerState::Disconnected);
    }
    let mut friend = Peer::start(&hub, None);
    host.wait_for_state(friend.id(), PeerState::Connected);
    host.assert_link(&mut friend);
}
