//! Friends on different networks: players behind home routers (NAT), our
//! signaling server and a real coturn on the lab's internet, real WebRTC.
//!
//! The lab (`support/nat_lab.rs`) is made of network namespaces this test
//! makes, linked only to each other, with 198.51.100.0/24 (TEST-NET-2) as
//! the internet; it runs inside the sealed namespace of
//! `scripts/loopback-netns`. coturn runs with the configuration we ship
//! (`deploy/turnserver.conf`), plus the lab's addresses and one rule that
//! lets it relay to the lab's internet, which the shipped file denies like
//! every documentation range.
//!
//! Each player is this test binary in a role (`lab_player`), a headless app
//! with the plugin, started in its home's namespace; it takes its ICE
//! servers from the signaling server, as games do by default. A browser
//! player is Chromium driven from inside its home (`lab_browser`), playing
//! against the arena program.

use core::time::Duration;
use std::{io::Write, time::Instant};

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;

#[path = "support/arena.rs"]
mod arena;
#[path = "support/nat_lab.rs"]
mod nat_lab;
#[path = "support/sealed.rs"]
mod sealed;
#[path = "support/webdriver.rs"]
#[allow(
    dead_code,
    reason = "a page's title and console are all this test reads"
)]
mod webdriver;

use nat_lab::{INTERNET, Lab, LabProcess, Nat};
use sealed::sealed;

/// The role a spawned copy of this binary plays, and its settings.
const ROLE: &str = "P2P_LAB_ROLE";
const SIGNALING_URL: &str = "P2P_LAB_SIGNALING_URL";
const CODE: &str = "P2P_LAB_CODE";
const BIND: &str = "P2P_LAB_BIND";
const STUN: &str = "P2P_LAB_STUN";
const TURN: &str = "P2P_LAB_TURN";
const TURN_SECRET: &str = "P2P_LAB_TURN_SECRET";
const TURN_SECS: &str = "P2P_LAB_TURN_SECS";
/// The signaling server's web root (the browser arena).
const WEB_ROOT: &str = "P2P_LAB_WEB_ROOT";
/// The page a browser player opens.
const PAGE_URL: &str = "P2P_LAB_PAGE_URL";
/// Set for a client that must not use a relay of its own: STUN only.
const OWN_STUN_ONLY: &str = "P2P_LAB_OWN_STUN_ONLY";

/// What every line a role reports to the test starts with.
const REPORT: &str = "LAB ";

/// The lab's TURN secret: shared by coturn and the signaling server only.
const SECRET: &str = "lab-secret-7f3a";
/// Short, so that the late joiner comes after the first credentials died.
const CREDENTIAL_SECS: u64 = 6;
const STUN_ONLY_PORT: u16 = 3536;
const WITH_TURN_PORT: u16 = 3537;
/// A server whose TURN secret is not coturn's: its credentials are refused.
const WRONG_SECRET_PORT: u16 = 3538;
const TURN_PORT: u16 = 3478;

/// How long a client keeps a link it got before saying whether it held.
const HOLD: Duration = Duration::from_secs(10);

/// Bound on a player's whole run; the plugin's own connect timeout (20 s)
/// ends a failing join well before.
const PLAYER_LIMIT: Duration = Duration::from_secs(60);

