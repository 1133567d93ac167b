//! The host's session report: one per room, when its game ends or the host
//! leaves, told to the signaling server that holds the room
//! (`POST /api/rooms/{code}/session-report`, with the host token).
//!
//! What the server shows operators as latency comes from here: the round
//! trips of every client link, sampled once a second while the room lives
//! (the transport's own timing, see `transport/probe.rs`), with the peak
//! player count, the room's age, how often the host's links closed under it,
//! how many client links went through a relay, and the payload bytes the
//! host's links sent and received (`transport/traffic.rs` says what counts;
//! a second at most is missed each time the host's links are rebuilt). A
//! game turns it off with `P2pSettings::report_stats`.

use core::time::Duration;
use std::collections::HashSet;

use bevy_p2p_protocol::api::SessionReport;

use crate::transport::{ByteCounts, PeerId};

/// Round-trip samples kept at most: an hour of six players at one a
/// second; past it, every other sample is dropped, so the figures stay a
/// fair picture of the whole session in bounded memory.
const MAX_SAMPLES: usize = 21_600;

/// What a host gathers about its room while it lives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostTally {
    opened: Duration,
    peak_players: u32,
    /// Round trips to clients, ms.
    rtt_ms: Vec<f32>,
    relayed: HashSet<PeerId>,
    links_closed: u32,
    bytes: ByteCounts,
    /// When the next sample is due.
    next_sample: Duration,
}

impl HostTally {
    /// A room the host opened at `now`.
    pub(crate) fn opened(now: Duration) -> Self {
        Self {
            opened: now,
            peak_players: 1,
            rtt_ms: Vec::new(),
            relayed: HashSet::new(),
            links_closed: 0,
            bytes: ByteCounts::default(),
            next_sample: now,
        }
    }

    /// Whether a sample is due at `now` (once a second).
    pub(crate) fn sample_due(&mut self, now: Duration) -> bool {
        if now < self.next_sample {
            return false;
        }
        self.next_sample = now + Duration::from_secs(1);
        true
    }

    /// One sample: the players in the room, and each linked client's round
    /// trip (`None` before one was timed) and whether its link is relayed.
    pub(crate) fn sample(
        &mut self,
        players: usize,
        clients: impl IntoIterator<Item = (PeerId, Option<Duration>, bool)>,
    ) {
        self.peak_players = self
            .peak_players
            .max(u32::try_from(players).unwrap_or(u32::MAX));
        for (peer, rtt, relayed) in clients {
            if let Some(rtt) = rtt.filter(|rtt| !rtt.is_zero()) {
                if self.rtt_ms.len() >= MAX_SAMPLES {
                    let mut keep = false;
                    self.rtt_ms.retain(|_| {
                        keep = !keep;
                        keep
                    });
                }
                self.rtt_ms.push(rtt.as_secs_f32() * 1e3);
            }
            if relayed {
                self.relayed.insert(peer);
            }
        }
    }

    /// Bytes the host's links moved since the last call.
    pub(crate) fn add_bytes(&mut self, counts: ByteCounts) {
        self.bytes.sent = self.bytes.sent.saturating_add(counts.sent);
        self.bytes.received = self.bytes.received.saturating_add(counts.received);
    }

    /// The host's links closed under the room (it takes its seat back).
    pub(crate) fn links_closed(&mut self) {
        self.links_closed = self.links_closed.saturating_add(1);
    }

    /// The report at `now`.
    pub(crate) fn report(&self, now: Duration) -> SessionReport {
        let mut sorted = self.rtt_ms.clone();
        sorted.sort_by(f32::total_cmp);
        let average = (!sorted.is_empty())
            .then(|| f64::from(sorted.iter().sum::<f32>()) / sorted.len() as f64);
        // Nearest rank, as the server computes its own percentiles.
        let p95 = sorted
            .len()
            .checked_sub(1)
            .map(|last| f64::from(sorted[(last as f64 * 0.95).round() as usize]));
        SessionReport {
            player_count: self.peak_players,
            duration_seconds: now.saturating_sub(self.opened).as_secs(),
            host_disconnects: self.links_closed,
            average_latency_ms: average,
            p95_latency_ms: p95,
            bytes_sent: self.bytes.sent,
            bytes_received: self.bytes.received,
            relayed_links: u32::try_from(self.relayed.len()).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer_id as peer;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_session_is_summed_up_from_its_samples() {
        let mut tally = HostTally::opened(secs(10));
        assert!(tally.sample_due(secs(10)));
        assert!(!tally.sample_due(secs(10) + Duration::from_millis(500)));
        tally.sample(2, [(peer(1), None, false)]);
        for ms in 1..=20u64 {
            assert!(tally.sample_due(secs(10 + ms)));
            tally.sample(
                3,
                [
                    (peer(1), Some(Duration::from_millis(ms)), false),
                    (peer(2), Some(Duration::from_millis(100)), ms == 5),
                ],
            );
        }
        tally.links_closed();
        tally.add_bytes(ByteCounts {
            sent: 1_000,
            received: 300,
        });
        tally.add_bytes(ByteCounts {
            sent: 24,
            received: 0,
        });
        let report = tally.report(secs(100));
        assert_eq!((report.bytes_sent, report.bytes_received), (1_024, 300));
        assert_eq!(report.player_count, 3);
        assert_eq!(report.duration_seconds, 90);
        assert_eq!(report.host_disconnects, 1);
        assert_eq!(report.relayed_links, 1);
        // 1..=20 ms and twenty 100 ms: mean (210 + 2000) / 40.
        let average = report.average_latency_ms.expect("samples");
        assert!((average - 55.25).abs() < 1e-3, "{average}");
        assert_eq!(report.p95_latency_ms, Some(100.0));
    }

    #[test]
    fn no_round_trip_is_no_latency_and_samples_stay_bounded() {
        let tally = HostTally::opened(secs(0));
        let report = tally.report(secs(5));
        assert_eq!(report.average_latency_ms, None);
        assert_eq!(report.p95_latency_ms, None);
        let mut tally = HostTally::opened(secs(0));
        for _ in 0..MAX_SAMPLES + 10 {
            tally.sample(2, [(peer(1), Some(Duration::from_millis(7)), false)]);
        }
        assert!(tally.rtt_ms.len() <= MAX_SAMPLES);
        assert_eq!(tally.report(secs(1)).average_latency_ms, Some(7.0));
    }
}
