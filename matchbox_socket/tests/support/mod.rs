//! Sockets of the fork on real native WebRTC, and signaling in memory: an
//! in-memory hub (the public `SignallerBuilder` trait), so that a test can
//! play a hostile peer that sends whatever it likes. The peer connections are
//! real and gather host candidates only (no ICE server): run the tests that
//! use this inside a sealed network namespace: each test reruns itself in
//! one (`tests/support/sealed.rs` of the workspace), as `scripts/test` runs it.

#![allow(dead_code, reason = "each test binary uses a part of it")]

use futures::StreamExt;
use futures_channel::mpsc::{TryRecvError, UnboundedReceiver, UnboundedSender, unbounded};
use matchbox_socket::{
    PeerEvent, PeerId, PeerRequest, PeerSignal, PeerState, RtcIceServerConfig, SignalingError,
    SignalingState, Signaller, SignallerBuilder, WebRtcSocket, WebRtcSocketBuilder,
    async_trait::async_trait,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// Every wait in these tests is bounded by this.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A signaling room in memory: full mesh, the peer already there offers to
/// the newcomer, as matchbox_server does. Like our server, it gives a peer
/// that reconnects to its seat (`seat_url`) its id back; it can drop a
/// peer's connection, or every one (a restart), and it writes down what the
/// peers' sessions send.
#[derive(Clone, Default, Debug)]
pub struct Hub(Arc<Mutex<Room>>);

#[derive(Default, Debug)]
struct Room {
    seats: HashMap<PeerId, Seat>,
    sessions: u64,
    /// What the peers' signaling sessions sent, in order.
    sent: Vec<Sent>,
}

#[derive(Debug)]
struct Seat {
    tx: UnboundedSender<Down>,
    /// Which session holds the seat: a session that ends after its seat
    /// was taken again must not free it.
    session: u64,
}

/// What the hub sends down one peer's signaling connection.
#[derive(Debug)]
pub enum Down {
    Event(PeerEvent),
    /// The last event before the server closes the connection: the session
    /// ends as soon as it has passed it on, with nothing in between.
    Last(PeerEvent),
}

/// A request a peer's signaling session sent to the hub.
#[derive(Clone, Debug, PartialEq)]
pub enum Sent {
    KeepAlive {
        from: PeerId,
    },
    Signal {
        from: PeerId,
        to: PeerId,
        signal: PeerSignal,
    },
}

/// The room URL with which a socket gets `id` back from the hub.
pub fn seat_url(id: PeerId) -> String {
    format!("memory://room?seat={}", id.0)
}

/// A room URL the hub refuses to open, as if no server answered there.
pub const UNREACHABLE: &str = "memory://unreachable";

impl Hub {
    /// Adds a peer to the room; returns its id and the events it receives.
    pub fn join(&self) -> (PeerId, UnboundedReceiver<Down>) {
        let (id, _, events) = self.take_seat(None);
        (id, events)
    }

    /// Adds a peer to the room, with the id of `seat` if given.
    fn take_seat(&self, seat: Option<PeerId>) -> (PeerId, u64, UnboundedReceiver<Down>) {
        let mut room = self.0.lock().unwrap();
        let id = seat.unwrap_or_else(|| PeerId(Uuid::new_v4()));
        room.sessions += 1;
        let session = room.sessions;
        let (tx, rx) = unbounded();
        tx.unbounded_send(Down::Event(PeerEvent::IdAssigned(id)))
            .unwrap();
        for (other, seat) in &room.seats {
            if *other != id {
                let _ = seat.tx.unbounded_send(Down::Event(PeerEvent::NewPeer(id)));
            }
        }
        // A session still holding the seat loses it (its connection closes).
        room.seats.insert(id, Seat { tx, session });
        (id, session, rx)
    }

    pub fn leave(&self, id: PeerId) {
        self.kick(id, None);
    }

    /// The server closes `id`'s connection, after `last` if given, and
    /// tells the others it left.
    pub fn kick(&self, id: PeerId, last: Option<PeerEvent>) {
        let mut room = self.0.lock().unwrap();
        let Some(seat) = room.seats.remove(&id) else {
            return;
        };
        if let Some(last) = last {
            let _ = seat.tx.unbounded_send(Down::Last(last));
        }
        for other in room.seats.values() {
            let _ = other
                .tx
                .unbounded_send(Down::Event(PeerEvent::PeerLeft(id)));
        }
    }

    /// The server restarts: every connection closes, and the new server
    /// knows nobody (nobody is told that anybody left).
    pub fn restart(&self) {
        let mut room = self.0.lock().unwrap();
        room.seats.clear();
        room.sent.clear();
    }

    /// Delivers a signal as if `sender` had sent it.
    pub fn signal(&self, sender: PeerId, receiver: PeerId, data: PeerSignal) {
        if let Some(to) = self.0.lock().unwrap().seats.get(&receiver) {
            let _ = to
                .tx
                .unbounded_send(Down::Event(PeerEvent::Signal { sender, data }));
        }
    }

    /// What the peers' sessions sent since the last restart or `forget_sent`.
    pub fn sent(&self) -> Vec<Sent> {
        self.0.lock().unwrap().sent.clone()
    }

    pub fn forget_sent(&self) {
        self.0.lock().unwrap().sent.clear();
    }

    /// A session ended: its seat is free, unless another session took it.
    fn end_session(&self, id: PeerId, session: u64) {
        let holds = self
            .0
            .lock()
            .unwrap()
            .seats
            .get(&id)
            .map(|seat| seat.session)
            == Some(session);
        if holds {
            self.kick(id, None);
        }
    }
}

struct HubSignaller {
    hub: Hub,
    id: PeerId,
    session: u64,
    events: UnboundedReceiver<Down>,
    closing: bool,
}

#[async_trait]
impl Signaller for HubSignaller {
    async fn send(&mut self, request: PeerRequest) -> Result<(), SignalingError> {
        let sent = match request {
            PeerRequest::Signal { receiver, data } => {
                self.hub.signal(self.id, receiver, data.clone());
                Sent::Signal {
                    from: self.id,
                    to: receiver,
                    signal: data,
                }
            }
            PeerRequest::KeepAlive => Sent::KeepAlive { from: self.id },
        };
        self.hub.0.lock().unwrap().sent.push(sent);
        Ok(())
    }

    async fn next_message(&mut self) -> Result<PeerEvent, SignalingError> {
        if self.closing {
            return Err(SignalingError::StreamExhausted);
        }
        match self.events.next().await {
            Some(Down::Event(event)) => Ok(event),
            Some(Down::Last(event)) => {
                self.closing = true;
                Ok(event)
            }
            None => Err(SignalingError::StreamExhausted),
        }
    }
}

impl Drop for HubSignaller {
    fn drop(&mut self) {
        self.hub.end_session(self.id, self.session);
    }
}

#[async_trait]
impl SignallerBuilder for Hub {
    async fn new_signaller(
        &self,
        _attempts: Option<u16>,
        room_url: String,
    ) -> Result<Box<dyn Signaller>, SignalingError> {
        if room_url == UNREACHABLE {
            return Err(SignalingError::NegotiationFailed(Box::new(
                SignalingError::UserImplementationError(format!(
                    "no signaling server at {room_url}"
                )),
            )));
        }
        let seat = room_url
            .split_once("seat=")
            .and_then(|(_, seat)| Uuid::parse_str(seat).ok())
            .map(PeerId);
        let (id, session, events) = self.take_seat(seat);
        Ok(Box::new(HubSignaller {
            hub: self.clone(),
            id,
            session,
            events,
            closing: false,
        }))
    }
}

/// A socket of the fork, its message loop on a thread of its own.
pub struct Peer {
    pub socket: WebRtcSocket,
    /// Receives the message loop's end (its result), or hangs up if it panicked.
    ended: mpsc::Receiver<Result<(), matchbox_socket::Error>>,
    states: HashMap<PeerId, PeerState>,
    /// Every change of a peer's state, in order.
    pub history: Vec<(PeerId, PeerState)>,
}

impl Peer {
    pub fn start(hub: &Hub, handshake_timeout: Option<Duration>) -> Self {
        Self::start_with(hub, |builder| builder.handshake_timeout(handshake_timeout))
    }

    /// A socket of the hub's room, built further by `configure`.
    pub fn start_with(
        hub: &Hub,
        configure: impl FnOnce(WebRtcSocketBuilder) -> WebRtcSocketBuilder,
    ) -> Self {
        let builder = WebRtcSocket::builder("memory://room")
            .signaller_builder(Arc::new(hub.clone()))
            .ice_server(RtcIceServerConfig {
                urls: vec![],
                username: None,
                credential: None,
            })
            .add_reliable_channel();
        let (socket, message_loop) = configure(builder).build();
        let (tx, ended) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(futures::executor::block_on(message_loop));
        });
        let mut peer = Self {
            socket,
            ended,
            states: HashMap::new(),
            history: Vec::new(),
        };
        peer.wait_until("an id", |p| p.socket.id().is_some());
        peer
    }

    pub fn id(&mut self) -> PeerId {
        self.socket.id().expect("the id came at start")
    }

    /// Polls the socket until `done`, at most [`PATIENCE`]; fails the test
    /// if the message loop ends meanwhile.
    pub fn wait_until(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> bool) {
        let start = Instant::now();
        loop {
            self.assert_running();
            if let Ok(changes) = self.socket.try_update_peers() {
                self.history.extend(changes.iter().copied());
                self.states.extend(changes);
            }
            if done(self) {
                return;
            }
            assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn state(&self, peer: PeerId) -> Option<PeerState> {
        self.states.get(&peer).copied()
    }

    pub fn wait_for_state(&mut self, peer: PeerId, state: PeerState) {
        self.wait_until(&format!("{peer} to be {state:?}"), |p| {
            p.state(peer) == Some(state)
        });
    }

    pub fn wait_signaling(&mut self, state: SignalingState) {
        self.wait_until(&format!("signaling {state:?}"), |p| {
            p.socket.signaling_state() == state
        });
    }

    /// Waits at most [`PATIENCE`] for the message loop to end, and returns
    /// how it ended; fails the test if it panicked.
    pub fn wait_ended(&self) -> Result<(), matchbox_socket::Error> {
        match self.ended.recv_timeout(PATIENCE) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the message loop still runs after {PATIENCE:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the message loop panicked"),
        }
    }

    pub fn assert_running(&self) {
        match self.ended.try_recv() {
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => panic!("the message loop panicked"),
            Ok(result) => panic!("the message loop ended: {result:?}"),
        }
    }

    /// Sends a packet and waits until `to` receives it.
    pub fn assert_link(&mut self, to: &mut Peer) {
        let from = self.id();
        // A packet for a peer this socket is not connected to yet is dropped.
        self.wait_for_state(to.id(), PeerState::Connected);
        let packet = bytes::Bytes::copy_from_slice(Uuid::new_v4().as_bytes());
        self.socket.channel_mut(0).send(packet.clone(), to.id());
        let mut got = false;
        to.wait_until("a packet over the link", |p| {
            got |= p
                .socket
                .channel_mut(0)
                .receive()
                .iter()
                .any(|(sender, data)| *sender == from && data[..] == packet[..]);
            got
        });
    }
}

/// A peer of the hub that the test drives by hand: it answers with whatever
/// the test says.
pub struct RawPeer {
    hub: Hub,
    pub id: PeerId,
    events: UnboundedReceiver<Down>,
}

impl RawPeer {
    pub fn join(hub: &Hub) -> Self {
        let (id, events) = hub.join();
        Self {
            hub: hub.clone(),
            id,
            events,
        }
    }

    /// Waits for the offer `from` makes to this peer.
    pub fn offer_from(&mut self, from: PeerId) -> String {
        self.signal_from(from, "an offer", |signal| match signal {
            PeerSignal::Offer(sdp) => Some(sdp),
            _ => None,
        })
    }

    /// Waits for the answer `from` makes to this peer's offer.
    pub fn answer_from(&mut self, from: PeerId) -> String {
        self.signal_from(from, "an answer", |signal| match signal {
            PeerSignal::Answer(sdp) => Some(sdp),
            _ => None,
        })
    }

    /// Waits for the first signal from `from` that `pick` takes, skipping
    /// every other event.
    fn signal_from(
        &mut self,
        from: PeerId,
        what: &str,
        pick: impl Fn(PeerSignal) -> Option<String>,
    ) -> String {
        let start = Instant::now();
        loop {
            match self.events.try_recv() {
                Ok(
                    Down::Event(PeerEvent::Signal { sender, data })
                    | Down::Last(PeerEvent::Signal { sender, data }),
                ) if sender == from => {
                    if let Some(sdp) = pick(data) {
                        return sdp;
                    }
                }
                Ok(_) => continue,
                Err(TryRecvError::Closed) => panic!("the hub closed"),
                Err(TryRecvError::Empty) => {
                    assert!(start.elapsed() < PATIENCE, "no {what} came");
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    pub fn send(&self, to: PeerId, signal: PeerSignal) {
        self.hub.signal(self.id, to, signal);
    }

    pub fn leave(self) {
        self.hub.leave(self.id);
    }
}
