//! The `bevy_replicon` messaging backend over [`PeerLinks`](super::PeerLinks),
//! as two plugins, one per side (replicon's advice in `shared/backend.rs`).
//!
//! - [`host`]: on the host (replicon's listen server) every linked peer
//!   becomes a [`ConnectedClient`] entity.
//! - [`client`]: on a client the one linked peer is the host.
//!
//! Both read the links through one loop, `receive`: it holds each peer to
//! its budget ([`gate`]), answers pings, times pongs, drops malformed packets
//! and cuts off the peers that send too many, and hands the backend what is
//! left, in order. Packets are framed by [`Packet`]; replicon's `Unreliable` channels
//! go on the unreliable data channel and the others on the reliable one,
//! which is ordered (a superset of `Unordered`). Every linked peer is pinged
//! twice a second: matchbox keeps no round-trip statistics, and players want
//! to see their ping.

pub mod client;
pub mod gate;
pub mod host;
pub mod stats;
pub mod watch;

use core::time::Duration;
use std::collections::HashMap;

use bevy::prelude::*;
use bevy_replicon::prelude::*;
use bytes::Bytes;

use super::{
    Delivery, LinkClosed, LinkEvent, PeerId, Transport,
    packet::{MalformedPacket, Packet},
};
use gate::{PeerCutOff, PeerGate};
use stats::LinkStats;
use watch::LinkWatch;

/// Largest replicon message sent unsplit on the unreliable channel: fits one
/// UDP datagram after DTLS, SCTP and IP headers.
pub const MAX_UNRELIABLE_SIZE: usize = 1_100;

/// How often every linked peer is pinged.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);

/// A ping not answered within this is counted as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `bevy_replicon` over the app's [`Transport`]: the host and client
/// backends and what they share.
pub struct TransportBridgePlugin;

impl Plugin for TransportBridgePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LinkedPeers>()
            .init_resource::<PingTracker>()
            .init_resource::<PeerGate>()
            .init_resource::<LinkWatch>()
            .init_resource::<LinkStats>()
            .add_message::<TransportClosed>()
            .add_message::<MalformedPacketReceived>()
            .add_message::<PeerCutOff>()
            .add_message::<PeerDeparted>()
            .add_systems(
                PreUpdate,
                (apply_peer_limits, stats::forget_without_links)
                    .before(ServerSystems::ReceivePackets)
                    .before(ClientSystems::ReceivePackets),
            )
            .add_message::<HostLinkChanged>()
            .add_plugins((host::HostBackendPlugin, client::ClientBackendPlugin));
    }
}

/// Keeps the gate's limits those of the settings.
///
/// A client takes no rate limit from its host: the host's updates are the
/// game, a large world splits them into many packets a tick, and a host cut
/// off is a game over. Malformed packets, the frame budget and the backlog
/// still count.
fn apply_peer_limits(
    settings: Option<Res<crate::P2pSettings>>,
    role: Option<Res<crate::role::Role>>,
    mut gate: ResMut<PeerGate>,
    mut watch: ResMut<LinkWatch>,
) {
    let role_changed = role.as_ref().is_some_and(|r| r.is_changed());
    let Some(settings) = settings.filter(|s| s.is_changed() || role_changed) else {
        return;
    };
    watch.timeout = settings.link_timeout;
    let mut limits = settings.peer_limits;
    if role.as_deref() == Some(&crate::role::Role::Client) {
        limits.packets_per_second = u32::MAX;
    }
    gate.set_limits(limits);
}

/// Written when the app's links close for a reason other than leaving. The
/// session then closes the [`Transport`].
#[derive(Message, Clone, Debug)]
pub struct TransportClosed(pub LinkClosed);

/// Written when a peer sends bytes that are not a packet of ours, or a
/// message on a channel that does not exist. The packet is dropped; a peer
/// that sends too many is cut off ([`PeerCutOff`]).
#[derive(Message, Clone, Copy, Debug)]
pub struct MalformedPacketReceived {
    /// Who sent it.
    pub from: PeerId,
}

/// The link from a client to its host came up or went down.
#[derive(Message, Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostLinkChanged {
    /// Linked to the host, whose peer id this is (new after a host reconnect).
    Up(PeerId),
    /// The host link is gone.
    Lost,
    /// The host said goodbye: it left the room on purpose.
    Ended,
}

