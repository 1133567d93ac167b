//! The websocket side: our `SignalingTopology` and the shared state it runs on.
//!
//! `matchbox_signaling` hands us three moments of a connection:
//! 1. `on_connection_request`, before the upgrade, with path, query and
//!    origin: [`Hub::admit`] checks the code, token and capacity and reserves
//!    a seat, or refuses with a JSON error response.
//! 2. `on_id_assignment`, right after, with origin and the fresh `PeerId`:
//!    [`Hub::bind`] ties the reservation to that id.
//! 3. [`RoomTopology::state_machine`], once the websocket is up, with room
//!    and peer id (but no query): it takes the seat and relays signals until
//!    the socket ends or the room closes.
//!
//! The rules (who may hear whom) live in [`crate::rooms`]; this module only
//! moves messages and keeps every peer's outgoing channel.

use crate::{
    rooms::{Effect, Registry, Role, Settings, Ticket},
    signals,
};
use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message, close_code};
use bevy_p2p_protocol::ErrorCode;
use futures::StreamExt;
use matchbox_protocol::{JsonPeerEvent, PeerId, PeerRequest};
use matchbox_signaling::{
    ClientRequestError, NoCallbacks, SignalingState, SignalingTopology, WsStateMeta,
    common_logic::{SignalingChannel, parse_request},
};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// Shared state of one server: the room registry plus every peer's channel.
///
/// One mutex for all of it: every critical section is short and never
/// awaits, and a single lock makes each join, leave and relay atomic.
#[derive(Clone)]
pub(crate) struct Hub(Arc<Mutex<HubInner>>);

impl SignalingState for Hub {}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

struct HubInner {
    registry: Registry<PeerId>,
    /// The cap on one signal's payload.
    max_signal_bytes: usize,
    /// How long a websocket may stay silent before its seat is freed.
    peer_silence: Duration,
    /// Signals dropped by [`signals::check`] since the server started.
    dropped_signals: u64,
    links: HashMap<PeerId, Link>,
    /// Reservations made in `on_connection_request`, waiting for their peer id.
    by_origin: HashMap<SocketAddr, Ticket>,
    /// Reservations with a peer id, waiting for the websocket to start.
    by_peer: HashMap<PeerId, Ticket>,
}

/// How to reach one seated peer.
struct Link {
    sender: SignalingChannel,
    /// Fired to end the peer's state machine when its room closes.
    kick: Option<oneshot::Sender<()>>,
}

