//! The stats tier over real sessions: a host and two clients over real
//! WebRTC, a joiner turned away from the full room, a stranger with a dead
//! code, a member that never reports, and a host that drops and comes back.
//! Then what the server says (`/api/stats`, `/metrics`, the SQLite rows) is
//! checked against what happened and what the players measured, and again
//! after a restart on the same database.
//!
//! Sealed like the other real tiers (`scripts/loopback-netns`).

use core::{cell::RefCell, time::Duration};
use std::{path::PathBuf, time::Instant};

use bevy::prelude::*;
use bevy_p2p_multiplayer::{prelude::*, transport::Transport};
use bevy_p2p_protocol::api::{self, Stats};
use bevy_p2p_signaling::{BackgroundServer, Database, ServerConfig, StatsSettings};

#[path = "support/members.rs"]
mod members;
#[path = "support/players.rs"]
mod players;
#[path = "support/sealed.rs"]
mod support;
use members::RawMember;
use players::{Failures, host_a_room, roster_len, run_until, session};
use support::{sealed, wait};

/// How long an admitted member may stay silent before it counts as a
/// failed join: short, so the test does not wait long for it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A folder of this test's own, removed when it ends, passed or failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("p2p-stats-tier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_server(database: &std::path::Path) -> BackgroundServer {
    bevy_p2p_signaling::spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        host_grace: Duration::from_secs(20),
        stats: StatsSettings {
            database: Database::File(database.to_owned()),
            connect_timeout: CONNECT_TIMEOUT,
            ..StatsSettings::default()
        },
        ..Default::default()
    })
    .expect("the signaling server starts")
}

fn player_app(server: &BackgroundServer) -> App {
    players::player_app(P2pSettings {
        signaling_url: format!("ws://{}", server.local_addr()),
        ice_servers: IceServers::none(),
        // Host, two clients and the silent member fill the room.
        max_players: 4,
        ..Default::default()
    })
}

fn get(server: &BackgroundServer, path: &str) -> ehttp::Response {
    let url = format!("http://{}{path}", server.local_addr());
    ehttp::fetch_blocking(&ehttp::Request::get(&url)).expect("the server answers")
}

fn stats(server: &BackgroundServer) -> Stats {
    let answer = get(server, api::STATS);
    assert_eq!(answer.status, 200);
    serde_json::from_slice(&answer.bytes).expect("stats JSON")
}

/// The value of one `/metrics` sample, given as name and labels.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
}

fn failures(stats: &Stats) -> Vec<(&str, u64)> {
    stats
        .failures
        .iter()
        .map(|(why, n)| (why.as_str(), *n))
        .collect()
}

/// Runs the apps for `span`, adding every round trip (ms) the host
/// measures to its client links to `samples`.
fn play_and_sample(apps: &mut [&mut App], span: Duration, samples: &RefCell<Vec<f64>>) {
    let start = Instant::now();
    run_until(apps, span + Duration::from_secs(5), "playing on", |apps| {
        let links = apps[0].world().resource::<LinkStats>();
        samples.borrow_mut().extend(
            links
                .iter()
                .map(|(_, link)| link.rtt.as_secs_f64() * 1e3)
                .filter(|ms| *ms > 0.0),
        );
        start.elapsed() >= span
    });
}

