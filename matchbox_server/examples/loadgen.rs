//! Load generator: many full rooms on one signaling server, over loopback.
//!
//! ```text
//! cargo run --release -p bevy_p2p_signaling --example loadgen -- [--rooms 100] [--server PATH]
//! ```
//!
//! Builds (with the same profile) and starts the server binary as a child
//! process on `127.0.0.1:0` (with the per-address limits lifted: all 600
//! peers come from one address), then opens `--rooms` rooms at once, each with its
//! host and 5 clients. Every client does the matchbox handshake the way a
//! real game does: the host hears `NewPeer(client)` and sends it an `offer`
//! signal, the client answers, the host acknowledges.
//!
//! Join latency of one peer, from the start of its websocket connect:
//! - host: until `IdAssigned` arrives;
//! - client: until the host's `ack` arrives, i.e. `IdAssigned`, the host's
//!   `offer` and the answer's round trip through the server are all done.
//!
//! At most `--max-connecting` (default 64) websocket handshakes are in
//! flight at once, like players arriving close together rather than all in
//! the same millisecond: the server's listen backlog is 128 (Rust std's), and
//! a burst of 600 simultaneous connects overflows it,
//! which costs the overflowed peers a 1 s SYN retransmit. Latency counts from
//! the moment a peer's connect starts, not from its wait at that gate.
//!
//! Once every peer has joined (all sockets still open) it reads the server's
//! `VmRSS` from `/proc/<pid>/status` and prints, as its last line:
//! `rooms=100 peers=600 join_p50_ms=... join_p99_ms=... server_rss_mb=...`.
//! Every wait is bounded; any failure exits non-zero with the reason.

use futures::{SinkExt, StreamExt};
use matchbox_protocol::{JsonPeerEvent, PeerId};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{ExitCode, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::Semaphore,
    time::timeout,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

/// Players per room in this benchmark: one host, five clients.
const CLIENTS_PER_ROOM: usize = 5;
/// Bound on one network step (a connect, one awaited message).
const STEP: Duration = Duration::from_secs(20);
/// Bound on the whole joining phase.
const ALL_JOINED: Duration = Duration::from_secs(120);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Fallible<T> = Result<T, String>;
/// Bounds the handshakes in flight (see `--max-connecting`).
type Gate = Arc<Semaphore>;

struct Options {
    rooms: usize,
    max_connecting: usize,
    server: Option<PathBuf>,
}

fn parse_options() -> Fallible<Options> {
    let mut options = Options {
        rooms: 100,
        max_connecting: 64,
        server: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--rooms" => {
                options.rooms = value("--rooms")?
                    .parse()
                    .map_err(|e| format!("--rooms: {e}"))?;
            }
            "--max-connecting" => {
                options.max_connecting = value("--max-connecting")?
                    .parse()
                    .map_err(|e| format!("--max-connecting: {e}"))?;
            }
            "--server" => options.server = Some(PathBuf::from(value("--server")?)),
            "-h" | "--help" => {
                return Err(
                    "usage: loadgen [--rooms N] [--max-connecting N] [--server PATH_TO_SERVER_BINARY]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.rooms == 0 || options.max_connecting == 0 {
        return Err("--rooms and --max-connecting must be at least 1".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Fallible<String> {
    let options = parse_options()?;
    let peers = options.rooms * (1 + CLIENTS_PER_ROOM);
    check_fd_limit(peers)?;
    let binary = match options.server {
        Some(path) => path,
        None => build_server()?,
    };
    let (mut child, addr) = start_server(&binary).await?;
    let pid = child.id().ok_or("the server exited at once")?;
    eprintln!(
        "server pid {pid} on {addr}; opening {} rooms",
        options.rooms
    );

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(options.max_connecting));
    let rooms = (0..options.rooms).map(|_| tokio::spawn(run_room(addr, gate.clone())));
    let joined = timeout(ALL_JOINED, futures::future::join_all(rooms))
        .await
        .map_err(|_| format!("not every peer joined within {ALL_JOINED:?}"))?;
    let mut latencies = Vec::with_capacity(peers);
    let mut open_sockets = Vec::with_capacity(peers);
    for room in joined {
        let room = room.map_err(|e| format!("room task: {e}"))??;
        latencies.extend(room.latencies);
        open_sockets.extend(room.sockets);
    }
    eprintln!(
        "{} peers joined in {:.2} s",
        open_sockets.len(),
        started.elapsed().as_secs_f64()
    );
    if latencies.len() != peers {
        return Err(format!("{} latencies for {peers} peers", latencies.len()));
    }

    let rss_kb = vm_rss_kb(pid)?;
    latencies.sort_by(f64::total_cmp);
    let slow = latencies.iter().filter(|&&ms| ms > 500.0).count();
    eprintln!(
        "join ms: min {:.2}, p90 {:.2}, max {:.2}; {slow} peers over 500 ms",
        latencies[0],
        percentile(&latencies, 90.0),
        latencies[latencies.len() - 1],
    );
    let line = format!(
        "rooms={} peers={peers} join_p50_ms={:.2} join_p99_ms={:.2} server_rss_mb={:.1}",
        options.rooms,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        rss_kb as f64 / 1024.0,
    );

    for mut socket in open_sockets {
        let _ = timeout(Duration::from_millis(100), socket.close(None)).await;
    }
    stop_server(&mut child).await;
    Ok(line)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], pct: f64) -> f64 {
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Each websocket is a file descriptor at both ends (two processes).
fn check_fd_limit(peers: usize) -> Fallible<()> {
    let limits = std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| format!("reading /proc/self/limits: {e}"))?;
    let soft: Option<usize> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok());
    match soft {
        Some(soft) if soft < peers + 64 => Err(format!(
            "{peers} websockets need more file descriptors than `ulimit -n` ({soft}) allows"
        )),
        _ => Ok(()),
    }
}

/// Builds the server binary with this example's profile and returns its path.
fn build_server() -> Fallible<PathBuf> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args([
        "build",
        "--quiet",
        "--manifest-path",
        manifest,
        "-p",
        "bevy_p2p_signaling",
        "--bin",
        "bevy_p2p_signaling",
    ]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("building the server binary failed: {status}"));
    }
    // This example runs from <target>/<profile>/examples/.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let binary = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("bevy_p2p_signaling"))
        .ok_or("cannot locate the target folder")?;
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "no server binary at {}; pass --server PATH",
            binary.display()
        ))
    }
}

