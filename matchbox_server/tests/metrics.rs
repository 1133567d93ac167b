//! The stats tier: what the server counts on real events, players'
//! reports and their refusals, the connect timeout, who may read
//! `/metrics`, and a history that outlives a restart. Real HTTP and
//! websocket clients against `serve()` on `127.0.0.1:0`; run it sealed:
//! `scripts/loopback-netns cargo test -p bevy_p2p_signaling --test metrics`.

#[path = "support/client.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/rooms.rs; this file uses a part"
)]
mod client;
#[path = "support/abuse.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/abuse.rs; this file uses a part"
)]
mod support;

use bevy_p2p_signaling::{Database, RunningServer, ServerConfig, StatsSettings, protocol::api};
use client::*;
use matchbox_protocol::JsonPeerEvent;
use serde_json::{Value, json};
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};
use tokio::time::{Instant, sleep};

/// A scraper that is not the machine's own 127.0.0.1.
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

const METRICS_TOKEN: &str = "scrape-token-0123456789";

/// A seat secret, different for each `n`.
fn seat(n: u32) -> String {
    format!("seat-secret-{n:04}-abcdef")
}

/// `GET /metrics` from 127.0.0.1, which must be answered.
async fn metrics(addr: SocketAddr) -> String {
    let response = http(addr, "GET", api::METRICS, &[]).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        response
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("application/openmetrics-text")),
        "{response:?}"
    );
    response.body
}

/// The value of the sample `series` (name and labels, as written).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
}

