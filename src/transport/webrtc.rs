//! Links over WebRTC data channels, through `matchbox_socket`.
//!
//! With [`IceServers::FromSignalingServer`] the socket opens once the
//! signaling server has said which STUN and TURN servers to use (`GET
//! /api/ice`), and the list is fetched again halfway to the expiry of its
//! TURN credentials, for the handshakes still to come. A host's socket also
//! waits for its one-time ticket (`POST /api/rooms/{code}/host-ticket` with
//! the host token): the token itself never goes in the websocket's URL.
//!
//! Losing the signaling server (it restarted, the websocket dropped) is not
//! losing the peers: the socket keeps every link and tries to get signaling
//! back in the background, same seat, same peer id; a host
//! first opens its room again on the server (`PUT /api/rooms/{code}`, which
//! a restarted server needs) and fetches a new ticket. Until then nobody new
//! can join, and play goes on.
//!
//! Two data channels per peer: reliable (ordered) and unreliable. The
//! message loop runs on Bevy's IO task pool. `matchbox_socket` is our fork
//! (`matchbox_socket/` in the repository): whatever a peer signals fails
//! that peer's handshake only. On native targets the loop is still wrapped
//! in `catch_unwind`, because webrtc-rs can panic inside it (seen when no
//! network interface can carry a peer connection). A panic or an error there
//! becomes [`LinkEvent::Closed`], never a crash of the game.

use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use bevy::{
    log::{info, warn},
    tasks::IoTaskPool,
};
use bevy_p2p_protocol::{
    ErrorCode, IceConfig, ReclaimRoom, RoomInfo, api,
    api::{HostTicket, TicketRequest},
};
use bytes::Bytes;
#[cfg(not(target_family = "wasm"))]
use futures::FutureExt;
use matchbox_socket::{
    ChannelConfig, PeerState, RtcIceServerConfig, SignalingState, WebRtcSocket, WebRtcSocketBuilder,
};

use super::{
    Delivery, LinkClosed, LinkDown, LinkEvent, LinkRoute, NoPath, PeerId, PeerLinks, RoomEntry,
    RoundTrip, probe::Probes,
};
use crate::{
    P2pSettings,
    lobby::{Reply, room_api},
    session::JoinFailure,
    settings::{IceServer, IceServers, SocketTicket},
};

const RELIABLE: usize = 0;
const UNRELIABLE: usize = 1;
/// Round-trip probes, served off the frame loop (`probe.rs`).
const PROBE: usize = 2;

/// After a failed `GET /api/ice` while the links are open, the next try.
const ICE_RETRY: Duration = Duration::from_secs(30);

/// The first wait before trying to get a lost signaling server back; it
/// doubles with each failed try, up to [`RESIGNAL_MAX_WAIT`]: a server
/// that stays away is asked twice a minute per player, which no rate limit
/// minds.
const RESIGNAL_FIRST_WAIT: Duration = Duration::from_millis(500);
const RESIGNAL_MAX_WAIT: Duration = Duration::from_secs(30);

/// The least time between two requests to be introduced to the host again:
/// more than a handshake takes, so a new request never cuts one short.
const REJOIN_EVERY: Duration = Duration::from_secs(15);

/// Links to the peers of one matchbox room.
pub struct WebRtcLinks {
    /// `None` while the signaling server's ICE list is on its way.
    socket: Option<WebRtcSocket>,
    /// What opening the socket waits for.
    opening: Option<Opening>,
    ice: IceFetch,
    /// Whether the ICE servers in use include a TURN server.
    relay_configured: bool,
    /// Set by the message loop's task when it ends; read by [`PeerLinks::poll`].
    loop_end: Arc<Mutex<Option<LinkClosed>>>,
    closed: bool,
    /// Getting signaling back once the socket is open.
    resignal: Resignal,
    /// Round trips timed on the probe channel, once the socket is open.
    probes: Option<Probes>,
}

