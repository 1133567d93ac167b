//! Run conditions for game systems.

use bevy::prelude::*;

use crate::{
    role::Role,
    session::{Session, SessionStatus},
};

/// True while the game runs: [`SessionStatus::Playing`].
pub fn gameplay_running(session: Res<Session>) -> bool {
    session.status == SessionStatus::Playing
}

/// True on the host (which simulates the game).
pub fn is_host(role: Option<Res<Role>>) -> bool {
    role.as_deref() == Some(&Role::Host)
}

/// True on a client (which shows the state the host replicates).
pub fn is_client(role: Option<Res<Role>>) -> bool {
    role.as_deref() == Some(&Role::Client)
}

/// True while this app is in a room.
pub fn in_game(session: Res<Session>) -> bool {
    session.in_game()
}
