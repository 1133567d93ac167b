//! The browser tier: the arena's wasm build in headless Chromium (Debian's
//! `chromium` and `chromium-driver`, driven over WebDriver), our signaling
//! server serving it, real WebRTC between browsers and a native host.
//!
//! Sealed like every network test (see `support/sealed.rs`); the pages use
//! no STUN server (`?ice=none`). Needs `web/dist` (`web/build.sh`, which
//! `scripts/test` runs first). Screenshots go to the test's temp directory.

use core::time::Duration;
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::Receiver,
    time::Instant,
};

use bevy_p2p_multiplayer::prelude::*;
use bevy_p2p_signaling::{BackgroundServer, ServerConfig, spawn_in_background};

#[path = "support/sealed.rs"]
mod sealed;
#[path = "support/webdriver.rs"]
mod webdriver;

use sealed::sealed;
use webdriver::{Browser, Chromedriver};

fn web_dist() -> PathBuf {
    let dist = std::env::var("P2P_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")));
    assert!(
        dist.join("index.html").exists() && dist.join("arena_bg.wasm").exists(),
        "no browser build in {}: run web/build.sh (scripts/test does)",
        dist.display()
    );
    dist
}

fn server() -> BackgroundServer {
    spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        web_root: Some(web_dist()),
        ..Default::default()
    })
    .expect("the signaling server starts")
}

/// A player's first and latest reported position, pixels.
type Travel = ((f32, f32), (f32, f32));

/// The arena example itself as a native headless host, in its own process:
/// the same program players run, so its protocol matches the pages'.
struct ArenaHost {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl ArenaHost {
    fn start(server: &BackgroundServer) -> Self {
        // Integration tests live in target/<profile>/deps; examples beside.
        let exe = std::env::current_exe().expect("the test binary's path");
        let arena = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("examples").join("arena"))
            .expect("the target folder");
        assert!(
            arena.exists(),
            "{} is missing: `cargo test` builds the examples",
            arena.display()
        );
        let mut child = Command::new(&arena)
            .args([
                "--headless",
                "--host",
                "--no-stun",
                "--report-players",
                "--server",
            ])
            .arg(format!("ws://{}", server.local_addr()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the arena starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn poll(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    fn code(&self) -> Option<String> {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix("code: ").map(str::to_string))
    }

    fn players(&self) -> usize {
        self.seen
            .iter()
            .rev()
            .find_map(|l| {
                l.rsplit_once("players: ")
                    .and_then(|(_, n)| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Each slot's first and latest reported position.
    fn travels(&self) -> BTreeMap<u8, Travel> {
        let mut travels = BTreeMap::new();
        for line in &self.seen {
            let Some(rest) = line.strip_prefix("player ") else {
                continue;
            };
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name))
                    .and_then(|v| v.parse::<f32>().ok())
            };
            let (Some(slot), Some(x), Some(y)) = (field("slot="), field("x="), field("y=")) else {
                continue;
            };
            let entry = travels.entry(slot as u8).or_insert(((x, y), (x, y)));
            entry.1 = (x, y);
        }
        travels
    }
}

impl Drop for ArenaHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("the artifacts folder");
    dir
}

fn profile(name: &str) -> PathBuf {
    let dir = artifacts().join(format!("profile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Polls `done` until it holds; panics at `limit`.
fn wait(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            println!("{what}: {:.1} s", start.elapsed().as_secs_f64());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

fn code_in(title: &str) -> Option<String> {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|word| {
            word.len() == 6
                && word.parse::<ShareCode>().is_ok()
                && word.chars().any(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
}

#[test]
fn browser_players_join_a_native_host_by_link_and_see_it_go() {
    if !sealed("browser_players_join_a_native_host_by_link_and_see_it_go") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let mut host = ArenaHost::start(&server);
    wait(
        Duration::from_secs(20),
        "the native host has a code",
        || {
            host.poll();
            host.code().is_some()
        },
    );
    let code = host.code().expect("a code");

    let driver = Chromedriver::start();
    let pages: Vec<Browser> = (0..2)
        .map(|n| Browser::open(&driver, &profile(&format!("join{n}"))))
        .collect();
    for page in &pages {
        page.goto(&format!("{base}/play/{code}?ice=none"));
    }
    let titles = || pages.iter().map(Browser::title).collect::<Vec<_>>();
    wait(Duration::from_secs(240), "three players everywhere", || {
        host.poll();
        host.players() == 3 && titles().iter().all(|t| t.contains("players=3"))
    });
    println!("titles: {:?}", titles());
    // The headless host started its game at once: the pages play.
    wait(Duration::from_secs(20), "playing in the pages", || {
        titles().iter().all(|t| t.contains("Playing"))
    });

    // A browser player holds D: its player moves right on the host. A page
    // rendered by SwiftShader on a busy machine may run few frames, so the
    // key is held up to three times, 3 s each, until the host reports a move
    // of at least one tick's step (4 px).
    let moved_right = |host: &ArenaHost| {
        host.travels()
            .values()
            .any(|(from, to)| to.0 - from.0 >= 4.0)
    };
    for attempt in 1..=3 {
        pages[0].click_canvas();
        pages[0].hold_key("d", Duration::from_secs(3));
        std::thread::sleep(Duration::from_secs(2));
        host.poll();
        if moved_right(&host) {
            println!("moved after {attempt} key hold(s)");
            break;
        }
    }
    assert!(
        moved_right(&host),
        "the browser player's key moved nothing on the host: {:?}",
        host.travels()
    );
    let travels = host.travels();
    println!("travels on the host: {travels:?}");
    let moved: Vec<u8> = travels
        .iter()
        .filter(|(_, (from, to))| from != to)
        .map(|(slot, _)| *slot)
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly the pressing player moved: {travels:?}"
    );
    assert_ne!(moved[0], 0, "a browser player, not the host");

    let shots = artifacts();
    pages[0].screenshot(&shots.join("join-by-link-playing.png"));

    // The host's process dies: the pages count down.
    drop(host);
    wait(
        Duration::from_secs(20),
        "the pages show the countdown",
        || titles().iter().all(|t| t.contains("Host disconnected")),
    );
    println!("titles: {:?}", titles());
    pages[1].screenshot(&shots.join("host-away-countdown.png"));
    for page in &pages {
        page.close();
    }
}

#[test]
fn a_browser_hosts_and_another_browser_joins() {
    if !sealed("a_browser_hosts_and_another_browser_joins") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let driver = Chromedriver::start();
    let host = Browser::open(&driver, &profile("host"));
    host.goto(&format!("{base}/?host&ice=none"));
    wait(
        Duration::from_secs(240),
        "the browser host has a code",
        || {
            let title = host.title();
            println!("host page: {title}");
            code_in(&title).is_some()
        },
    );
    let code = code_in(&host.title()).expect("a code in the host's title");
    let guest = Browser::open(&driver, &profile("guest"));
    guest.goto(&format!("{base}/play/{code}?ice=none"));
    wait(
        Duration::from_secs(240),
        "two players in both pages",
        || host.title().contains("players=2") && guest.title().contains("players=2"),
    );
    println!("titles: {:?} {:?}", host.title(), guest.title());
    let shots = artifacts();
    host.screenshot(&shots.join("browser-host-lobby.png"));
    guest.screenshot(&shots.join("browser-guest-lobby.png"));
    host.close();
    guest.close();
}
