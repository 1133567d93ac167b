//! The abuse tier's tools: the server binary as a child process, a
//! `/healthz` watcher, an RSS sampler, the legitimate players' handshake,
//! and an attacker that speaks from its own loopback address.
//!
//! Linux routes all of 127/8 to `lo`: an attacker bound to 127.0.0.66 is
//! another address to the server's per-address limits, while the players
//! on 127.0.0.1 keep their own budgets. Every wait is bounded.

use crate::client::{HttpResponse, WAIT, connect, create_room};
use bevy_p2p_signaling::{CreatedRoom, protocol::api};
use futures::{SinkExt, Stream, StreamExt};
use matchbox_protocol::{JsonPeerEvent, PeerId};
use serde_json::{Value, json};
use std::{
    future::Future,
    io::{BufRead, BufReader},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::watch,
    task::JoinHandle,
    time::{Instant, MissedTickBehavior, interval, timeout},
};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Error as WsError, Message, client::IntoClientRequest},
};

/// The legitimate players' address.
pub const PLAYERS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The attacker's address.
pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66));
/// How much the server's RSS may grow over an attack, KiB.
pub const RSS_LIMIT_KB: u64 = 20 * 1024;
/// A generous bound on any one wait for what takes well under a second.
pub const SLOW: Duration = Duration::from_secs(15);
/// A bound on a whole attack.
const ATTACK_DUE: Duration = Duration::from_secs(180);
/// `/healthz` is asked this often, and must answer within [`HEALTH_DUE`].
const HEALTH_EVERY: Duration = Duration::from_millis(100);
const HEALTH_DUE: Duration = Duration::from_secs(2);
/// A health report counts at least this many polls ("several").
pub const MIN_POLLS: u32 = 5;
/// Ten minutes of polls: the watcher's hard stop.
const MAX_POLLS: u32 = 6_000;
/// The RSS sampler's period, and its hard stop (ten minutes).
const RSS_EVERY: Duration = Duration::from_millis(50);
const MAX_SAMPLES: u32 = 12_000;

/// The server binary, started as a child process on `127.0.0.1:0` and
/// killed (and reaped) on drop, also when a test panics.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the binary with `flags` and reads its `listening on` line.
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_logging(flags, Stdio::null(), "info").await
    }

    /// [`Server::start`], with its logs (at `RUST_LOG=filter`) to `logs`.
    pub async fn start_logging(flags: &[&str], logs: Stdio, filter: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bevy_p2p_signaling"))
            .args(["--bind", "127.0.0.1:0"])
            .args(flags)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(logs)
            .spawn()
            .expect("spawn the server binary");
        let stdout = child.stdout.take().expect("stdout");
        // The guard exists before the first wait that may panic.
        let mut server = Self {
            child,
            addr: SocketAddr::new(PLAYERS, 0),
        };
        let (first, first_line) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first.send(lines.next());
            // Drained until the server exits, so it never blocks on the pipe.
            lines.count()
        });
        let line = timeout(SLOW, first_line)
            .await
            .expect("the listening line in time")
            .expect("the stdout reader")
            .expect("a line before EOF")
            .expect("read the server's stdout");
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process's resident set, KiB. Panics once it is gone (a dead
/// process, a zombie included, has no `VmRSS`).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("the server (pid {pid}) is gone: no VmRSS"))
}

