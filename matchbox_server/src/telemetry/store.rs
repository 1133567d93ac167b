//! The stats' history in SQLite, on a thread of its own.
//!
//! Signaling never waits for the database: records go through a bounded
//! channel ([`Store::record`] drops and counts when it is full), and the
//! thread writes them in batches, one transaction each. Questions
//! ([`Store::stats`], [`Store::series`]) go through the same channel, so
//! they see every record sent before them. The schema is versioned with
//! `PRAGMA user_version`; rows older than the retention are pruned hourly.

use bevy_p2p_protocol::{LATENCY_TARGET_MS, SUCCESS_TARGET, SessionReport, Stats, Target, Targets};
use rusqlite::{Connection, params};
use std::sync::Arc;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::{Semaphore, oneshot};
use tracing::{error, info, warn};

/// How often rows past the retention are deleted.
const PRUNE_PERIOD: Duration = Duration::from_secs(3600);

/// Records written in one transaction at most.
const BATCH: usize = 512;

/// The schema this build writes. Each step of [`MIGRATIONS`] takes the
/// database from its index to the next version.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE room_events (
        at INTEGER NOT NULL,    -- unix ms
        kind TEXT NOT NULL,     -- opened, hosted, joined, host_away, host_back, closed
        reason TEXT             -- why a room closed
    );
    CREATE INDEX room_events_at ON room_events (at);
    CREATE TABLE joins (
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL,  -- connected, no_report, or a failure reason
        admitted INTEGER NOT NULL, -- 1 when the server had given the client its seat
        connect_ms INTEGER,
        relayed INTEGER
    );
    CREATE INDEX joins_at ON joins (at);
    CREATE TABLE sessions (
        at INTEGER NOT NULL,
        player_count INTEGER NOT NULL,
        duration_seconds INTEGER NOT NULL,
        host_disconnects INTEGER NOT NULL,
        average_latency_ms REAL,
        p95_latency_ms REAL,
        bytes_sent INTEGER NOT NULL,
        bytes_received INTEGER NOT NULL,
        relayed_links INTEGER NOT NULL
    );
    CREATE INDEX sessions_at ON sessions (at);
"];

/// The milliseconds since the Unix epoch, now.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// One row to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// Something that happened to a room (`reason`: why it closed).
    Room {
        at: i64,
        kind: &'static str,
        reason: Option<&'static str>,
    },
    /// A join attempt's outcome.
    Join {
        at: i64,
        outcome: &'static str,
        admitted: bool,
        connect_ms: Option<u64>,
        relayed: Option<bool>,
    },
    /// A host's session report.
    Session { at: i64, report: SessionReport },
}

/// Per-bucket figures for the stats page's charts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Bucket {
    /// The bucket's start, unix ms.
    pub(crate) start: i64,
    pub(crate) rooms_created: u64,
    /// Admitted joins that ended, and those that connected.
    pub(crate) ended: u64,
    pub(crate) connected: u64,
    /// Mean of the sessions' average latencies reported in the bucket.
    pub(crate) latency_ms: Option<f64>,
}

enum Job {
    Write(Record),
    Stats {
        since: Option<u64>,
        now: i64,
        reply: oneshot::Sender<Result<Stats, String>>,
    },
    Series {
        from: i64,
        bucket_ms: i64,
        buckets: usize,
        reply: oneshot::Sender<Result<Vec<Bucket>, String>>,
    },
    Flush(oneshot::Sender<()>),
}

/// Where the history is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Database {
    /// In memory: gone when the server stops.
    #[default]
    Memory,
    /// An SQLite file, created if missing.
    File(PathBuf),
}

/// The way to the database thread.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    jobs: SyncSender<Job>,
    /// Questions waiting at once: a flood of them must not fill the queue
    /// that records go through.
    questions: Arc<Semaphore>,
}

/// Questions queued or being answered at most.
const QUESTIONS: usize = 2;

/// Why a question got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// The queue is full: try again in a moment.
    Busy,
    /// The database failed or its thread is gone (logged).
    Failed,
}