/// The peer behind a [`ConnectedClient`] entity on the host.
#[derive(Component, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LinkedPeer(pub PeerId);

/// On a client entity of the host that is despawned because the client is
/// gone for good: it said goodbye, or was cut off or refused. Without it, a
/// client whose link went down may come back, and its player waits.
#[derive(Component, Clone, Copy, Debug)]
pub struct Departed;

/// Written on the host when a client said goodbye: it left on purpose,
/// and its seat on the server can go at once.
#[derive(Message, Clone, Copy, PartialEq, Eq, Debug)]
pub struct PeerDeparted(pub PeerId);

/// Which peers are linked: on the host, peer to client entity; on a client,
/// the host's peer.
#[derive(Resource, Default, Debug)]
pub struct LinkedPeers {
    clients: HashMap<PeerId, Entity>,
    host: Option<PeerId>,
}

impl LinkedPeers {
    /// The host's peer, on a client whose host link is up.
    pub fn host(&self) -> Option<PeerId> {
        self.host
    }

    /// The client entity of a linked peer, on the host.
    pub fn client(&self, peer: PeerId) -> Option<Entity> {
        self.clients.get(&peer).copied()
    }

    /// How many client peers are linked, on the host.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The linked client peers, on the host.
    pub fn clients(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.clients.keys().copied()
    }
}

/// Round-trip probes in flight and their results. Pure bookkeeping: it says
/// which probes to send, the caller sends them.
#[derive(Resource, Default)]
pub struct PingTracker {
    next_seq: u32,
    next_round: Duration,
    in_flight: HashMap<u32, (PeerId, Duration)>,
    timings: HashMap<PeerId, Timing>,
}

/// What the pongs of one peer measured, in seconds.
#[derive(Clone, Copy, Default, Debug)]
struct Timing {
    /// Smoothed like TCP's SRTT.
    rtt: f64,
    /// RFC 3550's jitter estimator, on round trips.
    jitter: f64,
    /// The last sample, which the next one is compared with.
    last: f64,
    loss: f64,
}

impl PingTracker {
    /// The pings due at `now`, one per peer, every [`PING_INTERVAL`]; probes
    /// unanswered after `PING_TIMEOUT` (3 s) count as lost.
    pub fn probes(
        &mut self,
        now: Duration,
        peers: impl Iterator<Item = PeerId>,
    ) -> Vec<(PeerId, Packet)> {
        let mut lost: Vec<PeerId> = Vec::new();
        self.in_flight.retain(|_, (peer, sent)| {
            let keep = now.saturating_sub(*sent) < PING_TIMEOUT;
            if !keep {
                lost.push(*peer);
            }
            keep
        });
        for peer in lost {
            let timing = self.timings.entry(peer).or_default();
            timing.loss = timing.loss * 0.9 + 0.1;
        }
        if now < self.next_round {
            return Vec::new();
        }
        self.next_round = now + PING_INTERVAL;
        peers
            .map(|peer| {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                self.in_flight.insert(seq, (peer, now));
                (peer, Packet::Ping(seq))
            })
            .collect()
    }

    /// A pong for probe `seq` came from `from` at `now`.
    pub fn answered(&mut self, from: PeerId, seq: u32, now: Duration) {
        // Only the probed peer's pong counts: another peer's guess at the
        // number neither times nor cancels the probe.
        if self
            .in_flight
            .get(&seq)
            .is_none_or(|(peer, _)| *peer != from)
        {
            return;
        }
        let Some((peer, sent)) = self.in_flight.remove(&seq) else {
            return;
        };
        let sample = now.saturating_sub(sent).as_secs_f64();
        let timing = self.timings.entry(peer).or_default();
        if timing.rtt == 0.0 {
            (timing.rtt, timing.last) = (sample, sample);
        }
        // Smoothed like TCP's SRTT, so one late packet does not make the
        // number players see jump.
        timing.rtt = timing.rtt * 0.875 + sample * 0.125;
        timing.jitter += ((sample - timing.last).abs() - timing.jitter) / 16.0;
        timing.last = sample;
        timing.loss *= 0.9;
    }

    /// The smoothed round-trip time to `peer`, seconds (0 before the first pong).
    pub fn rtt(&self, peer: PeerId) -> f64 {
        self.timings.get(&peer).map_or(0.0, |t| t.rtt)
    }

