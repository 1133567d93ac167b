//! The state every connection shares: the room registry, every seated
//! peer's outgoing queue, and the limits on what strangers may ask for.
//!
//! The rules (who may hear whom, when a room closes) live in
//! [`crate::rooms`]; this module turns their effects into messages. One
//! mutex guards it all: every critical section is short and never awaits,
//! and nothing is parsed or serialised under it (a relayed signal is checked
//! and written out after the lock is let go).

use crate::{
    limits::{AddressCounter, AddressLimiter, Rate, Refused},
    rooms::{Effect, Registry, Role, Settings, Ticket},
    signals,
    telemetry::Telemetry,
    token::RoomKey,
};
use axum::extract::ws::{CloseFrame, Message, close_code};
use bevy_p2p_protocol::{CreatedRoom, ErrorCode, RoomInfo};
use matchbox_protocol::{JsonPeerEvent, PeerId};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// Shared state of one server: the room registry, every peer's queue, the
/// per-address budgets (an IPv6 /64 is one address, and a /48 shares a
/// wider budget: see [`AddressLimiter`]).
#[derive(Clone)]
pub(crate) struct Hub {
    inner: Arc<Mutex<HubInner>>,
    /// Counts what happens to rooms: the registry's events, taken from it
    /// each time the lock is let go.
    telemetry: Telemetry,
}

/// The hub, locked: letting it go hands the registry's events to the
/// counters (their own lock, taken after this one, never before).
struct Locked<'a> {
    guard: MutexGuard<'a, HubInner>,
    telemetry: &'a Telemetry,
}

impl std::ops::Deref for Locked<'_> {
    type Target = HubInner;

    fn deref(&self) -> &HubInner {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut HubInner {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.guard.registry.has_events() {
            let events = self.guard.registry.take_events();
            self.telemetry.room_events(events, Instant::now());
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// What the hub holds strangers to, beyond the room rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubLimits {
    /// The cap on one signal's payload.
    pub(crate) max_signal_bytes: usize,
    /// Relayed signals queued for one peer; past it, signals to that peer
    /// are dropped (and counted). The server's own events have room of
    /// their own beyond it: a peer that lets those fill up too is taken for
    /// a slow reader and closed.
    pub(crate) peer_queue: usize,
    /// Websockets open from one address (IPv6: one /64).
    pub(crate) sockets_per_address: usize,
    /// An IPv6 /48's share of every per-address limit: this many times it.
    pub(crate) site_factor: u32,
    /// How long a peer's queue may stay full (its signals dropped) before
    /// it is taken for a reader that stopped and closed.
    pub(crate) stall: Duration,
    /// Rooms created, per address and by everyone.
    pub(crate) room_creation: (Rate, Rate),
    /// Lookups of a code that name no live room (or carry a wrong host
    /// token), per address and by everyone: a budget for guessing codes.
    pub(crate) failed_lookups: (Rate, Rate),
    /// How many addresses the rate limits remember at once.
    pub(crate) tracked_addresses: usize,
}

/// A refusal with, for a rate limit, when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) retry_after: Option<Duration>,
}

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Self {
        Self {
            code,
            retry_after: None,
        }
    }
}

impl From<Refused> for Refusal {
    fn from(refused: Refused) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            retry_after: Some(refused.retry_after),
        }
    }
}

struct HubInner {
    registry: Registry<PeerId>,
    /// Makes and checks host tokens (see [`crate::token`]).
    room_key: RoomKey,
    /// The next websocket's serial number.
    next_serial: u64,
    /// Each seated peer's latest websocket: only that one's end or
    /// disconnect may touch the peer's seat or link.
    latest: HashMap<PeerId, u64>,
    limits: HubLimits,
    /// Signals dropped since the server started: by [`signals::check`], or
    /// because their receiver's queue was full.
    dropped_signals: u64,
    links: HashMap<PeerId, Link>,
    /// Open websockets per address.
    sockets: AddressCounter,
    creations: AddressLimiter,
    lookups: AddressLimiter,
}

/// Room in every peer's queue beyond [`HubLimits::peer_queue`], kept for
/// the server's own events: a room's introductions and departures (a few
/// per seat) and the close. A flood of signals fills only the rest, so it
/// can drop signals but never keep a peer from hearing who joined or left.
const EVENT_HEADROOM: usize = 2 * bevy_p2p_protocol::room::MAX_PLAYERS + 4;