/// Getting the signaling server back after losing it, in the background:
/// the room, this player's seat (so it comes back as the same peer), the
/// host's token, and where the attempt stands.
struct Resignal {
    code: String,
    seat: String,
    host_token: Option<String>,
    settings: P2pSettings,
    /// Failed tries in a row, for the wait before the next one.
    failures: u32,
    /// When to try next, while signaling is lost.
    next_try: Option<Duration>,
    step: ResignalStep,
    /// Whether signaling was ever up: a first connection that fails (the
    /// server refused the seat, or cannot be reached) ends the links, as a
    /// join that failed.
    ever_connected: bool,
    /// Set when the server will never take this room back (a restarted
    /// server without the room secret refused the host's token): the
    /// links play on, and nobody new can join.
    given_up: bool,
    /// When this client last asked to be introduced again.
    last_rejoin: Option<Duration>,
    /// Whether the host started the game: a room opened again on a
    /// restarted server says so to those who look it up.
    started: bool,
}

enum ResignalStep {
    /// Nothing in flight: connected, or waiting for `next_try`.
    Idle,
    /// A host opening its room again on the server.
    Reclaiming(Reply<RoomInfo>),
    /// Fetching a ticket for the new websocket.
    Ticketing(Reply<HostTicket>),
    /// A new websocket is opening.
    Connecting,
}

/// A socket about to open: the room, and what it still waits for.
struct Opening {
    code: String,
    settings: P2pSettings,
    /// `None` while the signaling server's ICE list is on its way.
    ice: Option<Vec<RtcIceServerConfig>>,
    ticket: TicketFetch,
}

/// The one-time ticket for the websocket about to open.
enum TicketFetch {
    Pending(Reply<HostTicket>),
    Ready(String),
}

