//! The session as a pure state machine: every decision about hosting,
//! joining, the host-away countdown and the host's reconnect is made here,
//! with no world, no socket and no clock of its own.
//!
//! [`SessionMachine::on`] takes the time and one [`SessionEvent`] and returns
//! the [`SessionEffect`]s the driver (`session::driver`) carries out: calls
//! to the room API, links opened or closed, the status players see, messages
//! for the game. The machine is the only writer of [`SessionStatus`]. It is
//! tested like the server's room registry, one test per transition.
//!
//! # Transitions
//!
//! | state | event | next state | effects |
//! |---|---|---|---|
//! | not in a game¹ | `Host` | creating room | `CreateRoom`, status `Connecting` |
//! | not in a game¹ | `Join(text)`, not a code | idle | `Leave`, `JoinFailed(InvalidCode)` |
//! | not in a game¹ | `Join(code)` | checking room | `LookUpToJoin`, status `Connecting` |
//! | creating room | `RoomCreated(room)` | host | `EnterRoom(Host)`, `OpenLinks(token)`, status `InLobby` |
//! | checking room | `RoomChecked(room)`, a seat free | awaiting host | `EnterRoom(Client)`, `OpenLinks` |
//! | checking room | `RoomChecked(room)`, full | idle | `Leave`, `JoinFailed(RoomFull)` |
//! | creating / checking | a failed reply | idle | `Leave`, `JoinFailed(reason)` |
//! | creating / checking | `Tick` past the request timeout | idle | `Leave`, `JoinFailed(ServerUnreachable)` |
//! | awaiting host | `HostLinkUp` | client | status `InLobby` or `Playing` (the host's phase) |
//! | awaiting host | `LinksClosed` | explaining refusal | `CloseLinks`, `CheckRoom` |
//! | awaiting host | `Tick` past the connect timeout | idle | `Leave`, `JoinFailed(HostUnreachable)` |
//! | explaining refusal | `RoomChecked` | idle | `Leave`, `JoinFailed(RoomFull`, else `HostUnreachable`, or the reply's failure`)` |
//! | explaining refusal | `Tick` past the request timeout | idle | `Leave`, `JoinFailed(ServerUnreachable)` |
//! | host | `Start`, in the lobby | host | `SetPhase(Playing)`, `MarkStarted`, status `Playing` |
//! | host | `LinksClosed` | host reconnecting | `CloseLinks`, status `Reconnecting`, first try after 500 ms |
//! | host or host reconnecting, with a token | `ClientCutOff(peer)` | same | `RemoveClient` |
//! | host reconnecting | `Tick`, a try due | host reconnecting | `OpenLinks(token)`, next try in 2 s |
//! | host reconnecting | `LinksClosed` | host reconnecting | `CloseLinks` |
//! | host reconnecting | `LocalIdAssigned` | host | status of the phase, `HostReturned` |
//! | host reconnecting | `Tick` past the grace | ended | `EndGame(ReconnectFailed)` |
//! | client | `PhaseChanged(phase)` | client | status of the phase |
//! | client | `HostLinkLost` | host away | status `HostAway`, `HostLost`, `CheckRoom` |
//! | client | `LinksClosed` | ended | `EndGame(ConnectionLost)` |
//! | client, host away or awaiting host | `HostLeft` (the host said goodbye) | ended | `EndGame(HostLeft)` |
//! | host away | `HostLinkUp` | client | status of the phase, `HostReturned` |
//! | host away | `Tick` | host away, or ended past the deadline | status `HostAway { remaining }` (and `CheckRoom` every 5 s), or `EndGame(HostDidNotReconnect)` |
//! | host away | `RoomChecked`: the room closes in `s` | host away | the deadline is now + `s`, the server's |
//! | host away | `RoomChecked`: the host is in the room | host away | `Rejoin`: the server introduces us to the host again (our link died, not the host) |
//! | host away | `LinksClosed` | host away | `CloseLinks`, `CheckRoom` (the countdown goes on) |
//! | host away | `RoomChecked`: no such room | ended | `EndGame(HostDidNotReconnect)`: the server closed it |
//! | any in a game | `Leave` | idle | `Leave` |
//! | ended | `Leave` | idle | `Leave` |
//!
//! ¹ idle or ended. `Host` or `Join` while in a game, and `Start` anywhere
//! but a host's lobby, change nothing. An event a state does not list
//! changes nothing either.

use core::time::Duration;

use bevy_p2p_protocol::{CreatedRoom, RoomInfo};

use super::{EndReason, GamePhase, JoinFailure, SessionStatus};
use crate::{lobby::LobbyRequest, role::Role, share_code::ShareCode, transport::PeerId};

/// How often a host that lost its links tries to take its seat back.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(2);

/// How often a client counting down for its host asks the server when the
/// room closes: the countdown follows the server's clock, not a grace of
/// its own.
pub const ROOM_RECHECK: Duration = Duration::from_secs(5);

/// How long a host that lost its links waits before its first try: the
/// server needs a moment to notice the old socket is gone.
pub const FIRST_RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The limits the machine works with, from [`P2pSettings`](crate::P2pSettings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// How long clients wait for a lost host, and a host for its seat.
    pub host_grace: Duration,
    /// Bound on each room API call.
    pub request_timeout: Duration,
    /// Bound on the wait for the host link after joining.
    pub connect_timeout: Duration,
    /// The room size a host asks for.
    pub max_players: usize,
}