/// How to reach one seated peer.
struct Link {
    /// The peer's outgoing queue, bounded by [`HubLimits::peer_queue`].
    sender: mpsc::Sender<Message>,
    /// Fired to end the peer's task (its room closed, it was removed, or it
    /// reads too slowly).
    kick: Option<oneshot::Sender<()>>,
    /// Since when its queue has been full, dropping signals.
    full_since: Option<Instant>,
}

/// A seat reserved for a websocket about to open, and its address's socket
/// slot. Dropped before [`Hub::join`] (the upgrade failed, the client went
/// away), it gives both back at once rather than when the reservation
/// times out.
pub(crate) struct SeatHold {
    hub: Hub,
    /// Whom the seat is for.
    peer: PeerId,
    /// Taken by [`Hub::join`].
    ticket: Option<Ticket>,
    client: IpAddr,
}

impl SeatHold {
    /// Whom the seat is for: the id its websocket is told (`IdAssigned`).
    pub(crate) fn peer(&self) -> PeerId {
        self.peer
    }
}

/// The one-time ticket a websocket's URL carries, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Presented<'a> {
    /// None: a client with a new peer id.
    Nothing,
    /// A host ticket, for the host seat.
    Host(&'a str),
    /// A seat ticket: a client whose seat secret names its peer id.
    Seat(&'a str),
}

impl Drop for SeatHold {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let mut hub = self.hub.lock();
            hub.registry.cancel(ticket);
            hub.sockets.close(self.client);
        }
    }
}

/// A peer's way out of the hub: its queue's receiving end and its kick.
pub(crate) struct Outbox {
    pub(crate) messages: mpsc::Receiver<Message>,
    pub(crate) kicked: oneshot::Receiver<()>,
    /// The websocket's serial, for [`Hub::leave`].
    pub(crate) serial: u64,
}

/// Whether a code lookup's failure spends from the guessing budget.
fn is_a_miss(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RoomNotFound
            | ErrorCode::InvalidCode
            | ErrorCode::BadHostToken
            | ErrorCode::BadTicket
    )
}

impl Hub {
    /// A hub with no rooms.
    pub(crate) fn new(
        settings: Settings,
        limits: HubLimits,
        room_key: RoomKey,
        telemetry: Telemetry,
    ) -> Self {
        let now = Instant::now();
        let inner = Arc::new(Mutex::new(HubInner {
            registry: Registry::new(settings),
            room_key,
            next_serial: 0,
            latest: HashMap::new(),
            dropped_signals: 0,
            links: HashMap::new(),
            sockets: AddressCounter::new(
                limits.sockets_per_address,
                usize::MAX,
                limits.site_factor,
            ),
            creations: AddressLimiter::new(
                limits.room_creation.0,
                limits.room_creation.1,
                limits.site_factor,
                limits.tracked_addresses,
                now,
            ),
            lookups: AddressLimiter::new(
                limits.failed_lookups.0,
                limits.failed_lookups.1,
                limits.site_factor,
                limits.tracked_addresses,
                now,
            ),
            limits,
        }));
        Self { inner, telemetry }
    }

