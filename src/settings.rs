//! Settings a game gives the plugin: where the signaling server is, how peers
//! find a route to each other, and the shape of a session.

use core::{fmt, time::Duration};

use bevy::prelude::*;
use bevy_p2p_protocol::{api, room};

pub use crate::transport::bridge::gate::PeerLimits;
use url::Url;

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
    /// Where the STUN and TURN servers for WebRTC come from: by default the
    /// signaling server's list (`GET /api/ice`), with TURN credentials it
    /// makes for this player and that the plugin renews before they expire.
    pub ice_servers: IceServers,
    /// Players in one room, host included (2 to 6). The host asks the
    /// server for a room of this size; the server may grant fewer.
    pub max_players: usize,
    /// `FixedUpdate` rate in Hz: inputs ship and the host simulates at this rate.
    pub tick_hz: f64,
    /// How long clients wait for a lost host before the game ends.
    pub host_grace: Duration,
    /// How long the host keeps the player of a client whose link went down
    /// (not one that left on purpose): back within it, the client gets the
    /// same slot and the same player entity.
    pub client_grace: Duration,
    /// A linked peer heard nothing from for this long is taken for gone,
    /// and its link closed. Live peers are never that quiet: pings go both
    /// ways twice a second. This is how a silent host (or client) is
    /// noticed long before WebRTC gives its link up (some 30 s). A browser
    /// tab in the background stops its game loop: past this, its player is
    /// away until the tab is back.
    pub link_timeout: Duration,
    /// Bound on every wait for the signaling server's HTTP API.
    pub request_timeout: Duration,
    /// Bound on the wait for the first WebRTC link after joining a room.
    pub connect_timeout: Duration,
    /// Bound on one WebRTC handshake: a peer that stalls mid-handshake (it
    /// never answers, or its network dropped) is given up after this, and
    /// what its connection held is released.
    pub handshake_timeout: Duration,
    /// What one peer may send before it is cut off.
    pub peer_limits: PeerLimits,
    /// Base of the share link shown to players; the code is appended.
    ///
    /// `None` takes the link the server gives with the room (a server run
    /// with `--public-url`), else derives `http(s)://<signaling host>/play/`
    /// from `signaling_url`.
    pub share_link_base: Option<String>,
    /// Whether a client tells the signaling server how its join ended:
    /// once per seat, its seat secret and either "connected" (milliseconds
    /// from its links opening to the host link, and whether the link is
    /// relayed) or the [`JoinFailure`](crate::session::JoinFailure)'s name.
    /// Nothing else is sent. The server's success rate counts a seat that
    /// never reports as a failed join. A host tells, once per room when it
    /// leaves or its game ends, the peak player count, the room's age, how
    /// often its links closed, its client links' round trips (mean and 95th
    /// percentile of one sample a second) and how many were relayed.
    /// Default `true`.
    pub report_stats: bool,
}

impl Default for P2pSettings {
    fn default() -> Self {
        Self {
            signaling_url: DEFAULT_SIGNALING_URL.into(),
            ice_servers: IceServers::FromSignalingServer,
            max_players: room::MAX_PLAYERS,
            tick_hz: 60.0,
            host_grace: Duration::from_secs(30),
            client_grace: Duration::from_secs(30),
            link_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(20),
            peer_limits: PeerLimits::default(),
            share_link_base: None,
            report_stats: true,
        }
    }
}

