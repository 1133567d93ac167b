//! The session's one meeting point with the world: it feeds the
//! [`SessionMachine`] what happened and carries out what it decides.
//!
//! This is the only code that opens or closes the app's [`Transport`]
//! (through the [`LinkFactory`]), calls the [`RoomApi`], or writes
//! [`Session::status`]. Everything it decides comes from the machine.

use core::time::Duration;

use bevy::{
    ecs::{message::MessageCursor, resource::IsResource},
    prelude::*,
};
use bevy_replicon::prelude::Remote;

use super::{
    GameEnded, GamePhase, HostLost, HostReturned, JoinFailed, JoinFailure, Player, Session,
    SessionStatus,
    machine::{MachineConfig, SessionEffect, SessionEvent, SessionMachine},
};
use crate::{
    lobby::{LobbyRequest, Reply, RoomApi, room_api::CreatedRoom, room_api::RoomInfo},
    role::Role,
    settings::P2pSettings,
    transport::{
        LinkClosed, LinkFactory, NoPath, PeerId, RoomEntry, Transport,
        bridge::{HostLinkChanged, LinkedPeers, PeerDeparted, TransportClosed, gate::PeerCutOff},
    },
};

/// The session's systems.
#[derive(SystemSet, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SessionSystems {
    /// In [`Update`]: lobby requests, room API answers, link changes and
    /// time go through the session machine, and its decisions are carried
    /// out. Write a [`LobbyRequest`] before it to have it handled this frame.
    Drive,
}

/// The machine and the calls it waits for.
#[derive(Resource)]
pub(crate) struct SessionDriver {
    machine: SessionMachine,
    creating: Option<Reply<CreatedRoom>>,
    checking: Option<Reply<RoomInfo>>,
    /// Whether the current links' id was reported to the machine.
    id_reported: bool,
    /// Whether this app's links are meant to be open: a [`Transport`] that
    /// vanishes while they are (dropped by other code) closes them.
    links_open: bool,
    /// The room's phase as last reported to the machine.
    phase_seen: Option<GamePhase>,
    /// Where this driver is in the cut-off messages (games read them too).
    cut_offs: MessageCursor<PeerCutOff>,
    /// And in the goodbyes.
    departures: MessageCursor<PeerDeparted>,
    /// This app's seat in its room.
    seat: Option<SeatInRoom>,
}

/// A seat secret, the room it is for, and whether the game started there
/// (what a host tells a server that lost its room).
struct SeatInRoom {
    code: crate::share_code::ShareCode,
    secret: String,
    started: bool,
    /// A client's join, reported once per seat.
    join: Option<super::join_report::JoinTally>,
    /// A host's token and session, reported once per room.
    host: Option<(String, super::session_report::HostTally)>,
}

impl SessionDriver {
    pub(crate) fn new(settings: &P2pSettings) -> Self {
        Self {
            machine: SessionMachine::new(config(settings)),
            creating: None,
            checking: None,
            id_reported: false,
            links_open: false,
            phase_seen: None,
            cut_offs: MessageCursor::default(),
            departures: MessageCursor::default(),
            seat: None,
        }
    }
}

fn config(settings: &P2pSettings) -> MachineConfig {
    MachineConfig {
        host_grace: settings.host_grace,
        request_timeout: settings.request_timeout,
        connect_timeout: settings.connect_timeout,
        max_players: settings.max_players,
    }
}