    /// What the server counts.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    fn lock(&self) -> Locked<'_> {
        // A panic elsewhere must not take every later request down with it.
        Locked {
            guard: self.inner.lock().unwrap_or_else(PoisonError::into_inner),
            telemetry: &self.telemetry,
        }
    }

    /// Runs `f` on the room registry, for a request that may name a code
    /// no room has: refused while `client`'s guessing budget is spent, and
    /// a miss spends from it.
    pub(crate) fn lookup<R>(
        &self,
        client: IpAddr,
        f: impl FnOnce(&mut Registry<PeerId>) -> Result<R, ErrorCode>,
    ) -> Result<R, Refusal> {
        self.lookup_budgeted(client, false, f)
    }

    /// A room's info, as `GET /api/rooms/{code}`, the share page and its
    /// card read it: one [`Hub::lookup`], under the guessing budget.
    pub(crate) fn room_info(&self, client: IpAddr, code: &str) -> Result<RoomInfo, Refusal> {
        self.lookup(client, |rooms| rooms.info_at(code, Instant::now()))
    }

    /// [`Hub::lookup`] for a request that carries a host token: one that
    /// succeeds (the token is the room's) is no guess and passes a spent
    /// budget, so a flood of guesses never keeps a host from its room;
    /// one that fails is held to the budget like any miss.
    pub(crate) fn lookup_as_host<R>(
        &self,
        client: IpAddr,
        f: impl FnOnce(&mut Registry<PeerId>) -> Result<R, ErrorCode>,
    ) -> Result<R, Refusal> {
        self.lookup_budgeted(client, true, f)
    }

    /// Both lookups: the budget is checked before `f`, or (`host`) only
    /// when `f` failed; a miss spends from it.
    fn lookup_budgeted<R>(
        &self,
        client: IpAddr,
        host: bool,
        f: impl FnOnce(&mut Registry<PeerId>) -> Result<R, ErrorCode>,
    ) -> Result<R, Refusal> {
        let now = Instant::now();
        let mut hub = self.lock();
        if !host {
            hub.lookups.check(client, now)?;
        }
        match f(&mut hub.registry) {
            Ok(found) => Ok(found),
            Err(code) => Err(hub.failed_lookup(client, now, code, host)),
        }
    }

    /// Opens a room for `client`, within its room-creation budget; `f` gets
    /// the key to make its host token with.
    pub(crate) fn create_room(
        &self,
        client: IpAddr,
        f: impl FnOnce(&mut Registry<PeerId>, &RoomKey) -> Result<CreatedRoom, ErrorCode>,
    ) -> Result<CreatedRoom, Refusal> {
        let mut hub = self.lock();
        hub.creations.try_take(client, Instant::now())?;
        let HubInner {
            registry, room_key, ..
        } = &mut *hub;
        f(registry, room_key).map_err(Refusal::from)
    }

    /// The host behind `host_token` opens its room again (see
    /// [`Registry::reclaim`]): a lookup as a host, and, when the room is
    /// opened anew, a room creation within `client`'s budget.
    pub(crate) fn reclaim_room(
        &self,
        client: IpAddr,
        code: &str,
        host_token: Option<&str>,
        asked: (Option<usize>, bool),
    ) -> Result<(RoomInfo, bool), Refusal> {
        let now = Instant::now();
        let mut hub = self.lock();
        // Refused before anything is made, so a refusal spends nothing.
        hub.creations.check(client, now)?;
        let HubInner {
            registry, room_key, ..
        } = &mut *hub;
        let reclaimed = registry.reclaim(
            code,
            host_token,
            |code, token| room_key.verify(code, token),
            asked,
            now,
        );
        match reclaimed {
            Ok((info, created)) => {
                if created {
                    hub.creations.spend(client, now);
                }
                Ok((info, created))
            }
            // A wrong token is a miss like any other.
            Err(code) => Err(hub.failed_lookup(client, now, code, true)),
        }
    }

    /// Before a websocket upgrade: reserves the seat it asks for and the
    /// address's socket slot, or refuses. The seat is for the peer the
    /// websocket's ticket names, else for `fresh`. `code` and the ticket
    /// are user input.
    pub(crate) fn admit(
        &self,
        client: IpAddr,
        code: &str,
        ticket: Presented<'_>,
        fresh: PeerId,
    ) -> Result<SeatHold, Refusal> {
        if self.lock().sockets.try_open(client).is_err() {
            return Err(ErrorCode::TooManyConnections.into());
        }
        let reserve = |rooms: &mut Registry<PeerId>| {
            let now = Instant::now();
            let (host_ticket, peer) = match ticket {
                Presented::Nothing => (None, fresh),
                Presented::Host(host) => {
                    let peer = rooms.host_ticket_peer(code, host, now).unwrap_or(fresh);
                    (Some(host), peer)
                }
                Presented::Seat(seat) => (None, rooms.redeem_seat_ticket(code, seat, now)?),
            };
            let reserved = rooms.reserve(code, host_ticket, peer, now)?;
            Ok((reserved, peer))
        };
        // A ticket is a secret like the token: a valid one is no guess.
        let reserved = match ticket {
            Presented::Nothing => self.lookup(client, reserve),
            Presented::Host(_) | Presented::Seat(_) => self.lookup_as_host(client, reserve),
        };
        match reserved {
            Ok((ticket, peer)) => Ok(SeatHold {
                hub: self.clone(),
                peer,
                ticket: Some(ticket),
                client,
            }),
            Err(refusal) => {
                self.lock().sockets.close(client);
                Err(refusal)
            }
        }
    }

    /// The websocket is up: seats `peer` in the seat `hold` reserved and
    /// sends the introductions. Returns the seat and the peer's way out.
    pub(crate) fn join(
        &self,
        peer: PeerId,
        mut hold: SeatHold,
        code: &str,
    ) -> Result<(Role, Outbox), ErrorCode> {
        let client = hold.client;
        let ticket = hold.ticket.take().ok_or(ErrorCode::Internal)?;
        let mut hub = self.lock();
        let (_code, role, effects) = match hub.registry.join(ticket, peer, code) {
            Ok(joined) => joined,
            Err(error) => {
                hub.sockets.close(client);
                return Err(error);
            }
        };
        // The same peer back on a new websocket: its old one, if still
        // open, is stale.
        hub.close(peer, close_code::NORMAL, "seat_taken_over");
        let (sender, messages) = mpsc::channel(hub.limits.peer_queue + EVENT_HEADROOM);
        let (kick, kicked) = oneshot::channel();
        let serial = hub.next_serial;
        hub.next_serial += 1;
        hub.latest.insert(peer, serial);
        hub.links.insert(
            peer,
            Link {
                sender,
                kick: Some(kick),
                full_since: None,
            },
        );
        hub.apply(effects);
        Ok((
            role,
            Outbox {
                messages,
                kicked,
                serial,
            },
        ))
    }

    /// `peer`'s websocket `serial` ended, closed on purpose (`closed`) or
    /// dropped: frees or keeps its seat and tells whoever must know. The
    /// end of a websocket its peer has since replaced changes nothing.
    pub(crate) fn leave(&self, peer: PeerId, client: IpAddr, serial: u64, closed: bool) {
        let mut hub = self.lock();
        hub.sockets.close(client);
        if hub.latest.get(&peer) != Some(&serial) {
            return;
        }
        hub.latest.remove(&peer);
        // Its link may be gone already (kicked): the seat is still its.
        hub.links.remove(&peer);
        let effects = hub.registry.leave(peer, closed, Instant::now());
        hub.apply(effects);
    }

    /// Relays a signal, stamped with its real sender, if the rules allow it:
    /// along a spoke of the star, and only what that direction carries.
    /// Checked and serialised outside the lock.
    pub(crate) fn relay(&self, from: PeerId, to: PeerId, data: serde_json::Value) {
        let (direction, max_bytes) = {
            let hub = self.lock();
            let Some(direction) = hub.registry.signal_direction(from, to) else {
                debug!(%from, %to, "signal dropped: not between a host and its own client");
                return;
            };
            (direction, hub.limits.max_signal_bytes)
        };
        if let Err(refusal) = signals::check(&data, direction, max_bytes) {
            self.lock().dropped_signals += 1;
            debug!(%from, %to, ?refusal, "signal dropped");
            return;
        }
        let text = JsonPeerEvent::Signal { sender: from, data }.to_string();
        let mut hub = self.lock();
        // Checked again: one of the two may have left while the signal was
        // checked, and a signal queued behind `PeerLeft` would name a peer
        // its receiver has already dropped.
        if hub.registry.signal_direction(from, to).is_none() {
            return;
        }
        let (peer_queue, stall) = (hub.limits.peer_queue, hub.limits.stall);
        let Some(link) = hub.links.get_mut(&to) else {
            return;
        };
        // Signals fill the queue only up to the room kept for the server's
        // own events: a flood drops signals, not its receiver. A receiver
        // that takes nothing from a full queue for the stall time has
        // stopped reading, though, and is closed.
        let queued = link.sender.max_capacity() - link.sender.capacity();
        if queued < peer_queue && link.sender.try_send(Message::Text(text.into())).is_ok() {
            link.full_since = None;
            return;
        }
        let now = Instant::now();
        let full_since = *link.full_since.get_or_insert(now);
        hub.dropped_signals += 1;
        debug!(%from, %to, "signal dropped: the receiver's queue is full");
        if now.duration_since(full_since) >= stall {
            hub.close_slow_reader(to);
        }
    }

    /// The host behind `host_token` removes `peer` from room `code`.
    pub(crate) fn remove_client(
        &self,
        client: IpAddr,
        code: &str,
        host_token: Option<&str>,
        peer: Option<PeerId>,
    ) -> Result<(), Refusal> {
        let effects =
            self.lookup_as_host(client, |rooms| rooms.remove_client(code, host_token, peer))?;
        self.lock().apply(effects);
        Ok(())
    }

    /// The host (`host_token`) ends its game: room `code` closes now.
    pub(crate) fn end_room(
        &self,
        client: IpAddr,
        code: &str,
        host_token: Option<&str>,
    ) -> Result<(), Refusal> {
        let effects = self.lookup_as_host(client, |rooms| rooms.end(code, host_token))?;
        let mut hub = self.lock();
        hub.apply(effects);
        Ok(())
    }

    /// Closes `peer`'s websocket with `code` and `reason` (queued behind
    /// what it already has to read) and ends its task.
    pub(crate) fn disconnect(&self, peer: PeerId, serial: u64, code: u16, reason: &'static str) {
        let mut hub = self.lock();
        // A websocket its peer has replaced has no say over the new one.
        if hub.latest.get(&peer) == Some(&serial) {
            hub.close(peer, code, reason);
        }
    }

    /// Signals dropped by the content rules since the server started.
    pub(crate) fn dropped_signals(&self) -> u64 {
        self.lock().dropped_signals
    }

    /// Runs the registry's clocks, closes the sockets of closed rooms, and
    /// forgets addresses whose budgets are whole again.
    pub(crate) fn tick(&self) {
        let now = Instant::now();
        let mut hub = self.lock();
        let effects = hub.registry.tick(now);
        hub.apply(effects);
        hub.creations.prune(now);
        hub.lookups.prune(now);
        drop(hub);
        self.telemetry.tick(now);
    }
}