async fn start_server(binary: &PathBuf) -> Fallible<(Child, SocketAddr)> {
    let mut child = Command::new(binary)
        .args(["--bind", "127.0.0.1:0"])
        // Every peer here comes from 127.0.0.1: the per-address caps (made
        // for one household) are lifted, the totals stay the defaults.
        .args([
            "--room-rate-per-ip=100000/min:10000",
            "--max-sockets-per-ip=100000",
            "--max-connections-per-ip=100000",
        ])
        // Per-peer info logs would measure the terminal, not the server.
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(Duration::from_secs(15), lines.next_line())
        .await
        .map_err(|_| "the server printed nothing within 15 s".to_owned())?
        .map_err(|e| format!("reading the server's stdout: {e}"))?
        .ok_or("the server exited before listening")?;
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|addr| addr.trim().parse().ok())
        .ok_or(format!("unexpected first line from the server: {line:?}"))?;
    Ok((child, addr))
}

async fn stop_server(child: &mut Child) {
    let _ = child.start_kill();
    let _ = timeout(Duration::from_secs(5), child.wait()).await;
}

fn vm_rss_kb(pid: u32) -> Fallible<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .ok_or("no VmRSS in the server's status".into())
}

/// What one room leaves behind: its peers' join latencies (ms) and its
/// sockets, kept open until the memory is measured.
struct RoomResult {
    latencies: Vec<f64>,
    sockets: Vec<Ws>,
}

