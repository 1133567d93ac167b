//! The arena's rules: what is replicated, and what the host simulates.
//!
//! Headless on purpose: no rendering here, so the dedicated-host mode, the
//! tests and the replication benchmark run exactly this code.
//!
//! Positions are whole decipixels (0.1 px) on the host itself, so what a
//! client receives is the authoritative state exactly, not an approximation
//! of it. Bullets fly straight: the host replicates each bullet once (where
//! and when it was fired, and its velocity) plus a shared tick counter, and
//! every peer computes where it is now from those. Players, who turn at will,
//! are replicated whenever they move.

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;
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

/// A player's body: where it is (decipixels) and its health.
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
        let age = tick.wrapping_sub(self.fired_at) as i32;
        [
            i32::from(self.origin[0]) + i32::from(self.velocity[0]) * age,
            i32::from(self.origin[1]) + i32::from(self.velocity[1]) * age,
        ]
    }

    /// Position at `tick` (a fraction allowed, for smooth drawing), pixels.
    ///
    /// A client's clock can trail a bullet's spawn by a tick or two (spawns
    /// travel on the reliable channel, the clock on the unreliable one): such
    /// a bullet is drawn at its muzzle, never behind it.
    pub fn position_at(&self, tick: f64) -> Vec2 {
        let age = (tick - f64::from(self.fired_at)).max(0.0) as f32;
        let origin = Vec2::new(f32::from(self.origin[0]), f32::from(self.origin[1]));
        let velocity = Vec2::new(f32::from(self.velocity[0]), f32::from(self.velocity[1]));
        (origin + velocity * age) / UNITS_PER_PX as f32
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
            .replicate::<Body>()
            .replicate_once::<Bullet>()
            .replicate::<ArenaClock>()
            .add_observer(give_body)
            .add_systems(
                FixedUpdate,
                (advance_clock, move_players, fire, fly_bullets)
                    .chain()
                    .in_set(GameplaySystems)
                    .run_if(is_host),
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
        Gun {
            aim: if x < 0 { (1, 0) } else { (-1, 0) },
            ready_at: 0,
        },
    ));
    if clocks.is_empty() {
        commands.spawn(ArenaClock::default());
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
    let limit = (HALF_SIZE - PLAYER_RADIUS) * UNITS_PER_PX as f32;
    for (player, mut body, mut gun) in &mut players {
        let Some(input) = inputs.get(player.slot).copied() else {
            continue;
        };
        let (dx, dy) = (input.move_x.signum(), input.move_y.signum());
        if dx == 0 && dy == 0 {
            continue;
        }
        gun.aim = (dx, dy);
        // Diagonals at the same speed, rounded to whole decipixels.
        let scale = if dx != 0 && dy != 0 {
            core::f32::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        let step = (rules.player_speed as f32 * scale).round() as i32;
        let x = (i32::from(body.x) + step * i32::from(dx)).clamp(-limit.x as i32, limit.x as i32);
        let y = (i32::from(body.y) + step * i32::from(dy)).clamp(-limit.y as i32, limit.y as i32);
        // Only a real move touches the component: a still player costs no bytes.
        body.set_if_neq(Body {
            x: x as i16,
            y: y as i16,
            health: body.health,
        });
    }
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
