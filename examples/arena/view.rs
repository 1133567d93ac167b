//! Where each player and bullet is drawn this frame: headless, so that the
//! latency benchmark measures exactly what the window shows.
//!
//! Everything is drawn at one fractional host tick, the same for the whole
//! scene, which advances with real time:
//! - on a client, a [`PlayoutClock`] fed with the replicated [`ArenaClock`]
//!   says which: behind the newest tick by what the link's jitter needs
//!   (a tick on a clean link), never a fixed 100 ms;
//! - on the host, one tick behind its own simulation plus the fixed
//!   timestep's overstep, so that it draws between two ticks it has
//!   simulated and never guesses.
//!
//! A player is drawn where its [`Stride`] put it at that tick. A client
//! keeps each player's last few strides (a [`StrideTrail`]), because the
//! tick drawn can be older than the newest stride: a player that turned on
//! tick 100 is drawn on its old path at tick 99.5. Past the newest tick
//! held, the newest stride goes on (a straight line), which is what the
//! host does unless the player turns. A bullet is drawn where its straight
//! flight puts it, and hidden until the tick drawn reaches its firing.
//! With prediction on (`predict.rs`), a client draws its own player ahead,
//! where its own inputs took it.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_p2p_multiplayer::{
    playout::{PlayoutClock, PlayoutSettings},
    prelude::*,
};
use bevy_replicon::prelude::ClientSystems;

use crate::{
    game::{ArenaClock, Bullet, Stride, TICK_HZ, units_to_px},
    predict::Prediction,
};

/// Strides kept per player: a quarter of a second of turning every tick,
/// far more than the delay a client draws behind.
const TRAIL_LEN: usize = 16;

/// Computes [`DrawnAt`] for every player and bullet, in `Update`.
pub struct ArenaViewPlugin;

impl Plugin for ArenaViewPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DrawClock>()
            // As soon as a client receives them, so that the prediction
            // (`FixedUpdate`) pairs the clock with the strides of the same
            // tick; and again before drawing, for the host's own.
            .add_systems(PreUpdate, follow_strides.after(ClientSystems::Receive))
            .add_systems(
                Update,
                (follow_strides, place_scene)
                    .chain()
                    .in_set(ArenaViewSystems),
            );
    }
}

/// The systems that compute [`DrawnAt`] (`Update`): draw after them.
#[derive(SystemSet, Clone, PartialEq, Eq, Hash, Debug)]
pub struct ArenaViewSystems;

/// The host tick the scene is drawn at this frame.
#[derive(Resource)]
pub struct DrawClock {
    /// A client's playout clock (the host uses its own simulation).
    pub playout: PlayoutClock,
    /// The tick drawn this frame, fractional; `None` before the first.
    pub tick: Option<f64>,
}

impl Default for DrawClock {
    fn default() -> Self {
        Self {
            playout: PlayoutClock::new(PlayoutSettings {
                tick_hz: f64::from(TICK_HZ),
                ..PlayoutSettings::default()
            }),
            tick: None,
        }
    }
}

/// A player's latest strides, oldest first.
#[derive(Component, Default, Debug)]
pub struct StrideTrail(VecDeque<Stride>);

impl StrideTrail {
    /// Adds `stride` as the newest, keeping the last [`TRAIL_LEN`].
    pub fn push(&mut self, stride: Stride) {
        if self.newest() != Some(&stride) {
            self.0.push_back(stride);
            if self.0.len() > TRAIL_LEN {
                self.0.pop_front();
            }
        }
    }

    /// The newest stride held.
    pub fn newest(&self) -> Option<&Stride> {
        self.0.back()
    }

    /// Where the player was on `tick`, decipixels, as the host simulated
    /// it: by the newest stride begun by then (or the oldest kept).
    pub fn units_at(&self, tick: u32) -> Option<[i32; 2]> {
        let stride = self
            .0
            .iter()
            .rev()
            .find(|stride| tick.wrapping_sub(stride.since) as i32 >= 0)
            .or_else(|| self.0.front())?;
        Some(stride.units_at(tick))
    }

