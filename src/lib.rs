//! Peer-to-peer online play for Bevy games, with no game server.
//!
//! One player hosts: their app is the authority (`bevy_replicon`'s listen
//! server) and a player too. Up to five friends join with a 6-character share
//! code or a link, over WebRTC data channels, native and in the browser. Every
//! client ships its input to the host each `FixedUpdate` tick; the host runs
//! the game and replicates the state back. A small signaling server
//! (`bevy_p2p_signaling`, in `matchbox_server/`) only introduces peers.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_p2p_multiplayer::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
//! struct Move(Vec2);
//!
//! fn main() {
//!     App::new()
//!         .add_plugins((MinimalPlugins, P2pMultiplayerPlugin))
//!         .add_player_input::<Move>()
//!         .add_systems(FixedUpdate, move_players.in_set(GameplaySystems).run_if(is_host))
//!         .run();
//! }
//!
//! fn move_players(inputs: Res<PlayerInputs<Move>>, players: Query<&Player>) {
//!     for player in &players {
//!         let _wanted = inputs.get(player.slot);
//!     }
//! }
//! ```
//!
//! # Layers
//!
//! - [`lobby`]: what players ask for ([`LobbyRequest`](lobby::LobbyRequest))
//!   and the signaling server's room API.
//! - [`session`]: one pure state machine decides hosting, joining, the
//!   host-away countdown and reconnects; one driver system carries out its
//!   decisions; slots and the roster.
//! - [`input`]: per-player inputs, shipped each tick, applied per slot.
//! - [`transport`]: links between peers as byte queues (`WebRtcLinks`, or
//!   `MemoryLinks` with the `testing` feature), and the `bevy_replicon`
//!   backend over them.
//! - [`playout`]: on a client, which host tick to draw each frame, behind
//!   the newest by what the link's jitter needs (a pure clock the game
//!   feeds).
//!
//! # Features
//!
//! - `ui`: the egui overlays (lobby, in-game bar, host-away countdown,
//!   upgrade prompt). Needs Bevy's renderer.
//! - `testing`: in-memory links with a seeded link conditioner and
//!   `testing::MemoryRoom`, for deterministic multi-app tests.

pub mod common_conditions;
pub mod input;
pub mod lobby;
pub mod playout;
pub mod role;
pub mod session;
pub mod settings;
pub mod share_code;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;
#[cfg(feature = "ui")]
pub mod ui;

/// The README's Rust examples, compiled by `cargo test` as doc tests, so that
/// what a newcomer copies from it builds.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use bevy::{app::PluginGroupBuilder, prelude::*, state::app::StatesPlugin};
use bevy_replicon::prelude::*;

pub use settings::P2pSettings;

/// Everything a game needs, in one import.
pub mod prelude {
    #[cfg(feature = "ui")]
    pub use crate::ui::{
        LearnMoreChosen, NetStatsOverlay, P2pUiPlugin, UpgradeHook, UpgradeRequested,
    };
    pub use crate::{
        P2pMultiplayerPlugin,
        common_conditions::{gameplay_running, in_game, is_client, is_host},
        input::{InputAppExt, InputSystems, LocalInput, PlayerInputs, ShippedInputTick},
        lobby::LobbyRequest,
        role::Role,
        session::{
            EndReason, GameEnded, GamePhase, GameplaySystems, HostLost, HostReturned, JoinFailed,
            JoinFailure, Player, PlayerJoined, PlayerLeft, PlayerPing, PlayerRoute, PlayerSlot,
            Roster, RosterEntry, Session, SessionStatus,
        },
        settings::{IceServer, IceServers, P2pSettings, PeerLimits, SettingsError},
        share_code::ShareCode,
        transport::{
            LinkRoute,
            bridge::{
                gate::{CutOffReason, PeerCutOff},
                stats::{LinkStat, LinkStats},
            },
        },
    };
    pub use bevy_replicon::prelude::{AppRuleExt, Replicated};
}

/// Host-authoritative online play for 2-6 players: add it to your app.
///
/// Settings come from the [`P2pSettings`] resource; insert it before adding
/// the plugin to change the defaults. The group holds `bevy_replicon`'s plugins
/// (unless the app added them already), the transport bridge, the session and
/// the lobby; each can be disabled like any plugin group member.
pub struct P2pMultiplayerPlugin;

impl PluginGroup for P2pMultiplayerPlugin {
    fn build(self) -> PluginGroupBuilder {
        let group = PluginGroupBuilder::start::<Self>()
            .add(CorePlugin)
            .add_group(RepliconPlugins)
            .add(transport::bridge::TransportBridgePlugin)
            .add(session::SessionPlugin)
            .add(lobby::LobbyPlugin);
        #[cfg(feature = "ui")]
        let group = group.add(ui::P2pUiPlugin);
        group
    }
}

/// Settings, the fixed tick rate and the link factory; Bevy's states when the
/// app has none yet (replicon needs them, `MinimalPlugins` lacks them).
///
/// # Panics
///
/// When the app's [`P2pSettings`] fail [`P2pSettings::validate`], with its
/// message: a setting the plugin cannot work with is a bug in the game.
pub struct CorePlugin;

impl Plugin for CorePlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        app.init_resource::<P2pSettings>()
            .init_resource::<transport::LinkFactory>();
        let settings = app.world().resource::<P2pSettings>();
        // A game's own mistake, caught where it is made rather than as a
        // joiner who waits forever or inputs silently dropped.
        if let Err(error) = settings.validate() {
            panic!("{error}");
        }
        let hz = settings.tick_hz;
        app.insert_resource(Time::<Fixed>::from_hz(hz));
    }
}
