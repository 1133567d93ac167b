//! The arena's rules: what is replicated, and what the host simulates.
//!
//! Headless on purpose: no rendering here, so the dedicated-host mode, the
//! tests and the replication benchmark run exactly this code.
//!
//! Positions are whole decipixels (0.1 px) on the host itself, so what a
//! client receives is the authoritative state exactly, not an approximation
//! of it. Bullets fly straight: the host replicates each bullet once (where
//! and when it was fired, and its velocity) plus a shared tick counter, and
//! every peer computes where it is now from those. Players are sent the same
//! way, as a [`Stride`]: where a player was on a tick and how far it moves
//! each tick since. The host sends a new one only when the player turns,
//! stops, meets a wall or respawns, and its [`Health`] only when it changes;
//! clients rebuild each player's [`Body`] from them and the clock. A player
//! running straight costs no bytes.

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;
use bevy_replicon::prelude::ClientSystems;
use serde::{Deserialize, Serialize};

/// Decipixels per pixel: positions are replicated in 0.1 px units.
pub const UNITS_PER_PX: i32 = 10;
/// Half the arena's size, in pixels.
pub const HALF_SIZE: Vec2 = Vec2::new(620.0, 340.0);
/// A player's radius, in pixels.
pub const PLAYER_RADIUS: f32 = 20.0;
/// A bullet's radius, in pixels.
pub const BULLET_RADIUS: f32 = 4.0;
/// Health a player starts and respawns with.
pub const MAX_HEALTH: u8 = 100;
/// Damage one hit does.
pub const DAMAGE: u8 = 10;
/// Simulation ticks per second.
pub const TICK_HZ: u32 = 60;

/// Player colours by slot: distinct, readable on the dark floor.
pub const COLORS: [Color; 6] = [
    Color::srgb(0.95, 0.35, 0.30),
    Color::srgb(0.30, 0.70, 0.95),
    Color::srgb(0.40, 0.85, 0.40),
    Color::srgb(0.95, 0.80, 0.25),
    Color::srgb(0.80, 0.45, 0.95),
    Color::srgb(0.95, 0.55, 0.20),
];

/// The eight directions a player can walk in, for scripted players.
pub const DIRECTIONS: [(i8, i8); 8] = [
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

/// Rates the host plays by; the benchmark turns them up.
#[derive(Resource, Clone, Copy, Debug)]
pub struct ArenaRules {
    /// Player speed, decipixels per tick (40 = 240 px/s at 60 Hz).
    pub player_speed: i32,
    /// Bullet speed, decipixels per tick (100 = 600 px/s).
    pub bullet_speed: i32,
    /// Ticks between two shots of one player.
    pub fire_interval: u32,
    /// Ticks a bullet flies before it fades.
    pub bullet_life: u32,
}

impl Default for ArenaRules {
    fn default() -> Self {
        Self {
            player_speed: 40,
            bullet_speed: 100,
            fire_interval: 15,
            bullet_life: 90,
        }
    }
}

/// What a player does this tick.
#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ArenaInput {
    /// -1, 0 or 1 on each axis.
    pub move_x: i8,
    /// -1, 0 or 1 on each axis (up is +1).
    pub move_y: i8,
    /// Shoot (held: shoots again each fire interval).
    pub fire: bool,
}

/// A player's body: where it is (decipixels) and its health. The host
/// simulates it; it is not replicated as it is: clients rebuild it from
/// the player's [`Stride`] and [`Health`] and the clock.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Body {
    /// Position, decipixels.
    pub x: i16,
    /// Position, decipixels.
    pub y: i16,
    /// 0 to [`MAX_HEALTH`].
    pub health: u8,
}

impl Body {
    /// Position in pixels.
    pub fn position(&self) -> Vec2 {
        Vec2::new(f32::from(self.x), f32::from(self.y)) / UNITS_PER_PX as f32
    }
}

/// How a player moves, replicated: at tick `since` it was at `origin`, and
/// it moves by `step` every tick after (decipixels), until the next stride.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stride {
    /// Position on tick `since`, decipixels.
    pub origin: [i16; 2],
    /// Decipixels per tick.
    pub step: [i16; 2],
    /// The tick of `origin`.
    pub since: u32,
    /// The player's own tick counter (`ShippedInputTick`) of the input the
    /// host applied on tick `since`; 0 for the host's player or before its
    /// first input. A client predicting its own player pairs ticks by it.
    pub input_tick: u32,
}