/// `--exact` names of the roles below, for spawning.
fn role_args(role: &str) -> [&str; 5] {
    [
        role,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ice {
    StunOnly,
    StunAndTurn,
    /// TURN URLs with credentials coturn refuses.
    RefusedTurn,
}

impl Ice {
    fn port(self) -> u16 {
        match self {
            Ice::StunOnly => STUN_ONLY_PORT,
            Ice::StunAndTurn => WITH_TURN_PORT,
            Ice::RefusedTurn => WRONG_SECRET_PORT,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Connected {
        ms: u64,
        route: String,
    },
    Failed {
        ms: u64,
        reason: String,
        text: String,
    },
    NoAnswer,
}

struct Cell {
    host: Nat,
    client: Nat,
    ice: Ice,
    /// The client joins after the credentials the host first got expired,
    /// and uses STUN only: only the host's relay, on renewed credentials,
    /// can carry the link.
    late: bool,
    expect: Expect,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Direct,
    Relayed,
    /// A failure, with the `JoinFailure` variant the player is told.
    Fails(&'static str),
}

fn matrix() -> Vec<Cell> {
    use Expect::*;
    use Ice::*;
    use Nat::*;
    let cell = |host, client, ice, expect| Cell {
        host,
        client,
        ice,
        late: false,
        expect,
    };
    vec![
        cell(PortPreserving, PortPreserving, StunOnly, Direct),
        cell(PortPreserving, PortPreserving, StunAndTurn, Direct),
        cell(PortPreserving, Symmetric, StunOnly, Fails("NeedsRelay")),
        cell(PortPreserving, Symmetric, StunAndTurn, Relayed),
        cell(Symmetric, Symmetric, StunOnly, Fails("NeedsRelay")),
        cell(Symmetric, Symmetric, StunAndTurn, Relayed),
        cell(Public, Symmetric, StunOnly, Direct),
        cell(Public, Symmetric, StunAndTurn, Direct),
        Cell {
            late: true,
            ..cell(Symmetric, Symmetric, StunAndTurn, Relayed)
        },
        cell(Symmetric, Symmetric, RefusedTurn, Fails("RelayUnavailable")),
    ]
}

#[test]
fn nat_matrix() {
    if !sealed("nat_matrix") {
        return;
    }
    // Dropped last: coturn's scratch files go once coturn has stopped.
    let scratch = Scratch::new("matrix");
    let mut lab = Lab::new();
    let exe = std::env::current_exe().expect("the test binary");
    let exe = exe.to_str().expect("a UTF-8 path");
    let turn = format!("turn:{INTERNET}:{TURN_PORT}?transport=udp");

    start_coturn(&mut lab, &scratch);
    for (ice, secret) in [
        (Ice::StunOnly, None),
        (Ice::StunAndTurn, Some(SECRET)),
        (Ice::RefusedTurn, Some("not-coturns-secret")),
    ] {
        let turn = secret.map(|secret| (turn.as_str(), secret));
        start_signaling(&mut lab, ice.port(), turn, None);
    }

    // Every cell at once: hosts first, then their clients.
    let cells = matrix();
    let homes: Vec<(usize, usize)> = cells
        .iter()
        .map(|cell| (lab.add_home(cell.host), lab.add_home(cell.client)))
        .collect();
    let url = |ice: Ice| format!("ws://{INTERNET}:{}", ice.port());
    let mut hosts: Vec<LabProcess> = Vec::new();
    let mut codes = Vec::new();
    for (cell, (host_home, _)) in cells.iter().zip(&homes) {
        let url = url(cell.ice);
        let env = [(ROLE, "host"), (SIGNALING_URL, url.as_str())];
        let mut host = lab
            .host(*host_home)
            .spawn("host", exe, &role_args("lab_player"), &env);
        let code = host.expect_line("LAB code=", Duration::from_secs(30));
        let Some(code) = code else {
            panic!("a host got no room\n{}", host.tail(40));
        };
        codes.push(code);
        hosts.push(host);
    }
    let started = Instant::now();
    let late_at = Duration::from_secs(CREDENTIAL_SECS + 3);
    let mut clients: Vec<Option<LabProcess>> = cells.iter().map(|_| None).collect();
    let join = |lab: &Lab, index: usize| {
        let url = url(cells[index].ice);
        let mut env = vec![
            (ROLE, "client"),
            (SIGNALING_URL, url.as_str()),
            (CODE, codes[index].as_str()),
        ];
        if cells[index].late {
            env.push((OWN_STUN_ONLY, LAB_STUN));
        }
        lab.host(homes[index].1)
            .spawn("client", exe, &role_args("lab_player"), &env)
    };
    for (index, cell) in cells.iter().enumerate() {
        if !cell.late {
            clients[index] = Some(join(&lab, index));
        }
    }
    std::thread::sleep(late_at.saturating_sub(started.elapsed()));
    for (index, cell) in cells.iter().enumerate() {
        if cell.late {
            clients[index] = Some(join(&lab, index));
        }
    }

    let mut outcomes = Vec::new();
    for client in &mut clients {
        let client = client.as_mut().expect("every cell has a client");
        let line = client.expect_line("LAB result ", PLAYER_LIMIT);
        outcomes.push(line.map_or(Outcome::NoAnswer, |line| parse_outcome(&line)));
    }
    // Every link that came up must still be up HOLD later.
    let mut dropped = Vec::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        if let Outcome::Connected { .. } = outcome {
            let client = clients[index].as_mut().expect("every cell has a client");
            let held = client.expect_line("LAB held ", HOLD + Duration::from_secs(10));
            if held.as_deref().is_none_or(|held| !held.starts_with("up")) {
                dropped.push((index, held));
            }
        }
    }

    println!("\n| host behind | client behind | ICE | connected | time to connect | route |");
    println!("|---|---|---|---|---|---|");
    let mut wrong = Vec::new();
    for (index, (cell, outcome)) in cells.iter().zip(&outcomes).enumerate() {
        let ice = match (cell.ice, cell.late) {
            (Ice::StunOnly, _) => "STUN only",
            (Ice::StunAndTurn, false) => "STUN + TURN",
            (Ice::StunAndTurn, true) => {
                "STUN + TURN for the host only; client joins after the first credentials expired"
            }
            (Ice::RefusedTurn, _) => "STUN + TURN, credentials refused",
        };
        let (connected, time, route) = match outcome {
            Outcome::Connected { ms, route } => ("yes", format!("{ms} ms"), route.clone()),
            Outcome::Failed { ms, reason, text } => (
                "no",
                format!("failed after {ms} ms"),
                format!("{reason}: \"{text}\""),
            ),
            Outcome::NoAnswer => ("no", "no answer".into(), "-".into()),
        };
        println!(
            "| {} | {} | {ice} | {connected} | {time} | {route} |",
            cell.host.name(),
            cell.client.name()
        );
        let right = match (cell.expect, outcome) {
            (Expect::Direct, Outcome::Connected { route, .. }) => route == "direct",
            (Expect::Relayed, Outcome::Connected { route, .. }) => route == "relayed",
            (Expect::Fails(expected), Outcome::Failed { reason, .. }) => reason == expected,
            _ => false,
        };
        if !right {
            wrong.push(index);
        }
    }
    // The summary: `pairs` are the pairings with a working relay (STUN +
    // TURN, the late joiner included), which must all connect; the cells
    // with STUN only, and with refused credentials, are shown beside them.
    let of = |ice: Ice| -> Vec<&Outcome> {
        cells
            .iter()
            .zip(&outcomes)
            .filter(|(cell, _)| cell.ice == ice)
            .map(|(_, outcome)| outcome)
            .collect()
    };
    let connected = |outcomes: &[&Outcome]| -> Vec<u64> {
        outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Connected { ms, .. } => Some(*ms),
                _ => None,
            })
            .collect()
    };
    let turn = of(Ice::StunAndTurn);
    let turn_connected = connected(&turn);
    let relayed = turn
        .iter()
        .filter(|o| matches!(o, Outcome::Connected { route, .. } if route == "relayed"))
        .count();
    let stun = of(Ice::StunOnly);
    println!(
        "\nnat_matrix pairs={} connected={}/{} relayed={relayed} \
         stun_only_connected={}/{} connect_p95_ms={}",
        turn.len(),
        turn_connected.len(),
        turn.len(),
        connected(&stun).len(),
        stun.len(),
        p95(&turn_connected)
    );
    for (index, held) in &dropped {
        println!("cell {index}: the link did not hold for {HOLD:?}: {held:?}");
        wrong.push(*index);
    }
    if !wrong.is_empty() {
        let mut report = String::new();
        for index in &wrong {
            let cell = &cells[*index];
            report.push_str(&format!(
                "\ncell {index} ({} / {}, {:?}, late: {}): expected {:?}, got {:?}\n",
                cell.host.name(),
                cell.client.name(),
                cell.ice,
                cell.late,
                cell.expect,
                outcomes[*index]
            ));
            report.push_str(&hosts[*index].tail(30));
            report.push('\n');
            if let Some(client) = &mut clients[*index] {
                report.push_str(&client.tail(30));
            }
        }
        panic!(
            "{} cells went wrong:{report}\n{}",
            wrong.len(),
            lab.conntrack()
        );
    }
}

fn parse_outcome(line: &str) -> Outcome {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name))
            .map(str::to_owned)
    };
    let ms = field("ms=").and_then(|ms| ms.parse().ok()).unwrap_or(0);
    if line.starts_with("connected") {
        Outcome::Connected {
            ms,
            route: field("route=").unwrap_or_default(),
        }
    } else {
        let text = line
            .split_once("text=")
            .map(|(_, text)| text.to_owned())
            .unwrap_or_default();
        Outcome::Failed {
            ms,
            reason: field("reason=").unwrap_or_default(),
            text,
        }
    }
}

