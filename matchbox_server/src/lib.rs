//! Room signaling server for `bevy_p2p_multiplayer`.
//!
//! Players meet by a 6-character share code. This server hands out codes,
//! keeps each room's seats (one host seat, client seats up to the capacity),
//! and introduces peers so they can open WebRTC links. It never sees game
//! traffic. It speaks the matchbox 0.15 signaling protocol, so any
//! `matchbox_socket` can use it; the room rules are our own: every room is
//! a star around its host, and a peer can only ever signal its own room's
//! host (or, for the host, its own clients).
//!
//! It is meant to face the internet: every connection, message, room and
//! request a stranger can make is capped ([`Limits`]), and each refusal is
//! an HTTP status or a websocket close code.
//!
//! Embed it in async code with [`serve`], or from a plain thread (a Bevy app)
//! with [`spawn_in_background`]:
//!
//! ```no_run
//! use bevy_p2p_signaling::{ServerConfig, spawn_in_background};
//!
//! let config = ServerConfig {
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     ..ServerConfig::default()
//! };
//! let server = spawn_in_background(config)?;
//! println!("signaling on ws://{}/", server.local_addr());
//! // Dropping `server` stops it.
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The HTTP API and the websocket rules are in the crate's README.

pub mod code;

mod api;
mod forwarded;
mod hub;
pub mod ice;
mod limits;
mod listener;
mod origin;
mod peer;
mod rooms;
mod share_page;
pub mod signals;
mod telemetry;
mod token;
mod web_root;

/// The wire contract shared with the plugin: codes, bodies, paths, room size.
pub use bevy_p2p_protocol as protocol;
pub use bevy_p2p_protocol::{
    ApiError, CreateRoom, CreatedRoom, ErrorCode, IceConfig, RoomInfo, RoomState,
};
pub use forwarded::Cidr;
pub use limits::Rate;
pub use share_page::ShareSettings;
pub use telemetry::{Database, StatsSettings};

use axum::{Extension, Router, routing::get};
use hub::{Hub, HubLimits};
use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    thread,
    time::Duration,
};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
};

/// How the server runs. [`Default`] is what the binary uses without flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see
    /// [`RunningServer::local_addr`]). Default `127.0.0.1:3536`.
    pub bind: SocketAddr,
    /// Players per room, host included; at least 1. A host may ask for a
    /// smaller room, never a larger one. Default
    /// [`MAX_PLAYERS`](bevy_p2p_protocol::room::MAX_PLAYERS) (6).
    pub capacity: usize,
    /// How long a dropped host's seat is kept before the room closes. Default 30 s.
    pub host_grace: Duration,
    /// How long a client whose websocket dropped (no close frame) keeps its
    /// seat: back under the same seat secret, it gets it again, even in a
    /// full room. A close frame, or its host removing it, frees the seat at
    /// once. Default 30 s.
    pub client_grace: Duration,
    /// The secret host tokens are made with. With one, a host can open its
    /// room again, same code, after the server restarted (rooms live in
    /// memory); give every instance behind one address the same secret.
    /// Default none: a random one per start, and rooms end with the process.
    pub room_secret: Option<RoomSecret>,
    /// How long a room whose host never connected lives (clients waiting in
    /// it are closed with it). Default two minutes: the plugin connects as
    /// soon as the room is created.
    pub unclaimed_expiry: Duration,
    /// Folder of static files (the browser game) served at `/` and
    /// `/{file}`. When it holds the game's `loader.js`, a share link's page
    /// (`/play/{code}`, rendered by the server) carries the game and its
    /// Join button; a folder without one (a build from before the share
    /// page) has its `index.html` served there instead. Default none: share
    /// pages only preview their rooms.
    pub web_root: Option<PathBuf>,
    /// The largest signal payload relayed (an SDP or ICE candidate), bytes.
    /// Default [`signals::DEFAULT_MAX_SIGNAL_BYTES`] (16 KiB).
    pub max_signal_bytes: usize,
    /// A websocket that sends nothing for this long is taken for gone and
    /// its seat freed, as if it had closed: a host whose network died
    /// without a FIN gets its grace period, and its clients their
    /// countdown. Peers must send something more often (the plugin sends a
    /// keep-alive every 10 s). Default 25 s.
    pub peer_silence_timeout: Duration,
    /// The STUN and TURN servers handed to players at `GET /api/ice`, with
    /// TURN credentials made from the secret. Default none.
    pub ice: ice::IceSettings,
    /// The address players reach this server at, `http(s)://host[:port][/path]`,
    /// when it differs from what they connect to (behind a reverse proxy):
    /// rooms are created and looked up with their share link under it,
    /// `<public_url>/play/<code>`. Default none: the plugin derives the link
    /// from the address it connects to.
    pub public_url: Option<String>,
    /// Web pages (`https://games.example.org`, or `*` for any) whose
    /// visitors' browsers may use the API and websockets, besides the
    /// server's own pages. Default none.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client that
    /// per-address limits count. Default none.
    pub trusted_proxies: Vec<Cidr>,
    /// What share links' pages and preview cards say about the game.
    pub share: ShareSettings,
    /// Where the stats are kept, and who may read the metrics.
    pub stats: StatsSettings,
    /// What a stranger may ask of the server.
    pub limits: Limits,
}

