//! The soak tier: 200 joins and leaves against one host and one signaling
//! server, real WebRTC, in a test binary of its own so that the process's
//! descriptors and memory are this test's alone. Runs inside a sealed
//! network namespace (`scripts/loopback-netns`); run outside one, it re-runs
//! itself inside one.

use core::time::Duration;
use std::time::Instant;

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;

#[path = "support/faulty_game.rs"]
mod faulty_game;
#[path = "support/players.rs"]
mod players;
#[path = "support/sealed.rs"]
mod support;
use faulty_game::{a_game, input_arrives, player_app, playing, server};
use players::{roster_len, run_until, session};
use support::sealed;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux /proc")
        .count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// One player joins the room and leaves it again.
fn join_and_leave(apps: &mut [&mut App], code: &str, players: usize) {
    apps[2]
        .world_mut()
        .write_message(LobbyRequest::Join(code.to_owned()));
    run_until(
        apps,
        Duration::from_secs(20),
        "the soak player in",
        |apps| apps.iter().all(|app| roster_len(app) == players + 1),
    );
    apps[2].world_mut().write_message(LobbyRequest::Leave);
    run_until(
        apps,
        Duration::from_secs(10),
        "the soak player out",
        |apps| {
            apps[..2].iter().all(|app| roster_len(app) == players)
                && session(apps[2]).status == SessionStatus::Idle
        },
    );
}

#[test]
fn two_hundred_joins_and_leaves_leak_nothing() {
    if !sealed("two_hundred_joins_and_leaves_leak_nothing") {
        return;
    }
    const WARM_UP: usize = 10;
    const CYCLES: usize = 200;
    let server = server("127.0.0.1:0".parse().expect("an address"));
    let (mut apps, code) = a_game(server.local_addr(), 1);
    let mut soak = player_app(server.local_addr());
    let mut refs: Vec<&mut App> = apps.iter_mut().collect();
    refs.push(&mut soak);
    for _ in 0..WARM_UP {
        join_and_leave(&mut refs, &code, 2);
    }
    let (fds_before, rss_before) = (open_fds(), rss_kib());
    let started = Instant::now();
    for _ in 0..CYCLES {
        join_and_leave(&mut refs, &code, 2);
    }
    let took = started.elapsed();
    // What the last goodbyes hold (half a second of links) is let go.
    let settle = Instant::now();
    let mut fds = open_fds();
    while fds > fds_before && settle.elapsed() < Duration::from_secs(10) {
        for app in refs.iter_mut() {
            app.update();
        }
        std::thread::sleep(Duration::from_millis(20));
        fds = open_fds();
    }
    let rss = rss_kib();
    println!(
        "soak: {CYCLES} joins and leaves in {:.1} s ({:.0} ms each); open_fds {fds_before} -> {fds}; \
         rss_kib {rss_before} -> {rss} ({:+.1} MB)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / CYCLES as f64,
        (rss as f64 - rss_before as f64) / 1024.0,
    );
    assert!(
        fds <= fds_before,
        "descriptors leaked: {fds_before} -> {fds}"
    );
    assert!(
        rss < rss_before + 30 * 1024,
        "RSS grew {rss_before} KiB -> {rss} KiB"
    );
    // The game itself went on: the steady client still plays.
    assert!(refs[..2].iter().all(|app| playing(app)));
    input_arrives(&mut refs, 1, 6, Duration::from_secs(5));
}
