//! The signaling server's HTTP room API: paths, bodies and error names.
//!
//! | method | path | body | success |
//! |---|---|---|---|
//! | `POST` | [`ROOMS`] | [`CreateRoom`] (optional) | `201` [`CreatedRoom`] |
//! | `GET` | [`room_path`] | | `200` [`RoomInfo`] |
//! | `PUT` | [`room_path`], `Authorization: Bearer <host_token>` | [`ReclaimRoom`] (optional) | `200` (the room is there) or `201` (opened again) [`RoomInfo`] |
//! | `POST` | [`start_path`], `Authorization: Bearer <host_token>` | | `204` |
//! | `DELETE` | [`peer_path`], `Authorization: Bearer <host_token>` | | `204` |
//! | `POST` | [`host_ticket_path`], `Authorization: Bearer <host_token>` | [`TicketRequest`] (optional) | `201` [`HostTicket`] |
//! | `POST` | [`seat_ticket_path`] | [`TicketRequest`] | `201` [`HostTicket`] |
//! | `POST` | [`join_report_path`] | [`JoinReport`] | `204` |
//! | `POST` | [`session_report_path`], `Authorization: Bearer <host_token>` | [`SessionReport`] | `204` |
//! | `GET` | [`ICE`] | | `200` [`IceConfig`] |
//! | `GET` | [`STATS`] (`?since=<seconds>`) | | `200` [`Stats`] |
//! | `GET` | [`STATS_PAGE`] | | `200` HTML |
//! | `GET` | [`METRICS`] (from `127.0.0.1`, or with the operator's bearer token) | | `200` Prometheus text |
//! | `GET` | [`HEALTH`] | | `200 ok` |
//!
//! A room's websocket is `ws(s)://<server>/<code>`; the host adds
//! `?`[`HOST_TICKET_PARAM`]`=<ticket>`, a one-time ticket it got for its
//! token just before (the token itself never goes in a URL, where proxies
//! log it). A client may add `?`[`SEAT_TICKET_PARAM`]`=<ticket>`, a
//! one-time ticket it got for its *seat secret*: a random secret of its
//! own, kept for the room's life, from which the server derives its peer
//! id, so that a player whose signaling socket dropped comes back as the
//! same peer, to the same seat. The host names its seat secret when it
//! asks for its own ticket. Seat secrets, like tokens, travel only in
//! request bodies and headers, never in a URL. Every refusal is an
//! [`ApiError`] body naming an [`ErrorCode`].

use serde::{Deserialize, Serialize};

/// `POST` here creates a room.
pub const ROOMS: &str = "/api/rooms";

/// A room's info, as an axum route pattern (`{code}` is the share code).
pub const ROOM_ROUTE: &str = "/api/rooms/{code}";

/// The host's "game started", as an axum route pattern.
pub const START_ROUTE: &str = "/api/rooms/{code}/start";

/// The host's "game over, room closed", as an axum route pattern.
pub const END_ROUTE: &str = "/api/rooms/{code}/end";

/// Answers `200 ok` while the server runs.
pub const HEALTH: &str = "/healthz";

/// The share link's page, as an axum route pattern: `/play/{code}`.
pub const PLAY_ROUTE: &str = "/play/{code}";

/// A client of a room, for its host to remove:
/// `DELETE /api/rooms/{code}/peers/{peer}` with
/// `Authorization: Bearer <host_token>`; `204` whether or not the peer was
/// there (it is not, afterwards).
pub const PEER_ROUTE: &str = "/api/rooms/{code}/peers/{peer}";

/// The STUN and TURN servers players should use, with fresh TURN
/// credentials: `GET` answers an [`IceConfig`].
pub const ICE: &str = "/api/ice";

/// A one-time ticket for the host's websocket, as an axum route pattern:
/// `POST` with `Authorization: Bearer <host_token>` answers a [`HostTicket`].
pub const HOST_TICKET_ROUTE: &str = "/api/rooms/{code}/host-ticket";

/// The query parameter that carries a [`HostTicket`] on the host's websocket.
pub const HOST_TICKET_PARAM: &str = "host_ticket";

/// A one-time ticket for a client's websocket that names its seat, as an
/// axum route pattern: `POST` with a [`TicketRequest`] answers a
/// [`HostTicket`] (the same shape as the host's).
pub const SEAT_TICKET_ROUTE: &str = "/api/rooms/{code}/seat-ticket";

