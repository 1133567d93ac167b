//! Input-to-seen latency over real WebRTC, in figures.
//!
//! Our signaling server and a host with five clients, each a separate Bevy
//! app in this process, linked by real WebRTC data channels on loopback (no
//! STUN, no TURN), all updated in turn about 200 times a second as in the
//! real tiers. The game is as small as a game can be: each client sends a
//! sequence number as its input, one new number every `FixedUpdate` tick
//! (60 Hz); the host copies each player's input into an `Echo` component
//! of that player, replicated to everyone.
//!
//! A number's latency is from the moment its client's app wrote it into
//! `LocalInput` to the moment a client's app first holds the replicated
//! `Echo` with that number (or a later one): for the client that sent it
//! (own echo) and for the four others (seen). That is the replicated state,
//! before any interpolation or drawing: what a game's systems can read.
//! The parts measured beside it: the round trip the transport timed
//! (`ClientStats.rtt`) and the host's input queue (`PlayerInputs::delay_ticks`).
//!
//! Two seconds of warm-up, then ten measured. Network tests are sealed: run
//! it inside the project's namespace,
//! `scripts/loopback-netns cargo bench --bench latency`; the last line is
//! `input_to_seen_p50_ms=.. input_to_seen_p95_ms=.. own_echo_p95_ms=.. host_queue_wait_p95_ticks=.. rtt_p50_ms=..`.
//!
//! A home network's delay: `-- --delay-ms 50 --jitter-ms 10` holds every
//! packet each app sends for 50 ± 10 ms (uniform, seeded) in a delay stage
//! in front of its WebRTC links (`transport::DelayedLinks`; this kernel has
//! no `tc netem`), so a round trip gains about 100 ms. The round trip shown
//! is then the bridge's pings', which go through the stage (and include the
//! apps' frame times), not the transport's probes, which would not.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bevy::prelude::*;
use bevy_p2p_multiplayer::{
    prelude::*,
    transport::{DelayedLinks, LinkConditions, LinkFactory, Transport, WebRtcLinks},
};
use bevy_p2p_signaling::{ServerConfig, spawn_in_background};
use bevy_replicon::prelude::*;
use serde::{Deserialize, Serialize};

const CLIENTS: usize = 5;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(10);
const TICK_MS: f64 = 1000.0 / 60.0;

/// A client's input: the number of the tick it was written for.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct Stamp(u32);

/// On every player: the last input of theirs the host applied.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug, Default)]
struct Echo(u32);

/// When each client wrote each number, shared by all apps in this process.
type Written = Arc<Mutex<HashMap<(u8, u32), Instant>>>;

/// On a client: the next number, written each `FixedUpdate` tick.
#[derive(Resource, Default)]
struct NextStamp(u32);

fn game(app: &mut App) {
    app.add_player_input::<Stamp>()
        .replicate::<Echo>()
        .init_resource::<NextStamp>()
        .add_observer(
            |add: On<Add, Player>, mut commands: Commands, role: Option<Res<Role>>| {
                if role.as_deref() == Some(&Role::Host) {
                    commands.entity(add.entity).insert(Echo::default());
                }
            },
        )
        .add_systems(
            FixedUpdate,
            echo_inputs.run_if(is_host).in_set(GameplaySystems),
        );
}

fn echo_inputs(inputs: Res<PlayerInputs<Stamp>>, mut players: Query<(&Player, &mut Echo)>) {
    for (player, mut echo) in &mut players {
        if let Some(input) = inputs.get(player.slot)
            && echo.0 != input.0
        {
            echo.0 = input.0;
        }
    }
}

/// The one-way delay added to every packet an app sends: `(mean, ±)`.
fn added_delay() -> (Duration, Duration) {
    let args: Vec<String> = std::env::args().collect();
    let ms = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .map(|value| {
                let ms: u64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("{flag} takes whole milliseconds, not {value:?}"));
                Duration::from_millis(ms)
            })
            .unwrap_or_default()
    };
    (ms("--delay-ms"), ms("--jitter-ms"))
}

fn player_app(server: std::net::SocketAddr, seed: u64) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, P2pMultiplayerPlugin))
        .insert_resource(P2pSettings {
            signaling_url: format!("ws://{server}"),
            ice_servers: IceServers::none(),
            ..Default::default()
        });
    let (delay, spread) = added_delay();
    if !delay.is_zero() || !spread.is_zero() {
        // Uniform in mean ± spread.
        let conditions = LinkConditions {
            latency: delay.saturating_sub(spread),
            jitter: spread * 2,
            ..LinkConditions::PERFECT
        };
        app.insert_resource(LinkFactory(Box::new(move |room, settings| {
            Transport::new(DelayedLinks::new(
                WebRtcLinks::open(room, settings),
                conditions,
                seed,
            ))
        })));
    }
    game(&mut app);
    app.finish();
    app.cleanup();
    app
}

fn session(app: &App) -> &Session {
    app.world().resource::<Session>()
}

