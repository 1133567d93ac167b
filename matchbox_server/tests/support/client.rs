//! Test clients that speak to a real server over loopback: a tiny HTTP/1.1
//! client and a matchbox-protocol websocket peer. Every wait is bounded.

use bevy_p2p_signaling::{CreatedRoom, RunningServer, ServerConfig, serve};
use futures::{SinkExt, StreamExt};
use matchbox_protocol::{JsonPeerEvent, PeerId};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Error as WsError, Message},
};

/// Bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long a test listens to conclude that nothing arrives.
pub const QUIET: Duration = Duration::from_millis(300);

/// A config for tests: free port, short clocks.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        host_grace: Duration::from_millis(300),
        client_grace: Duration::from_millis(300),
        unclaimed_expiry: Duration::from_secs(3600),
        ..ServerConfig::default()
    }
}

/// Starts a server with `config`.
pub async fn start(config: ServerConfig) -> RunningServer {
    timeout(WAIT, serve(config))
        .await
        .expect("serve in time")
        .expect("server starts")
}

/// An HTTP response, read to the end.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// A header's value (first one, name case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }
}

/// A header's value in a response head (first one, name case-insensitive).
pub fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// An HTTP response whose body may be anything (an image).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request with `Connection: close` and no body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    http_with_body(addr, method, path, headers, "").await
}

/// One HTTP/1.1 request with `Connection: close` and `body`.
pub async fn http_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let raw = http_raw(addr, method, path, headers, body).await;
    HttpResponse {
        status: raw.status,
        head: raw.head,
        body: String::from_utf8(raw.body).expect("UTF-8 response"),
    }
}