/// The query parameter that carries a seat ticket on a client's websocket.
pub const SEAT_TICKET_PARAM: &str = "seat_ticket";

/// The path the host posts to for a websocket ticket.
pub fn host_ticket_path(code: &str) -> String {
    format!("{ROOMS}/{code}/host-ticket")
}

/// The path a client posts its seat secret to for a websocket ticket.
///
/// ```
/// assert_eq!(
///     bevy_p2p_protocol::api::seat_ticket_path("ABC234"),
///     "/api/rooms/ABC234/seat-ticket"
/// );
/// ```
pub fn seat_ticket_path(code: &str) -> String {
    format!("{ROOMS}/{code}/seat-ticket")
}

/// Body of a ticket request: the player's seat secret, 16 to 128
/// characters of `A-Z a-z 0-9 - _`. The same secret in the same room always
/// gets the same peer id, on any server that shares nothing else with the
/// first. Optional for the host (without it, its peer id is new on each
/// websocket), required for a seat ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    /// The seat secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
}

/// Body of `201` for a websocket ticket (the host's or a seat's): good for
/// one websocket, within `expires_in_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTicket {
    /// Random, single-use.
    pub ticket: String,
    /// How long the server accepts it.
    pub expires_in_secs: u64,
}

/// A client's report of how its join went, as an axum route pattern:
/// `POST` a [`JoinReport`]; `204` when counted.
pub const JOIN_REPORT_ROUTE: &str = "/api/rooms/{code}/join-report";

/// The host's summary of a session, as an axum route pattern: `POST` a
/// [`SessionReport`] with `Authorization: Bearer <host_token>`; `204` when
/// counted.
pub const SESSION_REPORT_ROUTE: &str = "/api/rooms/{code}/session-report";

/// The server's key figures as JSON: `GET` answers [`Stats`]; `?since=N`
/// counts only the last `N` seconds.
pub const STATS: &str = "/api/stats";

/// The same figures as a page of charts (HTML, no script).
pub const STATS_PAGE: &str = "/stats";

/// Prometheus metrics, as text. Answered to `127.0.0.1` and `::1`, or
/// to a bearer of the operator's metrics token, or on a listener of its own.
pub const METRICS: &str = "/metrics";

/// The path a client posts its [`JoinReport`] to.
///
/// ```
/// assert_eq!(
///     bevy_p2p_protocol::api::join_report_path("ABC234"),
///     "/api/rooms/ABC234/join-report"
/// );
/// ```
pub fn join_report_path(code: &str) -> String {
    format!("{ROOMS}/{code}/join-report")
}

/// The path the host posts its [`SessionReport`] to.
pub fn session_report_path(code: &str) -> String {
    format!("{ROOMS}/{code}/session-report")
}

/// Body of a client's join report: what only the player knows, whether its
/// WebRTC link to the host came up. Sent once per seat, after the
/// websocket was admitted; the seat secret (the one its seat ticket was
/// bought with) proves the report is that seat's. A seat the server
/// admitted that reports nothing within the server's connect timeout is
/// counted as a failed join (`no_report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinReport {
    /// The player's seat secret, as in its [`TicketRequest`].
    pub seat: String,
    /// How the join ended.
    pub outcome: JoinOutcome,
}

/// How a join ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum JoinOutcome {
    /// The data channel to the host opened.
    Connected {
        /// From the join's start (the code entered) to the open channel, ms.
        connect_ms: u64,
        /// Whether the link goes through a relay (TURN) server.
        relayed: bool,
    },
    /// The join gave up.
    Failed {
        /// Why, as the plugin's `JoinFailure` names it.
        reason: JoinFailureReason,
    },
}

/// Why a join failed, by the names of the plugin's `JoinFailure`; what the
/// server counts refusals under too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinFailureReason {
    /// No room has this code.
    RoomNotFound,
    /// The room has all its players.
    RoomFull,
    /// The text typed is not a share code.
    InvalidCode,
    /// The signaling server did not answer.
    ServerUnreachable,
    /// The server answered with something unexpected.
    ServerError,
    /// No link to the host came up in time.
    HostUnreachable,
    /// The networks cannot reach each other directly and there is no relay.
    NeedsRelay,
    /// The relay (TURN) server refused the player or did not answer.
    RelayUnavailable,
    /// A reason this version does not know (a newer client's).
    #[serde(other)]
    Other,
}

