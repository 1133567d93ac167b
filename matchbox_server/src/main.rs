//! `bevy_p2p_signaling`: the room signaling server as a program.
//!
//! Flags (clap, `--help` lists them) win over environment variables, which
//! win over the defaults of [`ServerConfig`]. Prints `listening on <ip:port>`
//! on stdout once it accepts connections; logs go to stderr (`RUST_LOG`
//! filters them, default `info`).

use bevy_p2p_signaling::{ServerConfig, ice::IceSettings, serve};
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

    /// Seconds a room with nobody connected lives.
    #[arg(long, env = "P2P_SIGNALING_IDLE_EXPIRY_SECS", value_name = "S",
          default_value_t = ServerConfig::default().idle_expiry.as_secs())]
    idle_expiry_secs: u64,

    /// Serve this folder's files at / and /play/{code}.
    #[arg(long, env = "P2P_SIGNALING_WEB_ROOT", value_name = "DIR")]
    web_root: Option<PathBuf>,

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
}

fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(0) => Err("capacity must be at least 1 (the host)".into()),
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
            idle_expiry: Duration::from_secs(self.idle_expiry_secs),
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
            "--host-grace-secs",
            "5",
            "--idle-expiry-secs=60",
            "--web-root",
            "web",
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
        ])
        .expect("parses");
        assert_eq!(config.bind, "0.0.0.0:9000".parse().expect("addr"));
        assert_eq!(config.capacity, 8);
        assert_eq!(config.host_grace, Duration::from_secs(5));
        assert_eq!(config.idle_expiry, Duration::from_secs(60));
        assert_eq!(config.web_root, Some(PathBuf::from("web")));
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
            &["--turn-credential-secs", "0"],
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
