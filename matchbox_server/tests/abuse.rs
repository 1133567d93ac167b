//! The abuse tier: the server binary under attack from 127.0.0.66, one
//! attack per test, each on its own server. Throughout each, `/healthz`
//! answers players on 127.0.0.1, those players still make a room and shake
//! hands, the server's RSS grows less than 20 MiB, and the attacker gets
//! the refusal the README documents. `--nocapture` shows one line per attack.

#[path = "support/client.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/rooms.rs; this file uses a part"
)]
mod client;
#[path = "support/abuse.rs"]
mod support;

use bevy_p2p_signaling::{code, protocol::api};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use support::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::{Instant, sleep, timeout},
};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

const MIB: usize = 1 << 20;

/// A `429` as the README documents it: `rate_limited` with a `Retry-After`
/// of whole seconds, at least 1.
fn is_rate_limited(status: u16, body: &serde_json::Value, retry_after: Option<&str>) -> bool {
    status == 429
        && *body == json!({"error": "rate_limited"})
        && retry_after
            .and_then(|secs| secs.parse::<u64>().ok())
            .is_some_and(|secs| secs >= 1)
}

/// The most a token bucket of `burst` refilled at `per_minute` can hand
/// out within `elapsed` (the server's span is within the client's).
fn bucket_allows(burst: usize, per_minute: f64, elapsed: Duration) -> usize {
    burst + (elapsed.as_secs_f64() * per_minute / 60.0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_the_socket_with_1009() {
    let server = Server::start(&["--header-timeout-secs", "1"]).await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let room = attacker_room(addr).await;
    let (closes, common) = under_attack(&server, move |engaged| async move {
        let mut seats = Vec::new();
        for _ in 0..3 {
            seats.push(attacker_seat(addr, &room.code, None).await.0);
        }
        engaged.bites();
        // One 1 MiB text message; one 4 MiB binary frame; a 1 MiB text
        // message in 32 KiB fragments, each under the frame cap.
        let fragments = MIB / (32 << 10);
        let fragmented = (0..fragments)
            .map(|i| {
                let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
                Message::Frame(Frame::message(
                    vec![b'x'; 32 << 10],
                    opcode,
                    i + 1 == fragments,
                ))
            })
            .collect();
        let attacks = [
            vec![Message::Text("x".repeat(MIB).into())],
            vec![Message::Binary(vec![0; 4 * MIB].into())],
            fragmented,
        ];
        let mut closes = Vec::new();
        for (ws, messages) in seats.into_iter().zip(attacks) {
            closes.push(send_until_closed(ws, messages).await);
        }
        closes
    })
    .await;
    let health = health.finish().await;
    let codes: Vec<String> = closes
        .iter()
        .map(|close| {
            close
                .as_ref()
                .map_or_else(|e| e.clone(), |c| c.0.to_string())
        })
        .collect();
    summary(
        "oversized",
        &format!(
            "closed={} (1 MiB message, 4 MiB frame, 1 MiB in 32 KiB fragments)",
            codes.join("/")
        ),
        &common,
        &health,
    );
    for close in closes {
        assert_eq!(close, Ok((1009, "message_too_big".to_owned())));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_reads_is_dropped_when_its_writes_stall() {
    // The message rate is lifted so that the flood fills the host's queue
    // (past it signals are dropped) and its socket's buffers; then the
    // server's writes to it stall, and 2 s of that closes it. The silence
    // clock stays at 25 s, and the host keeps alive anyway.
    let server = Server::start(&[
        "--header-timeout-secs",
        "1",
        "--peer-message-rate",
        "10000/s:10000",
        "--write-stall-secs",
        "2",
    ])
    .await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let ((sent, dropped_after, host_ended), common) =
        under_attack(&server, move |engaged| async move {
            let room = attacker_room(addr).await;
            let (host, host_id) = attacker_seat(addr, &room.code, Some(&room.host_token)).await;
            // The host writes and never reads again.
            let (mut host_sink, host_stream) = host.split();
            let keep_alive = tokio::spawn(async move {
                let text = serde_json::to_string(
                    &matchbox_protocol::PeerRequest::<serde_json::Value>::KeepAlive,
                )
                .expect("serializes");
                for _ in 0..180 {
                    let sent =
                        timeout(SLOW, host_sink.send(Message::Text(text.clone().into()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break;
                    }
                    sleep(Duration::from_secs(1)).await;
                }
            });
            let (mut client, _) = attacker_seat(addr, &room.code, None).await;
            let signal = json!({"Signal": {
                "receiver": host_id,
                "data": {"IceCandidate": "c".repeat(15 << 10)},
            }})
            .to_string();
            let started = Instant::now();
            engaged.bites();
            let host_gone = AtomicBool::new(false);
            // Paced (16 signals, then 1 ms) and kept up until the host is
            // dropped: signals past its queue are dropped, so it takes a
            // while of relaying to fill the host's socket buffers (a few
            // MiB) and stall the server's writes. Bounded by 96 MiB and SLOW.
            let flood = async {
                let mut sent = 0;
                while sent < 96 * MIB
                    && !host_gone.load(Ordering::Relaxed)
                    && started.elapsed() < SLOW
                {
                    for _ in 0..16 {
                        let message = Message::Text(signal.clone().into());
                        if !matches!(timeout(SLOW, client.send(message)).await, Ok(Ok(()))) {
                            return sent;
                        }
                        sent += signal.len();
                    }
                    sleep(Duration::from_millis(1)).await;
                }
                sent
            };
            let seat_freed = async {
                let path = api::room_path(&room.code);
                for _ in 0..1_000 {
                    let info = http_from(PLAYERS, addr, "GET", &path, &[]).await;
                    assert_eq!(info.status, 200, "{info:?}");
                    if info.json()["host_connected"] == json!(false) || started.elapsed() > SLOW {
                        break;
                    }
                    sleep(Duration::from_millis(50)).await;
                }
                host_gone.store(true, Ordering::Relaxed);
                started.elapsed()
            };
            let (sent, dropped_after) = tokio::join!(flood, seat_freed);
            keep_alive.abort();
            // Its socket is gone too: what was queued, then the end.
            let mut host_stream = host_stream;
            let host_ended = timeout(SLOW, async {
                let mut read = 0;
                while read < 100_000 && matches!(host_stream.next().await, Some(Ok(_))) {
                    read += 1;
                }
                read
            })
            .await;
            (sent, dropped_after, host_ended.ok())
        })
        .await;
    let health = health.finish().await;
    summary(
        "slow_reader",
        &format!(
            "sent_mib={:.1} host_dropped_after_ms={} host_read_before_its_end={}",
            sent as f64 / MIB as f64,
            dropped_after.as_millis(),
            host_ended.map_or_else(|| "never".to_owned(), |read| read.to_string()),
        ),
        &common,
        &health,
    );
    // Well before the 25 s silence clock could have freed the seat.
    assert!(
        dropped_after < SLOW,
        "the slow host still holds its seat after {dropped_after:?}"
    );
    assert!(
        host_ended.is_some_and(|read| read < 100_000),
        "the host's socket stayed open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_creation_flood_is_refused_past_the_burst() {
    // Defaults: 30/min per address, bursts of 30.
    let server = Server::start(&["--header-timeout-secs", "1"]).await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let ((created, refused, wrong, elapsed), common) =
        under_attack(&server, move |engaged| async move {
            let started = Instant::now();
            let answers: Vec<(u16, bool)> = futures::stream::iter(0..2_000)
                .map(|_| async move {
                    let answer = http_from(ATTACKER, addr, "POST", api::ROOMS, &[]).await;
                    let retry_after = answer.header("retry-after");
                    let limited =
                        is_rate_limited(answer.status, &answer.json(), retry_after.as_deref());
                    (answer.status, limited)
                })
                .buffer_unordered(16)
                .inspect(|(status, _)| {
                    if *status == 429 {
                        engaged.bites();
                    }
                })
                .collect()
                .await;
            let created = answers.iter().filter(|(status, _)| *status == 201).count();
            let refused = answers.iter().filter(|(_, limited)| *limited).count();
            (
                created,
                refused,
                answers.len() - created - refused,
                started.elapsed(),
            )
        })
        .await;
    let health = health.finish().await;
    summary(
        "room_flood",
        &format!("created={created}/2000 refused_429={refused} other={wrong}"),
        &common,
        &health,
    );
    assert_eq!(
        wrong, 0,
        "every refusal is 429 rate_limited with Retry-After"
    );
    assert!(
        (30..=bucket_allows(30, 30.0, elapsed)).contains(&created),
        "{created} rooms in {elapsed:?}"
    );
}

/// Valid-looking codes from a fixed xorshift, never `except`.
fn guessed_codes(except: String) -> impl Iterator<Item = String> {
    let alphabet = code::ALPHABET.as_bytes();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    std::iter::repeat_with(move || {
        (0..code::LENGTH)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(alphabet[(state % alphabet.len() as u64) as usize])
            })
            .collect::<String>()
    })
    .filter(move |code| *code != except)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_is_refused_past_the_miss_budget_hits_included() {
    // The default burst of 30, refilled once a minute instead of every 2 s,
    // so that no refill lands within the test and every count is exact.
    let server = Server::start(&[
        "--header-timeout-secs",
        "1",
        "--miss-rate-per-ip",
        "1/min:30",
    ])
    .await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let real = client::create_room(addr).await.code;
    let ((lookups, ws, elapsed), common) = under_attack(&server, move |engaged| async move {
        let started = Instant::now();
        let answers: Vec<u16> = futures::stream::iter(guessed_codes(real.clone()).take(5_000))
            .map(|code| async move {
                let answer = http_from(ATTACKER, addr, "GET", &api::room_path(&code), &[]).await;
                let retry_after = answer.header("retry-after");
                match answer.status {
                    // The guesses skip the one live room: never a 200.
                    404 => assert_eq!(answer.json(), json!({"error": "room_not_found"})),
                    _ => assert!(
                        is_rate_limited(answer.status, &answer.json(), retry_after.as_deref()),
                        "{answer:?}"
                    ),
                }
                answer.status
            })
            .buffer_unordered(16)
            .inspect(|status| {
                if *status == 429 {
                    engaged.bites();
                }
            })
            .collect()
            .await;
        // The room that exists looks the same to the attacker, over HTTP
        // and as a websocket; so does an unknown code's websocket.
        let probe = http_from(ATTACKER, addr, "GET", &api::room_path(&real), &[]).await;
        assert_eq!(
            (probe.status, probe.json()),
            (429, json!({"error": "rate_limited"}))
        );
        let unknown = guessed_codes(real.clone()).next().expect("a code");
        for code in [&real, &unknown] {
            let refused = ws_from(ATTACKER, addr, code, &[]).await.err();
            assert_eq!(
                refused,
                Some((429, json!({"error": "rate_limited"}))),
                "{code}"
            );
        }
        // Another address, guessing by websocket: 30 misses, then 429.
        let second = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 67));
        let mut upgrades = Vec::new();
        for code in guessed_codes(real.clone()).skip(10_000).take(40) {
            let refused = ws_from(second, addr, &code, &[]).await.err();
            upgrades.push(refused.expect("no seat for a guess"));
        }
        (answers, upgrades, started.elapsed())
    })
    .await;
    let health = health.finish().await;
    let misses = lookups.iter().filter(|status| **status == 404).count();
    let limited = lookups.iter().filter(|status| **status == 429).count();
    let ws_misses = ws.iter().filter(|(status, _)| *status == 404).count();
    summary(
        "code_guessing",
        &format!(
            "lookups={} answered_404={misses} refused_429={limited} \
             ws_upgrades={} ws_404={ws_misses} ws_429={}",
            lookups.len(),
            ws.len(),
            ws.len() - ws_misses
        ),
        &common,
        &health,
    );
    let budget = bucket_allows(30, 1.0, elapsed);
    assert!(
        (30..=budget).contains(&misses),
        "{misses} misses answered in {elapsed:?}"
    );
    let expected = (0..40).map(|i| {
        if i < 30 {
            (404, json!({"error": "room_not_found"}))
        } else {
            (429, json!({"error": "rate_limited"}))
        }
    });
    assert_eq!(ws, expected.collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_frame_flood_is_closed_with_1008() {
    // The default burst (100) with next to no refill: at the default
    // 20/s, a server slowed by a busy machine earns the flood more
    // messages the longer it takes to read them, and the count below
    // would be the scheduler's doing.
    let server = Server::start(&[
        "--header-timeout-secs",
        "1",
        "--peer-message-rate",
        "1/min:100",
    ])
    .await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let ((close, sent), common) = under_attack(&server, move |engaged| async move {
        let room = attacker_room(addr).await;
        let (ws, _) = attacker_seat(addr, &room.code, None).await;
        let (mut sink, mut stream) = ws.split();
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn({
            let closed = closed.clone();
            async move {
                let close = close_frame(&mut stream).await;
                closed.store(true, Ordering::SeqCst);
                close
            }
        });
        // 60,000-byte frames: the socket buffers on both sides (at most
        // 36 MiB here) hold under 650 of them, so the count sent before
        // the close is the server's doing, not the scheduler's.
        let junk = "junk!".repeat(12_000);
        engaged.bites();
        let mut sent = 0;
        while sent < 10_000 && !closed.load(Ordering::SeqCst) {
            let message = Message::Text(junk.clone().into());
            if !matches!(timeout(SLOW, sink.send(message)).await, Ok(Ok(()))) {
                break;
            }
            sent += 1;
        }
        let close = timeout(SLOW, reader)
            .await
            .expect("the reader ends")
            .expect("the reader task");
        (close, sent)
    })
    .await;
    let health = health.finish().await;
    let code = close
        .as_ref()
        .map_or_else(|e| e.clone(), |c| c.0.to_string());
    summary(
        "junk_frames",
        &format!("closed={code} sent_before_close={sent}"),
        &common,
        &health,
    );
    assert_eq!(close, Ok((1008, "too_many_messages".to_owned())));
    // The burst is 100: the server had read over 100 when it closed.
    assert!((101..1_000).contains(&sent), "{sent} sent before the close");
}

/// How one attacker connection ended: half a request head sent or none,
/// and how long after its connect the server closed it (`None`: never
/// within the wait).
struct Ended {
    half_request: bool,
    after: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_capped_and_timed_out() {
    // A header timeout of 2 s (not 1): a connection closed sooner was
    // refused at once, with a margin for a loaded machine.
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let server = Server::start(&["--header-timeout-secs", "2"]).await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    // What the server holds, seen from inside it: its open descriptors.
    // (A client cannot time a refusal on a loaded machine: its reader may
    // run late.)
    let pid = server.pid();
    let baseline_fds = open_fds(pid);
    let (stop_sampling, sampling) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut most = 0;
        let mut sampling = sampling;
        while !*sampling.borrow_and_update() {
            most = most.max(open_fds(pid));
            let _ = timeout(Duration::from_millis(10), sampling.changed()).await;
        }
        most
    });
    let ((ended, healthz_after), common) = under_attack(&server, move |engaged| async move {
        let mut open = Vec::new();
        // The half-sent first, so that they are among those held.
        for i in 0..220 {
            let half_request = i < 20;
            let mut stream = timeout(SLOW, connect_from(ATTACKER, addr))
                .await
                .expect("connect in time")
                .expect("connect");
            let connected = Instant::now();
            if half_request {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
            }
            open.push(tokio::spawn(async move {
                let closed = async {
                    let mut buf = [0; 1024];
                    for _ in 0..64 {
                        if matches!(stream.read(&mut buf).await, Ok(0) | Err(_)) {
                            return true;
                        }
                    }
                    false
                };
                let closed = matches!(timeout(HEADER_TIMEOUT + SLOW, closed).await, Ok(true));
                Ended {
                    half_request,
                    after: closed.then(|| connected.elapsed()),
                }
            }));
        }
        engaged.bites();
        let mut ended = Vec::new();
        for task in open {
            ended.push(task.await.expect("a reader task"));
        }
        // Every one closed: the address may connect again.
        let healthz = http_from(ATTACKER, addr, "GET", "/healthz", &[]).await;
        (ended, healthz.status)
    })
    .await;
    let health = health.finish().await;
    stop_sampling.send_replace(true);
    let most_fds = timeout(SLOW, sampler)
        .await
        .expect("the sampler stops")
        .expect("the sampler");
    let at_once = |e: &&Ended| e.after.is_some_and(|after| after < HEADER_TIMEOUT);
    let closed_at_once = ended.iter().filter(at_once).count();
    let held: Vec<&Ended> = ended.iter().filter(|e| !at_once(e)).collect();
    let never_closed = held.iter().filter(|e| e.after.is_none()).count();
    let last_close = held
        .iter()
        .filter_map(|e| e.after)
        .max()
        .unwrap_or_default();
    summary(
        "connection_flood",
        &format!(
            "opened={} closed_at_once={closed_at_once} held={} never_closed={never_closed} \
             held_closed_within_ms={} server_fds_max={most_fds} baseline={baseline_fds}",
            ended.len(),
            held.len(),
            last_close.as_millis()
        ),
        &common,
        &health,
    );
    // 64 attacker connections at most, plus the players' few (a /healthz
    // poll, a handshake's websockets and requests) and refused ones caught
    // between accept and close.
    assert!(
        most_fds <= baseline_fds + 64 + 12,
        "the server held {most_fds} descriptors (baseline {baseline_fds})"
    );
    // The half-sent ones came first, so they were admitted: the header
    // timeout, not the cap, closed them (a late reader only adds time).
    for half in ended.iter().filter(|e| e.half_request) {
        assert!(
            half.after
                .is_some_and(|after| after >= HEADER_TIMEOUT - Duration::from_millis(50)),
            "a half-sent request closed before the header timeout: {:?}",
            half.after
        );
    }
    assert_eq!(never_closed, 0, "held past the header timeout");
    assert_eq!(healthz_after, 200, "the attacker's count is back to zero");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_other_origins_are_refused() {
    const EVIL: (&str, &str) = ("Origin", "https://evil.example");
    let server = Server::start(&["--header-timeout-secs", "1"]).await;
    let health = Healthz::watch(server.addr);
    let addr = server.addr;
    let ((post, ws, players), common) = under_attack(&server, move |engaged| async move {
        engaged.bites();
        let post = http_from(ATTACKER, addr, "POST", api::ROOMS, &[EVIL]).await;
        let room = attacker_room(addr).await;
        let ws = ws_from(ATTACKER, addr, &room.code, &[EVIL]).await.err();
        let info = http_from(PLAYERS, addr, "GET", &api::room_path(&room.code), &[]).await;
        (
            (post.status, post.json()),
            ws,
            info.json()["players"].clone(),
        )
    })
    .await;
    let health = health.finish().await;
    let ws_status = ws.as_ref().map_or(101, |refused| refused.0);
    summary(
        "origin",
        &format!("api={} ws={ws_status}", post.0),
        &common,
        &health,
    );
    let refusal = (403, json!({"error": "origin_not_allowed"}));
    assert_eq!(post, refusal);
    assert_eq!(ws, Some(refusal));
    assert_eq!(players, json!(0), "no seat taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guessing_crowd_spends_the_global_budget_but_keeps_no_host_from_its_room() {
    // A global budget of 60 misses that does not refill within the test;
    // the per-address budget (30) stays the default.
    let server = Server::start(&["--header-timeout-secs", "1", "--miss-rate", "1/min:60"]).await;
    let addr = server.addr;
    let room = client::create_room(addr).await;
    // Three addresses, 30 misses each: the third finds the budget spent.
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for (i, code) in guessed_codes(room.code.clone()).take(90).enumerate() {
        let from = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            1,
            1 + u8::try_from(i / 30).expect("small"),
        ));
        let answer = http_from(from, addr, "GET", &api::room_path(&code), &[]).await;
        *answers.entry(answer.status).or_default() += 1;
    }
    assert_eq!(
        answers,
        [(404, 60), (429, 30)].into(),
        "misses, then refusals"
    );
    // The documented trade-off: lookups from anyone are refused meanwhile...
    let lookup = http_from(PLAYERS, addr, "GET", &api::room_path(&room.code), &[]).await;
    assert_eq!(lookup.status, 429);
    // ...but the room's host, holding its token, still gets its ticket and
    // its seat: a valid token or ticket is no guess.
    let bearer = format!("Bearer {}", room.host_token);
    let path = api::host_ticket_path(&room.code);
    let issued = http_from(PLAYERS, addr, "POST", &path, &[("Authorization", &bearer)]).await;
    assert_eq!(issued.status, 201, "{issued:?}");
    let ticket = issued.json()["ticket"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    let seated = ws_from(
        PLAYERS,
        addr,
        &format!("{}?host_ticket={ticket}", room.code),
        &[],
    )
    .await;
    assert!(seated.is_ok(), "the host is seated: {:?}", seated.err());
    // A wrong token is held to the spent budget like any miss.
    let forged = http_from(
        PLAYERS,
        addr,
        "POST",
        &path,
        &[("Authorization", "Bearer 00")],
    )
    .await;
    assert_eq!(forged.status, 429);
    println!("abuse guessing_crowd: answers={answers:?} host_ticket=201 host_seated=yes");
}

/// The open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_code_token_or_ticket_reaches_the_logs() {
    let log_path = std::env::temp_dir().join(format!(
        "p2p-signaling-logs-{}-{:?}.log",
        std::process::id(),
        Instant::now()
    ));
    let log = std::fs::File::create(&log_path).expect("a log file");
    let server = Server::start_logging(&[], log.into(), "debug").await;
    let addr = server.addr;
    // A room's whole life, and a stranger's guesses.
    let room = attacker_room(addr).await;
    let (host, host_id) = attacker_seat(addr, &room.code, Some(&room.host_token)).await;
    let (client, _) = attacker_seat(addr, &room.code, None).await;
    let guess = if room.code == "ABC234" {
        "ABC235"
    } else {
        "ABC234"
    };
    let missed = http_from(ATTACKER, addr, "GET", &api::room_path(guess), &[]).await;
    assert_eq!(missed.status, 404);
    assert_eq!(
        ws_from(ATTACKER, addr, guess, &[]).await.err().map(|e| e.0),
        Some(404)
    );
    let wrong = ws_from(
        ATTACKER,
        addr,
        &format!("{}?host_ticket=forged", room.code),
        &[],
    )
    .await;
    assert_eq!(wrong.err().map(|e| e.0), Some(403));
    // A player with a seat secret, which names it in every log line, and
    // the one-time ticket it buys.
    let seat = "a-seat-secret-QWERTY-0123456789";
    let issued = request_with_body(
        ATTACKER,
        addr,
        "POST",
        &api::seat_ticket_path(&room.code),
        &[("Content-Type", "application/json")],
        &format!(r#"{{"seat":"{seat}"}}"#),
    )
    .await
    .expect("a seat ticket");
    assert_eq!(issued.status, 201, "{issued:?}");
    let seat_ticket = issued.json()["ticket"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    let seated = ws_from(
        ATTACKER,
        addr,
        &format!("{}?{}={seat_ticket}", room.code, api::SEAT_TICKET_PARAM),
        &[],
    )
    .await
    .map_err(|e| e.0);
    assert!(seated.is_ok(), "{seated:?}");
    let bearer = format!("Bearer {}", room.host_token);
    let removed = http_from(
        ATTACKER,
        addr,
        "DELETE",
        &format!("{}/peers/{host_id}", api::room_path(&room.code)),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(removed.status, 204);
    drop((host, client, seated));
    sleep(Duration::from_millis(300)).await;
    drop(server);
    let logs = std::fs::read_to_string(&log_path).expect("read the logs");
    let _ = std::fs::remove_file(&log_path);
    // The logs speak of the room, by its tag.
    assert!(logs.contains("room#"), "{logs}");
    assert!(logs.contains("host joined"), "{logs}");
    for secret in [
        room.code.as_str(),
        guess,
        &room.host_token,
        "forged",
        seat,
        &seat_ticket,
    ] {
        // Lower case too, unless it could be part of a hex peer id or tag.
        let lower = secret.to_lowercase();
        let hex = lower.chars().all(|c| c.is_ascii_hexdigit());
        for form in std::iter::once(secret.to_owned()).chain((!hex).then_some(lower)) {
            assert!(!logs.contains(&form), "{form:?} is in the logs:\n{logs}");
        }
    }
}
