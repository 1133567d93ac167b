//! Replication bandwidth and host cost of the arena, in figures.
//!
//! A host and five clients run in one process as separate Bevy apps over
//! in-memory links ([`MemoryRoom`], time stepped by hand at 60 Hz) and play a
//! scripted six-player scene of the real arena game (`examples/arena/game.rs`,
//! included as a module, so the bytes measured are the game's own): every
//! player keeps moving, turns now and then, and holds fire; the rules are
//! turned up so that about fifty bullets fly at once. After a one-second
//! warm-up, ten seconds are measured:
//!
//! - the bytes each client receives per second: everything the in-memory
//!   transport delivered to it (replication, pings, packet framing), so an
//!   honest upper bound of what our replication costs;
//! - the same states encoded the way the seed design did it, a JSON full
//!   snapshot every tick, built from the host's world and counted;
//! - the wall time of the host app's `update` per tick, p50 and p99, with
//!   every schedule on one thread as the arena's dedicated host runs them
//!   (`-- --multi-threaded`: Bevy's default executor, which on a 2-core
//!   machine spends most of a tick handing systems to worker threads);
//!   `scripts/bench-host-cost` counts the same updates' instructions.
//!
//! The bytes must carry the game: every tick each client's reconstruction
//! (every player's position and health, every bullet's position computed
//! from the replicated clock) is compared with the host's authoritative state
//! at the client's own clock tick. The run fails if a position differs by
//! more than 0.1 px, a health differs, or an entity is missing or extra. (A
//! bullet spawned or despawned by the host after the client's clock tick may
//! already show on the client: replicon's spawns travel on the reliable
//! channel, the clock on the unreliable one, and over a jittery link the
//! spawn can arrive first. That is latency, counted apart; on the perfect
//! links measured here it does not happen.)
//!
//! Run with `cargo bench --bench replication`; the last line is
//! `bytes_per_client_s=.. json_bytes_per_client_s=.. ratio=.. host_tick_p50_us=.. host_tick_p99_us=..`.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use bevy::{ecs::query::QueryState, prelude::*};
use bevy_p2p_multiplayer::{prelude::*, testing::MemoryRoom};
use bevy_replicon::{prelude::*, shared::backend::channels::ServerChannel};
use serde::Serialize;

#[path = "../examples/arena/executor.rs"]
mod executor;
#[path = "../examples/arena/game.rs"]
#[expect(
    dead_code,
    reason = "the bench runs the game's rules, not all of its API"
)]
mod game;

use game::{ArenaClock, ArenaInput, ArenaRules, Body, Bullet};

/// Clients besides the host.
const CLIENTS: usize = 5;
/// Ticks played before measuring (1 s): spawns, first shots, steady state.
const WARM_UP_TICKS: u32 = 60;
/// Ticks measured (10 s at 60 Hz).
const MEASURED_TICKS: u32 = 600;
/// Ticks of an idle room measured after the scene, to show the floor.
const IDLE_TICKS: u32 = 120;
/// Seed of the link conditioner (links are perfect here; kept for repeats).
const SEED: u64 = 0xA7E4A;
/// The largest position error allowed, pixels: the game's quantization.
const MAX_POSITION_ERROR_PX: f32 = 0.1;
/// Host states kept for clients whose clock lags.
const HISTORY_TICKS: u32 = 120;
/// Ticks per second.
const HZ: f64 = game::TICK_HZ as f64;

/// The arena's rules, turned up so that about fifty bullets fly at once.
const RULES: ArenaRules = ArenaRules {
    player_speed: 40,
    bullet_speed: 60,
    fire_interval: 7,
    bullet_life: 120,
};

/// A bullet as both sides know it: replicated once, identical everywhere.
/// A player fires at most once per tick, so this identifies it.
type BulletKey = (u8, u32, [i16; 2], [i16; 2]);

fn key(bullet: &Bullet) -> BulletKey {
    (
        bullet.owner,
        bullet.fired_at,
        bullet.origin,
        bullet.velocity,
    )
}