/// The secret host tokens are made with ([`ServerConfig::room_secret`]):
/// at least 16 characters. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomSecret(pub String);

impl std::fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomSecret(<hidden>)")
    }
}

/// The caps on what strangers can make the server hold or do. Each has a
/// flag; the defaults let a few thousand players use one server and keep
/// any one address to what a household of players needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open TCP connections (websockets included). Lowered at start to fit
    /// the process's file descriptor limit. Default 4096.
    pub max_connections: usize,
    /// Open TCP connections from one address (IPv6: one /64); a trusted
    /// proxy's connections count only towards the total. Default 64.
    pub max_connections_per_address: usize,
    /// Websockets from one client address, proxied or not. Default 32.
    pub max_sockets_per_address: usize,
    /// How long a connection may take to send a request head, and may stay
    /// idle between requests. Default 10 s.
    pub header_timeout: Duration,
    /// How long an API request may take from its head to its answer, body
    /// included (`408 request_timeout` past it). Default 10 s.
    pub request_timeout: Duration,
    /// The largest API request body read (`413 request_too_large` past
    /// it); the API's bodies are a few dozen bytes. Default 1 KiB.
    pub max_body_bytes: usize,
    /// How long a write to a client may make no progress (it stopped
    /// reading) before its connection or websocket is closed. Default 30 s.
    pub write_stall_timeout: Duration,
    /// Every per-address limit also holds for an IPv6 /48 as a whole, at
    /// this many times the limit: one /64 is one address, and without this
    /// the holder of a /48 could be 65,536 of them. Default 8.
    pub ipv6_site_factor: u32,
    /// The largest websocket message (and frame), bytes; larger ones close
    /// the socket (`1009`) before they are parsed. Default 64 KiB.
    pub max_message_bytes: usize,
    /// Signals queued for one peer; past it, signals to that peer are
    /// dropped (a flood from one peer does not close another), and a peer
    /// that takes nothing from its full queue for `write_stall_timeout` is
    /// closed. The server's own events have room beyond it; a peer that
    /// lets that fill too is closed as a slow reader. Default 64.
    pub peer_queue: usize,
    /// Messages one websocket may send (`1008 too_many_messages` past it).
    /// Default 20/s, bursts of 100.
    pub peer_messages: Rate,
    /// Rooms one address may create. Default 30/min, bursts of 30.
    pub rooms_per_address: Rate,
    /// Rooms everyone together may create. Default 1200/min, bursts of 200.
    pub rooms_total: Rate,
    /// Lookups of a code that names no live room, or with a wrong host
    /// token, from one address: a budget for guessing codes, which refuses
    /// every lookup while spent. Default 30/min, bursts of 30.
    pub misses_per_address: Rate,
    /// The same budget for everyone together. Default 600/min, bursts of 120.
    pub misses_total: Rate,
    /// Live rooms. Default 10000.
    pub max_rooms: usize,
    /// Addresses the rate limits remember at once. Default 100000.
    pub tracked_addresses: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_address: 64,
            max_sockets_per_address: 32,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1024,
            write_stall_timeout: Duration::from_secs(30),
            ipv6_site_factor: 8,
            max_message_bytes: 64 * 1024,
            peer_queue: 64,
            peer_messages: Rate::per_second(20, 100),
            rooms_per_address: Rate {
                per_minute: 30,
                burst: 30,
            },
            rooms_total: Rate {
                per_minute: 1200,
                burst: 200,
            },
            misses_per_address: Rate {
                per_minute: 30,
                burst: 30,
            },
            misses_total: Rate {
                per_minute: 600,
                burst: 120,
            },
            max_rooms: 10_000,
            tracked_addresses: 100_000,
        }
    }
}