/// What happened, as the driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The player asked for something.
    Request(LobbyRequest),
    /// A room was entered over links opened by the game itself
    /// ([`enter_room_with`](crate::lobby::enter_room_with)).
    EnteredDirectly {
        /// This app's part.
        role: Role,
        /// The room.
        code: ShareCode,
        /// The host's token, to reopen the room after losing the links.
        host_token: Option<String>,
    },
    /// The answer to [`SessionEffect::CreateRoom`].
    RoomCreated(Result<CreatedRoom, JoinFailure>),
    /// The answer to [`SessionEffect::CheckRoom`] or
    /// [`SessionEffect::LookUpToJoin`].
    RoomChecked(Result<RoomInfo, JoinFailure>),
    /// A client's link to its host came up.
    HostLinkUp,
    /// A client's link to its host went down.
    HostLinkLost,
    /// A client's host left the room on purpose (it said goodbye).
    HostLeft,
    /// This app's links closed (the signaling socket, or the WebRTC stack).
    LinksClosed(String),
    /// The signaling server gave this app's socket its id.
    LocalIdAssigned,
    /// The room's phase, as replicated (clients) or set (host).
    PhaseChanged(GamePhase),
    /// The host cut a client off (or refused it): its seat in the room
    /// should go too.
    ClientCutOff(PeerId),
    /// Time passed; `now` is given to [`SessionMachine::on`].
    Tick,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEffect {
    /// Ask the server for a room of this many players.
    CreateRoom {
        /// Players, host included.
        capacity: usize,
    },
    /// Ask the server about this room.
    CheckRoom(ShareCode),
    /// Ask the server about this room, to join it: the server counts an
    /// unknown code or a full room as a refused join. The answer is a
    /// [`SessionEvent::RoomChecked`] too.
    LookUpToJoin(ShareCode),
    /// Tell the server the host started the game.
    MarkStarted {
        /// The room.
        code: ShareCode,
        /// The host's token.
        host_token: String,
    },
    /// Open this room's links (the host with its token), replacing any.
    OpenLinks {
        /// The room.
        code: ShareCode,
        /// The host's token, when hosting.
        host_token: Option<String>,
    },
    /// Close this app's links.
    CloseLinks,
    /// This app is now in the room with this role: the code and link show,
    /// a host spawns the room's phase.
    EnterRoom {
        /// This app's part.
        role: Role,
        /// The room.
        code: ShareCode,
        /// The share link the server gave with the room (it knows its
        /// public address), if any.
        share_url: Option<String>,
    },
    /// The host sets the room's phase (replicated to clients).
    SetPhase(GamePhase),
    /// The status players see changed.
    Status(SessionStatus),
    /// The game is over: links closed, role dropped, what this app no longer
    /// owns despawned; the code stays until [`SessionEffect::Leave`].
    EndGame(EndReason),
    /// Ask the server to remove a client from the host's room (its seat is
    /// freed; nobody waits for the answer).
    RemoveClient {
        /// The room.
        code: ShareCode,
        /// The host's token.
        host_token: String,
        /// The client.
        peer: PeerId,
    },
    /// Back to idle: links closed, role dropped, code and link forgotten.
    Leave,
    /// Tell the game the host is gone ([`HostLost`](super::HostLost)).
    HostLost {
        /// How long it may take.
        grace: Duration,
    },
    /// Tell the game the host is back ([`HostReturned`](super::HostReturned)).
    HostReturned,
    /// Tell the game hosting or joining failed ([`JoinFailed`](super::JoinFailed)).
    JoinFailed(JoinFailure),
    /// A client whose host is in the room but not linked to it: ask the
    /// server to introduce it to the host again (over its open links, or
    /// new ones with the same seat).
    Rejoin(ShareCode),
}

/// The room this app hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostedRoom {
    code: ShareCode,
    /// Without one (a room entered directly with no token) the seat cannot
    /// be taken back.
    token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
enum State {
    #[default]
    Idle,
    CreatingRoom {
        deadline: Duration,
    },
    CheckingRoom {
        code: ShareCode,
        deadline: Duration,
    },
    AwaitingHost {
        code: ShareCode,
        deadline: Duration,
    },
    ExplainingRefusal {
        deadline: Duration,
    },
    Host {
        room: HostedRoom,
    },
    HostReconnecting {
        room: HostedRoom,
        until: Duration,
        next_try: Duration,
    },
    Client {
        code: ShareCode,
    },
    HostAway {
        code: ShareCode,
        until: Duration,
        /// When to ask the server again when the room closes.
        next_check: Duration,
    },
    Ended,
}

/// The client session's state machine. See the [module docs](self) for its
/// transitions.
#[derive(Clone, Debug)]
pub struct SessionMachine {
    config: MachineConfig,
    state: State,
    /// The room's phase as last seen (host: as set; client: as replicated).
    phase: Option<GamePhase>,
    /// The status last reported, so that only changes are effects.
    status: SessionStatus,
}