impl JoinFailureReason {
    /// Every reason.
    pub const ALL: [Self; 9] = [
        Self::RoomNotFound,
        Self::RoomFull,
        Self::InvalidCode,
        Self::ServerUnreachable,
        Self::ServerError,
        Self::HostUnreachable,
        Self::NeedsRelay,
        Self::RelayUnavailable,
        Self::Other,
    ];

    /// The name on the wire and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoomNotFound => "room_not_found",
            Self::RoomFull => "room_full",
            Self::InvalidCode => "invalid_code",
            Self::ServerUnreachable => "server_unreachable",
            Self::ServerError => "server_error",
            Self::HostUnreachable => "host_unreachable",
            Self::NeedsRelay => "needs_relay",
            Self::RelayUnavailable => "relay_unavailable",
            Self::Other => "other",
        }
    }
}

/// Body of the host's session report: one per room, when its game ends or
/// the host leaves. Figures over all its client links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// The most players at once, host included.
    pub player_count: u32,
    /// From the room's creation to the report, whole seconds.
    pub duration_seconds: u64,
    /// Times the host lost its signaling connection and came back.
    #[serde(default)]
    pub host_disconnects: u32,
    /// Mean round-trip time over all client links, ms; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_latency_ms: Option<f64>,
    /// 95th percentile of the round-trip times measured, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_latency_ms: Option<f64>,
    /// Game bytes the host sent to its clients.
    #[serde(default)]
    pub bytes_sent: u64,
    /// Game bytes the host received from its clients.
    #[serde(default)]
    pub bytes_received: u64,
    /// Client links that went through a relay (TURN) server.
    #[serde(default)]
    pub relayed_links: u32,
}

/// Body of `200` for `GET /api/stats`: the seed design's key figures over
/// the stored history (or its last `since_secs`). A rate with nothing to
/// count is `None` (JSON `null`), never a made-up 100 %.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The window asked for, seconds; `None` for the whole history kept.
    pub since_secs: Option<u64>,
    /// Rooms opened (reclaimed after a restart included).
    pub rooms_created: u64,
    /// Rooms at least one client's websocket entered.
    pub rooms_joined: u64,
    /// Client joins: refused before the websocket, or admitted (and then
    /// connected, failed, or silent).
    pub join_attempts: u64,
    /// Admitted joins that reported a link to the host.
    pub connected: u64,
    /// `connected` over admitted joins that ended (connected, failed after
    /// admission, or no report within the connect timeout). Refusals before
    /// the websocket (a wrong code, a full room) are not connection failures.
    pub connection_success_rate: Option<f64>,
    /// Failed joins by reason (`no_report` included, refusals included).
    pub failures: std::collections::BTreeMap<String, u64>,
    /// Mean of the session reports' average latencies, ms.
    pub average_latency_ms: Option<f64>,
    /// 95th percentile (nearest rank) of the session reports' p95 latencies, ms.
    pub p95_latency_ms: Option<f64>,
    /// Rooms whose host connected: sessions as the server saw them.
    pub sessions: u64,
    /// Session reports received.
    pub session_reports: u64,
    /// Times a host's websocket dropped (no close frame: a host that
    /// closes at the end of its game did not disconnect).
    pub host_disconnects: u64,
    /// `host_disconnects` per session.
    pub host_disconnect_rate: Option<f64>,
    /// The seed design's two targets, and whether they are met.
    pub targets: Targets,
}

/// The seed's targets: connection success above 95 %, latency below 100 ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// `connection_success_rate` > 0.95.
    pub connection_success: Target,
    /// `average_latency_ms` < 100.
    pub average_latency: Target,
}

/// One target: its threshold, the figure, and whether it is met (`None`
/// while there is no figure).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The threshold.
    pub threshold: f64,
    /// The figure now.
    pub value: Option<f64>,
    /// Whether the figure is on the right side of the threshold.
    pub met: Option<bool>,
}

/// The success-rate target: above this.
pub const SUCCESS_TARGET: f64 = 0.95;

/// The latency target: below this, ms.
pub const LATENCY_TARGET_MS: f64 = 100.0;

