//! Room signaling server for `bevy_p2p_multiplayer`.
//!
//! Players meet by a 6-character share code. This server hands out codes,
//! keeps each room's seats (one host seat, client seats up to the capacity),
//! and introduces peers so they can open WebRTC links. It never sees game
//! traffic. It speaks the matchbox 0.15 signaling protocol, so any
//! `matchbox_socket` can use it; the room rules are our own
//! `SignalingTopology`: every room is a star around its host, and a peer can
//! only ever signal its own room's host (or, for the host, its own clients).
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
pub mod ice;
mod rooms;
pub mod signals;
mod token;
mod topology;

/// The wire contract shared with the plugin: codes, bodies, paths, room size.
pub use bevy_p2p_protocol as protocol;
pub use bevy_p2p_protocol::{
    ApiError, CreateRoom, CreatedRoom, ErrorCode, IceConfig, RoomInfo, RoomState,
};

use matchbox_signaling::{NoCallbacks, SignalingServerBuilder};
use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    thread,
    time::Duration,
};
use tokio::{sync::oneshot, task::JoinHandle};
use topology::{Hub, RoomTopology};
use tracing::error;

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
    /// How long a room with nobody connected lives. Default one hour.
    pub idle_expiry: Duration,
    /// Folder of static files served at `/` and `/{file}`, with `index.html`
    /// also at `/play/{code}`. Default none.
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 3536)),
            capacity: bevy_p2p_protocol::room::MAX_PLAYERS,
            host_grace: Duration::from_secs(30),
            idle_expiry: Duration::from_secs(3600),
            web_root: None,
            max_signal_bytes: signals::DEFAULT_MAX_SIGNAL_BYTES,
            peer_silence_timeout: Duration::from_secs(25),
            ice: ice::IceSettings {
                credential_lifetime: ice::DEFAULT_CREDENTIAL_LIFETIME,
                ..ice::IceSettings::default()
            },
            public_url: None,
        }
    }
}

/// A server running on the caller's tokio runtime. Dropping it stops the
/// server, like [`RunningServer::shutdown`] without waiting.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    clock: JoinHandle<()>,
}

impl RunningServer {
    /// The address the server actually listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Signals dropped because of what they carried (a wrong kind for their
    /// direction, not a signal at all, or over `max_signal_bytes`).
    pub fn dropped_signals(&self) -> u64 {
        self.hub.dropped_signals()
    }

    /// Stops accepting connections, closes every websocket, and returns once
    /// they are gone (matchbox gives unresponsive peers a few seconds).
    pub async fn shutdown(mut self) {
        self.clock.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.clock.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `config.bind` and starts serving on the current tokio runtime.
///
/// Returns as soon as the socket is bound: connections made from then on
/// are accepted. Must be called inside a tokio runtime.
#[expect(
    clippy::result_large_err,
    reason = "matchbox's connection callback must return Result<bool, Response>"
)]
pub async fn serve(config: ServerConfig) -> io::Result<RunningServer> {
    if config.capacity == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "capacity must be at least 1 (the host)",
        ));
    }
    if config.peer_silence_timeout.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "peer_silence_timeout must not be zero",
        ));
    }
    config
        .ice
        .validate()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let public_url = config
        .public_url
        .as_deref()
        .map(api::public_base)
        .transpose()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let hub = Hub::new(
        rooms::Settings {
            capacity: config.capacity,
            host_grace: config.host_grace,
            idle_expiry: config.idle_expiry,
        },
        config.max_signal_bytes,
        config.peer_silence_timeout,
    );
    let (stop, stopped) = oneshot::channel();
    let admit = hub.clone();
    let bind = hub.clone();
    let web_root = config.web_root.clone();
    let mut server = SignalingServerBuilder::<RoomTopology, NoCallbacks, Hub>::new(
        config.bind,
        RoomTopology,
        hub.clone(),
    )
    .mutate_router(|router| {
        router.merge(api::routes(
            hub.clone(),
            api::Published {
                ice: config.ice.clone(),
                public_url,
            },
        ))
    })
    .on_connection_request(move |request| {
        admit
            .admit(
                request.origin,
                request.path.as_deref(),
                &request.query_params,
            )
            .map(|()| true)
            .map_err(api::error_response)
    })
    .on_id_assignment(move |(origin, peer)| bind.bind(origin, peer))
    .with_shutdown(stopped)
    .build_with(|router| api::finish(router, web_root.as_deref()));
    let local_addr = server.bind().map_err(|error| match error {
        matchbox_signaling::Error::Bind(error) => error,
        other => io::Error::other(other),
    })?;
    let server = tokio::spawn(async move {
        if let Err(cause) = server.serve().await {
            error!(%cause, "signaling server stopped");
        }
    });
    let hub_for_stats = hub.clone();
    let clock = tokio::spawn(run_clock(hub, tick_period(&config)));
    Ok(RunningServer {
        local_addr,
        hub: hub_for_stats,
        stop: Some(stop),
        server: Some(server),
        clock,
    })
}

/// How often the grace and expiry clocks are checked: a tenth of the shorter
/// period, so deadlines are met within 10 %, between 10 ms and 1 s.
fn tick_period(config: &ServerConfig) -> Duration {
    (config.host_grace.min(config.idle_expiry) / 10)
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