impl Limits {
    /// Checks that every limit lets something through.
    pub fn validate(&self, max_signal_bytes: usize) -> Result<(), String> {
        let counts = [
            ("max_connections", self.max_connections),
            (
                "max_connections_per_address",
                self.max_connections_per_address,
            ),
            ("max_sockets_per_address", self.max_sockets_per_address),
            ("peer_queue", self.peer_queue),
            ("max_rooms", self.max_rooms),
            ("tracked_addresses", self.tracked_addresses),
            ("max_body_bytes", self.max_body_bytes),
            ("ipv6_site_factor", self.ipv6_site_factor as usize),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        for (name, timeout) in [
            ("header_timeout", self.header_timeout),
            ("request_timeout", self.request_timeout),
            ("write_stall_timeout", self.write_stall_timeout),
        ] {
            if timeout.is_zero() {
                return Err(format!("{name} must not be zero"));
            }
        }
        // A signal travels as JSON: its payload plus the envelope and escapes.
        if self.max_message_bytes < max_signal_bytes + 1024 {
            return Err(format!(
                "max_message_bytes ({}) must be at least max_signal_bytes + 1024 ({})",
                self.max_message_bytes,
                max_signal_bytes + 1024
            ));
        }
        for (name, rate) in [
            ("peer_messages", self.peer_messages),
            ("rooms_per_address", self.rooms_per_address),
            ("rooms_total", self.rooms_total),
            ("misses_per_address", self.misses_per_address),
            ("misses_total", self.misses_total),
        ] {
            rate.validate(name)?;
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 3536)),
            capacity: bevy_p2p_protocol::room::MAX_PLAYERS,
            host_grace: Duration::from_secs(30),
            client_grace: Duration::from_secs(30),
            room_secret: None,
            unclaimed_expiry: Duration::from_secs(120),
            web_root: None,
            max_signal_bytes: signals::DEFAULT_MAX_SIGNAL_BYTES,
            peer_silence_timeout: Duration::from_secs(25),
            ice: ice::IceSettings {
                credential_lifetime: ice::DEFAULT_CREDENTIAL_LIFETIME,
                ..ice::IceSettings::default()
            },
            public_url: None,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            share: ShareSettings::default(),
            stats: StatsSettings::default(),
            limits: Limits::default(),
        }
    }
}

/// A server running on the caller's tokio runtime. Dropping it stops the
/// server, like [`RunningServer::shutdown`] without waiting.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    hub: Hub,
    /// Turned true to stop: the accept loop and every websocket watch it.
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    metrics_server: Option<JoinHandle<()>>,
    clock: JoinHandle<()>,
}

impl RunningServer {
    /// The address the server actually listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `GET /metrics` is served on when it has a listener of
    /// its own ([`StatsSettings::metrics_bind`]).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Resolves once every stats record counted so far is in the database.
    pub async fn flush_stats(&self) {
        self.hub.telemetry().store().flush().await;
    }

    /// Signals dropped because of what they carried (a wrong kind for their
    /// direction, not a signal at all, or over `max_signal_bytes`).
    pub fn dropped_signals(&self) -> u64 {
        self.hub.dropped_signals()
    }