impl Store {
    /// Opens (or creates) the database, brings its schema up to date, and
    /// starts its thread; `queue` records wait at most.
    pub(crate) fn open(
        database: &Database,
        retention: Duration,
        queue: usize,
    ) -> Result<Self, String> {
        let connection = match database {
            Database::Memory => {
                info!("stats kept in memory: they end with the process (--db PATH keeps them)");
                Connection::open_in_memory()
            }
            Database::File(path) => {
                info!(path = %path.display(), "stats kept in SQLite");
                Connection::open(path)
            }
        }
        .map_err(|error| format!("cannot open the stats database: {error}"))?;
        migrate(&connection).map_err(|error| format!("stats database: {error}"))?;
        if let Database::File(_) = database {
            // Readers and the writer stop blocking each other; a crash loses
            // at most the last batch.
            let _ = connection.pragma_update(None, "journal_mode", "WAL");
            let _ = connection.pragma_update(None, "synchronous", "NORMAL");
        }
        let (jobs, queued) = mpsc::sync_channel(queue.max(1));
        thread::Builder::new()
            .name("p2p-stats-db".into())
            .spawn(move || run(connection, queued, retention))
            .map_err(|error| format!("cannot start the stats database thread: {error}"))?;
        Ok(Self {
            jobs,
            questions: Arc::new(Semaphore::new(QUESTIONS)),
        })
    }

    /// Queues a record; `false` (it is dropped) when the queue is full.
    pub(crate) fn record(&self, record: Record) -> bool {
        match self.jobs.try_send(Job::Write(record)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                warn!("the stats database thread is gone: a record is lost");
                false
            }
        }
    }

    fn ask<T: Send + 'static>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, String>>,
    ) -> AskFuture<T> {
        let sent = match self.questions.clone().try_acquire_owned() {
            Err(_) => Err(Unanswered::Busy),
            Ok(permit) => match self.jobs.try_send(job) {
                Ok(()) => Ok((answer, permit)),
                Err(TrySendError::Full(_)) => Err(Unanswered::Busy),
                Err(TrySendError::Disconnected(_)) => Err(Unanswered::Failed),
            },
        };
        Box::pin(async move {
            let (answer, _permit) = sent?;
            match answer.await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) => {
                    error!(%error, "stats query failed");
                    Err(Unanswered::Failed)
                }
                Err(_) => Err(Unanswered::Failed),
            }
        })
    }

    /// The key figures over the last `since` seconds (all kept: `None`).
    pub(crate) fn stats(&self, since: Option<u64>) -> AskFuture<Stats> {
        let (reply, answer) = oneshot::channel();
        self.ask(
            Job::Stats {
                since,
                now: unix_ms(),
                reply,
            },
            answer,
        )
    }

    /// `buckets` buckets of `bucket_ms` from `from` (unix ms).
    pub(crate) fn series(
        &self,
        from: i64,
        bucket_ms: i64,
        buckets: usize,
    ) -> AskFuture<Vec<Bucket>> {
        let (reply, answer) = oneshot::channel();
        self.ask(
            Job::Series {
                from,
                bucket_ms,
                buckets,
                reply,
            },
            answer,
        )
    }

    /// Resolves once everything queued before is written (blocking send:
    /// for shutdown and tests, never for signaling).
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        let jobs = self.jobs.clone();
        let sent = tokio::task::spawn_blocking(move || jobs.send(Job::Flush(done)).is_ok()).await;
        if matches!(sent, Ok(true)) {
            let _ = flushed.await;
        }
    }
}

/// A question's answer, later.
pub(crate) type AskFuture<T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, Unanswered>> + Send>>;

/// Brings the schema to this build's version; refuses a newer one.
fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "schema version {version} is newer than this server's ({}): use a newer server",
            MIGRATIONS.len()
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        connection.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            step + 1
        ))?;
    }
    Ok(())
}

