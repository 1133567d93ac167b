//! `bevy_p2p_signaling`: the room signaling server as a program.
//!
//! Flags win over environment variables, which win over the defaults of
//! [`ServerConfig`]. Prints `listening on <ip:port>` on stdout once it accepts
//! connections; logs go to stderr (`RUST_LOG` filters them, default `info`).

use bevy_p2p_signaling::{ServerConfig, serve};
use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
Room signaling server for bevy_p2p_multiplayer.

Usage: bevy_p2p_signaling [OPTIONS]

Options (each also read from the environment variable shown):
  --bind <ADDR>              address to listen on; port 0 picks a free one
                             [env P2P_SIGNALING_BIND] [default 127.0.0.1:3536]
  --capacity <N>             players per room, host included
                             [env P2P_SIGNALING_CAPACITY] [default 6]
  --host-grace-secs <S>      seconds a dropped host may take to come back
                             [env P2P_SIGNALING_HOST_GRACE_SECS] [default 30]
  --idle-expiry-secs <S>     seconds a room with nobody connected lives
                             [env P2P_SIGNALING_IDLE_EXPIRY_SECS] [default 3600]
  --web-root <DIR>           serve this folder's files at / and /play/{code}
                             [env P2P_SIGNALING_WEB_ROOT] [default none]
  -h, --help                 print this help
";

/// One option: its flag and its environment variable.
struct Opt {
    flag: &'static str,
    env: &'static str,
}

const BIND: Opt = Opt {
    flag: "--bind",
    env: "P2P_SIGNALING_BIND",
};
const CAPACITY: Opt = Opt {
    flag: "--capacity",
    env: "P2P_SIGNALING_CAPACITY",
};
const HOST_GRACE: Opt = Opt {
    flag: "--host-grace-secs",
    env: "P2P_SIGNALING_HOST_GRACE_SECS",
};
const IDLE_EXPIRY: Opt = Opt {
    flag: "--idle-expiry-secs",
    env: "P2P_SIGNALING_IDLE_EXPIRY_SECS",
};
const WEB_ROOT: Opt = Opt {
    flag: "--web-root",
    env: "P2P_SIGNALING_WEB_ROOT",
};
const OPTS: [&Opt; 5] = [&BIND, &CAPACITY, &HOST_GRACE, &IDLE_EXPIRY, &WEB_ROOT];

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Help,
    Run(ServerConfig),
}

/// Parses flags (`--flag value` or `--flag=value`) over environment values.
fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut given: Vec<(&'static str, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let Some(opt) = OPTS.iter().find(|opt| opt.flag == name) else {
            return Err(format!("unknown argument `{arg}`"));
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("`{}` needs a value", opt.flag))?,
        };
        given.push((opt.flag, value));
    }
    // The last flag wins, then the environment.
    let value = |opt: &Opt| -> Option<(String, String)> {
        given
            .iter()
            .rev()
            .find(|(flag, _)| *flag == opt.flag)
            .map(|(flag, value)| ((*flag).to_owned(), value.clone()))
            .or_else(|| env(opt.env).map(|value| (opt.env.to_owned(), value)))
    };
    fn parsed<T: std::str::FromStr>((source, raw): (String, String)) -> Result<T, String> {
        raw.trim()
            .parse()
            .map_err(|_| format!("`{source}`: cannot parse `{raw}`"))
    }

    let mut config = ServerConfig::default();
    if let Some(bind) = value(&BIND) {
        config.bind = parsed::<SocketAddr>(bind)?;
    }
    if let Some(capacity) = value(&CAPACITY) {
        config.capacity = parsed(capacity)?;
        if config.capacity == 0 {
            return Err("capacity must be at least 1 (the host)".into());
        }
    }
    if let Some(secs) = value(&HOST_GRACE) {
        config.host_grace = Duration::from_secs(parsed(secs)?);
    }
    if let Some(secs) = value(&IDLE_EXPIRY) {
        config.idle_expiry = Duration::from_secs(parsed(secs)?);
    }
    if let Some((_, dir)) = value(&WEB_ROOT) {
        config.web_root = Some(PathBuf::from(dir));
    }
    Ok(Command::Run(config))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let config = match parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(root) = &config.web_root
        && !root.is_dir()
    {
        eprintln!("error: web root `{}` is not a folder", root.display());
        return ExitCode::from(2);
    }

    let server = match serve(config.clone()).await {
        Ok(server) => server,
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

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(args.iter().map(|a| (*a).to_owned()), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults() {
        assert_eq!(run(&[], &[]), Ok(Command::Run(ServerConfig::default())));
    }

    #[test]
    fn flags_override_env() {
        let Ok(Command::Run(config)) = run(
            &[
                "--bind",
                "0.0.0.0:9000",
                "--capacity=8",
                "--web-root",
                "web",
            ],
            &[
                ("P2P_SIGNALING_BIND", "127.0.0.1:1"),
                ("P2P_SIGNALING_HOST_GRACE_SECS", "5"),
                ("P2P_SIGNALING_IDLE_EXPIRY_SECS", "60"),
            ],
        ) else {
            panic!("should parse");
        };
        assert_eq!(config.bind, "0.0.0.0:9000".parse().expect("addr"));
        assert_eq!(config.capacity, 8);
        assert_eq!(config.host_grace, Duration::from_secs(5));
        assert_eq!(config.idle_expiry, Duration::from_secs(60));
        assert_eq!(config.web_root, Some(PathBuf::from("web")));
    }

    #[test]
    fn errors_are_reported() {
        assert!(run(&["--bind"], &[]).is_err());
        assert!(run(&["--bind", "nowhere"], &[]).is_err());
        assert!(run(&["--capacity", "0"], &[]).is_err());
        assert!(run(&["--frobnicate"], &[]).is_err());
        assert!(run(&[], &[("P2P_SIGNALING_CAPACITY", "many")]).is_err());
        assert_eq!(run(&["-h"], &[]), Ok(Command::Help));
    }
}