/// [`http_with_body`] for a response of any bytes. A `Host` in `headers`
/// replaces the default (the server's address).
pub async fn http_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request.push_str(&format!("Host: {addr}\r\n"));
        }
        request.push_str(&format!(
            "Connection: close\r\nContent-Length: {}\r\n",
            body.len()
        ));
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        raw
    };
    let raw = timeout(WAIT, exchange).await.expect("HTTP answer in time");
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("complete response");
    let head = String::from_utf8(raw[..split].to_vec()).expect("UTF-8 head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    RawResponse {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// A fresh folder under the temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "p2p-signaling-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Headless Chromium's screenshot of `url` into `shot`, in a window of
/// `size` (`"1200,800"`), with a fresh profile; within a minute.
#[allow(dead_code, reason = "tests/rooms.rs takes no screenshots")]
pub async fn chromium_screenshot(url: &str, shot: &std::path::Path, size: &str) {
    let _ = std::fs::remove_file(shot);
    let profile = TempDir::new("chromium");
    let mut chromium = tokio::process::Command::new("chromium");
    chromium
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={size}"))
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let status = timeout(Duration::from_secs(60), chromium.status())
        .await
        .expect("chromium in time")
        .expect("chromium runs");
    assert!(status.success(), "chromium: {status}");
    assert!(shot.is_file(), "{} written", shot.display());
}

/// `POST /api/rooms`.
pub async fn create_room(addr: SocketAddr) -> CreatedRoom {
    let response = http(addr, "POST", "/api/rooms", &[]).await;
    assert_eq!(response.status, 201, "{response:?}");
    serde_json::from_str(&response.body).expect("CreatedRoom body")
}

/// `GET /api/rooms/{code}` as JSON, with its status.
pub async fn room_info(addr: SocketAddr, code: &str) -> (u16, Value) {
    let response = http(addr, "GET", &format!("/api/rooms/{code}"), &[]).await;
    (response.status, response.json())
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A matchbox peer on a real websocket.
pub struct Peer {
    ws: Ws,
    pub id: PeerId,
}

/// Opens a websocket to `/{path}` (the host adds its token); on refusal,
/// returns the HTTP status and body.
pub async fn try_connect(
    addr: SocketAddr,
    path: &str,
    host_token: Option<&str>,
) -> Result<Peer, (u16, Value)> {
    try_connect_with(addr, path, host_token, &[]).await
}

/// [`try_connect`] with extra request headers (an `Origin`, say).
pub async fn try_connect_with(
    addr: SocketAddr,
    path: &str,
    host_token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Peer, (u16, Value)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    // A `?seat=<secret>` in `path` is the player's seat secret: as the
    // plugin does, it goes in the ticket request, never in the websocket's
    // URL.
    let (code, seat) = match path.split_once("?seat=") {
        Some((code, seat)) => (code, Some(seat)),
        None => (path, None),
    };
    let body = seat.map(|seat| json!({ "seat": seat }).to_string());
    let ticket = |route: &'static str, param: &'static str, bearer: Option<String>| {
        let body = body.clone();
        async move {
            let mut headers = vec![("Content-Type", "application/json".to_owned())];
            headers.extend(bearer.map(|bearer| ("Authorization", bearer)));
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let issued = http_with_body(
                addr,
                "POST",
                &format!("/api/rooms/{code}/{route}"),
                &headers,
                body.as_deref().unwrap_or_default(),
            )
            .await;
            if issued.status != 201 {
                return Err((issued.status, issued.json()));
            }
            let ticket = issued.json()["ticket"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(format!("ws://{addr}/{code}?{param}={ticket}"))
        }
    };
    let url = match (host_token, seat) {
        // As the plugin does: the token buys a one-time ticket first.
        (Some(token), _) => {
            ticket(
                "host-ticket",
                "host_ticket",
                Some(format!("Bearer {token}")),
            )
            .await?
        }
        (None, Some(_)) => ticket("seat-ticket", "seat_ticket", None).await?,
        (None, None) => format!("ws://{addr}/{path}"),
    };
    let mut request = url.into_client_request().expect("a websocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("header name"),
            value.parse().expect("header value"),
        );
    }
    let (mut ws, _) = match timeout(WAIT, connect_async(request))
        .await
        .expect("handshake in time")
    {
        Ok(connected) => connected,
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response.body().clone().unwrap_or_default();
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err((status, body));
        }
        Err(other) => panic!("websocket failed: {other}"),
    };
    let id = match next_event_of(&mut ws).await {
        JsonPeerEvent::IdAssigned(id) => id,
        other => panic!("expected IdAssigned first, got {other:?}"),
    };
    Ok(Peer { ws, id })
}

/// Like [`try_connect`], for a connection that must be admitted.
pub async fn connect(addr: SocketAddr, path: &str, host_token: Option<&str>) -> Peer {
    match try_connect(addr, path, host_token).await {
        Ok(peer) => peer,
        Err((status, body)) => panic!("refused with {status}: {body}"),
    }
}

async fn next_event_of(ws: &mut Ws) -> JsonPeerEvent {
    loop {
        let message = timeout(WAIT, ws.next())
            .await
            .expect("an event in time")
            .expect("socket open")
            .expect("websocket error");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(&text).expect("a matchbox event");
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

impl Peer {
    /// The next event, within [`WAIT`].
    pub async fn next_event(&mut self) -> JsonPeerEvent {
        next_event_of(&mut self.ws).await
    }

    /// The next raw message, or `None` once the socket ended.
    pub async fn next_message(&mut self) -> Option<Message> {
        self.ws.next().await.and_then(Result::ok)
    }

    /// Asserts that no event arrives for [`QUIET`].
    pub async fn expect_silence(&mut self) {
        if let Ok(Some(message)) = timeout(QUIET, self.ws.next()).await {
            panic!("expected nothing, got {message:?}");
        }
    }

    /// Sends a `Signal` request to `receiver`.
    pub async fn signal(&mut self, receiver: PeerId, data: Value) {
        self.send_text(json!({"Signal": {"receiver": receiver, "data": data}}).to_string())
            .await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: String) {
        timeout(WAIT, self.ws.send(Message::Text(text.into())))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Sends a raw frame.
    pub async fn send_message(&mut self, message: Message) {
        timeout(WAIT, self.ws.send(message))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Expects `count` `NewPeer` events and returns the peers, in any order.
    pub async fn expect_new_peers(&mut self, count: usize) -> std::collections::HashSet<PeerId> {
        let mut peers = std::collections::HashSet::new();
        for _ in 0..count {
            match self.next_event().await {
                JsonPeerEvent::NewPeer(peer) => peers.insert(peer),
                other => panic!("expected NewPeer, got {other:?}"),
            };
        }
        peers
    }

    /// Expects `Signal { sender, data }`.
    pub async fn expect_signal(&mut self, sender: PeerId, data: Value) {
        assert_eq!(
            self.next_event().await,
            JsonPeerEvent::Signal { sender, data }
        );
    }

    /// Asserts the server closes this websocket (close frame or EOF) in time.
    pub async fn expect_closed(mut self) {
        let closed = async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(other)) => panic!("expected the socket to close, got {other:?}"),
                }
            }
        };
        timeout(WAIT, closed).await.expect("closed in time");
    }

    /// Closes the websocket from this side and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = timeout(WAIT, self.ws.close(None)).await;
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        let _ = timeout(WAIT, drain).await;
    }
}