fn run(mut connection: Connection, jobs: mpsc::Receiver<Job>, retention: Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            let cutoff = unix_ms().saturating_sub(retention_ms);
            if let Err(error) = prune(&connection, cutoff) {
                error!(%error, "pruning old stats failed");
            }
            next_prune = Instant::now() + PRUNE_PERIOD;
        }
        let wait = next_prune.saturating_duration_since(Instant::now());
        let job = match jobs.recv_timeout(wait) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        match job {
            Job::Write(first) => {
                let mut batch = vec![first];
                let mut after = None;
                while batch.len() < BATCH {
                    match jobs.try_recv() {
                        Ok(Job::Write(record)) => batch.push(record),
                        Ok(other) => {
                            after = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if let Err(error) = write(&mut connection, &batch) {
                    error!(%error, records = batch.len(), "writing stats failed");
                }
                if let Some(job) = after {
                    answer(&connection, job);
                }
            }
            other => answer(&connection, other),
        }
    }
}

fn answer(connection: &Connection, job: Job) {
    match job {
        Job::Write(_) => {}
        Job::Stats { since, now, reply } => {
            let _ = reply.send(stats(connection, since, now).map_err(|e| e.to_string()));
        }
        Job::Series {
            from,
            bucket_ms,
            buckets,
            reply,
        } => {
            let _ =
                reply.send(series(connection, from, bucket_ms, buckets).map_err(|e| e.to_string()));
        }
        Job::Flush(done) => {
            let _ = done.send(());
        }
    }
}

fn write(connection: &mut Connection, batch: &[Record]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    for record in batch {
        match record {
            Record::Room { at, kind, reason } => {
                transaction.execute(
                    "INSERT INTO room_events (at, kind, reason) VALUES (?1, ?2, ?3)",
                    params![at, kind, reason],
                )?;
            }
            Record::Join {
                at,
                outcome,
                admitted,
                connect_ms,
                relayed,
            } => {
                transaction.execute(
                    "INSERT INTO joins (at, outcome, admitted, connect_ms, relayed)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![at, outcome, admitted, connect_ms.map(sql_int), relayed],
                )?;
            }
            Record::Session { at, report } => {
                transaction.execute(
                    "INSERT INTO sessions (at, player_count, duration_seconds, host_disconnects,
                         average_latency_ms, p95_latency_ms, bytes_sent, bytes_received,
                         relayed_links)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        at,
                        report.player_count,
                        sql_int(report.duration_seconds),
                        report.host_disconnects,
                        report.average_latency_ms,
                        report.p95_latency_ms,
                        sql_int(report.bytes_sent),
                        sql_int(report.bytes_received),
                        report.relayed_links
                    ],
                )?;
            }
        }
    }
    transaction.commit()
}

fn prune(connection: &Connection, cutoff: i64) -> rusqlite::Result<()> {
    for table in ["room_events", "joins", "sessions"] {
        connection.execute(&format!("DELETE FROM {table} WHERE at < ?1"), [cutoff])?;
    }
    Ok(())
}

