//! Links inside one process, for the deterministic test tier.
//!
//! A [`MemoryNetwork`] is a switchboard shared by several Bevy apps in one
//! test. Each app gets [`MemoryLinks`] for a peer id; the test connects
//! peers, sets [`LinkConditions`] per direction, and severs links to play a
//! host that vanishes. Time is the latest real time any app passed to
//! [`PeerLinks::poll`], one clock for the whole network (an app that joins
//! late starts its own clock at zero); tests drive it by hand, so runs
//! repeat exactly.

use core::time::Duration;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use bytes::Bytes;

use super::{
    Delivery, LinkClosed, LinkDown, LinkEvent, PeerId, PeerLinks,
    conditioner::{Conditioner, LinkConditions},
};

/// A switchboard of in-memory links, shared between the apps of one test.
#[derive(Clone)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Switchboard>>,
}

struct Switchboard {
    /// The network's clock: the latest time any peer polled with.
    clock: Duration,
    conditioner: Conditioner,
    /// Per sender and receiver.
    conditions: HashMap<(PeerId, PeerId), LinkConditions>,
    /// Directed pairs that are linked (both directions are always present).
    links: HashSet<(PeerId, PeerId)>,
    /// Pairs one side disconnected on purpose: never linked again.
    refused: HashSet<(PeerId, PeerId)>,
    peers: HashMap<PeerId, Inbox>,
    /// Total packets and payload bytes delivered, for benchmarks.
    delivered_bytes: HashMap<PeerId, u64>,
}

#[derive(Default)]
struct Inbox {
    events: Vec<LinkEvent>,
    /// Packets in flight to this peer, by arrival time then sequence.
    in_flight: BTreeMap<(Duration, u64), LinkEvent>,
    /// Latest arrival time queued on the reliable channel from each sender,
    /// so that reliable packets keep their order.
    reliable_tail: HashMap<PeerId, Duration>,
    sequence: u64,
    closed: bool,
}

impl Inbox {
    /// The link from `peer` is gone: what it had in flight here is lost.
    fn drop_in_flight_from(&mut self, peer: PeerId) {
        self.in_flight
            .retain(|_, event| !matches!(event, LinkEvent::Received { from, .. } if *from == peer));
    }
}

impl MemoryNetwork {
    /// A network whose conditioner draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Switchboard {
                clock: Duration::ZERO,
                conditioner: Conditioner::new(seed),
                conditions: HashMap::new(),
                links: HashSet::new(),
                refused: HashSet::new(),
                peers: HashMap::new(),
                delivered_bytes: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Switchboard> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a peer and returns its end of the network.
    pub fn join(&self, id: PeerId) -> MemoryLinks {
        self.lock().peers.insert(id, Inbox::default());
        MemoryLinks {
            id,
            network: self.clone(),
        }
    }

    /// Links two peers; both see [`LinkEvent::Connected`] on their next poll.
    /// Does nothing for a pair that one side [disconnected](PeerLinks::disconnect).
    pub fn connect(&self, a: PeerId, b: PeerId) {
        let mut board = self.lock();
        if board.refused.contains(&(a, b)) || !board.links.insert((a, b)) {
            return;
        }
        board.links.insert((b, a));
        for (me, other) in [(a, b), (b, a)] {
            if let Some(inbox) = board.peers.get_mut(&me) {
                inbox.events.push(LinkEvent::Connected(other));
            }
        }
    }

    /// Cuts every link of `id`, as when its machine drops off the network:
    /// its peers see [`LinkEvent::Disconnected`], it sees
    /// [`LinkEvent::Closed`], and packets in flight are lost.
    pub fn sever(&self, id: PeerId) {
        let mut board = self.lock();
        let others: Vec<PeerId> = board
            .links
            .iter()
            .filter(|(from, _)| *from == id)
            .map(|&(_, to)| to)
            .collect();
        for other in others {
            board.links.remove(&(id, other));
            board.links.remove(&(other, id));
            if let Some(inbox) = board.peers.get_mut(&other) {
                inbox.drop_in_flight_from(id);
                inbox.events.push(LinkEvent::Disconnected(id));
            }
        }
        if let Some(inbox) = board.peers.get_mut(&id) {
            inbox.in_flight.clear();
            inbox
                .events
                .push(LinkEvent::Closed(LinkClosed::Failed("severed".into())));
            inbox.closed = true;
        }
    }

