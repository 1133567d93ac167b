//! Which side of the star this app is on.

use bevy::prelude::*;

/// This app's part in the current game; absent when not in a game.
#[derive(Resource, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    /// Runs the game and is a player too (replicon's listen server).
    Host,
    /// Sends its inputs to the host and shows the state it gets back.
    Client,
}
