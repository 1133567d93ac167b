//! Scripted players for `--bots N`: each is a headless client app on its own
//! thread that joins this host's room, as a friend on another machine would.

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;

use crate::options::Options;

/// How many bots to start once this host has a code, and the host's own
/// settings: a bot asks the same signaling server and ICE servers.
#[derive(Resource)]
pub struct PendingBots {
    pub count: usize,
    pub settings: P2pSettings,
}

/// Starts the bots once the room exists.
pub fn start_bots(
    mut commands: Commands,
    session: Res<Session>,
    pending: Option<Res<PendingBots>>,
) {
    let (Some(pending), Some(code)) = (pending, &session.code) else {
        return;
    };
    for n in 0..pending.count {
        let options = Options {
            headless: true,
            bot: true,
            in_process: true,
            join: Some(code.to_string()),
            ..Default::default()
        };
        let settings = pending.settings.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("bot-{n}"))
            .spawn(move || {
                crate::arena_app(options, settings).run();
            });
        if let Err(e) = spawned {
            warn!("could not start bot {n}: {e}");
        }
    }
    commands.remove_resource::<PendingBots>();
}