impl HubInner {
    /// A lookup by `client` failed with `code`: a miss spends from its
    /// guessing budget. A host's request (`host`) was let through without
    /// checking that budget first, so a spent one answers it now.
    fn failed_lookup(
        &mut self,
        client: IpAddr,
        now: Instant,
        code: ErrorCode,
        host: bool,
    ) -> Refusal {
        if is_a_miss(code) {
            if host && let Err(refused) = self.lookups.check(client, now) {
                return refused.into();
            }
            self.lookups.spend(client, now);
        }
        code.into()
    }

    fn send(&mut self, to: PeerId, event: &JsonPeerEvent) {
        let Some(link) = self.links.get(&to) else {
            debug!(%to, "no channel for peer");
            return;
        };
        match link
            .sender
            .try_send(Message::Text(event.to_string().into()))
        {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.close_slow_reader(to),
            // The peer's task has ended and is about to call `leave`.
            Err(mpsc::error::TrySendError::Closed(_)) => debug!(%to, "peer's channel is closed"),
        }
    }

    /// A peer whose queue is full reads slower than it is written to (or
    /// not at all): closed, as a full queue must not grow the server.
    fn close_slow_reader(&mut self, peer: PeerId) {
        debug!(%peer, "outgoing queue full: closing a slow reader");
        if let Some(mut link) = self.links.remove(&peer)
            && let Some(kick) = link.kick.take()
        {
            let _ = kick.send(());
        }
    }

    /// Closes `peer`'s websocket and ends its task, which then frees its
    /// seat (if its room still has one).
    fn close(&mut self, peer: PeerId, code: u16, reason: &'static str) {
        if let Some(mut link) = self.links.remove(&peer) {
            let _ = link.sender.try_send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
            if let Some(kick) = link.kick.take() {
                let _ = kick.send(());
            }
        }
    }

    fn apply(&mut self, effects: Vec<Effect<PeerId>>) {
        for effect in effects {
            match effect {
                Effect::Introduce { host, client } => {
                    self.send(host, &JsonPeerEvent::NewPeer(client));
                }
                Effect::Left { to, peer } => self.send(to, &JsonPeerEvent::PeerLeft(peer)),
                Effect::Close(peer) => self.close(peer, close_code::NORMAL, "room_closed"),
                Effect::Remove(peer) => self.close(peer, close_code::POLICY, "removed_by_host"),
                Effect::Replace(peer) => {
                    self.close(peer, close_code::NORMAL, "host_seat_taken_over")
                }
            }
        }
    }
}