    /// Where the player is drawn at `tick`, a fraction allowed, pixels: on
    /// the straight line between where it was on the ticks either side, so
    /// a turn or a stop is drawn where and when it happened, with no jump.
    pub fn position_at(&self, tick: f64) -> Option<Vec2> {
        let before = tick.floor();
        let from = self.units_at(before as u32)?;
        let to = self.units_at((before as u32).wrapping_add(1))?;
        Some(units_to_px(from).lerp(units_to_px(to), (tick - before) as f32))
    }
}

/// Where an entity is drawn this frame, pixels; `None`: not shown yet.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct DrawnAt(pub Option<Vec2>);

fn follow_strides(
    mut commands: Commands,
    mut players: Query<(Entity, &Stride, Option<&mut StrideTrail>), Changed<Stride>>,
) {
    for (entity, stride, trail) in &mut players {
        match trail {
            Some(mut trail) => trail.push(*stride),
            None => {
                let mut trail = StrideTrail::default();
                trail.push(*stride);
                commands.entity(entity).insert((trail, DrawnAt::default()));
            }
        }
    }
}

/// One system for the whole scene (fewer systems, a smaller browser
/// download): the tick to draw, then every player and bullet at it.
#[expect(
    clippy::too_many_arguments,
    reason = "a Bevy system's parameters are its inputs"
)]
fn place_scene(
    mut commands: Commands,
    time: Res<Time<Real>>,
    fixed: Res<Time<Fixed>>,
    role: Option<Res<Role>>,
    session: Res<Session>,
    prediction: Option<Res<Prediction>>,
    clock: Query<&ArenaClock>,
    mut draw: ResMut<DrawClock>,
    mut players: Query<(&Player, &StrideTrail, &mut DrawnAt)>,
    mut bullets: Query<(Entity, &Bullet, Option<&mut DrawnAt>), Without<Player>>,
) {
    let Some(clock) = clock.iter().next() else {
        // Between games: the next game's clock starts afresh, and a
        // playout clock that held a later tick would wait for it forever.
        let settings = *draw.playout.settings();
        *draw = DrawClock {
            playout: PlayoutClock::new(settings),
            tick: None,
        };
        return;
    };
    let overstep = fixed.overstep_fraction_f64();
    draw.tick = if role.as_deref() == Some(&Role::Host) {
        Some(f64::from(clock.tick) - 1.0 + overstep)
    } else {
        let now = time.elapsed_secs_f64();
        draw.playout.observe(clock.tick, now);
        draw.playout.advance(now)
    };
    let Some(tick) = draw.tick else {
        return;
    };

    // A predicting client draws its own player where its inputs took it,
    // between its last two ticks (see `predict.rs`).
    let predicted = prediction
        .as_deref()
        .and_then(|prediction| prediction.drawn(overstep))
        .map(|(_, at)| at);
    for (player, trail, mut drawn) in &mut players {
        let at = match predicted {
            Some(at) if Some(player.slot) == session.local_slot => Some(at),
            _ => trail.position_at(tick),
        };
        drawn.set_if_neq(DrawnAt(at));
    }

    for (entity, bullet, drawn) in &mut bullets {
        let at = DrawnAt((tick >= f64::from(bullet.fired_at)).then(|| bullet.position_at(tick)));
        match drawn {
            Some(mut drawn) => {
                drawn.set_if_neq(at);
            }
            None => {
                commands.entity(entity).insert(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // Paths, no imports: the latency bench includes this file and builds
    // it without running its tests, where imports would go unused.

    #[test]
    fn a_turn_is_drawn_where_it_happened() {
        let mut trail = super::StrideTrail::default();
        trail.push(super::Stride {
            origin: [0, 0],
            step: [10, 0],
            since: 0,
            input_tick: 0,
        });
        // On tick 10 it has turned up: one step up from x = 90.
        trail.push(super::Stride {
            origin: [90, 10],
            step: [0, 10],
            since: 10,
            input_tick: 0,
        });
        let at = |x, y| Some(super::Vec2::new(x, y));
        assert_eq!(trail.position_at(8.5), at(8.5, 0.0));
        // Between ticks 9 and 10, on the line between where it was.
        assert_eq!(trail.position_at(9.5), at(9.0, 0.5));
        assert_eq!(trail.position_at(12.0), at(9.0, 3.0));
    }
}
