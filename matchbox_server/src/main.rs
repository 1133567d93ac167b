//! `bevy_p2p_signaling`: the room signaling server as a program.
//!
//! Flags (clap, `--help` lists them) win over environment variables, which
//! win over the defaults of [`ServerConfig`]. Prints `listening on <ip:port>`
//! on stdout once it accepts connections; logs go to stderr (`RUST_LOG`
//! filters them, default `info`).

use bevy_p2p_signaling::{
    Cidr, Database, Limits, Rate, RoomSecret, ServerConfig, ShareSettings, StatsSettings,
    ice::IceSettings, serve,
};
use clap::Parser;
use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};
use tracing_subscriber::EnvFilter;

/// The server's options: each a flag, or the environment variable shown.
#[derive(Parser, Debug, PartialEq)]
#[command(
    name = "bevy_p2p_signaling",
    version,
    about = "Room signaling server for bevy_p2p_multiplayer: share codes, host seats, \
             WebRTC introductions.\n\
             Each option can also come from the environment variable shown; \
             a flag wins over its variable."
)]
struct Args {
    /// Address to listen on; port 0 picks a free one. Behind a reverse
    /// proxy on the same machine keep loopback; `0.0.0.0:3536` listens on
    /// every interface.
    #[arg(long, env = "P2P_SIGNALING_BIND", value_name = "ADDR",
          default_value_t = ServerConfig::default().bind)]
    bind: SocketAddr,

    /// Players per room, host included (at least 1): the most a host may ask
    /// for, and what a host that asks for nothing gets.
    #[arg(long, env = "P2P_SIGNALING_CAPACITY", value_name = "N",
          default_value_t = ServerConfig::default().capacity,
          value_parser = at_least_one)]
    capacity: usize,

    /// Seconds a dropped host may take to come back.
    #[arg(long, env = "P2P_SIGNALING_HOST_GRACE_SECS", value_name = "S",
          default_value_t = ServerConfig::default().host_grace.as_secs())]
    host_grace_secs: u64,

    /// Seconds a client whose websocket dropped keeps its seat.
    #[arg(long, env = "P2P_SIGNALING_CLIENT_GRACE_SECS", value_name = "S",
          default_value_t = ServerConfig::default().client_grace.as_secs())]
    client_grace_secs: u64,

    /// The secret host tokens are made with (16 characters or more): with
    /// it, hosts open their rooms again, same codes, after a restart.
    /// Default: a random one per start.
    #[arg(
        long,
        env = "P2P_SIGNALING_ROOM_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    room_secret: Option<String>,

    /// Seconds a room whose host never connected lives; clients waiting
    /// in it are closed with it.
    #[arg(long, env = "P2P_SIGNALING_UNCLAIMED_ROOM_SECS", value_name = "S",
          default_value_t = ServerConfig::default().unclaimed_expiry.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    unclaimed_room_secs: u64,

    /// Serve this folder's files (the browser game) at /; with its
    /// loader.js, share pages (/play/{code}) carry the game and a Join button.
    #[arg(long, env = "P2P_SIGNALING_WEB_ROOT", value_name = "DIR")]
    web_root: Option<PathBuf>,

    /// The game's name on share pages and link previews (`{TITLE} - Play
    /// Now!`), 1 to 80 characters.
    #[arg(long, env = "P2P_SIGNALING_GAME_TITLE", value_name = "TITLE",
          default_value_t = ShareSettings::default().game_title)]
    game_title: String,

    /// A sentence or two about the game for share pages and link previews,
    /// at most 300 characters.
    #[arg(long, env = "P2P_SIGNALING_GAME_DESCRIPTION", value_name = "TEXT",
          default_value_t = ShareSettings::default().game_description)]
    game_description: String,

    /// A PNG (1200x630 suits most apps) for link previews instead of the
    /// cards the server draws, served at /card.png.
    #[arg(long, env = "P2P_SIGNALING_GAME_IMAGE", value_name = "PNG")]
    game_image: Option<PathBuf>,

    /// Room preview cards kept drawn (one per room and state).
    #[arg(long, env = "P2P_SIGNALING_CARD_CACHE", value_name = "N",
          default_value_t = ShareSettings::default().card_cache)]
    card_cache: usize,

    /// The largest signal relayed between peers (an SDP offer or answer, an
    /// ICE candidate), bytes; larger ones are dropped.
    #[arg(long, env = "P2P_SIGNALING_MAX_SIGNAL_BYTES", value_name = "BYTES",
          default_value_t = ServerConfig::default().max_signal_bytes)]
    max_signal_bytes: usize,

    /// Seconds a websocket may send nothing before it is taken for gone and
    /// its seat freed (the plugin sends a keep-alive every 10 s).
    #[arg(long, env = "P2P_SIGNALING_PEER_SILENCE_SECS", value_name = "S",
          default_value_t = ServerConfig::default().peer_silence_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    peer_silence_secs: u64,

    /// A STUN server handed to players (`stun:host:port`); repeat the flag
    /// for more. The variable takes a comma-separated list. Default none:
    /// players behind different home routers then cannot connect.
    #[arg(
        long = "stun",
        env = "P2P_SIGNALING_STUN",
        value_name = "URL",
        value_delimiter = ','
    )]
    stun: Vec<String>,

    /// A TURN server URL handed to players (`turn:host:3478?transport=udp`,
    /// `turns:host:443?transport=tcp`); repeat the flag for more. All share
    /// --turn-secret (coturn's `use-auth-secret`).
    #[arg(
        long = "turn",
        env = "P2P_SIGNALING_TURN",
        value_name = "URL",
        value_delimiter = ','
    )]
    turn: Vec<String>,

    /// coturn's `static-auth-secret`, from which each player's expiring
    /// TURN credential is made; it never leaves this server. Prefer the
    /// variable: a flag shows in the process list.
    #[arg(
        long,
        env = "P2P_SIGNALING_TURN_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    turn_secret: Option<String>,

    /// Seconds a handed-out TURN credential is accepted by coturn. It must
    /// outlast a game: coturn checks it again when a relay is refreshed.
    #[arg(long, env = "P2P_SIGNALING_TURN_CREDENTIAL_SECS", value_name = "S",
          default_value_t = ServerConfig::default().ice.credential_lifetime.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    turn_credential_secs: u64,

    /// The address players reach this server at, when it is not the one
    /// they connect to (behind a reverse proxy): share links are made
    /// under it, `<URL>/play/<code>`. Example: `https://play.example.com`
    #[arg(long, env = "P2P_SIGNALING_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,

    /// A web page origin (`https://games.example.org`) whose visitors'
    /// browsers may use the API and websockets, besides this server's own
    /// pages; repeat for more, `*` for any page.
    #[arg(
        long = "allow-origin",
        env = "P2P_SIGNALING_ALLOW_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    allow_origin: Vec<String>,

    /// A reverse proxy's address or block (`127.0.0.1`, `172.16.0.0/12`):
    /// requests from it are counted against the client its
    /// X-Forwarded-For names. Repeat for more.
    #[arg(
        long = "trusted-proxy",
        env = "P2P_SIGNALING_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    trusted_proxy: Vec<Cidr>,

    /// Open connections in total (lowered to fit the open-file limit).
    #[arg(long, env = "P2P_SIGNALING_MAX_CONNECTIONS", value_name = "N",
          default_value_t = Limits::default().max_connections,
          value_parser = at_least_one)]
    max_connections: usize,

    /// Open connections from one address (IPv6: one /64).
    #[arg(long, env = "P2P_SIGNALING_MAX_CONNECTIONS_PER_IP", value_name = "N",
          default_value_t = Limits::default().max_connections_per_address,
          value_parser = at_least_one)]
    max_connections_per_ip: usize,

    /// Websockets from one client address, behind a proxy too.
    #[arg(long, env = "P2P_SIGNALING_MAX_SOCKETS_PER_IP", value_name = "N",
          default_value_t = Limits::default().max_sockets_per_address,
          value_parser = at_least_one)]
    max_sockets_per_ip: usize,

    /// Seconds a connection may take to send a request head, or stay idle
    /// between requests.
    #[arg(long, env = "P2P_SIGNALING_HEADER_TIMEOUT_SECS", value_name = "S",
          default_value_t = Limits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_secs: u64,

    /// Seconds an API request may take, body included.
    #[arg(long, env = "P2P_SIGNALING_REQUEST_TIMEOUT_SECS", value_name = "S",
          default_value_t = Limits::default().request_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_secs: u64,

    /// The largest API request body, bytes.
    #[arg(long, env = "P2P_SIGNALING_MAX_BODY_BYTES", value_name = "BYTES",
          default_value_t = Limits::default().max_body_bytes,
          value_parser = at_least_one)]
    max_body_bytes: usize,

    /// Seconds a write to a client that stopped reading may make no
    /// progress before its connection is closed.
    #[arg(long, env = "P2P_SIGNALING_WRITE_STALL_SECS", value_name = "S",
          default_value_t = Limits::default().write_stall_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    write_stall_secs: u64,

    /// Each per-address limit also holds for an IPv6 /48 as a whole, at
    /// this many times the limit.
    #[arg(long, env = "P2P_SIGNALING_IPV6_SITE_FACTOR", value_name = "N",
          default_value_t = Limits::default().ipv6_site_factor,
          value_parser = clap::value_parser!(u32).range(1..))]
    ipv6_site_factor: u32,

    /// The largest websocket message, bytes; larger ones close the socket.
    #[arg(long, env = "P2P_SIGNALING_MAX_MESSAGE_BYTES", value_name = "BYTES",
          default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,

    /// Signals queued for one peer; more are dropped until it reads.
    #[arg(long, env = "P2P_SIGNALING_PEER_QUEUE", value_name = "N",
          default_value_t = Limits::default().peer_queue,
          value_parser = at_least_one)]
    peer_queue: usize,

    /// Messages one websocket may send: RATE/s or RATE/min, then :BURST.
    #[arg(long, env = "P2P_SIGNALING_PEER_MESSAGE_RATE", value_name = "RATE",
          default_value_t = Limits::default().peer_messages)]
    peer_message_rate: Rate,

    /// Rooms one address may create.
    #[arg(long, env = "P2P_SIGNALING_ROOM_RATE_PER_IP", value_name = "RATE",
          default_value_t = Limits::default().rooms_per_address)]
    room_rate_per_ip: Rate,

    /// Rooms everyone together may create.
    #[arg(long, env = "P2P_SIGNALING_ROOM_RATE", value_name = "RATE",
          default_value_t = Limits::default().rooms_total)]
    room_rate: Rate,

    /// Lookups of unknown codes (or with a wrong host token) one address
    /// may make; while spent, all its lookups are refused.
    #[arg(long, env = "P2P_SIGNALING_MISS_RATE_PER_IP", value_name = "RATE",
          default_value_t = Limits::default().misses_per_address)]
    miss_rate_per_ip: Rate,

    /// Lookups of unknown codes everyone together may make.
    #[arg(long, env = "P2P_SIGNALING_MISS_RATE", value_name = "RATE",
          default_value_t = Limits::default().misses_total)]
    miss_rate: Rate,

    /// Live rooms at most.
    #[arg(long, env = "P2P_SIGNALING_MAX_ROOMS", value_name = "N",
          default_value_t = Limits::default().max_rooms,
          value_parser = at_least_one)]
    max_rooms: usize,

    /// Addresses the rate limits remember at once.
    #[arg(long, env = "P2P_SIGNALING_TRACKED_ADDRESSES", value_name = "N",
          default_value_t = Limits::default().tracked_addresses,
          value_parser = at_least_one)]
    tracked_addresses: usize,

    /// SQLite file the stats history is kept in (created if missing);
    /// without it, the history is kept in memory and ends with the process.
    #[arg(long, env = "P2P_SIGNALING_DB", value_name = "PATH")]
    db: Option<PathBuf>,

    /// Days of stats history kept; older rows are deleted hourly.
    #[arg(long, env = "P2P_SIGNALING_RETENTION_DAYS", value_name = "DAYS",
          default_value_t = StatsSettings::default().retention.as_secs() / 86_400,
          value_parser = clap::value_parser!(u64).range(1..=36_500))]
    retention_days: u64,

    /// Seconds an admitted client has to report its connection; silent
    /// past it, its join counts as failed (`no_report`).
    #[arg(long, env = "P2P_SIGNALING_CONNECT_TIMEOUT_SECS", value_name = "S",
          default_value_t = StatsSettings::default().connect_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    connect_timeout_secs: u64,

    /// Stats records waiting for the database at most; past it they are
    /// dropped (and counted), never holding signaling up.
    #[arg(long, env = "P2P_SIGNALING_STATS_QUEUE", value_name = "N",
          default_value_t = StatsSettings::default().queue,
          value_parser = at_least_one)]
    stats_queue: usize,

    /// Serve `GET /metrics` on this address instead of the main one (which
    /// then has none). Without it, the main address answers loopback
    /// clients only.
    #[arg(long, env = "P2P_SIGNALING_METRICS_BIND", value_name = "ADDR")]
    metrics_bind: Option<SocketAddr>,

    /// Bearer token `GET /metrics` requires (at least 16 characters),
    /// wherever it is served; with it, scrapers need not be on loopback.
    #[arg(
        long,
        env = "P2P_SIGNALING_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    metrics_token: Option<String>,

    /// Players' reports (join and session) one address may send.
    #[arg(long, env = "P2P_SIGNALING_REPORT_RATE_PER_IP", value_name = "RATE",
          default_value_t = StatsSettings::default().reports_per_address)]
    report_rate_per_ip: Rate,

    /// Players' reports everyone together may send.
    #[arg(long, env = "P2P_SIGNALING_REPORT_RATE", value_name = "RATE",
          default_value_t = StatsSettings::default().reports_total)]
    report_rate: Rate,
}

fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl Args {
    fn config(self) -> ServerConfig {
        ServerConfig {
            bind: self.bind,
            capacity: self.capacity,
            host_grace: Duration::from_secs(self.host_grace_secs),
            client_grace: Duration::from_secs(self.client_grace_secs),
            room_secret: self.room_secret.map(RoomSecret),
            unclaimed_expiry: Duration::from_secs(self.unclaimed_room_secs),
            web_root: self.web_root,
            max_signal_bytes: self.max_signal_bytes,
            peer_silence_timeout: Duration::from_secs(self.peer_silence_secs),
            ice: IceSettings {
                stun: self.stun,
                turn: self.turn,
                turn_secret: self.turn_secret,
                credential_lifetime: Duration::from_secs(self.turn_credential_secs),
            },
            public_url: self.public_url,
            allowed_origins: self.allow_origin,
            trusted_proxies: self.trusted_proxy,
            share: ShareSettings {
                game_title: self.game_title,
                game_description: self.game_description,
                game_image: self.game_image,
                card_cache: self.card_cache,
            },
            stats: StatsSettings {
                database: self.db.map_or(Database::Memory, Database::File),
                retention: Duration::from_secs(self.retention_days * 86_400),
                connect_timeout: Duration::from_secs(self.connect_timeout_secs),
                queue: self.stats_queue,
                metrics_bind: self.metrics_bind,
                metrics_token: self.metrics_token,
                reports_per_address: self.report_rate_per_ip,
                reports_total: self.report_rate,
            },
            limits: Limits {
                max_connections: self.max_connections,
                max_connections_per_address: self.max_connections_per_ip,
                max_sockets_per_address: self.max_sockets_per_ip,
                header_timeout: Duration::from_secs(self.header_timeout_secs),
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                max_body_bytes: self.max_body_bytes,
                write_stall_timeout: Duration::from_secs(self.write_stall_secs),
                ipv6_site_factor: self.ipv6_site_factor,
                max_message_bytes: self.max_message_bytes,
                peer_queue: self.peer_queue,
                peer_messages: self.peer_message_rate,
                rooms_per_address: self.room_rate_per_ip,
                rooms_total: self.room_rate,
                misses_per_address: self.miss_rate_per_ip,
                misses_total: self.miss_rate,
                max_rooms: self.max_rooms,
                tracked_addresses: self.tracked_addresses,
            },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    // `--help`, `--version` and bad flags print and exit here (status 2 for
    // a bad flag, with the usage).
    let config = Args::parse().config();
    if let Err(error) = config.ice.validate() {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    if config.ice.stun.is_empty() && config.ice.turn.is_empty() {
        tracing::warn!(
            "no --stun or --turn server: players can connect only within one network \
             (fine on one machine or a LAN, not across the internet)"
        );
    } else {
        tracing::info!(stun = ?config.ice.stun, turn = ?config.ice.turn, "ICE servers for players");
    }
    if let Some(root) = &config.web_root
        && !root.is_dir()
    {
        eprintln!("error: web root `{}` is not a folder", root.display());
        return ExitCode::from(2);
    }

    let server = match serve(config.clone()).await {
        Ok(server) => server,
        // A setting the server refuses (a bad --public-url, say).
        Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    // Scripts and tests wait for this exact line, so flush it now.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", server.local_addr());
    if let Some(metrics) = server.metrics_addr() {
        tracing::info!(%metrics, "metrics served on their own address");
    }
    let _ = stdout.flush();

    wait_for_stop_signal().await;
    tracing::info!("stopping");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<ServerConfig, clap::Error> {
        Args::try_parse_from(core::iter::once("bevy_p2p_signaling").chain(args.iter().copied()))
            .map(Args::config)
    }

    #[test]
    fn defaults_are_the_libraries() {
        // Assumes no P2P_SIGNALING_* variable in the test's environment.
        assert_eq!(run(&[]).expect("parses"), ServerConfig::default());
    }

    #[test]
    fn flags() {
        let config = run(&[
            "--bind",
            "0.0.0.0:9000",
            "--capacity=8",
            "--client-grace-secs=12",
            "--room-secret=sixteen-chars-or-more",
            "--host-grace-secs",
            "5",
            "--unclaimed-room-secs=60",
            "--web-root",
            "web",
            "--game-title",
            "Space <Duel>",
            "--game-description=Two ships, one star.",
            "--game-image",
            "card.png",
            "--card-cache=8",
            "--max-signal-bytes=8192",
            "--peer-silence-secs",
            "40",
            "--stun",
            "stun:198.51.100.1:3478",
            "--turn=turn:198.51.100.1:3478?transport=udp",
            "--turn",
            "turns:turn.example.com:443?transport=tcp",
            "--turn-secret",
            "north-wind",
            "--turn-credential-secs=90",
            "--public-url",
            "https://play.example.com",
            "--allow-origin=https://games.example.org",
            "--trusted-proxy",
            "172.16.0.0/12",
            "--max-connections=100",
            "--max-connections-per-ip=5",
            "--max-sockets-per-ip=4",
            "--header-timeout-secs=3",
            "--request-timeout-secs=4",
            "--max-body-bytes=512",
            "--write-stall-secs=7",
            "--ipv6-site-factor=3",
            "--max-message-bytes=32768",
            "--peer-queue=16",
            "--peer-message-rate=5/s:10",
            "--room-rate-per-ip=2/min:3",
            "--room-rate=100/min",
            "--miss-rate-per-ip=6/min:1",
            "--miss-rate=60/min:60",
            "--max-rooms=50",
            "--tracked-addresses=1000",
            "--db",
            "/var/lib/p2p/stats.sqlite",
            "--retention-days=7",
            "--connect-timeout-secs=20",
            "--stats-queue=64",
            "--metrics-bind=127.0.0.1:9100",
            "--metrics-token=scrape-me-please-1234",
            "--report-rate-per-ip=10/min",
            "--report-rate=600/min:100",
        ])
        .expect("parses");
        assert_eq!(config.bind, "0.0.0.0:9000".parse().expect("addr"));
        assert_eq!(config.capacity, 8);
        assert_eq!(config.host_grace, Duration::from_secs(5));
        assert_eq!(config.client_grace, Duration::from_secs(12));
        assert_eq!(
            config.room_secret,
            Some(RoomSecret("sixteen-chars-or-more".into()))
        );
        assert_eq!(
            format!("{:?}", config.room_secret),
            "Some(RoomSecret(<hidden>))"
        );
        assert_eq!(config.unclaimed_expiry, Duration::from_secs(60));
        assert_eq!(config.web_root, Some(PathBuf::from("web")));
        assert_eq!(
            config.share,
            ShareSettings {
                game_title: "Space <Duel>".into(),
                game_description: "Two ships, one star.".into(),
                game_image: Some(PathBuf::from("card.png")),
                card_cache: 8,
            }
        );
        assert_eq!(config.max_signal_bytes, 8192);
        assert_eq!(config.peer_silence_timeout, Duration::from_secs(40));
        assert_eq!(config.ice.stun, ["stun:198.51.100.1:3478"]);
        assert_eq!(
            config.ice.turn,
            [
                "turn:198.51.100.1:3478?transport=udp",
                "turns:turn.example.com:443?transport=tcp"
            ]
        );
        assert_eq!(config.ice.turn_secret.as_deref(), Some("north-wind"));
        assert_eq!(config.ice.credential_lifetime, Duration::from_secs(90));
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://play.example.com")
        );
        assert_eq!(config.allowed_origins, ["https://games.example.org"]);
        assert_eq!(
            config.trusted_proxies,
            ["172.16.0.0/12".parse::<Cidr>().expect("block")]
        );
        let rate = |per_minute, burst| Rate { per_minute, burst };
        assert_eq!(
            config.stats,
            StatsSettings {
                database: Database::File(PathBuf::from("/var/lib/p2p/stats.sqlite")),
                retention: Duration::from_secs(7 * 86_400),
                connect_timeout: Duration::from_secs(20),
                queue: 64,
                metrics_bind: Some("127.0.0.1:9100".parse().expect("addr")),
                metrics_token: Some("scrape-me-please-1234".into()),
                reports_per_address: rate(10, 10),
                reports_total: rate(600, 100),
            }
        );
        assert_eq!(
            config.limits,
            Limits {
                max_connections: 100,
                max_connections_per_address: 5,
                max_sockets_per_address: 4,
                header_timeout: Duration::from_secs(3),
                request_timeout: Duration::from_secs(4),
                max_body_bytes: 512,
                write_stall_timeout: Duration::from_secs(7),
                ipv6_site_factor: 3,
                max_message_bytes: 32768,
                peer_queue: 16,
                peer_messages: rate(300, 10),
                rooms_per_address: rate(2, 3),
                rooms_total: rate(100, 100),
                misses_per_address: rate(6, 1),
                misses_total: rate(60, 60),
                max_rooms: 50,
                tracked_addresses: 1000,
            }
        );
    }

    #[test]
    fn errors_are_reported() {
        for bad in [
            &["--bind"][..],
            &["--bind", "nowhere"],
            &["--capacity", "0"],
            &["--capacity", "many"],
            &["--frobnicate"],
            &["--peer-silence-secs", "0"],
            &["--ipv6-site-factor", "0"],
            &["--write-stall-secs", "0"],
            &["--turn-credential-secs", "0"],
            &["--trusted-proxy", "10.0.0.0/40"],
            &["--room-rate", "5/hour"],
            &["--room-rate", "5/min:0"],
            &["--max-rooms", "0"],
            &["--retention-days", "0"],
            &["--connect-timeout-secs", "0"],
            &["--metrics-bind", "here"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_definition_is_sound() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
