//! The host's backend: replicon's listen server over the links. Every
//! linked peer is a [`ConnectedClient`] entity; the sender of a message is
//! the link's peer, never anything the payload says.

use bevy::prelude::*;
use bevy_replicon::{prelude::*, shared::backend::connected_client::NetworkId};

use super::{
    Departed, Incoming, LinkBooks, LinkedPeer, LinkedPeers, MAX_UNRELIABLE_SIZE,
    MalformedPacketReceived, PeerDeparted, TransportClosed, gate::PeerCutOff, ping, receive,
    send_message, stats::LinkStats,
};
use crate::{
    role::Role,
    transport::{PeerId, Transport},
};

/// The host's side of the `bevy_replicon` backend.
pub struct HostBackendPlugin;

impl Plugin for HostBackendPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            PreUpdate,
            (host_receive, sync_server_state)
                .chain()
                .in_set(ServerSystems::ReceivePackets),
        )
        .add_systems(
            PostUpdate,
            host_send
                .run_if(resource_exists::<Transport>)
                .in_set(ServerSystems::SendPackets),
        );
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a backend system touches many parts"
)]
fn host_receive(
    mut commands: Commands,
    role: Option<Res<Role>>,
    transport: Option<ResMut<Transport>>,
    time: Res<Time<Real>>,
    channels: Res<RepliconChannels>,
    mut peers: ResMut<LinkedPeers>,
    mut books: LinkBooks,
    mut messages: ResMut<ServerMessages>,
    mut closed: MessageWriter<TransportClosed>,
    mut malformed: MessageWriter<MalformedPacketReceived>,
    mut cut_offs: MessageWriter<PeerCutOff>,
    mut departures: MessageWriter<PeerDeparted>,
    mut stats: Query<&mut ConnectedClientStats>,
) {
    if role.as_deref() != Some(&Role::Host) {
        return;
    }
    let Some(mut transport) = transport else {
        drop_all_clients(&mut commands, &mut peers, &mut books.pings);
        return;
    };
    let now = time.elapsed();
    let channel_count = channels.client_channels().len();
    for incoming in receive(&mut transport, now, channel_count, &mut books) {
        match incoming {
            Incoming::Linked(peer) => {
                if peers.clients.contains_key(&peer) {
                    continue;
                }
                let client = commands
                    .spawn((
                        ConnectedClient {
                            max_size: MAX_UNRELIABLE_SIZE,
                        },
                        NetworkId::new(network_id(peer)),
                        LinkedPeer(peer),
                    ))
                    .id();
                debug!("peer {peer} linked as client {client}");
                peers.clients.insert(peer, client);
            }
            Incoming::Unlinked(peer) => {
                if let Some(client) = peers.clients.remove(&peer) {
                    debug!("peer {peer} (client {client}) unlinked");
                    commands.entity(client).try_despawn();
                }
            }
            Incoming::Departed(peer) => {
                if let Some(client) = peers.clients.remove(&peer) {
                    info!("peer {peer} (client {client}) left the game");
                    commands.entity(client).try_insert(Departed).try_despawn();
                    departures.write(PeerDeparted(peer));
                }
            }
            Incoming::Malformed(from) => {
                malformed.write(MalformedPacketReceived { from });
            }
            Incoming::CutOff(cut) => {
                if let Some(client) = peers.clients.remove(&cut.peer) {
                    commands.entity(client).try_insert(Departed).try_despawn();
                }
                cut_offs.write(cut);
            }
            Incoming::Message {
                from,
                channel,
                message,
            } => {
                // Only linked peers speak.
                if let Some(client) = peers.client(from) {
                    messages.insert_received(client, channel, message);
                }
            }
            Incoming::Closed(reason) => {
                warn!("host links closed: {reason}");
                closed.write(TransportClosed(reason));
                drop_all_clients(&mut commands, &mut peers, &mut books.pings);
                LinkStats::refresh(
                    &mut books.stats,
                    &transport,
                    &books.pings,
                    core::iter::empty(),
                );
                return;
            }
        }
    }
    let linked: Vec<PeerId> = peers.clients.keys().copied().collect();
    ping(
        &mut transport,
        now,
        &mut books.pings,
        linked.iter().copied(),
    );
    LinkStats::refresh(
        &mut books.stats,
        &transport,
        &books.pings,
        linked.into_iter(),
    );
    for (&peer, &client) in &peers.clients {
        if let (Ok(mut stats), Some(stat)) = (stats.get_mut(client), books.stats.get(peer)) {
            **stats = stat.to_replicon();
        }
    }
}

/// Every client goes with this host's links; their players wait for them
/// (the session keeps them for the grace).
fn drop_all_clients(
    commands: &mut Commands,
    peers: &mut LinkedPeers,
    pings: &mut super::PingTracker,
) {
    for (peer, client) in peers.clients.drain() {
        commands.entity(client).try_despawn();
        pings.forget(peer);
    }
}

fn network_id(peer: PeerId) -> u64 {
    let (high, low) = peer.0.as_u64_pair();
    high ^ low
}

fn host_send(
    mut commands: Commands,
    mut transport: ResMut<Transport>,
    channels: Res<RepliconChannels>,
    mut peers: ResMut<LinkedPeers>,
    mut messages: ResMut<ServerMessages>,
    mut disconnects: MessageReader<DisconnectRequest>,
    clients: Query<&LinkedPeer>,
) {
    for (client, channel, message) in messages.drain_sent() {
        let Ok(&LinkedPeer(peer)) = clients.get(client) else {
            continue;
        };
        send_message(
            &mut transport,
            peer,
            channels.server_channels(),
            channel,
            message,
        );
    }
    for request in disconnects.read() {
        // The link goes too: a refused client must not keep a peer
        // connection to the host. (What was queued for it this frame may not
        // reach it: replicon's disconnect is immediate too.)
        if let Ok(&LinkedPeer(peer)) = clients.get(request.client) {
            peers.clients.remove(&peer);
            transport.disconnect(peer);
        }
        commands
            .entity(request.client)
            .try_insert(Departed)
            .try_despawn();
    }
}

/// Keeps replicon's server state in step with the role: running while this
/// app hosts, through link losses too, so the host's world stays as it is.
fn sync_server_state(
    role: Option<Res<Role>>,
    state: Res<State<ServerState>>,
    mut next: ResMut<NextState<ServerState>>,
) {
    let wanted = if role.as_deref() == Some(&Role::Host) {
        ServerState::Running
    } else {
        ServerState::Stopped
    };
    if *state.get() != wanted {
        next.set(wanted);
    }
}