    /// Stops accepting connections, closes every websocket
    /// (`1001 server_stopping`), and returns once they are gone (peers that
    /// do not answer get a few seconds).
    pub async fn shutdown(mut self) {
        self.clock.abort();
        self.stop.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(server) = self.metrics_server.take() {
            let _ = server.await;
        }
        // What was counted is written before the database is let go (a
        // database that hangs gets the drain time, not forever).
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, self.flush_stats()).await;
        // Every websocket holds a receiver until it has closed.
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, self.stop.closed()).await;
    }
}

/// How long stopping waits for connections and websockets to close.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.clock.abort();
        self.stop.send_replace(true);
    }
}

/// Binds `config.bind` and starts serving on the current tokio runtime.
///
/// Returns as soon as the socket is bound: connections made from then on
/// are accepted. Must be called inside a tokio runtime. A setting the
/// server cannot work with is an [`io::ErrorKind::InvalidInput`] error.
pub async fn serve(config: ServerConfig) -> io::Result<RunningServer> {
    fn invalid(error: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, error.into())
    }
    if config.capacity == 0 {
        return Err(invalid("capacity must be at least 1 (the host)"));
    }
    if config.peer_silence_timeout.is_zero() {
        return Err(invalid("peer_silence_timeout must not be zero"));
    }
    config
        .ice
        .validate()
        .map_err(|error| invalid(error.to_string()))?;
    config
        .limits
        .validate(config.max_signal_bytes)
        .map_err(invalid)?;
    let public_url = config
        .public_url
        .as_deref()
        .map(api::public_base)
        .transpose()
        .map_err(invalid)?;
    let origins = Arc::new(
        origin::Origins::new(&config.allowed_origins, public_url.as_deref()).map_err(invalid)?,
    );
    let web_root = config
        .web_root
        .as_deref()
        .map(web_root::WebRoot::new)
        .transpose()
        .map_err(|error| invalid(format!("web root: {error}")))?;
    let limits = config.limits;
    let room_secret = config.room_secret.as_ref().map(|secret| secret.0.as_str());
    if room_secret.is_some_and(|secret| secret.len() < 16) {
        return Err(invalid("room_secret must be at least 16 characters"));
    }
    let room_key = token::RoomKey::new(room_secret)
        .map_err(|cause| io::Error::other(format!("the OS CSPRNG failed: {cause}")))?;
    config.stats.validate().map_err(invalid)?;
    let telemetry = telemetry::Telemetry::new(
        &config.stats,
        room_key.clone(),
        config.capacity,
        limits.max_rooms,
        (limits.ipv6_site_factor, limits.tracked_addresses),
    )
    .map_err(io::Error::other)?;
    let hub = Hub::new(
        rooms::Settings {
            capacity: config.capacity,
            host_grace: config.host_grace,
            client_grace: config.client_grace,
            unclaimed_expiry: config.unclaimed_expiry,
            max_rooms: limits.max_rooms,
        },
        HubLimits {
            max_signal_bytes: config.max_signal_bytes,
            peer_queue: limits.peer_queue,
            sockets_per_address: limits.max_sockets_per_address,
            site_factor: limits.ipv6_site_factor,
            stall: limits.write_stall_timeout,
            room_creation: (limits.rooms_per_address, limits.rooms_total),
            failed_lookups: (limits.misses_per_address, limits.misses_total),
            tracked_addresses: limits.tracked_addresses,
        },
        room_key,
        telemetry.clone(),
    );
    let share_pages = share_page::SharePages::new(
        hub.clone(),
        config.share.clone(),
        public_url.clone(),
        config.web_root.clone().zip(web_root.clone()),
        config.capacity,
    )
    .map_err(invalid)?;
    let (stop, stopping) = watch::channel(false);
    let sockets = peer::Sockets {
        hub: hub.clone(),
        limits: peer::PeerLimits {
            max_message_bytes: limits.max_message_bytes,
            messages: limits.peer_messages,
            silence: config.peer_silence_timeout,
        },
        origins: origins.clone(),
        stopping: stopping.clone(),
    };
    let proxies = forwarded::TrustedProxies::new(config.trusted_proxies.clone());
    let websockets = Router::new()
        .route("/", get(peer::upgrade))
        .route("/{path}", get(peer::upgrade))
        .with_state(sockets);
    let router = api::routes(
        hub.clone(),
        api::Published {
            ice: config.ice.clone(),
            public_url,
        },
        origins,
        api::RequestLimits {
            timeout: limits.request_timeout,
            max_body_bytes: limits.max_body_bytes,
        },
    )
    .merge(websockets)
    .merge(share_page::routes(share_pages))
    .merge(telemetry::routes::page_routes(telemetry.clone()));
    let metrics_token = config.stats.metrics_token.clone();
    let router = match config.stats.metrics_bind {
        // Its own listener only: the main one has no `/metrics`.
        Some(_) => router,
        None => router.merge(telemetry::routes::metrics_routes(
            telemetry.clone(),
            metrics_token.clone(),
            true,
        )),
    };
    let in_flight = api::InFlight::new(limits.max_connections_per_address, limits.ipv6_site_factor);
    let router = api::finish(router, web_root)
        .layer(axum::middleware::from_fn_with_state(
            in_flight,
            api::count_in_flight,
        ))
        .layer(Extension(proxies.clone()));

    let listener = std::net::TcpListener::bind(config.bind)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let connection_limits = listener::ConnectionLimits {
        total: listener::fit_descriptor_limit(limits.max_connections),
        per_address: limits.max_connections_per_address,
        site_factor: limits.ipv6_site_factor,
        header_timeout: limits.header_timeout,
        write_stall: limits.write_stall_timeout,
    };
    let is_proxy: listener::IsProxy = Arc::new(move |ip| proxies.contains(ip));
    let (metrics_addr, metrics_server) = match config.stats.metrics_bind {
        Some(bind) => {
            let listener = std::net::TcpListener::bind(bind)?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let router = telemetry::routes::metrics_routes(telemetry, metrics_token, false);
            let server = tokio::spawn(listener::serve(
                tokio::net::TcpListener::from_std(listener)?,
                router,
                connection_limits,
                Arc::new(|_| false),
                stopping.clone(),
                SHUTDOWN_DRAIN,
            ));
            (Some(addr), Some(server))
        }
        None => (None, None),
    };
    let server = tokio::spawn(listener::serve(
        listener,
        router,
        connection_limits,
        is_proxy,
        stopping,
        SHUTDOWN_DRAIN,
    ));
    let clock = tokio::spawn(run_clock(hub.clone(), tick_period(&config)));
    Ok(RunningServer {
        local_addr,
        metrics_addr,
        hub,
        stop,
        server: Some(server),
        metrics_server,
        clock,
    })
}