/// Buys a one-time websocket ticket for `seat` in room `code`: the host's
/// with its token, a client's with its seat secret alone. Neither secret
/// goes in the websocket's URL.
fn fetch_ticket(
    settings: &P2pSettings,
    code: &str,
    seat: &str,
    host_token: Option<&str>,
) -> Reply<HostTicket> {
    let path = match host_token {
        Some(_) => api::host_ticket_path(code),
        None => api::seat_ticket_path(code),
    };
    let body = TicketRequest {
        seat: Some(seat.to_owned()),
    };
    let mut request = ehttp::Request::post(
        format!("{}{path}", settings.http_base()),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
    .with_header("Content-Type", "application/json");
    if let Some(token) = host_token {
        request = request.with_header("Authorization", format!("Bearer {token}"));
    }
    room_api::fetch(request, settings.request_timeout)
}

/// The URL a ticket from [`fetch_ticket`] opens.
fn ticketed_url(settings: &P2pSettings, code: &str, ticket: &str, host: bool) -> String {
    let ticket = if host {
        SocketTicket::Host(ticket)
    } else {
        SocketTicket::Seat(ticket)
    };
    settings.room_url(code, Some(ticket))
}

/// The signaling server's ICE list: the request in flight, and when to ask
/// again (app time; `None`: never).
struct IceFetch {
    url: String,
    request_timeout: Duration,
    pending: Option<Reply<IceConfig>>,
    next: Option<Duration>,
}

impl IceFetch {
    fn start(&mut self) {
        let request = ehttp::Request::get(&self.url);
        self.pending = Some(room_api::fetch(request, self.request_timeout));
    }
}

impl WebRtcLinks {
    /// Opens `room` on the settings' signaling server with the settings'
    /// ICE servers and handshake timeout, and starts the message loop; with
    /// [`IceServers::FromSignalingServer`], once the server's list is here,
    /// and for a host, once its ticket is.
    ///
    /// The ICE servers may be empty: then only host candidates are gathered.
    pub fn open(room: &RoomEntry, settings: &P2pSettings) -> Self {
        let ice = IceFetch {
            url: format!("{}{}", settings.http_base(), api::ICE),
            request_timeout: settings.request_timeout,
            pending: None,
            next: None,
        };
        let mut links = Self {
            socket: None,
            opening: None,
            ice,
            relay_configured: false,
            loop_end: Arc::new(Mutex::new(None)),
            closed: false,
            probes: None,
            resignal: Resignal {
                code: room.code.as_str().to_owned(),
                seat: room.seat.clone(),
                host_token: room.host_token.clone(),
                settings: settings.clone(),
                failures: 0,
                next_try: None,
                step: ResignalStep::Idle,
                ever_connected: false,
                given_up: false,
                last_rejoin: None,
                started: false,
            },
        };
        let ice = match &settings.ice_servers {
            IceServers::Fixed(servers) => Some(servers.iter().map(rtc_server).collect()),
            IceServers::FromSignalingServer => {
                links.ice.start();
                None
            }
        };
        let code = room.code.as_str();
        let ticket = TicketFetch::Pending(fetch_ticket(
            settings,
            code,
            &room.seat,
            room.host_token.as_deref(),
        ));
        links.opening = Some(Opening {
            code: code.to_owned(),
            settings: settings.clone(),
            ice,
            ticket,
        });
        links.open_when_ready();
        links
    }

    /// Opens the socket once the ICE list and the ticket are both here.
    fn open_when_ready(&mut self) {
        let Some(opening) = &mut self.opening else {
            return;
        };
        if let TicketFetch::Pending(reply) = &opening.ticket {
            match reply.poll() {
                None => {}
                Some(Ok(issued)) => opening.ticket = TicketFetch::Ready(issued.ticket),
                Some(Err(failure)) => {
                    // As if the websocket had been refused.
                    self.opening = None;
                    *self.loop_end.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(LinkClosed::Signaling(format!(
                            "the server gave no ticket for this player's seat: {failure}"
                        )));
                    return;
                }
            }
        }
        let ticket = match &opening.ticket {
            TicketFetch::Pending(_) => return,
            TicketFetch::Ready(ticket) => ticket.clone(),
        };
        if opening.ice.is_none() {
            return;
        }
        let Some(Opening {
            code,
            settings,
            ice: Some(ice),
            ..
        }) = self.opening.take()
        else {
            return;
        };
        let host = self.resignal.host_token.is_some();
        let room_url = ticketed_url(&settings, &code, &ticket, host);
        self.start(&room_url, &settings, ice);
    }

    fn start(&mut self, room_url: &str, settings: &P2pSettings, ice: Vec<RtcIceServerConfig>) {
        self.relay_configured = has_relay(&ice);
        let (socket, message_loop) = WebRtcSocketBuilder::new(room_url)
            .ice_servers(ice)
            // A refused or unreachable server should fail the join quickly,
            // not retry for long: the lobby explains the failure.
            .reconnect_attempts(Some(2))
            // Signaling lost later is got back in the background (`Resignal`).
            .survive_signaling_loss(true)
            .signaling_keep_alive_interval(Some(Duration::from_secs(10)))
            .handshake_timeout(Some(settings.handshake_timeout))
            .add_channel(ChannelConfig::reliable())
            .add_channel(ChannelConfig::unreliable())
            .add_channel(ChannelConfig::unreliable())
            .build();
        let mut socket = socket;
        self.probes = socket.take_channel(PROBE).ok().map(Probes::start);
        let report = self.loop_end.clone();
        let task = async move {
            #[cfg(not(target_family = "wasm"))]
            let outcome = core::panic::AssertUnwindSafe(message_loop)
                .catch_unwind()
                .await
                .map_err(|panic| {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    LinkClosed::Failed(format!("the WebRTC message loop panicked: {why}"))
                });
            #[cfg(target_family = "wasm")]
            let outcome: Result<_, LinkClosed> = Ok(message_loop.await);
            let closed = match outcome {
                Ok(Ok(())) => LinkClosed::Local,
                Ok(Err(matchbox_socket::Error::Disconnected(e))) => {
                    LinkClosed::Signaling(e.to_string())
                }
                Ok(Err(e @ matchbox_socket::Error::ConnectionFailed(_))) => {
                    LinkClosed::Signaling(e.to_string())
                }
                Err(closed) => closed,
            };
            *report.lock().unwrap_or_else(PoisonError::into_inner) = Some(closed);
        };
        IoTaskPool::get().spawn(task).detach();
        self.socket = Some(socket);
    }

    /// Takes the signaling server's ICE answer, if it came: opens the
    /// socket with it, or gives it to the open socket for later handshakes.
    fn poll_ice(&mut self, now: Duration) {
        if self.ice.pending.is_none() && self.ice.next.is_some_and(|next| now >= next) {
            self.ice.next = None;
            self.ice.start();
        }
        let Some(answer) = self.ice.pending.as_ref().and_then(Reply::poll) else {
            return;
        };
        self.ice.pending = None;
        let config = match answer {
            Ok(config) => config,
            Err(failure) => {
                warn!(
                    "no ICE servers from {}: {failure}; {}",
                    self.ice.url,
                    if self.socket.is_some() {
                        "keeping the ones there are"
                    } else {
                        "peers will only find each other on their own networks"
                    }
                );
                if self.socket.is_some() {
                    self.ice.next = Some(now + ICE_RETRY);
                    return;
                }
                IceConfig::default()
            }
        };
        // Halfway to the expiry: time enough for a retry or two.
        self.ice.next = config
            .expires_in_secs
            .map(|secs| now + Duration::from_secs(secs.max(2)) / 2);
        info!(
            "ICE servers from the signaling server: {} (TURN credentials for {:?} s)",
            config
                .servers
                .iter()
                .flat_map(|server| &server.urls)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            config.expires_in_secs
        );
        let servers: Vec<RtcIceServerConfig> = config
            .servers
            .into_iter()
            .map(|server| RtcIceServerConfig {
                urls: server.urls,
                username: server.username,
                credential: server.credential,
            })
            .collect();
        match (&mut self.socket, &mut self.opening) {
            (Some(socket), _) => {
                self.relay_configured = has_relay(&servers);
                socket.set_ice_servers(servers);
            }
            (None, Some(opening)) => opening.ice = Some(servers),
            (None, None) => {}
        }
    }
}

impl Resignal {
    /// How long to wait after `failures` failed tries.
    fn wait(&self) -> Duration {
        let doublings = self.failures.min(8);
        (RESIGNAL_FIRST_WAIT * 2u32.pow(doublings)).min(RESIGNAL_MAX_WAIT)
    }

    fn failed(&mut self, now: Duration, why: &str) {
        let wait = self.wait();
        self.failures += 1;
        self.next_try = Some(now + wait);
        self.step = ResignalStep::Idle;
        warn!(
            "signaling server for room {} out of reach ({why}); trying again in {wait:?}",
            self.code
        );
    }

    /// Buys the ticket for the next websocket.
    fn fetch_ticket(&mut self) {
        let reply = fetch_ticket(
            &self.settings,
            &self.code,
            &self.seat,
            self.host_token.as_deref(),
        );
        self.step = ResignalStep::Ticketing(reply);
    }

    /// One step of getting signaling back, at `now`. Fails when the first
    /// connection failed: there is nothing to get back.
    fn poll(&mut self, socket: &mut WebRtcSocket, now: Duration) -> Result<(), String> {
        if self.given_up {
            return Ok(());
        }
        match (socket.signaling_state(), &self.step) {
            (SignalingState::Lost(why), _) if !self.ever_connected => return Err(why),
            // A rejoin buys its ticket while signaling is up.
            (SignalingState::Connected, step) if !matches!(step, ResignalStep::Ticketing(_)) => {
                self.ever_connected = true;
                if matches!(self.step, ResignalStep::Connecting) {
                    info!("signaling server for room {} back", self.code);
                }
                self.failures = 0;
                self.next_try = None;
                self.step = ResignalStep::Idle;
                return Ok(());
            }
            (SignalingState::Lost(why), ResignalStep::Connecting) => self.failed(now, &why),
            (SignalingState::Lost(why), ResignalStep::Idle) if self.next_try.is_none() => {
                // Just lost: the first try comes soon.
                warn!(
                    "signaling for room {} lost ({why}); keeping every link and trying to get it back",
                    self.code
                );
                self.next_try = Some(now + RESIGNAL_FIRST_WAIT);
            }
            _ => {}
        }
        match &self.step {
            ResignalStep::Idle if self.next_try.is_some_and(|at| now >= at) => {
                self.next_try = None;
                match &self.host_token {
                    // A restarted server may have lost the room: open it again first.
                    Some(token) => {
                        let url = format!(
                            "{}{}",
                            self.settings.http_base(),
                            api::room_path(&self.code)
                        );
                        let body = ReclaimRoom {
                            capacity: Some(self.settings.max_players),
                            started: self.started,
                        };
                        let mut request = ehttp::Request::post(
                            url,
                            serde_json::to_vec(&body).unwrap_or_default(),
                        )
                        .with_header("Content-Type", "application/json")
                        .with_header("Authorization", format!("Bearer {token}"));
                        request.method = ehttp::Method::PUT;
                        self.step = ResignalStep::Reclaiming(room_api::fetch(
                            request,
                            self.settings.request_timeout,
                        ));
                    }
                    None => self.fetch_ticket(),
                }
            }
            ResignalStep::Reclaiming(reply) => match reply.poll() {
                None => {}
                Some(Err(JoinFailure::ServerError(why)))
                    if why == ErrorCode::BadHostToken.as_str() =>
                {
                    // Asking again changes nothing, and each try would spend
                    // from the server's budget for wrong tokens.
                    warn!(
                        "the signaling server does not know room {} any more (restarted without \
                         its room secret): play goes on, nobody new can join",
                        self.code
                    );
                    self.given_up = true;
                    self.step = ResignalStep::Idle;
                }
                Some(Ok(_)) => self.fetch_ticket(),
                Some(Err(failure)) => self.failed(now, &failure.to_string()),
            },
            ResignalStep::Ticketing(reply) => match reply.poll() {
                None => {}
                Some(Ok(issued)) => {
                    let host = self.host_token.is_some();
                    socket.reconnect_signaling(ticketed_url(
                        &self.settings,
                        &self.code,
                        &issued.ticket,
                        host,
                    ));
                    self.step = ResignalStep::Connecting;
                }
                Some(Err(failure)) => self.failed(now, &failure.to_string()),
            },
            _ => {}
        }
        Ok(())
    }

    /// Opens a new signaling session at once, if signaling is up and
    /// nothing is in flight: the server then introduces this client to its
    /// host again, which offers a new link if its old one is gone.
    fn rejoin(&mut self, socket: &mut WebRtcSocket, now: Duration) {
        let recently = self
            .last_rejoin
            .is_some_and(|at| now.saturating_sub(at) < REJOIN_EVERY);
        if self.host_token.is_none()
            && !recently
            && matches!(self.step, ResignalStep::Idle)
            && socket.signaling_state() == SignalingState::Connected
        {
            self.last_rejoin = Some(now);
            info!(
                "asking the server to introduce room {}'s host again",
                self.code
            );
            // A new signaling session, once its ticket is here.
            self.fetch_ticket();
        }
    }
}

impl WebRtcLinks {
    /// Reports the end of the links once: the message loop's, or a refusal
    /// before the socket opened.
    fn report_loop_end(&mut self, events: &mut Vec<LinkEvent>) {
        let loop_end = self
            .loop_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(closed) = loop_end {
            self.closed = true;
            events.push(LinkEvent::Closed(closed));
        }
    }
}

fn has_relay(servers: &[RtcIceServerConfig]) -> bool {
    servers.iter().flat_map(|server| &server.urls).any(|url| {
        let url = url.trim_start().to_ascii_lowercase();
        url.starts_with("turn:") || url.starts_with("turns:")
    })
}

fn rtc_server(server: &IceServer) -> RtcIceServerConfig {
    RtcIceServerConfig {
        urls: server.urls.clone(),
        username: server.username.clone(),
        credential: server.credential.clone(),
    }
}

impl PeerLinks for WebRtcLinks {
    fn local_id(&mut self) -> Option<PeerId> {
        self.socket.as_mut()?.id()
    }

    fn poll(&mut self, now: Duration, events: &mut Vec<LinkEvent>) {
        if self.closed {
            return;
        }
        self.poll_ice(now);
        self.open_when_ready();
        let Some(socket) = &mut self.socket else {
            self.report_loop_end(events);
            return;
        };
        if let Err(why) = self.resignal.poll(socket, now) {
            // As the message loop ending on a refused or unreachable server.
            self.loop_end
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(LinkClosed::Signaling(why));
            socket.close();
            self.report_loop_end(events);
            return;
        }
        let changes = socket.try_update_peers();
        // In the order things happened to each peer: up, its packets, down.
        // What a peer sent before its link went down (its goodbye, say)
        // arrived before the news of it, and is read first.
        let mut gone = Vec::new();
        for (peer, state) in changes.as_deref().unwrap_or_default() {
            match state {
                PeerState::Connected => events.push(LinkEvent::Connected(*peer)),
                PeerState::Disconnected => {
                    if let Some(probes) = &self.probes {
                        probes.forget(*peer);
                    }
                    gone.push(LinkEvent::Disconnected(*peer));
                }
            }
        }
        if let Some(probes) = &self.probes {
            probes.send_due(socket.connected_peers());
        }
        for (channel, delivery) in [
            (RELIABLE, Delivery::Reliable),
            (UNRELIABLE, Delivery::Unreliable),
        ] {
            if let Ok(channel) = socket.get_channel_mut(channel) {
                for (from, packet) in channel.receive() {
                    events.push(LinkEvent::Received {
                        from,
                        delivery,
                        packet,
                    });
                }
            }
        }
        events.append(&mut gone);
        if changes.is_err() {
            self.loop_end
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(LinkClosed::Local);
        }
        self.report_loop_end(events);
    }

    fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
        let index = match delivery {
            Delivery::Reliable => RELIABLE,
            Delivery::Unreliable => UNRELIABLE,
        };
        let socket = self.socket.as_mut().ok_or(LinkDown)?;
        let channel = socket.get_channel_mut(index).map_err(|_| LinkDown)?;
        channel.try_send(packet, to).map_err(|_| LinkDown)
    }

    fn disconnect(&mut self, peer: PeerId) {
        if let Some(socket) = &mut self.socket {
            socket.disconnect(peer);
        }
    }

    fn rejoin(&mut self, now: Duration) {
        if let Some(socket) = &mut self.socket {
            self.resignal.rejoin(socket, now);
        }
    }

    fn game_started(&mut self) {
        self.resignal.started = true;
    }

    fn round_trip(&self, peer: PeerId) -> Option<RoundTrip> {
        self.probes.as_ref()?.stats(peer)
    }

    fn why_unreachable(&self) -> Option<NoPath> {
        let socket = self.socket.as_ref()?;
        // A client only ever makes a connection for its host.
        let gathered = socket.gathered_candidates();
        info!(
            "no link to the host: relay configured: {}, local candidates gathered: {gathered:?}",
            self.relay_configured
        );
        let Some((_, ours)) = gathered.first() else {
            return Some(NoPath::PeerSilent);
        };
        Some(match (self.relay_configured, ours.relay > 0) {
            (false, _) => NoPath::NeedsRelay,
            (true, false) => NoPath::RelayUnavailable,
            (true, true) => NoPath::Blocked,
        })
    }

    fn route(&self, peer: PeerId) -> Option<LinkRoute> {
        // Either end being a relay candidate makes the whole path relayed.
        let pair = self.socket.as_ref()?.candidate_pair(peer)?;
        Some(if pair.is_relayed() {
            LinkRoute::Relayed
        } else {
            LinkRoute::Direct
        })
    }
}

impl Drop for WebRtcLinks {
    fn drop(&mut self) {
        if let Some(socket) = &mut self.socket {
            socket.close();
        }
    }
}
