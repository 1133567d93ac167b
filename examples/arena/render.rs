//! Drawing the arena: floor, players, bullets, smoothly.
//!
//! Clients see the host's state 60 times a second at best, and late or in
//! bursts on a bad link. Players are drawn gliding from where they were
//! drawn to where the newest state says, over one tick; bullets are drawn
//! where their straight flight puts them now, between ticks included.

use bevy::{camera::ScalingMode, prelude::*};
use bevy_p2p_multiplayer::prelude::*;

use crate::game::{
    ArenaClock, BULLET_RADIUS, Body, Bullet, COLORS, HALF_SIZE, MAX_HEALTH, PLAYER_RADIUS, TICK_HZ,
};

/// World pixels shown around the arena, so its walls are never at the
/// window's edge.
const VIEW_MARGIN: f32 = 20.0;

/// Draws the arena in a window.
pub struct ArenaRenderPlugin;

impl Plugin for ArenaRenderPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ClockSeen>()
            .add_systems(Startup, setup_scene)
            .add_observer(dress_player)
            .add_observer(dress_bullet)
            .add_systems(
                Update,
                (
                    track_clock,
                    start_glides,
                    advance_glides,
                    place_bullets,
                    shade_health,
                )
                    .chain(),
            );
    }
}

#[derive(Resource)]
struct Shapes {
    player: Handle<Mesh>,
    bullet: Handle<Mesh>,
    colors: Vec<Handle<ColorMaterial>>,
}

/// Where a player is drawn, moving toward the latest replicated position.
#[derive(Component)]
struct Glide {
    from: Vec2,
    to: Vec2,
    progress: f32,
}

/// When this app last saw the clock tick, to draw bullets between ticks.
#[derive(Resource, Default)]
struct ClockSeen {
    tick: u32,
    at: f64,
}

fn setup_scene(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
) {
    // The whole arena, plus a margin, in any window: native windows resize
    // and browser pages come in every size. The view grows to keep the
    // arena's aspect, never cuts it.
    commands.spawn((
        Camera2d,
        Projection::Orthographic(OrthographicProjection {
            scaling_mode: ScalingMode::AutoMin {
                min_width: (HALF_SIZE.x + VIEW_MARGIN) * 2.0,
                min_height: (HALF_SIZE.y + VIEW_MARGIN) * 2.0,
            },
            ..OrthographicProjection::default_2d()
        }),
    ));
    commands.spawn((
        Sprite::from_color(Color::srgb(0.11, 0.12, 0.15), HALF_SIZE * 2.0),
        Transform::from_xyz(0.0, 0.0, -1.0),
    ));
    commands.insert_resource(Shapes {
        player: meshes.add(Circle::new(PLAYER_RADIUS)),
        bullet: meshes.add(Circle::new(BULLET_RADIUS)),
        colors: COLORS.iter().map(|&c| materials.add(c)).collect(),
    });
}

fn dress_player(
    add: On<Add, Body>,
    mut commands: Commands,
    shapes: Res<Shapes>,
    players: Query<(&Player, &Body)>,
) {
    let Ok((player, body)) = players.get(add.entity) else {
        return;
    };
    let at = body.position();
    commands.entity(add.entity).insert((
        Mesh2d(shapes.player.clone()),
        MeshMaterial2d(shapes.colors[player.slot.index() % shapes.colors.len()].clone()),
        Transform::from_translation(at.extend(1.0)),
        Glide {
            from: at,
            to: at,
            progress: 1.0,
        },
    ));
}

fn dress_bullet(
    add: On<Add, Bullet>,
    mut commands: Commands,
    shapes: Res<Shapes>,
    bullets: Query<&Bullet>,
) {
    let Ok(bullet) = bullets.get(add.entity) else {
        return;
    };
    let origin = bullet.position_at(f64::from(bullet.fired_at));
    commands.entity(add.entity).insert((
        Mesh2d(shapes.bullet.clone()),
        MeshMaterial2d(shapes.colors[usize::from(bullet.owner) % shapes.colors.len()].clone()),
        Transform::from_translation(origin.extend(2.0)),
    ));
}

fn track_clock(time: Res<Time<Real>>, mut seen: ResMut<ClockSeen>, clock: Query<&ArenaClock>) {
    if let Some(clock) = clock.iter().next()
        && clock.tick != seen.tick
    {
        seen.tick = clock.tick;
        seen.at = time.elapsed_secs_f64();
    }
}

fn start_glides(mut players: Query<(&Body, &mut Glide, &Transform), Changed<Body>>) {
    // A new position starts a glide from where the player is drawn now.
    for (body, mut glide, transform) in &mut players {
        glide.from = transform.translation.truncate();
        glide.to = body.position();
        glide.progress = 0.0;
    }
}

fn advance_glides(time: Res<Time>, mut players: Query<(&mut Glide, &mut Transform)>) {
    // One tick to cover the distance, as the host moved it in one tick.
    let step = time.delta_secs() * TICK_HZ as f32;
    for (mut glide, mut transform) in &mut players {
        glide.progress = (glide.progress + step).min(1.0);
        let at = glide.from.lerp(glide.to, glide.progress);
        transform.translation = at.extend(transform.translation.z);
    }
}

fn place_bullets(
    time: Res<Time<Real>>,
    seen: Res<ClockSeen>,
    mut bullets: Query<(&Bullet, &mut Transform)>,
) {
    // Between ticks bullets keep flying, never more than a tick ahead.
    let since = ((time.elapsed_secs_f64() - seen.at) * f64::from(TICK_HZ)).clamp(0.0, 1.0);
    let now = f64::from(seen.tick) + since;
    for (bullet, mut transform) in &mut bullets {
        transform.translation = bullet.position_at(now).extend(2.0);
    }
}

fn shade_health(mut players: Query<(&Body, &mut Transform), Changed<Body>>) {
    // A hurt player shrinks a little: health at a glance, no text needed.
    for (body, mut transform) in &mut players {
        let share = f32::from(body.health) / f32::from(MAX_HEALTH);
        transform.scale = Vec3::splat(0.6 + 0.4 * share);
    }
}