/// SQLite's integers are signed: larger figures are stored as the largest.
fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn count(connection: &Connection, sql: &str, from: i64) -> rusqlite::Result<u64> {
    let n: i64 = connection.query_row(sql, [from], |row| row.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Ratio, or `None` for nothing over nothing.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The nearest-rank percentile `p` (0 to 1) of `values`, sorted here.
pub(crate) fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (p * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn stats(connection: &Connection, since: Option<u64>, now: i64) -> rusqlite::Result<Stats> {
    let from = since.map_or(i64::MIN, |secs| {
        now.saturating_sub(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    });
    let room_kind = |kind: &str| {
        count(
            connection,
            &format!("SELECT COUNT(*) FROM room_events WHERE at >= ?1 AND kind = '{kind}'"),
            from,
        )
    };
    let rooms_created = room_kind("opened")?;
    let rooms_joined = room_kind("joined")?;
    let sessions = room_kind("hosted")?;
    let host_disconnects = room_kind("host_away")?;
    let join_attempts = count(
        connection,
        "SELECT COUNT(*) FROM joins WHERE at >= ?1",
        from,
    )?;
    let connected = count(
        connection,
        "SELECT COUNT(*) FROM joins WHERE at >= ?1 AND outcome = 'connected'",
        from,
    )?;
    let admitted_ended = count(
        connection,
        "SELECT COUNT(*) FROM joins WHERE at >= ?1 AND admitted = 1",
        from,
    )?;
    let mut failures = BTreeMap::new();
    let mut query = connection.prepare(
        "SELECT outcome, COUNT(*) FROM joins WHERE at >= ?1 AND outcome != 'connected'
         GROUP BY outcome",
    )?;
    for row in query.query_map([from], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })? {
        let (outcome, n) = row?;
        failures.insert(outcome, u64::try_from(n).unwrap_or(0));
    }
    let latencies = |column: &str| -> rusqlite::Result<Vec<f64>> {
        let mut query = connection.prepare(&format!(
            "SELECT {column} FROM sessions WHERE at >= ?1 AND {column} IS NOT NULL"
        ))?;
        query.query_map([from], |row| row.get(0))?.collect()
    };
    let averages = latencies("average_latency_ms")?;
    let mut p95s = latencies("p95_latency_ms")?;
    let session_reports = count(
        connection,
        "SELECT COUNT(*) FROM sessions WHERE at >= ?1",
        from,
    )?;
    let average_latency_ms =
        (!averages.is_empty()).then(|| averages.iter().sum::<f64>() / averages.len() as f64);
    let connection_success_rate = ratio(connected, admitted_ended);
    Ok(Stats {
        since_secs: since,
        rooms_created,
        rooms_joined,
        join_attempts,
        connected,
        connection_success_rate,
        failures,
        average_latency_ms,
        p95_latency_ms: percentile(&mut p95s, 0.95),
        sessions,
        session_reports,
        host_disconnects,
        host_disconnect_rate: ratio(host_disconnects, sessions),
        targets: Targets {
            connection_success: Target {
                threshold: SUCCESS_TARGET,
                value: connection_success_rate,
                met: connection_success_rate.map(|rate| rate > SUCCESS_TARGET),
            },
            average_latency: Target {
                threshold: LATENCY_TARGET_MS,
                value: average_latency_ms,
                met: average_latency_ms.map(|ms| ms < LATENCY_TARGET_MS),
            },
        },
    })
}

fn series(
    connection: &Connection,
    from: i64,
    bucket_ms: i64,
    buckets: usize,
) -> rusqlite::Result<Vec<Bucket>> {
    let bucket_ms = bucket_ms.max(1);
    let mut out: Vec<Bucket> = (0..buckets)
        .map(|i| Bucket {
            start: from + bucket_ms * i as i64,
            ..Bucket::default()
        })
        .collect();
    let slot = |at: i64| -> Option<usize> {
        let index = (at - from).div_euclid(bucket_ms);
        usize::try_from(index).ok().filter(|&i| i < buckets)
    };
    let mut query =
        connection.prepare("SELECT at FROM room_events WHERE at >= ?1 AND kind = 'opened'")?;
    for at in query.query_map([from], |row| row.get::<_, i64>(0))? {
        if let Some(i) = slot(at?) {
            out[i].rooms_created += 1;
        }
    }
    let mut query = connection
        .prepare("SELECT at, outcome = 'connected' FROM joins WHERE at >= ?1 AND admitted = 1")?;
    for row in query.query_map([from], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, bool>(1)?))
    })? {
        let (at, connected) = row?;
        if let Some(i) = slot(at) {
            out[i].ended += 1;
            out[i].connected += u64::from(connected);
        }
    }
    let mut sums = vec![(0.0, 0u32); buckets];
    let mut query = connection.prepare(
        "SELECT at, average_latency_ms FROM sessions WHERE at >= ?1 AND average_latency_ms IS NOT NULL",
    )?;
    for row in query.query_map([from], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
    })? {
        let (at, ms) = row?;
        if let Some(i) = slot(at) {
            sums[i].0 += ms;
            sums[i].1 += 1;
        }
    }
    for (bucket, (sum, n)) in out.iter_mut().zip(sums) {
        bucket.latency_ms = (n > 0).then(|| sum / f64::from(n));
    }
    Ok(out)
}

