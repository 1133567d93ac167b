//! The room registry: codes, seats and each room's life, with no sockets in sight.
//!
//! Everything here is plain data driven by explicit `now` instants, so the
//! state machine is unit-tested without a network or a clock. The websocket
//! side ([`crate::hub`]) turns the returned [`Effect`]s into messages.
//!
//! A connection goes through two steps. Before the websocket upgrade,
//! [`Registry::reserve`] checks the code, the token and the capacity and holds
//! a seat under a [`Ticket`], so that concurrent joins can never overfill a
//! room. Once the websocket is up, [`Registry::join`] turns the ticket into
//! a seat. A ticket that never gets there (the upgrade failed) is given back
//! at once by the hub, or else released by [`Registry::tick`] after
//! [`RESERVATION_TIMEOUT`].
//!
//! A seat belongs to a peer id, and a player that names its seat secret
//! (in the request for its one-time websocket ticket, never in a URL) gets
//! the same id every time (`token::seat_peer_id`). A websocket that
//! drops (no close frame: a lost network, the silence timeout) leaves its
//! seat *away*: the host's for the host grace, a client's for the client
//! grace. Its peer links may well still work, and the same id coming back
//! takes the same seat, even in a full room. A client that closes its
//! websocket frees its seat at once, and so does its host by removing it;
//! a removed id stays out of the room.

use crate::{code, signals::Direction};
use bevy_p2p_protocol::{CreatedRoom, ErrorCode, RoomInfo, RoomState};
use std::{
    collections::{HashMap, hash_map::Entry},
    fmt,
    hash::Hash,
    time::{Duration, Instant},
};
use tracing::{debug, info};

/// How long a seat stays held for an accepted upgrade whose websocket never started.
pub(crate) const RESERVATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a host ticket is good for: it is fetched right before the
/// websocket opens.
pub(crate) const HOST_TICKET_LIFETIME: Duration = Duration::from_secs(30);

/// Host tickets a room keeps at once (a retrying host may ask for several);
/// the oldest goes first.
const HOST_TICKETS_KEPT: usize = 4;

/// Seat tickets a room keeps at once, per player it holds: each player may
/// have a couple in flight (a retry). The oldest goes first, so asking for
/// many fills nothing.
const SEAT_TICKETS_PER_PLAYER: usize = 2;

/// Attempts at drawing a code that no live room uses before giving up.
const CODE_ATTEMPTS: usize = 64;

/// The limits every room is created with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Players per room, host included (at least 1): the most a host may
    /// ask for, and what it gets when it asks for nothing.
    pub(crate) capacity: usize,
    /// How long the host seat is kept for a host that dropped.
    pub(crate) host_grace: Duration,
    /// How long a client seat is kept for a client whose websocket dropped.
    pub(crate) client_grace: Duration,
    /// How long a room whose host never connected lives, waiting clients
    /// and all.
    pub(crate) unclaimed_expiry: Duration,
    /// Live rooms at most: past it, creating one is refused.
    pub(crate) max_rooms: usize,
}

/// Which seat a websocket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The room's authoritative player; came with the host token.
    Host,
    /// Any other player.
    Client,
}

/// A seat held between the upgrade check and the websocket's start.
pub(crate) type Ticket = u64;

/// Something the websocket side must do after a registry change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect<P> {
    /// Send `NewPeer(client)` to `host`: in matchbox the peer that hears
    /// `NewPeer` makes the WebRTC offer, and the host is the one who offers.
    Introduce {
        /// Receives the event.
        host: P,
        /// The peer it should connect to.
        client: P,
    },
    /// Send `PeerLeft(peer)` to `to`.
    Left {
        /// Receives the event.
        to: P,
        /// The peer that left.
        peer: P,
    },
    /// Close this peer's websocket: its room is gone.
    Close(P),
    /// Close this client's websocket: its host removed it.
    Remove(P),
    /// Close this host websocket: the host came back with its token on a
    /// new one, under a new id (the old one is dead, or about to be). A
    /// peer back under its own id replaces its old websocket too, which the
    /// hub sees by itself.
    Replace(P),
}

/// Something that happened to a room, for the server's counters: the
/// registry notes them as they happen, and the hub takes them
/// ([`Registry::take_events`]) to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomEvent<P> {
    /// A room opened: created, or opened again by its host (a restart).
    Opened { code: String },
    /// A host websocket took the seat: for the first time (`back` false),
    /// or back within its grace (`back` true).
    HostJoined { code: String, back: bool },
    /// The host's websocket ended: its seat waits for the grace. `dropped`:
    /// without a close frame (its network failed, or it went silent), not
    /// a host that closed on purpose.
    HostAway { code: String, dropped: bool },
    /// A client websocket took a seat it did not hold before.
    ClientAdmitted { code: String, peer: P },
    /// A room closed, and why.
    Closed { code: String, reason: CloseReason },
}

/// Why a room closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CloseReason {
    /// Its host ended the game (`POST /api/rooms/{code}/end`).
    Ended,
    /// Its host left and did not come back within the grace.
    HostGone,
    /// Its host never connected.
    Unclaimed,
}

impl CloseReason {
    /// Every reason, for metrics that show each one, even at zero.
    pub(crate) const ALL: [Self; 3] = [Self::Ended, Self::HostGone, Self::Unclaimed];

    /// The name in metrics labels and the database.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::HostGone => "host_gone",
            Self::Unclaimed => "unclaimed",
        }
    }
}

/// A client's seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientSeat<P> {
    peer: P,
    /// Its websocket dropped then, without a close: the seat is kept for
    /// the client grace.
    away_since: Option<Instant>,
}

/// The host seat's three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostSeat<P> {
    /// Created, the host has not connected yet: clients may wait.
    NeverConnected,
    /// A websocket with the token holds the seat.
    Connected(P),
    /// The host `peer` dropped at `since`; the room closes at
    /// `since + host_grace` unless it comes back.
    Away { since: Instant, peer: P },
}

/// Peer ids a room keeps refusing after its host removed them; the oldest
/// is forgotten past this many.
const REMOVED_KEPT: usize = 64;

#[derive(Debug)]
struct Room<P> {
    host_token: String,
    /// One-time tickets for the host's websocket: the token itself never
    /// goes in the websocket's URL.
    host_tickets: Vec<SocketTicket<P>>,
    /// One-time tickets for clients' websockets, each naming the peer its
    /// seat secret stands for: the secret never goes in a URL either.
    seat_tickets: Vec<SocketTicket<P>>,
    /// Players the room holds, host included.
    capacity: usize,
    host: HostSeat<P>,
    /// Client seats in join order, away ones included.
    clients: Vec<ClientSeat<P>>,
    /// Ids its host removed: they do not come back under the same seat.
    removed: Vec<P>,
    /// A host ticket is outstanding.
    host_reserved: bool,
    /// Client tickets outstanding: they count against capacity.
    clients_reserved: usize,
    started: bool,
    /// When the room was created: a host that never comes leaves it
    /// unclaimed, closed at `created + unclaimed_expiry`.
    created: Instant,
}

impl<P: Copy + Eq> Room<P> {
    fn new(host_token: String, capacity: usize, started: bool, now: Instant) -> Self {
        Self {
            host_token,
            host_tickets: Vec::new(),
            seat_tickets: Vec::new(),
            capacity,
            host: HostSeat::NeverConnected,
            clients: Vec::new(),
            removed: Vec::new(),
            host_reserved: false,
            clients_reserved: 0,
            started,
            created: now,
        }
    }