impl Stride {
    /// Position on `tick`, decipixels (a tick before `since` too, one
    /// step back a tick: a clock a tick behind the stride).
    pub fn units_at(&self, tick: u32) -> [i32; 2] {
        straight_line(self.origin, self.step, self.since, tick)
    }
}

/// Where something that was at `origin` on tick `since` and moves `step`
/// each tick is on `tick`, decipixels: exact, as the host computes it.
fn straight_line(origin: [i16; 2], step: [i16; 2], since: u32, tick: u32) -> [i32; 2] {
    // By distance, so that a tick before `since` (or a wrapped counter)
    // is a negative age, not a huge one.
    let age = tick.wrapping_sub(since) as i32;
    [
        i32::from(origin[0]) + i32::from(step[0]) * age,
        i32::from(origin[1]) + i32::from(step[1]) * age,
    ]
}

/// A position in decipixels, in pixels.
pub fn units_to_px(units: [i32; 2]) -> Vec2 {
    Vec2::new(units[0] as f32, units[1] as f32) / UNITS_PER_PX as f32
}

/// [`straight_line`] at a fractional tick, in pixels, for drawing.
fn straight_line_px(origin: [i16; 2], step: [i16; 2], since: u32, tick: f64) -> Vec2 {
    let age = (tick - f64::from(since)) as f32;
    let origin = Vec2::new(f32::from(origin[0]), f32::from(origin[1]));
    let step = Vec2::new(f32::from(step[0]), f32::from(step[1]));
    (origin + step * age) / UNITS_PER_PX as f32
}

/// A player's health, replicated apart from where it is: it changes only
/// when it is hit or respawns.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Health(pub u8);

/// Host-only state of a player's gun: which way it points, when it may fire.
#[derive(Component, Clone, Copy, Debug)]
pub struct Gun {
    aim: (i8, i8),
    ready_at: u32,
}

/// A bullet, replicated once: everything after follows from the clock.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[require(Replicated)]
pub struct Bullet {
    /// Where it was fired from, decipixels.
    pub origin: [i16; 2],
    /// Decipixels per tick.
    pub velocity: [i16; 2],
    /// The tick it was fired on.
    pub fired_at: u32,
    /// The shooter's slot.
    pub owner: u8,
}

impl Bullet {
    /// Position at `tick`, decipixels, exactly as the host computes it.
    pub fn units_at(&self, tick: u32) -> [i32; 2] {
        straight_line(self.origin, self.velocity, self.fired_at, tick)
    }

    /// Position at `tick` (a fraction allowed, for smooth drawing), pixels;
    /// before it was fired, at its muzzle.
    pub fn position_at(&self, tick: f64) -> Vec2 {
        straight_line_px(
            self.origin,
            self.velocity,
            self.fired_at,
            tick.max(f64::from(self.fired_at)),
        )
    }
}

/// The simulation tick, on one replicated entity: bullets are drawn from it.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[require(Replicated)]
pub struct ArenaClock {
    /// Ticks simulated since the game started.
    pub tick: u32,
}

/// Registers the arena's replication, inputs and host simulation.
pub struct ArenaGamePlugin;

impl Plugin for ArenaGamePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ArenaRules>()
            .add_player_input::<ArenaInput>()
            .replicate::<Stride>()
            .replicate::<Health>()
            .replicate_once::<Bullet>()
            .replicate::<ArenaClock>()
            .add_observer(give_body)
            .add_systems(
                FixedUpdate,
                (advance_clock, move_players, fire, fly_bullets, send_bodies)
                    .chain()
                    .in_set(GameplaySystems)
                    .run_if(is_host),
            )
            // Replicated state arrives in `PreUpdate`: the bodies follow
            // before any system of the frame reads them.
            .add_systems(
                PreUpdate,
                rebuild_bodies
                    .run_if(is_client)
                    .after(ClientSystems::Receive),
            );
    }
}