    /// Closes the link between `a` and `b` (packets in flight between them
    /// are lost); both see [`LinkEvent::Disconnected`] of the other.
    fn disconnect(&self, a: PeerId, b: PeerId) {
        let mut board = self.lock();
        board.refused.extend([(a, b), (b, a)]);
        let linked = board.links.remove(&(a, b)) | board.links.remove(&(b, a));
        for (me, other) in [(a, b), (b, a)] {
            if let Some(inbox) = board.peers.get_mut(&me) {
                inbox.drop_in_flight_from(other);
                if linked {
                    inbox.events.push(LinkEvent::Disconnected(other));
                }
            }
        }
    }

    /// Sets what the link from `from` to `to` does to packets.
    pub fn set_conditions(&self, from: PeerId, to: PeerId, conditions: LinkConditions) {
        self.lock().conditions.insert((from, to), conditions);
    }

    /// Sets the same conditions on every direction of every link there is
    /// or will be between the peers joined so far.
    pub fn set_all_conditions(&self, conditions: LinkConditions) {
        let mut board = self.lock();
        let ids: Vec<PeerId> = board.peers.keys().copied().collect();
        for &a in &ids {
            for &b in &ids {
                if a != b {
                    board.conditions.insert((a, b), conditions);
                }
            }
        }
    }

    /// Payload bytes delivered so far to `id` (packets that arrived, copies
    /// included), for bandwidth figures.
    pub fn delivered_bytes(&self, id: PeerId) -> u64 {
        self.lock().delivered_bytes.get(&id).copied().unwrap_or(0)
    }
}

/// One peer's end of a [`MemoryNetwork`].
pub struct MemoryLinks {
    id: PeerId,
    network: MemoryNetwork,
}

impl MemoryLinks {
    /// The network this end belongs to.
    pub fn network(&self) -> &MemoryNetwork {
        &self.network
    }
}

impl Drop for MemoryLinks {
    fn drop(&mut self) {
        // Dropping the transport is how an app leaves: its peers must see it.
        self.network.sever(self.id);
        self.network.lock().peers.remove(&self.id);
    }
}

impl PeerLinks for MemoryLinks {
    fn local_id(&mut self) -> Option<PeerId> {
        Some(self.id)
    }