impl P2pSettings {
    /// Checks what the plugin cannot work without; the plugin calls it when
    /// it is added, so a wrong setting fails at start with this message.
    ///
    /// ```
    /// # use bevy_p2p_multiplayer::prelude::*;
    /// let eight = P2pSettings { max_players: 8, ..Default::default() };
    /// assert!(eight.validate().is_err());
    /// assert!(P2pSettings::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.signaling()?;
        if !room::is_valid_size(self.max_players) {
            return Err(SettingsError::MaxPlayers(self.max_players));
        }
        if !(self.tick_hz.is_finite() && self.tick_hz > 0.0) {
            return Err(SettingsError::TickHz(self.tick_hz));
        }
        for (name, value) in [
            ("host_grace", self.host_grace),
            ("client_grace", self.client_grace),
            ("link_timeout", self.link_timeout),
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
        ] {
            if value.is_zero() {
                return Err(SettingsError::ZeroDuration(name));
            }
        }
        let limits = &self.peer_limits;
        for (name, value) in [
            ("packets_per_second", limits.packets_per_second as usize),
            ("packets_per_frame", limits.packets_per_frame),
            ("backlog", limits.backlog),
            ("backlog_bytes", limits.backlog_bytes),
            ("malformed_packets", limits.malformed_packets as usize),
        ] {
            if value == 0 {
                return Err(SettingsError::ZeroLimit(name));
            }
        }
        Ok(())
    }

    /// [`Self::signaling_url`], parsed: `ws://` or `wss://` with a host.
    pub fn signaling(&self) -> Result<Url, SettingsError> {
        let bad = |why: &str| SettingsError::SignalingUrl {
            url: self.signaling_url.clone(),
            why: why.to_owned(),
        };
        let url = Url::parse(&self.signaling_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(bad("the scheme must be ws:// or wss://"));
        }
        if url.host().is_none() {
            return Err(bad("it names no host"));
        }
        Ok(url)
    }

    /// The `http(s)://` base of the room API, from [`Self::signaling_url`]
    /// (no trailing slash).
    pub fn http_base(&self) -> String {
        let Ok(mut url) = self.signaling() else {
            return self.signaling_url.trim_end_matches('/').to_owned();
        };
        let scheme = if url.scheme() == "wss" {
            "https"
        } else {
            "http"
        };
        // ws <-> http and wss <-> https are all "special" schemes: allowed.
        let _ = url.set_scheme(scheme);
        url.set_query(None);
        url.set_fragment(None);
        url.as_str().trim_end_matches('/').to_owned()
    }

    /// The websocket URL of a room, with the one-time ticket the player got
    /// for its seat (see [`RoomEntry`](crate::transport::RoomEntry)): no
    /// secret of the player's ever goes in this URL.
    pub fn room_url(&self, code: &str, ticket: Option<SocketTicket<'_>>) -> String {
        let Ok(mut url) = self.signaling() else {
            return format!("{}/{code}", self.signaling_url.trim_end_matches('/'));
        };
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(code);
        }
        url.set_query(None);
        match ticket {
            Some(SocketTicket::Host(ticket)) => {
                url.query_pairs_mut()
                    .append_pair(api::HOST_TICKET_PARAM, ticket);
            }
            Some(SocketTicket::Seat(ticket)) => {
                url.query_pairs_mut()
                    .append_pair(api::SEAT_TICKET_PARAM, ticket);
            }
            None => {}
        }
        url.into()
    }

    /// The link a player shares so that a friend joins `code` in the browser.
    pub fn share_link(&self, code: &str) -> String {
        match &self.share_link_base {
            Some(base) => format!("{base}{code}"),
            None => format!("{}{}", self.http_base(), api::play_path(code)),
        }
    }
}

