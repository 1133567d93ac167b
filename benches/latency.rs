//! Input to screen over real WebRTC, in figures: when a player presses a
//! key, how long until the others (and the player) see it drawn.
//!
//! Our signaling server and a host with five clients, each a separate Bevy
//! app in this process, linked by real WebRTC data channels on loopback (no
//! STUN, no TURN), all updated in turn about 200 times a second as in the
//! real tiers. They play the arena's own rules (`examples/arena/game.rs`)
//! and compute what the arena's window draws (`examples/arena/view.rs`, the
//! view behind its renderer, headless here): each client's player stands
//! still, walks right, stands, walks left, 20 ticks each, so that every
//! player starts or stops about every third of a second, at its own times.
//!
//! A change's latency runs from the moment its client's app wrote the new
//! input into `LocalInput` to the first frame a client *draws* the player
//! differently: its view's drawn tick has passed the tick the host applied
//! the change on, with the host's new stride held. For the four other
//! clients (seen) and the client itself (own echo). Its parts, from clocks
//! shared by all apps in the process: written to handed to the links (the
//! end of the client's update, when replicon has sent its input batch),
//! handed to host applied (the network, the host's frame, its input queue
//! and its tick), host applied to client holds it (replication send, the
//! network, the client's frame and apply), held to drawn (the view's
//! playout delay). The host's input queue depth and the round trip are
//! printed beside them.
//!
//! Stutter: every frame of every client, for every other player, the drawn
//! position's step is compared with the step of the host's true path over
//! the same drawn ticks; a frame where one differs by more than
//! [`JUMP_PX`], or where the drawn tick moved less than half or more than
//! twice what real time did, is a stutter frame.
//!
//! Two seconds of warm-up, then ten measured. Network tests are sealed: run
//! it inside the project's namespace,
//! `scripts/loopback-netns cargo bench --bench latency`; the last line is
//! `input_to_seen_p50_ms=.. input_to_seen_p95_ms=.. own_echo_p95_ms=.. host_queue_wait_p95_ticks=.. rtt_p50_ms=.. stutter_frames_pct=..`.
//!
//! A home network's delay: `-- --delay-ms 50 --jitter-ms 10` holds every
//! packet each app sends for 50 ± 10 ms (uniform, seeded) in a delay stage
//! in front of its WebRTC links (`transport::DelayedLinks`; this kernel has
//! no `tc netem`), so a round trip gains about 100 ms. The round trip shown
//! is then the bridge's pings', which go through the stage (and include the
//! apps' frame times), not the transport's probes, which would not.
//! `-- --svg PATH` also writes the distributions as a chart.
//!
//! `-- --predict`: clients predict their own movement (the arena's
//! `--predict`, `examples/arena/predict.rs`); own echo is then the first
//! frame the client's own player is drawn moved by its prediction, and the
//! last line adds how many predicted ticks the host's state contradicted
//! and the largest correction.

use std::{
    collections::{HashMap, HashSet},
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

#[path = "../examples/arena/game.rs"]
#[expect(
    dead_code,
    reason = "the bench runs the game's rules, not all of its API"
)]
mod game;
#[path = "../examples/arena/predict.rs"]
mod predict;
#[path = "../examples/arena/view.rs"]
mod view;

use game::{ArenaInput, Stride};
use predict::Prediction;
use view::{DrawClock, DrawnAt, StrideTrail};

const CLIENTS: usize = 5;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(10);
const TICK_MS: f64 = 1000.0 / 60.0;
/// Ticks each phase of a scripted player lasts: still, right, still, left.
const PHASE_TICKS: u32 = 20;
/// A drawn step this far off the true path's step is a visible jump,
/// pixels: half of what a player walks in a tick.
const JUMP_PX: f32 = 2.0;

/// One input change: a client's `n`-th, identified by its slot.
type Change = (u8, u32);

/// A change as its client wrote it.
#[derive(Clone, Copy)]
struct Written {
    at: Instant,
    /// The walk it asked for: -1, 0 or 1.
    move_x: i8,
    /// The client's tick it was shipped on (`ShippedInputTick`).
    tick: u32,
}