/// Runs the session machine over this frame's events.
pub(crate) fn drive_session(world: &mut World) {
    let mut events: Vec<SessionEvent> = world
        .resource_mut::<Messages<LobbyRequest>>()
        .drain()
        .map(SessionEvent::Request)
        .collect();
    {
        let mut driver = world.resource_mut::<SessionDriver>();
        if let Some(reply) = driver.creating.as_ref().and_then(Reply::poll) {
            driver.creating = None;
            events.push(SessionEvent::RoomCreated(reply));
        }
        if let Some(reply) = driver.checking.as_ref().and_then(Reply::poll) {
            driver.checking = None;
            events.push(SessionEvent::RoomChecked(reply));
        }
    }
    // The id before the host link: a seat is admitted before anyone links
    // to it, and its join report needs to know it was.
    let local_id = world
        .get_resource_mut::<Transport>()
        .and_then(|mut transport| transport.local_id());
    if let Some(id) = local_id {
        // Only a real change, so that `Session` is not marked changed every frame.
        world
            .resource_mut::<Session>()
            .map_unchanged(|session| &mut session.local_peer)
            .set_if_neq(Some(id.0.as_u128()));
        let mut driver = world.resource_mut::<SessionDriver>();
        if !driver.id_reported {
            driver.id_reported = true;
            // The server admitted the seat: from now on it waits for a report.
            if let Some(join) = driver.seat.as_mut().and_then(|seat| seat.join.as_mut()) {
                join.admitted();
            }
            events.push(SessionEvent::LocalIdAssigned);
        }
    }
    // The host link before the links' end: a client whose links closed
    // under it has lost its host first.
    let mut host_link_up = None;
    for change in world.resource_mut::<Messages<HostLinkChanged>>().drain() {
        events.push(match change {
            HostLinkChanged::Up(host) => {
                host_link_up = Some(host);
                SessionEvent::HostLinkUp
            }
            HostLinkChanged::Lost => SessionEvent::HostLinkLost,
            HostLinkChanged::Ended => SessionEvent::HostLeft,
        });
    }
    if let Some(host) = host_link_up {
        report_join(world, |tally, now, transport| {
            let relayed = transport.and_then(|links| links.route(host))
                == Some(crate::transport::LinkRoute::Relayed);
            tally.connected(now, relayed)
        });
    }
    let closed: Vec<TransportClosed> = world
        .resource_mut::<Messages<TransportClosed>>()
        .drain()
        .collect();
    for TransportClosed(why) in closed {
        events.push(SessionEvent::LinksClosed(why.to_string()));
        let mut driver = world.resource_mut::<SessionDriver>();
        if let Some((_, tally)) = driver.seat.as_mut().and_then(|seat| seat.host.as_mut()) {
            tally.links_closed();
        }
    }
    sample_host_session(world);
    if world.resource::<SessionDriver>().links_open && !world.contains_resource::<Transport>() {
        let mut driver = world.resource_mut::<SessionDriver>();
        driver.links_open = false;
        if let Some((_, tally)) = driver.seat.as_mut().and_then(|seat| seat.host.as_mut()) {
            tally.links_closed();
        }
        events.push(SessionEvent::LinksClosed(
            LinkClosed::Failed("the links were dropped".into()).to_string(),
        ));
    }
    let phase = GamePhase::current(world);
    let mut driver = world.resource_mut::<SessionDriver>();
    if phase.is_some() && phase != driver.phase_seen {
        driver.phase_seen = phase;
        events.extend(phase.map(SessionEvent::PhaseChanged));
    }
    world.resource_scope(|world, mut driver: Mut<SessionDriver>| {
        // A client cut off, refused, or gone on purpose: its seat on the
        // server goes too (a websocket's end keeps it for the client grace).
        let messages = world.resource::<Messages<PeerCutOff>>();
        events.extend(
            driver
                .cut_offs
                .read(messages)
                .map(|cut| SessionEvent::ClientCutOff(cut.peer)),
        );
        let messages = world.resource::<Messages<PeerDeparted>>();
        events.extend(
            driver
                .departures
                .read(messages)
                .map(|gone| SessionEvent::ClientCutOff(gone.0)),
        );
    });
    events.push(SessionEvent::Tick);
    for event in events {
        feed(world, event);
    }
}

/// Enters a room over `transport`, opened by the game itself.
pub(crate) fn enter_with(
    world: &mut World,
    role: Role,
    code: crate::share_code::ShareCode,
    host_token: Option<String>,
    transport: Transport,
) {
    use_links(world, transport);
    feed(
        world,
        SessionEvent::EnteredDirectly {
            role,
            code,
            host_token,
        },
    );
}

/// Makes `transport` this app's links: their id is yet to be reported, and
/// their disappearance will be noticed.
fn use_links(world: &mut World, transport: Transport) {
    world.insert_resource(transport);
    let mut driver = world.resource_mut::<SessionDriver>();
    driver.id_reported = false;
    driver.links_open = true;
}

/// Feeds one event to the machine and carries out its decisions.
pub(crate) fn feed(world: &mut World, event: SessionEvent) {
    let now = world.resource::<Time<Real>>().elapsed();
    // The settings of the moment: a game may change them between games.
    let config = config(world.resource::<P2pSettings>());
    let mut driver = world.resource_mut::<SessionDriver>();
    driver.machine.set_config(config);
    let mut effects = driver.machine.on(now, event);
    explain_unreachable_host(world, &mut effects);
    for effect in effects {
        apply(world, effect);
    }
}

