//! A game for the fault tiers: our signaling server whose host tokens
//! outlive it, player apps on it, a started game, and a check that a
//! client's input reaches the host.

use core::time::Duration;
use std::net::SocketAddr;

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;
use bevy_p2p_signaling::{BackgroundServer, RoomSecret, ServerConfig, spawn_in_background};

use crate::players::{self, Push, roster_len, run_until, session};

/// The clients' and the server's host grace.
pub const GRACE: Duration = Duration::from_secs(30);

/// A server on `bind` whose host tokens outlive it (same secret each start).
pub fn server(bind: SocketAddr) -> BackgroundServer {
    spawn_in_background(ServerConfig {
        bind,
        host_grace: GRACE,
        room_secret: Some(RoomSecret("the fault tier's room secret".into())),
        ..Default::default()
    })
    .expect("the signaling server starts")
}

pub fn player_app(server: SocketAddr) -> App {
    players::player_app(P2pSettings {
        signaling_url: format!("ws://{server}"),
        // Sealed: no STUN, no TURN; host candidates only.
        ice_servers: IceServers::none(),
        host_grace: GRACE,
        ..Default::default()
    })
}

pub fn playing(app: &App) -> bool {
    session(app).status == SessionStatus::Playing
}

/// A host and `clients` clients in one started game: the apps, and the code.
pub fn a_game(server: SocketAddr, clients: usize) -> (Vec<App>, String) {
    let mut host = player_app(server);
    let code = players::host_a_room(&mut host);
    let mut apps = vec![host];
    for _ in 0..clients {
        let mut client = player_app(server);
        client
            .world_mut()
            .write_message(LobbyRequest::Join(code.clone()));
        apps.push(client);
    }
    let mut refs: Vec<&mut App> = apps.iter_mut().collect();
    run_until(&mut refs, Duration::from_secs(15), "everyone in", |apps| {
        apps.iter().all(|app| roster_len(app) == clients + 1)
    });
    refs[0].world_mut().write_message(LobbyRequest::Start);
    run_until(&mut refs, Duration::from_secs(5), "playing", |apps| {
        apps.iter().all(|app| playing(app))
    });
    (apps, code)
}

/// Sets `client`'s input to `value` and waits until the host applies it to
/// the client's slot.
pub fn input_arrives(apps: &mut [&mut App], client: usize, value: i8, limit: Duration) -> Duration {
    let slot = session(apps[client]).local_slot.expect("a slot");
    apps[client]
        .world_mut()
        .resource_mut::<LocalInput<Push>>()
        .0 = Push(value);
    run_until(apps, limit, "the client's input on the host", |apps| {
        apps[0].world().resource::<PlayerInputs<Push>>().get(slot) == Some(&Push(value))
    })
}