impl SessionMachine {
    /// An idle machine.
    pub fn new(config: MachineConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            phase: None,
            status: SessionStatus::Idle,
        }
    }

    /// Changes the limits; a countdown already running keeps its end.
    pub fn set_config(&mut self, config: MachineConfig) {
        self.config = config;
    }

    /// The status players see.
    pub fn status(&self) -> &SessionStatus {
        &self.status
    }

    /// Takes in one event at `now` and returns what must be done, in order.
    pub fn on(&mut self, now: Duration, event: SessionEvent) -> Vec<SessionEffect> {
        let mut out = Vec::new();
        self.step(now, event, &mut out);
        out
    }

    fn step(&mut self, now: Duration, event: SessionEvent, out: &mut Vec<SessionEffect>) {
        let state = core::mem::take(&mut self.state);
        self.state = match (state, event) {
            // Entering a room.
            (State::Idle | State::Ended, SessionEvent::Request(LobbyRequest::Host)) => {
                self.phase = None;
                out.push(SessionEffect::CreateRoom {
                    capacity: self.config.max_players,
                });
                self.set_status(SessionStatus::Connecting, out);
                State::CreatingRoom {
                    deadline: now + self.config.request_timeout,
                }
            }
            (State::Idle | State::Ended, SessionEvent::Request(LobbyRequest::Join(typed))) => {
                self.phase = None;
                match typed.parse::<ShareCode>() {
                    Err(_) => self.fail(JoinFailure::InvalidCode, out),
                    Ok(code) => {
                        out.push(SessionEffect::LookUpToJoin(code.clone()));
                        self.set_status(SessionStatus::Connecting, out);
                        State::CheckingRoom {
                            code,
                            deadline: now + self.config.request_timeout,
                        }
                    }
                }
            }
            (
                State::Idle | State::Ended,
                SessionEvent::EnteredDirectly {
                    role,
                    code,
                    host_token,
                },
            ) => {
                self.phase = None;
                out.push(SessionEffect::EnterRoom {
                    role,
                    code: code.clone(),
                    share_url: None,
                });
                match role {
                    Role::Host => self.host_opens(
                        HostedRoom {
                            code,
                            token: host_token,
                        },
                        out,
                    ),
                    Role::Client => {
                        self.set_status(SessionStatus::Connecting, out);
                        State::AwaitingHost {
                            code,
                            deadline: now + self.config.connect_timeout,
                        }
                    }
                }
            }
            (State::CreatingRoom { .. }, SessionEvent::RoomCreated(reply)) => match reply {
                Err(failure) => self.fail(failure, out),
                Ok(room) => match room.code.parse::<ShareCode>() {
                    Err(_) => self.fail(
                        JoinFailure::ServerError(format!(
                            "the server gave a malformed code {:?}",
                            room.code
                        )),
                        out,
                    ),
                    Ok(code) => {
                        out.push(SessionEffect::EnterRoom {
                            role: Role::Host,
                            code: code.clone(),
                            share_url: room.share_url,
                        });
                        out.push(SessionEffect::OpenLinks {
                            code: code.clone(),
                            host_token: Some(room.host_token.clone()),
                        });
                        self.host_opens(
                            HostedRoom {
                                code,
                                token: Some(room.host_token),
                            },
                            out,
                        )
                    }
                },
            },
            (State::CheckingRoom { code, .. }, SessionEvent::RoomChecked(reply)) => match reply {
                Err(failure) => self.fail(failure, out),
                Ok(info) if info.is_full() => self.fail(JoinFailure::RoomFull, out),
                Ok(info) => {
                    out.push(SessionEffect::EnterRoom {
                        role: Role::Client,
                        code: code.clone(),
                        share_url: info.share_url,
                    });
                    out.push(SessionEffect::OpenLinks {
                        code: code.clone(),
                        host_token: None,
                    });
                    State::AwaitingHost {
                        code,
                        deadline: now + self.config.connect_timeout,
                    }
                }
            },
            (
                State::CreatingRoom { deadline } | State::CheckingRoom { deadline, .. },
                SessionEvent::Tick,
            ) if now > deadline => self.fail(JoinFailure::ServerUnreachable, out),

            // A client waiting for its host.
            (State::AwaitingHost { code, .. }, SessionEvent::HostLinkUp) => {
                self.set_status(self.live_status(), out);
                State::Client { code }
            }
            (State::AwaitingHost { code, .. }, SessionEvent::LinksClosed(_)) => {
                // Refused at the websocket (the room filled up or closed
                // since we looked): ask the server which.
                out.push(SessionEffect::CloseLinks);
                out.push(SessionEffect::CheckRoom(code));
                State::ExplainingRefusal {
                    deadline: now + self.config.request_timeout,
                }
            }
            (State::AwaitingHost { deadline, .. }, SessionEvent::Tick) if now > deadline => {
                self.fail(JoinFailure::HostUnreachable, out)
            }
            (State::ExplainingRefusal { .. }, SessionEvent::RoomChecked(reply)) => {
                let failure = match reply {
                    Err(failure) => failure,
                    Ok(info) if info.is_full() => JoinFailure::RoomFull,
                    Ok(_) => JoinFailure::HostUnreachable,
                };
                self.fail(failure, out)
            }
            (State::ExplainingRefusal { deadline }, SessionEvent::Tick) if now > deadline => {
                self.fail(JoinFailure::ServerUnreachable, out)
            }

            // The host.
            (State::Host { room }, SessionEvent::Request(LobbyRequest::Start))
                if self.phase != Some(GamePhase::Playing) =>
            {
                self.phase = Some(GamePhase::Playing);
                out.push(SessionEffect::SetPhase(GamePhase::Playing));
                if let Some(token) = &room.token {
                    out.push(SessionEffect::MarkStarted {
                        code: room.code.clone(),
                        host_token: token.clone(),
                    });
                }
                self.set_status(SessionStatus::Playing, out);
                State::Host { room }
            }
            (State::Host { room }, SessionEvent::LinksClosed(why)) if room.token.is_some() => {
                bevy::log::warn!(
                    "host links closed ({why}); taking the seat back within {:?}",
                    self.config.host_grace
                );
                out.push(SessionEffect::CloseLinks);
                self.set_status(
                    SessionStatus::Reconnecting {
                        remaining: self.config.host_grace,
                    },
                    out,
                );
                State::HostReconnecting {
                    room,
                    until: now + self.config.host_grace,
                    next_try: now + FIRST_RECONNECT_AFTER,
                }
            }
            (State::Host { .. }, SessionEvent::LinksClosed(why)) => {
                self.end(EndReason::ConnectionLost(why), out)
            }
            (State::HostReconnecting { room, .. }, SessionEvent::LocalIdAssigned) => {
                self.set_status(self.live_status(), out);
                out.push(SessionEffect::HostReturned);
                State::Host { room }
            }
            (
                State::HostReconnecting {
                    room,
                    until,
                    next_try,
                },
                SessionEvent::LinksClosed(_),
            ) => {
                // This try was refused (the old socket may still hold the
                // seat); the next one is already planned.
                out.push(SessionEffect::CloseLinks);
                State::HostReconnecting {
                    room,
                    until,
                    next_try,
                }
            }
            (
                State::HostReconnecting {
                    room,
                    until,
                    next_try,
                },
                SessionEvent::Tick,
            ) => {
                if now >= until {
                    self.end(EndReason::ReconnectFailed, out)
                } else {
                    self.set_status(
                        SessionStatus::Reconnecting {
                            remaining: until - now,
                        },
                        out,
                    );
                    let next_try = if now >= next_try {
                        out.push(SessionEffect::OpenLinks {
                            code: room.code.clone(),
                            host_token: room.token.clone(),
                        });
                        now + RECONNECT_INTERVAL
                    } else {
                        next_try
                    };
                    State::HostReconnecting {
                        room,
                        until,
                        next_try,
                    }
                }
            }

            // A client in the room.
            (State::Client { code }, SessionEvent::PhaseChanged(phase)) => {
                self.phase = Some(phase);
                self.set_status(self.live_status(), out);
                State::Client { code }
            }
            (State::AwaitingHost { code, deadline }, SessionEvent::PhaseChanged(phase)) => {
                self.phase = Some(phase);
                State::AwaitingHost { code, deadline }
            }
            (
                State::HostAway {
                    code,
                    until,
                    next_check,
                },
                SessionEvent::PhaseChanged(phase),
            ) => {
                self.phase = Some(phase);
                State::HostAway {
                    code,
                    until,
                    next_check,
                }
            }
            (
                State::Client { .. } | State::HostAway { .. } | State::AwaitingHost { .. },
                SessionEvent::HostLeft,
            ) => {
                bevy::log::info!("the host ended the game");
                self.end(EndReason::HostLeft, out)
            }
            (State::Client { code }, SessionEvent::HostLinkLost) => {
                let grace = self.config.host_grace;
                bevy::log::info!("host lost; waiting {grace:?} for it to come back");
                self.set_status(SessionStatus::HostAway { remaining: grace }, out);
                out.push(SessionEffect::HostLost { grace });
                // Our grace until the server says how long the room has.
                out.push(SessionEffect::CheckRoom(code.clone()));
                State::HostAway {
                    code,
                    until: now + grace,
                    next_check: now + ROOM_RECHECK,
                }
            }
            (State::Client { .. }, SessionEvent::LinksClosed(why)) => {
                // Links to the server closed under a running game while the
                // host link stayed up: nothing to wait for.
                self.end(EndReason::ConnectionLost(why), out)
            }
            (State::HostAway { code, .. }, SessionEvent::HostLinkUp) => {
                bevy::log::info!("host is back");
                self.set_status(self.live_status(), out);
                out.push(SessionEffect::HostReturned);
                State::Client { code }
            }
            (State::HostAway { code, until, .. }, SessionEvent::LinksClosed(_)) => {
                // The server closes a room's sockets when it gives up on the
                // host: ask whether the room is still there, rather than
                // count down for a room that no longer exists.
                out.push(SessionEffect::CloseLinks);
                out.push(SessionEffect::CheckRoom(code.clone()));
                State::HostAway {
                    code,
                    until,
                    next_check: now + ROOM_RECHECK,
                }
            }
            (
                State::HostAway {
                    code, next_check, ..
                },
                SessionEvent::RoomChecked(Ok(info)),
            ) if info.closes_in_secs.is_some() => {
                // The server's deadline wins over ours, later or sooner.
                let secs = info.closes_in_secs.unwrap_or_default();
                let until = now + Duration::from_secs(secs);
                self.set_status(
                    SessionStatus::HostAway {
                        remaining: until.saturating_sub(now),
                    },
                    out,
                );
                State::HostAway {
                    code,
                    until,
                    next_check,
                }
            }
            (
                State::HostAway {
                    code,
                    until,
                    next_check,
                },
                SessionEvent::RoomChecked(Ok(info)),
            ) if info.host_connected => {
                // The host is there: it is our link that died. Every check
                // asks again until a link comes up.
                out.push(SessionEffect::Rejoin(code.clone()));
                State::HostAway {
                    code,
                    until,
                    next_check,
                }
            }
            (State::HostAway { .. }, SessionEvent::RoomChecked(Err(JoinFailure::RoomNotFound))) => {
                bevy::log::info!("the server closed the room: game over");
                self.end(EndReason::HostDidNotReconnect, out)
            }
            (
                State::HostAway {
                    code,
                    until,
                    mut next_check,
                },
                SessionEvent::Tick,
            ) => {
                if now >= until {
                    bevy::log::info!("the host did not come back: game over");
                    self.end(EndReason::HostDidNotReconnect, out)
                } else {
                    self.set_status(
                        SessionStatus::HostAway {
                            remaining: until - now,
                        },
                        out,
                    );
                    if now >= next_check {
                        out.push(SessionEffect::CheckRoom(code.clone()));
                        next_check = now + ROOM_RECHECK;
                    }
                    State::HostAway {
                        code,
                        until,
                        next_check,
                    }
                }
            }

            // Leaving.
            (state, SessionEvent::Request(LobbyRequest::Leave)) => {
                if !matches!(state, State::Idle) {
                    self.phase = None;
                    out.push(SessionEffect::Leave);
                    self.status = SessionStatus::Idle;
                }
                State::Idle
            }

            // The host's phase, as it set it.
            (State::Host { room }, SessionEvent::PhaseChanged(phase)) => {
                self.phase = Some(phase);
                State::Host { room }
            }
            (state, SessionEvent::Request(LobbyRequest::Host | LobbyRequest::Join(_))) => {
                bevy::log::warn!("already in a game: leave it first");
                state
            }
            (state, SessionEvent::Request(LobbyRequest::Start)) => {
                if !matches!(state, State::Host { .. }) {
                    bevy::log::warn!("only the host in its lobby starts the game");
                }
                state
            }
            (
                state @ (State::Host { .. } | State::HostReconnecting { .. }),
                SessionEvent::ClientCutOff(peer),
            ) => {
                if let State::Host { room } | State::HostReconnecting { room, .. } = &state
                    && let Some(token) = &room.token
                {
                    out.push(SessionEffect::RemoveClient {
                        code: room.code.clone(),
                        host_token: token.clone(),
                        peer,
                    });
                }
                state
            }
            (state, _) => state,
        };
    }

    /// The host is in its room: lobby or game, as its phase says.
    fn host_opens(&mut self, room: HostedRoom, out: &mut Vec<SessionEffect>) -> State {
        self.phase = Some(GamePhase::Lobby);
        self.set_status(SessionStatus::InLobby, out);
        State::Host { room }
    }

    fn live_status(&self) -> SessionStatus {
        match self.phase {
            Some(GamePhase::Playing) => SessionStatus::Playing,
            Some(GamePhase::Lobby) | None => SessionStatus::InLobby,
        }
    }

    fn set_status(&mut self, status: SessionStatus, out: &mut Vec<SessionEffect>) {
        if self.status != status {
            self.status = status.clone();
            out.push(SessionEffect::Status(status));
        }
    }

    /// Hosting or joining failed: back to idle, and say why.
    fn fail(&mut self, failure: JoinFailure, out: &mut Vec<SessionEffect>) -> State {
        bevy::log::warn!("{failure}");
        self.phase = None;
        self.status = SessionStatus::Idle;
        out.push(SessionEffect::Leave);
        out.push(SessionEffect::JoinFailed(failure));
        State::Idle
    }

    /// The game is over.
    fn end(&mut self, reason: EndReason, out: &mut Vec<SessionEffect>) -> State {
        self.phase = None;
        self.status = SessionStatus::Ended(reason.clone());
        out.push(SessionEffect::EndGame(reason));
        State::Ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);
    const REQUEST: Duration = Duration::from_secs(5);
    const CONNECT: Duration = Duration::from_secs(20);

    fn machine() -> SessionMachine {
        SessionMachine::new(MachineConfig {
            host_grace: GRACE,
            request_timeout: REQUEST,
            connect_timeout: CONNECT,
            max_players: 4,
        })
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn code() -> ShareCode {
        "ABC234".parse().expect("a valid code")
    }

    fn created() -> CreatedRoom {
        CreatedRoom {
            code: "ABC234".into(),
            host_token: "t0k".into(),
            capacity: 4,
            share_url: Some("https://play.example.com/play/ABC234".into()),
        }
    }

    fn info(players: usize) -> RoomInfo {
        RoomInfo {
            code: "ABC234".into(),
            players,
            capacity: 4,
            host_connected: true,
            state: bevy_p2p_protocol::RoomState::Waiting,
            share_url: None,
            closes_in_secs: None,
        }
    }

    fn request(request: LobbyRequest) -> SessionEvent {
        SessionEvent::Request(request)
    }

    fn failed(failure: JoinFailure) -> Vec<SessionEffect> {
        vec![SessionEffect::Leave, SessionEffect::JoinFailed(failure)]
    }

    /// A host in its lobby, at time 0.
    fn hosting() -> SessionMachine {
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Host));
        m.on(secs(0), SessionEvent::RoomCreated(Ok(created())));
        m
    }

    /// A client whose host link is up, at time 0.
    fn joined() -> SessionMachine {
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Join("abc234".into())));
        m.on(secs(0), SessionEvent::RoomChecked(Ok(info(2))));
        m.on(secs(0), SessionEvent::HostLinkUp);
        m
    }

    #[test]
    fn a_host_has_the_server_remove_a_client_it_cut_off() {
        let peer = crate::testing::peer_id(7);
        let mut m = hosting();
        assert_eq!(
            m.on(secs(1), SessionEvent::ClientCutOff(peer)),
            vec![SessionEffect::RemoveClient {
                code: code(),
                host_token: created().host_token,
                peer
            }]
        );
        // A client has no room to remove anyone from.
        assert!(
            joined()
                .on(secs(1), SessionEvent::ClientCutOff(peer))
                .is_empty()
        );
    }

    #[test]
    fn host_asks_for_a_room_of_its_size() {
        let mut m = machine();
        assert_eq!(
            m.on(secs(0), request(LobbyRequest::Host)),
            vec![
                SessionEffect::CreateRoom { capacity: 4 },
                SessionEffect::Status(SessionStatus::Connecting)
            ]
        );
    }

    #[test]
    fn a_created_room_is_entered_and_opened_as_host() {
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Host));
        assert_eq!(
            m.on(secs(1), SessionEvent::RoomCreated(Ok(created()))),
            vec![
                SessionEffect::EnterRoom {
                    role: Role::Host,
                    code: code(),
                    share_url: Some("https://play.example.com/play/ABC234".into()),
                },
                SessionEffect::OpenLinks {
                    code: code(),
                    host_token: Some("t0k".into())
                },
                SessionEffect::Status(SessionStatus::InLobby),
            ]
        );
    }

    #[test]
    fn a_join_checks_the_room_first() {
        let mut m = machine();
        assert_eq!(
            m.on(secs(0), request(LobbyRequest::Join(" abc234 ".into()))),
            vec![
                SessionEffect::LookUpToJoin(code()),
                SessionEffect::Status(SessionStatus::Connecting)
            ]
        );
        assert_eq!(
            m.on(secs(1), SessionEvent::RoomChecked(Ok(info(2)))),
            vec![
                SessionEffect::EnterRoom {
                    role: Role::Client,
                    code: code(),
                    share_url: None,
                },
                SessionEffect::OpenLinks {
                    code: code(),
                    host_token: None
                },
            ]
        );
        assert_eq!(m.status(), &SessionStatus::Connecting);
    }

    #[test]
    fn refusals_before_any_link() {
        let mut m = machine();
        assert_eq!(
            m.on(secs(0), request(LobbyRequest::Join("ABC10O".into()))),
            failed(JoinFailure::InvalidCode)
        );
        for (reply, failure) in [
            (Ok(info(4)), JoinFailure::RoomFull),
            (Err(JoinFailure::RoomNotFound), JoinFailure::RoomNotFound),
            (
                Err(JoinFailure::ServerUnreachable),
                JoinFailure::ServerUnreachable,
            ),
        ] {
            let mut m = machine();
            m.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
            assert_eq!(
                m.on(secs(1), SessionEvent::RoomChecked(reply)),
                failed(failure)
            );
            assert_eq!(m.status(), &SessionStatus::Idle);
        }
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Host));
        assert_eq!(
            m.on(
                secs(1),
                SessionEvent::RoomCreated(Err(JoinFailure::ServerError("HTTP 500".into())))
            ),
            failed(JoinFailure::ServerError("HTTP 500".into()))
        );
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Host));
        let bad = CreatedRoom {
            code: "nope".into(),
            ..created()
        };
        assert!(matches!(
            m.on(secs(1), SessionEvent::RoomCreated(Ok(bad))).as_slice(),
            [
                SessionEffect::Leave,
                SessionEffect::JoinFailed(JoinFailure::ServerError(_))
            ]
        ));
    }

    #[test]
    fn a_server_that_does_not_answer_times_out() {
        for first in [
            request(LobbyRequest::Host),
            request(LobbyRequest::Join("ABC234".into())),
        ] {
            let mut m = machine();
            m.on(secs(0), first);
            assert_eq!(m.on(REQUEST, SessionEvent::Tick), vec![]);
            assert_eq!(
                m.on(REQUEST + secs(1), SessionEvent::Tick),
                failed(JoinFailure::ServerUnreachable)
            );
        }
    }

    #[test]
    fn the_host_link_coming_up_puts_a_client_in_the_hosts_phase() {
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
        m.on(secs(0), SessionEvent::RoomChecked(Ok(info(2))));
        // The phase may be replicated before the link is reported up.
        assert_eq!(
            m.on(secs(1), SessionEvent::PhaseChanged(GamePhase::Playing)),
            vec![]
        );
        assert_eq!(
            m.on(secs(1), SessionEvent::HostLinkUp),
            vec![SessionEffect::Status(SessionStatus::Playing)]
        );
        assert_eq!(joined().status(), &SessionStatus::InLobby);
    }

    #[test]
    fn a_host_that_never_links_is_unreachable() {
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
        m.on(secs(0), SessionEvent::RoomChecked(Ok(info(2))));
        assert_eq!(m.on(CONNECT, SessionEvent::Tick), vec![]);
        assert_eq!(
            m.on(CONNECT + secs(1), SessionEvent::Tick),
            failed(JoinFailure::HostUnreachable)
        );
    }

    #[test]
    fn a_refused_websocket_is_explained_by_the_server() {
        for (reply, failure) in [
            (Ok(info(4)), JoinFailure::RoomFull),
            (Ok(info(2)), JoinFailure::HostUnreachable),
            (Err(JoinFailure::RoomNotFound), JoinFailure::RoomNotFound),
        ] {
            let mut m = machine();
            m.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
            m.on(secs(0), SessionEvent::RoomChecked(Ok(info(2))));
            assert_eq!(
                m.on(secs(1), SessionEvent::LinksClosed("refused".into())),
                vec![SessionEffect::CloseLinks, SessionEffect::CheckRoom(code())]
            );
            assert_eq!(
                m.on(secs(2), SessionEvent::RoomChecked(reply)),
                failed(failure)
            );
        }
        let mut m = machine();
        m.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
        m.on(secs(0), SessionEvent::RoomChecked(Ok(info(2))));
        m.on(secs(1), SessionEvent::LinksClosed("refused".into()));
        assert_eq!(
            m.on(secs(1) + REQUEST + secs(1), SessionEvent::Tick),
            failed(JoinFailure::ServerUnreachable)
        );
    }

    #[test]
    fn the_host_starts_the_game_once() {
        let mut m = hosting();
        assert_eq!(
            m.on(secs(1), request(LobbyRequest::Start)),
            vec![
                SessionEffect::SetPhase(GamePhase::Playing),
                SessionEffect::MarkStarted {
                    code: code(),
                    host_token: "t0k".into()
                },
                SessionEffect::Status(SessionStatus::Playing),
            ]
        );
        assert_eq!(m.on(secs(2), request(LobbyRequest::Start)), vec![]);
        // Nobody else starts a game.
        let mut client = joined();
        assert_eq!(client.on(secs(1), request(LobbyRequest::Start)), vec![]);
        assert_eq!(machine().on(secs(1), request(LobbyRequest::Start)), vec![]);
    }

    #[test]
    fn a_host_that_loses_its_links_takes_its_seat_back() {
        let mut m = hosting();
        m.on(secs(1), request(LobbyRequest::Start));
        assert_eq!(
            m.on(secs(10), SessionEvent::LinksClosed("gone".into())),
            vec![
                SessionEffect::CloseLinks,
                SessionEffect::Status(SessionStatus::Reconnecting { remaining: GRACE })
            ]
        );
        // The first try after 500 ms, then every 2 s.
        let at = |ms: u64| secs(10) + Duration::from_millis(ms);
        let tick = |m: &mut SessionMachine, ms: u64| m.on(at(ms), SessionEvent::Tick);
        let open = SessionEffect::OpenLinks {
            code: code(),
            host_token: Some("t0k".into()),
        };
        assert!(!tick(&mut m, 400).contains(&open));
        assert!(tick(&mut m, 500).contains(&open));
        assert!(!tick(&mut m, 2_400).contains(&open));
        assert!(tick(&mut m, 2_500).contains(&open));
        // A refused try closes its links and waits for the next.
        assert_eq!(
            m.on(at(2_600), SessionEvent::LinksClosed("seat taken".into())),
            vec![SessionEffect::CloseLinks]
        );
        assert!(tick(&mut m, 4_500).contains(&open));
        assert_eq!(
            m.on(at(4_600), SessionEvent::LocalIdAssigned),
            vec![
                SessionEffect::Status(SessionStatus::Playing),
                SessionEffect::HostReturned
            ]
        );
    }

    #[test]
    fn a_host_that_cannot_get_back_in_time_ends() {
        let mut m = hosting();
        m.on(secs(10), SessionEvent::LinksClosed("gone".into()));
        assert!(matches!(
            m.on(secs(25), SessionEvent::Tick).first(),
            Some(SessionEffect::Status(SessionStatus::Reconnecting { remaining })) if *remaining == secs(15)
        ));
        assert_eq!(
            m.on(secs(40), SessionEvent::Tick),
            vec![SessionEffect::EndGame(EndReason::ReconnectFailed)]
        );
        assert_eq!(
            m.status(),
            &SessionStatus::Ended(EndReason::ReconnectFailed)
        );
    }

    #[test]
    fn a_client_follows_the_hosts_phase() {
        let mut m = joined();
        assert_eq!(
            m.on(secs(1), SessionEvent::PhaseChanged(GamePhase::Playing)),
            vec![SessionEffect::Status(SessionStatus::Playing)]
        );
    }

    #[test]
    fn a_lost_host_pauses_the_client_and_counts_down() {
        let mut m = joined();
        m.on(secs(1), SessionEvent::PhaseChanged(GamePhase::Playing));
        assert_eq!(
            m.on(secs(10), SessionEvent::HostLinkLost),
            vec![
                SessionEffect::Status(SessionStatus::HostAway { remaining: GRACE }),
                SessionEffect::HostLost { grace: GRACE },
                SessionEffect::CheckRoom(code()),
            ]
        );
        assert_eq!(
            m.on(secs(12), SessionEvent::Tick),
            vec![SessionEffect::Status(SessionStatus::HostAway {
                remaining: secs(28)
            })]
        );
        // Its own links closing does not stop the countdown by itself: it
        // asks whether the room is still there.
        assert_eq!(
            m.on(secs(13), SessionEvent::LinksClosed("gone".into())),
            vec![SessionEffect::CloseLinks, SessionEffect::CheckRoom(code())]
        );
        assert!(matches!(m.status(), SessionStatus::HostAway { .. }));
        // The host is still in the room: our link died, not the host. Ask
        // the server to introduce us again, at every check until linked.
        assert_eq!(
            m.on(secs(14), SessionEvent::RoomChecked(Ok(info(2)))),
            vec![SessionEffect::Rejoin(code())]
        );
        assert!(matches!(m.status(), SessionStatus::HostAway { .. }));
        assert_eq!(
            m.on(secs(20), SessionEvent::Tick),
            vec![
                SessionEffect::Status(SessionStatus::HostAway {
                    remaining: secs(20)
                }),
                SessionEffect::CheckRoom(code()),
            ]
        );
        assert_eq!(
            m.on(secs(20), SessionEvent::RoomChecked(Ok(info(2)))),
            vec![SessionEffect::Rejoin(code())]
        );
        assert_eq!(
            m.on(secs(21), SessionEvent::HostLinkUp),
            vec![
                SessionEffect::Status(SessionStatus::Playing),
                SessionEffect::HostReturned,
            ]
        );
    }

    #[test]
    fn a_host_that_says_goodbye_ends_the_game_at_once() {
        let mut m = joined();
        m.on(secs(1), SessionEvent::PhaseChanged(GamePhase::Playing));
        assert_eq!(
            m.on(secs(2), SessionEvent::HostLeft),
            vec![SessionEffect::EndGame(EndReason::HostLeft)]
        );
        assert_eq!(m.status(), &SessionStatus::Ended(EndReason::HostLeft));
        // No countdown, and nothing more to do but leave.
        assert!(m.on(secs(40), SessionEvent::Tick).is_empty());
    }

    #[test]
    fn the_countdown_follows_the_servers_deadline() {
        let mut m = joined();
        m.on(secs(10), SessionEvent::HostLinkLost);
        // The server gives the room 8 s more, not our 30.
        let away = |closes_in| RoomInfo {
            state: bevy_p2p_protocol::RoomState::HostAway,
            host_connected: false,
            closes_in_secs: Some(closes_in),
            ..info(2)
        };
        assert_eq!(
            m.on(secs(10), SessionEvent::RoomChecked(Ok(away(8)))),
            vec![SessionEffect::Status(SessionStatus::HostAway {
                remaining: secs(8)
            })]
        );
        // Every 5 s it asks again, and takes the newer answer.
        assert_eq!(
            m.on(secs(15), SessionEvent::Tick),
            vec![
                SessionEffect::Status(SessionStatus::HostAway { remaining: secs(3) }),
                SessionEffect::CheckRoom(code()),
            ]
        );
        m.on(secs(15), SessionEvent::RoomChecked(Ok(away(4))));
        assert_eq!(
            m.on(secs(18), SessionEvent::Tick),
            vec![SessionEffect::Status(SessionStatus::HostAway {
                remaining: secs(1)
            })]
        );
        assert_eq!(
            m.on(secs(19), SessionEvent::Tick),
            vec![SessionEffect::EndGame(EndReason::HostDidNotReconnect)]
        );
        // A server that still sees the host (it has not noticed yet) leaves
        // our own grace in place, and we ask to be introduced again.
        let mut m = joined();
        m.on(secs(10), SessionEvent::HostLinkLost);
        assert_eq!(
            m.on(secs(10), SessionEvent::RoomChecked(Ok(info(2)))),
            vec![SessionEffect::Rejoin(code())]
        );
        assert_eq!(
            m.on(secs(12), SessionEvent::Tick),
            vec![SessionEffect::Status(SessionStatus::HostAway {
                remaining: secs(28)
            })]
        );
    }

    #[test]
    fn a_room_the_server_closed_ends_the_countdown_at_once() {
        let mut m = joined();
        m.on(secs(10), SessionEvent::HostLinkLost);
        m.on(secs(18), SessionEvent::LinksClosed("room_closed".into()));
        assert_eq!(
            m.on(
                secs(18),
                SessionEvent::RoomChecked(Err(JoinFailure::RoomNotFound))
            ),
            vec![SessionEffect::EndGame(EndReason::HostDidNotReconnect)]
        );
        // A server that cannot be reached says nothing about the room.
        let mut m = joined();
        m.on(secs(10), SessionEvent::HostLinkLost);
        m.on(secs(18), SessionEvent::LinksClosed("gone".into()));
        assert_eq!(
            m.on(
                secs(19),
                SessionEvent::RoomChecked(Err(JoinFailure::ServerUnreachable))
            ),
            vec![]
        );
        assert!(matches!(m.status(), SessionStatus::HostAway { .. }));
    }

    #[test]
    fn a_host_that_comes_back_resumes_the_game() {
        let mut m = joined();
        m.on(secs(1), SessionEvent::PhaseChanged(GamePhase::Playing));
        m.on(secs(10), SessionEvent::HostLinkLost);
        assert_eq!(
            m.on(secs(15), SessionEvent::HostLinkUp),
            vec![
                SessionEffect::Status(SessionStatus::Playing),
                SessionEffect::HostReturned
            ]
        );
    }

    #[test]
    fn the_grace_running_out_ends_the_game() {
        let mut m = joined();
        m.on(secs(10), SessionEvent::HostLinkLost);
        assert_eq!(
            m.on(secs(40), SessionEvent::Tick),
            vec![SessionEffect::EndGame(EndReason::HostDidNotReconnect)]
        );
        // The ended game stays on screen until the player leaves it.
        assert_eq!(m.on(secs(41), SessionEvent::Tick), vec![]);
        assert_eq!(
            m.on(secs(43), request(LobbyRequest::Leave)),
            vec![SessionEffect::Leave]
        );
        assert_eq!(m.status(), &SessionStatus::Idle);
        // And a new game may begin.
        assert_eq!(
            m.on(secs(44), request(LobbyRequest::Host))[0],
            SessionEffect::CreateRoom { capacity: 4 }
        );
    }

    #[test]
    fn a_client_whose_links_close_with_the_host_link_up_ends() {
        let mut m = joined();
        assert_eq!(
            m.on(secs(5), SessionEvent::LinksClosed("signaling lost".into())),
            vec![SessionEffect::EndGame(EndReason::ConnectionLost(
                "signaling lost".into()
            ))]
        );
    }

    #[test]
    fn leave_from_anywhere_in_a_game_goes_idle() {
        let mut waiting = machine();
        waiting.on(secs(0), request(LobbyRequest::Join("ABC234".into())));
        let mut away = joined();
        away.on(secs(1), SessionEvent::HostLinkLost);
        let mut reconnecting = hosting();
        reconnecting.on(secs(1), SessionEvent::LinksClosed("gone".into()));
        for mut m in [hosting(), joined(), waiting, away, reconnecting] {
            assert_eq!(
                m.on(secs(2), request(LobbyRequest::Leave)),
                vec![SessionEffect::Leave]
            );
            assert_eq!(m.status(), &SessionStatus::Idle);
        }
        assert_eq!(machine().on(secs(0), request(LobbyRequest::Leave)), vec![]);
    }

    #[test]
    fn host_or_join_while_in_a_game_changes_nothing() {
        let mut m = hosting();
        assert_eq!(m.on(secs(1), request(LobbyRequest::Host)), vec![]);
        assert_eq!(
            m.on(secs(1), request(LobbyRequest::Join("XYZ789".into()))),
            vec![]
        );
        assert_eq!(m.status(), &SessionStatus::InLobby);
    }

    #[test]
    fn a_room_entered_directly() {
        let mut host = machine();
        assert_eq!(
            host.on(
                secs(0),
                SessionEvent::EnteredDirectly {
                    role: Role::Host,
                    code: code(),
                    host_token: Some("t0k".into())
                }
            ),
            vec![
                SessionEffect::EnterRoom {
                    role: Role::Host,
                    code: code(),
                    share_url: None,
                },
                SessionEffect::Status(SessionStatus::InLobby)
            ]
        );
        // Without a token there is no seat to take back: closed links end it.
        let mut tokenless = machine();
        tokenless.on(
            secs(0),
            SessionEvent::EnteredDirectly {
                role: Role::Host,
                code: code(),
                host_token: None,
            },
        );
        assert_eq!(
            tokenless.on(secs(1), SessionEvent::LinksClosed("gone".into())),
            vec![SessionEffect::EndGame(EndReason::ConnectionLost(
                "gone".into()
            ))]
        );
        let mut client = machine();
        client.on(
            secs(0),
            SessionEvent::EnteredDirectly {
                role: Role::Client,
                code: code(),
                host_token: None,
            },
        );
        assert_eq!(client.status(), &SessionStatus::Connecting);
        assert_eq!(
            client.on(secs(1), SessionEvent::HostLinkUp),
            vec![SessionEffect::Status(SessionStatus::InLobby)]
        );
    }
}