    /// How much the round trips to `peer` vary, seconds (0 before two pongs).
    pub fn jitter(&self, peer: PeerId) -> f64 {
        self.timings.get(&peer).map_or(0.0, |t| t.jitter)
    }

    /// The share of recent probes to `peer` that were lost, 0 to 1.
    pub fn loss(&self, peer: PeerId) -> f64 {
        self.timings.get(&peer).map_or(0.0, |t| t.loss)
    }

    /// Forgets a peer that is gone.
    pub fn forget(&mut self, peer: PeerId) {
        self.timings.remove(&peer);
        self.in_flight.retain(|_, (p, _)| *p != peer);
    }
}

/// What the links brought, for a backend, with the transport's own packets
/// (pings, pongs, malformed bytes) already handled.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A peer's link is up.
    Linked(PeerId),
    /// A peer's link is down (its network failed, or it went silent).
    Unlinked(PeerId),
    /// A peer said goodbye: it leaves on purpose, its link is being closed.
    Departed(PeerId),
    /// A replicon message, on `channel`, from `from` (as the link saw it).
    Message {
        from: PeerId,
        channel: u8,
        message: Bytes,
    },
    /// A peer sent a malformed packet (already dropped).
    Malformed(PeerId),
    /// A peer was cut off: its link is being closed; drop it as unlinked.
    CutOff(PeerCutOff),
    /// The links are gone; nothing follows.
    Closed(LinkClosed),
}

/// What the receive loop keeps between calls: both backends take it as
/// one system parameter.
#[derive(bevy::ecs::system::SystemParam)]
pub(crate) struct LinkBooks<'w> {
    pub(crate) pings: ResMut<'w, PingTracker>,
    pub(crate) gate: ResMut<'w, PeerGate>,
    pub(crate) watch: ResMut<'w, LinkWatch>,
    pub(crate) stats: ResMut<'w, LinkStats>,
}

/// The one receive loop: polls the links once, holds each peer to its
/// budget, answers pings, times pongs, reports malformed packets (a message
/// on a channel at or past `channels` is one), cuts off the peers the gate
/// names, closes the links of peers silent for too long, and returns the
/// rest in order.
pub(crate) fn receive(
    transport: &mut Transport,
    now: Duration,
    channels: usize,
    books: &mut LinkBooks,
) -> Vec<Incoming> {
    let LinkBooks {
        pings, gate, watch, ..
    } = books;
    let (pings, gate, watch) = (&mut **pings, &mut **gate, &mut **watch);
    let mut events = Vec::new();
    transport.poll(now, &mut events);
    let (events, cut_offs) = gate.admit(now, events);
    let mut incoming = Vec::with_capacity(events.len());
    for cut in cut_offs {
        watch.forget(cut.peer);
        cut_off(transport, pings, &mut incoming, cut);
    }
    for event in events {
        let malformed_from = match event {
            LinkEvent::Connected(peer) => {
                watch.linked(peer, now);
                incoming.push(Incoming::Linked(peer));
                None
            }
            LinkEvent::Disconnected(peer) => {
                watch.forget(peer);
                pings.forget(peer);
                incoming.push(Incoming::Unlinked(peer));
                None
            }
            LinkEvent::Received { from, .. } if gate.is_cut_off(from) => None,
            LinkEvent::Received { from, packet, .. } => {
                // Anything at all, malformed too, shows the link lives.
                watch.heard(from, now);
                decoded(
                    transport,
                    now,
                    channels,
                    pings,
                    watch,
                    &mut incoming,
                    from,
                    packet,
                )
            }
            LinkEvent::Closed(reason) => {
                incoming.push(Incoming::Closed(reason));
                break;
            }
        };
        if let Some(from) = malformed_from {
            incoming.push(Incoming::Malformed(from));
            if let Some(cut) = gate.malformed(from) {
                watch.forget(from);
                cut_off(transport, pings, &mut incoming, cut);
            }
        }
    }
    for peer in watch.silent(now) {
        warn!(
            "peer {peer} silent for {:?}: closing its link",
            watch.timeout
        );
        transport.disconnect(peer);
        pings.forget(peer);
        incoming.push(Incoming::Unlinked(peer));
    }
    incoming
}