/// The host's authoritative state at one tick.
struct HostState {
    /// Body by slot.
    players: BTreeMap<u8, Body>,
    /// Position in decipixels by bullet.
    bullets: HashMap<BulletKey, [i32; 2]>,
}

/// The seed design's snapshot, sent in full every tick.
#[derive(Serialize)]
struct JsonSnapshot {
    frame: u32,
    players: Vec<JsonPlayer>,
    entities: Vec<JsonEntity>,
}

#[derive(Serialize)]
struct JsonPlayer {
    id: u8,
    x: f32,
    y: f32,
    health: u8,
}

#[derive(Serialize)]
struct JsonEntity {
    #[serde(rename = "type")]
    kind: &'static str,
    x: f32,
    y: f32,
    owner: u8,
}

/// On a client: replicon payload bytes received, by server channel, and
/// how many messages (one packet each) carried them.
#[derive(Resource, Default, Clone, Copy)]
struct ReceivedByChannel {
    updates: u64,
    mutations: u64,
    other: u64,
    messages: u64,
}

fn tally_received(
    messages: Res<ClientMessages>,
    channels: Res<RepliconChannels>,
    mut tally: ResMut<ReceivedByChannel>,
) {
    for channel in 0..channels.server_channels().len() {
        for message in messages.iter_received(channel) {
            let len = message.len() as u64;
            tally.messages += 1;
            if channel == usize::from(ServerChannel::Updates) {
                tally.updates += len;
            } else if channel == usize::from(ServerChannel::Mutations) {
                tally.mutations += len;
            } else {
                tally.other += len;
            }
        }
    }
}

/// A well-mixed 64-bit hash (`SplitMix64`'s finalizer).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What player `slot` does at `tick`: a direction drawn from slot and tick,
/// changed every 20 to 55 ticks (depending on the slot), turned back toward
/// the middle when its own body (as its app sees it) nears a wall; always
/// firing.
fn scripted_input(slot: u8, tick: u32, own: Option<Vec2>) -> ArenaInput {
    let period = 20 + 7 * u32::from(slot);
    let segment = tick / period;
    let draw = mix((u64::from(slot) << 32) | u64::from(segment));
    let (mut move_x, mut move_y) =
        game::DIRECTIONS[(draw % game::DIRECTIONS.len() as u64) as usize];
    if let Some(own) = own {
        let margin = game::HALF_SIZE - Vec2::new(150.0, 100.0);
        if own.x.abs() > margin.x {
            move_x = if own.x > 0.0 { -1 } else { 1 };
        }
        if own.y.abs() > margin.y {
            move_y = if own.y > 0.0 { -1 } else { 1 };
        }
    }
    ArenaInput {
        move_x,
        move_y,
        fire: true,
    }
}

/// This app's own player's body, as this app sees it.
fn own_body(app: &mut App) -> Option<(u8, Option<Vec2>)> {
    let slot = app.world().resource::<Session>().local_slot?;
    let position = app
        .world_mut()
        .query::<(&Player, &Body)>()
        .iter(app.world())
        .find(|(player, _)| player.slot == slot)
        .map(|(_, body)| body.position());
    Some((slot.0, position))
}

fn set_scripted_input(app: &mut App, tick: u32) {
    let Some((slot, position)) = own_body(app) else {
        return;
    };
    app.world_mut().resource_mut::<LocalInput<ArenaInput>>().0 =
        scripted_input(slot, tick, position);
}

fn set_idle_input(app: &mut App) {
    app.world_mut().resource_mut::<LocalInput<ArenaInput>>().0 = ArenaInput::default();
}

/// The queries run on one world every tick.
struct WorldQueries {
    players: QueryState<(&'static Player, &'static Body)>,
    bullets: QueryState<&'static Bullet>,
    clock: QueryState<&'static ArenaClock>,
}