    fn poll(&mut self, now: Duration, events: &mut Vec<LinkEvent>) {
        let mut board = self.network.lock();
        let Switchboard {
            clock,
            peers,
            delivered_bytes,
            ..
        } = &mut *board;
        *clock = (*clock).max(now);
        let now = *clock;
        let Some(inbox) = peers.get_mut(&self.id) else {
            return;
        };
        // Link changes first, then every packet due by now, in arrival order.
        events.append(&mut inbox.events);
        while let Some(entry) = inbox.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let event = entry.remove();
            if let LinkEvent::Received { packet, .. } = &event {
                *delivered_bytes.entry(self.id).or_default() += packet.len() as u64;
            }
            events.push(event);
        }
    }

    fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
        let mut board = self.network.lock();
        let Switchboard {
            clock,
            conditioner,
            conditions,
            links,
            peers,
            ..
        } = &mut *board;
        let now = *clock;
        if !links.contains(&(self.id, to)) {
            return Err(LinkDown);
        }
        let conditions = conditions
            .get(&(self.id, to))
            .copied()
            .unwrap_or(LinkConditions::PERFECT);
        let reliable = delivery == Delivery::Reliable;
        let fate = conditioner.fate(&conditions, reliable);
        let inbox = peers.get_mut(&to).ok_or(LinkDown)?;
        if inbox.closed {
            return Err(LinkDown);
        }
        for delay in fate.copies.into_iter().flatten() {
            let mut arrival = now + delay;
            if reliable {
                // A reliable channel never lets a packet overtake an earlier one.
                let tail = inbox.reliable_tail.entry(self.id).or_default();
                arrival = arrival.max(*tail);
                *tail = arrival;
            }
            inbox.sequence += 1;
            let event = LinkEvent::Received {
                from: self.id,
                delivery,
                packet: packet.clone(),
            };
            inbox.in_flight.insert((arrival, inbox.sequence), event);
        }
        Ok(())
    }

    fn disconnect(&mut self, peer: PeerId) {
        self.network.disconnect(self.id, peer);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn peer(n: u128) -> PeerId {
        PeerId(Uuid::from_u128(n))
    }

    fn poll(links: &mut MemoryLinks, now_ms: u64) -> Vec<LinkEvent> {
        let mut events = Vec::new();
        links.poll(Duration::from_millis(now_ms), &mut events);
        events
    }

    #[test]
    fn delivers_after_latency_in_order() {
        let net = MemoryNetwork::new(1);
        let (mut a, mut b) = (net.join(peer(1)), net.join(peer(2)));
        net.connect(peer(1), peer(2));
        net.set_conditions(
            peer(1),
            peer(2),
            LinkConditions {
                latency: Duration::from_millis(100),
                jitter: Duration::from_millis(50),
                ..LinkConditions::PERFECT
            },
        );
        assert_eq!(poll(&mut a, 0), vec![LinkEvent::Connected(peer(2))]);
        assert_eq!(poll(&mut b, 0), vec![LinkEvent::Connected(peer(1))]);
        for n in 0..10u8 {
            a.send(peer(2), Delivery::Reliable, Bytes::from(vec![n]))
                .unwrap();
        }
        assert!(poll(&mut b, 99).is_empty());
        let got: Vec<u8> = poll(&mut b, 150)
            .into_iter()
            .map(|event| match event {
                LinkEvent::Received { packet, .. } => packet[0],
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn sever_tells_both_sides_and_refuses_sends() {
        let net = MemoryNetwork::new(1);
        let (mut a, mut b) = (net.join(peer(1)), net.join(peer(2)));
        net.connect(peer(1), peer(2));
        poll(&mut a, 0);
        poll(&mut b, 0);
        net.sever(peer(1));
        assert!(matches!(poll(&mut a, 1).as_slice(), [LinkEvent::Closed(_)]));
        assert_eq!(poll(&mut b, 1), vec![LinkEvent::Disconnected(peer(1))]);
        assert_eq!(
            b.send(peer(1), Delivery::Reliable, Bytes::new()),
            Err(LinkDown)
        );
    }

    #[test]
    fn a_disconnect_tells_both_sides_and_is_final() {
        let net = MemoryNetwork::new(1);
        let (mut a, mut b) = (net.join(peer(1)), net.join(peer(2)));
        net.connect(peer(1), peer(2));
        poll(&mut a, 0);
        poll(&mut b, 0);
        b.send(peer(1), Delivery::Reliable, Bytes::from_static(b"late"))
            .unwrap();
        a.disconnect(peer(2));
        assert_eq!(poll(&mut a, 1), vec![LinkEvent::Disconnected(peer(2))]);
        assert_eq!(poll(&mut b, 1), vec![LinkEvent::Disconnected(peer(1))]);
        net.connect(peer(1), peer(2));
        assert!(poll(&mut a, 2).is_empty());
        assert_eq!(
            b.send(peer(1), Delivery::Reliable, Bytes::new()),
            Err(LinkDown)
        );
    }

    #[test]
    fn unlinked_peer_cannot_be_reached() {
        let net = MemoryNetwork::new(1);
        let mut a = net.join(peer(1));
        let _b = net.join(peer(2));
        assert_eq!(
            a.send(peer(2), Delivery::Unreliable, Bytes::new()),
            Err(LinkDown)
        );
    }
}