/// What every app in the process writes down, behind one lock.
#[derive(Default)]
struct Book {
    written: HashMap<Change, Written>,
    /// Changes written during the app update running now.
    unsent: Vec<Change>,
    /// When the update that wrote each change ended: its input batch was
    /// handed to the links by then (replicon sends in `PostUpdate`).
    sent: HashMap<Change, Instant>,
}

/// On a client: its scripted walk, and its count of changes.
#[derive(Resource)]
struct Script {
    slot: u8,
    running: bool,
    tick: u32,
    changes: u32,
    book: Arc<Mutex<Book>>,
}

/// The scripted input of a tick: still, right, still, left.
fn walk(slot: u8, tick: u32) -> i8 {
    let phase = (tick + u32::from(slot) * 3) / PHASE_TICKS;
    [0, 1, 0, -1][(phase % 4) as usize]
}

fn play_script(
    mut script: ResMut<Script>,
    shipped: Res<ShippedInputTick>,
    mut local: ResMut<LocalInput<ArenaInput>>,
) {
    if !script.running {
        return;
    }
    script.tick += 1;
    let move_x = walk(script.slot, script.tick);
    if move_x != local.move_x {
        script.changes += 1;
        let change = (script.slot, script.changes);
        let mut book = script.book.lock().expect("the book");
        book.written.insert(
            change,
            Written {
                at: Instant::now(),
                move_x,
                // This system runs just before the input is shipped.
                tick: shipped.0.wrapping_add(1),
            },
        );
        book.unsent.push(change);
    }
    **local = ArenaInput {
        move_x,
        move_y: 0,
        fire: false,
    };
}