impl WorldQueries {
    fn new(world: &mut World) -> Self {
        Self {
            players: world.query(),
            bullets: world.query(),
            clock: world.query(),
        }
    }

    fn clock(&mut self, world: &World) -> Option<u32> {
        self.clock.iter(world).next().map(|clock| clock.tick)
    }
}

fn units_to_px(units: i32) -> f32 {
    units as f32 / game::UNITS_PER_PX as f32
}

/// Worst differences seen between clients and the host.
#[derive(Default)]
struct Check {
    max_player_error_px: f32,
    max_bullet_error_px: f32,
    max_health_diff: u8,
    missing: u64,
    extra: u64,
    /// Bullets the client already spawned or despawned, as the host did
    /// after the client's clock tick: the update arrived before the clock.
    ahead_of_clock: u64,
    players_compared: u64,
    bullets_compared: u64,
    /// Client states by how many ticks they trailed the host.
    lag_ticks: BTreeMap<u32, u64>,
}

impl Check {
    /// Compares one client's world with the host's state at the client's tick.
    fn client(
        &mut self,
        index: usize,
        world: &World,
        queries: &mut WorldQueries,
        host_tick: u32,
        history: &BTreeMap<u32, HostState>,
    ) {
        let Some(tick) = queries.clock(world) else {
            panic!("client {index} has no ArenaClock during the measured window");
        };
        *self
            .lag_ticks
            .entry(host_tick.wrapping_sub(tick))
            .or_default() += 1;
        let Some(host) = history.get(&tick) else {
            panic!(
                "client {index} is at tick {tick}, host at {host_tick}: no host state kept for it"
            );
        };
        let mut seen_players = 0;
        for (player, body) in queries.players.iter(world) {
            let Some(truth) = host.players.get(&player.slot.0) else {
                self.extra += 1;
                continue;
            };
            seen_players += 1;
            self.players_compared += 1;
            let error = body.position().distance(truth.position());
            self.max_player_error_px = self.max_player_error_px.max(error);
            let health_diff = body.health.abs_diff(truth.health);
            assert!(
                health_diff == 0,
                "client {index} at tick {tick}: slot {} health {} but the host has {}",
                player.slot.0,
                body.health,
                truth.health
            );
            self.max_health_diff = self.max_health_diff.max(health_diff);
        }
        self.missing += (host.players.len() - seen_players) as u64;
        // Host states after the client's tick, up to the host's own.
        let later = || {
            history
                .range(tick.wrapping_add(1)..=host_tick)
                .map(|(_, s)| s)
        };
        let mut seen = HashSet::new();
        for bullet in queries.bullets.iter(world) {
            let Some(&[x, y]) = host.bullets.get(&key(bullet)) else {
                if later().any(|state| state.bullets.contains_key(&key(bullet))) {
                    self.ahead_of_clock += 1;
                } else {
                    self.extra += 1;
                }
                continue;
            };
            seen.insert(key(bullet));
            self.bullets_compared += 1;
            // What the client draws at its own tick, against the host's state.
            let drawn = bullet.position_at(f64::from(tick));
            let error = drawn.distance(Vec2::new(units_to_px(x), units_to_px(y)));
            self.max_bullet_error_px = self.max_bullet_error_px.max(error);
        }
        for bullet in host.bullets.keys().filter(|key| !seen.contains(key)) {
            if later().any(|state| !state.bullets.contains_key(bullet)) {
                self.ahead_of_clock += 1;
            } else {
                self.missing += 1;
            }
        }
    }
}

/// Reads the host's state; returns it with its tick.
fn host_state(world: &World, queries: &mut WorldQueries) -> (u32, HostState) {
    let tick = queries.clock(world).expect("the host has an ArenaClock");
    let players = queries
        .players
        .iter(world)
        .map(|(player, body)| (player.slot.0, *body))
        .collect();
    let bullets = queries
        .bullets
        .iter(world)
        .map(|bullet| (key(bullet), bullet.units_at(tick)))
        .collect();
    (tick, HostState { players, bullets })
}

