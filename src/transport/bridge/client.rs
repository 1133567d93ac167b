//! A client's backend: replicon's client over the one link to the host.

use bevy::{ecs::resource::IsResource, prelude::*};
use bevy_replicon::prelude::*;

use super::{
    HostLinkChanged, Incoming, LinkBooks, LinkedPeers, MalformedPacketReceived, TransportClosed,
    gate::PeerCutOff, ping, receive, send_message, stats::LinkStats,
};
use crate::{role::Role, transport::Transport};

/// A client's side of the `bevy_replicon` backend.
pub struct ClientBackendPlugin;

impl Plugin for ClientBackendPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            PreUpdate,
            (client_receive, sync_client_state)
                .chain()
                .in_set(ClientSystems::ReceivePackets),
        )
        .add_systems(
            PostUpdate,
            client_send
                .run_if(resource_exists::<Transport>)
                .in_set(ClientSystems::SendPackets),
        );
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a backend system touches many parts"
)]
fn client_receive(
    mut commands: Commands,
    role: Option<Res<Role>>,
    transport: Option<ResMut<Transport>>,
    time: Res<Time<Real>>,
    channels: Res<RepliconChannels>,
    mut peers: ResMut<LinkedPeers>,
    mut books: LinkBooks,
    mut messages: ResMut<ClientMessages>,
    mut stats: ResMut<ClientStats>,
    mut closed: MessageWriter<TransportClosed>,
    mut malformed: MessageWriter<MalformedPacketReceived>,
    mut cut_offs: MessageWriter<PeerCutOff>,
    mut link_changes: MessageWriter<HostLinkChanged>,
    stale: Query<Entity, (With<Remote>, Without<IsResource>)>,
) {
    // No longer a client, or no links: no host either. (A client that left
    // and joins again, even the same room, must link anew.)
    let transport = transport.filter(|_| role.as_deref() == Some(&Role::Client));
    let Some(mut transport) = transport else {
        if let Some(host) = peers.host.take() {
            books.pings.forget(host);
            link_changes.write(HostLinkChanged::Lost);
        }
        return;
    };
    let now = time.elapsed();
    let channel_count = channels.server_channels().len();
    for incoming in receive(&mut transport, now, channel_count, &mut books) {
        match incoming {
            Incoming::Linked(peer) => {
                // In a star only the host links to a client; the first link wins.
                if peers.host.is_none() {
                    debug!("host {peer} linked");
                    // What an earlier host link replicated is stale: the
                    // host sends its full state again on every new link.
                    for entity in &stale {
                        commands.entity(entity).try_despawn();
                    }
                    peers.host = Some(peer);
                    link_changes.write(HostLinkChanged::Up(peer));
                }
            }
            Incoming::Unlinked(peer) => {
                if peers.host == Some(peer) {
                    debug!("host {peer} unlinked");
                    peers.host = None;
                    link_changes.write(HostLinkChanged::Lost);
                }
            }
            Incoming::Departed(peer) => {
                if peers.host == Some(peer) {
                    info!("host {peer} left the game");
                    peers.host = None;
                    link_changes.write(HostLinkChanged::Ended);
                }
            }
            Incoming::Malformed(from) => {
                malformed.write(MalformedPacketReceived { from });
            }
            Incoming::CutOff(cut) => {
                if peers.host == Some(cut.peer) {
                    peers.host = None;
                    link_changes.write(HostLinkChanged::Lost);
                }
                cut_offs.write(cut);
            }
            Incoming::Message {
                from,
                channel,
                message,
            } => {
                if peers.host == Some(from) {
                    messages.insert_received(channel, message);
                }
            }
            Incoming::Closed(reason) => {
                warn!("client links closed: {reason}");
                closed.write(TransportClosed(reason));
                if let Some(host) = peers.host.take() {
                    books.pings.forget(host);
                    link_changes.write(HostLinkChanged::Lost);
                }
                return;
            }
        }
    }
    if let Some(host) = peers.host {
        ping(
            &mut transport,
            now,
            &mut books.pings,
            core::iter::once(host),
        );
        LinkStats::refresh(
            &mut books.stats,
            &transport,
            &books.pings,
            core::iter::once(host),
        );
        if let Some(stat) = books.stats.get(host) {
            *stats = stat.to_replicon();
        }
    } else {
        LinkStats::refresh(
            &mut books.stats,
            &transport,
            &books.pings,
            core::iter::empty(),
        );
    }
}

/// Keeps replicon's client state in step with the host link.
fn sync_client_state(
    role: Option<Res<Role>>,
    transport: Option<Res<Transport>>,
    peers: Res<LinkedPeers>,
    state: Res<State<ClientState>>,
    mut next: ResMut<NextState<ClientState>>,
) {
    let wanted = match (role.as_deref(), transport.is_some(), peers.host.is_some()) {
        (Some(Role::Client), true, true) => ClientState::Connected,
        (Some(Role::Client), true, false) => ClientState::Connecting,
        _ => ClientState::Disconnected,
    };
    let current = *state.get();
    // A lost host goes through Disconnected so that replicon resets its
    // entity map and acks before the returning host's full state arrives.
    if current == ClientState::Connected && wanted == ClientState::Connecting {
        next.set(ClientState::Disconnected);
    } else if current != wanted {
        next.set(wanted);
    }
}

fn client_send(
    mut transport: ResMut<Transport>,
    channels: Res<RepliconChannels>,
    peers: Res<LinkedPeers>,
    mut messages: ResMut<ClientMessages>,
) {
    let Some(host) = peers.host else {
        // Nothing can be delivered yet; replicon resends what matters.
        messages.drain_sent().for_each(drop);
        return;
    };
    for (channel, message) in messages.drain_sent() {
        send_message(
            &mut transport,
            host,
            channels.client_channels(),
            channel,
            message,
        );
    }
}
