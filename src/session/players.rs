//! Player slots: the host hands them out, every peer lists them.
//!
//! A player is an entity with [`Player`], spawned by the host and replicated.
//! The host's own player is slot 0; each client gets the lowest free slot
//! when its link comes up, bound to its peer id. Inputs from a client are
//! applied to that slot and no other. A client that leaves on purpose (it
//! says goodbye), or is cut off, frees its slot and its player entity is
//! despawned. A client whose link went down (its network, or the host's)
//! keeps its player for `P2pSettings::client_grace`: its seat secret brings
//! it back under the same peer id, to the same slot and entity.

use core::time::Duration;

use bevy::prelude::*;
use bevy_replicon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{PlayerJoined, PlayerLeft, Session};
use crate::{
    role::Role,
    settings::P2pSettings,
    transport::{
        LinkRoute,
        bridge::{
            Departed, LinkedPeer,
            gate::{CutOffReason, PeerCutOff},
            stats::LinkStats,
        },
    },
};

pub(super) struct PlayersPlugin;

impl Plugin for PlayersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Roster>()
            .replicate::<Player>()
            .replicate::<PlayerPing>()
            .replicate::<PlayerRoute>()
            .add_observer(seat_client)
            .add_observer(unseat_client)
            .add_observer(announce_join)
            .add_observer(announce_leave)
            .add_systems(
                PreUpdate,
                (
                    spawn_host_player,
                    expire_away_players,
                    publish_pings,
                    publish_routes,
                )
                    .run_if(crate::common_conditions::is_host)
                    .after(ServerSystems::Receive),
            )
            .add_systems(PostUpdate, update_roster);
    }
}

/// A player's place in the room, 0 to 5; the host is 0.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PlayerSlot(pub u8);

impl PlayerSlot {
    /// The host's slot.
    pub const HOST: Self = Self(0);

    /// The slot as an index, for arrays of per-player data.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A player, spawned by the host and replicated to every client.
///
/// Observe `On<Add, Player>` on the host to give new players your game's
/// components (position, health, ...).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[require(Replicated, PlayerPing, PlayerRoute)]
pub struct Player {
    /// The player's slot.
    pub slot: PlayerSlot,
    /// The peer that plays it (`None` for the host's own player). Clients use
    /// it to find their own slot.
    pub owner: Option<u128>,
}

/// A player's round-trip time to the host, in milliseconds, as the host
/// measures it (0 for the host itself).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PlayerPing(pub u16);

/// How a player's link to the host travels, as the host's WebRTC stack
/// reports it: `None` for the host itself, and until it is known.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PlayerRoute(pub Option<LinkRoute>);

/// On the host, the slot of a connected client entity.
#[derive(Component, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClientSlot(pub PlayerSlot);

/// On the host, a player whose link went down: kept for the client grace
/// so the player comes back to the same slot.
#[derive(Component, Clone, Copy, Debug)]
pub struct AwaySince(pub Duration);

/// Every player in the room, by slot, as this app sees it.
#[derive(Resource, Default, Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Sorted by slot.
    pub players: Vec<RosterEntry>,
}

/// One line of the [`Roster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterEntry {
    /// The player's slot.
    pub slot: PlayerSlot,
    /// Round-trip time to the host in milliseconds.
    pub ping_ms: u16,
    /// How the player's link to the host travels (`None`: the host itself,
    /// or not known yet).
    pub route: Option<LinkRoute>,
    /// Whether this is the host's player.
    pub is_host: bool,
    /// Whether this is this app's own player.
    pub is_local: bool,
}

fn spawn_host_player(
    mut commands: Commands,
    mut session: ResMut<Session>,
    players: Query<&Player>,
) {
    if players.iter().any(|player| player.slot == PlayerSlot::HOST) {
        return;
    }
    commands.spawn(Player {
        slot: PlayerSlot::HOST,
        owner: None,
    });
    session.local_slot = Some(PlayerSlot::HOST);
}

/// A client's link came up: give it its old slot if it had one, or the
/// lowest free slot, or refuse it when the room is full.
fn seat_client(
    add: On<Add, LinkedPeer>,
    mut commands: Commands,
    settings: Res<P2pSettings>,
    clients: Query<&LinkedPeer>,
    players: Query<(Entity, &Player)>,
    mut disconnects: MessageWriter<DisconnectRequest>,
    mut cut_offs: MessageWriter<PeerCutOff>,
) {
    let Ok(&LinkedPeer(peer)) = clients.get(add.entity) else {
        return;
    };
    let owner = Some(peer.0.as_u128());
    let slot = if let Some((entity, player)) = players.iter().find(|(_, p)| p.owner == owner) {
        commands.entity(entity).try_remove::<AwaySince>();
        player.slot
    } else {
        let taken: Vec<PlayerSlot> = players.iter().map(|(_, p)| p.slot).collect();
        let free = (1..settings.max_players.min(usize::from(u8::MAX)))
            .filter_map(|n| u8::try_from(n).ok())
            .map(PlayerSlot)
            .find(|slot| !taken.contains(slot));
        let Some(slot) = free else {
            warn!("room full: refusing peer {peer}");
            disconnects.write(DisconnectRequest { client: add.entity });
            // Its seat on the server goes too (the session asks).
            cut_offs.write(PeerCutOff {
                peer,
                reason: CutOffReason::RoomFull,
            });
            return;
        };
        commands.spawn(Player { slot, owner });
        slot
    };
    info!("peer {peer} plays slot {}", slot.0);
    commands.entity(add.entity).try_insert(ClientSlot(slot));
}

