//! How the arena starts: from the command line natively, from the page's
//! URL in the browser (`/play/{CODE}` joins that code at once).

/// What the player asked for at start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// No window: for dedicated hosts, tests and benchmarks.
    pub headless: bool,
    /// Host a game at once.
    pub host: bool,
    /// Start the hosted game at once, without waiting in the lobby: players
    /// join it as it goes (always so for a headless host).
    pub start: bool,
    /// Join this code at once.
    pub join: Option<String>,
    /// Scripted players to add: in-process clients that join this host's
    /// room (native only).
    pub bots: usize,
    /// This app's own player is scripted too.
    pub bot: bool,
    /// The signaling server, `ws://` or `wss://`.
    pub server: Option<String>,
    /// Quit after this many seconds (headless runs in scripts).
    pub quit_after: Option<f64>,
    /// No STUN server: peers link on their own addresses only (LAN, tests).
    pub no_stun: bool,
    /// Runs inside another arena's process (a bot): that process already
    /// set up logging. Not a command-line option.
    pub in_process: bool,
    /// Headless: print every player's position and health when they change
    /// (at most 4 times a second), for tests and dedicated-host logs.
    pub report_players: bool,
    /// A client draws its own player where its inputs take it, at once
    /// (see `predict.rs`).
    pub predict: bool,
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
arena: a 2D arena for up to 6 players, peer to peer

USAGE: cargo run --example arena -- [OPTIONS]

  (no option)        open the window with the lobby
  --host             host a game at once
  --start            start the hosted game at once (players join as it goes)
  --join CODE        join a game at once
  --headless         no window (a dedicated host, a test client)
  --bots N           add N scripted players to the game this app hosts
  --bot              this app's own player is scripted
  --server URL       signaling server (default ws://127.0.0.1:3536, or
                     P2P_SIGNALING_URL); one is started in-process when
                     none answers at a 127.0.0.1 address
  --no-stun          use no STUN or TURN server, not even the signaling
                     server's (same machine or LAN only; also P2P_NO_STUN=1)
  --predict          as a client, draw your own player where your keys take
                     it at once, not a round trip later (the host still
                     decides; corrections are drawn as they come)
  --report-players   headless: print players' positions as they change
  --quit-after SECS  exit after SECS seconds

CONTROLS: WASD or arrow keys move, space shoots.";

impl Options {
    /// Parses command-line arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--headless" => options.headless = true,
                "--host" => options.host = true,
                "--start" => options.start = true,
                "--bot" => options.bot = true,
                "--no-stun" => options.no_stun = true,
                "--report-players" => options.report_players = true,
                "--predict" => options.predict = true,
                "--join" => options.join = Some(value("--join")?),
                "--server" => options.server = Some(value("--server")?),
                "--bots" => {
                    let n = value("--bots")?;
                    options.bots = n
                        .parse()
                        .ok()
                        .filter(|n| *n <= 5)
                        .ok_or(format!("--bots takes 0 to 5, not {n:?}"))?;
                }
                "--quit-after" => {
                    let s = value("--quit-after")?;
                    options.quit_after = Some(
                        s.parse()
                            .map_err(|_| format!("--quit-after takes seconds, not {s:?}"))?,
                    );
                }
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        if options.host && options.join.is_some() {
            return Err("--host and --join exclude each other".into());
        }
        if options.bots > 0 && options.join.is_some() {
            return Err("--bots adds players to a game this app hosts".into());
        }
        Ok(options)
    }

    /// Reads the browser page's URL: `/play/{CODE}` joins, `?host` hosts,
    /// `start` starts the hosted game at once, `ice=none` uses no STUN or
    /// TURN server, `predict` predicts one's own movement.
    pub fn from_url(path: &str, query: &str) -> Self {
        let params: Vec<&str> = query.trim_start_matches('?').split('&').collect();
        let join = path
            .trim_end_matches('/')
            .rsplit_once("/play/")
            .map(|(_, code)| code.to_string())
            .filter(|code| !code.is_empty());
        Options {
            host: join.is_none() && params.contains(&"host"),
            start: params.contains(&"start"),
            join,
            no_stun: params.contains(&"ice=none"),
            predict: params.contains(&"predict"),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_modes() {
        let options = parse(&["--headless", "--join", "abc234"]).unwrap();
        assert!(options.headless);
        assert_eq!(options.join.as_deref(), Some("abc234"));
        assert_eq!(parse(&["--host", "--bots", "3"]).unwrap().bots, 3);
        assert!(parse(&["--bots", "9"]).is_err());
        assert!(parse(&["--host", "--join", "X"]).is_err());
        assert!(parse(&["--wat"]).is_err());
    }

    #[test]
    fn reads_urls() {
        assert_eq!(
            Options::from_url("/play/ABC234", "").join.as_deref(),
            Some("ABC234")
        );
        assert_eq!(
            Options::from_url("/play/ABC234/", "").join.as_deref(),
            Some("ABC234")
        );
        assert!(Options::from_url("/", "?host").host);
        let started = Options::from_url("/", "?host&start&ice=none");
        assert!(started.host && started.start && started.no_stun);
        assert!(parse(&["--host", "--start"]).unwrap().start);
        assert!(Options::from_url("/play/ABC234", "?ice=none").no_stun);
        assert!(Options::from_url("/play/ABC234", "?predict").predict);
        assert!(parse(&["--join", "ABC234", "--predict"]).unwrap().predict);
        assert_eq!(Options::from_url("/", ""), Options::default());
    }
}
