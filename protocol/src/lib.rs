//! The contract between `bevy_p2p_multiplayer` (the plugin in every player's
//! app) and `bevy_p2p_signaling` (the server that introduces them).
//!
//! Every fact both sides must agree on is written here once: the share-code
//! rules ([`code`]), the room API's paths, bodies and error names ([`api`]),
//! and how many players a room may hold ([`room`]). Neither side spells
//! these out again; a change here changes both.
//!
//! No sockets, no runtime: plain types and `serde` derives, so the browser
//! build, the native plugin and the server all take it at no cost.

pub mod api;
pub mod code;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod room;

pub use api::{
    ApiError, CreateRoom, CreatedRoom, ErrorCode, IceConfig, IceServerConfig, JoinFailureReason,
    JoinOutcome, JoinReport, LATENCY_TARGET_MS, ReclaimRoom, RoomInfo, RoomState, SUCCESS_TARGET,
    SessionReport, Stats, Target, Targets,
};
pub use code::{InvalidCode, ShareCode};
