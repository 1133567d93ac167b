//! Share codes: the six characters players read to each other.
//!
//! The rules live in the protocol crate, shared with the signaling server, so
//! that the plugin and the server can never disagree on what a code is.
//!
//! ```
//! # use bevy_p2p_multiplayer::prelude::*;
//! let code: ShareCode = " abc234 ".parse().unwrap();
//! assert_eq!(code.as_str(), "ABC234");
//! assert!("ABC10".parse::<ShareCode>().is_err());
//! ```

pub use bevy_p2p_protocol::code::{ALPHABET, InvalidCode, LENGTH, ShareCode};
