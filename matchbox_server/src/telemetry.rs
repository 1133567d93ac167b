//! What the server measures, and what players tell it.
//!
//! The server counts what it sees itself at once: rooms opened and closed,
//! refusals before the websocket, websockets admitted, hosts dropping and
//! coming back. Players add what only they know, in small reports:
//! whether a client's WebRTC link came up ([`JoinReport`]), and the host's
//! session summary ([`SessionReport`]). Every figure goes to Prometheus
//! counters ([`counters`], `GET /metrics`) and to the SQLite history
//! ([`store`], `GET /api/stats` and the `/stats` page).
//!
//! Counting never holds signaling up: counters are atomics, the report
//! bookkeeping ([`attempts`]) has its own short lock, and history rows go
//! to the database thread through a bounded queue that drops (and counts)
//! when full.

mod attempts;
pub(crate) mod counters;
mod page;
pub(crate) mod routes;
pub(crate) mod store;

use crate::{
    hub::Refusal,
    limits::{AddressLimiter, Rate},
    rooms::{Role, RoomEvent},
    token::RoomKey,
};
use attempts::{Attempts, NotCounted};
use bevy_p2p_protocol::{ErrorCode, JoinOutcome, JoinReport, SessionReport};
use counters::{CONNECTED, Counters, NO_REPORT};
use matchbox_protocol::PeerId;
use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};
use store::{Record, Store, unix_ms};

pub use store::Database;

/// How the server keeps and shows its stats. Its `Debug` hides the
/// metrics token.
#[derive(Clone, PartialEq, Eq)]
pub struct StatsSettings {
    /// Where the history is kept. Default in memory (said so at start).
    pub database: Database,
    /// How long rows are kept. Default 30 days.
    pub retention: Duration,
    /// An admitted client that reports no connection within this is
    /// counted as a failed join (`no_report`). Default 30 s.
    pub connect_timeout: Duration,
    /// History records waiting for the database at most; past it they are
    /// dropped and counted (`p2p_stats_dropped_total`). Default 4096.
    pub queue: usize,
    /// Serve `GET /metrics` on this address instead, and only there.
    /// Default none: on the main address, to `127.0.0.1` and `::1` (and bearers
    /// of [`Self::metrics_token`]).
    pub metrics_bind: Option<SocketAddr>,
    /// A bearer token that `GET /metrics` requires (wherever it is
    /// served, `127.0.0.1` included) and that lets a scraper elsewhere
    /// in. Default none.
    pub metrics_token: Option<String>,
    /// Reports one address may send. Default 30/min, bursts of 30.
    pub reports_per_address: Rate,
    /// Reports everyone together may send. Default 1200/min, bursts of 200.
    pub reports_total: Rate,
}

impl std::fmt::Debug for StatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsSettings")
            .field("database", &self.database)
            .field("retention", &self.retention)
            .field("connect_timeout", &self.connect_timeout)
            .field("queue", &self.queue)
            .field("metrics_bind", &self.metrics_bind)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<hidden>"),
            )
            .field("reports_per_address", &self.reports_per_address)
            .field("reports_total", &self.reports_total)
            .finish()
    }
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self {
            database: Database::Memory,
            retention: Duration::from_secs(30 * 24 * 3600),
            connect_timeout: Duration::from_secs(30),
            queue: 4096,
            metrics_bind: None,
            metrics_token: None,
            reports_per_address: Rate {
                per_minute: 30,
                burst: 30,
            },
            reports_total: Rate {
                per_minute: 1200,
                burst: 200,
            },
        }
    }
}

impl StatsSettings {
    /// Checks the settings a server cannot work with.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.connect_timeout.is_zero() {
            return Err("connect_timeout must not be zero".into());
        }
        if self.retention.is_zero() {
            return Err("retention must not be zero".into());
        }
        if self.queue == 0 {
            return Err("the stats queue must hold at least 1".into());
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|token| token.len() < 16 || !token.is_ascii())
        {
            return Err("the metrics token must be at least 16 ASCII characters".into());
        }
        self.reports_per_address.validate("reports_per_address")?;
        self.reports_total.validate("reports_total")
    }
}

/// The counters, the report bookkeeping and the history, shared by every
/// connection.
#[derive(Clone)]
pub(crate) struct Telemetry(Arc<Inner>);

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

struct Inner {
    counters: Counters,
    state: Mutex<Reports>,
    store: Store,
    room_key: RoomKey,
}

struct Reports {
    attempts: Attempts<PeerId>,
    limiter: AddressLimiter,
}

/// Attempts one room remembers, per player it can hold.
const ATTEMPTS_PER_SEAT: usize = 4;

