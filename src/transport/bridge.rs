//! The `bevy_replicon` messaging backend over [`PeerLinks`](super::PeerLinks).
//!
//! On the host (replicon's listen server) every linked peer becomes a
//! [`ConnectedClient`] entity; on a client the one linked peer is the host.
//! Packets are framed by [`Packet`]; replicon's `Unreliable` channels go on
//! the unreliable data channel and the others on the reliable one, which is
//! ordered (a superset of `Unordered`). The bridge also pings every linked
//! peer twice a second: matchbox keeps no round-trip statistics, and players
//! want to see their ping.

use core::time::Duration;
use std::collections::HashMap;

use bevy::{ecs::resource::IsResource, prelude::*};
use bevy_replicon::{prelude::*, shared::backend::connected_client::NetworkId};

use super::{
    Delivery, LinkClosed, LinkEvent, PeerId, Transport,
    packet::{MalformedPacket, Packet},
};
use crate::role::Role;

/// Largest replicon message sent unsplit on the unreliable channel: fits one
/// UDP datagram after DTLS, SCTP and IP headers.
pub const MAX_UNRELIABLE_SIZE: usize = 1_100;

/// How often every linked peer is pinged.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);

/// A ping not answered within this is counted as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `bevy_replicon` over the app's [`Transport`].
pub struct TransportBridgePlugin;

impl Plugin for TransportBridgePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LinkedPeers>()
            .init_resource::<PingTracker>()
            .add_message::<TransportClosed>()
            .add_message::<MalformedPacketReceived>()
            .add_message::<HostLinkChanged>()
            .add_systems(
                PreUpdate,
                (
                    (host_receive, sync_server_state)
                        .chain()
                        .in_set(ServerSystems::ReceivePackets),
                    (client_receive, sync_client_state)
                        .chain()
                        .in_set(ClientSystems::ReceivePackets),
                ),
            )
            .add_systems(
                PostUpdate,
                (
                    host_send
                        .run_if(resource_exists::<Transport>)
                        .in_set(ServerSystems::SendPackets),
                    client_send
                        .run_if(resource_exists::<Transport>)
                        .in_set(ClientSystems::SendPackets),
                ),
            );
    }
}

/// Written when the app's links close for a reason other than leaving.
///
/// The [`Transport`] resource is removed at the same time.
#[derive(Message, Clone, Debug)]
pub struct TransportClosed(pub LinkClosed);

/// Written when a peer sends bytes that are not a packet of ours. The packet
/// is dropped; the peer stays.
#[derive(Message, Clone, Copy, Debug)]
pub struct MalformedPacketReceived {
    /// Who sent it.
    pub from: PeerId,
}

/// The peer behind a [`ConnectedClient`] entity on the host.
#[derive(Component, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LinkedPeer(pub PeerId);

/// Which peers are linked: on the host, peer to client entity; on a client,
/// the host's peer.
#[derive(Resource, Default, Debug)]
pub struct LinkedPeers {
    clients: HashMap<PeerId, Entity>,
    host: Option<PeerId>,
}

impl LinkedPeers {
    /// The host's peer, on a client whose host link is up.
    pub fn host(&self) -> Option<PeerId> {
        self.host
    }

    /// The client entity of a linked peer, on the host.
    pub fn client(&self, peer: PeerId) -> Option<Entity> {
        self.clients.get(&peer).copied()
    }

    /// How many client peers are linked, on the host.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }
}

/// Round-trip probes in flight and their results.
#[derive(Resource, Default)]
struct PingTracker {
    next_seq: u32,
    next_round: Duration,
    in_flight: HashMap<u32, (PeerId, Duration)>,
    rtt: HashMap<PeerId, f64>,
    loss: HashMap<PeerId, f64>,
}

