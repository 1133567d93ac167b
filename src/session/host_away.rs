//! A lost host: clients pause and count down; the host takes its seat back.
//!
//! On a client, losing the host link pauses the game ([`GameplaySystems`]
//! stop) and starts the grace countdown. A host that comes back rebuilds the
//! links and sends its full state; play resumes where it stopped. When the
//! grace runs out the game ends with "host did not reconnect".
//!
//! On the host, losing its links (signaling or WebRTC) keeps the world as it
//! is and reopens the room with its token every [`RECONNECT_INTERVAL`] until
//! the server gives the seat back or the grace runs out.
//!
//! [`GameplaySystems`]: super::GameplaySystems

use core::time::Duration;

use bevy::prelude::*;

use super::{EndReason, GamePhase, HostLost, HostReturned, Session, SessionStatus, end_game};
use crate::{
    settings::P2pSettings,
    transport::{
        LinkFactory, Transport,
        bridge::{HostLinkChanged, TransportClosed},
    },
};

/// How often a host that lost its links tries to take its seat back.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(2);

pub(super) struct HostAwayPlugin;

impl Plugin for HostAwayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<HostReconnect>().add_systems(
            Update,
            (
                (follow_host_link, follow_phase, count_down_host_away)
                    .chain()
                    .run_if(crate::common_conditions::is_client),
                (notice_lost_links, reconnect_host)
                    .chain()
                    .run_if(crate::common_conditions::is_host),
            ),
        );
    }
}

fn live_status(phase: Option<&GamePhase>) -> SessionStatus {
    match phase {
        Some(GamePhase::Playing) => SessionStatus::Playing,
        Some(GamePhase::Lobby) | None => SessionStatus::InLobby,
    }
}

fn follow_host_link(
    mut session: ResMut<Session>,
    settings: Res<P2pSettings>,
    phase: Query<&GamePhase>,
    mut changes: MessageReader<HostLinkChanged>,
    mut lost: MessageWriter<HostLost>,
    mut returned: MessageWriter<HostReturned>,
) {
    for change in changes.read() {
        match (change, &session.status) {
            (HostLinkChanged::Lost, SessionStatus::InLobby | SessionStatus::Playing) => {
                info!(
                    "host lost; waiting {:?} for it to come back",
                    settings.host_grace
                );
                session.status = SessionStatus::HostAway {
                    remaining: settings.host_grace,
                };
                lost.write(HostLost {
                    grace: settings.host_grace,
                });
            }
            (HostLinkChanged::Up(_), SessionStatus::HostAway { .. }) => {
                info!("host is back");
                session.status = live_status(phase.iter().next());
                returned.write(HostReturned);
            }
            (HostLinkChanged::Up(_), SessionStatus::Connecting) => {
                session.status = live_status(phase.iter().next());
            }
            _ => {}
        }
    }
}

/// Clients follow the host's Start.
fn follow_phase(mut session: ResMut<Session>, phase: Query<&GamePhase, Changed<GamePhase>>) {
    let Some(phase) = phase.iter().next() else {
        return;
    };
    if matches!(
        session.status,
        SessionStatus::InLobby | SessionStatus::Playing
    ) {
        session.status = live_status(Some(phase));
    }
}

fn count_down_host_away(
    mut commands: Commands,
    mut session: ResMut<Session>,
    time: Res<Time<Real>>,
    mut closed: MessageReader<TransportClosed>,
) {
    let closed = closed.read().last().cloned();
    let ended = match &mut session.status {
        SessionStatus::HostAway { remaining } => {
            *remaining = remaining.saturating_sub(time.delta());
            remaining.is_zero().then(|| {
                info!("the host did not come back: game over");
                EndReason::HostDidNotReconnect
            })
        }
        // Links to the server closed under a running game: nothing to wait for.
        SessionStatus::InLobby | SessionStatus::Playing => {
            closed.map(|TransportClosed(reason)| EndReason::ConnectionLost(reason.to_string()))
        }
        _ => None,
    };
    if let Some(reason) = ended {
        commands.queue(move |world: &mut World| {
            end_game(world, SessionStatus::Ended(reason));
        });
    }
}

/// When the host reconnects, and how long it has left.
#[derive(Resource, Default)]
struct HostReconnect {
    next_attempt: Duration,
}

fn notice_lost_links(
    mut session: ResMut<Session>,
    settings: Res<P2pSettings>,
    transport: Option<Res<Transport>>,
    time: Res<Time<Real>>,
    mut reconnect: ResMut<HostReconnect>,
) {
    let live = matches!(
        session.status,
        SessionStatus::InLobby | SessionStatus::Playing
    );
    if live && transport.is_none() {
        warn!(
            "host lost its links; taking the seat back within {:?}",
            settings.host_grace
        );
        session.status = SessionStatus::Reconnecting {
            remaining: settings.host_grace,
        };
        // The server needs a moment to notice the old socket is gone.
        reconnect.next_attempt = time.elapsed() + Duration::from_millis(500);
    }
}

fn reconnect_host(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let delta = world.resource::<Time<Real>>().delta();
    let phase = GamePhase::current(world);
    let SessionStatus::Reconnecting { remaining } = world.resource::<Session>().status else {
        return;
    };
    let remaining = remaining.saturating_sub(delta);
    if remaining.is_zero() {
        warn!("could not take the host seat back in time: game over");
        end_game(world, SessionStatus::Ended(EndReason::ReconnectFailed));
        return;
    }
    // Back once the server assigned this socket an id: it holds the seat again.
    let back = world
        .get_resource_mut::<Transport>()
        .is_some_and(|mut transport| transport.local_id().is_some());
    let mut session = world.resource_mut::<Session>();
    if back {
        info!("host seat taken back");
        session.status = live_status(phase.as_ref());
        world.write_message(HostReturned);
        return;
    }
    session.status = SessionStatus::Reconnecting { remaining };
    let due = now >= world.resource::<HostReconnect>().next_attempt;
    if !due {
        return;
    }
    world.resource_mut::<HostReconnect>().next_attempt = now + RECONNECT_INTERVAL;
    let session = world.resource::<Session>();
    let (Some(code), Some(token)) = (session.code.clone(), session.host_token.clone()) else {
        end_game(world, SessionStatus::Ended(EndReason::ReconnectFailed));
        return;
    };
    let settings = world.resource::<P2pSettings>().clone();
    let url = settings.room_url(code.as_str(), Some(&token));
    debug!("reopening the room as host");
    let transport = (world.resource::<LinkFactory>().0)(&url, &settings);
    world.insert_resource(transport);
}
