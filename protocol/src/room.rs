//! How many players a room holds.
//!
//! A room is a star around its host; the host is a player too. Every player
//! has a slot, `0` (the host) to `MAX_PLAYERS - 1`, and the plugin keeps
//! per-slot state in arrays of [`MAX_PLAYERS`].

/// The most players a peer-to-peer room holds, host included. Beyond it a
/// host's upload no longer carries everyone's state at 60 Hz, and players
/// are offered a dedicated host instead.
pub const MAX_PLAYERS: usize = 6;

/// The fewest players a room is made for: the host and one friend.
pub const MIN_PLAYERS: usize = 2;

/// Whether `players` is a room size a game may ask for.
///
/// ```
/// use bevy_p2p_protocol::room;
/// assert!(room::is_valid_size(6));
/// assert!(!room::is_valid_size(1));
/// assert!(!room::is_valid_size(7));
/// ```
pub fn is_valid_size(players: usize) -> bool {
    (MIN_PLAYERS..=MAX_PLAYERS).contains(&players)
}

/// The upgrade prompt's heading, shown where a room is full (the plugin's
/// overlay, the server's share page).
///
/// ```
/// use bevy_p2p_protocol::room;
/// assert_eq!(room::upgrade_heading(), "Upgrade to a dedicated server: 7-100 players");
/// ```
pub fn upgrade_heading() -> String {
    format!(
        "Upgrade to a dedicated server: {}-100 players",
        MAX_PLAYERS + 1
    )
}

/// The upgrade prompt's text, beside [`upgrade_heading`].
///
/// ```
/// use bevy_p2p_protocol::room;
/// assert!(room::upgrade_text().starts_with("Peer-to-peer rooms hold up to 6 players."));
/// ```
pub fn upgrade_text() -> String {
    format!(
        "Peer-to-peer rooms hold up to {MAX_PLAYERS} players. A dedicated server runs \
         the same game headless for bigger groups."
    )
}