/// The seed design's snapshot of the host's state, serialized.
fn json_snapshot(tick: u32, state: &HostState) -> Vec<u8> {
    let snapshot = JsonSnapshot {
        frame: tick,
        players: state
            .players
            .iter()
            .map(|(&slot, body)| {
                let position = body.position();
                JsonPlayer {
                    id: slot,
                    x: position.x,
                    y: position.y,
                    health: body.health,
                }
            })
            .collect(),
        entities: state
            .bullets
            .iter()
            .map(|(&(owner, ..), &[x, y])| JsonEntity {
                kind: "bullet",
                x: units_to_px(x),
                y: units_to_px(y),
                owner,
            })
            .collect(),
    };
    serde_json::to_vec(&snapshot).expect("a snapshot serializes")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn per_second(bytes: f64, ticks: u32) -> f64 {
    bytes * HZ / f64::from(ticks)
}

/// One host update of the measured ticks, in a function of its own so that
/// `scripts/bench-host-cost` can count its instructions (callgrind's
/// `--toggle-collect`) apart from the warm-up's and the clients'.
#[inline(never)]
fn measured_host_update(host: &mut App) {
    host.update();
}

fn main() {
    let started = Instant::now();
    // The host runs as the arena's dedicated host does, every schedule on
    // one thread, unless asked for Bevy's default executor.
    let multi_threaded = std::env::args().any(|arg| arg == "--multi-threaded");
    let mut room = MemoryRoom::new(CLIENTS, SEED, |app: &mut App| {
        app.add_plugins(game::ArenaGamePlugin)
            .insert_resource(RULES);
    });
    room.start_game();
    if !multi_threaded {
        executor::run_schedules_on_one_thread(&mut room.host);
    }
    for index in 0..CLIENTS {
        // Clients only: the host's update stays exactly the game's.
        room.client(index)
            .init_resource::<ReceivedByChannel>()
            .add_systems(
                PreUpdate,
                tally_received
                    .after(ClientSystems::ReceivePackets)
                    .before(ClientSystems::Receive),
            );
    }

    let mut host_queries = WorldQueries::new(room.host.world_mut());
    let mut client_queries: Vec<WorldQueries> = (0..CLIENTS)
        .map(|index| WorldQueries::new(room.client(index).world_mut()))
        .collect();

    let mut history: BTreeMap<u32, HostState> = BTreeMap::new();
    let mut check = Check::default();
    let mut host_ticks: Vec<Duration> = Vec::with_capacity(MEASURED_TICKS as usize);
    let mut json_sizes: Vec<usize> = Vec::with_capacity(MEASURED_TICKS as usize);
    let mut bullets_alive: Vec<usize> = Vec::with_capacity(MEASURED_TICKS as usize);
    let mut moves = 0u64;
    let mut fired = 0u64;
    let mut player_ticks = 0u64;
    let mut sample_json = String::new();
    let mut bytes_before = [0u64; CLIENTS];
    let mut tally_before = [ReceivedByChannel::default(); CLIENTS];

    for step in 0..WARM_UP_TICKS + MEASURED_TICKS {
        let measured = step >= WARM_UP_TICKS;
        if step == WARM_UP_TICKS {
            for index in 0..CLIENTS {
                bytes_before[index] = room.network.delivered_bytes(room.client_id(index));
                tally_before[index] = *room.client(index).world().resource::<ReceivedByChannel>();
            }
        }
        set_scripted_input(&mut room.host, step);
        for index in 0..CLIENTS {
            set_scripted_input(room.client(index), step);
        }

        let before = Instant::now();
        if measured {
            measured_host_update(&mut room.host);
        } else {
            room.host.update();
        }
        let host_time = before.elapsed();

        let (tick, state) = host_state(room.host.world(), &mut host_queries);
        if measured {
            host_ticks.push(host_time);
            let json = json_snapshot(tick, &state);
            json_sizes.push(json.len());
            if step == WARM_UP_TICKS + MEASURED_TICKS / 2 {
                sample_json = String::from_utf8(json).expect("JSON is UTF-8");
            }
            bullets_alive.push(state.bullets.len());
            if let Some((_, previous)) = history.last_key_value() {
                fired += state
                    .bullets
                    .keys()
                    .filter(|key| !previous.bullets.contains_key(key))
                    .count() as u64;
                for (slot, body) in &state.players {
                    player_ticks += 1;
                    if previous
                        .players
                        .get(slot)
                        .is_none_or(|old| (old.x, old.y) != (body.x, body.y))
                    {
                        moves += 1;
                    }
                }
            }
        }
        history.insert(tick, state);
        while history.len() > HISTORY_TICKS as usize {
            history.pop_first();
        }

        for (index, queries) in client_queries.iter_mut().enumerate() {
            room.client(index).update();
            if measured {
                check.client(index, room.client(index).world(), queries, tick, &history);
            }
        }
    }

    let bytes: Vec<u64> = (0..CLIENTS)
        .map(|index| room.network.delivered_bytes(room.client_id(index)) - bytes_before[index])
        .collect();
    let tallies: Vec<ReceivedByChannel> = (0..CLIENTS)
        .map(|index| {
            let now = *room.client(index).world().resource::<ReceivedByChannel>();
            let before = tally_before[index];
            ReceivedByChannel {
                updates: now.updates - before.updates,
                mutations: now.mutations - before.mutations,
                other: now.other - before.other,
                messages: now.messages - before.messages,
            }
        })
        .collect();

    // The floor: nobody moves or fires, the bullets die out, then a quiet room.
    for index in 0..CLIENTS {
        set_idle_input(room.client(index));
    }
    set_idle_input(&mut room.host);
    for _ in 0..600 {
        room.step();
        if host_queries
            .bullets
            .iter(room.host.world())
            .next()
            .is_none()
        {
            break;
        }
    }
    for _ in 0..10 {
        room.step();
    }
    let idle_before: Vec<u64> = (0..CLIENTS)
        .map(|index| room.network.delivered_bytes(room.client_id(index)))
        .collect();
    for _ in 0..IDLE_TICKS {
        room.step();
    }
    let idle_bytes: f64 = (0..CLIENTS)
        .map(|index| {
            per_second(
                (room.network.delivered_bytes(room.client_id(index)) - idle_before[index]) as f64,
                IDLE_TICKS,
            )
        })
        .sum::<f64>()
        / CLIENTS as f64;

    // Verdict on what the clients saw.
    assert!(
        check.max_player_error_px <= MAX_POSITION_ERROR_PX
            && check.max_bullet_error_px <= MAX_POSITION_ERROR_PX,
        "a client's position differs from the host's by {} px (players) / {} px (bullets), \
         more than {MAX_POSITION_ERROR_PX} px",
        check.max_player_error_px,
        check.max_bullet_error_px
    );
    assert!(
        check.missing == 0 && check.extra == 0,
        "clients showed {} entities fewer and {} more than the host at their own tick",
        check.missing,
        check.extra
    );

    // Figures.
    let per_client: Vec<f64> = bytes
        .iter()
        .map(|&b| per_second(b as f64, MEASURED_TICKS))
        .collect();
    let bytes_per_client_s = per_client.iter().sum::<f64>() / CLIENTS as f64;
    let json_mean = json_sizes.iter().sum::<usize>() as f64 / json_sizes.len() as f64;
    let json_bytes_per_client_s = json_mean * HZ;
    let ratio = bytes_per_client_s / json_bytes_per_client_s;
    host_ticks.sort_unstable();
    let p50 = percentile(&host_ticks, 0.50);
    let p99 = percentile(&host_ticks, 0.99);
    let bullets_mean = bullets_alive.iter().sum::<usize>() as f64 / bullets_alive.len() as f64;
    let mean_tally = |field: fn(&ReceivedByChannel) -> u64| {
        tallies.iter().map(field).sum::<u64>() as f64 / CLIENTS as f64
    };
    let updates = per_second(mean_tally(|t| t.updates), MEASURED_TICKS);
    let mutations = per_second(mean_tally(|t| t.mutations), MEASURED_TICKS);
    let other = per_second(mean_tally(|t| t.other), MEASURED_TICKS);
    let messages = per_second(mean_tally(|t| t.messages), MEASURED_TICKS);
    let framing = messages * 2.0;
    let rest = bytes_per_client_s - updates - mutations - other - framing;

    println!(
        "arena replication: host + {CLIENTS} clients over in-memory links (perfect), \
         6 players, {MEASURED_TICKS} ticks at {HZ} Hz measured after {WARM_UP_TICKS} warm-up ticks"
    );
    println!(
        "rules: player_speed={} bullet_speed={} fire_interval={} bullet_life={} (decipixels, ticks)",
        RULES.player_speed, RULES.bullet_speed, RULES.fire_interval, RULES.bullet_life
    );
    println!(
        "bullets alive per tick: mean {bullets_mean:.1}, min {}, max {}",
        bullets_alive.iter().min().copied().unwrap_or(0),
        bullets_alive.iter().max().copied().unwrap_or(0)
    );
    println!(
        "bullets fired: {:.1} per second",
        per_second(fired as f64, MEASURED_TICKS)
    );
    println!(
        "players moved on {:.1}% of player-ticks",
        100.0 * moves as f64 / player_ticks.max(1) as f64
    );
    println!(
        "bytes delivered to each client (all transport payload: replication + pings + framing), B/s: {}",
        per_client
            .iter()
            .map(|b| format!("{b:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  of which, per client: replicon updates (spawns, despawns, inserts) {updates:.0} B/s, \
         mutations {mutations:.0} B/s, other replicon channels {other:.0} B/s, \
         framing {framing:.0} B/s ({messages:.0} packets/s), pings {rest:.0} B/s"
    );
    println!(
        "  = {:.1} B per client per tick; an idle room (nobody moves or fires) costs {idle_bytes:.0} B/s per client",
        bytes_per_client_s / HZ
    );
    println!(
        "seed-design JSON snapshot: mean {json_mean:.0} B, min {}, max {}; sent every tick to every client",
        json_sizes.iter().min().copied().unwrap_or(0),
        json_sizes.iter().max().copied().unwrap_or(0)
    );
    let preview: String = sample_json.chars().take(160).collect();
    println!("  sample: {preview}...");
    println!(
        "client reconstruction vs host at the client's clock tick: max player error {:.4} px, \
         max bullet error {:.4} px (limit {MAX_POSITION_ERROR_PX}), max health diff {}, \
         {} missing, {} extra ({} bullet spawns/despawns ahead of the client's clock); \
         compared {} player and {} bullet states",
        check.max_player_error_px,
        check.max_bullet_error_px,
        check.max_health_diff,
        check.missing,
        check.extra,
        check.ahead_of_clock,
        check.players_compared,
        check.bullets_compared
    );
    println!(
        "client clock lag behind the host (ticks: count): {}",
        check
            .lag_ticks
            .iter()
            .map(|(lag, count)| format!("{lag}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "host update wall time per tick: p50 {:.0} us, p99 {:.0} us, max {:.0} us ({}, this machine)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        host_ticks.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        if multi_threaded {
            "Bevy's multi-threaded executor"
        } else {
            "every schedule on one thread, as the dedicated host runs"
        }
    );
    println!("bench wall time: {:.1} s", started.elapsed().as_secs_f64());
    println!(
        "bytes_per_client_s={:.0} json_bytes_per_client_s={:.0} ratio={ratio:.3} host_tick_p50_us={:.0} host_tick_p99_us={:.0}",
        bytes_per_client_s,
        json_bytes_per_client_s,
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}