    /// Players with a websocket, host included.
    fn players(&self) -> usize {
        self.present_clients().count() + usize::from(matches!(self.host, HostSeat::Connected(_)))
    }

    /// Clients whose websocket is up.
    fn present_clients(&self) -> impl Iterator<Item = P> + '_ {
        self.clients
            .iter()
            .filter(|seat| seat.away_since.is_none())
            .map(|seat| seat.peer)
    }

    fn client_seat(&mut self, peer: P) -> Option<&mut ClientSeat<P>> {
        self.clients.iter_mut().find(|seat| seat.peer == peer)
    }

    fn state(&self) -> RoomState {
        match (self.host, self.started) {
            (HostSeat::Away { .. }, _) => RoomState::HostAway,
            (_, true) => RoomState::Playing,
            (_, false) => RoomState::Waiting,
        }
    }
}

/// A one-time websocket ticket: its secret, the peer it seats (for a host
/// that named no seat secret: none, a new id), and its expiry.
#[derive(Debug)]
struct SocketTicket<P> {
    secret: String,
    peer: Option<P>,
    expires: Instant,
}

/// Keeps `ticket` among `tickets`, dropping expired ones and, past `kept`,
/// the oldest.
fn keep_ticket<P>(
    tickets: &mut Vec<SocketTicket<P>>,
    ticket: SocketTicket<P>,
    kept: usize,
    now: Instant,
) {
    tickets.retain(|held| held.expires > now);
    if tickets.len() >= kept {
        tickets.remove(0);
    }
    tickets.push(ticket);
}

/// The live ticket among `tickets` whose secret is `presented`, if any.
fn find_ticket<P>(tickets: &[SocketTicket<P>], presented: &str, now: Instant) -> Option<usize> {
    tickets
        .iter()
        .position(|held| held.expires > now && crate::token::matches(presented, &held.secret))
}

#[derive(Debug)]
struct Reservation<P> {
    code: String,
    role: Role,
    /// The peer the seat is for.
    peer: P,
    /// A client back to a seat it kept: it counts against no capacity.
    returning: bool,
    since: Instant,
}

/// Every live room and every seated peer, generic over the peer id so tests
/// can use small integers.
#[derive(Debug)]
pub(crate) struct Registry<P> {
    settings: Settings,
    rooms: HashMap<String, Room<P>>,
    /// Seated peer -> its room's code.
    seats: HashMap<P, String>,
    tickets: HashMap<Ticket, Reservation<P>>,
    next_ticket: Ticket,
    /// What happened since the last [`Registry::take_events`].
    events: Vec<RoomEvent<P>>,
}

