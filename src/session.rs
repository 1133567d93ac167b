//! Where the game stands: role, room, status, players, and what happened.
//!
//! The session sits between the lobby (what players ask for) and the game.
//! Its decisions (hosting, joining, the host-away countdown, the host's
//! reconnect) are made by one pure state machine ([`machine`]), carried out
//! by one driver system ([`driver`]); [`players`] hands out slots on the
//! host.

pub mod driver;
mod join_report;
pub mod machine;
pub mod players;
mod session_report;

use core::{fmt, time::Duration};

use bevy::prelude::*;
use bevy_replicon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::share_code::ShareCode;

pub use driver::SessionSystems;
pub use machine::{SessionEffect, SessionEvent, SessionMachine};
pub use players::{ClientSlot, Player, PlayerPing, PlayerRoute, PlayerSlot, Roster, RosterEntry};

/// Runs the session: slots, status, host-away countdown and reconnects.
pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Session>()
            .add_message::<PlayerJoined>()
            .add_message::<PlayerLeft>()
            .add_message::<HostLost>()
            .add_message::<HostReturned>()
            .add_message::<GameEnded>()
            .add_message::<JoinFailed>()
            .replicate::<GamePhase>()
            .configure_sets(
                FixedUpdate,
                GameplaySystems.run_if(crate::common_conditions::gameplay_running),
            )
            .add_plugins(players::PlayersPlugin);
        let driver = driver::SessionDriver::new(app.world().resource::<crate::P2pSettings>());
        app.insert_resource(driver).add_systems(
            Update,
            (
                driver::drive_session.in_set(SessionSystems::Drive),
                driver::end_farewell,
            ),
        );
    }
}

/// The game's `FixedUpdate` systems: add yours to this set.
///
/// Runs in [`FixedUpdate`] only while [`SessionStatus::Playing`]: on a client
/// whose host is away the game pauses where it stands.
#[derive(SystemSet, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GameplaySystems;

/// The state of this app's game. Read it; the session writes it (ask for
/// changes with [`LobbyRequest`](crate::lobby::LobbyRequest)s).
#[derive(Resource, Default, Debug)]
pub struct Session {
    /// The room's share code, once the server gave or confirmed it.
    pub code: Option<ShareCode>,
    /// The link a friend opens to join, once there is a code.
    pub share_link: Option<String>,
    /// Where the game stands.
    pub status: SessionStatus,
    /// This player's slot, once the host assigned it (the host is slot 0).
    pub local_slot: Option<PlayerSlot>,
    /// Why the last attempt to host or join failed, until the next attempt.
    pub last_failure: Option<JoinFailure>,
    /// This app's peer id on the signaling server, while its links have one.
    pub(crate) local_peer: Option<u128>,
}

impl Session {
    /// Whether this app is in a room (connecting, in the lobby, playing or
    /// waiting for a host).
    pub fn in_game(&self) -> bool {
        !matches!(self.status, SessionStatus::Idle | SessionStatus::Ended(_))
    }
}

/// Where the game stands, as a player would say it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum SessionStatus {
    /// Not in a game.
    #[default]
    Idle,
    /// Asking the server for a room, or waiting for the link to the host.
    Connecting,
    /// In the room, the host has not started the game.
    InLobby,
    /// The game runs.
    Playing,
    /// A client whose host is gone: paused, waiting this much longer.
    HostAway {
        /// Time left before the game ends.
        remaining: Duration,
    },
    /// The host lost its links and is trying to take its seat back.
    Reconnecting {
        /// Time left before the server closes the room.
        remaining: Duration,
    },
    /// The game is over.
    Ended(EndReason),
}

/// Why a game ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EndReason {
    /// The player left.
    Left,
    /// The host did not come back within the grace period.
    HostDidNotReconnect,
    /// This host could not take its seat back within the grace period.
    ReconnectFailed,
    /// The link to the server or the host broke; the text says how.
    ConnectionLost(String),
    /// The host left on purpose (it said goodbye): nothing to wait for.
    HostLeft,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Left => f.write_str("you left the game"),
            EndReason::HostDidNotReconnect => f.write_str("host did not reconnect"),
            EndReason::ReconnectFailed => f.write_str("could not get back into the room"),
            EndReason::ConnectionLost(why) => write!(f, "connection lost ({why})"),
            EndReason::HostLeft => f.write_str("the host ended the game"),
        }
    }
}

/// Lobby or game, as the host decides.
///
/// A component of one replicated entity that the host spawns when it opens
/// the room, so every client reads the same value (see [`GamePhase::current`]).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum GamePhase {
    /// Players gather; the host has not pressed Start.
    #[default]
    Lobby,
    /// The host started the game.
    Playing,
}

impl GamePhase {
    /// The room's phase, once this app has it (a client gets it by replication).
    pub fn current(world: &mut World) -> Option<Self> {
        world.query::<&GamePhase>().iter(world).next().copied()
    }
}

/// A player took a slot (on every peer, for every player, self included).
#[derive(Message, Clone, Copy, Debug)]
pub struct PlayerJoined {
    /// The slot taken.
    pub slot: PlayerSlot,
}

/// A player left and their slot is free again.
#[derive(Message, Clone, Copy, Debug)]
pub struct PlayerLeft {
    /// The slot freed.
    pub slot: PlayerSlot,
}

/// The host is gone; the game pauses while it may come back.
#[derive(Message, Clone, Copy, Debug)]
pub struct HostLost {
    /// How long it may take.
    pub grace: Duration,
}

/// The host came back and play resumes.
#[derive(Message, Clone, Copy, Debug)]
pub struct HostReturned;

/// The game ended.
#[derive(Message, Clone, Debug)]
pub struct GameEnded {
    /// Why.
    pub reason: EndReason,
}

/// Hosting or joining failed before the game began.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct JoinFailed {
    /// Why, in terms a player can act on.
    pub reason: JoinFailure,
}

/// Why hosting or joining failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinFailure {
    /// No room has this code (or it closed).
    RoomNotFound,
    /// The room has all its players.
    RoomFull,
    /// The text typed is not a share code.
    InvalidCode,
    /// The signaling server did not answer.
    ServerUnreachable,
    /// The server answered with something unexpected.
    ServerError(String),
    /// No link to the host came up in time.
    HostUnreachable,
    /// The player's network and the host's cannot reach each other
    /// directly, and the game has no relay (TURN) server to go through.
    NeedsRelay,
    /// The game's relay (TURN) server did not let this player through: it
    /// refused the credentials or did not answer.
    RelayUnavailable,
}

impl fmt::Display for JoinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinFailure::RoomNotFound => f.write_str("Game not found"),
            JoinFailure::RoomFull => f.write_str("Room is full"),
            JoinFailure::InvalidCode => f.write_str("That is not a game code"),
            JoinFailure::ServerUnreachable => f.write_str("Can't reach the game server"),
            JoinFailure::ServerError(why) => write!(f, "The game server said: {why}"),
            JoinFailure::HostUnreachable => f.write_str("Can't reach the host"),
            JoinFailure::NeedsRelay => f.write_str(
                "Your network and the host's can't connect directly, and this game has no \
                 relay server to go through",
            ),
            JoinFailure::RelayUnavailable => f.write_str(
                "Can't reach the host: the game's relay server refused the connection or \
                 didn't answer",
            ),
        }
    }
}