impl PingTracker {
    /// Sends a ping to each peer when one is due.
    fn ping_round(
        &mut self,
        now: Duration,
        peers: impl Iterator<Item = PeerId>,
        transport: &mut Transport,
    ) {
        // Probes never answered count as lost, then are forgotten.
        let mut lost: Vec<PeerId> = Vec::new();
        self.in_flight.retain(|_, (peer, sent)| {
            let keep = now.saturating_sub(*sent) < PING_TIMEOUT;
            if !keep {
                lost.push(*peer);
            }
            keep
        });
        for peer in lost {
            let loss = self.loss.entry(peer).or_default();
            *loss = *loss * 0.9 + 0.1;
        }
        if now < self.next_round {
            return;
        }
        self.next_round = now + PING_INTERVAL;
        for peer in peers {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            if transport
                .send(peer, Delivery::Unreliable, Packet::Ping(seq).encode())
                .is_ok()
            {
                self.in_flight.insert(seq, (peer, now));
            }
        }
    }

    fn answered(&mut self, from: PeerId, seq: u32, now: Duration) {
        let Some((peer, sent)) = self.in_flight.remove(&seq) else {
            return;
        };
        if peer != from {
            return;
        }
        let sample = now.saturating_sub(sent).as_secs_f64();
        let rtt = self.rtt.entry(peer).or_insert(sample);
        // Smoothed like TCP's SRTT, so one late packet does not make the
        // number players see jump.
        *rtt = *rtt * 0.875 + sample * 0.125;
        let loss = self.loss.entry(peer).or_default();
        *loss *= 0.9;
    }

    fn forget(&mut self, peer: PeerId) {
        self.rtt.remove(&peer);
        self.loss.remove(&peer);
        self.in_flight.retain(|_, (p, _)| *p != peer);
    }
}

/// Handles one packet's control part; returns the replicon message, if any.
fn open_packet(
    from: PeerId,
    packet: bytes::Bytes,
    now: Duration,
    transport: &mut Transport,
    pings: &mut PingTracker,
    malformed: &mut MessageWriter<MalformedPacketReceived>,
) -> Option<(u8, bytes::Bytes)> {
    match Packet::decode(packet) {
        Ok(Packet::Replicon { channel, message }) => Some((channel, message)),
        Ok(Packet::Ping(seq)) => {
            // The peer is gone if this fails; its disconnect event follows.
            let _ = transport.send(from, Delivery::Unreliable, Packet::Pong(seq).encode());
            None
        }
        Ok(Packet::Pong(seq)) => {
            pings.answered(from, seq, now);
            None
        }
        Err(MalformedPacket) => {
            debug!("dropping a malformed packet from {from}");
            malformed.write(MalformedPacketReceived { from });
            None
        }
    }
}