/// Where each slot (re)spawns, decipixels: spread around the arena.
pub fn spawn_point(slot: PlayerSlot) -> (i16, i16) {
    const POINTS: [(i16, i16); 6] = [
        (-4000, 2000),
        (4000, -2000),
        (4000, 2000),
        (-4000, -2000),
        (0, 2600),
        (0, -2600),
    ];
    POINTS[slot.index() % POINTS.len()]
}

fn give_body(
    add: On<Add, Player>,
    mut commands: Commands,
    role: Option<Res<Role>>,
    players: Query<&Player>,
    clocks: Query<(), With<ArenaClock>>,
) {
    if role.as_deref() != Some(&Role::Host) {
        return;
    }
    let Ok(player) = players.get(add.entity) else {
        return;
    };
    let (x, y) = spawn_point(player.slot);
    commands.entity(add.entity).insert((
        Body {
            x,
            y,
            health: MAX_HEALTH,
        },
        Stride {
            origin: [x, y],
            step: [0, 0],
            since: 0,
            input_tick: 0,
        },
        Health(MAX_HEALTH),
        Gun {
            aim: if x < 0 { (1, 0) } else { (-1, 0) },
            ready_at: 0,
        },
    ));
    if clocks.is_empty() {
        commands.spawn(ArenaClock::default());
    }
}

/// On the host, after the tick's simulation: a new stride for every player
/// that did not move as its stride says (turned, stopped, met a wall,
/// respawned), and its health when it changed. Only those cost bytes.
fn send_bodies(
    rules: Res<ArenaRules>,
    inputs: Res<PlayerInputs<ArenaInput>>,
    clock: Single<&ArenaClock>,
    mut players: Query<(&Player, &Body, &mut Stride, &mut Health)>,
) {
    let tick = clock.tick;
    for (player, body, mut stride, mut health) in &mut players {
        let now = [i32::from(body.x), i32::from(body.y)];
        if stride.units_at(tick) != now {
            // The step it took this tick, from where its stride had it on
            // the tick before (where it was: strides are kept true). A
            // jump no player can make is a respawn: it stands still there,
            // so a client missing the next stride does not fly it off.
            let [px, py] = stride.units_at(tick.wrapping_sub(1));
            let step = [now[0] - px, now[1] - py];
            let walked = step.iter().all(|d| d.abs() <= rules.player_speed);
            *stride = Stride {
                origin: [body.x, body.y],
                step: if walked {
                    [step[0] as i16, step[1] as i16]
                } else {
                    [0, 0]
                },
                since: tick,
                input_tick: inputs.input_tick(player.slot).unwrap_or(0),
            };
        }
        health.set_if_neq(Health(body.health));
    }
}

/// On a client: each player's body where its stride has it on the clock's
/// tick, with its health. Only a real change touches the body, so a still
/// player is not redrawn.
fn rebuild_bodies(
    mut commands: Commands,
    clock: Query<&ArenaClock>,
    mut players: Query<(Entity, &Stride, &Health, Option<&mut Body>)>,
) {
    let Some(clock) = clock.iter().next() else {
        return;
    };
    for (entity, stride, health, body) in &mut players {
        let [x, y] = stride.units_at(clock.tick);
        let rebuilt = Body {
            x: x as i16,
            y: y as i16,
            health: health.0,
        };
        match body {
            Some(mut body) => {
                body.set_if_neq(rebuilt);
            }
            None => {
                commands.entity(entity).insert(rebuilt);
            }
        }
    }
}

fn advance_clock(mut clocks: Query<&mut ArenaClock>) {
    for mut clock in &mut clocks {
        clock.tick = clock.tick.wrapping_add(1);
    }
}

fn move_players(
    rules: Res<ArenaRules>,
    inputs: Res<PlayerInputs<ArenaInput>>,
    mut players: Query<(&Player, &mut Body, &mut Gun)>,
) {
    for (player, mut body, mut gun) in &mut players {
        let Some(input) = inputs.get(player.slot).copied() else {
            continue;
        };
        let (dx, dy) = (input.move_x.signum(), input.move_y.signum());
        if dx == 0 && dy == 0 {
            continue;
        }
        gun.aim = (dx, dy);
        let [x, y] = walk([i32::from(body.x), i32::from(body.y)], input, &rules);
        // Only a real move touches the component: a still player costs no bytes.
        body.set_if_neq(Body {
            x: x as i16,
            y: y as i16,
            health: body.health,
        });
    }
}