/// The 95th percentile (nearest rank), 0 for none.
fn p95(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => 0,
        n => sorted[((n * 95).div_ceil(100)).saturating_sub(1)],
    }
}

/// A folder for coturn's pid file and database, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("p2p-lab-coturn-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&path).expect("a scratch folder");
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lab's STUN server: coturn's.
const LAB_STUN: &str = "stun:198.51.100.1:3478";

/// Our signaling server on the lab's internet at `port`, handing out the
/// lab's STUN server and, with `turn` (comma-separated URLs, secret), TURN
/// credentials; serving `web_root` if given.
fn start_signaling(lab: &mut Lab, port: u16, turn: Option<(&str, &str)>, web_root: Option<&str>) {
    let exe = std::env::current_exe().expect("the test binary");
    let exe = exe.to_str().expect("a UTF-8 path");
    let bind = format!("{INTERNET}:{port}");
    let secs = CREDENTIAL_SECS.to_string();
    let mut env = vec![(ROLE, "signaling"), (BIND, bind.as_str()), (STUN, LAB_STUN)];
    if let Some((urls, secret)) = turn {
        env.extend([
            (TURN, urls),
            (TURN_SECRET, secret),
            (TURN_SECS, secs.as_str()),
        ]);
    }
    if let Some(root) = web_root {
        env.push((WEB_ROOT, root));
    }
    let server = lab.internet.spawn(
        &format!("signaling:{port}"),
        exe,
        &role_args("lab_signaling"),
        &env,
    );
    let server = lab.keep(server);
    if server
        .expect_line("LAB listening", Duration::from_secs(20))
        .is_none()
    {
        panic!("the signaling server did not start\n{}", server.tail(40));
    }
}