impl Telemetry {
    /// Opens the history and starts counting.
    pub(crate) fn new(
        settings: &StatsSettings,
        room_key: RoomKey,
        capacity: usize,
        max_rooms: usize,
        (site_factor, tracked_addresses): (u32, usize),
    ) -> Result<Self, String> {
        let store = Store::open(&settings.database, settings.retention, settings.queue)?;
        let now = Instant::now();
        Ok(Self(Arc::new(Inner {
            counters: Counters::new(),
            state: Mutex::new(Reports {
                attempts: Attempts::new(
                    settings.connect_timeout,
                    capacity.saturating_mul(ATTEMPTS_PER_SEAT),
                    max_rooms.saturating_mul(2),
                ),
                limiter: AddressLimiter::new(
                    settings.reports_per_address,
                    settings.reports_total,
                    site_factor,
                    tracked_addresses,
                    now,
                ),
            }),
            store,
            room_key,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Reports> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, record: Record) {
        if !self.0.store.record(record) {
            self.0.counters.db_dropped.inc();
        }
    }

    fn record_join(&self, outcome: &'static str, admitted: bool) {
        self.0.counters.join(outcome);
        self.record(Record::Join {
            at: unix_ms(),
            outcome,
            admitted,
            connect_ms: None,
            relayed: None,
        });
    }

    fn record_room(&self, kind: &'static str, reason: Option<&'static str>) {
        self.record(Record::Room {
            at: unix_ms(),
            kind,
            reason,
        });
    }

    /// Counts what happened to rooms (taken from the registry, in order).
    pub(crate) fn room_events(&self, events: Vec<RoomEvent<PeerId>>, now: Instant) {
        let counters = &self.0.counters;
        for event in events {
            match event {
                RoomEvent::Opened { code } => {
                    counters.rooms_created.inc();
                    counters.rooms_active.inc();
                    self.lock().attempts.opened(&code);
                    self.record_room("opened", None);
                }
                RoomEvent::HostJoined { back: false, .. } => self.record_room("hosted", None),
                RoomEvent::HostJoined { back: true, .. } => {
                    counters.host_returns.inc();
                    self.record_room("host_back", None);
                }
                // A host that closed on purpose (its game ended) did not
                // disconnect.
                RoomEvent::HostAway { dropped: false, .. } => {}
                RoomEvent::HostAway { dropped: true, .. } => {
                    counters.host_disconnects.inc();
                    self.record_room("host_away", None);
                }
                RoomEvent::ClientAdmitted { code, peer } => {
                    let admission = self.lock().attempts.admitted(&code, peer, now);
                    if admission.first_in_room {
                        self.record_room("joined", None);
                    }
                    for _ in 0..admission.evicted_pending {
                        self.record_join(NO_REPORT, true);
                    }
                }
                RoomEvent::Closed { code, reason } => {
                    counters.rooms_active.dec();
                    counters
                        .rooms_closed
                        .get_or_create(&[("reason", reason.as_str())])
                        .inc();
                    self.lock().attempts.closed(&code, now);
                    self.record_room("closed", Some(reason.as_str()));
                }
            }
        }
    }

    /// A websocket took its seat: counted until the returned guard drops.
    pub(crate) fn socket_open(&self, role: Role) -> OpenSocket {
        let name = match role {
            Role::Host => "host",
            Role::Client => "client",
        };
        self.0
            .counters
            .websockets_admitted
            .get_or_create(&[("role", name)])
            .inc();
        self.0.counters.peers_connected.inc();
        OpenSocket(self.clone())
    }

    /// A request for a seat (a seat ticket, or a websocket: `host` for the
    /// host's) was refused with `code` before any websocket.
    pub(crate) fn refused(&self, host: bool, code: ErrorCode) {
        self.0
            .counters
            .refusals
            .get_or_create(&[("reason", code.as_str())])
            .inc();
        if !host && let Some(outcome) = counters::refusal_outcome(code) {
            self.record_join(outcome, false);
        }
    }

    /// Runs the connect timeout, and forgets addresses whose report budget
    /// is whole again.
    pub(crate) fn tick(&self, now: Instant) {
        let timed_out = {
            let mut state = self.lock();
            state.limiter.prune(now);
            state.attempts.tick(now)
        };
        for _ in 0..timed_out {
            self.record_join(NO_REPORT, true);
        }
    }

    /// Spends a report from `client`'s budget.
    fn budget(&self, state: &mut Reports, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        state.limiter.try_take(client, now).map_err(Refusal::from)
    }

    /// A client's join report for room `code` (user input, all of it).
    pub(crate) fn report_join(
        &self,
        client: IpAddr,
        code: &str,
        report: &JoinReport,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let counted = (|| -> Result<(), Refusal> {
            let (code, peer) = crate::token::seat_peer(code, &report.seat)?;
            if let JoinOutcome::Connected { connect_ms, .. } = report.outcome
                && connect_ms > MAX_CONNECT_MS
            {
                return Err(ErrorCode::BadRequest.into());
            }
            let mut state = self.lock();
            self.budget(&mut state, client, now)?;
            state
                .attempts
                .report_join(&code, peer)
                .map_err(not_counted)?;
            Ok(())
        })();
        self.count_report("join", counted.is_ok());
        counted?;
        match report.outcome {
            JoinOutcome::Connected {
                connect_ms,
                relayed,
            } => {
                self.0.counters.join(CONNECTED);
                self.0
                    .counters
                    .connect_seconds
                    .observe(connect_ms as f64 / 1000.0);
                self.record(Record::Join {
                    at: unix_ms(),
                    outcome: CONNECTED,
                    admitted: true,
                    connect_ms: Some(connect_ms),
                    relayed: Some(relayed),
                });
            }
            JoinOutcome::Failed { reason } => self.record_join(reason.as_str(), true),
        }
        Ok(())
    }

    /// The host's session report for room `code`, with the host token it
    /// presented.
    pub(crate) fn report_session(
        &self,
        client: IpAddr,
        code: &str,
        host_token: Option<&str>,
        report: SessionReport,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let counted = (|| -> Result<(), Refusal> {
            let code = crate::code::normalize(code).map_err(ErrorCode::from)?;
            if !host_token.is_some_and(|token| self.0.room_key.verify(&code, token)) {
                let mut state = self.lock();
                self.budget(&mut state, client, now)?;
                return Err(ErrorCode::BadHostToken.into());
            }
            check_session(&report)?;
            let mut state = self.lock();
            self.budget(&mut state, client, now)?;
            state.attempts.report_session(&code).map_err(not_counted)?;
            Ok(())
        })();
        self.count_report("session", counted.is_ok());
        counted?;
        for latency in [report.average_latency_ms].into_iter().flatten() {
            self.0.counters.link_rtt_seconds.observe(latency / 1000.0);
        }
        self.record(Record::Session {
            at: unix_ms(),
            report,
        });
        Ok(())
    }

    /// Counts a report, counted or refused.
    pub(crate) fn count_report(&self, kind: &'static str, counted: bool) {
        let result = if counted { "counted" } else { "refused" };
        self.0
            .counters
            .reports
            .get_or_create(&[("kind", kind), ("result", result)])
            .inc();
    }

    /// The Prometheus metrics, as text.
    pub(crate) fn metrics_text(&self) -> String {
        self.0.counters.render()
    }

    /// The history.
    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }
}

/// The longest time to connect a report may claim: 10 minutes.
const MAX_CONNECT_MS: u64 = 600_000;

/// Refuses figures no real session has: latencies that are not numbers,
/// negative or over a minute, more players than any room holds, sessions
/// longer than a year.
fn check_session(report: &SessionReport) -> Result<(), ErrorCode> {
    let latency_ok =
        |ms: Option<f64>| ms.is_none_or(|ms| ms.is_finite() && (0.0..=60_000.0).contains(&ms));
    let sane = latency_ok(report.average_latency_ms)
        && latency_ok(report.p95_latency_ms)
        && report.player_count <= 1000
        && report.relayed_links <= report.player_count
        && report.duration_seconds <= 366 * 24 * 3600;
    if sane {
        Ok(())
    } else {
        Err(ErrorCode::BadRequest)
    }
}

fn not_counted(why: NotCounted) -> Refusal {
    match why {
        NotCounted::UnknownRoom => ErrorCode::RoomNotFound,
        NotCounted::NotAdmitted => ErrorCode::NotAdmitted,
        NotCounted::AlreadyCounted => ErrorCode::AlreadyReported,
    }
    .into()
}

/// A seated websocket, counted in `p2p_peers_connected` while it lives.
pub(crate) struct OpenSocket(Telemetry);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.0.counters.peers_connected.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_figures_are_checked() {
        let good = SessionReport {
            player_count: 4,
            duration_seconds: 600,
            average_latency_ms: Some(42.0),
            p95_latency_ms: Some(80.0),
            relayed_links: 1,
            ..SessionReport::default()
        };
        assert_eq!(check_session(&good), Ok(()));
        for bad in [
            SessionReport {
                average_latency_ms: Some(f64::NAN),
                ..good.clone()
            },
            SessionReport {
                p95_latency_ms: Some(-1.0),
                ..good.clone()
            },
            SessionReport {
                relayed_links: 5,
                ..good.clone()
            },
            SessionReport {
                duration_seconds: u64::MAX,
                ..good.clone()
            },
        ] {
            assert_eq!(check_session(&bad), Err(ErrorCode::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(StatsSettings::default().validate(), Ok(()));
        for bad in [
            StatsSettings {
                connect_timeout: Duration::ZERO,
                ..StatsSettings::default()
            },
            StatsSettings {
                metrics_token: Some("short".into()),
                ..StatsSettings::default()
            },
            StatsSettings {
                queue: 0,
                ..StatsSettings::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
