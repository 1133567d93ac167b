//! The local player's input: keys, or a script for bots.

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;

use crate::game::{ArenaInput, DIRECTIONS};

/// WASD or arrows move, space shoots.
pub fn read_keyboard(keys: Res<ButtonInput<KeyCode>>, mut input: ResMut<LocalInput<ArenaInput>>) {
    let axis = |minus: [KeyCode; 2], plus: [KeyCode; 2]| -> i8 {
        i8::from(keys.any_pressed(plus)) - i8::from(keys.any_pressed(minus))
    };
    **input = ArenaInput {
        move_x: axis(
            [KeyCode::KeyA, KeyCode::ArrowLeft],
            [KeyCode::KeyD, KeyCode::ArrowRight],
        ),
        move_y: axis(
            [KeyCode::KeyS, KeyCode::ArrowDown],
            [KeyCode::KeyW, KeyCode::ArrowUp],
        ),
        fire: keys.pressed(KeyCode::Space),
    };
}

/// A scripted player: wanders in a slot-dependent pattern and keeps firing.
pub fn play_bot(time: Res<Time>, session: Res<Session>, mut input: ResMut<LocalInput<ArenaInput>>) {
    let slot = session.local_slot.map_or(0, |slot| slot.0);
    **input = bot_input(slot, (time.elapsed_secs() * 60.0) as u32);
}

/// The scripted input of `slot` at `tick`: a new direction every second.
pub fn bot_input(slot: u8, tick: u32) -> ArenaInput {
    let phase = (tick / 60 + u32::from(slot) * 3) as usize;
    let (move_x, move_y) = DIRECTIONS[phase % DIRECTIONS.len()];
    ArenaInput {
        move_x,
        move_y,
        fire: true,
    }
}