/// How often the grace and expiry clocks are checked: a tenth of the shorter
/// period, so deadlines are met within 10 %, between 10 ms and 1 s.
fn tick_period(config: &ServerConfig) -> Duration {
    (config
        .host_grace
        .min(config.client_grace)
        .min(config.unclaimed_expiry)
        / 10)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

async fn run_clock(hub: Hub, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        hub.tick();
    }
}

/// A server on its own thread and tokio runtime, for apps that have no
/// runtime (the Bevy example embeds one when no server is reachable).
/// Dropping it stops the server and joins the thread.
#[derive(Debug)]
pub struct BackgroundServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// The address the server actually listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a server on a new thread with its own single-threaded tokio
/// runtime, and returns once it listens.
pub fn spawn_in_background(config: ServerConfig) -> io::Result<BackgroundServer> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (started, on_start) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name("p2p-signaling".into())
        .spawn(move || {
            runtime.block_on(async move {
                match serve(config).await {
                    Ok(server) => {
                        let _ = started.send(Ok(server.local_addr()));
                        // Stop on the signal or when the owner is gone.
                        let _ = stopped.await;
                        server.shutdown().await;
                    }
                    Err(error) => {
                        let _ = started.send(Err(error));
                    }
                }
            });
        })?;
    let local_addr = match on_start.recv() {
        Ok(result) => result?,
        Err(_) => {
            return Err(io::Error::other(
                "the signaling thread ended before listening",
            ));
        }
    };
    Ok(BackgroundServer {
        local_addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}