/// Puts the links' reason on a "host unreachable", asked before the links
/// close: a player told that a relay is needed can do something about it.
fn explain_unreachable_host(world: &World, effects: &mut [SessionEffect]) {
    for effect in effects {
        if let SessionEffect::JoinFailed(failure @ JoinFailure::HostUnreachable) = effect {
            let why = world
                .get_resource::<Transport>()
                .and_then(|transport| transport.why_unreachable());
            *failure = match why {
                Some(NoPath::NeedsRelay) => JoinFailure::NeedsRelay,
                Some(NoPath::RelayUnavailable) => JoinFailure::RelayUnavailable,
                Some(NoPath::PeerSilent | NoPath::Blocked) | None => JoinFailure::HostUnreachable,
            };
        }
    }
}

fn apply(world: &mut World, effect: SessionEffect) {
    // Cloned only by the effects that need the settings: a countdown applies
    // a status change every frame.
    let settings = || world.resource::<P2pSettings>().clone();
    match effect {
        SessionEffect::CreateRoom { capacity } => {
            let settings = settings();
            info!("asking {} for a room", settings.http_base());
            let reply = world.resource::<RoomApi>().create_room(&settings, capacity);
            world.resource_mut::<SessionDriver>().creating = Some(reply);
        }
        SessionEffect::CheckRoom(code) => {
            let settings = settings();
            info!("looking up room {code}");
            let reply = world
                .resource::<RoomApi>()
                .get_room(&settings, &code, false);
            world.resource_mut::<SessionDriver>().checking = Some(reply);
        }
        SessionEffect::LookUpToJoin(code) => {
            let settings = settings();
            info!("looking up room {code} to join it");
            let reply = world.resource::<RoomApi>().get_room(&settings, &code, true);
            world.resource_mut::<SessionDriver>().checking = Some(reply);
        }
        SessionEffect::RemoveClient {
            code,
            host_token,
            peer,
        } => {
            let settings = settings();
            info!("asking the server to remove client {peer} from room {code}");
            world
                .resource::<RoomApi>()
                .remove_client(&settings, &code, &host_token, peer);
        }
        SessionEffect::MarkStarted { code, host_token } => {
            let settings = settings();
            world
                .resource::<RoomApi>()
                .start_room(&settings, &code, &host_token);
            let mut driver = world.resource_mut::<SessionDriver>();
            if let Some(seat) = driver.seat.as_mut().filter(|seat| seat.code == code) {
                seat.started = true;
            }
            if let Some(mut transport) = world.get_resource_mut::<Transport>() {
                transport.game_started();
            }
        }
        SessionEffect::OpenLinks { code, host_token } => {
            let settings = settings();
            debug!("opening the links of room {code}");
            // One seat secret per room, kept while this app plays in it: a
            // host that reopens its links comes back as the same peer.
            let now = world.resource::<Time<Real>>().elapsed();
            let (seat, started) = {
                let mut driver = world.resource_mut::<SessionDriver>();
                match &driver.seat {
                    Some(seat) if seat.code == code => (seat.secret.clone(), seat.started),
                    _ => {
                        let secret = crate::transport::fresh_seat();
                        driver.seat = Some(SeatInRoom {
                            code: code.clone(),
                            secret: secret.clone(),
                            started: false,
                            // Only a client's join is reported.
                            join: host_token
                                .is_none()
                                .then(|| super::join_report::JoinTally::opened(now)),
                            host: host_token.clone().map(|token| {
                                (token, super::session_report::HostTally::opened(now))
                            }),
                        });
                        (secret, false)
                    }
                }
            };
            let room = RoomEntry {
                code,
                host_token,
                seat,
            };
            let mut transport = (world.resource::<LinkFactory>().0)(&room, &settings);
            if started {
                transport.game_started();
            }
            use_links(world, transport);
        }
        SessionEffect::Rejoin(code) => {
            if world.resource::<SessionDriver>().links_open {
                let now = world.resource::<Time<Real>>().elapsed();
                if let Some(mut transport) = world.get_resource_mut::<Transport>() {
                    transport.rejoin(now);
                }
            } else {
                // Links closed meanwhile: new ones, same seat, same peer.
                apply(
                    world,
                    SessionEffect::OpenLinks {
                        code,
                        host_token: None,
                    },
                );
            }
        }
        SessionEffect::CloseLinks => {
            world.remove_resource::<Transport>();
            world.resource_mut::<SessionDriver>().links_open = false;
        }
        SessionEffect::EnterRoom {
            role,
            code,
            share_url,
        } => {
            let settings = settings();
            info!(
                "{} room {code}",
                if role == Role::Host {
                    "hosting"
                } else {
                    "joining"
                }
            );
            world.insert_resource(role);
            // Clients get the phase by replication.
            if role == Role::Host {
                world.spawn((GamePhase::Lobby, bevy_replicon::prelude::Replicated));
            }
            let mut session = world.resource_mut::<Session>();
            // The game's own base wins, then the server's public link.
            session.share_link = Some(match share_url {
                Some(link) if settings.share_link_base.is_none() => link,
                _ => settings.share_link(code.as_str()),
            });
            session.code = Some(code);
            session.last_failure = None;
        }
        SessionEffect::SetPhase(phase) => {
            let mut phases = world.query::<&mut GamePhase>();
            for mut current in phases.iter_mut(world) {
                *current = phase;
            }
        }
        SessionEffect::Status(status) => {
            world.resource_mut::<Session>().status = status;
        }
        SessionEffect::EndGame(reason) => {
            report_session(world);
            clear_room(world);
            world.resource_mut::<Session>().status = SessionStatus::Ended(reason.clone());
            world.write_message(GameEnded { reason });
        }
        SessionEffect::Leave => {
            if world.resource::<Session>().in_game() {
                info!("leaving the game");
            }
            // Before the report, which takes the host's seat.
            let ending = end_room(world);
            report_session(world);
            say_goodbye(world, ending);
            clear_room(world);
            // Whoever joins next, even the same room, is a new player: its
            // old links may still be saying goodbye under the old id.
            world.resource_mut::<SessionDriver>().seat = None;
            let mut session = world.resource_mut::<Session>();
            session.status = SessionStatus::Idle;
            session.code = None;
            session.share_link = None;
        }
        SessionEffect::HostLost { grace } => {
            world.write_message(HostLost { grace });
        }
        SessionEffect::HostReturned => {
            world.write_message(HostReturned);
        }
        SessionEffect::JoinFailed(reason) => {
            report_join(world, |tally, _, _| tally.failed(&reason));
            world.resource_mut::<Session>().last_failure = Some(reason.clone());
            world.write_message(JoinFailed { reason });
        }
    }
}

