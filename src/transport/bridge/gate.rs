//! What one peer may cost this app: a rate of packets per second, a budget
//! of packets per frame, a bound on what waits beyond it, and a limit on
//! malformed packets.
//!
//! A pure state machine over link events and the app's real time; the
//! bridge's receive loop feeds it each frame's events and cuts off the peers
//! it names. Nothing a well-behaved peer sends is lost: packets over the
//! frame's budget wait, in order, for the next frames. The rate is a token
//! bucket refilled by real time, and a stalled frame (a hidden browser tab)
//! refills it for the whole stall, so the burst that arrives after a stall
//! is not taken for a flood. Only a peer that sends faster than the rate, or
//! whose waiting packets pass the backlog bound, or that keeps sending bytes
//! that are not our protocol, is cut off.

use core::time::Duration;
use std::collections::{HashMap, HashSet, VecDeque};

use bevy::prelude::*;

use super::super::{LinkEvent, PeerId};

/// Limits on what one peer may send. Part of
/// [`P2pSettings`](crate::P2pSettings).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PeerLimits {
    /// Packets per second one peer may send, sustained; as many again may
    /// come in a burst. A client sends about 130 a second at 60 Hz (inputs,
    /// acknowledgements, pings); a host, one or more updates per tick.
    pub packets_per_second: u32,
    /// Packets of one peer handled per frame; the rest wait for the next
    /// frames. A client sends about two per tick, so the default (256) lets
    /// a host catch up after a frame stall of two seconds in one frame.
    pub packets_per_frame: usize,
    /// Packets of one peer that may wait beyond the frame budget before it
    /// is cut off: the bound on what a peer can make this app hold. The
    /// default (32,768) is four minutes of a client's packets, all arriving
    /// at once after a frame stall that long (a hidden browser tab).
    pub backlog: usize,
    /// Bytes of one peer's waiting packets before it is cut off: the
    /// backlog's bound in memory. The default (16 MiB) holds four minutes of
    /// a host's updates.
    pub backlog_bytes: usize,
    /// Malformed packets (not our framing, or a channel that does not exist)
    /// after which a peer is cut off. Our peers never send one, so any is a
    /// bug or an attack; a few are let pass so a log line can say what came.
    pub malformed_packets: u32,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            packets_per_second: 2_000,
            packets_per_frame: 256,
            backlog: 32_768,
            backlog_bytes: 16 << 20,
            malformed_packets: 16,
        }
    }
}

/// Why a peer was cut off.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CutOffReason {
    /// It sent faster than [`PeerLimits::packets_per_second`].
    Flooding {
        /// The rate it went over.
        packets_per_second: u32,
    },
    /// The host refused it: its room was full.
    RoomFull,
    /// More packets waited than [`PeerLimits::backlog`], or more bytes
    /// than [`PeerLimits::backlog_bytes`].
    Backlog {
        /// How many were waiting.
        waiting: usize,
        /// Their bytes.
        bytes: usize,
    },
    /// It sent [`PeerLimits::malformed_packets`] malformed packets.
    MalformedPackets {
        /// How many.
        count: u32,
    },
}

impl core::fmt::Display for CutOffReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CutOffReason::Flooding { packets_per_second } => {
                write!(
                    f,
                    "flooding: more than {packets_per_second} packets a second"
                )
            }
            CutOffReason::RoomFull => f.write_str("refused: the room is full"),
            CutOffReason::Backlog { waiting, bytes } => {
                write!(
                    f,
                    "{waiting} packets ({bytes} bytes) waiting beyond the frame budget"
                )
            }
            CutOffReason::MalformedPackets { count } => write!(f, "{count} malformed packets"),
        }
    }
}

/// Written when this app cuts a peer off (its link is closed; a client
/// loses its seat). The game may tell its players who and why.
#[derive(Message, Clone, Copy, PartialEq, Eq, Debug)]
pub struct PeerCutOff {
    /// The peer.
    pub peer: PeerId,
    /// Why.
    pub reason: CutOffReason,
}

/// Per-peer budgets and counts; see the module docs.
#[derive(Resource, Default, Debug)]
pub struct PeerGate {
    limits: PeerLimits,
    /// Packets past a frame's budget, oldest first.
    waiting: HashMap<PeerId, VecDeque<LinkEvent>>,
    /// Each sending peer's token bucket: tokens left, and when last refilled.
    rate: HashMap<PeerId, (f64, Duration)>,
    /// When the last frame was admitted, and how long before it the one
    /// before was: a frame stall's length, which the buckets may refill for.
    last_frame: Option<Duration>,
    frame_gap: Duration,
    malformed: HashMap<PeerId, u32>,
    /// Cut off, until they link again (the WebRTC links never let a peer
    /// they disconnected link again): whatever else they sent is dropped.
    cut: HashSet<PeerId>,
}