/// Polls `/metrics` until `series` reads `value`, within [`WAIT`].
async fn wait_for_sample(addr: SocketAddr, series: &str, value: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = metrics(addr).await;
        if sample(&text, series) == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never read {value}:\n{text}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /api/stats`, with its query.
async fn stats(addr: SocketAddr, query: &str) -> Value {
    let response = http(addr, "GET", &format!("{}{query}", api::STATS), &[]).await;
    assert_eq!(response.status, 200, "{response:?}");
    response.json()
}

async fn post_json(addr: SocketAddr, path: &str, bearer: Option<&str>, body: &str) -> HttpResponse {
    let bearer = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(bearer.as_deref().map(|value| ("Authorization", value)));
    http_with_body(addr, "POST", path, &headers, body).await
}

async fn join_report(addr: SocketAddr, code: &str, seat: &str, outcome: Value) -> HttpResponse {
    let body = json!({ "seat": seat, "outcome": outcome }).to_string();
    post_json(addr, &api::join_report_path(code), None, &body).await
}

async fn session_report(
    addr: SocketAddr,
    code: &str,
    token: Option<&str>,
    body: Value,
) -> HttpResponse {
    post_json(
        addr,
        &api::session_report_path(code),
        token,
        &body.to_string(),
    )
    .await
}

fn connected(connect_ms: u64) -> Value {
    json!({ "result": "connected", "connect_ms": connect_ms, "relayed": false })
}

fn session(average: f64, p95: f64) -> Value {
    json!({
        "player_count": 2, "duration_seconds": 5, "average_latency_ms": average,
        "p95_latency_ms": p95, "bytes_sent": 1000, "bytes_received": 800
    })
}

fn assert_refused(response: &HttpResponse, status: u16, error: &str) {
    assert_eq!(
        (response.status, response.json()["error"].as_str()),
        (status, Some(error)),
        "{response:?}"
    );
}

fn config_with(stats: StatsSettings) -> ServerConfig {
    ServerConfig {
        capacity: 2,
        stats,
        ..test_config()
    }
}

/// A code that is none of `rooms`.
fn code_not_in(rooms: &[&str]) -> &'static str {
    ["ZZZZZZ", "YYYYYY", "XXXXXX", "WWWWWW"]
        .into_iter()
        .find(|code| !rooms.contains(code))
        .expect("four codes, fewer rooms")
}

/// A code no room but `room` could have.
fn other_code(room: &str) -> &'static str {
    code_not_in(&[room])
}

/// Polls `GET /api/rooms/{code}` until the room is gone.
async fn wait_until_closed(addr: SocketAddr, code: &str) {
    let deadline = Instant::now() + WAIT;
    while room_info(addr, code).await.0 != 404 {
        assert!(Instant::now() < deadline, "{code} never closed");
        sleep(Duration::from_millis(20)).await;
    }
}

/// Reads whatever `peer` is told (the host leaving) until the server
/// closes its websocket, within [`WAIT`].
async fn read_until_closed(mut peer: Peer) {
    let closed = async {
        while let Some(message) = peer.next_message().await {
            if message.is_close() {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("closed in time");
}

#[tokio::test]
async fn counters_and_stats_follow_real_events() {
    let server = start(config_with(StatsSettings::default())).await;
    let addr = server.local_addr();
    let text = metrics(addr).await;
    assert_eq!(sample(&text, "p2p_rooms_created_total"), 0.0);
    assert_eq!(
        sample(&text, "p2p_join_attempts_total{outcome=\"connected\"}"),
        0.0
    );
    // Nothing yet: no rate, and no target called met.
    let empty = stats(addr, "").await;
    assert_eq!(empty["connection_success_rate"], Value::Null);
    assert_eq!(empty["targets"]["connection_success"]["met"], Value::Null);
    assert_eq!(empty["targets"]["average_latency"]["met"], Value::Null);

    let room = create_room(addr).await;
    let code = room.code.clone();
    let mut host = connect(addr, &code, Some(&room.host_token)).await;
    let client = connect(addr, &format!("{code}?seat={}", seat(1)), None).await;
    assert!(matches!(host.next_event().await, JsonPeerEvent::NewPeer(_)));
    let text = metrics(addr).await;
    assert_eq!(sample(&text, "p2p_rooms_created_total"), 1.0);
    assert_eq!(sample(&text, "p2p_rooms_active"), 1.0);
    assert_eq!(sample(&text, "p2p_peers_connected"), 2.0);
    assert_eq!(
        sample(&text, "p2p_websockets_admitted_total{role=\"client\"}"),
        1.0
    );

    // Refusals before any websocket: a full room, a code no room has, a
    // code that is not one.
    let full = try_connect(addr, &format!("{code}?seat={}", seat(2)), None).await;
    assert_eq!(full.err().map(|(status, _)| status), Some(409));
    let missing = try_connect(
        addr,
        &format!("{}?seat={}", other_code(&code), seat(3)),
        None,
    )
    .await;
    assert_eq!(missing.err().map(|(status, _)| status), Some(404));
    let invalid = try_connect(addr, &format!("0O0O0O?seat={}", seat(4)), None).await;
    assert_eq!(invalid.err().map(|(status, _)| status), Some(400));
    // A player's lookup before it joins counts the same refusals; anyone
    // else's lookup (a share page, a room browser) counts nothing.
    let missing_path = api::room_path(other_code(&code));
    assert_eq!(http(addr, "GET", &missing_path, &[]).await.status, 404);
    assert_eq!(
        http(addr, "GET", &api::room_path(&code), &[]).await.status,
        200
    );
    let to_join = api::join_lookup_path(other_code(&code));
    assert_eq!(http(addr, "GET", &to_join, &[]).await.status, 404);
    let full_to_join = api::join_lookup_path(&code);
    assert_eq!(http(addr, "GET", &full_to_join, &[]).await.status, 200);

    // The client's link came up: counted once.
    let report = join_report(addr, &code, &seat(1), connected(800)).await;
    assert_eq!(report.status, 204, "{report:?}");
    let again = join_report(addr, &code, &seat(1), connected(800)).await;
    assert_refused(&again, 409, "already_reported");

    // The host drops (no close frame) and comes back.
    drop(host);
    wait_for_sample(addr, "p2p_host_disconnects_total", 1.0).await;
    let host = connect(addr, &code, Some(&room.host_token)).await;
    wait_for_sample(addr, "p2p_host_returns_total", 1.0).await;

    // Its session report, once.
    let report = session_report(addr, &code, Some(&room.host_token), session(40.0, 60.0)).await;
    assert_eq!(report.status, 204, "{report:?}");
    let again = session_report(addr, &code, Some(&room.host_token), session(40.0, 60.0)).await;
    assert_refused(&again, 409, "already_reported");

    // The host ends the game on purpose (no disconnect), and its room
    // closes when the grace runs out.
    host.close().await;
    read_until_closed(client).await;
    wait_until_closed(addr, &code).await;
    wait_for_sample(addr, "p2p_peers_connected", 0.0).await;

    let text = metrics(addr).await;
    for (series, value) in [
        ("p2p_rooms_created_total", 1.0),
        ("p2p_rooms_active", 0.0),
        ("p2p_rooms_closed_total{reason=\"host_gone\"}", 1.0),
        ("p2p_rooms_closed_total{reason=\"unclaimed\"}", 0.0),
        ("p2p_host_disconnects_total", 1.0),
        ("p2p_host_returns_total", 1.0),
        ("p2p_websockets_admitted_total{role=\"host\"}", 2.0),
        ("p2p_join_attempts_total{outcome=\"connected\"}", 1.0),
        ("p2p_join_attempts_total{outcome=\"room_full\"}", 2.0),
        ("p2p_join_attempts_total{outcome=\"room_not_found\"}", 2.0),
        ("p2p_join_attempts_total{outcome=\"invalid_code\"}", 1.0),
        ("p2p_join_attempts_total{outcome=\"no_report\"}", 0.0),
        ("p2p_refusals_total{reason=\"room_full\"}", 2.0),
        ("p2p_reports_total{kind=\"join\",result=\"counted\"}", 1.0),
        ("p2p_reports_total{kind=\"join\",result=\"refused\"}", 1.0),
        (
            "p2p_reports_total{kind=\"session\",result=\"counted\"}",
            1.0,
        ),
        ("p2p_connect_seconds_count", 1.0),
        ("p2p_connect_seconds_sum", 0.8),
        ("p2p_link_rtt_seconds_count", 1.0),
        ("p2p_link_rtt_seconds_sum", 0.04),
        ("p2p_stats_dropped_total", 0.0),
    ] {
        assert_eq!(sample(&text, series), value, "{series}");
    }
    // No room code in any label.
    assert!(!text.contains(&code), "{text}");

    let figures = stats(addr, "?since=3600").await;
    assert_eq!(figures["since_secs"], 3600);
    assert_eq!(figures["rooms_created"], 1);
    assert_eq!(figures["rooms_joined"], 1);
    assert_eq!(figures["join_attempts"], 6);
    assert_eq!(figures["connected"], 1);
    assert_eq!(figures["connection_success_rate"], 1.0);
    assert_eq!(
        figures["failures"],
        json!({"invalid_code": 1, "room_full": 2, "room_not_found": 2})
    );
    assert_eq!(figures["average_latency_ms"], 40.0);
    assert_eq!(figures["p95_latency_ms"], 60.0);
    assert_eq!(figures["sessions"], 1);
    assert_eq!(figures["session_reports"], 1);
    assert_eq!(figures["host_disconnects"], 1);
    assert_eq!(figures["host_disconnect_rate"], 1.0);
    assert_eq!(figures["targets"]["connection_success"]["met"], true);
    assert_eq!(figures["targets"]["average_latency"]["met"], true);
    let bad = http(addr, "GET", "/api/stats?since=soon", &[]).await;
    assert_refused(&bad, 400, "bad_request");

    // The page draws the same figures.
    let page = http(addr, "GET", api::STATS_PAGE, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg") && !page.body.contains("<script"));
    assert!(page.body.contains("100.0 %") && page.body.contains("40.0 ms"));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_reports_are_refused_and_change_nothing() {
    let server = start(config_with(StatsSettings::default())).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let other = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let _client = connect(addr, &format!("{}?seat={}", room.code, seat(1)), None).await;
    let mut other_host = connect(addr, &other.code, Some(&other.host_token)).await;
    let _other_client = connect(addr, &format!("{}?seat={}", other.code, seat(2)), None).await;
    assert!(matches!(host.next_event().await, JsonPeerEvent::NewPeer(_)));
    assert!(matches!(
        other_host.next_event().await,
        JsonPeerEvent::NewPeer(_)
    ));

    // A seat of another room, a seat never admitted, a bad seat, a room
    // that is not there.
    let cases = [
        (
            join_report(addr, &other.code, &seat(1), connected(500)).await,
            403,
            "not_admitted",
        ),
        (
            join_report(addr, &room.code, &seat(9), connected(500)).await,
            403,
            "not_admitted",
        ),
        (
            join_report(addr, &room.code, "short", connected(500)).await,
            400,
            "bad_request",
        ),
        (
            join_report(addr, other_code(&room.code), &seat(1), connected(500)).await,
            404,
            "room_not_found",
        ),
        (
            join_report(addr, "0O0O0O", &seat(1), connected(500)).await,
            400,
            "invalid_code",
        ),
        // Figures no join has.
        (
            join_report(addr, &room.code, &seat(1), connected(u64::MAX)).await,
            400,
            "bad_request",
        ),
        (
            post_json(addr, &api::join_report_path(&room.code), None, "{\"seat\":").await,
            400,
            "bad_request",
        ),
        (
            post_json(addr, &api::join_report_path(&room.code), None, "").await,
            400,
            "bad_request",
        ),
        (
            post_json(
                addr,
                &api::join_report_path(&room.code),
                None,
                &format!(
                    "{{\"seat\":\"{}\",\"pad\":\"{}\"}}",
                    seat(1),
                    "x".repeat(2000)
                ),
            )
            .await,
            413,
            "request_too_large",
        ),
        // Session reports: no token, another room's, a made-up one.
        (
            session_report(addr, &room.code, None, session(40.0, 60.0)).await,
            403,
            "bad_host_token",
        ),
        (
            session_report(
                addr,
                &room.code,
                Some(&other.host_token),
                session(40.0, 60.0),
            )
            .await,
            403,
            "bad_host_token",
        ),
        (
            session_report(addr, &room.code, Some(&"0".repeat(65)), session(40.0, 60.0)).await,
            403,
            "bad_host_token",
        ),
        (
            session_report(
                addr,
                &room.code,
                Some(&room.host_token),
                session(-5.0, 60.0),
            )
            .await,
            400,
            "bad_request",
        ),
        (
            session_report(
                addr,
                &room.code,
                Some(&room.host_token),
                json!({"player_count": 2}),
            )
            .await,
            400,
            "bad_request",
        ),
    ];
    for (i, (response, status, error)) in cases.iter().enumerate() {
        assert_eq!(
            (response.status, response.json()["error"].as_str()),
            (*status, Some(*error)),
            "case {i}: {response:?}"
        );
    }
    let text = metrics(addr).await;
    assert_eq!(
        sample(&text, "p2p_join_attempts_total{outcome=\"connected\"}"),
        0.0
    );
    assert_eq!(sample(&text, "p2p_connect_seconds_count"), 0.0);
    assert_eq!(sample(&text, "p2p_link_rtt_seconds_count"), 0.0);
    assert_eq!(
        sample(&text, "p2p_reports_total{kind=\"join\",result=\"counted\"}"),
        0.0
    );
    assert_eq!(
        sample(&text, "p2p_reports_total{kind=\"join\",result=\"refused\"}"),
        9.0
    );
    assert_eq!(
        sample(
            &text,
            "p2p_reports_total{kind=\"session\",result=\"refused\"}"
        ),
        5.0
    );
    let figures = stats(addr, "").await;
    assert_eq!(
        (&figures["join_attempts"], &figures["session_reports"]),
        (&json!(0), &json!(0))
    );
    // The seats those reports named can still report, each once.
    let report = join_report(addr, &room.code, &seat(1), connected(500)).await;
    assert_eq!(report.status, 204, "{report:?}");
    let report = join_report(
        addr,
        &other.code,
        &seat(2),
        json!({"result": "failed", "reason": "needs_relay"}),
    )
    .await;
    assert_eq!(report.status, 204, "{report:?}");
    let figures = stats(addr, "").await;
    assert_eq!(figures["connection_success_rate"], 0.5);
    assert_eq!(figures["failures"], json!({"needs_relay": 1}));
    server.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_reports_is_rate_limited() {
    let server = start(config_with(StatsSettings {
        reports_per_address: "3/min".parse().expect("rate"),
        ..StatsSettings::default()
    }))
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    for _ in 0..3 {
        let response = join_report(addr, &room.code, &seat(1), connected(500)).await;
        assert_refused(&response, 403, "not_admitted");
    }
    let limited = join_report(addr, &room.code, &seat(1), connected(500)).await;
    assert_refused(&limited, 429, "rate_limited");
    assert!(limited.header("retry-after").is_some(), "{limited:?}");
    // Another address has its own budget.
    let elsewhere = support::request_with_body(
        ELSEWHERE,
        addr,
        "POST",
        &api::join_report_path(&room.code),
        &[("Content-Type", "application/json")],
        &json!({"seat": seat(1), "outcome": connected(500)}).to_string(),
    )
    .await
    .expect("answered");
    assert_refused(&elsewhere, 403, "not_admitted");
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_counts_as_a_failed_join() {
    let server = start(config_with(StatsSettings {
        connect_timeout: Duration::from_millis(400),
        ..StatsSettings::default()
    }))
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let _client = connect(addr, &format!("{}?seat={}", room.code, seat(1)), None).await;
    assert!(matches!(host.next_event().await, JsonPeerEvent::NewPeer(_)));
    wait_for_sample(addr, "p2p_join_attempts_total{outcome=\"no_report\"}", 1.0).await;
    // Counted: a report that comes too late changes nothing.
    let late = join_report(addr, &room.code, &seat(1), connected(500)).await;
    assert_refused(&late, 409, "already_reported");
    let figures = stats(addr, "").await;
    assert_eq!(figures["join_attempts"], 1);
    assert_eq!(figures["connection_success_rate"], 0.0);
    assert_eq!(figures["failures"], json!({"no_report": 1}));
    assert_eq!(figures["targets"]["connection_success"]["met"], false);
    server.shutdown().await;
}

async fn metrics_from(from: IpAddr, addr: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    support::request(from, addr, "GET", api::METRICS, headers)
        .await
        .expect("answered")
        .status
}

#[tokio::test]
async fn metrics_are_for_localhost_or_a_token() {
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let server = start(config_with(StatsSettings::default())).await;
    let addr = server.local_addr();
    assert_eq!(metrics_from(local, addr, &[]).await, 200);
    assert_eq!(metrics_from(ELSEWHERE, addr, &[]).await, 403);
    // A request a local reverse proxy passes on comes from elsewhere.
    assert_eq!(
        metrics_from(local, addr, &[("X-Forwarded-For", "198.51.100.7")]).await,
        403
    );
    server.shutdown().await;

    let bearer = format!("Bearer {METRICS_TOKEN}");
    let server = start(config_with(StatsSettings {
        metrics_token: Some(METRICS_TOKEN.into()),
        ..StatsSettings::default()
    }))
    .await;
    let addr = server.local_addr();
    assert_eq!(
        metrics_from(ELSEWHERE, addr, &[("Authorization", &bearer)]).await,
        200
    );
    assert_eq!(metrics_from(ELSEWHERE, addr, &[]).await, 403);
    assert_eq!(
        metrics_from(
            ELSEWHERE,
            addr,
            &[("Authorization", "Bearer wrong-token-0123456")]
        )
        .await,
        403
    );
    // With a token, it is required from 127.0.0.1 too.
    assert_eq!(metrics_from(local, addr, &[]).await, 403);
    server.shutdown().await;

    let server = start(config_with(StatsSettings {
        metrics_bind: Some("127.0.0.1:0".parse().expect("addr")),
        ..StatsSettings::default()
    }))
    .await;
    let own = server.metrics_addr().expect("a metrics listener");
    assert_ne!(own, server.local_addr());
    assert_eq!(metrics_from(ELSEWHERE, own, &[]).await, 200);
    // The main address has none: `/metrics` is any other path there.
    let main = support::request(local, server.local_addr(), "GET", api::METRICS, &[])
        .await
        .expect("answered");
    assert_refused(&main, 426, "websocket_upgrade_required");
    server.shutdown().await;
}

async fn start_on(database: &std::path::Path) -> RunningServer {
    start(config_with(StatsSettings {
        database: Database::File(database.to_owned()),
        ..StatsSettings::default()
    }))
    .await
}

#[tokio::test]
async fn stats_survive_a_restart_with_the_same_database() {
    let dir = TempDir::new("stats-db");
    let path = dir.0.join("stats.sqlite");
    let server = start_on(&path).await;
    let addr = server.local_addr();
    let first = create_room(addr).await.code;
    let second = create_room(addr).await.code;
    let nowhere = code_not_in(&[&first, &second]);
    let missing = try_connect(addr, &format!("{nowhere}?seat={}", seat(1)), None).await;
    assert!(missing.is_err());
    server.shutdown().await;
    // The rows are in the file, under the schema version it says.
    {
        let db = rusqlite::Connection::open(&path).expect("the stats file opens");
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |row| row.get(0)).expect(sql) };
        assert_eq!(count("PRAGMA user_version"), 1);
        assert_eq!(
            count("SELECT COUNT(*) FROM room_events WHERE kind = 'opened'"),
            2
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM joins WHERE outcome = 'room_not_found' AND admitted = 0"),
            1
        );
    }

    let server = start_on(&path).await;
    let addr = server.local_addr();
    let figures = stats(addr, "").await;
    assert_eq!(figures["rooms_created"], 2);
    assert_eq!(figures["failures"], json!({"room_not_found": 1}));
    // The counters start again at zero; the history goes on.
    assert_eq!(sample(&metrics(addr).await, "p2p_rooms_created_total"), 0.0);
    create_room(addr).await;
    assert_eq!(stats(addr, "").await["rooms_created"], 3);
    server.shutdown().await;
}

/// One minute of scripted play, then headless Chromium's screenshot of
/// `/stats?minutes=1` in docs/screenshots/stats-page.png. Twelve rounds, 5 s
/// apart: each opens rooms, seats a host and two clients (the clients
/// report connected, except a scripted `host_unreachable` every fourth
/// round and a silent one in round 7, counted as `no_report`), tries a
/// full room every fifth round, and has the host report a session whose
/// average latency the script sets (40 ms rising by 9 ms a round: past
/// the 100 ms target at the end); in round 6 the host drops and comes
/// back. Sealed: `scripts/loopback-netns cargo
/// test -p bevy_p2p_signaling --test metrics -- --ignored screenshot`.
#[tokio::test]
#[ignore = "writes docs/screenshots; needs chromium and scripts/loopback-netns; takes a minute"]
async fn screenshot() {
    assert!(
        std::env::var_os("P2P_SEALED_NETNS").is_some(),
        "run inside scripts/loopback-netns"
    );
    const ROUNDS: u32 = 12;
    const ROUND: Duration = Duration::from_secs(5);
    let server = start(ServerConfig {
        capacity: 3,
        stats: StatsSettings {
            connect_timeout: Duration::from_secs(3),
            ..StatsSettings::default()
        },
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let began = Instant::now();
    for round in 0..ROUNDS {
        tokio::time::sleep_until(began + ROUND * round).await;
        let room = create_room(addr).await;
        for _ in 0..round % 3 {
            create_room(addr).await;
        }
        let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
        let mut clients = Vec::new();
        for n in 0..2 {
            let secret = seat(round * 10 + n);
            clients.push(connect(addr, &format!("{}?seat={secret}", room.code), None).await);
            assert!(matches!(host.next_event().await, JsonPeerEvent::NewPeer(_)));
            let outcome = match (round, n) {
                (7, 1) => continue,
                (r, 1) if r % 4 == 3 => json!({"result": "failed", "reason": "host_unreachable"}),
                _ => connected(700 + 40 * u64::from(round)),
            };
            let report = join_report(addr, &room.code, &secret, outcome).await;
            assert_eq!(report.status, 204, "{report:?}");
        }
        if round == 6 {
            drop(host);
            wait_for_sample(addr, "p2p_host_disconnects_total", 1.0).await;
            host = connect(addr, &room.code, Some(&room.host_token)).await;
        }
        if round % 5 == 0 {
            let full = try_connect(addr, &format!("{}?seat={}", room.code, seat(999)), None).await;
            assert_eq!(full.err().map(|(status, _)| status), Some(409));
        }
        let average = 40.0 + 9.0 * f64::from(round);
        let report = session_report(
            addr,
            &room.code,
            Some(&room.host_token),
            session(average, average * 1.6),
        )
        .await;
        assert_eq!(report.status, 204, "{report:?}");
        for client in clients {
            client.close().await;
        }
        host.close().await;
    }
    // The silent client's timeout runs out.
    wait_for_sample(addr, "p2p_join_attempts_total{outcome=\"no_report\"}", 1.0).await;

    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&docs).expect("docs/screenshots");
    let url = format!("http://{addr}{}?minutes=1", api::STATS_PAGE);
    chromium_screenshot(&url, &docs.join("stats-page.png"), "800,1640").await;
    server.shutdown().await;
}
