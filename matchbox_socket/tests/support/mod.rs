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
    Signaller, SignallerBuilder, WebRtcSocket, async_trait::async_trait,
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
/// the newcomer, as matchbox_server does.
#[derive(Clone, Default, Debug)]
pub struct Hub(Arc<Mutex<HashMap<PeerId, UnboundedSender<PeerEvent>>>>);

impl Hub {
    /// Adds a peer to the room; returns its id and the events it receives.
    pub fn join(&self) -> (PeerId, UnboundedReceiver<PeerEvent>) {
        let mut peers = self.0.lock().unwrap();
        let id = PeerId(Uuid::new_v4());
        let (tx, rx) = unbounded();
        tx.unbounded_send(PeerEvent::IdAssigned(id)).unwrap();
        for other in peers.values() {
            let _ = other.unbounded_send(PeerEvent::NewPeer(id));
        }
        peers.insert(id, tx);
        (id, rx)
    }

    pub fn leave(&self, id: PeerId) {
        let mut peers = self.0.lock().unwrap();
        peers.remove(&id);
        for other in peers.values() {
            let _ = other.unbounded_send(PeerEvent::PeerLeft(id));
        }
    }

    /// Delivers a signal as if `sender` had sent it.
    pub fn signal(&self, sender: PeerId, receiver: PeerId, data: PeerSignal) {
        if let Some(to) = self.0.lock().unwrap().get(&receiver) {
            let _ = to.unbounded_send(PeerEvent::Signal { sender, data });
        }
    }
}

struct HubSignaller {
    hub: Hub,
    id: Option<PeerId>,
    events: UnboundedReceiver<PeerEvent>,
}

#[async_trait]
impl Signaller for HubSignaller {
    async fn send(&mut self, request: PeerRequest) -> Result<(), SignalingError> {
        if let (PeerRequest::Signal { receiver, data }, Some(id)) = (request, self.id) {
            self.hub.signal(id, receiver, data);
        }
        Ok(())
    }

    async fn next_message(&mut self) -> Result<PeerEvent, SignalingError> {
        let event = self
            .events
            .next()
            .await
            .ok_or(SignalingError::StreamExhausted)?;
        if let PeerEvent::IdAssigned(id) = event {
            self.id = Some(id);
        }
        Ok(event)
    }
}

impl Drop for HubSignaller {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.hub.leave(id);
        }
    }
}

#[async_trait]
impl SignallerBuilder for Hub {
    async fn new_signaller(
        &self,
        _attempts: Option<u16>,
        _room_url: String,
    ) -> Result<Box<dyn Signaller>, SignalingError> {
        let (_, events) = self.join();
        Ok(Box::new(HubSignaller {
            hub: self.clone(),
            id: None,
            events,
        }))
    }
}

/// A socket of the fork, its message loop on a thread of its own.
pub struct Peer {
    pub socket: WebRtcSocket,
    /// Receives the message loop's end (its result), or hangs up if it panicked.
    ended: mpsc::Receiver<Result<(), matchbox_socket::Error>>,
    states: HashMap<PeerId, PeerState>,
}

impl Peer {
    pub fn start(hub: &Hub, handshake_timeout: Option<Duration>) -> Self {
        let (socket, message_loop) = WebRtcSocket::builder("memory://room")
            .signaller_builder(Arc::new(hub.clone()))
            .ice_server(RtcIceServerConfig {
                urls: vec![],
                username: None,
                credential: None,
            })
            .handshake_timeout(handshake_timeout)
            .add_reliable_channel()
            .build();
        let (tx, ended) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(futures::executor::block_on(message_loop));
        });
        let mut peer = Self {
            socket,
            ended,
            states: HashMap::new(),
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
    events: UnboundedReceiver<PeerEvent>,
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
        let start = Instant::now();
        loop {
            match self.events.try_recv() {
                Ok(PeerEvent::Signal {
                    sender,
                    data: PeerSignal::Offer(sdp),
                }) if sender == from => return sdp,
                Ok(_) => continue,
                Err(TryRecvError::Closed) => panic!("the hub closed"),
                Err(TryRecvError::Empty) => {
                    assert!(start.elapsed() < PATIENCE, "no offer came");
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