/// Sends this client's join report, if `outcome` says one is due (see
/// `join_report.rs`) and the game did not turn reporting off.
fn report_join(
    world: &mut World,
    outcome: impl FnOnce(
        &mut super::join_report::JoinTally,
        Duration,
        Option<&Transport>,
    ) -> Option<bevy_p2p_protocol::api::JoinOutcome>,
) {
    let now = world.resource::<Time<Real>>().elapsed();
    let settings = world.resource::<P2pSettings>().clone();
    world.resource_scope(|world, mut driver: Mut<SessionDriver>| {
        let Some(seat) = driver.seat.as_mut() else {
            return;
        };
        let Some(tally) = seat.join.as_mut() else {
            return;
        };
        let Some(outcome) = outcome(tally, now, world.get_resource::<Transport>()) else {
            return;
        };
        if settings.report_stats {
            world
                .resource::<RoomApi>()
                .report_join(&settings, &seat.code, &seat.secret, outcome);
        }
    });
}

/// On a host, once a second: the players, and each client link's round trip
/// and route, for the session report.
fn sample_host_session(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let due = world
        .resource_mut::<SessionDriver>()
        .seat
        .as_mut()
        .and_then(|seat| seat.host.as_mut())
        .is_some_and(|(_, tally)| tally.sample_due(now));
    if !due {
        return;
    }
    let players = world.resource::<super::players::Roster>().players.len();
    let bytes = world
        .get_resource_mut::<Transport>()
        .map(|mut links| links.take_byte_counts())
        .unwrap_or_default();
    let clients: Vec<(PeerId, Option<Duration>, bool)> = {
        let transport = world.get_resource::<Transport>();
        world
            .resource::<LinkedPeers>()
            .clients()
            .map(|peer| {
                let rtt = transport
                    .and_then(|links| links.round_trip(peer))
                    .map(|trip| trip.rtt);
                let relayed = transport.and_then(|links| links.route(peer))
                    == Some(crate::transport::LinkRoute::Relayed);
                (peer, rtt, relayed)
            })
            .collect()
    };
    if let Some((_, tally)) = world
        .resource_mut::<SessionDriver>()
        .seat
        .as_mut()
        .and_then(|seat| seat.host.as_mut())
    {
        tally.sample(players, clients);
        tally.add_bytes(bytes);
    }
}