/// Where a player at `from` (decipixels) is after one tick of `input`:
/// the host's rule, and a predicting client's.
pub fn walk(from: [i32; 2], input: ArenaInput, rules: &ArenaRules) -> [i32; 2] {
    let (dx, dy) = (input.move_x.signum(), input.move_y.signum());
    if dx == 0 && dy == 0 {
        return from;
    }
    let limit = (HALF_SIZE - PLAYER_RADIUS) * UNITS_PER_PX as f32;
    // Diagonals at the same speed, rounded to whole decipixels.
    let scale = if dx != 0 && dy != 0 {
        core::f32::consts::FRAC_1_SQRT_2
    } else {
        1.0
    };
    let step = (rules.player_speed as f32 * scale).round() as i32;
    [
        (from[0] + step * i32::from(dx)).clamp(-limit.x as i32, limit.x as i32),
        (from[1] + step * i32::from(dy)).clamp(-limit.y as i32, limit.y as i32),
    ]
}

fn fire(
    mut commands: Commands,
    rules: Res<ArenaRules>,
    inputs: Res<PlayerInputs<ArenaInput>>,
    clock: Single<&ArenaClock>,
    mut players: Query<(&Player, &Body, &mut Gun)>,
) {
    for (player, body, mut gun) in &mut players {
        let wants = inputs.get(player.slot).is_some_and(|input| input.fire);
        if !wants || clock.tick < gun.ready_at {
            continue;
        }
        gun.ready_at = clock.tick + rules.fire_interval;
        let (ax, ay) = (i32::from(gun.aim.0), i32::from(gun.aim.1));
        let speed = if ax != 0 && ay != 0 {
            (rules.bullet_speed as f32 * core::f32::consts::FRAC_1_SQRT_2).round() as i32
        } else {
            rules.bullet_speed
        };
        // Fired from the rim of the player, so it does not hit its shooter.
        let muzzle = (PLAYER_RADIUS + BULLET_RADIUS + 1.0) * UNITS_PER_PX as f32;
        let norm = if ax != 0 && ay != 0 {
            core::f32::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        let offset = (muzzle * norm).round() as i32;
        commands.spawn(Bullet {
            origin: [
                (i32::from(body.x) + ax * offset) as i16,
                (i32::from(body.y) + ay * offset) as i16,
            ],
            velocity: [(ax * speed) as i16, (ay * speed) as i16],
            fired_at: clock.tick,
            owner: player.slot.0,
        });
    }
}

fn fly_bullets(
    mut commands: Commands,
    rules: Res<ArenaRules>,
    clock: Single<&ArenaClock>,
    bullets: Query<(Entity, &Bullet)>,
    mut players: Query<(&Player, &mut Body)>,
) {
    let bounds = HALF_SIZE * UNITS_PER_PX as f32;
    let hit_range = ((PLAYER_RADIUS + BULLET_RADIUS) * UNITS_PER_PX as f32) as i64;
    for (entity, bullet) in &bullets {
        let [x, y] = bullet.units_at(clock.tick);
        let expired = clock.tick.wrapping_sub(bullet.fired_at) > rules.bullet_life;
        let outside = x.abs() as f32 > bounds.x || y.abs() as f32 > bounds.y;
        if expired || outside {
            commands.entity(entity).despawn();
            continue;
        }
        let target = players.iter_mut().find(|(player, body)| {
            let (dx, dy) = (
                i64::from(body.x) - i64::from(x),
                i64::from(body.y) - i64::from(y),
            );
            player.slot.0 != bullet.owner && dx * dx + dy * dy <= hit_range * hit_range
        });
        if let Some((player, mut body)) = target {
            commands.entity(entity).despawn();
            if body.health <= DAMAGE {
                let (sx, sy) = spawn_point(player.slot);
                *body = Body {
                    x: sx,
                    y: sy,
                    health: MAX_HEALTH,
                };
            } else {
                body.health -= DAMAGE;
            }
        }
    }
}