/// The path of a room's info: `/api/rooms/{code}`.
pub fn room_path(code: &str) -> String {
    format!("{ROOMS}/{code}")
}

/// The query a player's lookup carries when it looks a room up to join it
/// (`GET /api/rooms/{code}?join`): the server then counts an unknown code
/// or a full room as a refused join attempt, which a plain lookup (a share
/// page, a game's room browser) is not.
pub const JOIN_LOOKUP_QUERY: &str = "join";

/// The path a player looks room `code` up at before it joins:
/// `/api/rooms/{code}?join`.
pub fn join_lookup_path(code: &str) -> String {
    format!("{ROOMS}/{code}?{JOIN_LOOKUP_QUERY}")
}

/// The path the host posts to when it starts the game.
pub fn start_path(code: &str) -> String {
    format!("{ROOMS}/{code}/start")
}

/// The path the host posts to when it ends the game and leaves: the room
/// closes at once, and the host's websocket closing after it is no
/// disconnect.
pub fn end_path(code: &str) -> String {
    format!("{ROOMS}/{code}/end")
}

/// The path of one client of a room (its peer id, as matchbox writes it).
pub fn peer_path(code: &str, peer: &str) -> String {
    format!("{ROOMS}/{code}/peers/{peer}")
}

/// The share link's path for a room: `/play/{code}`.
///
/// ```
/// assert_eq!(bevy_p2p_protocol::api::play_path("ABC234"), "/play/ABC234");
/// ```
pub fn play_path(code: &str) -> String {
    format!("/play/{code}")
}

/// Body of `POST /api/rooms`; an empty body asks for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoom {
    /// Players the host's game takes, host included. The server grants at
    /// most its own capacity and says what it granted in
    /// [`CreatedRoom::capacity`]. `None`: the server's capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
}

/// Body of `PUT /api/rooms/{code}`: a host opening its room again on a
/// server that lost it (restarted), with what the room was. An empty body
/// asks for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimRoom {
    /// Players the room held, host included (as in [`CreateRoom`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
    /// Whether the game had started.
    #[serde(default)]
    pub started: bool,
}

/// Body of `201` for `POST /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRoom {
    /// The share code players join with.
    pub code: String,
    /// The host's secret: it buys the host seat's websocket tickets, and
    /// authorizes starting the game, removing a client, and opening the
    /// room again on a server that lost it (`PUT`).
    pub host_token: String,
    /// Players the room holds, host included.
    pub capacity: usize,
    /// The room's share link, when the server knows its public address
    /// (`--public-url`): `https://play.example.com/play/ABC234`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
}

/// Body of `200` for `GET /api/rooms/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's share code, canonical (upper case).
    pub code: String,
    /// Connected players, host included.
    pub players: usize,
    /// Players the room holds, host included.
    pub capacity: usize,
    /// Whether a websocket holds the host seat right now.
    pub host_connected: bool,
    /// Where the room is in its life.
    pub state: RoomState,
    /// The room's share link, when the server knows its public address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
    /// While the host is away: whole seconds (rounded up) until the room
    /// closes unless the host comes back. Clients count down this, not a
    /// grace of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_in_secs: Option<u64>,
}

impl RoomInfo {
    /// Whether every seat is taken.
    pub fn is_full(&self) -> bool {
        self.players >= self.capacity
    }
}

/// Body of `200` for `GET /api/ice`: the ICE servers the server's operator
/// configured, for a player to use in every WebRTC connection it makes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceConfig {
    /// STUN and TURN servers, as a browser's `RTCIceServer` list. Empty when
    /// the operator configured none: peers then only find each other on
    /// addresses of their own networks.
    pub servers: Vec<IceServerConfig>,
    /// Seconds until the TURN credentials in [`Self::servers`] stop being
    /// accepted; `None` when there are none. Fetch a new config before then
    /// for connections still to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

/// One ICE server: URLs (`stun:`, `turn:`, `turns:`) and, for TURN, the
/// credentials they share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServerConfig {
    /// The server's URLs, such as `turn:turn.example.com:3478?transport=udp`.
    pub urls: Vec<String>,
    /// TURN username: `<expiry unix time>:<id>` for coturn's shared secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password, valid with [`Self::username`] until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Where a room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    /// Players gather; the host has not started the game.
    Waiting,
    /// The host started the game (`POST /api/rooms/{code}/start`).
    Playing,
    /// The host had connected and its seat is empty now; the room closes
    /// when the grace period ends unless the host comes back. Wins over the
    /// others.
    HostAway,
}

