//! The arena's prediction of a client's own movement (`--predict`), in the
//! deterministic tier: a host and a client in one process over in-memory
//! links, time stepped by hand, one fixed tick a step. The arena's own
//! rules, view and prediction run, included from the example.

use core::time::Duration;

use bevy::prelude::*;
use bevy_p2p_multiplayer::{prelude::*, testing::MemoryRoom, transport::LinkConditions};

#[path = "../examples/arena/game.rs"]
#[expect(
    dead_code,
    reason = "the test runs the game's rules, not all of its API"
)]
mod game;
#[path = "../examples/arena/predict.rs"]
mod predict;
#[path = "../examples/arena/view.rs"]
mod view;

use game::{ArenaInput, Body};
use predict::Prediction;
use view::DrawnAt;

fn arena(app: &mut App) {
    app.add_plugins((
        game::ArenaGamePlugin,
        view::ArenaViewPlugin,
        predict::ArenaPredictionPlugin,
    ));
}

/// The client's own player: where it is drawn, and where the host's state
/// (as the client holds it) has it.
fn own_player(app: &mut App) -> (Vec2, Vec2) {
    let slot = app
        .world()
        .resource::<Session>()
        .local_slot
        .expect("a slot");
    let mut players = app.world_mut().query::<(&Player, &DrawnAt, &Body)>();
    players
        .iter(app.world())
        .find(|(player, _, _)| player.slot == slot)
        .map(|(_, drawn, body)| (drawn.0.expect("drawn"), body.position()))
        .expect("the client's own player")
}

fn walk(app: &mut App, move_x: i8) {
    **app.world_mut().resource_mut::<LocalInput<ArenaInput>>() = ArenaInput {
        move_x,
        move_y: 0,
        fire: false,
    };
}

#[test]
fn a_predicting_client_draws_its_own_walk_at_once_and_the_host_agrees() {
    let mut room = MemoryRoom::new(1, 21, arena);
    room.start_game();
    // 100 ms each way: six ticks before the host hears of a key, six more
    // before the client sees what it did.
    let latency = LinkConditions {
        latency: Duration::from_millis(100),
        ..LinkConditions::PERFECT
    };
    let (client, host) = (room.client_id(0), room.host_id());
    room.network.set_conditions(client, host, latency);
    room.network.set_conditions(host, client, latency);
    // A first walk gives the client the host's stride to pair ticks by.
    for move_x in [1, 0] {
        walk(room.client(0), move_x);
        for _ in 0..40 {
            room.step();
        }
    }
    let (drawn_before, held_before) = own_player(room.client(0));
    assert_eq!(
        drawn_before, held_before,
        "at rest, prediction and host agree"
    );

    // Walk left for 30 ticks. A step is exactly one tick here, so the
    // drawing (between the last two predicted ticks, by the fixed
    // timestep's overstep, always 0 here) shows the first step a tick
    // after it is predicted; in a real frame loop, within the tick.
    let mut frames = Vec::new();
    for _ in 0..30 {
        walk(room.client(0), -1);
        room.step();
        frames.push(own_player(room.client(0)));
    }
    let (drawn, held) = frames[1];
    assert!(
        drawn.x < drawn_before.x,
        "drawn a tick after the key: {drawn} after {drawn_before}"
    );
    assert_eq!(held, held_before, "the host's state has not moved yet");
    let host_moved = frames
        .iter()
        .position(|(_, held)| *held != held_before)
        .expect("the host's state moves");
    assert!(
        host_moved >= 10,
        "the host's state moved after {host_moved} ticks: a round trip"
    );

    // Stop, and let the host's state catch up.
    walk(room.client(0), 0);
    for _ in 0..30 {
        room.step();
    }
    let (drawn, held) = own_player(room.client(0));
    assert_eq!(drawn, held, "the prediction ends where the host put it");
    assert!(held.x < held_before.x - 100.0, "it walked: {held}");
    let prediction = room.client(0).world().resource::<Prediction>();
    assert!(prediction.checked >= 60, "checked {}", prediction.checked);
    assert_eq!(
        prediction.wrong, 0,
        "a perfect link, one tick a step: every predicted tick is the host's"
    );
}

#[test]
fn a_prediction_the_host_contradicts_is_counted_and_corrected() {
    let mut room = MemoryRoom::new(1, 22, arena);
    room.start_game();
    let (client, host) = (room.client_id(0), room.host_id());
    for move_x in [1, 0] {
        walk(room.client(0), move_x);
        for _ in 0..20 {
            room.step();
        }
    }
    // The client takes a step and stops; the stop and what follows never
    // reach the host for 100 ms, so the host walks on with the last input
    // it had while the client predicted standing.
    walk(room.client(0), 1);
    room.step();
    room.network.set_conditions(
        client,
        host,
        LinkConditions {
            loss: 1.0,
            ..LinkConditions::PERFECT
        },
    );
    for _ in 0..6 {
        walk(room.client(0), 0);
        room.step();
    }
    room.network
        .set_conditions(client, host, LinkConditions::PERFECT);
    for _ in 0..30 {
        walk(room.client(0), 0);
        room.step();
    }
    let (drawn, held) = own_player(room.client(0));
    assert_eq!(drawn, held, "corrected to where the host put it");
    let prediction = room.client(0).world().resource::<Prediction>();
    assert!(prediction.wrong > 0, "the host's state contradicted it");
    assert!(
        prediction.largest_correction_px > 0.0,
        "and the correction was measured"
    );
}
