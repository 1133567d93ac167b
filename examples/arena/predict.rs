//! Opt-in prediction of the local player's own movement (`--predict`, or
//! `?predict` in the browser): a client draws its own player where its own
//! inputs take it, at once, instead of a round trip later.
//!
//! Every tick the client records the input it shipped, under its own tick
//! number (`ShippedInputTick`). The host's strides say which of those
//! inputs it applied on which host tick (`Stride::input_tick`), so the
//! client knows the host's position for its own tick `c`: the newest host
//! tick it holds, less the offset between the two counters. From there it
//! replays its inputs since `c` with the host's own rule ([`walk`]): that is
//! the prediction for the tick just shipped. Nothing is sent and the game's
//! state is untouched: the host stays the authority, `Body` stays the
//! host's; only the drawing of one's own player moves ahead.
//!
//! A prediction is wrong when the host did not apply the inputs one per
//! tick as the client shipped them: an input that came too late for its
//! tick (the host repeats the last one), one the host's queue dropped to
//! cut delay, or a bullet's respawn. Each predicted tick is checked once
//! the host's state for it arrives; [`Prediction`] counts the wrong ones
//! and the largest correction, and the replay from the host's position
//! corrects the drawing at once.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;

use crate::{
    game::{ArenaClock, ArenaInput, ArenaRules, units_to_px, walk},
    view::StrideTrail,
};

/// Ticks of inputs and predictions kept: two seconds, more than any round
/// trip a game is playable over.
const KEPT_TICKS: usize = 120;

/// Predicts the local player's movement on a client.
pub struct ArenaPredictionPlugin;

impl Plugin for ArenaPredictionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Prediction>().add_systems(
            FixedUpdate,
            predict_own_player
                .after(InputSystems::Ship)
                .run_if(is_client.and_then(in_game)),
        );
    }
}

/// The local player's predicted path, and how often it was wrong.
#[derive(Resource, Default, Debug)]
pub struct Prediction {
    /// The inputs shipped, by the client's tick.
    inputs: VecDeque<(u32, ArenaInput)>,
    /// Where the player will be after each tick, predicted, decipixels.
    path: VecDeque<(u32, [i32; 2])>,
    /// The newest client tick checked against the host's state.
    checked_to: Option<u32>,
    /// Predicted ticks checked against the host's state.
    pub checked: u64,
    /// Of those, the ones the host's state differed from.
    pub wrong: u64,
    /// The largest distance between a prediction and the host's state,
    /// pixels: the largest correction drawn.
    pub largest_correction_px: f32,
}

impl Prediction {
    /// Where the player is drawn `fraction` of a tick after the tick
    /// before the newest predicted: between the last two predictions, as
    /// the host draws its own simulation. The client tick drawn
    /// (fractional) and the position, pixels.
    pub fn drawn(&self, fraction: f64) -> Option<(f64, Vec2)> {
        let (newest, to) = *self.path.back()?;
        let from = self
            .path
            .len()
            .checked_sub(2)
            .map_or(to, |before| self.path[before].1);
        Some((
            f64::from(newest) - 1.0 + fraction,
            units_to_px(from).lerp(units_to_px(to), fraction as f32),
        ))
    }

    fn input(&self, tick: u32) -> Option<ArenaInput> {
        self.inputs
            .iter()
            .rev()
            .find(|(at, _)| *at == tick)
            .map(|(_, input)| *input)
    }

    fn predicted(&self, tick: u32) -> Option<[i32; 2]> {
        self.path
            .iter()
            .rev()
            .find(|(at, _)| *at == tick)
            .map(|(_, units)| *units)
    }
}

fn predict_own_player(
    rules: Res<ArenaRules>,
    session: Res<Session>,
    shipped: Res<ShippedInputTick>,
    local: Res<LocalInput<ArenaInput>>,
    clock: Query<&ArenaClock>,
    players: Query<(&Player, &StrideTrail)>,
    mut prediction: ResMut<Prediction>,
) {
    let tick = shipped.0;
    push_capped(&mut prediction.inputs, (tick, **local));
    let (Some(slot), Some(clock)) = (session.local_slot, clock.iter().next()) else {
        return;
    };
    let Some(trail) = players
        .iter()
        .find(|(player, _)| player.slot == slot)
        .map(|(_, trail)| trail)
    else {
        return;
    };
    // The two counters' offset, from the newest stride the host made from
    // one of our inputs.
    let Some(stride) = trail.newest().filter(|stride| stride.input_tick != 0) else {
        return;
    };
    let offset = stride.since.wrapping_sub(stride.input_tick);
    let host_position = |client_tick: u32| trail.units_at(client_tick.wrapping_add(offset));
    // The newest of our ticks the host's state says where we were.
    let confirmed = clock.tick.wrapping_sub(offset);

    // Check what was predicted for the ticks the host has now simulated.
    // (From at most the ticks kept: older ones have no prediction left.)
    let oldest_kept = confirmed.wrapping_sub(KEPT_TICKS as u32);
    let from = prediction
        .checked_to
        .map(|to| to.wrapping_add(1))
        .filter(|from| from.wrapping_sub(oldest_kept) as i32 > 0)
        .unwrap_or(oldest_kept);
    let mut at = from;
    while at.wrapping_sub(confirmed) as i32 <= 0 {
        if let (Some(predicted), Some(actual)) = (prediction.predicted(at), host_position(at)) {
            prediction.checked += 1;
            if predicted != actual {
                prediction.wrong += 1;
                let off = units_to_px(predicted).distance(units_to_px(actual));
                prediction.largest_correction_px = prediction.largest_correction_px.max(off);
            }
        }
        at = at.wrapping_add(1);
    }
    // Never back: a tick is checked once, even when the offset moved.
    if prediction
        .checked_to
        .is_none_or(|to| confirmed.wrapping_sub(to) as i32 > 0)
    {
        prediction.checked_to = Some(confirmed);
    }

    // Replay our inputs since then from where the host had us.
    let Some(mut units) = host_position(confirmed) else {
        return;
    };
    let mut at = confirmed.wrapping_add(1);
    let mut replayed = Vec::new();
    while at.wrapping_sub(tick) as i32 <= 0 {
        if let Some(input) = prediction.input(at) {
            units = walk(units, input, &rules);
        }
        replayed.push((at, units));
        at = at.wrapping_add(1);
    }
    if replayed.is_empty() {
        // The host is as far as we are: nothing to predict.
        replayed.push((tick, units));
    }
    for entry in replayed {
        prediction.path.retain(|(at, _)| *at != entry.0);
        push_capped(&mut prediction.path, entry);
    }
}

fn push_capped<T>(queue: &mut VecDeque<T>, value: T) {
    queue.push_back(value);
    while queue.len() > KEPT_TICKS {
        queue.pop_front();
    }
}