/// Handles one packet from `from`; returns `Some(from)` when it was malformed.
#[expect(
    clippy::too_many_arguments,
    reason = "the receive loop's state, passed on as it is"
)]
fn decoded(
    transport: &mut Transport,
    now: Duration,
    channels: usize,
    pings: &mut PingTracker,
    watch: &mut LinkWatch,
    incoming: &mut Vec<Incoming>,
    from: PeerId,
    packet: Bytes,
) -> Option<PeerId> {
    match Packet::decode(packet) {
        Ok(Packet::Bye) => {
            watch.forget(from);
            pings.forget(from);
            transport.disconnect(from);
            incoming.push(Incoming::Departed(from));
            None
        }
        Ok(Packet::Replicon { channel, message }) if usize::from(channel) < channels => {
            incoming.push(Incoming::Message {
                from,
                channel,
                message,
            });
            None
        }
        Ok(Packet::Replicon { channel, .. }) => {
            debug!("dropping a message on unknown channel {channel} from {from}");
            Some(from)
        }
        Ok(Packet::Ping(seq)) => {
            // The peer is gone if this fails; its disconnect event follows.
            let _ = transport.send(from, Delivery::Unreliable, Packet::Pong(seq).encode());
            None
        }
        Ok(Packet::Pong(seq)) => {
            pings.answered(from, seq, now);
            None
        }
        Err(MalformedPacket) => {
            debug!("dropping a malformed packet from {from}");
            Some(from)
        }
    }
}

/// Says goodbye to `peers` (on the reliable channel), before this app
/// closes its links on purpose: they drop it at once instead of waiting for
/// it to come back. Best effort: links closing right after may not deliver.
pub(crate) fn say_goodbye(transport: &mut Transport, peers: impl Iterator<Item = PeerId>) {
    for peer in peers {
        let _ = transport.send(peer, Delivery::Reliable, Packet::Bye.encode());
    }
}

/// Closes a cut-off peer's link and tells the backend to drop it.
fn cut_off(
    transport: &mut Transport,
    pings: &mut PingTracker,
    incoming: &mut Vec<Incoming>,
    cut: PeerCutOff,
) {
    warn!("cutting off peer {}: {}", cut.peer, cut.reason);
    transport.disconnect(cut.peer);
    pings.forget(cut.peer);
    incoming.push(Incoming::CutOff(cut));
}

/// Sends the pings due to `peers`.
pub(crate) fn ping(
    transport: &mut Transport,
    now: Duration,
    pings: &mut PingTracker,
    peers: impl Iterator<Item = PeerId>,
) {
    for (peer, probe) in pings.probes(now, peers) {
        // A failed send means the peer is gone: the probe times out as lost.
        let _ = transport.send(peer, Delivery::Unreliable, probe.encode());
    }
}

/// Queues one replicon message for `peer` on the data channel its replicon
/// channel needs.
pub(crate) fn send_message(
    transport: &mut Transport,
    peer: PeerId,
    channels: &[Channel],
    channel: usize,
    message: Bytes,
) {
    let Some(&kind) = channels.get(channel) else {
        return;
    };
    let Ok(channel) = u8::try_from(channel) else {
        return;
    };
    let delivery = match kind {
        Channel::Unreliable => Delivery::Unreliable,
        Channel::Unordered | Channel::Ordered => Delivery::Reliable,
    };
    let packet = Packet::Replicon { channel, message }.encode();
    // A failed send means the peer is gone; its disconnect event follows.
    let _ = transport.send(peer, delivery, packet);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer_id as peer;

    #[test]
    fn probes_go_out_every_interval_and_pongs_time_them() {
        let mut pings = PingTracker::default();
        let a = peer(1);
        let first = pings.probes(Duration::ZERO, [a].into_iter());
        assert!(matches!(first.as_slice(), [(p, Packet::Ping(0))] if *p == a));
        assert!(
            pings
                .probes(Duration::from_millis(100), [a].into_iter())
                .is_empty()
        );
        pings.answered(a, 0, Duration::from_millis(40));
        assert!((pings.rtt(a) - 0.040).abs() < 1e-9);
        // A pong from someone else for another's probe changes nothing.
        let second = pings.probes(PING_INTERVAL, [a].into_iter());
        assert_eq!(second.len(), 1);
        pings.answered(peer(2), 1, PING_INTERVAL + Duration::from_millis(10));
        assert!((pings.rtt(a) - 0.040).abs() < 1e-9);
        // Unanswered past the timeout: counted as lost.
        pings.probes(PING_INTERVAL + PING_TIMEOUT, core::iter::empty());
        assert!(pings.loss(a) > 0.0);
    }
}
