//! The browser tier: the arena's wasm build in headless Chromium (Debian's
//! `chromium` and `chromium-driver`, driven over WebDriver), our signaling
//! server serving it, real WebRTC between browsers and a native host.
//!
//! Sealed like every network test (see `support/sealed.rs`); the pages use
//! no STUN server (`?ice=none`). Needs `web/dist` (`web/build.sh`, which
//! `scripts/test` runs first). Screenshots go to the test's temp directory.

use core::time::Duration;
use std::path::PathBuf;

use bevy_p2p_multiplayer::prelude::*;
use bevy_p2p_signaling::{BackgroundServer, ServerConfig, spawn_in_background};

#[path = "support/arena.rs"]
mod arena;
#[path = "support/members.rs"]
mod members;
#[path = "support/sealed.rs"]
mod sealed;
#[path = "support/webdriver.rs"]
mod webdriver;

use arena::ArenaProcess;
use matchbox_socket::PeerSignal;
use members::{BAD_ANSWERS, BOGUS_CANDIDATES, RawMember, answer_then_send_bogus_candidates};
use sealed::{sealed, wait};
use webdriver::{Browser, Chromedriver};

fn web_dist() -> PathBuf {
    let dist = std::env::var("P2P_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")));
    assert!(
        dist.join("index.html").exists() && dist.join("loader.js").exists(),
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

/// The arena program itself as a native headless host on `server` (the
/// same program players run, so its protocol matches the pages'), once it
/// has its room's code. It reports its players' positions.
fn native_host(server: &BackgroundServer) -> (ArenaProcess, String) {
    let mut host = ArenaProcess::start([
        "--host".to_string(),
        "--no-stun".into(),
        "--report-players".into(),
        "--server".into(),
        format!("ws://{}", server.local_addr()),
    ]);
    wait(
        Duration::from_secs(20),
        "the native host has a code",
        || {
            host.poll();
            host.code().is_some()
        },
    );
    let code = host.code().expect("a code");
    (host, code)
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

/// The share code in a page title: the arena writes it as a `code=` field
/// (`Arena | In lobby QMZPMX | players=1 | code=QMZPMX`), so the code is read
/// from a place that always holds it, whatever letters it is made of.
fn code_in(title: &str) -> Option<ShareCode> {
    title
        .split(" | ")
        .find_map(|field| field.strip_prefix("code="))
        .and_then(|code| code.parse().ok())
}

#[test]
fn codes_are_read_from_titles_with_and_without_digits() {
    for code in ["QMZPMX", "ABC234", "234567", "Z2Z2Z2"] {
        let title = format!("Arena | In lobby {code} | players=1 | code={code}");
        assert_eq!(
            code_in(&title).map(|c| c.to_string()).as_deref(),
            Some(code),
            "{title}"
        );
    }
    for title in [
        "Arena | Connecting… | players=0",
        "Arena | Not in a game | players=0",
        "Arena | Game not found | players=0 | code=",
        "Arena | In lobby QMZPM0 | players=1 | code=QMZPM0",
        "Loading the arena…",
    ] {
        assert_eq!(code_in(title), None, "{title}");
    }
}

#[test]
fn browser_players_join_a_native_host_by_link_and_see_it_go() {
    if !sealed("browser_players_join_a_native_host_by_link_and_see_it_go") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let (mut host, code) = native_host(&server);

    let driver = Chromedriver::start();
    let pages: Vec<Browser> = (0..2)
        .map(|n| Browser::open(&driver, &profile(&format!("join{n}"))))
        .collect();
    for page in &pages {
        page.goto(&format!("{base}/play/{code}?ice=none"));
        // The share page waits for a person to press Join.
        page.join_if_offered();
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
    let moved_right = |host: &ArenaProcess| {
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

    // F3 shows the network overlay, in the top right corner.
    let before = Screenshot::decode(&pages[0].screenshot_png());
    pages[0].hold_key(F3, Duration::from_millis(50));
    wait(Duration::from_secs(5), "the network overlay", || {
        let after = Screenshot::decode(&pages[0].screenshot_png());
        let changed = changed_in_top_right(&before, &after);
        changed > 1_500
    });
    pages[0].screenshot(&shots.join("network-overlay.png"));

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
    println!("the browser host's code: {code}");
    let guest = Browser::open(&driver, &profile("guest"));
    guest.goto(&format!("{base}/play/{code}?ice=none"));
    guest.join_if_offered();
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

/// The profile folder of the browser that [`fails_with_a_browser_open`]
/// starts: its processes carry it on their command lines, so they can be
/// counted.
const DOOMED_PROFILE: &str = "P2P_DOOMED_PROFILE";

/// Chromium processes whose command line names `profile`.
fn browser_processes(profile: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(profile))
        .count()
}

/// Run only by [`a_failed_browser_test_leaves_no_browser_behind`], in a
/// child process: opens a browser, says how many processes it made, fails.
#[test]
#[ignore = "fails on purpose; a_failed_browser_test_leaves_no_browser_behind runs it"]
fn fails_with_a_browser_open() {
    let profile = PathBuf::from(std::env::var(DOOMED_PROFILE).expect("run by the parent test"));
    let driver = Chromedriver::start();
    let page = Browser::open(&driver, &profile);
    page.goto("about:blank");
    println!(
        "browser processes while open: {}",
        browser_processes(&profile.to_string_lossy())
    );
    panic!("failing on purpose with a browser open");
}

#[test]
fn a_failed_browser_test_leaves_no_browser_behind() {
    if !sealed("a_failed_browser_test_leaves_no_browser_behind") {
        return;
    }
    let doomed = profile("doomed");
    let marker = doomed.to_string_lossy().to_string();
    let output = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--ignored",
            "--exact",
            "fails_with_a_browser_open",
            "--nocapture",
        ])
        .env(DOOMED_PROFILE, &marker)
        .output()
        .expect("the failing test runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "it was meant to fail: {stdout}");
    let while_open: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("browser processes while open: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the failing test never opened its browser: {stdout}"));
    assert!(
        while_open > 0,
        "no browser process found while it was open: the count is blind"
    );
    // The child process has exited: its drops ran while it unwound.
    let after = browser_processes(&marker);
    println!("browser processes: {while_open} while open, {after} after the failed test");
    assert_eq!(after, 0, "a failed test left Chromium running");
}

#[test]
fn the_arena_fits_a_small_window() {
    if !sealed("the_arena_fits_a_small_window") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let driver = Chromedriver::start();
    let page = Browser::open_sized(&driver, &profile("small"), (800, 600));
    page.set_viewport(800, 600);
    page.goto(&format!("{base}/?host&ice=none"));
    wait(Duration::from_secs(240), "the small page hosts", || {
        code_in(&page.title()).is_some()
    });
    // Let the lobby settle, then look: the whole floor must be inside the
    // page, with the background on all four sides of it.
    std::thread::sleep(Duration::from_secs(2));
    let png = page.screenshot_png();
    std::fs::write(artifacts().join("arena-800x600.png"), &png).expect("the screenshot is written");
    page.close();
    let shot = Screenshot::decode(&png);
    println!("screenshot: {}x{}", shot.width, shot.height);
    assert_eq!((shot.width, shot.height), (800, 600), "the page's size");
    // Across the middle row (the lobby window sits in the middle, so the
    // column is taken at a quarter of the width).
    let row: Vec<Shade> = (0..shot.width)
        .map(|x| shot.shade(x, shot.height / 2))
        .collect();
    let column: Vec<Shade> = (0..shot.height)
        .map(|y| shot.shade(shot.width / 4, y))
        .collect();
    for (name, line) in [("middle row", &row), ("quarter column", &column)] {
        let first = line.iter().position(|s| *s == Shade::Floor);
        let last = line.iter().rposition(|s| *s == Shade::Floor);
        let (Some(first), Some(last)) = (first, last) else {
            panic!("no arena floor on the {name}: {line:?}");
        };
        println!("{name}: floor from {first} to {last} of {}", line.len());
        assert!(
            line[..first].contains(&Shade::Background)
                && line[last + 1..].contains(&Shade::Background),
            "the arena is cut at the {name}'s ends: floor from {first} to {last} of {}",
            line.len()
        );
    }
}

/// A stand-in for the server's share page, with the elements the page and
/// `loader.js` agree on (issue 13's contract): a canvas, a Join button, a
/// progress bar, the no-WebGL2 note, and the loader.
const JOIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Join test</title></head>
<body style="margin:0;height:100vh">
<canvas id="arena" tabindex="0" style="display:block;width:100%;height:100%"></canvas>
<button id="p2p-join" style="position:fixed;top:8px;left:8px">Join</button>
<progress id="p2p-progress" style="position:fixed;top:40px;left:8px"></progress>
<p id="p2p-no-webgl" hidden>no WebGL2</p>
<script type="module" src="/loader.js"></script>
</body></html>"#;

#[test]
fn a_page_with_a_join_button_starts_the_game_only_when_it_is_pressed() {
    if !sealed("a_page_with_a_join_button_starts_the_game_only_when_it_is_pressed") {
        return;
    }
    // The browser build plus the stand-in page at /t/play/{CODE}/ (the
    // arena reads the code from the path's last `/play/` segment).
    let root = artifacts().join(format!("join-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("the web root");
    for entry in std::fs::read_dir(web_dist()).expect("web/dist") {
        let path = entry.expect("a web/dist entry").path();
        if path.is_file() {
            std::fs::copy(&path, root.join(path.file_name().expect("a name"))).expect("copied");
        }
    }
    let server = spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        web_root: Some(root.clone()),
        ..Default::default()
    })
    .expect("the signaling server starts");
    let base = format!("http://{}", server.local_addr());
    let (mut host, code) = native_host(&server);
    let page_dir = root.join("t/play").join(&code);
    std::fs::create_dir_all(&page_dir).expect("the page's folder");
    std::fs::write(page_dir.join("index.html"), JOIN_PAGE).expect("the page");

    let driver = Chromedriver::start();
    let page = Browser::open(&driver, &profile("join-button"));
    page.goto(&format!("{base}/t/play/{code}/?ice=none"));
    let classes = || {
        page.execute("return document.body.className;", serde_json::json!([]))
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    wait(Duration::from_secs(120), "the game downloaded", || {
        classes().contains("p2p-downloaded")
    });
    // Downloaded and compiled, but nobody pressed Join: nothing runs.
    std::thread::sleep(Duration::from_secs(3));
    host.poll();
    let before = (page.title(), classes(), host.players());
    println!("before Join: {before:?}");
    assert_eq!(before.0, "Join test", "the game did not take the title");
    assert!(
        !before.1.contains("p2p-playing"),
        "not started: {}",
        before.1
    );
    assert_eq!(before.2, 1, "only the host in the room");

    assert!(page.join_if_offered(), "the page has its Join button");
    wait(Duration::from_secs(240), "playing after Join", || {
        page.title().contains("Playing")
    });
    host.poll();
    let after = (page.title(), classes(), host.players());
    println!("after Join: {after:?}");
    page.close();
    drop(driver);
    drop(host);
    let _ = std::fs::remove_dir_all(&root);
    assert!(after.1.contains("p2p-playing"), "body marked: {}", after.1);
    assert_eq!(after.2, 2, "the page's player joined the host");
}

#[test]
fn a_browser_without_webgl2_is_told_so_and_downloads_nothing() {
    if !sealed("a_browser_without_webgl2_is_told_so_and_downloads_nothing") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let driver = Chromedriver::start();
    // No WebGL (nor WebGL2) at all in this browser.
    let page = Browser::open_with(
        &driver,
        &profile("no-webgl"),
        (1280, 720),
        &["--disable-3d-apis"],
    );
    page.goto(&format!("{base}/?ice=none"));
    let state = || {
        page.execute(
            "const note = document.getElementById('p2p-no-webgl');
             return [
               document.body.classList.contains('p2p-no-webgl'),
               note !== null && !note.hidden,
               performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.wasm')).length,
             ];",
            serde_json::json!([]),
        )
    };
    wait(Duration::from_secs(30), "the no-WebGL2 note shows", || {
        state()[0] == serde_json::json!(true)
    });
    // Give a download that should not happen the time to start.
    std::thread::sleep(Duration::from_secs(2));
    let seen = state();
    println!("no WebGL2: [marked, note shown, wasm requests] = {seen}");
    page.screenshot(&artifacts().join("no-webgl2.png"));
    page.close();
    assert_eq!(seen, serde_json::json!([true, true, 0]));
}

/// What a pixel of the arena shows, roughly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shade {
    /// The clear colour around the arena (0.05, 0.05, 0.07).
    Background,
    /// The arena's floor (0.11, 0.12, 0.15).
    Floor,
    /// Anything else: players, bullets, overlays.
    Other,
}

/// A decoded RGBA screenshot.
struct Screenshot {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
}

impl Screenshot {
    fn decode(png_bytes: &[u8]) -> Self {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let channels = info.color_type.samples();
        let rgba = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|px| [px[0], px[1 % channels], px[2 % channels], 255])
            .collect();
        Self {
            width: info.width as usize,
            height: info.height as usize,
            rgba,
        }
    }

    fn shade(&self, x: usize, y: usize) -> Shade {
        let i = (y * self.width + x) * 4;
        let sum: u32 = self.rgba[i..i + 3].iter().map(|&c| u32::from(c)).sum();
        // sRGB 8-bit sums: background 13+13+18 = 44, floor 28+31+38 = 97.
        match sum {
            0..=65 => Shade::Background,
            75..=125 => Shade::Floor,
            _ => Shade::Other,
        }
    }
}

/// WebDriver's code for the F3 key.
const F3: &str = "\u{E033}";

/// Pixels that changed clearly between two screenshots in the top right
/// corner, where the network overlay opens (400 by 160 pixels).
fn changed_in_top_right(before: &Screenshot, after: &Screenshot) -> usize {
    let (width, height) = (
        before.width.min(after.width),
        before.height.min(after.height),
    );
    let mut changed = 0;
    for y in 40..height.min(200) {
        for x in width.saturating_sub(420)..width.saturating_sub(20) {
            let at = |shot: &Screenshot| {
                let i = (y * shot.width + x) * 4;
                [shot.rgba[i], shot.rgba[i + 1], shot.rgba[i + 2]]
            };
            let (a, b) = (at(before), at(after));
            let delta: u32 = a
                .iter()
                .zip(&b)
                .map(|(a, b)| u32::from(a.abs_diff(*b)))
                .sum();
            changed += usize::from(delta > 60);
        }
    }
    changed
}

/// Console lines that mean the page's wasm died.
fn is_panic(line: &str) -> bool {
    ["panicked", "RuntimeError", "unreachable"]
        .iter()
        .any(|sign| line.contains(sign))
}

#[test]
fn a_browser_host_shrugs_off_hostile_members() {
    if !sealed("a_browser_host_shrugs_off_hostile_members") {
        return;
    }
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let driver = Chromedriver::start();
    let host = Browser::open(&driver, &profile("hostile-host"));
    host.goto(&format!("{base}/?host&start&ice=none"));
    wait(Duration::from_secs(240), "the page hosts", || {
        code_in(&host.title()).is_some()
    });
    let code = code_in(&host.title()).expect("a code").to_string();
    // The real player: the arena program, native, its player scripted.
    let mut player = ArenaProcess::start([
        "--join".to_string(),
        code.clone(),
        "--bot".into(),
        "--no-stun".into(),
        "--server".into(),
        format!("ws://{}", server.local_addr()),
    ]);
    wait(Duration::from_secs(60), "two players, playing", || {
        player.poll();
        host.title().contains("players=2")
            && player
                .lines()
                .iter()
                .any(|l| l.starts_with("status: Playing"))
    });
    let before_attacks = host.console();
    let room_url = format!("ws://{}/{code}", server.local_addr());

    for answer in BAD_ANSWERS {
        let mut member = RawMember::join(&room_url);
        let page = member.offer();
        member.send(page, PeerSignal::Answer(answer.into()));
        std::thread::sleep(Duration::from_millis(500));
        member.leave();
    }
    // A valid answer, then bogus candidates: the page's handshake goes on
    // past them, and the member links.
    let linked =
        answer_then_send_bogus_candidates(&room_url, &BOGUS_CANDIDATES, Duration::from_secs(2));
    assert!(linked, "the member with a valid answer linked to the page");

    // The page keeps its player and keeps drawing it as it moves.
    // The member that linked and vanished (no goodbye) keeps its player
    // for the client grace (30 s), as any player whose link went down.
    wait(
        Duration::from_secs(45),
        "the page back to two players",
        || host.title().contains("players=2"),
    );
    let first = host.screenshot_png();
    std::thread::sleep(Duration::from_secs(2));
    let second = host.screenshot_png();
    assert_ne!(first, second, "the page still draws the moving player");
    host.screenshot(&artifacts().join("browser-host-after-attacks.png"));
    player.poll();
    let statuses: Vec<&String> = player
        .lines()
        .iter()
        .filter(|l| l.starts_with("status: "))
        .collect();
    assert!(
        statuses.iter().all(|l| {
            [
                "status: Idle",
                "status: Connecting",
                "status: InLobby",
                "status: Playing",
            ]
            .iter()
            .any(|ok| l.starts_with(ok))
        }),
        "the native player saw nothing but playing: {statuses:?}"
    );
    let console: Vec<String> = before_attacks.into_iter().chain(host.console()).collect();
    let panics: Vec<&String> = console.iter().filter(|l| is_panic(l)).collect();
    assert!(panics.is_empty(), "the page's console: {panics:?}");
    // The bad answers reached the page's WebRTC stack and failed there.
    let failed: Vec<&String> = console
        .iter()
        .filter(|l| l.contains("handshake with peer") && l.contains("failed"))
        .collect();
    for line in &failed {
        println!("console: {line}");
    }
    assert!(
        failed.len() >= 4,
        "each bad answer failed a handshake: {failed:?}"
    );
    // And the bogus candidates reached the browser, which refused them.
    assert!(
        console
            .iter()
            .any(|l| l.contains("ignoring an ice candidate the browser refused")),
        "the bogus candidates were refused and skipped"
    );
    println!(
        "browser host under attack: {} console lines, none a panic; statuses {statuses:?}",
        console.len()
    );
    host.close();
}

/// One visit to a share link, as the benchmark saw it.
struct Visit {
    /// From asking for the page to the title saying `Playing`.
    seconds: f64,
    /// The wasm's Resource Timing entry: bytes over the wire (headers
    /// included; 0 from the cache), the body as sent, the body decoded.
    transfer: u64,
    encoded: u64,
    decoded: u64,
}

/// Opens `url` in `page`, presses Join if the page has one, and times the
/// way to `Playing` in the title.
fn visit(page: &Browser, url: &str) -> Visit {
    let start = std::time::Instant::now();
    page.goto(url);
    page.join_if_offered();
    wait(Duration::from_secs(300), "playing", || {
        page.title().contains("Playing")
    });
    let seconds = start.elapsed().as_secs_f64();
    let entry = page.execute(
        "const e = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));
         return e ? [e.transferSize, e.encodedBodySize, e.decodedBodySize] : null;",
        serde_json::json!([]),
    );
    let field = |i: usize| {
        entry[i]
            .as_u64()
            .unwrap_or_else(|| panic!("no Resource Timing entry for the wasm: {entry}"))
    };
    Visit {
        seconds,
        transfer: field(0),
        encoded: field(1),
        decoded: field(2),
    }
}

/// Which of `web/dist`'s copies of the wasm a body of `encoded` bytes is.
fn encoding_of(dist: &std::path::Path, encoded: u64) -> &'static str {
    let wasm = std::fs::read_dir(dist)
        .expect("web/dist")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .expect("a .wasm in web/dist");
    let size = |suffix: &str| {
        let mut name = wasm.clone().into_os_string();
        name.push(suffix);
        std::fs::metadata(name).map(|m| m.len()).ok()
    };
    [("br", ".br"), ("gzip", ".gz"), ("identity", "")]
        .into_iter()
        .find(|(_, suffix)| size(suffix) == Some(encoded))
        .map_or("unknown", |(name, _)| name)
}