impl Hub {
    /// A hub with no rooms.
    pub(crate) fn new(settings: Settings, max_signal_bytes: usize, peer_silence: Duration) -> Self {
        Self(Arc::new(Mutex::new(HubInner {
            registry: Registry::new(settings),
            max_signal_bytes,
            peer_silence,
            dropped_signals: 0,
            links: HashMap::new(),
            by_origin: HashMap::new(),
            by_peer: HashMap::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A panic elsewhere must not take every later request down with it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the room registry (for the HTTP API).
    pub(crate) fn rooms<R>(&self, f: impl FnOnce(&mut Registry<PeerId>) -> R) -> R {
        f(&mut self.lock().registry)
    }

    /// `on_connection_request`: reserves a seat or refuses before the upgrade.
    pub(crate) fn admit(
        &self,
        origin: SocketAddr,
        path: Option<&str>,
        query: &HashMap<String, String>,
    ) -> Result<(), ErrorCode> {
        let token = query
            .get(bevy_p2p_protocol::api::HOST_TOKEN_PARAM)
            .map(String::as_str);
        let mut hub = self.lock();
        let result = if hub.by_origin.contains_key(&origin) {
            Err(ErrorCode::Busy)
        } else {
            // `/` has no path: not a code.
            let code = path.unwrap_or_default();
            hub.registry.reserve(code, token, Instant::now())
        };
        match result {
            Ok(ticket) => {
                hub.by_origin.insert(origin, ticket);
                Ok(())
            }
            Err(error) => {
                debug!(%origin, ?path, %error, "websocket refused");
                Err(error)
            }
        }
    }

    /// `on_id_assignment`: the reservation made for `origin` now belongs to `peer`.
    pub(crate) fn bind(&self, origin: SocketAddr, peer: PeerId) {
        let mut hub = self.lock();
        if let Some(ticket) = hub.by_origin.remove(&origin) {
            hub.by_peer.insert(peer, ticket);
        }
    }

    /// Seats `peer` with its reservation and sends the introductions.
    fn join(&self, peer: PeerId, room: &str, link: Link) -> Result<Role, ErrorCode> {
        let mut hub = self.lock();
        let ticket = hub.by_peer.remove(&peer).ok_or(ErrorCode::RoomNotFound)?;
        let (_code, role, effects) = hub.registry.join(ticket, peer, room, Instant::now())?;
        hub.links.insert(peer, link);
        hub.apply(effects);
        Ok(role)
    }

    /// Frees `peer`'s seat and tells whoever must know.
    fn leave(&self, peer: PeerId) {
        let mut hub = self.lock();
        hub.links.remove(&peer);
        let effects = hub.registry.leave(peer, Instant::now());
        hub.apply(effects);
    }

    /// Relays a signal, stamped with its real sender, if the rules allow it:
    /// along a spoke of the star, and only what that direction carries.
    fn relay(&self, from: PeerId, to: PeerId, data: serde_json::Value) {
        let mut hub = self.lock();
        let Some(direction) = hub.registry.signal_direction(from, to) else {
            debug!(%from, %to, "signal dropped: not between a host and its own client");
            return;
        };
        if let Err(refusal) = signals::check(&data, direction, hub.max_signal_bytes) {
            hub.dropped_signals += 1;
            debug!(%from, %to, ?refusal, "signal dropped");
            return;
        }
        hub.send(to, JsonPeerEvent::Signal { sender: from, data });
    }

    /// The host behind `host_token` removes `peer` from room `code`.
    pub(crate) fn remove_client(
        &self,
        code: &str,
        host_token: Option<&str>,
        peer: Option<PeerId>,
    ) -> Result<(), ErrorCode> {
        let mut hub = self.lock();
        let effects = hub.registry.remove_client(code, host_token, peer)?;
        hub.apply(effects);
        Ok(())
    }

    /// Signals dropped by the content rules since the server started.
    pub(crate) fn dropped_signals(&self) -> u64 {
        self.lock().dropped_signals
    }

    /// Runs the registry's clocks and closes the sockets of closed rooms.
    pub(crate) fn tick(&self) {
        let mut hub = self.lock();
        let effects = hub.registry.tick(Instant::now());
        hub.apply(effects);
        let HubInner {
            registry,
            by_origin,
            by_peer,
            ..
        } = &mut *hub;
        by_origin.retain(|_, ticket| registry.has_ticket(*ticket));
        by_peer.retain(|_, ticket| registry.has_ticket(*ticket));
    }
}

impl HubInner {
    fn send(&self, to: PeerId, event: JsonPeerEvent) {
        let Some(link) = self.links.get(&to) else {
            debug!(%to, "no channel for peer");
            return;
        };
        // A send fails only when the peer's socket is already gone; its state
        // machine is about to call `leave`.
        if link
            .sender
            .send(Ok(Message::Text(event.to_string().into())))
            .is_err()
        {
            debug!(%to, "peer's channel is closed");
        }
    }

    /// Closes `peer`'s websocket and ends its state machine, which then
    /// frees its seat (if its room still has one).
    fn close(&mut self, peer: PeerId, code: u16, reason: &'static str) {
        if let Some(mut link) = self.links.remove(&peer) {
            let _ = link.sender.send(Ok(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }))));
            if let Some(kick) = link.kick.take() {
                let _ = kick.send(());
            }
        }
    }

    fn apply(&mut self, effects: Vec<Effect<PeerId>>) {
        for effect in effects {
            match effect {
                Effect::Introduce { host, client } => {
                    self.send(host, JsonPeerEvent::NewPeer(client))
                }
                Effect::Left { to, peer } => self.send(to, JsonPeerEvent::PeerLeft(peer)),
                Effect::Close(peer) => self.close(peer, close_code::NORMAL, "room_closed"),
                Effect::Remove(peer) => self.close(peer, close_code::POLICY, "removed_by_host"),
            }
        }
    }
}

/// Every room is a star: one host seat, client seats around it, signals only
/// along the spokes.
#[derive(Debug, Default)]
pub(crate) struct RoomTopology;

#[async_trait]
impl SignalingTopology<NoCallbacks, Hub> for RoomTopology {
    async fn state_machine(upgrade: WsStateMeta<NoCallbacks, Hub>) {
        let WsStateMeta {
            room,
            peer_id,
            sender,
            mut receiver,
            state: hub,
            ..
        } = upgrade;
        let (kick, mut kicked) = oneshot::channel();
        let link = Link {
            sender: sender.clone(),
            kick: Some(kick),
        };
        if let Err(error) = hub.join(peer_id, &room, link) {
            // The room closed between the upgrade check and now.
            debug!(%peer_id, room, %error, "websocket started without a seat");
            let _ = sender.send(Ok(Message::Close(Some(CloseFrame {
                code: close_code::POLICY,
                reason: error.as_str().into(),
            }))));
            return;
        }

        let silence = hub.lock().peer_silence;
        loop {
            // Every request restarts the silence clock.
            let request = tokio::select! {
                _ = &mut kicked => break,
                request = receiver.next() => request,
                () = tokio::time::sleep(silence) => {
                    debug!(%peer_id, ?silence, "silent for too long: taken for gone");
                    let _ = sender.send(Ok(Message::Close(Some(CloseFrame {
                        code: close_code::AWAY,
                        reason: "silent".into(),
                    }))));
                    break;
                }
            };
            let Some(request) = request else { break };
            match parse_request(request) {
                Ok(PeerRequest::Signal { receiver, data }) => hub.relay(peer_id, receiver, data),
                Ok(PeerRequest::KeepAlive) => {}
                Err(ClientRequestError::Json(error)) => {
                    debug!(%peer_id, %error, "ignoring a malformed request");
                }
                Err(ClientRequestError::UnsupportedType(_)) => {
                    // Pings, pongs and binary frames carry nothing for us.
                }
                Err(ClientRequestError::Close) => break,
                Err(ClientRequestError::Axum(error)) => {
                    warn!(%peer_id, %error, "websocket error");
                    break;
                }
            }
        }
        hub.leave(peer_id);
    }
}
