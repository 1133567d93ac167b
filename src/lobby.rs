//! Hosting and joining: the talk with the signaling server's room API that
//! comes before any peer link.
//!
//! Game code (or the lobby overlay) writes a [`LobbyRequest`]; the answer
//! shows in [`Session`] and as [`JoinFailed`] when it goes wrong. A join
//! asks `GET /api/rooms/{code}` first, so a wrong code or a full room fails
//! at once with a clear reason, before any WebRTC work.

pub mod room_api;

use core::time::Duration;

use bevy::prelude::*;

use crate::{
    role::Role,
    session::{GamePhase, JoinFailed, JoinFailure, Session, SessionStatus, end_game},
    settings::P2pSettings,
    share_code::ShareCode,
    transport::{LinkFactory, Transport, bridge::TransportClosed},
};
use room_api::{CreatedRoom, PendingReply, RoomInfo};

/// Hosting, joining and leaving, through the signaling server.
pub struct LobbyPlugin;

impl Plugin for LobbyPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<LobbyRequest>()
            .init_resource::<LobbyTask>()
            .add_systems(Update, (handle_requests, advance_task).chain());
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
    /// Leave the game. To its clients, a host that leaves is a host that is
    /// gone: they pause and count down the grace period.
    Leave,
}

/// The lobby's current errand with the server.
#[derive(Resource, Default)]
enum LobbyTask {
    #[default]
    None,
    CreatingRoom {
        reply: PendingReply,
        deadline: Duration,
    },
    CheckingRoom {
        code: ShareCode,
        reply: PendingReply,
        deadline: Duration,
    },
    /// Joined the room; waiting for the host's link.
    AwaitingHost { code: ShareCode, deadline: Duration },
    /// The server closed our socket while joining: asking it why.
    ExplainingRefusal {
        reply: PendingReply,
        deadline: Duration,
    },
}

fn handle_requests(world: &mut World) {
    let requests: Vec<LobbyRequest> = world
        .resource_mut::<Messages<LobbyRequest>>()
        .drain()
        .collect();
    for request in requests {
        handle_request(world, request);
    }
}

fn handle_request(world: &mut World, request: LobbyRequest) {
    let settings = world.resource::<P2pSettings>().clone();
    let now = world.resource::<Time<Real>>().elapsed();
    let deadline = now + settings.request_timeout;
    match request {
        LobbyRequest::Host | LobbyRequest::Join(_) if world.resource::<Session>().in_game() => {
            warn!("already in a game: leave it first");
        }
        LobbyRequest::Host => {
            info!("asking {} for a room", settings.http_base());
            let reply = room_api::create_room(
                &settings.http_base(),
                settings.max_players,
                settings.request_timeout,
            );
            world.insert_resource(LobbyTask::CreatingRoom { reply, deadline });
            set_status(world, SessionStatus::Connecting);
        }
        LobbyRequest::Join(typed) => match typed.parse::<ShareCode>() {
            Err(_) => {
                fail(world, JoinFailure::InvalidCode);
            }
            Ok(code) => {
                info!("looking up room {code}");
                let reply = room_api::get_room(
                    &settings.http_base(),
                    code.as_str(),
                    settings.request_timeout,
                );
                world.insert_resource(LobbyTask::CheckingRoom {
                    code,
                    reply,
                    deadline,
                });
                set_status(world, SessionStatus::Connecting);
            }
        },
        LobbyRequest::Start => start_game(world, &settings),
        LobbyRequest::Leave => {
            world.insert_resource(LobbyTask::None);
            if world.resource::<Session>().in_game() {
                info!("leaving the game");
            }
            leave_room(world);
        }
    }
}

fn start_game(world: &mut World, settings: &P2pSettings) {
    if world.get_resource::<Role>() != Some(&Role::Host) {
        warn!("only the host starts the game");
        return;
    }
    if world.resource::<Session>().status != SessionStatus::InLobby {
        return;
    }
    let mut phases = world.query::<&mut GamePhase>();
    for mut phase in phases.iter_mut(world) {
        *phase = GamePhase::Playing;
    }
    let session = world.resource::<Session>();
    if let (Some(code), Some(token)) = (&session.code, &session.host_token) {
        // Only the room's listed state depends on this: no need to wait.
        let _ = room_api::start_room(
            &settings.http_base(),
            code.as_str(),
            token,
            settings.request_timeout,
        );
    }
    set_status(world, SessionStatus::Playing);
}