/// The one-way delay added to every packet an app sends: `(mean, ±)`.
fn added_delay() -> (Duration, Duration) {
    let ms = |flag: &str| {
        arg_after(flag)
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

/// `--predict`: clients predict their own movement.
fn predicting() -> bool {
    std::env::args().any(|arg| arg == "--predict")
}

fn arg_after(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .cloned()
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
    app.add_plugins((game::ArenaGamePlugin, view::ArenaViewPlugin));
    if predicting() {
        app.add_plugins(predict::ArenaPredictionPlugin);
    }
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

/// What the host did with each change: when (after its update) and on
/// which tick, and every stride of every player, for the true path.
#[derive(Default)]
struct HostRecord {
    applied: HashMap<Change, (Instant, u32)>,
    /// Which change a slot's stride begun on a tick was.
    by_since: HashMap<(u8, u32), u32>,
    changes: HashMap<u8, u32>,
    last: HashMap<u8, Stride>,
    truth: HashMap<u8, StrideTrail>,
}

impl HostRecord {
    fn watch(&mut self, host: &mut App, book: &Book) {
        let now = Instant::now();
        let mut players = host.world_mut().query::<(&Player, &Stride)>();
        for (player, stride) in players.iter(host.world()) {
            let slot = player.slot.0;
            self.truth.entry(slot).or_default().push(*stride);
            let before = self.last.insert(slot, *stride);
            if before.is_none() || before == Some(*stride) {
                continue;
            }
            let count = self.changes.entry(slot).or_default();
            *count += 1;
            let change = (slot, *count);
            let Some(written) = book.written.get(&change) else {
                panic!("the host moved slot {slot} on its own: {stride:?}");
            };
            assert_eq!(
                stride.step[0].signum(),
                i16::from(written.move_x),
                "the host's stride {stride:?} is not change {change:?}: the bench is out of step"
            );
            self.applied.insert(change, (now, stride.since));
            self.by_since.insert((slot, stride.since), *count);
        }
    }
}

/// One client's view, frame to frame.
#[derive(Default)]
struct Viewer {
    /// The newest stride held of each slot.
    held: HashMap<u8, Stride>,
    /// Changes held and not yet drawn, with when they were held.
    pending: Vec<(Change, u32, Instant)>,
    drawn: HashSet<Change>,
    /// With prediction: the next own change to see drawn.
    next_own: u32,
    /// Last frame's drawn tick, time and positions.
    last: Option<(f64, Instant, HashMap<u8, Vec2>)>,
}

#[derive(Default)]
struct Samples {
    seen: Vec<f64>,
    own: Vec<f64>,
    seen_held: Vec<f64>,
    write_to_sent: Vec<f64>,
    sent_to_applied: Vec<f64>,
    applied_to_held: Vec<f64>,
    held_to_drawn: Vec<f64>,
    frames: u64,
    stutter_frames: u64,
    jumps: u64,
    clock_stalls: u64,
    largest_jump_px: f32,
    playout_delay_ticks: Vec<f64>,
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1e3
}

/// After a client app's update: what it holds and draws now.
fn watch_viewer(
    app: &mut App,
    own_slot: u8,
    viewer: &mut Viewer,
    host: &HostRecord,
    book: &Book,
    samples: Option<&mut Samples>,
) {
    let now = Instant::now();
    let Some(tick) = app.world().resource::<DrawClock>().tick else {
        return;
    };
    let mut samples = samples;
    // The own player's drawn tick, in the client's ticks, when predicting.
    let predicted = app
        .world()
        .get_resource::<Prediction>()
        .and_then(|prediction| {
            let overstep = app
                .world()
                .resource::<Time<Fixed>>()
                .overstep_fraction_f64();
            prediction.drawn(overstep).map(|(tick, _)| tick)
        });
    let mut players = app.world_mut().query::<(&Player, &StrideTrail, &DrawnAt)>();
    let mut positions = HashMap::new();
    for (player, trail, drawn) in players.iter(app.world()) {
        let slot = player.slot.0;
        if let Some(at) = drawn.0 {
            positions.insert(slot, at);
        }
        let Some(newest) = trail.newest().copied() else {
            continue;
        };
        if viewer.held.insert(slot, newest) == Some(newest) {
            continue;
        }
        if slot == own_slot && predicted.is_some() {
            // Drawn from the prediction: see below.
            continue;
        }
        if let Some(&count) = host.by_since.get(&(slot, newest.since)) {
            viewer.pending.push(((slot, count), newest.since, now));
        }
    }
    // With prediction, the own player is drawn between the last two
    // predicted ticks: a change shows once that passes its tick.
    if let Some(drawn_tick) = predicted {
        loop {
            let change = (own_slot, viewer.next_own + 1);
            let Some(written) = book.written.get(&change) else {
                break;
            };
            if drawn_tick <= f64::from(written.tick) - 1.0 {
                break;
            }
            viewer.next_own += 1;
            if let Some(samples) = samples.as_deref_mut() {
                samples.own.push(ms(written.at, now));
            }
        }
    }
    let delay = app.world().resource::<DrawClock>().playout.delay_ticks();
    // Drawn: the drawn tick has passed the tick before the change's (the
    // player's position on the change's tick is already moved).
    let mut still_pending = Vec::new();
    for (change, since, held_at) in viewer.pending.drain(..) {
        if tick <= f64::from(since) - 1.0 {
            still_pending.push((change, since, held_at));
            continue;
        }
        if !viewer.drawn.insert(change) {
            continue;
        }
        let (Some(written), Some(&(applied, _))) =
            (book.written.get(&change), host.applied.get(&change))
        else {
            continue;
        };
        let written = written.at;
        if let Some(samples) = samples.as_deref_mut() {
            let total = ms(written, now);
            if change.0 == own_slot {
                samples.own.push(total);
            } else {
                samples.seen.push(total);
                samples.seen_held.push(ms(written, held_at));
                if let Some(&sent) = book.sent.get(&change) {
                    samples.write_to_sent.push(ms(written, sent));
                    samples.sent_to_applied.push(ms(sent, applied));
                }
                samples.applied_to_held.push(ms(applied, held_at));
                samples.held_to_drawn.push(ms(held_at, now));
            }
        }
    }
    viewer.pending = still_pending;

    // Stutter: this frame's drawn steps against the true path's.
    if let (Some(samples), Some((last_tick, last_at, last_positions))) =
        (samples, viewer.last.as_ref())
    {
        samples.frames += 1;
        samples.playout_delay_ticks.push(delay);
        let real_ticks = now.duration_since(*last_at).as_secs_f64() * 1e3 / TICK_MS;
        let drawn_ticks = tick - last_tick;
        let stalled = drawn_ticks < real_ticks * 0.5 || drawn_ticks > real_ticks * 2.0;
        let mut jumped = false;
        for (slot, at) in &positions {
            let (Some(before), Some(truth)) = (last_positions.get(slot), host.truth.get(slot))
            else {
                continue;
            };
            if *slot == own_slot {
                continue;
            }
            let (Some(true_now), Some(true_before)) =
                (truth.position_at(tick), truth.position_at(*last_tick))
            else {
                continue;
            };
            let off = ((*at - *before) - (true_now - true_before)).length();
            samples.largest_jump_px = samples.largest_jump_px.max(off);
            jumped |= off > JUMP_PX;
        }
        samples.clock_stalls += u64::from(stalled);
        samples.jumps += u64::from(jumped);
        samples.stutter_frames += u64::from(stalled || jumped);
    }
    viewer.last = Some((tick, now, positions));
}

fn main() {
    if std::env::var("P2P_SEALED_NETNS").as_deref() != Ok("1") {
        eprintln!(
            "latency: opens WebRTC connections, so it runs only inside the sealed namespace: \
             scripts/loopback-netns cargo bench --bench latency"
        );
        std::process::exit(2);
    }
    let svg_path = arg_after("--svg");
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

    // Every client walks its script from now on, and says when it turns.
    let book: Arc<Mutex<Book>> = Arc::default();
    let slots: Vec<u8> = apps[1..]
        .iter()
        .map(|app| session(app).local_slot.expect("a slot").0)
        .collect();
    for (app, &slot) in apps[1..].iter_mut().zip(&slots) {
        app.insert_resource(Script {
            slot,
            running: true,
            tick: 0,
            changes: 0,
            book: book.clone(),
        })
        .add_systems(FixedUpdate, play_script.before(InputSystems::Ship));
    }

    let start = Instant::now();
    let mut samples = Samples::default();
    let (mut queue, mut rtt) = (Vec::new(), Vec::new());
    let mut host = HostRecord::default();
    let mut viewers: Vec<Viewer> = (0..CLIENTS).map(|_| Viewer::default()).collect();
    let mut next_rtt = start + WARM_UP;
    let mut was_measuring = false;
    while start.elapsed() < WARM_UP + MEASURED {
        let measuring = start.elapsed() >= WARM_UP;
        if measuring && !was_measuring {
            // Predictions are counted over the measured seconds only.
            for app in &mut apps[1..] {
                if let Some(mut prediction) = app.world_mut().get_resource_mut::<Prediction>() {
                    prediction.checked = 0;
                    prediction.wrong = 0;
                    prediction.largest_correction_px = 0.0;
                }
            }
        }
        was_measuring = measuring;
        for (index, app) in apps.iter_mut().enumerate() {
            app.update();
            let mut book = book.lock().expect("the book");
            let now = Instant::now();
            let unsent = std::mem::take(&mut book.unsent);
            book.sent
                .extend(unsent.into_iter().map(|change| (change, now)));
            if index == 0 {
                host.watch(app, &book);
                if measuring {
                    let inputs = app.world().resource::<PlayerInputs<ArenaInput>>();
                    queue.extend(
                        slots
                            .iter()
                            .filter_map(|&slot| inputs.delay_ticks(PlayerSlot(slot))),
                    );
                }
                continue;
            }
            watch_viewer(
                app,
                slots[index - 1],
                &mut viewers[index - 1],
                &host,
                &book,
                measuring.then_some(&mut samples),
            );
        }
        if Instant::now() >= next_rtt {
            next_rtt += Duration::from_millis(500);
            for app in &apps[1..] {
                rtt.push(app.world().resource::<ClientStats>().rtt * 1e3);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let predictions: Vec<&Prediction> = apps[1..]
        .iter()
        .filter_map(|app| app.world().get_resource::<Prediction>())
        .collect();
    let mispredicted = (!predictions.is_empty()).then(|| Mispredicted {
        checked: predictions.iter().map(|p| p.checked).sum(),
        wrong: predictions.iter().map(|p| p.wrong).sum(),
        largest_correction_px: predictions
            .iter()
            .map(|p| p.largest_correction_px)
            .fold(0.0, f32::max),
    });
    report(&mut samples, queue, rtt, mispredicted, svg_path.as_deref());
    drop(apps);
    drop(server);
}

/// How the clients' predictions of their own movement fared.
struct Mispredicted {
    checked: u64,
    wrong: u64,
    largest_correction_px: f32,
}

fn report(
    samples: &mut Samples,
    mut queue: Vec<usize>,
    mut rtt: Vec<f64>,
    mispredicted: Option<Mispredicted>,
    svg: Option<&str>,
) {
    assert!(
        !samples.seen.is_empty() && !samples.own.is_empty(),
        "no change was drawn: the game did not run"
    );
    for list in [
        &mut samples.seen,
        &mut samples.own,
        &mut samples.seen_held,
        &mut samples.write_to_sent,
        &mut samples.sent_to_applied,
        &mut samples.applied_to_held,
        &mut samples.held_to_drawn,
        &mut samples.playout_delay_ticks,
        &mut rtt,
    ] {
        list.sort_by(f64::total_cmp);
    }
    queue.sort_unstable();
    let queue_p95 = queue
        .get(((queue.len().saturating_sub(1)) as f64 * 0.95).round() as usize)
        .copied()
        .unwrap_or_default();
    for (what, list) in [
        (
            "input_to_seen (drawn, by the 4 other clients)",
            &samples.seen,
        ),
        (
            if mispredicted.is_some() {
                "own_echo (drawn by the client itself, predicted)"
            } else {
                "own_echo (drawn by the client itself)"
            },
            &samples.own,
        ),
        (
            "input_to_held (the state, before drawing)",
            &samples.seen_held,
        ),
    ] {
        println!(
            "{what}: {} samples, p50 {:.1} ms ({:.1} ticks), p95 {:.1} ms ({:.1} ticks), p99 {:.1} ms ({:.1} ticks)",
            list.len(),
            percentile(list, 50.0),
            percentile(list, 50.0) / TICK_MS,
            percentile(list, 95.0),
            percentile(list, 95.0) / TICK_MS,
            percentile(list, 99.0),
            percentile(list, 99.0) / TICK_MS,
        );
    }
    println!("parts of input_to_seen, ms, p50 / p95:");
    for (what, list) in [
        (
            "  written -> handed to the links (the rest of the client's frame)",
            &samples.write_to_sent,
        ),
        (
            "  handed to the links -> host applied (network, host's frame and input queue, host tick)",
            &samples.sent_to_applied,
        ),
        (
            "  host applied -> client holds (replication send, network, client apply)",
            &samples.applied_to_held,
        ),
        (
            "  client holds -> drawn (the view's playout delay)",
            &samples.held_to_drawn,
        ),
    ] {
        println!(
            "{what}: {:.1} / {:.1}",
            percentile(list, 50.0),
            percentile(list, 95.0)
        );
    }
    println!(
        "  host input queue p95 {queue_p95} ticks ({} samples); round trip p50 {:.1} ms (ClientStats: the transport's probes, or the bridge's pings behind a delay stage)",
        queue.len(),
        percentile(&rtt, 50.0),
    );
    println!(
        "playout delay the view chose: p50 {:.2} ticks, p95 {:.2} ticks",
        percentile(&samples.playout_delay_ticks, 50.0),
        percentile(&samples.playout_delay_ticks, 95.0),
    );
    let stutter_pct = 100.0 * samples.stutter_frames as f64 / samples.frames.max(1) as f64;
    println!(
        "stutter: {} of {} client frames ({stutter_pct:.2} %): {} with a drawn step over {JUMP_PX} px off the true path's (largest {:.1} px), {} where the drawn tick moved under half or over twice real time",
        samples.stutter_frames,
        samples.frames,
        samples.jumps,
        samples.largest_jump_px,
        samples.clock_stalls,
    );
    if let Some(path) = svg {
        let (delay, spread) = added_delay();
        let context = format!(
            "{} ± {} ms added one way, round trip p50 {:.1} ms",
            delay.as_millis(),
            spread.as_millis(),
            percentile(&rtt, 50.0)
        );
        std::fs::write(path, chart(&samples.seen, &samples.seen_held, &context))
            .unwrap_or_else(|error| panic!("cannot write {path}: {error}"));
        println!("chart written to {path}");
    }
    let prediction = mispredicted.map_or(String::new(), |m| {
        let pct = 100.0 * m.wrong as f64 / m.checked.max(1) as f64;
        println!(
            "prediction: {} of {} predicted ticks differed from the host's state ({pct:.2} %); largest correction {:.1} px",
            m.wrong, m.checked, m.largest_correction_px
        );
        format!(
            " mispredicted_pct={pct:.2} largest_correction_px={:.1}",
            m.largest_correction_px
        )
    });
    println!(
        "input_to_seen_p50_ms={:.1} input_to_seen_p95_ms={:.1} own_echo_p95_ms={:.1} host_queue_wait_p95_ticks={queue_p95} rtt_p50_ms={:.1} stutter_frames_pct={stutter_pct:.2}{prediction}",
        percentile(&samples.seen, 50.0),
        percentile(&samples.seen, 95.0),
        percentile(&samples.own, 95.0),
        percentile(&rtt, 50.0),
    );
}

/// The distributions of input to drawn and input to held, as an SVG
/// histogram (2 ms bins), with the p50 and p95 of the drawn one marked.
fn chart(drawn: &[f64], held: &[f64], context: &str) -> String {
    const BIN_MS: f64 = 2.0;
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 300.0;
    const LEFT: f64 = 30.0;
    const BOTTOM: f64 = 40.0;
    // The axis spans the samples, in whole tens of ms.
    let all = || drawn.iter().chain(held).copied();
    let low = (all().fold(f64::INFINITY, f64::min) / 10.0).floor() * 10.0;
    let high = (all().fold(0.0, f64::max) / 10.0).ceil() * 10.0 + 10.0;
    let bins = ((high - low) / BIN_MS).ceil() as usize;
    let histogram = |list: &[f64]| {
        let mut counts = vec![0usize; bins];
        for &value in list {
            counts[(((value - low) / BIN_MS) as usize).min(bins - 1)] += 1;
        }
        counts
    };
    let (drawn_counts, held_counts) = (histogram(drawn), histogram(held));
    let top = drawn_counts
        .iter()
        .chain(&held_counts)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let plot_w = WIDTH - LEFT - 20.0;
    let plot_h = HEIGHT - BOTTOM - 64.0;
    let x = |ms: f64| LEFT + (ms - low) / (high - low) * plot_w;
    let y = |count: f64| 64.0 + plot_h - count / top * plot_h;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"14\">Input to seen by the other clients ({} changes), ms</text>\n\
         <text x=\"{LEFT}\" y=\"34\">{context}</text>\n\
         <rect x=\"{LEFT}\" y=\"42\" width=\"10\" height=\"10\" fill=\"#bbbbbb\"/><text x=\"{}\" y=\"51\">state held</text>\n\
         <rect x=\"{}\" y=\"42\" width=\"10\" height=\"10\" fill=\"#3b78c4\"/><text x=\"{}\" y=\"51\">drawn</text>\n",
        drawn.len(),
        LEFT + 14.0,
        LEFT + 100.0,
        LEFT + 114.0,
    );
    for (counts, colour) in [(&held_counts, "#bbbbbb"), (&drawn_counts, "#3b78c4")] {
        for (bin, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let left = x(low + bin as f64 * BIN_MS);
            let width = (x(low + BIN_MS) - x(low)).max(1.0) - 1.0;
            svg += &format!(
                "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"0.75\"/>\n",
                y(count as f64),
                y(0.0) - y(count as f64)
            );
        }
    }
    for (p, label, row) in [(50.0, "p50", 0.0), (95.0, "p95", 14.0)] {
        let at = percentile(drawn, p);
        svg += &format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"64\" y2=\"{1:.1}\" stroke=\"#c0392b\" stroke-dasharray=\"4 3\"/>\n\
             <text x=\"{2:.1}\" y=\"{3:.1}\" fill=\"#c0392b\" text-anchor=\"end\">{label} {at:.1}</text>\n",
            x(at),
            y(0.0),
            x(at) - 3.0,
            76.0 + row
        );
    }
    let axis_y = y(0.0);
    svg += &format!(
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" stroke=\"black\"/>\n",
        LEFT + plot_w
    );
    let step = if high - low > 100.0 { 20.0 } else { 10.0 };
    let mut tick = low;
    while tick <= high {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick:.0}</text>\n",
            x(tick),
            axis_y + 16.0
        );
        tick += step;
    }
    svg += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ms from the key press (the input written) to the frame</text>\n</svg>\n",
        LEFT + plot_w / 2.0,
        HEIGHT - 4.0
    );
    svg
}
