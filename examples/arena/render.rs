//! Drawing the arena: floor, players, bullets, where [`crate::view`] says.
//!
//! Clients see the host's state 60 times a second at best, and late or in
//! bursts on a bad link; the view draws the whole scene at one host tick
//! that advances smoothly with real time, behind the newest by what the
//! link's jitter needs. This module only turns its positions into meshes.

use bevy::{camera::ScalingMode, prelude::*};
use bevy_p2p_multiplayer::prelude::*;

use crate::{
    game::{BULLET_RADIUS, Body, Bullet, COLORS, HALF_SIZE, MAX_HEALTH, PLAYER_RADIUS},
    view::{ArenaViewPlugin, ArenaViewSystems, DrawnAt},
};

/// World pixels shown around the arena, so its walls are never at the
/// window's edge.
const VIEW_MARGIN: f32 = 20.0;

/// Draws the arena in a window.
pub struct ArenaRenderPlugin;

impl Plugin for ArenaRenderPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(ArenaViewPlugin)
            .add_systems(Startup, setup_scene)
            .add_observer(dress_player)
            .add_observer(dress_bullet)
            .add_systems(Update, (move_drawn, shade_health).after(ArenaViewSystems));
    }
}

#[derive(Resource)]
struct Shapes {
    player: Handle<Mesh>,
    bullet: Handle<Mesh>,
    colors: Vec<Handle<ColorMaterial>>,
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
    commands.entity(add.entity).insert((
        Mesh2d(shapes.player.clone()),
        MeshMaterial2d(shapes.colors[player.slot.index() % shapes.colors.len()].clone()),
        Transform::from_translation(body.position().extend(1.0)),
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
    // Hidden until the tick drawn reaches its firing.
    let origin = bullet.position_at(f64::from(bullet.fired_at));
    commands.entity(add.entity).insert((
        Mesh2d(shapes.bullet.clone()),
        MeshMaterial2d(shapes.colors[usize::from(bullet.owner) % shapes.colors.len()].clone()),
        Transform::from_translation(origin.extend(2.0)),
        Visibility::Hidden,
    ));
}

fn move_drawn(mut drawn: Query<(&DrawnAt, &mut Transform, &mut Visibility), Changed<DrawnAt>>) {
    for (at, mut transform, mut visibility) in &mut drawn {
        match at.0 {
            Some(at) => {
                transform.translation = at.extend(transform.translation.z);
                visibility.set_if_neq(Visibility::Inherited);
            }
            None => {
                visibility.set_if_neq(Visibility::Hidden);
            }
        }
    }
}

fn shade_health(mut players: Query<(&Body, &mut Transform), Changed<Body>>) {
    // A hurt player shrinks a little: health at a glance, no text needed.
    for (body, mut transform) in &mut players {
        let share = f32::from(body.health) / f32::from(MAX_HEALTH);
        transform.scale = Vec3::splat(0.6 + 0.4 * share);
    }
}