/// Body of every error response: `{"error": "room_not_found"}` and the like.
///
/// The name is kept as text, so that a client still reads an error a newer
/// server invents; [`ApiError::code`] gives the known ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable reason: an [`ErrorCode`]'s name.
    pub error: String,
}

impl ApiError {
    /// The body for `code`.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            error: code.as_str().to_owned(),
        }
    }

    /// The known reason, if it is one.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == self.error)
    }
}

/// Why the server refused a request, by name: what the server's room
/// registry returns and what the client maps to a player's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The code is not a [`ShareCode`](crate::ShareCode).
    InvalidCode,
    /// No live room has this code.
    RoomNotFound,
    /// Every seat is taken.
    RoomFull,
    /// The host token is missing or wrong.
    BadHostToken,
    /// A websocket already holds (or is about to take) the host seat.
    HostSeatTaken,
    /// This connection already has a websocket upgrade in flight.
    Busy,
    /// The request body is not what the endpoint takes.
    BadRequest,
    /// The server failed (no randomness, no free code).
    Internal,
    /// Nothing is served at this path.
    NotFound,
    /// A plain request reached a websocket-only path.
    WebsocketUpgradeRequired,
    /// Too many requests of this kind from this address (or from everyone,
    /// in a flood); the `Retry-After` header says when to try again.
    RateLimited,
    /// This address holds as many connections as the server allows one address.
    TooManyConnections,
    /// The server holds as many rooms as it allows; try again later.
    ServerFull,
    /// The request came from a web page whose origin the server does not serve.
    OriginNotAllowed,
    /// The request's body did not arrive (or its answer was not ready) in time.
    RequestTimeout,
    /// The request's body is larger than the endpoint takes.
    RequestTooLarge,
    /// The room's host removed this player: it may not take a seat there
    /// again under the same seat secret.
    RemovedByHost,
    /// The websocket's seat ticket is unknown, used, expired or for
    /// another room: fetch a new one.
    BadTicket,
    /// A join report names a seat this room never admitted (or forgot).
    NotAdmitted,
    /// This join or session was reported already (or, for a join, counted
    /// as failed when its connect timeout passed).
    AlreadyReported,
    /// This address or token may not read this (`GET /metrics` from
    /// outside without the operator's token).
    Forbidden,
}

impl ErrorCode {
    /// Every code, for lookups by name.
    pub const ALL: [Self; 21] = [
        Self::InvalidCode,
        Self::RoomNotFound,
        Self::RoomFull,
        Self::BadHostToken,
        Self::HostSeatTaken,
        Self::Busy,
        Self::BadRequest,
        Self::Internal,
        Self::NotFound,
        Self::WebsocketUpgradeRequired,
        Self::RateLimited,
        Self::TooManyConnections,
        Self::ServerFull,
        Self::OriginNotAllowed,
        Self::RequestTimeout,
        Self::RequestTooLarge,
        Self::RemovedByHost,
        Self::BadTicket,
        Self::NotAdmitted,
        Self::AlreadyReported,
        Self::Forbidden,
    ];

    /// The name sent as `{"error": "..."}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCode => "invalid_code",
            Self::RoomNotFound => "room_not_found",
            Self::RoomFull => "room_full",
            Self::BadHostToken => "bad_host_token",
            Self::HostSeatTaken => "host_seat_taken",
            Self::Busy => "busy",
            Self::BadRequest => "bad_request",
            Self::Internal => "internal",
            Self::NotFound => "not_found",
            Self::WebsocketUpgradeRequired => "websocket_upgrade_required",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::ServerFull => "server_full",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::RequestTooLarge => "request_too_large",
            Self::RemovedByHost => "removed_by_host",
            Self::BadTicket => "bad_ticket",
            Self::NotAdmitted => "not_admitted",
            Self::AlreadyReported => "already_reported",
            Self::Forbidden => "forbidden",
        }
    }

    /// The HTTP status the server answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidCode | Self::BadRequest => 400,
            Self::BadHostToken
            | Self::OriginNotAllowed
            | Self::RemovedByHost
            | Self::BadTicket
            | Self::NotAdmitted
            | Self::Forbidden => 403,
            Self::RoomNotFound | Self::NotFound => 404,
            Self::RequestTimeout => 408,
            Self::RoomFull | Self::HostSeatTaken | Self::AlreadyReported => 409,
            Self::RequestTooLarge => 413,
            Self::WebsocketUpgradeRequired => 426,
            Self::Busy | Self::RateLimited | Self::TooManyConnections => 429,
            Self::Internal => 500,
            Self::ServerFull => 503,
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ErrorCode {}