async fn run_room(addr: SocketAddr, gate: Gate) -> Fallible<RoomResult> {
    let (code, ticket) = {
        let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
        let room = post(addr, "/api/rooms", "").await?;
        let (Some(code), Some(token)) = (room["code"].as_str(), room["host_token"].as_str()) else {
            return Err(format!("room body without code or token: {room}"));
        };
        // The host trades its token for a one-time websocket ticket.
        let path = format!("/api/rooms/{code}/host-ticket");
        let issued = post(addr, &path, &format!("Authorization: Bearer {token}\r\n")).await?;
        let Some(ticket) = issued["ticket"].as_str() else {
            return Err(format!("ticket body without a ticket: {issued}"));
        };
        (code.to_owned(), ticket.to_owned())
    };

    let (mut host, host_id, host_start) =
        join(addr, &format!("{code}?host_ticket={ticket}"), &gate).await?;
    let mut latencies = vec![ms(host_start.elapsed())];

    let clients: Vec<_> = (0..CLIENTS_PER_ROOM)
        .map(|_| tokio::spawn(run_client(addr, code.clone(), host_id, gate.clone())))
        .collect();

    // The host's side of every handshake: offer on NewPeer, ack on answer.
    let mut introduced = Vec::new();
    let mut answered = 0;
    while answered < CLIENTS_PER_ROOM {
        match next_event(&mut host).await? {
            JsonPeerEvent::NewPeer(client) => {
                if introduced.contains(&client) {
                    return Err(format!("{code}: {client} introduced twice"));
                }
                introduced.push(client);
                signal(&mut host, client, json!({"Offer": "offer"})).await?;
            }
            JsonPeerEvent::Signal { sender, data } if data == json!({"Answer": "answer"}) => {
                if !introduced.contains(&sender) {
                    return Err(format!("{code}: answer from a stranger {sender}"));
                }
                answered += 1;
                signal(&mut host, sender, json!({"IceCandidate": "ack"})).await?;
            }
            other => return Err(format!("{code}: host got {other:?}")),
        }
    }

    let mut sockets = vec![host];
    for client in clients {
        let (socket, latency) = client.await.map_err(|e| format!("client task: {e}"))??;
        latencies.push(latency);
        sockets.push(socket);
    }
    Ok(RoomResult { latencies, sockets })
}

async fn run_client(
    addr: SocketAddr,
    code: String,
    host_id: PeerId,
    gate: Gate,
) -> Fallible<(Ws, f64)> {
    let (mut ws, _id, start) = join(addr, &code, &gate).await?;
    match next_event(&mut ws).await? {
        JsonPeerEvent::Signal { sender, data }
            if sender == host_id && data == json!({"Offer": "offer"}) => {}
        other => {
            return Err(format!(
                "{code}: client expected the host's offer, got {other:?}"
            ));
        }
    }
    signal(&mut ws, host_id, json!({"Answer": "answer"})).await?;
    match next_event(&mut ws).await? {
        JsonPeerEvent::Signal { sender, data }
            if sender == host_id && data == json!({"IceCandidate": "ack"}) => {}
        other => {
            return Err(format!(
                "{code}: client expected the host's ack, got {other:?}"
            ));
        }
    }
    Ok((ws, ms(start.elapsed())))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Opens a websocket to `/{path}` once the gate lets it, and waits for its
/// id. Returns when the connect started too: latency counts from there.
async fn join(addr: SocketAddr, path: &str, gate: &Gate) -> Fallible<(Ws, PeerId, Instant)> {
    let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut ws, _) = timeout(STEP, connect_async(format!("ws://{addr}/{path}")))
        .await
        .map_err(|_| format!("connecting to /{path} timed out"))?
        .map_err(|e| format!("connecting to /{path}: {e}"))?;
    match next_event(&mut ws).await? {
        JsonPeerEvent::IdAssigned(id) => Ok((ws, id, start)),
        other => Err(format!("expected IdAssigned, got {other:?}")),
    }
}

async fn next_event(ws: &mut Ws) -> Fallible<JsonPeerEvent> {
    loop {
        let message = timeout(STEP, ws.next())
            .await
            .map_err(|_| "no event within the step bound".to_owned())?
            .ok_or("the server closed the websocket")?
            .map_err(|e| format!("websocket: {e}"))?;
        match message {
            Message::Text(text) => {
                return serde_json::from_str(&text).map_err(|e| format!("bad event {text}: {e}"));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Err(format!("unexpected frame {other:?}")),
        }
    }
}

async fn signal(ws: &mut Ws, receiver: PeerId, data: Value) -> Fallible<()> {
    let request = json!({"Signal": {"receiver": receiver, "data": data}}).to_string();
    timeout(STEP, ws.send(Message::Text(request.into())))
        .await
        .map_err(|_| "sending timed out".to_owned())?
        .map_err(|e| format!("sending: {e}"))
}

/// An empty `POST` over a bare HTTP/1.1 connection, with extra header
/// lines (each ending in CRLF); the `201` answer's JSON body.
async fn post(addr: SocketAddr, path: &str, headers: &str) -> Fallible<Value> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = timeout(STEP, exchange)
        .await
        .map_err(|_| format!("POST {path} timed out"))?
        .map_err(|e| format!("POST {path}: {e}"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or("truncated HTTP response")?;
    if !head.starts_with("HTTP/1.1 201") {
        return Err(format!("POST {path} answered {head:?}"));
    }
    serde_json::from_str(body).map_err(|e| format!("POST {path} body: {e}"))
}
