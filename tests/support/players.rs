//! Player apps for the real tiers: a headless app with the plugin, a
//! `Push` input and a record of its join failures, and a loop that updates
//! several apps together until something holds, with a deadline.

use core::time::Duration;
use std::time::Instant;

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;
use serde::{Deserialize, Serialize};

/// The input every test player sends.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
pub struct Push(pub i8);

/// Every `JoinFailed` the app saw.
#[derive(Resource, Default)]
pub struct Failures(pub Vec<JoinFailure>);

/// A headless player app with `settings`.
pub fn player_app(settings: P2pSettings) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, P2pMultiplayerPlugin))
        .insert_resource(settings)
        .add_player_input::<Push>()
        .init_resource::<Failures>()
        .add_systems(
            Last,
            |mut seen: ResMut<Failures>, mut failed: MessageReader<JoinFailed>| {
                seen.0.extend(failed.read().map(|f| f.reason.clone()));
            },
        );
    app.finish();
    app.cleanup();
    app
}

/// Updates every app, about 200 times a second, until `done` or `limit`.
pub fn run_until(
    apps: &mut [&mut App],
    limit: Duration,
    what: &str,
    done: impl Fn(&[&mut App]) -> bool,
) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        for app in apps.iter_mut() {
            app.update();
        }
        if done(apps) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{what}: not within {limit:?}");
}

pub fn session(app: &App) -> &Session {
    app.world().resource::<Session>()
}

pub fn roster_len(app: &App) -> usize {
    app.world().resource::<Roster>().players.len()
}

/// Asks `host` to host a room and runs it until it is in its lobby;
/// returns the room's code.
pub fn host_a_room(host: &mut App) -> String {
    host.world_mut().write_message(LobbyRequest::Host);
    run_until(&mut [host], Duration::from_secs(10), "hosting", |apps| {
        session(apps[0]).status == SessionStatus::InLobby
    });
    session(host)
        .code
        .clone()
        .expect("a hosted room has a code")
        .to_string()
}