impl<P: Copy + Eq + Hash + fmt::Display> Registry<P> {
    /// An empty registry whose rooms all get `settings`.
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            rooms: HashMap::new(),
            seats: HashMap::new(),
            tickets: HashMap::new(),
            next_ticket: 0,
            events: Vec::new(),
        }
    }

    /// What happened to rooms since the last call, oldest first.
    pub(crate) fn take_events(&mut self) -> Vec<RoomEvent<P>> {
        std::mem::take(&mut self.events)
    }

    /// Whether anything happened since the last [`Registry::take_events`].
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Opens a room with a code no live room uses.
    ///
    /// `fresh_code` supplies randomness (the OS CSPRNG in the server, fixed
    /// values in tests), and `issue_token` the host token for the code
    /// drawn.
    ///
    /// The room holds `capacity` players when the host asks for a number
    /// (at most the server's), else the server's capacity.
    pub(crate) fn create(
        &mut self,
        now: Instant,
        capacity: Option<usize>,
        mut fresh_code: impl FnMut() -> Result<String, ErrorCode>,
        issue_token: impl FnOnce(&str) -> Result<String, ErrorCode>,
    ) -> Result<CreatedRoom, ErrorCode> {
        let capacity = match capacity {
            Some(0) => return Err(ErrorCode::BadRequest),
            Some(asked) => asked.min(self.settings.capacity),
            None => self.settings.capacity,
        };
        if self.rooms.len() >= self.settings.max_rooms {
            return Err(ErrorCode::ServerFull);
        }
        for _ in 0..CODE_ATTEMPTS {
            let code = fresh_code()?;
            let Entry::Vacant(slot) = self.rooms.entry(code.clone()) else {
                continue;
            };
            let host_token = issue_token(&code)?;
            slot.insert(Room::new(host_token.clone(), capacity, false, now));
            info!(code = %code::redacted(&code), capacity, rooms = self.rooms.len(), "room created");
            self.events.push(RoomEvent::Opened { code: code.clone() });
            // The HTTP layer adds the share link: it knows the public URL.
            return Ok(CreatedRoom {
                code,
                host_token,
                capacity,
                share_url: None,
            });
        }
        Err(ErrorCode::Internal)
    }

    /// What `GET /api/rooms/{code}` reports at `now`. `code` may be user
    /// input.
    pub(crate) fn info_at(&self, code: &str, now: Instant) -> Result<RoomInfo, ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get(&code).ok_or(ErrorCode::RoomNotFound)?;
        let closes_in_secs = match room.host {
            HostSeat::Away { since, .. } => {
                let left = (since + self.settings.host_grace).saturating_duration_since(now);
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => None,
        };
        Ok(RoomInfo {
            players: room.players(),
            capacity: room.capacity,
            host_connected: matches!(room.host, HostSeat::Connected(_)),
            state: room.state(),
            code,
            share_url: None,
            closes_in_secs,
        })
    }

    /// The host (`host_token`) opens its room `code` again on a server that
    /// lost it (a restart). `is_the_rooms` tells whether a token was issued
    /// for a code by this server's room key. A room still here is only
    /// checked. Returns the room's info and whether it was opened anew; a
    /// room opened anew waits for its host like a new one.
    pub(crate) fn reclaim(
        &mut self,
        code: &str,
        host_token: Option<&str>,
        is_the_rooms: impl FnOnce(&str, &str) -> bool,
        asked: (Option<usize>, bool),
        now: Instant,
    ) -> Result<(RoomInfo, bool), ErrorCode> {
        let code = code::normalize(code)?;
        let token = host_token.ok_or(ErrorCode::BadHostToken)?;
        if let Some(room) = self.rooms.get(&code) {
            if !crate::token::matches(token, &room.host_token) {
                return Err(ErrorCode::BadHostToken);
            }
            return Ok((self.info_at(&code, now)?, false));
        }
        if !is_the_rooms(&code, token) {
            return Err(ErrorCode::BadHostToken);
        }
        let (capacity, started) = asked;
        let capacity = match capacity {
            Some(0) => return Err(ErrorCode::BadRequest),
            Some(asked) => asked.min(self.settings.capacity),
            None => self.settings.capacity,
        };
        if self.rooms.len() >= self.settings.max_rooms {
            return Err(ErrorCode::ServerFull);
        }
        self.rooms.insert(
            code.clone(),
            Room::new(token.to_owned(), capacity, started, now),
        );
        info!(code = %code::redacted(&code), capacity, "room opened again by its host");
        self.events.push(RoomEvent::Opened { code: code.clone() });
        Ok((self.info_at(&code, now)?, true))
    }

    /// [`Registry::info_at`] now.
    #[cfg(test)]
    pub(crate) fn info(&self, code: &str) -> Result<RoomInfo, ErrorCode> {
        self.info_at(code, Instant::now())
    }

    /// Marks the room as playing, if `host_token` is the room's.
    pub(crate) fn start(&mut self, code: &str, host_token: Option<&str>) -> Result<(), ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        if !host_token.is_some_and(|token| crate::token::matches(token, &room.host_token)) {
            return Err(ErrorCode::BadHostToken);
        }
        if !room.started {
            room.started = true;
            info!(code = %code::redacted(&code), players = room.players(), "game started");
        }
        Ok(())
    }

    /// The host (`host_token`) ends its game: the room closes now, its
    /// websockets (the host's too) are closed, and the host's own close
    /// that follows is no disconnect. Returns the websockets to close.
    pub(crate) fn end(
        &mut self,
        code: &str,
        host_token: Option<&str>,
    ) -> Result<Vec<Effect<P>>, ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get(&code).ok_or(ErrorCode::RoomNotFound)?;
        if !host_token.is_some_and(|token| crate::token::matches(token, &room.host_token)) {
            return Err(ErrorCode::BadHostToken);
        }
        info!(code = %code::redacted(&code), players = room.players(), "room closed: its host ended the game");
        Ok(self.close_room(&code, CloseReason::Ended))
    }

    /// Removes room `code` and every seat in it, and says why it closed.
    /// Returns the websockets to close: its host's and its present clients'.
    fn close_room(&mut self, code: &str, reason: CloseReason) -> Vec<Effect<P>> {
        let Some(room) = self.rooms.remove(code) else {
            return Vec::new();
        };
        let mut effects: Vec<Effect<P>> = room.present_clients().map(Effect::Close).collect();
        if let HostSeat::Connected(host) = room.host {
            self.seats.remove(&host);
            effects.push(Effect::Close(host));
        }
        for client in room.clients {
            self.seats.remove(&client.peer);
        }
        // Tickets of the gone room fail at `join`; drop them now.
        self.tickets
            .retain(|_, reservation| reservation.code != code);
        self.events.push(RoomEvent::Closed {
            code: code.to_owned(),
            reason,
        });
        effects
    }

    /// The host (`host_token`) removes `peer` from its room: its websocket
    /// is to be closed, which frees its seat. Nothing to do for a peer that
    /// is not a client of this room, or no peer at all (`None`: an id that
    /// names none), once the token is checked.
    pub(crate) fn remove_client(
        &mut self,
        code: &str,
        host_token: Option<&str>,
        peer: Option<P>,
    ) -> Result<Vec<Effect<P>>, ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        if !host_token.is_some_and(|token| crate::token::matches(token, &room.host_token)) {
            return Err(ErrorCode::BadHostToken);
        }
        let Some(peer) = peer.filter(|&peer| room.client_seat(peer).is_some()) else {
            return Ok(Vec::new());
        };
        // The seat goes now, away or not, and the id stays out.
        room.clients.retain(|seat| seat.peer != peer);
        self.seats.remove(&peer);
        if room.removed.len() >= REMOVED_KEPT {
            room.removed.remove(0);
        }
        room.removed.push(peer);
        info!(code = %code::redacted(&code), %peer, "client removed by its host");
        let mut effects = vec![Effect::Remove(peer)];
        if let HostSeat::Connected(host) = room.host {
            effects.push(Effect::Left { to: host, peer });
        }
        Ok(effects)
    }

    /// Gives the host (`host_token`) a one-time `ticket` for its websocket,
    /// good until `now` + [`HOST_TICKET_LIFETIME`], that seats it as `peer`
    /// (the id its seat secret stands for) or, for `None`, as a new id.
    pub(crate) fn issue_host_ticket(
        &mut self,
        code: &str,
        host_token: Option<&str>,
        ticket: String,
        peer: Option<P>,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        if !host_token.is_some_and(|token| crate::token::matches(token, &room.host_token)) {
            return Err(ErrorCode::BadHostToken);
        }
        let ticket = SocketTicket {
            secret: ticket,
            peer,
            expires: now + HOST_TICKET_LIFETIME,
        };
        keep_ticket(&mut room.host_tickets, ticket, HOST_TICKETS_KEPT, now);
        Ok(())
    }

    /// Gives a client a one-time `ticket` for its websocket, good until
    /// `now` + [`HOST_TICKET_LIFETIME`], that seats it as `peer` (the id its
    /// seat secret stands for). Whether there is a seat for it is decided
    /// when the websocket comes; an id its host removed is refused here
    /// already. `code` may be user input.
    pub(crate) fn issue_seat_ticket(
        &mut self,
        code: &str,
        ticket: String,
        peer: P,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        if room.removed.contains(&peer) {
            return Err(ErrorCode::RemovedByHost);
        }
        let ticket = SocketTicket {
            secret: ticket,
            peer: Some(peer),
            expires: now + HOST_TICKET_LIFETIME,
        };
        let kept = room.capacity.max(1) * SEAT_TICKETS_PER_PLAYER;
        keep_ticket(&mut room.seat_tickets, ticket, kept, now);
        Ok(())
    }

    /// The peer a client's seat `ticket` for room `code` stands for; the
    /// ticket is used up.
    pub(crate) fn redeem_seat_ticket(
        &mut self,
        code: &str,
        ticket: &str,
        now: Instant,
    ) -> Result<P, ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        let found = find_ticket(&room.seat_tickets, ticket, now).ok_or(ErrorCode::BadTicket)?;
        let redeemed = room.seat_tickets.swap_remove(found);
        redeemed.peer.ok_or(ErrorCode::BadTicket)
    }

    /// The peer a live host `ticket` of room `code` seats, if it names one
    /// (the ticket stays: [`Self::reserve`] uses it up).
    pub(crate) fn host_ticket_peer(&self, code: &str, ticket: &str, now: Instant) -> Option<P> {
        let room = self.rooms.get(&code::normalize(code).ok()?)?;
        let found = find_ticket(&room.host_tickets, ticket, now)?;
        room.host_tickets[found].peer
    }

    /// Holds a seat for `peer`'s websocket about to open: the host seat when
    /// a host ticket is given (it is used up), else a client seat: the one
    /// `peer` kept, if it has one here, else a free one. `code` may be user
    /// input.
    pub(crate) fn reserve(
        &mut self,
        code: &str,
        host_ticket: Option<&str>,
        peer: P,
        now: Instant,
    ) -> Result<Ticket, ErrorCode> {
        let code = code::normalize(code)?;
        let room = self.rooms.get_mut(&code).ok_or(ErrorCode::RoomNotFound)?;
        if self.tickets.values().any(|held| held.peer == peer) {
            // One upgrade at a time per peer id.
            return Err(ErrorCode::Busy);
        }
        let mut returning = false;
        let role = match host_ticket {
            Some(ticket) => {
                let Some(valid) = find_ticket(&room.host_tickets, ticket, now) else {
                    return Err(ErrorCode::BadHostToken);
                };
                room.host_tickets.swap_remove(valid);
                // A host seat held by a websocket is taken over: only the
                // token's holder gets here, and a host whose network died
                // without a word must not wait for its old socket to be
                // found silent. Two at once: the first wins.
                if room.host_reserved {
                    return Err(ErrorCode::HostSeatTaken);
                }
                room.host_reserved = true;
                Role::Host
            }
            None if matches!(room.host, HostSeat::Connected(host) | HostSeat::Away { peer: host, .. } if host == peer) =>
            {
                // The host's own id without its ticket: not a client's.
                return Err(ErrorCode::BadHostToken);
            }
            None if room.removed.contains(&peer) => return Err(ErrorCode::RemovedByHost),
            None if room.client_seat(peer).is_some() => {
                returning = true;
                Role::Client
            }
            None => {
                // The host seat is never given to a client: clients get the rest.
                let client_seats = room.capacity.saturating_sub(1);
                if room.clients.len() + room.clients_reserved >= client_seats {
                    return Err(ErrorCode::RoomFull);
                }
                room.clients_reserved += 1;
                Role::Client
            }
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.insert(
            ticket,
            Reservation {
                code,
                role,
                peer,
                returning,
                since: now,
            },
        );
        Ok(ticket)
    }

    /// Gives back a ticket's seat without joining.
    pub(crate) fn cancel(&mut self, ticket: Ticket) {
        if let Some(reservation) = self.tickets.remove(&ticket) {
            self.release(&reservation);
        }
    }

    /// Whether a ticket still holds its seat.
    #[cfg(test)]
    pub(crate) fn has_ticket(&self, ticket: Ticket) -> bool {
        self.tickets.contains_key(&ticket)
    }

    fn release(&mut self, reservation: &Reservation<P>) {
        let Some(room) = self.rooms.get_mut(&reservation.code) else {
            return;
        };
        match reservation.role {
            Role::Host => room.host_reserved = false,
            Role::Client if reservation.returning => {}
            Role::Client => room.clients_reserved = room.clients_reserved.saturating_sub(1),
        }
    }

    /// Seats `peer` with the seat `ticket` held for it, in room `code` (the
    /// websocket's path, which must name the ticket's room).
    ///
    /// Returns the room's canonical code, the seat, and the introductions to send.
    pub(crate) fn join(
        &mut self,
        ticket: Ticket,
        peer: P,
        code: &str,
    ) -> Result<(String, Role, Vec<Effect<P>>), ErrorCode> {
        let reservation = self
            .tickets
            .remove(&ticket)
            .ok_or(ErrorCode::RoomNotFound)?;
        let seated_elsewhere = self
            .seats
            .get(&peer)
            .is_some_and(|room| *room != reservation.code);
        if code::normalize(code).as_deref() != Ok(reservation.code.as_str())
            || reservation.peer != peer
            || seated_elsewhere
        {
            // Cannot happen with matchbox's handler; refuse rather than seat a peer twice.
            self.release(&reservation);
            return Err(ErrorCode::Busy);
        }
        let Some(room) = self.rooms.get_mut(&reservation.code) else {
            return Err(ErrorCode::RoomNotFound);
        };
        let mut effects = Vec::new();
        match reservation.role {
            Role::Host => {
                room.host_reserved = false;
                let back = matches!(room.host, HostSeat::Away { .. });
                let first = matches!(room.host, HostSeat::NeverConnected);
                match room.host {
                    HostSeat::Connected(old) if old != peer => {
                        // The clients drop their links to the old id; the
                        // new one offers them fresh ones below.
                        effects.extend(room.present_clients().map(|client| Effect::Left {
                            to: client,
                            peer: old,
                        }));
                        effects.push(Effect::Replace(old));
                        self.seats.remove(&old);
                        info!(code = %code::redacted(&reservation.code), %old, "host seat taken over");
                    }
                    HostSeat::Connected(_) => {
                        info!(code = %code::redacted(&reservation.code), %peer, "host back on a new websocket");
                    }
                    _ => {}
                }
                room.host = HostSeat::Connected(peer);
                // A returning host gets every client again: links still up
                // ignore it, dead ones are offered anew from its side.
                effects.extend(
                    room.present_clients()
                        .map(|client| Effect::Introduce { host: peer, client }),
                );
                info!(
                    code = %code::redacted(&reservation.code),
                    %peer,
                    players = room.players(),
                    capacity = room.capacity,
                    "{}",
                    if back { "host back" } else { "host joined" }
                );
                if back || first {
                    self.events.push(RoomEvent::HostJoined {
                        code: reservation.code.clone(),
                        back,
                    });
                }
            }
            Role::Client => {
                let back = match room.client_seat(peer) {
                    Some(seat) => {
                        seat.away_since = None;
                        true
                    }
                    None => {
                        if reservation.returning {
                            // Its kept seat expired between the upgrade
                            // and now: it needs a free one like anyone.
                            if room.clients.len() + room.clients_reserved
                                >= room.capacity.saturating_sub(1)
                            {
                                return Err(ErrorCode::RoomFull);
                            }
                        } else {
                            room.clients_reserved = room.clients_reserved.saturating_sub(1);
                        }
                        room.clients.push(ClientSeat {
                            peer,
                            away_since: None,
                        });
                        false
                    }
                };
                // Also for a client back: if its link to the host died, the
                // host offers a new one (a live link ignores this).
                if let HostSeat::Connected(host) = room.host {
                    effects.push(Effect::Introduce { host, client: peer });
                }
                info!(
                    code = %code::redacted(&reservation.code),
                    %peer,
                    players = room.players(),
                    capacity = room.capacity,
                    "{}",
                    if back { "client back" } else { "client joined" }
                );
                if !back {
                    self.events.push(RoomEvent::ClientAdmitted {
                        code: reservation.code.clone(),
                        peer,
                    });
                }
            }
        }
        self.seats.insert(peer, reservation.code.clone());
        Ok((reservation.code, reservation.role, effects))
    }

    /// `peer`'s websocket ended, closed (on purpose, or for what it sent) or
    /// dropped: frees or keeps its seat, and says who must hear of it.
    pub(crate) fn leave(&mut self, peer: P, closed: bool, now: Instant) -> Vec<Effect<P>> {
        let Some(code) = self.seats.get(&peer).cloned() else {
            // Already gone: its room closed and kicked it.
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&code) else {
            self.seats.remove(&peer);
            return Vec::new();
        };
        let mut effects = Vec::new();
        if room.host == HostSeat::Connected(peer) {
            self.seats.remove(&peer);
            room.host = HostSeat::Away { since: now, peer };
            effects.extend(
                room.present_clients()
                    .map(|client| Effect::Left { to: client, peer }),
            );
            info!(
                code = %code::redacted(&code),
                %peer,
                players = room.players(),
                grace_secs = self.settings.host_grace.as_secs_f32(),
                "host away"
            );
            self.events.push(RoomEvent::HostAway {
                code: code.clone(),
                dropped: !closed,
            });
        } else {
            // Dropped, the seat waits; closed, it is free. Either way the
            // host hears its signaling is gone (a live link stays up).
            if closed {
                room.clients.retain(|seat| seat.peer != peer);
                self.seats.remove(&peer);
            } else if let Some(seat) = room.client_seat(peer) {
                seat.away_since = Some(now);
            }
            if let HostSeat::Connected(host) = room.host {
                effects.push(Effect::Left { to: host, peer });
            }
            info!(
                code = %code::redacted(&code),
                %peer,
                players = room.players(),
                "{}",
                if closed { "client left" } else { "client away" }
            );
        }
        effects
    }

    /// Whether `from` may signal `to`, and which way: only between a room's
    /// host and one of its own clients, in either direction.
    pub(crate) fn signal_direction(&self, from: P, to: P) -> Option<Direction> {
        let (from_room, to_room) = (self.seats.get(&from)?, self.seats.get(&to)?);
        if from_room != to_room {
            return None;
        }
        let HostSeat::Connected(host) = self.rooms.get(from_room)?.host else {
            return None;
        };
        match (from == host, to == host) {
            (true, false) => Some(Direction::HostToClient),
            (false, true) => Some(Direction::ClientToHost),
            _ => None,
        }
    }

    /// Runs the clocks: releases stale tickets, closes rooms whose host did
    /// not come back within the grace, and rooms whose host never came.
    /// Returns the websockets to close.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Effect<P>> {
        let stale: Vec<Ticket> = self
            .tickets
            .iter()
            .filter(|(_, reservation)| now.duration_since(reservation.since) >= RESERVATION_TIMEOUT)
            .map(|(&ticket, _)| ticket)
            .collect();
        for ticket in stale {
            if let Some(reservation) = self.tickets.remove(&ticket) {
                debug!(
                    code = %code::redacted(&reservation.code),
                    "releasing a seat whose websocket never started"
                );
                self.release(&reservation);
            }
        }

        let Settings {
            host_grace,
            client_grace,
            unclaimed_expiry,
            ..
        } = self.settings;
        for (code, room) in &mut self.rooms {
            room.clients.retain(|seat| {
                let expired = seat
                    .away_since
                    .is_some_and(|since| now.duration_since(since) >= client_grace);
                if expired {
                    self.seats.remove(&seat.peer);
                    info!(code = %code::redacted(code), peer = %seat.peer, "client seat freed: it did not come back");
                }
                !expired
            });
        }
        let mut gone = Vec::new();
        for (code, room) in &self.rooms {
            let (why, reason) = match room.host {
                HostSeat::Away { since, .. } if now.duration_since(since) >= host_grace => {
                    ("room closed: host did not come back", CloseReason::HostGone)
                }
                HostSeat::NeverConnected
                    if now.duration_since(room.created) >= unclaimed_expiry =>
                {
                    ("room closed: its host never came", CloseReason::Unclaimed)
                }
                _ => continue,
            };
            info!(code = %code::redacted(code), clients = room.clients.len(), "{why}");
            gone.push((code.clone(), reason));
        }
        gone.into_iter()
            .flat_map(|(code, reason)| self.close_room(&code, reason))
            .collect()
    }

    /// Live rooms.
    #[cfg(test)]
    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// A peer id no test uses otherwise, for a reservation that is not joined.
    fn fresh_peer() -> u32 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1_000);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    fn token(_code: &str) -> Result<String, ErrorCode> {
        Ok(TOKEN.to_owned())
    }

    fn settings() -> Settings {
        Settings {
            capacity: 3,
            host_grace: Duration::from_secs(30),
            client_grace: Duration::from_secs(20),
            unclaimed_expiry: Duration::from_secs(120),
            max_rooms: 3,
        }
    }

    fn registry_with_room(now: Instant) -> (Registry<u32>, String) {
        let mut registry = Registry::new(settings());
        let created = registry
            .create(now, None, || Ok("ABC234".to_owned()), token)
            .expect("room");
        (registry, created.code)
    }

    /// A host ticket for `token`, as the host would fetch it.
    fn host_ticket(registry: &mut Registry<u32>, code: &str, token: &str, now: Instant) -> String {
        let ticket = format!("ticket-{}", registry.next_ticket);
        registry
            .issue_host_ticket(code, Some(token), ticket.clone(), None, now)
            .expect("a ticket for the token");
        ticket
    }

    fn seat(
        registry: &mut Registry<u32>,
        code: &str,
        token: Option<&str>,
        peer: u32,
        now: Instant,
    ) -> Vec<Effect<u32>> {
        let ticket = token.map(|token| host_ticket(registry, code, token, now));
        let ticket = registry
            .reserve(code, ticket.as_deref(), peer, now)
            .expect("reserve");
        registry.join(ticket, peer, code).expect("join").2
    }

    #[test]
    fn a_host_that_ends_its_game_closes_the_room_at_once() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        seat(&mut registry, &code, Some(TOKEN), 1, start);
        seat(&mut registry, &code, None, 10, start);
        seat(&mut registry, &code, None, 11, start);
        // One client dropped: its seat waits, but nobody is there to close.
        registry.leave(11, false, start);
        registry.take_events();
        assert_eq!(registry.end(&code, None), Err(ErrorCode::BadHostToken));
        assert_eq!(
            registry.end(&code, Some("not-the-token")),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.end("ZZZ234", Some(TOKEN)),
            Err(ErrorCode::RoomNotFound)
        );
        let effects = registry
            .end(&code.to_lowercase(), Some(TOKEN))
            .expect("ended");
        assert_eq!(effects, vec![Effect::Close(10), Effect::Close(1)]);
        assert_eq!(registry.info(&code), Err(ErrorCode::RoomNotFound));
        assert_eq!(
            registry.take_events(),
            vec![RoomEvent::Closed {
                code: code.clone(),
                reason: CloseReason::Ended
            }]
        );
        // The host's socket closing afterwards is no disconnect, and no one
        // holds a seat any more.
        assert_eq!(registry.leave(1, false, start), Vec::new());
        assert_eq!(registry.leave(10, true, start), Vec::new());
        assert!(registry.take_events().is_empty());
        assert!(registry.seats.is_empty());
    }

    #[test]
    fn the_registry_notes_what_happens_to_rooms() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        let opened = RoomEvent::Opened { code: code.clone() };
        assert_eq!(registry.take_events(), vec![opened]);
        seat(&mut registry, &code, Some(TOKEN), 1, start);
        seat(&mut registry, &code, None, 10, start);
        // A client back to the seat it kept is no new admission.
        registry.leave(10, false, start);
        seat(&mut registry, &code, None, 10, start);
        // The host taking its seat over from a stale socket is no return.
        seat(&mut registry, &code, Some(TOKEN), 2, start);
        registry.leave(2, false, start);
        seat(&mut registry, &code, Some(TOKEN), 3, start);
        registry.leave(3, true, start);
        registry.tick(start + settings().host_grace);
        assert!(registry.has_events());
        assert_eq!(
            registry.take_events(),
            vec![
                RoomEvent::HostJoined {
                    code: code.clone(),
                    back: false
                },
                RoomEvent::ClientAdmitted {
                    code: code.clone(),
                    peer: 10
                },
                RoomEvent::HostAway {
                    code: code.clone(),
                    dropped: true
                },
                RoomEvent::HostJoined {
                    code: code.clone(),
                    back: true
                },
                RoomEvent::HostAway {
                    code: code.clone(),
                    dropped: false
                },
                RoomEvent::Closed {
                    code,
                    reason: CloseReason::HostGone
                },
            ]
        );
        assert!(!registry.has_events());
        // A room whose host never came closes as unclaimed.
        registry
            .create(start, None, || Ok("XYZ789".to_owned()), token)
            .expect("room");
        registry.tick(start + settings().unclaimed_expiry);
        assert_eq!(
            registry.take_events().last(),
            Some(&RoomEvent::Closed {
                code: "XYZ789".into(),
                reason: CloseReason::Unclaimed
            })
        );
    }

    #[test]
    fn codes_stay_unique() {
        let now = Instant::now();
        let mut registry: Registry<u32> = Registry::new(settings());
        let mut draws = ["AAAAAA", "AAAAAA", "BBBBBB"].into_iter();
        let first = registry.create(
            now,
            None,
            || Ok(draws.next().unwrap_or("ZZZZZZ").to_owned()),
            token,
        );
        let second = registry.create(
            now,
            None,
            || Ok(draws.next().unwrap_or("ZZZZZZ").to_owned()),
            token,
        );
        assert_eq!(first.map(|c| c.code), Ok("AAAAAA".to_owned()));
        assert_eq!(second.map(|c| c.code), Ok("BBBBBB".to_owned()));
        // A generator stuck on a taken code gives up instead of looping.
        let stuck = registry.create(now, None, || Ok("AAAAAA".to_owned()), token);
        assert_eq!(stuck, Err(ErrorCode::Internal));
    }

    #[test]
    fn a_host_asks_for_a_smaller_room_never_a_bigger_one() {
        let now = Instant::now();
        let mut registry: Registry<u32> = Registry::new(settings());
        let small = registry
            .create(now, Some(2), || Ok("AAAAAA".to_owned()), token)
            .expect("room");
        assert_eq!(small.capacity, 2);
        assert_eq!(registry.info("AAAAAA").map(|i| i.capacity), Ok(2));
        // The host and one client fill it: the next client is refused.
        seat(&mut registry, "AAAAAA", Some(TOKEN), 1, now);
        seat(&mut registry, "AAAAAA", None, 2, now);
        assert_eq!(
            registry.reserve("AAAAAA", None, fresh_peer(), now),
            Err(ErrorCode::RoomFull)
        );
        let capped = registry
            .create(now, Some(99), || Ok("BBBBBB".to_owned()), token)
            .expect("room");
        assert_eq!(capped.capacity, settings().capacity);
        assert_eq!(
            registry.create(now, Some(0), || Ok("CCCCCC".to_owned()), token),
            Err(ErrorCode::BadRequest)
        );
    }

    #[test]
    fn only_the_host_removes_and_only_its_own_clients() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 2, now);
        let other = registry
            .create(
                now,
                None,
                || Ok("XYZ789".to_owned()),
                |_| Ok("f".repeat(32)),
            )
            .expect("room")
            .code;
        seat(&mut registry, &other, Some(&"f".repeat(32)), 8, now);
        seat(&mut registry, &other, None, 9, now);
        assert_eq!(
            registry.remove_client(&code, None, Some(2)),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.remove_client(&code, Some(&"f".repeat(32)), Some(2)),
            Err(ErrorCode::BadHostToken)
        );
        // Not the host itself, not another room's client, not no one.
        assert_eq!(registry.remove_client(&code, Some(TOKEN), None), Ok(vec![]));
        assert_eq!(
            registry.remove_client(&code, None, None),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.remove_client(&code, Some(TOKEN), Some(1)),
            Ok(vec![])
        );
        assert_eq!(
            registry.remove_client(&code, Some(TOKEN), Some(9)),
            Ok(vec![])
        );
        assert_eq!(
            registry.remove_client(&code, Some(TOKEN), Some(2)),
            Ok(vec![Effect::Remove(2), Effect::Left { to: 1, peer: 2 }])
        );
        // The seat is gone at once, and not kept for its return: the end of
        // its websocket changes nothing.
        assert_eq!(registry.info(&code).map(|i| i.players), Ok(1));
        assert!(registry.leave(2, false, now).is_empty());
        assert!(registry.signal_direction(1, 2).is_none());
    }

    #[test]
    fn reserve_checks_code_token_and_capacity() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        assert_eq!(
            registry.reserve("ABC12", None, fresh_peer(), now),
            Err(ErrorCode::InvalidCode)
        );
        assert_eq!(
            registry.reserve("ZZZZZZ", None, fresh_peer(), now),
            Err(ErrorCode::RoomNotFound)
        );
        assert_eq!(
            registry.reserve(&code, Some("nope"), fresh_peer(), now),
            Err(ErrorCode::BadHostToken)
        );
        // Lower case and whitespace are accepted.
        assert!(
            registry
                .reserve(" abc234 ", None, fresh_peer(), now)
                .is_ok()
        );
        assert!(registry.reserve(&code, None, fresh_peer(), now).is_ok());
        // Capacity 3 = host + 2 clients; reservations count.
        assert_eq!(
            registry.reserve(&code, None, fresh_peer(), now),
            Err(ErrorCode::RoomFull)
        );
        // The host seat is separate; two hosts racing for it: one wins.
        let first = host_ticket(&mut registry, &code, TOKEN, now);
        let host = registry
            .reserve(&code, Some(&first), fresh_peer(), now)
            .expect("host seat");
        let second = host_ticket(&mut registry, &code, TOKEN, now);
        assert_eq!(
            registry.reserve(&code, Some(&second), fresh_peer(), now),
            Err(ErrorCode::HostSeatTaken)
        );
        registry.cancel(host);
        let third = host_ticket(&mut registry, &code, TOKEN, now);
        assert!(
            registry
                .reserve(&code, Some(&third), fresh_peer(), now)
                .is_ok()
        );
    }

    #[test]
    fn a_host_ticket_is_for_its_token_once_and_briefly() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        assert_eq!(
            registry.issue_host_ticket(&code, Some("nope"), "t".into(), None, now),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.issue_host_ticket(&code, None, "t".into(), None, now),
            Err(ErrorCode::BadHostToken)
        );
        // The token itself is no ticket.
        assert_eq!(
            registry.reserve(&code, Some(TOKEN), fresh_peer(), now),
            Err(ErrorCode::BadHostToken)
        );
        // Used once.
        let ticket = host_ticket(&mut registry, &code, TOKEN, now);
        let seat = registry
            .reserve(&code, Some(&ticket), fresh_peer(), now)
            .expect("seat");
        registry.cancel(seat);
        assert_eq!(
            registry.reserve(&code, Some(&ticket), fresh_peer(), now),
            Err(ErrorCode::BadHostToken)
        );
        // Good for its lifetime only.
        let ticket = host_ticket(&mut registry, &code, TOKEN, now);
        assert_eq!(
            registry.reserve(
                &code,
                Some(&ticket),
                fresh_peer(),
                now + HOST_TICKET_LIFETIME
            ),
            Err(ErrorCode::BadHostToken)
        );
        // A room keeps a few at once, the newest.
        let tickets: Vec<String> = (0..=HOST_TICKETS_KEPT)
            .map(|i| {
                let ticket = format!("many-{i}");
                registry
                    .issue_host_ticket(&code, Some(TOKEN), ticket.clone(), None, now)
                    .expect("issued");
                ticket
            })
            .collect();
        assert_eq!(
            registry.reserve(&code, Some(&tickets[0]), fresh_peer(), now),
            Err(ErrorCode::BadHostToken)
        );
        assert!(
            registry
                .reserve(&code, Some(&tickets[HOST_TICKETS_KEPT]), fresh_peer(), now)
                .is_ok()
        );
    }

    #[test]
    fn a_seat_ticket_names_its_peer_once_briefly_and_never_a_removed_one() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        registry
            .issue_seat_ticket(&code, "seat-a".into(), 7, now)
            .expect("issued");
        assert_eq!(registry.redeem_seat_ticket(&code, "seat-a", now), Ok(7));
        assert_eq!(
            registry.redeem_seat_ticket(&code, "seat-a", now),
            Err(ErrorCode::BadTicket),
            "used once"
        );
        registry
            .issue_seat_ticket(&code, "seat-b".into(), 7, now)
            .expect("issued");
        assert_eq!(
            registry.redeem_seat_ticket(&code, "seat-b", now + HOST_TICKET_LIFETIME),
            Err(ErrorCode::BadTicket),
            "expired"
        );
        // A room keeps two per player it holds, the newest.
        let kept = settings().capacity * SEAT_TICKETS_PER_PLAYER;
        for i in 0..=kept {
            registry
                .issue_seat_ticket(&code, format!("many-{i}"), 100 + i as u32, now)
                .expect("issued");
        }
        assert_eq!(
            registry.redeem_seat_ticket(&code, "many-0", now),
            Err(ErrorCode::BadTicket)
        );
        assert_eq!(
            registry.redeem_seat_ticket(&code, &format!("many-{kept}"), now),
            Ok(100 + kept as u32)
        );
        // An id its host removed gets no ticket.
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 9, now);
        registry
            .remove_client(&code, Some(TOKEN), Some(9))
            .expect("removed");
        assert_eq!(
            registry.issue_seat_ticket(&code, "seat-c".into(), 9, now),
            Err(ErrorCode::RemovedByHost)
        );
    }

    #[test]
    fn host_is_introduced_to_clients_in_either_order() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        // A client waits before the host ever connects.
        assert!(seat(&mut registry, &code, None, 10, now).is_empty());
        assert_eq!(
            seat(&mut registry, &code, Some(TOKEN), 1, now),
            vec![Effect::Introduce {
                host: 1,
                client: 10
            }]
        );
        assert_eq!(
            seat(&mut registry, &code, None, 11, now),
            vec![Effect::Introduce {
                host: 1,
                client: 11
            }]
        );
        let info = registry.info(&code).expect("info");
        assert_eq!(
            (info.players, info.host_connected, info.state),
            (3, true, RoomState::Waiting)
        );
    }

    #[test]
    fn signals_only_between_host_and_own_clients() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        let other = registry
            .create(now, None, || Ok("XYZ789".to_owned()), token)
            .expect("room")
            .code;
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 10, now);
        seat(&mut registry, &code, None, 11, now);
        seat(&mut registry, &other, Some(TOKEN), 2, now);
        seat(&mut registry, &other, None, 20, now);
        assert_eq!(
            registry.signal_direction(1, 10),
            Some(Direction::HostToClient)
        );
        assert_eq!(
            registry.signal_direction(10, 1),
            Some(Direction::ClientToHost)
        );
        assert!(
            registry.signal_direction(10, 11).is_none(),
            "client to client"
        );
        assert!(
            registry.signal_direction(10, 2).is_none(),
            "to another room's host"
        );
        assert!(
            registry.signal_direction(1, 20).is_none(),
            "to another room's client"
        );
        assert!(registry.signal_direction(1, 1).is_none(), "to itself");
        assert!(registry.signal_direction(10, 99).is_none(), "to nobody");
    }

    #[test]
    fn a_host_with_its_token_takes_its_seat_over_from_a_stale_socket() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 10, now);
        assert_eq!(
            seat(&mut registry, &code, Some(TOKEN), 2, now),
            vec![
                Effect::Left { to: 10, peer: 1 },
                Effect::Replace(1),
                Effect::Introduce {
                    host: 2,
                    client: 10
                },
            ]
        );
        assert_eq!(
            registry.signal_direction(10, 2),
            Some(Direction::ClientToHost)
        );
        assert!(
            registry.signal_direction(10, 1).is_none(),
            "the old id is dead"
        );
        // The old socket's end, when it comes, changes nothing.
        assert!(registry.leave(1, true, now).is_empty());
        let info = registry.info(&code).expect("info");
        assert_eq!((info.players, info.host_connected), (2, true));
    }

    #[test]
    fn host_away_then_back_within_grace() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        seat(&mut registry, &code, Some(TOKEN), 1, start);
        seat(&mut registry, &code, None, 10, start);
        seat(&mut registry, &code, None, 11, start);
        registry.start(&code, Some(TOKEN)).expect("start");
        assert_eq!(
            registry.info(&code).map(|i| i.state),
            Ok(RoomState::Playing)
        );

        let dropped = start + Duration::from_secs(1);
        assert_eq!(
            registry.leave(1, true, dropped),
            vec![
                Effect::Left { to: 10, peer: 1 },
                Effect::Left { to: 11, peer: 1 }
            ]
        );
        let info = registry.info(&code).expect("info");
        assert_eq!(
            (info.players, info.host_connected, info.state),
            (2, false, RoomState::HostAway)
        );
        // Clients are told when the room closes, to the second, rounded up.
        let closes_in = |at| registry.info_at(&code, at).map(|i| i.closes_in_secs);
        assert_eq!(closes_in(dropped), Ok(Some(30)));
        assert_eq!(
            closes_in(dropped + Duration::from_millis(10_500)),
            Ok(Some(20))
        );
        assert_eq!(closes_in(dropped + Duration::from_secs(40)), Ok(Some(0)));
        assert!(
            registry.signal_direction(10, 1).is_none(),
            "the old host id is dead"
        );

        let back = dropped + Duration::from_secs(29);
        assert!(registry.tick(back).is_empty());
        assert_eq!(
            seat(&mut registry, &code, Some(TOKEN), 2, back),
            vec![
                Effect::Introduce {
                    host: 2,
                    client: 10
                },
                Effect::Introduce {
                    host: 2,
                    client: 11
                }
            ]
        );
        assert_eq!(
            registry.info(&code).map(|i| i.state),
            Ok(RoomState::Playing)
        );
        // The grace clock is off again.
        assert!(registry.tick(back + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn grace_expiry_closes_the_room_and_kicks_clients() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        seat(&mut registry, &code, Some(TOKEN), 1, start);
        seat(&mut registry, &code, None, 10, start);
        registry.leave(1, true, start);
        assert!(registry.tick(start + Duration::from_secs(29)).is_empty());
        assert_eq!(
            registry.tick(start + Duration::from_secs(30)),
            vec![Effect::Close(10)]
        );
        assert_eq!(registry.info(&code), Err(ErrorCode::RoomNotFound));
        // The kicked client's own disconnect finds nothing to do.
        assert!(
            registry
                .leave(10, true, start + Duration::from_secs(31))
                .is_empty()
        );
    }

    #[test]
    fn leaving_client_frees_its_seat_and_tells_the_host() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 10, now);
        seat(&mut registry, &code, None, 11, now);
        assert_eq!(
            registry.reserve(&code, None, fresh_peer(), now),
            Err(ErrorCode::RoomFull)
        );
        assert_eq!(
            registry.leave(10, true, now),
            vec![Effect::Left { to: 1, peer: 10 }]
        );
        assert!(registry.reserve(&code, None, fresh_peer(), now).is_ok());
    }

    #[test]
    fn a_room_whose_host_never_came_closes_with_its_waiting_clients() {
        let start = Instant::now();
        let unclaimed = settings().unclaimed_expiry;
        let mut registry: Registry<u32> = Registry::new(settings());
        for code in ["AAAAAA", "BBBBBB", "CCCCCC"] {
            registry
                .create(start, None, || Ok(code.to_owned()), token)
                .expect("room");
        }
        // A client waits in A; B's host comes; nobody comes to C.
        seat(&mut registry, "AAAAAA", None, 10, start);
        seat(&mut registry, "BBBBBB", Some(TOKEN), 1, start);
        let before = start + unclaimed - Duration::from_millis(1);
        assert!(registry.tick(before).is_empty());
        assert_eq!(registry.room_count(), 3);
        assert_eq!(
            registry.tick(start + unclaimed),
            vec![Effect::Close(10)],
            "the waiting client is closed with its room"
        );
        assert_eq!(registry.info("AAAAAA"), Err(ErrorCode::RoomNotFound));
        assert_eq!(registry.info("CCCCCC"), Err(ErrorCode::RoomNotFound));
        // A host that is there keeps its room for days.
        registry.tick(start + Duration::from_secs(3600 * 48));
        assert!(registry.info("BBBBBB").is_ok());
        // A host that came once and left gets its grace, not the unclaimed clock.
        let left = start + Duration::from_secs(3600 * 48);
        registry.leave(1, true, left);
        registry.tick(left + settings().host_grace - Duration::from_millis(1));
        assert!(registry.info("BBBBBB").is_ok());
        registry.tick(left + settings().host_grace);
        assert_eq!(registry.room_count(), 0);
    }

    #[test]
    fn past_the_room_cap_creating_is_refused_until_one_closes() {
        let start = Instant::now();
        let mut registry: Registry<u32> = Registry::new(settings());
        let mut codes = ["AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD", "EEEEEE"].into_iter();
        let mut create = |registry: &mut Registry<u32>, now| {
            let code = codes.next().expect("enough codes");
            registry.create(now, None, || Ok(code.to_owned()), token)
        };
        for _ in 0..settings().max_rooms {
            create(&mut registry, start).expect("under the cap");
        }
        assert_eq!(
            create(&mut registry, start).map(|room| room.code),
            Err(ErrorCode::ServerFull)
        );
        registry.tick(start + settings().unclaimed_expiry);
        assert!(create(&mut registry, start + settings().unclaimed_expiry).is_ok());
    }

    #[test]
    fn stale_tickets_release_their_seat() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        let first = registry
            .reserve(&code, None, fresh_peer(), start)
            .expect("seat");
        registry
            .reserve(&code, None, fresh_peer(), start)
            .expect("seat");
        assert_eq!(
            registry.reserve(&code, None, fresh_peer(), start),
            Err(ErrorCode::RoomFull)
        );
        registry.tick(start + RESERVATION_TIMEOUT);
        assert!(!registry.has_ticket(first));
        assert!(
            registry
                .reserve(&code, None, fresh_peer(), start + RESERVATION_TIMEOUT)
                .is_ok()
        );
    }

    #[test]
    fn start_needs_the_token() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        assert_eq!(registry.start(&code, None), Err(ErrorCode::BadHostToken));
        assert_eq!(
            registry.start(&code, Some("x")),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.start("nope!!", Some(TOKEN)),
            Err(ErrorCode::InvalidCode)
        );
        assert_eq!(registry.start(&code, Some(TOKEN)), Ok(()));
    }

    #[test]
    fn join_refuses_a_path_that_is_not_the_tickets_room() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        let ticket = registry
            .reserve(&code, None, fresh_peer(), now)
            .expect("seat");
        assert_eq!(
            registry.join(ticket, 10, "XYZ789").map(|j| j.1),
            Err(ErrorCode::Busy)
        );
        // The seat is free again.
        assert!(registry.reserve(&code, None, fresh_peer(), now).is_ok());
        assert!(registry.reserve(&code, None, fresh_peer(), now).is_ok());
    }
    #[test]
    fn a_dropped_client_keeps_its_seat_for_the_grace_even_in_a_full_room() {
        let start = Instant::now();
        let (mut registry, code) = registry_with_room(start);
        seat(&mut registry, &code, Some(TOKEN), 1, start);
        seat(&mut registry, &code, None, 10, start);
        seat(&mut registry, &code, None, 11, start);
        // Dropped without a close: the host hears its signaling is gone...
        assert_eq!(
            registry.leave(10, false, start),
            vec![Effect::Left { to: 1, peer: 10 }]
        );
        assert_eq!(registry.info(&code).map(|i| i.players), Ok(2));
        // ...but nobody else takes the seat...
        assert_eq!(
            registry.reserve(&code, None, 12, start),
            Err(ErrorCode::RoomFull)
        );
        // ...and the same peer gets it back, and is introduced again.
        let back = start + Duration::from_secs(19);
        assert!(registry.tick(back).is_empty());
        assert_eq!(
            seat(&mut registry, &code, None, 10, back),
            vec![Effect::Introduce {
                host: 1,
                client: 10
            }]
        );
        assert_eq!(registry.info(&code).map(|i| i.players), Ok(3));
        // Past the grace, the seat is free for anyone.
        registry.leave(10, false, back);
        let late = back + settings().client_grace;
        assert!(registry.tick(late).is_empty());
        assert!(registry.signal_direction(1, 10).is_none());
        let newcomer = registry
            .reserve(&code, None, 12, late)
            .expect("a free seat");
        registry.cancel(newcomer);
        // Closed on purpose, a seat is free at once.
        assert_eq!(
            registry.leave(11, true, late),
            vec![Effect::Left { to: 1, peer: 11 }]
        );
        // Both client seats are free now.
        assert!(registry.reserve(&code, None, 13, late).is_ok());
        assert!(registry.reserve(&code, None, 14, late).is_ok());
        assert_eq!(
            registry.reserve(&code, None, 15, late),
            Err(ErrorCode::RoomFull)
        );
    }

    #[test]
    fn a_peer_back_under_its_id_takes_its_seat_over() {
        let now = Instant::now();
        let (mut registry, code) = registry_with_room(now);
        seat(&mut registry, &code, Some(TOKEN), 1, now);
        seat(&mut registry, &code, None, 10, now);
        // The client's new websocket before the server saw the old one die.
        assert_eq!(
            seat(&mut registry, &code, None, 10, now),
            vec![Effect::Introduce {
                host: 1,
                client: 10
            }]
        );
        // The host, same id: no one is told it left; every client is
        // introduced again.
        assert_eq!(
            seat(&mut registry, &code, Some(TOKEN), 1, now),
            vec![Effect::Introduce {
                host: 1,
                client: 10
            }]
        );
        let info = registry.info(&code).expect("info");
        assert_eq!((info.players, info.host_connected), (2, true));
        // The host's id is not a client's, and one upgrade at a time per id.
        assert_eq!(
            registry.reserve(&code, None, 1, now),
            Err(ErrorCode::BadHostToken)
        );
        let pending = registry.reserve(&code, None, 10, now).expect("back");
        assert_eq!(registry.reserve(&code, None, 10, now), Err(ErrorCode::Busy));
        registry.cancel(pending);
        // A returning client's cancelled reservation frees no seat it never took.
        assert!(registry.reserve(&code, None, 11, now).is_ok());
        assert_eq!(
            registry.reserve(&code, None, 12, now),
            Err(ErrorCode::RoomFull)
        );
    }

    #[test]
    fn a_host_opens_its_lost_room_again_with_its_token_only() {
        let now = Instant::now();
        let mut registry: Registry<u32> = Registry::new(settings());
        let verify = |code: &str, token: &str| code == "ABC234" && token == TOKEN;
        // A restarted server: the room is not here, the token proves it was.
        assert_eq!(
            registry.reclaim("ABC234", Some("forged"), verify, (None, false), now),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.reclaim("ABC234", None, verify, (None, false), now),
            Err(ErrorCode::BadHostToken)
        );
        assert_eq!(
            registry.reclaim("nope", Some(TOKEN), verify, (None, false), now),
            Err(ErrorCode::InvalidCode)
        );
        let (info, created) = registry
            .reclaim("abc234", Some(TOKEN), verify, (Some(2), true), now)
            .expect("opened again");
        assert!(created);
        assert_eq!(
            (
                info.code.as_str(),
                info.capacity,
                info.state,
                info.host_connected
            ),
            ("ABC234", 2, RoomState::Playing, false)
        );
        // Asked again, it is only checked.
        let (_, created) = registry
            .reclaim("ABC234", Some(TOKEN), verify, (None, false), now)
            .expect("here");
        assert!(!created);
        assert_eq!(
            registry.reclaim(
                "ABC234",
                Some("0".repeat(32).as_str()),
                |_, _| true,
                (None, false),
                now
            ),
            Err(ErrorCode::BadHostToken)
        );
        // The host takes its seat as usual, its clients theirs.
        seat(&mut registry, "ABC234", Some(TOKEN), 1, now);
        seat(&mut registry, "ABC234", None, 10, now);
        assert_eq!(
            registry.reserve("ABC234", None, 11, now),
            Err(ErrorCode::RoomFull)
        );
    }
}