fn advance_task(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let settings = world.resource::<P2pSettings>().clone();
    let closed = world
        .resource_mut::<Messages<TransportClosed>>()
        .iter_current_update_messages()
        .last()
        .cloned();
    let task = core::mem::take(&mut *world.resource_mut::<LobbyTask>());
    let next = match task {
        LobbyTask::None => LobbyTask::None,
        LobbyTask::CreatingRoom { reply, deadline } => match reply.poll() {
            None if now > deadline => fail(world, JoinFailure::ServerUnreachable),
            None => LobbyTask::CreatingRoom { reply, deadline },
            Some(result) => match room_api::parse::<CreatedRoom>(result) {
                Err(failure) => fail(world, failure),
                Ok(room) => open_as_host(world, &settings, room),
            },
        },
        LobbyTask::CheckingRoom {
            code,
            reply,
            deadline,
        } => match reply.poll() {
            None if now > deadline => fail(world, JoinFailure::ServerUnreachable),
            None => LobbyTask::CheckingRoom {
                code,
                reply,
                deadline,
            },
            Some(result) => match room_api::parse::<RoomInfo>(result) {
                Err(failure) => fail(world, failure),
                Ok(info) if info.is_full() => fail(world, JoinFailure::RoomFull),
                Ok(_) => open_as_client(world, &settings, code, now),
            },
        },
        LobbyTask::AwaitingHost { code, deadline } => {
            let status = world.resource::<Session>().status.clone();
            if status != SessionStatus::Connecting {
                // The host link came up: the session has taken over.
                LobbyTask::None
            } else if closed.is_some() {
                // Refused at the websocket (the room filled up or closed since
                // we looked): ask the server which.
                let reply = room_api::get_room(
                    &settings.http_base(),
                    code.as_str(),
                    settings.request_timeout,
                );
                LobbyTask::ExplainingRefusal {
                    reply,
                    deadline: now + settings.request_timeout,
                }
            } else if now > deadline {
                fail(world, JoinFailure::HostUnreachable)
            } else {
                LobbyTask::AwaitingHost { code, deadline }
            }
        }
        LobbyTask::ExplainingRefusal { reply, deadline } => match reply.poll() {
            None if now > deadline => fail(world, JoinFailure::ServerUnreachable),
            None => LobbyTask::ExplainingRefusal { reply, deadline },
            Some(result) => {
                let failure = match room_api::parse::<RoomInfo>(result) {
                    Err(failure) => failure,
                    Ok(info) if info.is_full() => JoinFailure::RoomFull,
                    Ok(_) => JoinFailure::HostUnreachable,
                };
                fail(world, failure)
            }
        },
    };
    *world.resource_mut::<LobbyTask>() = next;
}

fn open_as_host(world: &mut World, settings: &P2pSettings, room: CreatedRoom) -> LobbyTask {
    let Ok(code) = room.code.parse::<ShareCode>() else {
        return fail(
            world,
            JoinFailure::ServerError(format!("the server gave a malformed code {:?}", room.code)),
        );
    };
    info!("hosting room {code}");
    let url = settings.room_url(code.as_str(), Some(&room.host_token));
    let transport = (world.resource::<LinkFactory>().0)(&url, settings);
    enter_room(world, settings, code, Role::Host, transport);
    world.resource_mut::<Session>().host_token = Some(room.host_token);
    set_status(world, SessionStatus::InLobby);
    LobbyTask::None
}

fn open_as_client(
    world: &mut World,
    settings: &P2pSettings,
    code: ShareCode,
    now: Duration,
) -> LobbyTask {
    info!("joining room {code}");
    let url = settings.room_url(code.as_str(), None);
    let transport = (world.resource::<LinkFactory>().0)(&url, settings);
    enter_room(world, settings, code.clone(), Role::Client, transport);
    LobbyTask::AwaitingHost {
        code,
        deadline: now + settings.connect_timeout,
    }
}

fn enter_room(
    world: &mut World,
    settings: &P2pSettings,
    code: ShareCode,
    role: Role,
    transport: Transport,
) {
    world.insert_resource(role);
    world.insert_resource(transport);
    // Clients get the phase by replication.
    if role == Role::Host {
        world.spawn((GamePhase::Lobby, bevy_replicon::prelude::Replicated));
    }
    let mut session = world.resource_mut::<Session>();
    session.share_link = Some(settings.share_link(code.as_str()));
    session.code = Some(code);
    session.last_failure = None;
}

fn set_status(world: &mut World, status: SessionStatus) {
    world.resource_mut::<Session>().status = status;
}

/// Ends any game and forgets the room: back to idle, no code, no link.
fn leave_room(world: &mut World) {
    end_game(world, SessionStatus::Idle);
    let mut session = world.resource_mut::<Session>();
    session.code = None;
    session.share_link = None;
}

/// Reports a failed host or join and returns to idle.
fn fail(world: &mut World, failure: JoinFailure) -> LobbyTask {
    warn!("{failure}");
    leave_room(world);
    let mut session = world.resource_mut::<Session>();
    session.last_failure = Some(failure.clone());
    world.write_message(JoinFailed { reason: failure });
    LobbyTask::None
}

/// Enters a room over links opened elsewhere, skipping the room API: for
/// tests over `MemoryLinks` (feature `testing`) and for games
/// with their own matchmaking.
///
/// A host starts [`SessionStatus::InLobby`]; a client starts
/// [`SessionStatus::Connecting`] until its host link is up. `host_token`
/// lets a host that loses its links reopen the room through the
/// [`LinkFactory`].
pub fn enter_room_with(
    world: &mut World,
    role: Role,
    code: ShareCode,
    host_token: Option<String>,
    transport: Transport,
) {
    let settings = world.resource::<P2pSettings>().clone();
    enter_room(world, &settings, code, role, transport);
    let mut session = world.resource_mut::<Session>();
    session.host_token = host_token;
    session.status = match role {
        Role::Host => SessionStatus::InLobby,
        Role::Client => SessionStatus::Connecting,
    };
}