/// Opens `path` as [`Store::open`] does, for tests that read the rows.
#[cfg(test)]
fn open_file(path: &std::path::Path) -> Connection {
    let connection = Connection::open(path).expect("open");
    migrate(&connection).expect("migrate");
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(at: i64, outcome: &'static str, admitted: bool) -> Record {
        Record::Join {
            at,
            outcome,
            admitted,
            connect_ms: None,
            relayed: None,
        }
    }

    fn session(at: i64, average: f64, p95: f64) -> Record {
        Record::Session {
            at,
            report: SessionReport {
                player_count: 2,
                duration_seconds: 60,
                average_latency_ms: Some(average),
                p95_latency_ms: Some(p95),
                ..SessionReport::default()
            },
        }
    }

    fn room(at: i64, kind: &'static str) -> Record {
        Record::Room {
            at,
            kind,
            reason: None,
        }
    }

    #[test]
    fn figures_from_known_rows() {
        let mut connection = Connection::open_in_memory().expect("db");
        migrate(&connection).expect("migrate");
        let now = 10_000_000;
        // 19 connected and one silent out of 20 admitted joins: 95 %, which
        // is not *above* 95 %. Two refusals count as attempts, not as
        // connection failures.
        let mut rows: Vec<Record> = (0..19).map(|i| join(now - i, "connected", true)).collect();
        rows.push(join(now, "no_report", true));
        rows.push(join(now, "room_full", false));
        rows.push(join(now, "room_not_found", false));
        rows.extend([
            room(now, "opened"),
            room(now, "opened"),
            room(now, "joined"),
            room(now, "hosted"),
            room(now, "hosted"),
            room(now, "host_away"),
            session(now, 40.0, 90.0),
            session(now, 80.0, 150.0),
        ]);
        // Outside a one-minute window.
        rows.push(join(now - 120_000, "needs_relay", true));
        write(&mut connection, &rows).expect("write");

        let all = stats(&connection, None, now).expect("stats");
        assert_eq!(all.join_attempts, 23);
        assert_eq!(all.connected, 19);
        assert_eq!(all.connection_success_rate, Some(19.0 / 21.0));
        assert_eq!(all.failures.get("needs_relay"), Some(&1));

        let minute = stats(&connection, Some(60), now).expect("stats");
        assert_eq!(minute.since_secs, Some(60));
        assert_eq!(
            (
                minute.rooms_created,
                minute.rooms_joined,
                minute.join_attempts
            ),
            (2, 1, 22)
        );
        assert_eq!(minute.connection_success_rate, Some(0.95));
        assert_eq!(minute.targets.connection_success.met, Some(false));
        assert_eq!(minute.average_latency_ms, Some(60.0));
        assert_eq!(minute.targets.average_latency.met, Some(true));
        assert_eq!(minute.p95_latency_ms, Some(150.0));
        assert_eq!((minute.sessions, minute.host_disconnects), (2, 1));
        assert_eq!(minute.host_disconnect_rate, Some(0.5));
        assert_eq!(minute.failures.get("no_report"), Some(&1));
        assert_eq!(minute.failures.get("room_full"), Some(&1));
        assert_eq!(minute.failures.get("needs_relay"), None);

        // Nothing to count: no rate, and no target called met.
        let empty = stats(&connection, Some(1), now + 1_000_000).expect("stats");
        assert_eq!(empty.connection_success_rate, None);
        assert_eq!(empty.targets.connection_success.met, None);
        assert_eq!(empty.average_latency_ms, None);
        assert_eq!(empty.targets.average_latency.met, None);
        assert_eq!(empty.host_disconnect_rate, None);

        let buckets = series(&connection, now - 2_050_000, 1_000_000, 3).expect("series");
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[2].rooms_created, 2);
        assert_eq!((buckets[2].ended, buckets[2].connected), (20, 19));
        assert_eq!(buckets[2].latency_ms, Some(60.0));
        assert_eq!(buckets[0].latency_ms, None);
        // The older relay failure lands in the middle bucket.
        assert_eq!((buckets[1].ended, buckets[1].connected), (1, 0));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&mut [], 0.95), None);
        assert_eq!(percentile(&mut [7.0], 0.95), Some(7.0));
        let mut values: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut values, 0.95), Some(19.0));
        assert_eq!(percentile(&mut values, 0.5), Some(10.0));
    }

    #[test]
    fn a_file_keeps_its_rows_and_refuses_a_newer_schema() {
        let dir = std::env::temp_dir().join(format!("p2p-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("stats.sqlite");
        let _ = std::fs::remove_file(&path);
        {
            let mut connection = open_file(&path);
            write(&mut connection, &[room(5, "opened")]).expect("write");
        }
        let connection = open_file(&path);
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(usize::try_from(version), Ok(MIGRATIONS.len()));
        assert_eq!(
            stats(&connection, None, 10).expect("stats").rooms_created,
            1
        );
        connection
            .pragma_update(None, "user_version", 99)
            .expect("set version");
        assert!(migrate(&connection).is_err());
        drop(connection);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pruning_drops_rows_past_the_cutoff() {
        let mut connection = Connection::open_in_memory().expect("db");
        migrate(&connection).expect("migrate");
        write(
            &mut connection,
            &[
                room(100, "opened"),
                room(300, "opened"),
                join(100, "connected", true),
            ],
        )
        .expect("write");
        prune(&connection, 200).expect("prune");
        let all = stats(&connection, None, 1000).expect("stats");
        assert_eq!((all.rooms_created, all.join_attempts), (1, 0));
    }
}