/// Sends the host's session report, once per room, unless the game turned
/// reporting off.
fn report_session(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let settings = world.resource::<P2pSettings>().clone();
    // The bytes since the last sample, if the links are still there.
    let bytes = world
        .get_resource_mut::<Transport>()
        .map(|mut links| links.take_byte_counts())
        .unwrap_or_default();
    let mut driver = world.resource_mut::<SessionDriver>();
    let Some(seat) = driver.seat.as_mut() else {
        return;
    };
    let Some((token, mut tally)) = seat.host.take() else {
        return;
    };
    tally.add_bytes(bytes);
    let code = seat.code.clone();
    if settings.report_stats {
        world
            .resource::<RoomApi>()
            .report_session(&settings, &code, &token, tally.report(now));
    }
}

/// How long the links of an app that left stay open for its goodbye to
/// get out: the reliable channel delivers it in a round trip or two.
pub(crate) const FAREWELL: Duration = Duration::from_millis(500);

/// The links of an app that left, kept open until `until` so that its
/// goodbye reaches its peers before the links close.
#[derive(Resource)]
pub(crate) struct Farewell {
    _links: Transport,
    until: Duration,
    /// A host's "game over" to the server, and how long to wait for its
    /// answer at most: the links (its websocket) stay open until then.
    ending: Option<(Reply<()>, Duration)>,
}

/// A host that leaves ends its game on the server (the room closes now,
/// and its socket closing is no disconnect). Returns the request's reply.
fn end_room(world: &mut World) -> Option<Reply<()>> {
    let settings = world.resource::<P2pSettings>();
    let seat = world.resource::<SessionDriver>().seat.as_ref()?;
    let (token, _) = seat.host.as_ref()?;
    info!("ending the game in room {}", seat.code);
    Some(
        world
            .resource::<RoomApi>()
            .end_room(settings, &seat.code, token),
    )
}

/// Tells the linked peers this app leaves on purpose, so they drop it now
/// rather than keep its player waiting for its return; its links close a
/// moment later ([`FAREWELL`]), and not before the server answered a
/// host's `ending`.
fn say_goodbye(world: &mut World, ending: Option<Reply<()>>) {
    let peers: Vec<PeerId> = {
        let linked = world.resource::<LinkedPeers>();
        linked.host().into_iter().chain(linked.clients()).collect()
    };
    let Some(mut links) = world.remove_resource::<Transport>() else {
        return;
    };
    if peers.is_empty() && ending.is_none() {
        return;
    }
    crate::transport::bridge::say_goodbye(&mut links, peers.into_iter());
    let now = world.resource::<Time<Real>>().elapsed();
    let wait_at_most = world.resource::<P2pSettings>().request_timeout;
    world.insert_resource(Farewell {
        _links: links,
        until: now + FAREWELL,
        ending: ending.map(|reply| (reply, now + wait_at_most)),
    });
}

/// Closes the links of an app that left once its goodbye had its time and
/// the server answered its "game over" (or did not, in time).
pub(crate) fn end_farewell(
    mut commands: Commands,
    farewell: Option<Res<Farewell>>,
    time: Res<Time<Real>>,
) {
    let Some(farewell) = farewell else {
        return;
    };
    let now = time.elapsed();
    if now < farewell.until {
        return;
    }
    // Asked only now: an answer is taken when read.
    let answered = farewell
        .ending
        .as_ref()
        .is_none_or(|(reply, deadline)| now >= *deadline || reply.poll().is_some());
    if answered {
        commands.remove_resource::<Farewell>();
    }
}

/// What a game that is over leaves behind goes: links closed, role dropped,
/// the replicated world cleared on a client, the host's players and phase
/// despawned on the host.
fn clear_room(world: &mut World) {
    world.remove_resource::<Transport>();
    let role = world.remove_resource::<Role>();
    {
        let mut driver = world.resource_mut::<SessionDriver>();
        driver.creating = None;
        driver.checking = None;
        driver.phase_seen = None;
        driver.links_open = false;
    }
    // Despawned through commands that tolerate an entity already gone
    // (despawn observers may take related entities along).
    let leftovers: Vec<Entity> = if role == Some(Role::Client) {
        world
            .query_filtered::<Entity, (With<Remote>, Without<IsResource>)>()
            .iter(world)
            .collect()
    } else {
        world
            .query_filtered::<Entity, Or<(With<Player>, With<GamePhase>)>>()
            .iter(world)
            .collect()
    };
    let mut commands = world.commands();
    for entity in leftovers {
        commands.entity(entity).try_despawn();
    }
    world.flush();
    let mut session = world.resource_mut::<Session>();
    session.local_slot = None;
    session.local_peer = None;
}