#[test]
fn stats_match_what_the_players_lived_through() {
    if !sealed("stats_match_what_the_players_lived_through") {
        return;
    }
    let dir = TempDir::new();
    let database = dir.0.join("stats.sqlite3");
    let server = start_server(&database);
    let addr = server.local_addr();

    let mut host = player_app(&server);
    let code = host_a_room(&mut host);

    // A member that takes a seat and never says whether its link came up
    // (a tab closed mid-join): a failed join once the connect timeout ends.
    let silent = RawMember::join(&format!("ws://{addr}/{code}"));
    let mut clients: Vec<App> = (0..2)
        .map(|_| {
            let mut client = player_app(&server);
            client
                .world_mut()
                .write_message(LobbyRequest::Join(code.clone()));
            client
        })
        .collect();
    let mut apps: Vec<&mut App> = core::iter::once(&mut host)
        .chain(clients.iter_mut())
        .collect();
    run_until(
        &mut apps,
        Duration::from_secs(15),
        "three players",
        |apps| apps.iter().all(|app| roster_len(app) == 3),
    );

    // Turned away: the room is full (the silent member holds the fourth
    // seat), and a code no room has.
    let unknown = if code == "ZZZZZZ" { "YYYYYY" } else { "ZZZZZZ" };
    let mut refused: Vec<App> = [code.as_str(), unknown]
        .into_iter()
        .map(|typed| {
            let mut app = player_app(&server);
            app.world_mut()
                .write_message(LobbyRequest::Join(typed.into()));
            app
        })
        .collect();
    let mut turned_away: Vec<&mut App> = refused.iter_mut().collect();
    run_until(
        &mut turned_away,
        Duration::from_secs(5),
        "refused",
        |apps| {
            apps[0].world().resource::<Failures>().0 == [JoinFailure::RoomFull]
                && apps[1].world().resource::<Failures>().0 == [JoinFailure::RoomNotFound]
        },
    );
    drop(refused);

    // Play, with the host measuring its links; its socket dies once and it
    // comes back.
    apps[0].world_mut().write_message(LobbyRequest::Start);
    run_until(&mut apps, Duration::from_secs(5), "playing", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Playing)
    });
    let samples = RefCell::new(Vec::new());
    play_and_sample(&mut apps, Duration::from_secs(3), &samples);
    apps[0].world_mut().remove_resource::<Transport>();
    run_until(&mut apps, Duration::from_secs(10), "host away", |apps| {
        apps[1..]
            .iter()
            .all(|app| matches!(session(app).status, SessionStatus::HostAway { .. }))
    });
    run_until(&mut apps, Duration::from_secs(20), "host back", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Playing)
            && apps.iter().all(|app| roster_len(app) == 3)
    });
    play_and_sample(&mut apps, Duration::from_secs(3), &samples);
    let measured = {
        let samples = samples.borrow();
        assert!(!samples.is_empty(), "the host timed its links");
        samples.iter().sum::<f64>() / samples.len() as f64
    };

    // What the clients' links received, all session long (their links
    // outlived the host's drop): what the host's report says it sent.
    let clients_received: u64 = apps[1..]
        .iter_mut()
        .map(|app| {
            let mut links = app.world_mut().resource_mut::<Transport>();
            links.take_byte_counts().received
        })
        .sum();

    // The host leaves: its session report goes out, and its room closes.
    apps[0].world_mut().write_message(LobbyRequest::Leave);
    wait(Duration::from_secs(10), "session report counted", || {
        for app in apps.iter_mut() {
            app.update();
        }
        stats(&server).session_reports == 1
    });
    drop(apps);
    drop(clients);
    drop(host);
    silent.leave();

    let seen = stats(&server);
    println!("{seen:?}");
    println!("the host measured {measured:.2} ms on average");
    assert_eq!(seen.rooms_created, 1, "{seen:?}");
    assert_eq!(seen.rooms_joined, 1, "{seen:?}");
    // Two connected, one silent, one room full, one room not found.
    assert_eq!(seen.join_attempts, 5, "{seen:?}");
    assert_eq!(seen.connected, 2, "{seen:?}");
    assert_eq!(
        failures(&seen),
        [("no_report", 1), ("room_full", 1), ("room_not_found", 1)]
    );
    let rate = seen.connection_success_rate.expect("a success rate");
    assert!((rate - 2.0 / 3.0).abs() < 1e-9, "{rate}");
    assert_eq!(seen.sessions, 1, "{seen:?}");
    assert_eq!(seen.host_disconnects, 1, "{seen:?}");
    assert_eq!(seen.host_disconnect_rate, Some(1.0));
    let average = seen.average_latency_ms.expect("a latency from the report");
    assert!(
        (average - measured).abs() <= (measured * 0.2).max(5.0),
        "server {average:.2} ms, host measured {measured:.2} ms"
    );

    let metrics = get(&server, api::METRICS);
    assert_eq!(metrics.status, 200);
    let text = metrics.text().expect("metrics as text");
    for (series, value) in [
        ("p2p_rooms_created_total", 1.0),
        ("p2p_join_attempts_total{outcome=\"connected\"}", 2.0),
        ("p2p_join_attempts_total{outcome=\"no_report\"}", 1.0),
        ("p2p_join_attempts_total{outcome=\"room_full\"}", 1.0),
        ("p2p_join_attempts_total{outcome=\"room_not_found\"}", 1.0),
        // The drop counts; the host ending its game does not.
        ("p2p_host_disconnects_total", 1.0),
        ("p2p_host_returns_total", 1.0),
        ("p2p_rooms_closed_total{reason=\"ended\"}", 1.0),
        ("p2p_rooms_active", 0.0),
        ("p2p_connect_seconds_count", 2.0),
    ] {
        assert_eq!(sample(text, series), value, "{series}");
    }
    let rtt_sum = sample(text, "p2p_link_rtt_seconds_sum");
    assert!(
        (rtt_sum * 1e3 - average).abs() < 0.01,
        "the histogram holds the report's {average} ms: {rtt_sum}"
    );

    // The rows, as the server wrote them.
    drop(server);
    {
        let db = rusqlite::Connection::open(&database).expect("the database opens");
        let outcomes: Vec<(String, i64, i64)> = db
            .prepare(
                "SELECT outcome, admitted, COUNT(*) FROM joins GROUP BY outcome ORDER BY outcome",
            )
            .and_then(|mut rows| {
                rows.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .expect("join rows");
        let outcomes: Vec<(&str, i64, i64)> = outcomes
            .iter()
            .map(|(outcome, admitted, n)| (outcome.as_str(), *admitted, *n))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("connected", 1, 2),
                ("no_report", 1, 1),
                ("room_full", 0, 1),
                ("room_not_found", 0, 1)
            ]
        );
        let (players, disconnects, latency, sent, received): (i64, i64, f64, i64, i64) = db
            .query_row(
                "SELECT player_count, host_disconnects, average_latency_ms, bytes_sent, \
                 bytes_received FROM sessions",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .expect("one session row");
        println!(
            "session row: {players} players, {disconnects} host disconnects, {latency:.2} ms, {sent} B sent, {received} B received"
        );
        assert_eq!((players, disconnects), (3, 1));
        assert!((latency - average).abs() < 1e-6);
        // The host's count misses at most the last second before its
        // links were dropped; the clients counted all of it.
        let clients_received = clients_received as f64;
        println!("the clients' links received {clients_received} B");
        assert!(
            received > 0
                && (sent as f64) <= clients_received * 1.05
                && (sent as f64) >= clients_received * 0.75,
            "host sent {sent} B, clients received {clients_received} B"
        );
    }

    // A new server on the same database tells the same history.
    let restarted = start_server(&database);
    let again = stats(&restarted);
    assert_eq!(again.rooms_created, seen.rooms_created);
    assert_eq!(again.rooms_joined, seen.rooms_joined);
    assert_eq!(again.join_attempts, seen.join_attempts);
    assert_eq!(again.connected, seen.connected);
    assert_eq!(again.failures, seen.failures);
    assert_eq!(again.sessions, seen.sessions);
    assert_eq!(again.host_disconnects, seen.host_disconnects);
    assert_eq!(again.average_latency_ms, seen.average_latency_ms);
}