/// Connects to `addr` from `from` (bound before connecting).
pub async fn connect_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// One HTTP/1.1 request from `from` with `Connection: close` and no body,
/// read to the end. An error is returned, not raised: the watcher counts it.
pub async fn request(
    from: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse, String> {
    request_with_body(from, addr, method, path, headers, "").await
}

/// [`request`] with `body`.
pub async fn request_with_body(
    from: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<HttpResponse, String> {
    let mut stream = connect_from(from, addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let raw = String::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response {raw:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok(HttpResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// [`request`] from `from`, which must be answered within [`SLOW`].
pub async fn http_from(
    from: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    timeout(SLOW, request(from, addr, method, path, headers))
        .await
        .unwrap_or_else(|_| panic!("{method} {path} from {from}: no answer in time"))
        .unwrap_or_else(|e| panic!("{method} {path} from {from}: {e}"))
}

/// `/healthz` polled from the players' address every 100 ms, each answer
/// due within 2 s, from [`Healthz::watch`] until [`Healthz::finish`].
pub struct Healthz {
    stop: watch::Sender<bool>,
    task: JoinHandle<HealthReport>,
}

/// What the `/healthz` watcher saw.
#[derive(Debug)]
pub struct HealthReport {
    pub polls: u32,
    pub ok: u32,
    pub failures: Vec<String>,
}

impl Healthz {
    pub fn watch(addr: SocketAddr) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut report = HealthReport {
                polls: 0,
                ok: 0,
                failures: Vec::new(),
            };
            let mut every = interval(HEALTH_EVERY);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while report.polls < MAX_POLLS && !(*stopped.borrow() && report.polls >= MIN_POLLS) {
                every.tick().await;
                report.polls += 1;
                let asked = Instant::now();
                match timeout(HEALTH_DUE, request(PLAYERS, addr, "GET", "/healthz", &[])).await {
                    Ok(Ok(answer)) if answer.status == 200 && answer.body == "ok" => report.ok += 1,
                    Ok(Ok(answer)) => report.failures.push(format!("{answer:?}")),
                    Ok(Err(error)) => report.failures.push(error),
                    Err(_) => report.failures.push(format!(
                        "no answer within {HEALTH_DUE:?} (asked {:?} ago)",
                        asked.elapsed()
                    )),
                }
            }
            report
        });
        Self { stop, task }
    }

    /// Stops polling (after at least [`MIN_POLLS`]) and reports.
    pub async fn finish(self) -> HealthReport {
        self.stop.send_replace(true);
        timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the watcher ends in time")
            .expect("the watcher task")
    }
}

/// The server's RSS just before an attack and its peak during it, sampled
/// every 50 ms.
struct RssSampler {
    baseline_kb: u64,
    stop: watch::Sender<bool>,
    task: JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let baseline_kb = rss_kb(pid);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = baseline_kb;
            let mut every = interval(RSS_EVERY);
            for _ in 0..MAX_SAMPLES {
                every.tick().await;
                peak = peak.max(rss_kb(pid));
                if *stopped.borrow() {
                    break;
                }
            }
            peak
        });
        Self {
            baseline_kb,
            stop,
            task,
        }
    }

    async fn finish(self) -> u64 {
        self.stop.send_replace(true);
        let peak = match timeout(SLOW, self.task).await.expect("the sampler ends") {
            Ok(peak) => peak,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        peak.saturating_sub(self.baseline_kb)
    }
}

/// Given to an attack: it calls [`Engaged::bites`] once the attack is
/// under way (a refusal seen, a flood started), and the players then play
/// while it goes on.
pub struct Engaged(watch::Sender<bool>);

impl Engaged {
    pub fn bites(&self) {
        self.0.send_replace(true);
    }
}

/// The figures every attack reports.
pub struct Figures {
    pub rss_growth_kb: u64,
    pub legit: Duration,
}

/// Runs `attack` on its own task, samples the server's RSS meanwhile, and
/// has the legitimate players make a room and shake hands once the attack
/// bites. Returns the attack's outcome.
pub async fn under_attack<F, T>(server: &Server, attack: impl FnOnce(Engaged) -> F) -> (T, Figures)
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let rss = RssSampler::start(server.pid());
    let (engaged, mut bites) = watch::channel(false);
    let attack = tokio::spawn(attack(Engaged(engaged)));
    let bit = matches!(timeout(ATTACK_DUE, bites.wait_for(|b| *b)).await, Ok(Ok(_)));
    if !bit {
        // Its own panic, if that is why it never engaged.
        if let Ok(Err(error)) = timeout(SLOW, attack).await {
            std::panic::resume_unwind(error.into_panic());
        }
        panic!("the attack never engaged");
    }
    let legit = legit_handshake(server.addr).await;
    let outcome = match timeout(ATTACK_DUE, attack).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => std::panic::resume_unwind(error.into_panic()),
        Err(_) => panic!("the attack did not end in time"),
    };
    let rss_growth_kb = rss.finish().await;
    (
        outcome,
        Figures {
            rss_growth_kb,
            legit,
        },
    )
}

/// Prints the attack's summary line, then asserts what holds for every
/// attack: `/healthz` always answered, RSS within its bound.
pub fn summary(attack: &str, figures: &str, common: &Figures, health: &HealthReport) {
    let growth_mb = common.rss_growth_kb as f64 / 1024.0;
    println!(
        "abuse {attack}: {figures} legit_handshake_ms={} rss_growth_mb={growth_mb:.1} healthz_ok={}/{}",
        common.legit.as_millis(),
        health.ok,
        health.polls,
    );
    assert!(
        health.ok == health.polls && health.polls >= MIN_POLLS,
        "{attack}: /healthz failed: {:?}",
        health.failures
    );
    assert!(
        common.rss_growth_kb < RSS_LIMIT_KB,
        "{attack}: RSS grew {growth_mb:.1} MiB"
    );
}