/// Updates every app in turn about 200 times a second until `done`;
/// panics at `limit`.
fn run_until(apps: &mut [App], limit: Duration, what: &str, done: impl Fn(&[App]) -> bool) {
    let start = Instant::now();
    while !done(apps) {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        for app in apps.iter_mut() {
            app.update();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    if std::env::var("P2P_SEALED_NETNS").as_deref() != Ok("1") {
        eprintln!(
            "latency: opens WebRTC connections, so it runs only inside the sealed namespace: \
             scripts/loopback-netns cargo bench --bench latency"
        );
        std::process::exit(2);
    }
    let server = spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        ..Default::default()
    })
    .expect("the signaling server starts");
    let addr = server.local_addr();

    let (delay, spread) = added_delay();
    println!(
        "added one-way delay: {} ± {} ms",
        delay.as_millis(),
        spread.as_millis()
    );
    let mut apps = vec![player_app(addr, 0)];
    apps[0].world_mut().write_message(LobbyRequest::Host);
    run_until(&mut apps, Duration::from_secs(10), "hosting", |apps| {
        session(&apps[0]).status == SessionStatus::InLobby
    });
    let code = session(&apps[0]).code.clone().expect("a code").to_string();
    for seed in 1..=CLIENTS as u64 {
        let mut client = player_app(addr, seed);
        client
            .world_mut()
            .write_message(LobbyRequest::Join(code.clone()));
        apps.push(client);
    }
    run_until(&mut apps, Duration::from_secs(30), "everyone in", |apps| {
        apps.iter()
            .all(|app| app.world().resource::<Roster>().players.len() == CLIENTS + 1)
    });
    apps[0].world_mut().write_message(LobbyRequest::Start);
    run_until(&mut apps, Duration::from_secs(10), "playing", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Playing)
    });

    // Each client writes a new number every tick, and says when.
    let written: Written = Arc::default();
    let slots: Vec<u8> = apps[1..]
        .iter()
        .map(|app| session(app).local_slot.expect("a slot").0)
        .collect();
    for (app, &slot) in apps[1..].iter_mut().zip(&slots) {
        let written = written.clone();
        app.add_systems(
            FixedUpdate,
            (move |mut next: ResMut<NextStamp>, mut local: ResMut<LocalInput<Stamp>>| {
                next.0 += 1;
                local.0 = Stamp(next.0);
                written
                    .lock()
                    .expect("the book")
                    .insert((slot, next.0), Instant::now());
            })
            .before(InputSystems::Ship),
        );
    }

    let start = Instant::now();
    let (mut seen, mut own, mut queue, mut rtt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per client app: the newest number seen of each slot.
    let mut newest: Vec<HashMap<u8, u32>> = vec![HashMap::new(); CLIENTS];
    let mut next_rtt = start + WARM_UP;
    while start.elapsed() < WARM_UP + MEASURED {
        let measuring = start.elapsed() >= WARM_UP;
        for (index, app) in apps.iter_mut().enumerate() {
            app.update();
            let now = Instant::now();
            if index == 0 {
                if measuring {
                    let inputs = app.world().resource::<PlayerInputs<Stamp>>();
                    queue.extend(
                        slots
                            .iter()
                            .filter_map(|&slot| inputs.delay_ticks(PlayerSlot(slot))),
                    );
                }
                continue;
            }
            let viewer = index - 1;
            let mut players = app.world_mut().query::<(&Player, &Echo)>();
            let echoes: Vec<(u8, u32)> = players
                .iter(app.world())
                .map(|(player, echo)| (player.slot.0, echo.0))
                .collect();
            for (slot, number) in echoes {
                let last = newest[viewer].entry(slot).or_insert(0);
                if number <= *last {
                    continue;
                }
                *last = number;
                let Some(&at) = written.lock().expect("the book").get(&(slot, number)) else {
                    continue;
                };
                if measuring {
                    let ms = now.duration_since(at).as_secs_f64() * 1e3;
                    if slot == slots[viewer] {
                        own.push(ms);
                    } else {
                        seen.push(ms);
                    }
                }
            }
        }
        if Instant::now() >= next_rtt {
            next_rtt += Duration::from_millis(500);
            for app in &apps[1..] {
                rtt.push(app.world().resource::<ClientStats>().rtt * 1e3);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for samples in [&mut seen, &mut own, &mut rtt] {
        samples.sort_by(f64::total_cmp);
    }
    queue.sort_unstable();
    let queue_p95 = queue
        .get(((queue.len().saturating_sub(1)) as f64 * 0.95).round() as usize)
        .copied()
        .unwrap_or_default();
    assert!(
        !seen.is_empty() && !own.is_empty(),
        "no input was seen: the game did not run"
    );
    for (what, samples) in [("input_to_seen", &seen), ("own_echo", &own)] {
        println!(
            "{what}: {} samples, p50 {:.1} ms ({:.1} ticks), p95 {:.1} ms ({:.1} ticks), p99 {:.1} ms ({:.1} ticks)",
            samples.len(),
            percentile(samples, 50.0),
            percentile(samples, 50.0) / TICK_MS,
            percentile(samples, 95.0),
            percentile(samples, 95.0) / TICK_MS,
            percentile(samples, 99.0),
            percentile(samples, 99.0) / TICK_MS,
        );
    }
    println!(
        "rtt (ClientStats: the transport's probes, or the bridge's pings behind a delay stage): p50 {:.1} ms; host input queue p95 {queue_p95} ticks ({} samples)",
        percentile(&rtt, 50.0),
        queue.len()
    );
    println!(
        "input_to_seen_p50_ms={:.1} input_to_seen_p95_ms={:.1} own_echo_p95_ms={:.1} host_queue_wait_p95_ticks={queue_p95} rtt_p50_ms={:.1}",
        percentile(&seen, 50.0),
        percentile(&seen, 95.0),
        percentile(&own, 95.0),
        percentile(&rtt, 50.0),
    );
    drop(apps);
    drop(server);
}