/// A client's link went down: its player waits for it (its network or the
/// host's failed), unless it left on purpose or was cut off.
fn unseat_client(
    remove: On<Remove, LinkedPeer>,
    mut commands: Commands,
    time: Res<Time<Real>>,
    clients: Query<(&LinkedPeer, Has<Departed>)>,
    players: Query<(Entity, &Player)>,
) {
    let Ok((&LinkedPeer(peer), departed)) = clients.get(remove.entity) else {
        return;
    };
    let owner = Some(peer.0.as_u128());
    let Some((entity, _)) = players.iter().find(|(_, p)| p.owner == owner) else {
        return;
    };
    if departed {
        commands.entity(entity).try_despawn();
    } else {
        info!("peer {peer} away: its player waits for it");
        commands
            .entity(entity)
            .try_insert(AwaySince(time.elapsed()));
    }
}

/// Players away longer than the client grace go.
fn expire_away_players(
    mut commands: Commands,
    settings: Res<P2pSettings>,
    time: Res<Time<Real>>,
    players: Query<(Entity, &AwaySince)>,
) {
    for (entity, away) in &players {
        if time.elapsed().saturating_sub(away.0) > settings.client_grace {
            commands.entity(entity).try_despawn();
        }
    }
}

fn publish_pings(
    clients: Query<(&ClientSlot, &ConnectedClientStats)>,
    mut players: Query<(&Player, &mut PlayerPing)>,
) {
    for (slot, stats) in &clients {
        let ms = (stats.rtt * 1000.0).round().clamp(0.0, f64::from(u16::MAX)) as u16;
        if let Some((_, mut ping)) = players.iter_mut().find(|(p, _)| p.slot == slot.0) {
            // Only real changes, so an idle room sends nothing.
            ping.set_if_neq(PlayerPing(ms));
        }
    }
}

fn publish_routes(
    links: Res<LinkStats>,
    clients: Query<(&ClientSlot, &LinkedPeer)>,
    mut players: Query<(&Player, &mut PlayerRoute)>,
) {
    for (slot, peer) in &clients {
        let route = links.get(peer.0).and_then(|link| link.route);
        if let Some((_, mut known)) = players.iter_mut().find(|(p, _)| p.slot == slot.0) {
            known.set_if_neq(PlayerRoute(route));
        }
    }
}

fn announce_join(
    add: On<Add, Player>,
    players: Query<&Player>,
    mut joined: MessageWriter<PlayerJoined>,
) {
    if let Ok(player) = players.get(add.entity) {
        joined.write(PlayerJoined { slot: player.slot });
    }
}

fn announce_leave(
    remove: On<Remove, Player>,
    players: Query<&Player>,
    mut left: MessageWriter<PlayerLeft>,
) {
    if let Ok(player) = players.get(remove.entity) {
        left.write(PlayerLeft { slot: player.slot });
    }
}

fn update_roster(
    role: Option<Res<Role>>,
    mut session: ResMut<Session>,
    mut roster: ResMut<Roster>,
    players: Query<(&Player, &PlayerPing, &PlayerRoute)>,
) {
    let me = match role.as_deref() {
        Some(Role::Client) => session.local_peer,
        _ => None,
    };
    let mut entries: Vec<RosterEntry> = players
        .iter()
        .map(|(player, ping, route)| RosterEntry {
            slot: player.slot,
            ping_ms: ping.0,
            route: route.0,
            is_host: player.owner.is_none(),
            is_local: match role.as_deref() {
                Some(Role::Host) => player.owner.is_none(),
                Some(Role::Client) => me.is_some() && player.owner == me,
                None => false,
            },
        })
        .collect();
    entries.sort_by_key(|entry| entry.slot);
    let local_slot = entries.iter().find(|e| e.is_local).map(|e| e.slot);
    if session.local_slot != local_slot && role.is_some() {
        session.local_slot = local_slot;
    }
    if roster.players != entries {
        roster.players = entries;
    }
}