impl From<crate::InvalidCode> for ErrorCode {
    fn from(_: crate::InvalidCode) -> Self {
        Self::InvalidCode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_round_trip() {
        for code in ErrorCode::ALL {
            let body = serde_json::to_string(&ApiError::new(code)).expect("serializes");
            let back: ApiError = serde_json::from_str(&body).expect("parses");
            assert_eq!(back.code(), Some(code), "{body}");
        }
        let unknown: ApiError =
            serde_json::from_str(r#"{"error":"from_the_future"}"#).expect("parses");
        assert_eq!(unknown.code(), None);
    }

    #[test]
    fn bodies_keep_their_wire_names() {
        let info = RoomInfo {
            code: "ABC234".into(),
            players: 2,
            capacity: 6,
            host_connected: true,
            state: RoomState::HostAway,
            share_url: None,
            closes_in_secs: Some(12),
        };
        assert_eq!(
            serde_json::to_value(&info).expect("serializes"),
            serde_json::json!({
                "code": "ABC234", "players": 2, "capacity": 6,
                "host_connected": true, "state": "host_away", "closes_in_secs": 12
            })
        );
        assert_eq!(
            serde_json::to_string(&CreateRoom::default()).expect("serializes"),
            "{}"
        );
        let asked: CreateRoom = serde_json::from_str(r#"{"capacity":4}"#).expect("parses");
        assert_eq!(asked.capacity, Some(4));
    }

    #[test]
    fn paths() {
        assert_eq!(room_path("ABC234"), "/api/rooms/ABC234");
        assert_eq!(start_path("ABC234"), "/api/rooms/ABC234/start");
        assert_eq!(ROOM_ROUTE.replace("{code}", "ABC234"), room_path("ABC234"));
        assert_eq!(
            START_ROUTE.replace("{code}", "ABC234"),
            start_path("ABC234")
        );
        assert_eq!(PLAY_ROUTE.replace("{code}", "ABC234"), play_path("ABC234"));
        assert_eq!(
            JOIN_REPORT_ROUTE.replace("{code}", "ABC234"),
            join_report_path("ABC234")
        );
        assert_eq!(
            SESSION_REPORT_ROUTE.replace("{code}", "ABC234"),
            session_report_path("ABC234")
        );
    }

    #[test]
    fn reports_keep_their_wire_names() {
        let report = JoinReport {
            seat: "s".repeat(16),
            outcome: JoinOutcome::Connected {
                connect_ms: 850,
                relayed: true,
            },
        };
        assert_eq!(
            serde_json::to_value(&report).expect("serializes"),
            serde_json::json!({
                "seat": "ssssssssssssssss",
                "outcome": {"result": "connected", "connect_ms": 850, "relayed": true}
            })
        );
        let failed: JoinReport = serde_json::from_str(
            r#"{"seat":"x","outcome":{"result":"failed","reason":"needs_relay"}}"#,
        )
        .expect("parses");
        assert_eq!(
            failed.outcome,
            JoinOutcome::Failed {
                reason: JoinFailureReason::NeedsRelay
            }
        );
        // A reason from a newer client is counted as `other`, not refused.
        let newer: JoinOutcome =
            serde_json::from_str(r#"{"result":"failed","reason":"cosmic_rays"}"#).expect("parses");
        assert_eq!(
            newer,
            JoinOutcome::Failed {
                reason: JoinFailureReason::Other
            }
        );
        for reason in JoinFailureReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                serde_json::Value::String(reason.as_str().into())
            );
        }
        let session: SessionReport =
            serde_json::from_str(r#"{"player_count":3,"duration_seconds":60}"#).expect("parses");
        assert_eq!(session.average_latency_ms, None);
        assert_eq!(session.host_disconnects, 0);
    }
}