fn delivery_of(channel: Channel) -> Delivery {
    match channel {
        Channel::Unreliable => Delivery::Unreliable,
        Channel::Unordered | Channel::Ordered => Delivery::Reliable,
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
    mut pings: ResMut<PingTracker>,
    mut messages: ResMut<ServerMessages>,
    mut closed: MessageWriter<TransportClosed>,
    mut malformed: MessageWriter<MalformedPacketReceived>,
    mut stats: Query<&mut ConnectedClientStats>,
) {
    if role.as_deref() != Some(&Role::Host) {
        return;
    }
    let Some(mut transport) = transport else {
        drop_all_clients(&mut commands, &mut peers, &mut pings);
        return;
    };
    let now = time.elapsed();
    let mut events = Vec::new();
    transport.poll(now, &mut events);
    for event in events {
        match event {
            LinkEvent::Connected(peer) => {
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
            LinkEvent::Disconnected(peer) => {
                if let Some(client) = peers.clients.remove(&peer) {
                    debug!("peer {peer} (client {client}) unlinked");
                    commands.entity(client).try_despawn();
                }
                pings.forget(peer);
            }
            LinkEvent::Received { from, packet, .. } => {
                // Only linked peers speak; the sender is the link's, never the payload's.
                let Some(client) = peers.client(from) else {
                    continue;
                };
                let Some((channel, message)) = open_packet(
                    from,
                    packet,
                    now,
                    &mut transport,
                    &mut pings,
                    &mut malformed,
                ) else {
                    continue;
                };
                if usize::from(channel) < channels.client_channels().len() {
                    messages.insert_received(client, channel, message);
                } else {
                    debug!("dropping a message on unknown channel {channel} from {from}");
                    malformed.write(MalformedPacketReceived { from });
                }
            }
            LinkEvent::Closed(reason) => {
                warn!("host links closed: {reason}");
                closed.write(TransportClosed(reason));
                commands.remove_resource::<Transport>();
                drop_all_clients(&mut commands, &mut peers, &mut pings);
                return;
            }
        }
    }
    let linked: Vec<PeerId> = peers.clients.keys().copied().collect();
    pings.ping_round(now, linked.into_iter(), &mut transport);
    for (&peer, &client) in &peers.clients {
        if let Ok(mut stats) = stats.get_mut(client) {
            stats.rtt = pings.rtt.get(&peer).copied().unwrap_or_default();
            stats.packet_loss = pings.loss.get(&peer).copied().unwrap_or_default();
        }
    }
}

fn drop_all_clients(commands: &mut Commands, peers: &mut LinkedPeers, pings: &mut PingTracker) {
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
        let Some(&kind) = channels.server_channels().get(channel) else {
            continue;
        };
        let Ok(channel) = u8::try_from(channel) else {
            continue;
        };
        let packet = Packet::Replicon { channel, message }.encode();
        // A failed send means the peer is gone; its disconnect event follows.
        let _ = transport.send(peer, delivery_of(kind), packet);
    }
    for request in disconnects.read() {
        if let Ok(&LinkedPeer(peer)) = clients.get(request.client) {
            peers.clients.remove(&peer);
        }
        commands.entity(request.client).try_despawn();
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
    mut pings: ResMut<PingTracker>,
    mut messages: ResMut<ClientMessages>,
    mut stats: ResMut<ClientStats>,
    mut closed: MessageWriter<TransportClosed>,
    mut malformed: MessageWriter<MalformedPacketReceived>,
    mut link_changes: MessageWriter<HostLinkChanged>,
    stale: Query<Entity, (With<Remote>, Without<IsResource>)>,
) {
    if role.as_deref() != Some(&Role::Client) {
        return;
    }
    let Some(mut transport) = transport else {
        if let Some(host) = peers.host.take() {
            pings.forget(host);
            link_changes.write(HostLinkChanged::Lost);
        }
        return;
    };
    let now = time.elapsed();
    let mut events = Vec::new();
    transport.poll(now, &mut events);
    for event in events {
        match event {
            LinkEvent::Connected(peer) => {
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
            LinkEvent::Disconnected(peer) => {
                if peers.host == Some(peer) {
                    debug!("host {peer} unlinked");
                    peers.host = None;
                    link_changes.write(HostLinkChanged::Lost);
                }
                pings.forget(peer);
            }
            LinkEvent::Received { from, packet, .. } => {
                if peers.host != Some(from) {
                    continue;
                }
                let Some((channel, message)) = open_packet(
                    from,
                    packet,
                    now,
                    &mut transport,
                    &mut pings,
                    &mut malformed,
                ) else {
                    continue;
                };
                if usize::from(channel) < channels.server_channels().len() {
                    messages.insert_received(channel, message);
                } else {
                    malformed.write(MalformedPacketReceived { from });
                }
            }
            LinkEvent::Closed(reason) => {
                warn!("client links closed: {reason}");
                closed.write(TransportClosed(reason));
                commands.remove_resource::<Transport>();
                if let Some(host) = peers.host.take() {
                    pings.forget(host);
                    link_changes.write(HostLinkChanged::Lost);
                }
                return;
            }
        }
    }
    if let Some(host) = peers.host {
        pings.ping_round(now, core::iter::once(host), &mut transport);
        stats.rtt = pings.rtt.get(&host).copied().unwrap_or_default();
        stats.packet_loss = pings.loss.get(&host).copied().unwrap_or_default();
    }
}

/// The link from a client to its host came up or went down.
#[derive(Message, Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostLinkChanged {
    /// Linked to the host, whose peer id this is (new after a host reconnect).
    Up(PeerId),
    /// The host link is gone.
    Lost,
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
        let Some(&kind) = channels.client_channels().get(channel) else {
            continue;
        };
        let Ok(channel) = u8::try_from(channel) else {
            continue;
        };
        let packet = Packet::Replicon { channel, message }.encode();
        let _ = transport.send(host, delivery_of(kind), packet);
    }
}