/// A one-time websocket ticket, bought over HTTP just before the socket
/// opens (`POST` [`host_ticket_path`](api::host_ticket_path) or
/// [`seat_ticket_path`](api::seat_ticket_path)): it goes in the websocket's
/// URL instead of the secret it was bought with, since browsers cannot set a
/// websocket's headers and proxies log URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketTicket<'a> {
    /// For the host seat, bought with the host token.
    Host(&'a str),
    /// For a client's seat, bought with its seat secret.
    Seat(&'a str),
}

/// A [`P2pSettings`] value the plugin cannot work with.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingsError {
    /// `signaling_url` is not a `ws://` or `wss://` URL.
    SignalingUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// `max_players` is outside 2 to 6.
    MaxPlayers(usize),
    /// `tick_hz` is not a positive number.
    TickHz(f64),
    /// A timeout or grace period is zero.
    ZeroDuration(&'static str),
    /// A limit of [`PeerLimits`] is zero.
    ZeroLimit(&'static str),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignalingUrl { url, why } => {
                write!(f, "P2pSettings.signaling_url {url:?} is not usable: {why}")
            }
            Self::MaxPlayers(n) => write!(
                f,
                "P2pSettings.max_players is {n}; a room holds {} to {} players, host included",
                room::MIN_PLAYERS,
                room::MAX_PLAYERS
            ),
            Self::TickHz(hz) => write!(f, "P2pSettings.tick_hz is {hz}; it must be above 0"),
            Self::ZeroDuration(name) => write!(f, "P2pSettings.{name} must not be zero"),
            Self::ZeroLimit(name) => {
                write!(f, "P2pSettings.peer_limits.{name} must not be zero")
            }
        }
    }
}

impl core::error::Error for SettingsError {}

/// Where a player's STUN and TURN servers come from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IceServers {
    /// The signaling server's list, fetched (`GET /api/ice`) as the links
    /// open and again halfway to the expiry of its TURN credentials, so
    /// that a player who joins hours later still gets a relay. A server
    /// that answers with no list (an older one) leaves none.
    #[default]
    FromSignalingServer,
    /// These, and never the server's. Each server keeps its own
    /// credentials. An empty list is valid: peers then only find each
    /// other on addresses of their own machines and networks (one machine,
    /// a LAN, a test).
    Fixed(Vec<IceServer>),
}

impl IceServers {
    /// No STUN or TURN server at all: players on one machine or LAN only.
    pub fn none() -> Self {
        Self::Fixed(Vec::new())
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
    /// Google's public STUN servers, a common choice for a game without a
    /// STUN server of its own (they relay nothing: players behind
    /// symmetric NATs still need a TURN server).
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

    fn with_url(url: &str) -> P2pSettings {
        P2pSettings {
            signaling_url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn urls_follow_the_signaling_url() {
        let settings = with_url("wss://play.example.com/");
        assert_eq!(settings.http_base(), "https://play.example.com");
        assert_eq!(
            settings.room_url("ABC234", Some(SocketTicket::Host("t0k"))),
            "wss://play.example.com/ABC234?host_ticket=t0k"
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
        assert_eq!(
            settings.room_url("ABC234", Some(SocketTicket::Seat("5eat"))),
            "ws://127.0.0.1:3536/ABC234?seat_ticket=5eat"
        );
    }

    #[test]
    fn a_server_under_a_path_keeps_it() {
        let settings = with_url("wss://example.com/p2p/?x=1");
        assert_eq!(settings.http_base(), "https://example.com/p2p");
        assert_eq!(
            settings.room_url("ABC234", Some(SocketTicket::Host("a b&c"))),
            "wss://example.com/p2p/ABC234?host_ticket=a+b%26c"
        );
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert_eq!(P2pSettings::default().validate(), Ok(()));
        for url in ["http://example.com", "example.com:3536", "ws://", ""] {
            assert!(
                matches!(
                    with_url(url).validate(),
                    Err(SettingsError::SignalingUrl { .. })
                ),
                "{url}"
            );
        }
        for players in [0, 1, 7, 8] {
            let settings = P2pSettings {
                max_players: players,
                ..Default::default()
            };
            assert_eq!(settings.validate(), Err(SettingsError::MaxPlayers(players)));
        }
        let zero = P2pSettings {
            connect_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(
            zero.validate(),
            Err(SettingsError::ZeroDuration("connect_timeout"))
        );
        let nan = P2pSettings {
            tick_hz: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(nan.validate(), Err(SettingsError::TickHz(_))));
        assert_eq!(
            SettingsError::MaxPlayers(8).to_string(),
            "P2pSettings.max_players is 8; a room holds 2 to 6 players, host included"
        );
    }
}
