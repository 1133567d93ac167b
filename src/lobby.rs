//! Hosting and joining: what a player asks for, and the signaling server's
//! room API that answers before any peer link.
//!
//! Game code (or the lobby overlay) writes a [`LobbyRequest`]; the session
//! (`session::machine`) decides what happens and the answer shows in
//! [`Session`](crate::session::Session) and as
//! [`JoinFailed`](crate::session::JoinFailed) when it goes wrong. A join asks
//! `GET /api/rooms/{code}` first, so a wrong code or a full room fails at
//! once with a clear reason, before any WebRTC work.

pub mod room_api;

use bevy::prelude::*;

use crate::{role::Role, session::driver, share_code::ShareCode, transport::Transport};
pub use room_api::{HttpRoomApi, Reply, ReplySlot, RoomApi, RoomCalls};

/// Hosting, joining and leaving requests, and the room API they use.
pub struct LobbyPlugin;

impl Plugin for LobbyPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<LobbyRequest>().init_resource::<RoomApi>();
    }
}

/// What a player asks of the lobby.
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_p2p_multiplayer::prelude::*;
/// fn join_button(mut lobby: MessageWriter<LobbyRequest>) {
///     lobby.write(LobbyRequest::Join("Q2W3E4".into()));
/// }
/// ```
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub enum LobbyRequest {
    /// Create a room and host it.
    Host,
    /// Join the room with this code (as typed: it is trimmed and upper-cased).
    Join(String),
    /// Host only: start the game for everyone in the room.
    Start,
    /// Leave the game, or dismiss a game that ended. To its clients, a host
    /// that leaves is a host that is gone: they pause and count down the
    /// grace period.
    Leave,
}

/// Enters a room over links opened elsewhere, skipping the room API: for
/// tests over `MemoryLinks` (feature `testing`) and for games with their own
/// matchmaking.
///
/// A host starts [`SessionStatus::InLobby`]; a client starts
/// [`SessionStatus::Connecting`] until its host link is up (within the
/// connect timeout). `host_token` lets a host that loses its links reopen
/// the room through the [`LinkFactory`](crate::transport::LinkFactory).
///
/// [`SessionStatus::InLobby`]: crate::session::SessionStatus::InLobby
/// [`SessionStatus::Connecting`]: crate::session::SessionStatus::Connecting
pub fn enter_room_with(
    world: &mut World,
    role: Role,
    code: ShareCode,
    host_token: Option<String>,
    transport: Transport,
) {
    driver::enter_with(world, role, code, host_token, transport);
}