/// coturn on the lab's internet, with the shipped configuration.
fn start_coturn(lab: &mut Lab, scratch: &Scratch) {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/turnserver.conf");
    let pidfile = scratch.0.join("turnserver.pid");
    let userdb = scratch.0.join("turndb");
    let args = [
        "-c".to_owned(),
        config.to_owned(),
        format!("--listening-ip={INTERNET}"),
        format!("--relay-ip={INTERNET}"),
        format!("--listening-port={TURN_PORT}"),
        "--realm=lab.test".to_owned(),
        format!("--static-auth-secret={SECRET}"),
        // The lab's internet is a documentation range, which the shipped
        // file denies: allow it here, and only it.
        "--allowed-peer-ip=198.51.100.0-198.51.100.255".to_owned(),
        // No certificate in the lab: TURN over TLS is not tested here.
        "--no-tls".to_owned(),
        "--no-dtls".to_owned(),
        format!("--pidfile={}", pidfile.display()),
        format!("--userdb={}", userdb.display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let coturn = lab
        .internet
        .spawn("coturn", "/usr/bin/turnserver", &args, &[]);
    let coturn = lab.keep(coturn);
    // coturn prints its listeners as it opens them.
    if coturn
        .expect_line("Total General servers", Duration::from_secs(20))
        .is_none()
    {
        panic!("coturn did not start\n{}", coturn.tail(60));
    }
}

/// Role: the signaling server, configured from the environment; runs until
/// its wrapper stops it (bounded anyway).
#[test]
#[ignore = "a role of nat_matrix, started by it inside the lab"]
fn lab_signaling() {
    if std::env::var(ROLE).as_deref() != Ok("signaling") {
        return;
    }
    use bevy_p2p_signaling::{ServerConfig, ice::IceSettings, spawn_in_background};
    let var = |name| std::env::var(name).ok();
    let ice = IceSettings {
        stun: var(STUN).into_iter().collect(),
        turn: var(TURN)
            .map(|urls| urls.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        turn_secret: var(TURN_SECRET),
        credential_lifetime: Duration::from_secs(
            var(TURN_SECS).and_then(|s| s.parse().ok()).unwrap_or(3600),
        ),
    };
    let server = spawn_in_background(ServerConfig {
        bind: var(BIND)
            .expect("a bind address")
            .parse()
            .expect("an address"),
        ice,
        web_root: var(WEB_ROOT).map(std::path::PathBuf::from),
        ..Default::default()
    })
    .expect("the signaling server starts");
    println!("{REPORT}listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(600));
}

/// Role: a player, host or client, as a headless app with the plugin.
///
/// The host prints `LAB code=...`; the client joins and prints one
/// `LAB result connected ms=.. route=..` or `LAB result failed ms=..
/// reason=..` line, then both play on until stopped (bounded).
#[test]
#[ignore = "a role of nat_matrix, started by it inside the lab"]
fn lab_player() {
    let role = std::env::var(ROLE);
    if !matches!(role.as_deref(), Ok("host" | "client")) {
        return;
    }
    let hosting = role.as_deref() == Ok("host");
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        // Warnings and errors on stderr, which a failing cell shows.
        bevy::log::LogPlugin {
            level: bevy::log::Level::WARN,
            ..Default::default()
        },
        P2pMultiplayerPlugin,
    ))
    .insert_resource(P2pSettings {
        signaling_url: std::env::var(SIGNALING_URL).expect("a signaling URL"),
        // The default, spelled out: what this lab tests.
        ice_servers: match std::env::var(OWN_STUN_ONLY) {
            Ok(stun) => IceServers::Fixed(vec![IceServer {
                urls: vec![stun],
                username: None,
                credential: None,
            }]),
            Err(_) => IceServers::FromSignalingServer,
        },
        ..Default::default()
    });
    app.finish();
    app.cleanup();
    let request = if hosting {
        LobbyRequest::Host
    } else {
        LobbyRequest::Join(std::env::var(CODE).expect("a code"))
    };
    app.world_mut().write_message(request);
    let start = Instant::now();
    let mut reported = false;
    let mut connected_at = None;
    let mut held = false;
    while start.elapsed() < PLAYER_LIMIT {
        app.update();
        let ms = start.elapsed().as_millis();
        let session = app.world().resource::<Session>();
        if hosting && !reported {
            if let Some(code) = &session.code {
                println!("{REPORT}code={code}");
                reported = true;
            }
        } else if !hosting && !reported {
            let me = app
                .world()
                .resource::<Roster>()
                .players
                .iter()
                .find(|entry| entry.is_local)
                .copied();
            if let Some(route) = me.and_then(|me| me.route) {
                let route = match route {
                    LinkRoute::Direct => "direct",
                    LinkRoute::Relayed => "relayed",
                };
                println!("{REPORT}result connected ms={ms} route={route}");
                reported = true;
                connected_at = Some(start.elapsed());
            } else if let Some(failure) = &session.last_failure {
                println!("{REPORT}result failed ms={ms} reason={failure:?} text={failure}");
                reported = true;
            }
        }
        // A link that comes up must stay up: inputs and state keep flowing.
        if let Some(at) = connected_at
            && !held
            && start.elapsed() >= at + HOLD
        {
            let players = app.world().resource::<Roster>().players.len();
            let up = matches!(
                session.status,
                SessionStatus::InLobby | SessionStatus::Playing
            ) && players == 2;
            let verdict = if up { "up" } else { "lost" };
            println!(
                "{REPORT}held {verdict} status={:?} players={players}",
                session.status
            );
            held = true;
        }
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The coturn configuration we ship, as coturn enforces it: credentials the
/// signaling server makes are accepted, forged and expired ones are not,
/// relaying into private and loopback ranges is refused, and TURN over TCP
/// gets out of a network that drops all UDP. Checked with coturn's own
/// client, `turnutils_uclient`.
#[test]
fn coturn_takes_only_our_credentials_and_relays_only_to_the_internet() {
    if !sealed("coturn_takes_only_our_credentials_and_relays_only_to_the_internet") {
        return;
    }
    use bevy_p2p_signaling::ice::IceSettings;
    let scratch = Scratch::new("credentials");
    let mut lab = Lab::new();
    start_coturn(&mut lab, &scratch);
    let home = lab.add_home(Nat::PortPreserving);
    let walled = lab.add_home(Nat::BlocksUdp);
    let peer_host = lab.add_home(Nat::Public);
    // The peer the relay forwards to: coturn's echo peer, on the internet.
    let peer = lab.host(peer_host).spawn(
        "echo peer",
        "/usr/bin/turnutils_peer",
        &["-L", "198.51.100.100", "-p", "3480"],
        &[],
    );
    lab.keep(peer);
    std::thread::sleep(Duration::from_millis(300));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    // What GET /api/ice hands out, from the server's own code.
    let credential = |secret: &str, issued: u64, id: &str| {
        let settings = IceSettings {
            stun: Vec::new(),
            turn: vec![format!("turn:{INTERNET}:{TURN_PORT}")],
            turn_secret: Some(secret.to_owned()),
            credential_lifetime: Duration::from_secs(60),
        };
        let turn = settings.answer(issued, id).servers.remove(0);
        (
            turn.username.expect("a username"),
            turn.credential.expect("a password"),
        )
    };
    let fresh = credential(SECRET, now, "lab");
    // Another player's: coturn counts allocations per username.
    let fresh_tcp = credential(SECRET, now, "lab-tcp");
    let forged = credential("a-guessed-secret", now, "lab");
    // Issued two minutes ago for one minute: expired a minute ago.
    let expired = credential(SECRET, now - 120, "lab");

    let uclient = |home: usize, (user, password): &(String, String), peer: &str, tcp: bool| {
        let mut command = lab.host(home).command("timeout");
        command.args([
            "10",
            "/usr/bin/turnutils_uclient",
            "-u",
            user,
            "-w",
            password,
        ]);
        // One allocation each (-c: no second one for RTCP).
        command.args(["-e", peer, "-r", "3480", "-n", "3", "-c"]);
        if tcp {
            command.arg("-t");
        }
        command.arg(INTERNET);
        let output = command.output().expect("turnutils_uclient runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let public_peer = "198.51.100.100";
    let mut report = Vec::new();
    for (what, home, credential, peer, tcp, accepted, says) in [
        (
            "our credential",
            home,
            &fresh,
            public_peer,
            false,
            true,
            "Total lost packets 0",
        ),
        (
            "a forged credential",
            home,
            &forged,
            public_peer,
            false,
            false,
            "Cannot complete Allocation",
        ),
        (
            "an expired credential",
            home,
            &expired,
            public_peer,
            false,
            false,
            "Cannot complete Allocation",
        ),
        (
            "relaying to loopback",
            home,
            &fresh,
            "127.0.0.1",
            false,
            false,
            "403 (Forbidden IP)",
        ),
        (
            "relaying to a private LAN",
            home,
            &fresh,
            "192.168.1.2",
            false,
            false,
            "403 (Forbidden IP)",
        ),
        (
            "relaying to 10.0.0.0/8",
            home,
            &fresh,
            "10.213.0.1",
            false,
            false,
            "403 (Forbidden IP)",
        ),
        (
            "UDP from a network that drops UDP",
            walled,
            &fresh,
            public_peer,
            false,
            false,
            "",
        ),
        (
            "TCP from a network that drops UDP",
            walled,
            &fresh_tcp,
            public_peer,
            true,
            true,
            "Total lost packets 0",
        ),
    ] {
        let (ok, text) = uclient(home, credential, peer, tcp);
        let right = ok == accepted && text.contains(says);
        println!(
            "{what}: {} {}",
            if ok { "accepted" } else { "refused" },
            if right { "(as it should)" } else { "(WRONG)" }
        );
        if !right {
            report.push(format!(
                "--- {what}: expected accepted={accepted} saying {says:?}\n{text}"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Where `web/build.sh` put the browser arena (scripts/test builds it).
fn web_dist() -> String {
    let dist = std::env::var("P2P_WEB_DIST")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist").into());
    let path = std::path::Path::new(&dist);
    assert!(
        path.join("index.html").exists() && path.join("loader.js").exists(),
        "no browser build in {dist}: run web/build.sh (scripts/test does)"
    );
    dist
}

/// Players in Chromium join the arena hosted natively behind a symmetric
/// NAT: one behind another symmetric NAT (only a TURN relay joins them) and
/// one behind a router that drops all UDP (only TURN over TCP gets out).
/// Both links must come up relayed. Chromium and its chromedriver run
/// inside the home's namespace; the page takes its ICE servers from the
/// signaling server, like any page of the game. (The second case found that
/// upstream matchbox waits for ICE gathering to complete before sending its
/// SDP, which behind blocked UDP outlasts the handshake; the fork bounds
/// that wait.)
#[test]
fn browsers_behind_symmetric_nat_and_blocked_udp_play_through_turn() {
    if !sealed("browsers_behind_symmetric_nat_and_blocked_udp_play_through_turn") {
        return;
    }
    const PORT: u16 = 3540;
    let dist = web_dist();
    let scratch = Scratch::new("browser");
    let mut lab = Lab::new();
    start_coturn(&mut lab, &scratch);
    let turn = format!(
        "turn:{INTERNET}:{TURN_PORT}?transport=udp,turn:{INTERNET}:{TURN_PORT}?transport=tcp"
    );
    start_signaling(&mut lab, PORT, Some((&turn, SECRET)), Some(&dist));
    let mut failures = Vec::new();
    for browser_nat in [Nat::Symmetric, Nat::BlocksUdp] {
        let outcome = browser_joins(&mut lab, PORT, browser_nat);
        println!(
            "Chromium behind {}, native arena host behind a symmetric NAT: {outcome:?}",
            browser_nat.name()
        );
        if let Err(report) = outcome {
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        lab.conntrack()
    );
}

/// One arena host behind a symmetric NAT and one Chromium player behind
/// `browser_nat`: the player's outcome if relayed, else a report.
fn browser_joins(lab: &mut Lab, port: u16, browser_nat: Nat) -> Result<Outcome, String> {
    let host_home = lab.add_home(Nat::Symmetric);
    let browser_home = lab.add_home(browser_nat);
    let exe = std::env::current_exe().expect("the test binary");
    let exe = exe.to_str().expect("a UTF-8 path");
    // The host is the arena program (headless): the page is the arena too,
    // and replicon admits only clients of the same game.
    let arena = arena::arena_program();
    let url = format!("ws://{INTERNET}:{port}");
    let mut host = lab.host(host_home).spawn(
        "arena host",
        arena.to_str().expect("a UTF-8 path"),
        &["--headless", "--host", "--server", &url],
        &[],
    );
    let Some(code) = host.expect_line("code: ", Duration::from_secs(30)) else {
        return Err(format!("the host got no room\n{}", host.tail(40)));
    };
    let code = code.trim().to_owned();
    let page = format!("http://{INTERNET}:{port}/play/{code}");
    let mut browser = lab.host(browser_home).spawn(
        "chromium",
        exe,
        &role_args("lab_browser"),
        &[(ROLE, "browser"), (PAGE_URL, page.as_str())],
    );
    let result = browser.expect_line("LAB result ", Duration::from_secs(120));
    let outcome = result.as_deref().map_or(Outcome::NoAnswer, parse_outcome);
    // Chromium goes before its host does.
    browser.expect_line("LAB done", Duration::from_secs(20));
    match &outcome {
        Outcome::Connected { route, .. } if route == "relayed" => Ok(outcome),
        _ => Err(format!(
            "behind {}: expected a relayed link, got {outcome:?}\n{}\n{}",
            browser_nat.name(),
            browser.tail(200),
            host.tail(200),
        )),
    }
}

/// Role: a player in headless Chromium, driven from inside its home: opens
/// the share link and prints `LAB result connected ms=.. route=..` once the
/// page's title says how its link to the host travels, or `LAB result
/// failed` with the title after 90 s.
#[test]
#[ignore = "a role of the browser NAT test, started by it inside the lab"]
fn lab_browser() {
    if std::env::var(ROLE).as_deref() != Ok("browser") {
        return;
    }
    let page_url = std::env::var(PAGE_URL).expect("a page URL");
    let profile = std::env::temp_dir().join(format!("p2p-lab-chromium-{}", std::process::id()));
    let driver = webdriver::Chromedriver::start();
    let page = webdriver::Browser::open(&driver, &profile);
    let start = Instant::now();
    page.goto(&page_url);
    // A share page waits for a person to press Join.
    page.join_if_offered();
    let mut title = String::new();
    while start.elapsed() < Duration::from_secs(90) {
        let now = page.title();
        if now != title {
            eprintln!("{:>6} ms: {now}", start.elapsed().as_millis());
            title = now;
        }
        let route = title
            .split(" | ")
            .find_map(|field| field.strip_prefix("link="));
        if let Some(route) = route {
            let ms = start.elapsed().as_millis();
            println!("{REPORT}result connected ms={ms} route={route}");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !title.contains("link=") {
        for line in page.console() {
            eprintln!("console: {line}");
        }
        let ms = start.elapsed().as_millis();
        println!("{REPORT}result failed ms={ms} reason=PageTitle text={title}");
    }
    page.close();
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    println!("{REPORT}done");
    let _ = std::io::stdout().flush();
}
