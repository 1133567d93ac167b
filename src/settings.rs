//! Settings a game gives the plugin: where the signaling server is, how peers
//! find a route to each other, and the shape of a session.

use core::time::Duration;

use bevy::prelude::*;

/// The signaling server the plugin talks to when no other URL is set.
///
/// It is the address `bevy_p2p_signaling` binds by default, so that a server
/// started on the same machine with no flags is found.
pub const DEFAULT_SIGNALING_URL: &str = "ws://127.0.0.1:3536";

/// How the plugin reaches the signaling server and other players.
///
/// Insert it before adding [`P2pMultiplayerPlugin`](crate::P2pMultiplayerPlugin)
/// to change the defaults, or set it on the plugin.
///
/// ```
/// # use bevy_p2p_multiplayer::prelude::*;
/// let settings = P2pSettings {
///     signaling_url: "wss://play.example.com".into(),
///     ..Default::default()
/// };
/// assert_eq!(settings.max_players, 6);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct P2pSettings {
    /// Base URL of the signaling server, `ws://` or `wss://`, without a room.
    ///
    /// The room API is reached over `http(s)://` at the same host and port.
    pub signaling_url: String,
    /// STUN and TURN servers for WebRTC. An empty list is valid: peers then
    /// only find each other on addresses of their own machines and networks.
    pub ice_servers: Vec<IceServer>,
    /// Players in one room, host included (2 to 6).
    pub max_players: usize,
    /// `FixedUpdate` rate in Hz: inputs ship and the host simulates at this rate.
    pub tick_hz: f64,
    /// How long clients wait for a lost host before the game ends.
    pub host_grace: Duration,
    /// Bound on every wait for the signaling server's HTTP API.
    pub request_timeout: Duration,
    /// Bound on the wait for the first WebRTC link after joining a room.
    pub connect_timeout: Duration,
    /// Base of the share link shown to players; the code is appended.
    ///
    /// `None` derives `http(s)://<signaling host>/play/` from `signaling_url`.
    pub share_link_base: Option<String>,
}

impl Default for P2pSettings {
    fn default() -> Self {
        Self {
            signaling_url: DEFAULT_SIGNALING_URL.into(),
            ice_servers: vec![IceServer::google_stun()],
            max_players: 6,
            tick_hz: 60.0,
            host_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(20),
            share_link_base: None,
        }
    }
}

impl P2pSettings {
    /// The `http(s)://` base of the room API, from [`Self::signaling_url`].
    pub fn http_base(&self) -> String {
        let url = self.signaling_url.trim_end_matches('/');
        if let Some(rest) = url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            url.to_string()
        }
    }

    /// The websocket URL of a room, with the host's token when hosting.
    pub fn room_url(&self, code: &str, host_token: Option<&str>) -> String {
        let base = self.signaling_url.trim_end_matches('/');
        match host_token {
            Some(token) => format!("{base}/{code}?host_token={token}"),
            None => format!("{base}/{code}"),
        }
    }

    /// The link a player shares so that a friend joins `code` in the browser.
    pub fn share_link(&self, code: &str) -> String {
        match &self.share_link_base {
            Some(base) => format!("{base}{code}"),
            None => format!("{}/play/{code}", self.http_base()),
        }
    }
}

/// One STUN or TURN server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:` or `turn:` URLs of one server.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN password or token.
    pub credential: Option<String>,
}

impl IceServer {
    /// Google's public STUN servers, the usual default for WebRTC.
    pub fn google_stun() -> Self {
        Self {
            urls: vec![
                "stun:stun.l.google.com:19302".into(),
                "stun:stun1.l.google.com:19302".into(),
            ],
            username: None,
            credential: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_signaling_url() {
        let settings = P2pSettings {
            signaling_url: "wss://play.example.com/".into(),
            ..Default::default()
        };
        assert_eq!(settings.http_base(), "https://play.example.com");
        assert_eq!(
            settings.room_url("ABC234", Some("t0k")),
            "wss://play.example.com/ABC234?host_token=t0k"
        );
        assert_eq!(
            settings.room_url("ABC234", None),
            "wss://play.example.com/ABC234"
        );
        assert_eq!(
            settings.share_link("ABC234"),
            "https://play.example.com/play/ABC234"
        );
    }

    #[test]
    fn plain_ws_maps_to_http() {
        let settings = P2pSettings::default();
        assert_eq!(settings.http_base(), "http://127.0.0.1:3536");
    }
}