/// The browser benchmark: link to playing, the way a friend gets there.
/// A native headless host's room; Chromium opens its share link, presses
/// Join if the page has a button, and waits for `Playing` in the title.
/// Three visits: cold (a fresh profile), warm (the same profile again:
/// the wasm must come from the cache) and cold over a throttled link
/// (20 Mbit/s down, 40 ms latency, chromedriver's network conditions).
/// Then a screenshot of the loading page mid-download. Prints the figures,
/// the last line for the README. Run it by name, in the sealed namespace:
///
/// ```text
/// P2P_WEB_DIST=$PWD/web/dist scripts/loopback-netns cargo test -p bevy_p2p_multiplayer \
///   --test browser link_to_playing -- --ignored --nocapture
/// ```
#[test]
#[ignore = "a benchmark: run by name (see its doc)"]
fn link_to_playing_benchmark() {
    assert_eq!(
        std::env::var("P2P_SEALED_NETNS").as_deref(),
        Ok("1"),
        "run the benchmark inside scripts/loopback-netns (see its doc)"
    );
    let dist = web_dist();
    let server = server();
    let base = format!("http://{}", server.local_addr());
    let (host, code) = native_host(&server);
    let url = format!("{base}/play/{code}?ice=none");
    let driver = Chromedriver::start();

    let warm_profile = profile("bench-cold");
    let page = Browser::open(&driver, &warm_profile);
    let cold = visit(&page, &url);
    page.close();
    let page = Browser::open(&driver, &warm_profile);
    let warm = visit(&page, &url);
    page.close();
    let page = Browser::open(&driver, &profile("bench-throttled"));
    // 20 Mbit/s down (2.5 MB/s), 5 Mbit/s up, 40 ms.
    page.set_network_conditions(Duration::from_millis(40), 2_500_000, 625_000);
    let throttled = visit(&page, &url);
    page.close();

    for (name, v) in [("cold", &cold), ("warm", &warm), ("throttled", &throttled)] {
        println!(
            "{name}: {:.2} s to Playing; wasm transferSize={} encodedBodySize={} decodedBodySize={} ({})",
            v.seconds,
            v.transfer,
            v.encoded,
            v.decoded,
            encoding_of(&dist, v.encoded)
        );
    }

    // The loading page mid-download, over a slower link so that there is
    // time to look at it.
    let page = Browser::open(&driver, &profile("bench-screenshot"));
    page.set_network_conditions(Duration::from_millis(40), 500_000, 125_000);
    page.goto(&url);
    page.join_if_offered();
    let progress = || {
        page.execute(
            "const p = document.getElementById('p2p-progress');
             return p && p.max > 0 ? p.value / p.max : 0;",
            serde_json::json!([]),
        )
        .as_f64()
        .unwrap_or(0.0)
    };
    wait(
        Duration::from_secs(120),
        "the download a quarter done",
        || progress() >= 0.25,
    );
    page.screenshot(&artifacts().join("loading-progress.png"));
    page.close();
    drop(driver);
    drop(host);

    // Cached for good: the second visit took no wasm over the wire.
    assert_eq!(warm.transfer, 0, "the warm visit downloaded the wasm again");
    assert_eq!(cold.decoded, throttled.decoded, "the same wasm both times");
    println!(
        "link_to_playing_cold_s={:.2} link_to_playing_throttled_s={:.2} link_to_playing_warm_s={:.2} wasm_transfer_bytes={} wasm_encoding={} wasm_raw_bytes={}",
        cold.seconds,
        throttled.seconds,
        warm.seconds,
        cold.transfer,
        encoding_of(&dist, cold.encoded),
        cold.decoded
    );
}
