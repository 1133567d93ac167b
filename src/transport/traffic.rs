//! Bytes sent to and received from each peer: the rates a player sees in
//! the network overlay (and replicon's `ClientStats`), and the totals a
//! host's session report carries.
//!
//! What is counted is the payload of our packets as the links take and
//! give them: replicon's messages, pings and goodbyes with their one-byte
//! frame. The wire adds DTLS, SCTP, UDP and IP headers on top, and the
//! transport's own round-trip probes (`probe.rs`) are not counted. A pure
//! counter: [`Transport`](super::Transport) feeds it, with the app's real
//! time from each poll as its clock.

use core::time::Duration;
use std::collections::HashMap;

use super::PeerId;

/// The span a rate is averaged over.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Bytes sent and received, as a pair.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ByteCounts {
    /// Bytes sent.
    pub sent: u64,
    /// Bytes received.
    pub received: u64,
}

impl ByteCounts {
    fn add(&mut self, other: ByteCounts) {
        self.sent = self.sent.saturating_add(other.sent);
        self.received = self.received.saturating_add(other.received);
    }
}

/// One peer's window: what the window in progress has counted, and the
/// rate the last full window measured.
#[derive(Clone, Copy, Default, Debug)]
struct PeerWindow {
    counting: ByteCounts,
    /// Bytes per second over the last full window.
    rate: (f64, f64),
}

/// Counts bytes per peer, in windows of [`RATE_WINDOW`].
#[derive(Debug, Default)]
pub struct TrafficMeter {
    now: Duration,
    window_start: Duration,
    peers: HashMap<PeerId, PeerWindow>,
    /// All bytes since the last [`take_totals`](Self::take_totals).
    totals: ByteCounts,
}

impl TrafficMeter {
    /// Moves the clock to `now`; a window that ended turns into rates.
    pub fn advance(&mut self, now: Duration) {
        self.now = self.now.max(now);
        let span = self.now.saturating_sub(self.window_start);
        if span < RATE_WINDOW {
            return;
        }
        let secs = span.as_secs_f64();
        for window in self.peers.values_mut() {
            let counted = core::mem::take(&mut window.counting);
            window.rate = (counted.sent as f64 / secs, counted.received as f64 / secs);
        }
        self.window_start = self.now;
    }

    /// `bytes` went to `peer`.
    pub fn sent(&mut self, peer: PeerId, bytes: usize) {
        self.count(
            peer,
            ByteCounts {
                sent: bytes as u64,
                received: 0,
            },
        );
    }

    /// `bytes` came from `peer`.
    pub fn received(&mut self, peer: PeerId, bytes: usize) {
        self.count(
            peer,
            ByteCounts {
                sent: 0,
                received: bytes as u64,
            },
        );
    }

    fn count(&mut self, peer: PeerId, bytes: ByteCounts) {
        self.peers.entry(peer).or_default().counting.add(bytes);
        self.totals.add(bytes);
    }

    /// Bytes per second to and from `peer` over the last full window:
    /// `(sent, received)`, zero before one ended.
    pub fn rates(&self, peer: PeerId) -> (f64, f64) {
        self.peers
            .get(&peer)
            .map(|window| window.rate)
            .unwrap_or_default()
    }

    /// Forgets a peer that is gone (its bytes stay in the totals).
    pub fn forget(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// Every byte counted since the last call, all peers together.
    pub fn take_totals(&mut self) -> ByteCounts {
        core::mem::take(&mut self.totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer_id as peer;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn rates_come_from_the_last_full_window() {
        let mut meter = TrafficMeter::default();
        let (a, b) = (peer(1), peer(2));
        meter.advance(ms(0));
        for _ in 0..10 {
            meter.sent(a, 100);
            meter.received(a, 40);
        }
        meter.received(b, 7);
        meter.advance(ms(500));
        // The window is not over: no rate yet.
        assert_eq!(meter.rates(a), (0.0, 0.0));
        meter.advance(ms(1_000));
        assert_eq!(meter.rates(a), (1_000.0, 400.0));
        assert_eq!(meter.rates(b), (0.0, 7.0));
        // A quiet window reads as zero, not as the last busy one.
        meter.advance(ms(2_000));
        assert_eq!(meter.rates(a), (0.0, 0.0));
        // A late frame: the rate is over the span it covered.
        meter.sent(b, 300);
        meter.advance(ms(3_500));
        assert_eq!(meter.rates(b), (200.0, 0.0));
    }

    #[test]
    fn totals_are_taken_once_and_outlive_the_peer() {
        let mut meter = TrafficMeter::default();
        meter.sent(peer(1), 10);
        meter.received(peer(1), 5);
        meter.forget(peer(1));
        meter.sent(peer(2), 1);
        assert_eq!(
            meter.take_totals(),
            ByteCounts {
                sent: 11,
                received: 5
            }
        );
        assert_eq!(meter.take_totals(), ByteCounts::default());
        assert_eq!(meter.rates(peer(1)), (0.0, 0.0));
    }

    #[test]
    fn the_clock_never_runs_back() {
        let mut meter = TrafficMeter::default();
        meter.advance(ms(1_500));
        meter.sent(peer(1), 100);
        meter.advance(ms(200));
        assert_eq!(meter.rates(peer(1)), (0.0, 0.0));
        meter.advance(ms(2_500));
        assert_eq!(meter.rates(peer(1)), (100.0, 0.0));
    }
}
