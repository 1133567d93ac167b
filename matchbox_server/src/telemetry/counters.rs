//! The Prometheus side: counters, gauges and histograms in the Prometheus
//! text format. Labels are closed sets of names (outcomes, reasons, kinds):
//! never a room code, a peer id or an address.

use crate::rooms::CloseReason;
use bevy_p2p_protocol::{ErrorCode, JoinFailureReason};
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// One label, with a name from a closed set.
pub(crate) type Label = [(&'static str, &'static str); 1];

/// Outcomes a join attempt is counted under besides the failure reasons.
pub(crate) const CONNECTED: &str = "connected";
/// An admitted client that said nothing within the connect timeout.
pub(crate) const NO_REPORT: &str = "no_report";

/// Every metric the server keeps.
pub(crate) struct Counters {
    registry: Registry,
    pub(crate) rooms_created: Counter,
    pub(crate) rooms_active: Gauge,
    pub(crate) peers_connected: Gauge,
    pub(crate) websockets_admitted: Family<Label, Counter>,
    pub(crate) join_attempts: Family<Label, Counter>,
    pub(crate) refusals: Family<Label, Counter>,
    pub(crate) host_disconnects: Counter,
    pub(crate) host_returns: Counter,
    pub(crate) rooms_closed: Family<Label, Counter>,
    pub(crate) reports: Family<[(&'static str, &'static str); 2], Counter>,
    pub(crate) connect_seconds: Histogram,
    pub(crate) link_rtt_seconds: Histogram,
    pub(crate) db_dropped: Counter,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let counters = Self {
            registry: Registry::default(),
            rooms_created: Counter::default(),
            rooms_active: Gauge::default(),
            peers_connected: Gauge::default(),
            websockets_admitted: Family::default(),
            join_attempts: Family::default(),
            refusals: Family::default(),
            host_disconnects: Counter::default(),
            host_returns: Counter::default(),
            rooms_closed: Family::default(),
            reports: Family::default(),
            // 50 ms to ~100 s.
            connect_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            // 1 ms to ~2 s.
            link_rtt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 12)),
            db_dropped: Counter::default(),
        };
        registry.register(
            "p2p_rooms_created",
            "Rooms opened (created, or opened again by their host)",
            counters.rooms_created.clone(),
        );
        registry.register(
            "p2p_rooms_active",
            "Rooms open now",
            counters.rooms_active.clone(),
        );
        registry.register(
            "p2p_peers_connected",
            "Seated websockets open now, hosts and clients",
            counters.peers_connected.clone(),
        );
        registry.register(
            "p2p_websockets_admitted",
            "Websockets given a seat, by role",
            counters.websockets_admitted.clone(),
        );
        registry.register(
            "p2p_join_attempts",
            "Client joins by outcome: connected, a refusal before the websocket, \
             a failure the client reported, or no_report",
            counters.join_attempts.clone(),
        );
        registry.register(
            "p2p_refusals",
            "Requests for a seat refused before the websocket, by reason",
            counters.refusals.clone(),
        );
        registry.register(
            "p2p_host_disconnects",
            "Host websockets that dropped (no close frame) with the room still open",
            counters.host_disconnects.clone(),
        );
        registry.register(
            "p2p_host_returns",
            "Hosts back in their seat within the grace",
            counters.host_returns.clone(),
        );
        registry.register(
            "p2p_rooms_closed",
            "Rooms closed, by reason",
            counters.rooms_closed.clone(),
        );
        registry.register(
            "p2p_reports",
            "Reports from players, by kind and whether they were counted",
            counters.reports.clone(),
        );
        registry.register(
            "p2p_connect_seconds",
            "Time from a join's start to its open link, as clients report it",
            counters.connect_seconds.clone(),
        );
        registry.register(
            "p2p_link_rtt_seconds",
            "Average round-trip time of a session's client links, as hosts report it",
            counters.link_rtt_seconds.clone(),
        );
        registry.register(
            "p2p_stats_dropped",
            "Stats records dropped because the database writer was behind",
            counters.db_dropped.clone(),
        );
        // Every label value shows from the start, at zero.
        for role in ["host", "client"] {
            let _ = counters
                .websockets_admitted
                .get_or_create(&[("role", role)]);
        }
        for outcome in join_outcomes() {
            let _ = counters
                .join_attempts
                .get_or_create(&[("outcome", outcome)]);
        }
        for reason in CloseReason::ALL {
            let _ = counters
                .rooms_closed
                .get_or_create(&[("reason", reason.as_str())]);
        }
        for kind in ["join", "session"] {
            for result in ["counted", "refused"] {
                let _ = counters
                    .reports
                    .get_or_create(&[("kind", kind), ("result", result)]);
            }
        }
        Self {
            registry,
            ..counters
        }
    }

    /// The metrics as Prometheus text.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// Counts a join attempt's outcome.
    pub(crate) fn join(&self, outcome: &'static str) {
        self.join_attempts
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }
}

/// Every outcome a join attempt can have.
pub(crate) fn join_outcomes() -> impl Iterator<Item = &'static str> {
    [CONNECTED, NO_REPORT]
        .into_iter()
        .chain(
            JoinFailureReason::ALL
                .into_iter()
                .map(JoinFailureReason::as_str),
        )
        .chain([
            ErrorCode::RemovedByHost.as_str(),
            ErrorCode::BadTicket.as_str(),
        ])
}

/// The join outcome a refusal of a client's seat counts as, if it is one
/// (a rate limit or a busy server is not a player's join failing).
pub(crate) fn refusal_outcome(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::RoomNotFound => Some(JoinFailureReason::RoomNotFound.as_str()),
        ErrorCode::RoomFull => Some(JoinFailureReason::RoomFull.as_str()),
        ErrorCode::InvalidCode => Some(JoinFailureReason::InvalidCode.as_str()),
        ErrorCode::RemovedByHost | ErrorCode::BadTicket => Some(code.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_zeroes_and_no_free_text() {
        let counters = Counters::new();
        counters.rooms_created.inc();
        counters.join(CONNECTED);
        counters.connect_seconds.observe(0.8);
        let text = counters.render();
        for line in [
            "p2p_rooms_created_total 1",
            "p2p_rooms_active 0",
            "p2p_peers_connected 0",
            "p2p_join_attempts_total{outcome=\"connected\"} 1",
            "p2p_join_attempts_total{outcome=\"no_report\"} 0",
            "p2p_join_attempts_total{outcome=\"needs_relay\"} 0",
            "p2p_host_disconnects_total 0",
            "p2p_host_returns_total 0",
            "p2p_rooms_closed_total{reason=\"host_gone\"} 0",
            "p2p_connect_seconds_count 1",
            "p2p_link_rtt_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert_eq!(refusal_outcome(ErrorCode::RoomFull), Some("room_full"));
        assert_eq!(refusal_outcome(ErrorCode::RateLimited), None);
    }
}