impl PeerGate {
    /// A gate with these limits.
    pub fn new(limits: PeerLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    /// Changes the limits; counts and waiting packets stay.
    pub fn set_limits(&mut self, limits: PeerLimits) {
        self.limits = limits;
    }

    /// One frame at real time `now`: the packets that waited, then `events`
    /// in order, each peer's packets up to its budget. Returns what to handle
    /// now and the peers to cut off (their waiting packets are dropped).
    pub fn admit(
        &mut self,
        now: Duration,
        events: Vec<LinkEvent>,
    ) -> (Vec<LinkEvent>, Vec<PeerCutOff>) {
        let budget = self.limits.packets_per_frame;
        let mut too_fast = Vec::new();
        self.frame_gap = self
            .last_frame
            .map_or(Duration::ZERO, |last| now.saturating_sub(last));
        self.last_frame = Some(now);
        let mut spent: HashMap<PeerId, usize> = HashMap::new();
        let mut admitted = Vec::with_capacity(events.len());
        for queue in self.waiting.values_mut() {
            let take = queue.len().min(budget);
            if let Some(LinkEvent::Received { from, .. }) = queue.front() {
                spent.insert(*from, take);
            }
            admitted.extend(queue.drain(..take));
        }
        self.waiting.retain(|_, queue| !queue.is_empty());

        for event in events {
            match &event {
                LinkEvent::Received { from, .. } => {
                    let from = *from;
                    if self.cut.contains(&from) || too_fast.contains(&from) {
                        continue;
                    }
                    if !self.take_token(from, now) {
                        too_fast.push(from);
                        continue;
                    }
                    let used = spent.entry(from).or_default();
                    if *used < budget && !self.waiting.contains_key(&from) {
                        *used += 1;
                        admitted.push(event);
                    } else {
                        self.waiting.entry(from).or_default().push_back(event);
                    }
                }
                LinkEvent::Disconnected(peer) => {
                    // A cut-off peer stays cut off: packets it sent before
                    // its link closed may still trail behind this event.
                    let peer = *peer;
                    let was_cut = self.cut.contains(&peer);
                    self.forget(peer);
                    if was_cut {
                        self.cut.insert(peer);
                    }
                    admitted.push(event);
                }
                LinkEvent::Connected(peer) => {
                    // A new link of a peer: nothing of an earlier one counts.
                    self.forget(*peer);
                    admitted.push(event);
                }
                LinkEvent::Closed(_) => {
                    *self = Self::new(self.limits);
                    admitted.push(event);
                }
            }
        }

        let packets_per_second = self.limits.packets_per_second;
        let mut cut_offs: Vec<PeerCutOff> = too_fast
            .into_iter()
            .map(|peer| self.cut_off(peer, CutOffReason::Flooding { packets_per_second }))
            .collect();
        let limits = self.limits;
        let over: Vec<(PeerId, usize, usize)> = self
            .waiting
            .iter()
            .map(|(peer, queue)| (*peer, queue.len(), queued_bytes(queue)))
            .filter(|(_, waiting, bytes)| {
                *waiting > limits.backlog || *bytes > limits.backlog_bytes
            })
            .collect();
        for (peer, waiting, bytes) in over {
            cut_offs.push(self.cut_off(peer, CutOffReason::Backlog { waiting, bytes }));
        }
        (admitted, cut_offs)
    }

    /// `from` sent a malformed packet; returns the cut-off when that was one
    /// too many.
    pub fn malformed(&mut self, from: PeerId) -> Option<PeerCutOff> {
        if self.cut.contains(&from) {
            return None;
        }
        let count = self.malformed.entry(from).or_default();
        *count += 1;
        let count = *count;
        (count >= self.limits.malformed_packets)
            .then(|| self.cut_off(from, CutOffReason::MalformedPackets { count }))
    }

    /// Whether `peer` was cut off (and has not linked again since).
    pub fn is_cut_off(&self, peer: PeerId) -> bool {
        self.cut.contains(&peer)
    }

    /// Spends one of `from`'s tokens; false when it has none left. The
    /// bucket refills at the rate for the time since it was last touched,
    /// up to one second's worth, or up to the length of this frame's stall
    /// when the app's frames stalled longer (a peer that merely kept quiet
    /// earns no more than a second's burst).
    fn take_token(&mut self, from: PeerId, now: Duration) -> bool {
        let rate = f64::from(self.limits.packets_per_second);
        let cap = rate.max(rate * self.frame_gap.as_secs_f64());
        let (tokens, at) = self.rate.entry(from).or_insert((rate, now));
        let elapsed = now.saturating_sub(*at).as_secs_f64();
        if elapsed > 0.0 {
            *tokens = (*tokens + rate * elapsed).min(cap);
            *at = now;
        }
        *tokens -= 1.0;
        *tokens >= 0.0
    }

    fn cut_off(&mut self, peer: PeerId, reason: CutOffReason) -> PeerCutOff {
        self.waiting.remove(&peer);
        self.rate.remove(&peer);
        self.malformed.remove(&peer);
        self.cut.insert(peer);
        PeerCutOff { peer, reason }
    }

    fn forget(&mut self, peer: PeerId) {
        self.waiting.remove(&peer);
        self.rate.remove(&peer);
        self.malformed.remove(&peer);
        self.cut.remove(&peer);
    }
}

/// The payload bytes of waiting packets.
fn queued_bytes(queue: &VecDeque<LinkEvent>) -> usize {
    queue
        .iter()
        .map(|event| match event {
            LinkEvent::Received { packet, .. } => packet.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{testing::peer_id as peer, transport::Delivery};

    fn packet(from: PeerId, n: u8) -> LinkEvent {
        LinkEvent::Received {
            from,
            delivery: Delivery::Reliable,
            packet: Bytes::from(vec![n]),
        }
    }

    fn limits(packets_per_frame: usize, backlog: usize) -> PeerLimits {
        PeerLimits {
            packets_per_second: 1_000,
            packets_per_frame,
            backlog,
            backlog_bytes: 1 << 20,
            malformed_packets: 3,
        }
    }

    const T0: Duration = Duration::ZERO;

    #[test]
    fn packets_over_the_budget_wait_in_order_and_lose_nothing() {
        let mut gate = PeerGate::new(limits(2, 10));
        let (a, b) = (peer(1), peer(2));
        let frame = vec![
            packet(a, 1),
            packet(a, 2),
            packet(b, 1),
            packet(a, 3),
            packet(a, 4),
        ];
        let (now, cut) = gate.admit(T0, frame);
        assert!(cut.is_empty());
        assert_eq!(now, vec![packet(a, 1), packet(a, 2), packet(b, 1)]);
        // Next frame: what waited first, then new packets behind it.
        let (now, _) = gate.admit(T0, vec![packet(a, 5), packet(b, 2)]);
        assert_eq!(now, vec![packet(a, 3), packet(a, 4), packet(b, 2)]);
        let (now, _) = gate.admit(T0, vec![]);
        assert_eq!(now, vec![packet(a, 5)]);
        assert!(gate.admit(T0, vec![]).0.is_empty());
    }

    #[test]
    fn a_backlog_past_its_bound_is_cut_off_and_the_others_go_on() {
        let mut gate = PeerGate::new(limits(2, 5));
        let (flooder, friend) = (peer(1), peer(2));
        let mut frame: Vec<LinkEvent> = (0..8).map(|n| packet(flooder, n)).collect();
        frame.push(packet(friend, 0));
        let (now, cut) = gate.admit(T0, frame);
        assert_eq!(
            cut,
            vec![PeerCutOff {
                peer: flooder,
                reason: CutOffReason::Backlog {
                    waiting: 6,
                    bytes: 6
                }
            }]
        );
        assert_eq!(now.len(), 3);
        // Whatever it sends until its link is down is dropped.
        let (now, cut) = gate.admit(T0, vec![packet(flooder, 9), packet(friend, 1)]);
        assert_eq!((now, cut), (vec![packet(friend, 1)], vec![]));
        assert!(gate.is_cut_off(flooder));
        // Nor what trails behind its disconnect.
        let (now, _) = gate.admit(
            T0,
            vec![LinkEvent::Disconnected(flooder), packet(flooder, 10)],
        );
        assert_eq!(now, vec![LinkEvent::Disconnected(flooder)]);
        assert!(gate.is_cut_off(flooder));
        gate.admit(T0, vec![LinkEvent::Connected(flooder)]);
        assert!(!gate.is_cut_off(flooder));
    }

    #[test]
    fn a_peer_faster_than_the_rate_is_cut_off_but_a_burst_after_a_stall_is_not() {
        let mut gate = PeerGate::new(PeerLimits {
            packets_per_second: 100,
            packets_per_frame: 1_000,
            backlog: 10_000,
            backlog_bytes: 1 << 20,
            malformed_packets: 3,
        });
        let (fast, slow) = (peer(1), peer(2));
        let ms = Duration::from_millis;
        // 100 a second for 3 s, in 10 ms frames: never cut.
        for frame in 0..300u64 {
            let (now, cut) = gate.admit(ms(frame * 10), vec![packet(slow, 0)]);
            assert_eq!((now.len(), cut.len()), (1, 0), "frame {frame}");
        }
        // After a 60 s stall, 60 s of packets arrive in one frame: fine.
        let burst: Vec<LinkEvent> = (0..6_000).map(|_| packet(slow, 1)).collect();
        let (now, cut) = gate.admit(ms(63_000), burst);
        assert_eq!((now.len(), cut.len()), (1_000, 0));
        // 200 a second from the first frame on: cut once the burst allowance
        // (one second's worth) is spent, about one second in.
        let mut cut_at = None;
        for frame in 0..300u64 {
            let (_, cut) = gate.admit(
                ms(70_000 + frame * 10),
                vec![packet(fast, 0), packet(fast, 1)],
            );
            if !cut.is_empty() {
                assert_eq!(
                    cut,
                    vec![PeerCutOff {
                        peer: fast,
                        reason: CutOffReason::Flooding {
                            packets_per_second: 100
                        }
                    }]
                );
                cut_at = Some(frame);
                break;
            }
        }
        assert!(
            cut_at.is_some_and(|f| (95..=105).contains(&f)),
            "{cut_at:?}"
        );

        // A peer that kept quiet for a minute while the frames ran earns one
        // second's burst, not a minute's.
        let quiet = peer(3);
        gate.admit(ms(80_000), vec![packet(quiet, 0)]);
        for frame in 1..6_000u64 {
            gate.admit(ms(80_000 + frame * 10), vec![]);
        }
        let burst: Vec<LinkEvent> = (0..150).map(|_| packet(quiet, 1)).collect();
        let (_, cut) = gate.admit(ms(140_000), burst);
        assert_eq!(cut.len(), 1, "150 at once against 100 a second");
    }

    #[test]
    fn a_backlog_past_its_bytes_is_cut_off() {
        let mut gate = PeerGate::new(PeerLimits {
            backlog_bytes: 1_000,
            ..limits(1, 100)
        });
        let big = LinkEvent::Received {
            from: peer(1),
            delivery: Delivery::Reliable,
            packet: Bytes::from(vec![0; 600]),
        };
        // One goes through; two wait, 1,200 bytes against 1,000.
        let (now, cut) = gate.admit(T0, vec![big.clone(), big.clone(), big]);
        assert_eq!(now.len(), 1);
        assert_eq!(
            cut,
            vec![PeerCutOff {
                peer: peer(1),
                reason: CutOffReason::Backlog {
                    waiting: 2,
                    bytes: 1_200
                }
            }]
        );
    }

    #[test]
    fn malformed_packets_up_to_the_limit_cut_a_peer_off_once() {
        let mut gate = PeerGate::new(limits(2, 5));
        let a = peer(1);
        assert_eq!(gate.malformed(a), None);
        assert_eq!(gate.malformed(a), None);
        assert_eq!(
            gate.malformed(a),
            Some(PeerCutOff {
                peer: a,
                reason: CutOffReason::MalformedPackets { count: 3 }
            })
        );
        assert_eq!(gate.malformed(a), None);
        // A new link starts with a clean count.
        gate.admit(T0, vec![LinkEvent::Connected(a)]);
        assert_eq!(gate.malformed(a), None);
    }

    #[test]
    fn a_peer_that_leaves_takes_its_waiting_packets_along() {
        let mut gate = PeerGate::new(limits(1, 5));
        let a = peer(1);
        gate.admit(T0, vec![packet(a, 1), packet(a, 2), packet(a, 3)]);
        let (now, _) = gate.admit(T0, vec![LinkEvent::Disconnected(a)]);
        // One waiting packet went through before the disconnect was seen.
        assert_eq!(now, vec![packet(a, 2), LinkEvent::Disconnected(a)]);
        assert!(gate.admit(T0, vec![]).0.is_empty());
    }
}
