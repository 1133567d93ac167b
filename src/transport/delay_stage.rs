//! A delay stage in front of any links (feature `testing`): what this app
//! sends waits a seeded delay, with jitter (and loss, if asked), before the
//! links get it. Wrapped around real WebRTC links at both ends, it gives
//! real packets a home network's latency where the kernel offers no
//! `tc netem` (this machine's does not).
//!
//! Held packets leave when the app next polls its links, so the delay is
//! accurate to the app's frame: an app updated every few milliseconds
//! delays by what was asked plus at most a frame. Reliable packets keep
//! their order per peer (a reliable channel never reorders: a late one
//! holds up those behind it); unreliable ones may overtake each other, as
//! on a real network.
//!
//! The links' own round-trip timing (the probe channel, `probe.rs`) would
//! pass beside the stage; these links say they time nothing, so the bridge
//! times round trips with its own pings, which go through the stage.

use core::{cmp::Reverse, time::Duration};
use std::collections::{BinaryHeap, HashMap};

use bytes::Bytes;

use super::{
    Delivery, LinkDown, LinkEvent, LinkRoute, NoPath, PeerId, PeerLinks, RoundTrip,
    conditioner::{Conditioner, LinkConditions},
};

/// One packet held back.
struct Held {
    due: Duration,
    /// Sending order, so that packets due at once leave in it.
    serial: u64,
    to: PeerId,
    delivery: Delivery,
    packet: Bytes,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.serial) == (other.due, other.serial)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.due, self.serial).cmp(&(other.due, other.serial))
    }
}

/// `links` with what this app sends held back under `conditions`.
pub struct DelayedLinks<L> {
    links: L,
    conditions: LinkConditions,
    conditioner: Conditioner,
    /// The app's real time at the last poll: sends are stamped with it.
    now: Duration,
    serial: u64,
    held: BinaryHeap<Reverse<Held>>,
    /// Per peer, when its last reliable packet is due: none leaves before.
    reliable_due: HashMap<PeerId, Duration>,
}

impl<L: PeerLinks> DelayedLinks<L> {
    /// Holds what `links` would send under `conditions` (one direction:
    /// wrap both ends for a round trip), with draws from `seed`.
    pub fn new(links: L, conditions: LinkConditions, seed: u64) -> Self {
        Self {
            links,
            conditions,
            conditioner: Conditioner::new(seed),
            now: Duration::ZERO,
            serial: 0,
            held: BinaryHeap::new(),
            reliable_due: HashMap::new(),
        }
    }

    /// Hands the links every packet due at `now`.
    fn release(&mut self, now: Duration) {
        while self
            .held
            .peek()
            .is_some_and(|Reverse(next)| next.due <= now)
        {
            let Some(Reverse(held)) = self.held.pop() else {
                break;
            };
            // A peer gone meanwhile: the packet is lost with it.
            let _ = self.links.send(held.to, held.delivery, held.packet);
        }
    }
}

impl<L: PeerLinks> PeerLinks for DelayedLinks<L> {
    fn local_id(&mut self) -> Option<PeerId> {
        self.links.local_id()
    }

    fn poll(&mut self, now: Duration, events: &mut Vec<LinkEvent>) {
        self.now = self.now.max(now);
        self.release(self.now);
        self.links.poll(now, events);
        for event in events.iter() {
            if let LinkEvent::Disconnected(peer) = event {
                self.reliable_due.remove(peer);
            }
        }
    }

    fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
        let reliable = delivery == Delivery::Reliable;
        let fate = self.conditioner.fate(&self.conditions, reliable);
        for delay in fate.copies.into_iter().flatten() {
            let mut due = self.now + delay;
            if reliable {
                let last = self.reliable_due.entry(to).or_default();
                due = due.max(*last);
                *last = due;
            }
            self.serial += 1;
            self.held.push(Reverse(Held {
                due,
                serial: self.serial,
                to,
                delivery,
                packet: packet.clone(),
            }));
        }
        Ok(())
    }

    fn disconnect(&mut self, peer: PeerId) {
        self.links.disconnect(peer);
    }

    fn rejoin(&mut self, now: Duration) {
        self.links.rejoin(now);
    }

    fn game_started(&mut self) {
        self.links.game_started();
    }

    fn round_trip(&self, _peer: PeerId) -> Option<RoundTrip> {
        // The links' probes would not go through the stage.
        None
    }

    fn route(&self, peer: PeerId) -> Option<LinkRoute> {
        self.links.route(peer)
    }

    fn why_unreachable(&self) -> Option<NoPath> {
        self.links.why_unreachable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer_id as peer;

    /// Links that record what they were handed, and when.
    #[derive(Default)]
    struct Recorder {
        now: Duration,
        sent: Vec<(Duration, PeerId, Delivery, Bytes)>,
    }

    impl PeerLinks for Recorder {
        fn local_id(&mut self) -> Option<PeerId> {
            None
        }
        fn poll(&mut self, now: Duration, _events: &mut Vec<LinkEvent>) {
            self.now = now;
        }
        fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
            self.sent.push((self.now, to, delivery, packet));
            Ok(())
        }
        fn disconnect(&mut self, _peer: PeerId) {}
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn step(links: &mut DelayedLinks<Recorder>, at: Duration) {
        // The recorder's clock is set by the poll, after the release: set
        // it first so that releases are stamped with this time.
        links.links.now = at;
        links.poll(at, &mut Vec::new());
    }

    #[test]
    fn packets_wait_their_delay_and_reliable_ones_keep_their_order() {
        let conditions = LinkConditions {
            latency: ms(50),
            jitter: ms(20),
            ..LinkConditions::PERFECT
        };
        let mut links = DelayedLinks::new(Recorder::default(), conditions, 7);
        let to = peer(1);
        for n in 0..50u8 {
            step(&mut links, ms(u64::from(n)));
            links
                .send(to, Delivery::Reliable, Bytes::from(vec![n]))
                .expect("held");
        }
        for at in 50..200 {
            step(&mut links, ms(at));
        }
        let sent = &links.links.sent;
        assert_eq!(sent.len(), 50);
        let order: Vec<u8> = sent.iter().map(|(_, _, _, packet)| packet[0]).collect();
        assert_eq!(order, (0..50).collect::<Vec<u8>>(), "in order");
        for (at, _, _, packet) in sent {
            let waited = *at - ms(u64::from(packet[0]));
            assert!(waited >= ms(50), "{packet:?} waited {waited:?}");
        }
        // Jitter shows: not every packet waited the same.
        let waits: std::collections::HashSet<Duration> = sent
            .iter()
            .map(|(at, _, _, packet)| *at - ms(u64::from(packet[0])))
            .collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn unreliable_packets_may_overtake_and_be_lost() {
        let conditions = LinkConditions {
            latency: ms(10),
            jitter: ms(40),
            loss: 0.5,
            ..LinkConditions::PERFECT
        };
        let mut links = DelayedLinks::new(Recorder::default(), conditions, 3);
        for n in 0..200u8 {
            step(&mut links, ms(u64::from(n)));
            links
                .send(peer(1), Delivery::Unreliable, Bytes::from(vec![n]))
                .expect("held");
        }
        for at in 200..300 {
            step(&mut links, ms(at));
        }
        let order: Vec<u8> = links.links.sent.iter().map(|(.., p)| p[0]).collect();
        assert!((60..140).contains(&order.len()), "{} arrived", order.len());
        assert!(
            order.windows(2).any(|pair| pair[0] > pair[1]),
            "none overtook"
        );
        // Nothing is delivered before its delay.
        for (at, .., packet) in &links.links.sent {
            assert!(*at >= ms(u64::from(packet[0]) + 10));
        }
    }
}