/// Players on 127.0.0.1: a host creates a room and looks it up, a client
/// joins, the host offers after `NewPeer` and the client answers. Returns
/// how long that took.
pub async fn legit_handshake(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut client = connect(addr, &room.code, None).await;
    // The server sends a websocket its id before it seats it; the host's
    // `NewPeer` comes once both are seated.
    assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(client.id));
    let info = http_from(PLAYERS, addr, "GET", &api::room_path(&room.code), &[]).await;
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(info.json()["players"], json!(2), "{info:?}");
    let offer = json!({"Offer": "v=0"});
    host.signal(client.id, offer.clone()).await;
    client.expect_signal(host.id, offer).await;
    let answer = json!({"Answer": "v=0"});
    client.signal(host.id, answer.clone()).await;
    host.expect_signal(client.id, answer).await;
    let took = started.elapsed();
    client.close().await;
    host.close().await;
    took
}

/// An attacker's websocket.
pub type AttackerWs = WebSocketStream<TcpStream>;

/// `POST /api/rooms` from the attacker.
pub async fn attacker_room(addr: SocketAddr) -> CreatedRoom {
    let created = http_from(ATTACKER, addr, "POST", api::ROOMS, &[]).await;
    assert_eq!(created.status, 201, "{created:?}");
    serde_json::from_str(&created.body).expect("a CreatedRoom")
}

/// A websocket from `from` to `/{path}`, or the refusal's status and body.
pub async fn ws_from(
    from: IpAddr,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<AttackerWs, (u16, Value)> {
    let stream = timeout(SLOW, connect_from(from, addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut request = format!("ws://{addr}/{path}")
        .into_client_request()
        .expect("a websocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("header name"),
            value.parse().expect("header value"),
        );
    }
    match timeout(SLOW, client_async(request, stream))
        .await
        .expect("handshake in time")
    {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            ))
        }
        Err(other) => panic!("websocket to /{path} failed: {other}"),
    }
}

/// The attacker takes a seat in room `code` (the host's, with
/// `host_token`): its websocket, after `IdAssigned`, and its id.
pub async fn attacker_seat(
    addr: SocketAddr,
    code: &str,
    host_token: Option<&str>,
) -> (AttackerWs, PeerId) {
    let path = match host_token {
        Some(token) => {
            let bearer = format!("Bearer {token}");
            let ticket_path = api::host_ticket_path(code);
            let issued = http_from(
                ATTACKER,
                addr,
                "POST",
                &ticket_path,
                &[("Authorization", &bearer)],
            )
            .await;
            assert_eq!(issued.status, 201, "{issued:?}");
            let ticket = issued.json()["ticket"]
                .as_str()
                .expect("a ticket")
                .to_owned();
            format!("{code}?{}={ticket}", api::HOST_TICKET_PARAM)
        }
        None => code.to_owned(),
    };
    let mut ws = ws_from(ATTACKER, addr, &path, &[])
        .await
        .unwrap_or_else(|(status, body)| panic!("seat refused: {status} {body}"));
    let first = timeout(WAIT, ws.next())
        .await
        .expect("IdAssigned in time")
        .expect("socket open")
        .expect("websocket error");
    let Message::Text(text) = first else {
        panic!("expected IdAssigned, got {first:?}");
    };
    match serde_json::from_str(&text).expect("a matchbox event") {
        JsonPeerEvent::IdAssigned(id) => (ws, id),
        other => panic!("expected IdAssigned, got {other:?}"),
    }
}

/// Reads until the server closes the socket: its close frame's code and
/// reason, or what ended the socket without one.
pub async fn close_frame<S>(stream: &mut S) -> Result<(u16, String), String>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let read = async {
        // Anything the server queued before closing is skipped, boundedly.
        for _ in 0..100_000 {
            match stream.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Ok((u16::from(frame.code), frame.reason.to_string()));
                }
                Some(Ok(Message::Close(None))) => return Err("a close frame without a code".into()),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(format!("ended without a close frame: {error}")),
                None => return Err("ended without a close frame".into()),
            }
        }
        Err("still open after 100000 messages".into())
    };
    timeout(SLOW, read)
        .await
        .unwrap_or_else(|_| Err("not closed in time".into()))
}

/// Sends `messages` on `ws` (a write error only means the server stopped
/// reading) while waiting for the server's close frame.
pub async fn send_until_closed(
    ws: AttackerWs,
    messages: Vec<Message>,
) -> Result<(u16, String), String> {
    let (mut sink, mut stream) = ws.split();
    let sender = tokio::spawn(async move {
        for message in messages {
            if !matches!(timeout(SLOW, sink.send(message)).await, Ok(Ok(()))) {
                break;
            }
        }
        sink
    });
    let close = close_frame(&mut stream).await;
    sender.abort();
    close
}
