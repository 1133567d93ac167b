//! The webrtc_socket module provides a unified API for dealing with WebRtc on both native and wasm
//! builds. This common API only implements behaviors needed by the rest of matchbox_socket: it is
//! not a general WebRtc abstraction.

pub mod error;
mod messages;
mod signal_peer;
mod signaling;
mod socket;

use self::error::SignalingError;
use crate::{Error, webrtc_socket::signal_peer::SignalPeer};
use async_trait::async_trait;
use bytes::Bytes;
use cfg_if::cfg_if;
use futures::{
    Future, FutureExt, StreamExt,
    future::{AbortHandle, AbortRegistration, Abortable, Aborted, Either},
    stream::FuturesUnordered,
};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures_timer::Delay;
use futures_util::select;
use log::{debug, error, warn};
use matchbox_protocol::PeerId;
pub use messages::*;
pub use signaling::SignalingState;
pub(crate) use signaling::{Reconnect, SignalingNews, SignalingStatus, Supervisor};
pub use socket::{
    CandidatePair, CandidateType, ChannelConfig, DEFAULT_HANDSHAKE_TIMEOUT, GatheredCandidates,
    PeerState, RtcIceServerConfig, WebRtcChannel, WebRtcSocket, WebRtcSocketBuilder,
};
pub(crate) use socket::{GatheredLog, IceServerList, MessageLoopChannels};
use std::{
    collections::{HashMap, HashSet},
    pin::{Pin, pin},
    time::Duration,
};

cfg_if! {
    if #[cfg(target_arch = "wasm32")] {
        mod wasm;
        type UseMessenger = wasm::WasmMessenger;
        type UseSignallerBuilder = wasm::WasmSignallerBuilder;
        /// A future which runs the message loop for the socket and completes
        /// when the socket closes or disconnects
        pub type MessageLoopFuture = Pin<Box<dyn Future<Output = Result<(), Error>>>>;
    } else {
        mod native;
        type UseMessenger = native::NativeMessenger;
        type UseSignallerBuilder = native::NativeSignallerBuilder;
        /// A future which runs the message loop for the socket and completes
        /// when the socket closes or disconnects
        pub type MessageLoopFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
    }
}

/// A builder that constructs a new [Signaller] from a room URL.
#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
pub trait SignallerBuilder: std::fmt::Debug + Sync + Send + 'static {
    /// Create a new [Signaller]. The Room URL is an implementation specific identifier for joining
    /// a room.
    async fn new_signaller(
        &self,
        attempts: Option<u16>,
        room_url: String,
    ) -> Result<Box<dyn Signaller>, SignalingError>;
}

/// A signalling implementation.
///
/// The Signaller is responsible for passing around
/// [WebRTC signals](https://developer.mozilla.org/en-US/docs/Web/API/WebRTC_API/Signaling_and_video_calling#the_signaling_server)
/// between room peers, encoded as [PeerEvent::Signal] which holds a [PeerSignal].
///
/// It is also responsible for notifying each peer of the following special events:
///
/// - [PeerEvent::IdAssigned] -- first event in stream, received once at connection time.
/// - [PeerEvent::NewPeer] -- received when a new peer has joined the room, AND when this node must
///   send an offer to them.
/// - [PeerEvent::PeerLeft] -- received when a peer leaves the room.
///
/// To achieve a full mesh configuration, the signaller must do the following for **each pair** of
/// peers in a room:
///
/// 1. It decides which peer is the "Offerer" and which is the "Answerer".
/// 2. It sends [PeerEvent::NewPeer] to the "Offerer" only.
/// 3. It passes [PeerEvent::Signal] events back and forth between them, until one of them
///    disconnects.
/// 4. It sends [PeerEvent::PeerLeft] with the ID of the disconnected peer to the remaining peer.
#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
pub trait Signaller: Sync + Send + 'static {
    /// Request the signaller to pass a message to another peer.
    async fn send(&mut self, request: PeerRequest) -> Result<(), SignalingError>;

    /// Get the next event from the signaller.
    async fn next_message(&mut self) -> Result<PeerEvent, SignalingError>;
}

/// Runs one signaling session: sends what the message loop asks, and
/// forwards what the server says, until the session ends. The requests
/// outlive the session (the message loop keeps their sender across
/// sessions), so they are only borrowed.
async fn signaling_loop(
    mut signaller: Box<dyn Signaller>,
    requests_receiver: &mut UnboundedReceiver<PeerRequest>,
    mut forward: impl FnMut(PeerEvent) -> Result<(), SignalingError>,
) -> Result<(), SignalingError> {
    loop {
        select! {
            request = requests_receiver.next().fuse() => {
                debug!("-> {request:?}");
                let Some(request) = request else {break Err(SignalingError::StreamExhausted)};
                signaller.send(request).await?;
            }

            message = signaller.next_message().fuse() => {
                match message {
                    Ok(message) => {
                        debug!("Received {message:?}");
                        forward(message)?;
                    }
                    Err(SignalingError::UnknownFormat) => {
                        warn!("ignoring unexpected non-text message from signaling server")
                    },
                    Err(err) => break Err(err)
                }

            }

            complete => break Ok(())
        }
    }
}

/// The raw format of data being sent and received.
pub type Packet = Bytes;

/// Errors that can happen when sending packets
#[derive(Debug, thiserror::Error)]
#[error("The socket was dropped and package could not be sent")]
struct PacketSendError {
    #[cfg(not(target_arch = "wasm32"))]
    source: futures_channel::mpsc::SendError,
    #[cfg(target_arch = "wasm32")]
    source: error::JsError,
}

trait PeerDataSender {
    fn send(&mut self, packet: Packet) -> Result<(), PacketSendError>;
}

struct HandshakeResult<D: PeerDataSender, M> {
    peer_id: PeerId,
    data_channels: Vec<D>,
    metadata: M,
}

/// Why a handshake with one peer failed: a signal the peer sent was refused,
/// the browser or webrtc-rs refused a step, or signaling went away.
///
/// A failed handshake ends that peer's connection attempt only, never the
/// socket: whatever a peer sends must not reach a panic.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {detail}")]
pub(crate) struct HandshakeError {
    step: &'static str,
    detail: String,
}

impl HandshakeError {
    fn new(step: &'static str, detail: impl std::fmt::Debug) -> Self {
        Self {
            step,
            detail: format!("{detail:?}"),
        }
    }

    /// The handshake's signal stream ended: signaling is gone, or the peer left.
    fn signaling_lost() -> Self {
        Self::new("waiting for the peer's signal", "signaling closed")
    }
}

/// How a handshake that did not connect ended.
#[derive(Debug)]
enum HandshakeEnd {
    Failed(HandshakeError),
    TimedOut(Duration),
    /// The peer left signaling or was disconnected by the application.
    Cancelled,
}

/// Runs one handshake until it connects, fails, times out or is cancelled.
async fn bounded_handshake<T>(
    peer: PeerId,
    handshake: impl Future<Output = Result<T, HandshakeError>>,
    cancel: AbortRegistration,
    timeout: Option<Duration>,
) -> (PeerId, Result<T, HandshakeEnd>) {
    let deadline = match timeout {
        Some(timeout) => Either::Left(Delay::new(timeout)),
        None => Either::Right(std::future::pending()),
    };
    // webrtc-rs may still panic on what a peer sent: natively, that fails
    // this handshake like any other error (in wasm a panic aborts anyway).
    #[cfg(not(target_arch = "wasm32"))]
    let handshake = std::panic::AssertUnwindSafe(handshake)
        .catch_unwind()
        .map(|outcome| {
            outcome.unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(HandshakeError::new("webrtc-rs panicked", why))
            })
        });
    let handshake = pin!(Abortable::new(handshake, cancel));
    let outcome = match futures::future::select(handshake, pin!(deadline)).await {
        Either::Left((Ok(Ok(connected)), _)) => Ok(connected),
        Either::Left((Ok(Err(error)), _)) => Err(HandshakeEnd::Failed(error)),
        Either::Left((Err(Aborted), _)) => Err(HandshakeEnd::Cancelled),
        Either::Right(_) => Err(HandshakeEnd::TimedOut(timeout.unwrap_or_default())),
    };
    (peer, outcome)
}

/// The message loop's per-peer bookkeeping, beyond the data channels.
#[derive(Default)]
struct PeerTasks {
    /// Where the signals of a peer whose handshake or connection runs go.
    signals: HashMap<PeerId, UnboundedSender<PeerSignal>>,
    /// Cancels a peer's handshake, or its peer loop once connected.
    cancels: HashMap<PeerId, AbortHandle>,
    /// Peers whose handshake failed or who were disconnected while still in
    /// the signaling room: their further signals are ignored (no new
    /// handshake) until they leave it.
    ended: HashSet<PeerId>,
}

impl PeerTasks {
    /// Books a handshake with `peer`: where its signals go and how to
    /// cancel it. Returns the handshake's ends of both.
    fn start(&mut self, peer: PeerId) -> (UnboundedReceiver<PeerSignal>, AbortRegistration) {
        let (signal_tx, signal_rx) = futures_channel::mpsc::unbounded();
        let (cancel, registration) = AbortHandle::new_pair();
        self.signals.insert(peer, signal_tx);
        self.cancels.insert(peer, cancel);
        (signal_rx, registration)
    }

    /// Stops whatever runs for `peer` and forgets it.
    fn cancel(&mut self, peer: PeerId) {
        if let Some(cancel) = self.cancels.remove(&peer) {
            cancel.abort();
        }
        self.signals.remove(&peer);
    }

    /// A new signaling session starts fresh: the server of the new session
    /// knows nothing of the old one's handshakes, nor of whom this socket
    /// stopped listening to. Peers whose signals were ignored may handshake
    /// anew, and handshakes still running are cancelled: their remaining
    /// signals went to the old session, and the peer, re-introduced or
    /// offering again, must find no stale handshake in the way. Returns the
    /// peers whose handshake was cancelled; `connected` peers keep theirs.
    fn new_session(&mut self, connected: impl Fn(&PeerId) -> bool) -> Vec<PeerId> {
        self.ended.clear();
        let handshaking: Vec<PeerId> = self
            .cancels
            .keys()
            .filter(|peer| !connected(peer))
            .copied()
            .collect();
        for peer in &handshaking {
            self.cancel(*peer);
        }
        handshaking
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
trait Messenger {
    type DataChannel: PeerDataSender;
    type HandshakeMeta: Send;

    async fn offer_handshake(
        signal_peer: SignalPeer,
        mut peer_signal_rx: UnboundedReceiver<PeerSignal>,
        messages_from_peers_tx: Vec<UnboundedSender<(PeerId, Packet)>>,
        ice_servers: Vec<RtcIceServerConfig>,
        channel_configs: &[ChannelConfig],
    ) -> Result<HandshakeResult<Self::DataChannel, Self::HandshakeMeta>, HandshakeError>;

    async fn accept_handshake(
        signal_peer: SignalPeer,
        peer_signal_rx: UnboundedReceiver<PeerSignal>,
        messages_from_peers_tx: Vec<UnboundedSender<(PeerId, Packet)>>,
        ice_servers: Vec<RtcIceServerConfig>,
        channel_configs: &[ChannelConfig],
    ) -> Result<HandshakeResult<Self::DataChannel, Self::HandshakeMeta>, HandshakeError>;

    /// Runs the connection to a peer until it ends, reporting the candidate pair it uses on
    /// `candidate_pair_tx` whenever it changes
    async fn peer_loop(
        peer_uuid: PeerId,
        handshake_meta: Self::HandshakeMeta,
        candidate_pair_tx: UnboundedSender<(PeerId, CandidatePair)>,
    ) -> PeerId;
}

#[allow(
    clippy::too_many_arguments,
    reason = "the socket's configuration, passed on as it is"
)]
async fn message_loop<M: Messenger>(
    id_tx: futures_channel::oneshot::Sender<PeerId>,
    ice_servers: &IceServerList,
    channel_configs: &[ChannelConfig],
    channels: MessageLoopChannels,
    keep_alive_interval: Option<Duration>,
    handshake_timeout: Option<Duration>,
    survive_signaling_loss: bool,
) -> Result<(), SignalingError> {
    let MessageLoopChannels {
        requests_sender,
        mut events_receiver,
        mut peer_messages_out_rx,
        messages_from_peers_tx,
        peer_state_tx,
        candidate_pair_tx,
        mut disconnect_rx,
        gathered,
        signaling,
    } = channels;

    let mut handshakes = FuturesUnordered::new();
    let mut peer_loops = FuturesUnordered::new();
    let mut peers = PeerTasks::default();
    let mut data_channels = HashMap::new();
    let mut id_tx = Option::Some(id_tx);
    // The id the first session assigned: the socket's for its whole life.
    let mut own_id = None;
    // The session whose events arrive now, and whether it is lost (ended
    // or never opened, and no other asked for since).
    let mut session = 0;
    let mut signaling_lost = false;

    let mut timeout = if let Some(interval) = keep_alive_interval {
        Either::Left(Delay::new(interval))
    } else {
        Either::Right(std::future::pending())
    }
    .fuse();

    loop {
        let mut next_peer_messages_out = peer_messages_out_rx
            .iter_mut()
            .enumerate()
            .map(|(channel, rx)| async move { (channel, rx.next().await) })
            .collect::<FuturesUnordered<_>>();

        let mut next_peer_message_out = next_peer_messages_out.next().fuse();

        select! {
            _  = &mut timeout => {
                // Dropped unless a session is open (keep-alives keep the
                // websocket alive, there is none to keep alive otherwise).
                if requests_sender.unbounded_send(PeerRequest::KeepAlive).is_err() {
                    debug!("cannot send keep-alive: the socket is closing");
                }
                if let Some(interval) = keep_alive_interval {
                    timeout = Either::Left(Delay::new(interval)).fuse();
                } else {
                    error!("no keep alive timeout, please file a bug");
                }
            }

            news = events_receiver.next() => {
                let event = match news {
                    Some(SignalingNews::Event(event)) => event,
                    Some(SignalingNews::Opening(opening)) => {
                        session = opening;
                        signaling_lost = false;
                        continue;
                    }
                    Some(SignalingNews::Lost) => {
                        signaling_lost = true;
                        // Connected peers live entirely on their data
                        // channels and keep working; only new handshakes
                        // wait for the application to reconnect signaling.
                        //
                        // With no peer connected, though, and unless the
                        // application reconnects signaling itself, a socket
                        // that can never gain a peer must end, so that the
                        // application learns the signaling server is gone
                        // (e.g. a player waiting for a match) instead of
                        // waiting forever.
                        if peer_loops.is_empty() && !survive_signaling_loss {
                            break Err(SignalingError::StreamExhausted);
                        }
                        warn!(
                            "signaling connection lost; keeping existing peer \
                            connections, but no new peers can join until \
                            signaling reconnects"
                        );
                        continue;
                    }
                    // The socket's signaling tasks keep the sender for as
                    // long as they run, which is as long as the socket does.
                    None => break Ok(()),
                };
                debug!("{event:?}");
                match event {
                    PeerEvent::IdAssigned(peer_uuid) => {
                        match own_id {
                            None => {
                                own_id = Some(peer_uuid);
                                if let Some(id_tx) = id_tx.take()
                                    && id_tx.send(peer_uuid).is_err()
                                {
                                    // Socket receiver was dropped, exit cleanly.
                                    break Ok(());
                                }
                            }
                            Some(id) if id == peer_uuid => {
                                debug!("signaling session {session} kept this socket's id {id}");
                            }
                            // Connected peers, and the application, know
                            // the socket by its first id. (Peers the new
                            // session introduces will know it by the new
                            // one: a server should give the same id back.)
                            Some(id) => warn!(
                                "signaling session {session} assigned id {peer_uuid} to the \
                                socket with id {id}; keeping {id}"
                            ),
                        }
                        let mut socket_dropped = false;
                        for peer in peers.new_session(|peer| data_channels.contains_key(peer)) {
                            debug!("cancelled the handshake with peer {peer}: it belonged to an older signaling session");
                            socket_dropped |= peer_state_tx.unbounded_send((peer, PeerState::Disconnected)).is_err();
                        }
                        if socket_dropped {
                            break Ok(());
                        }
                        // After the id is out, so that a socket seen
                        // connected has its id.
                        signaling.connected(session);
                    },
                    PeerEvent::NewPeer(peer_uuid) => {
                        // A server that introduces a peer twice gets the
                        // first introduction's connection, not a second one.
                        if peers.cancels.contains_key(&peer_uuid) || data_channels.contains_key(&peer_uuid) {
                            warn!("ignoring a second introduction of peer {peer_uuid}");
                            continue;
                        }
                        peers.ended.remove(&peer_uuid);
                        let (signal_rx, registration) = peers.start(peer_uuid);
                        let signal_peer = SignalPeer::new(peer_uuid, requests_sender.clone(), gathered.clone());
                        let handshake = M::offer_handshake(signal_peer, signal_rx, messages_from_peers_tx.clone(), ice_servers.current(), channel_configs);
                        handshakes.push(bounded_handshake(peer_uuid, handshake, registration, handshake_timeout));
                    },
                    PeerEvent::PeerLeft(peer_uuid) => {
                        peers.ended.remove(&peer_uuid);
                        gathered.forget(peer_uuid);
                        // A connected peer leaving signaling has not left
                        // the link: its server connection may have dropped
                        // (or the server restarted) while the peer is still
                        // there. Its data channels report on their own when
                        // they close.
                        if data_channels.contains_key(&peer_uuid) {
                            debug!("connected peer {peer_uuid} left signaling; keeping its connection");
                            continue;
                        }
                        // A handshake in progress cannot complete any more: end
                        // it now rather than hold its connection until it times
                        // out.
                        peers.cancel(peer_uuid);
                        if peer_state_tx.unbounded_send((peer_uuid, PeerState::Disconnected)).is_err() {
                            // socket dropped, exit cleanly
                            break Ok(());
                        }
                    },
                    PeerEvent::Signal { sender, data } => {
                        if peers.ended.contains(&sender) {
                            debug!("ignoring signal from peer {sender}: its connection has ended");
                            continue;
                        }
                        if !peers.signals.contains_key(&sender) {
                            let (peer_signal_rx, registration) = peers.start(sender);
                            let signal_peer = SignalPeer::new(sender, requests_sender.clone(), gathered.clone());
                            let handshake = M::accept_handshake(signal_peer, peer_signal_rx, messages_from_peers_tx.clone(), ice_servers.current(), channel_configs);
                            handshakes.push(bounded_handshake(sender, handshake, registration, handshake_timeout));
                        }
                        let Some(signal_tx) = peers.signals.get(&sender) else {
                            continue;
                        };

                        if signal_tx.unbounded_send(data).is_err() {
                            warn!("ignoring signal from peer {sender} because the handshake has already finished");
                        }
                    },
                }
            }

            (peer_uuid, outcome) = handshakes.select_next_some() => {
                let handshake_result = match outcome {
                    Ok(connected) => connected,
                    // Whoever cancelled it has already cleaned up and reported.
                    Err(HandshakeEnd::Cancelled) => continue,
                    Err(end) => {
                        match end {
                            HandshakeEnd::TimedOut(after) => warn!("handshake with peer {peer_uuid} timed out after {after:?}"),
                            HandshakeEnd::Failed(error) => warn!("handshake with peer {peer_uuid} failed: {error}"),
                            HandshakeEnd::Cancelled => {}
                        }
                        peers.cancel(peer_uuid);
                        peers.ended.insert(peer_uuid);
                        if peer_state_tx.unbounded_send((peer_uuid, PeerState::Disconnected)).is_err() {
                            break Ok(());
                        }
                        continue;
                    }
                };
                data_channels.insert(handshake_result.peer_id, handshake_result.data_channels);
                if peer_state_tx.unbounded_send((handshake_result.peer_id, PeerState::Connected)).is_err() {
                    // sending can only fail on socket drop, in which case connected_peers is unavailable, ignore
                    break Ok(());
                }
                let (cancel, registration) = AbortHandle::new_pair();
                peers.cancels.insert(peer_uuid, cancel);
                let peer_loop = M::peer_loop(handshake_result.peer_id, handshake_result.metadata, candidate_pair_tx.clone());
                peer_loops.push(Abortable::new(peer_loop, registration));
            }

            peer_loop = peer_loops.select_next_some() => {
                // An aborted peer loop was disconnected on purpose, and reported then.
                if let Ok(peer_uuid) = peer_loop {
                    debug!("peer {peer_uuid} finished");
                    data_channels.remove(&peer_uuid);
                    peers.cancel(peer_uuid);
                    peers.ended.insert(peer_uuid);
                    if peer_state_tx.unbounded_send((peer_uuid, PeerState::Disconnected)).is_err() {
                        // sending can only fail on socket drop, in which case connected_peers is unavailable, ignore
                        break Ok(());
                    }
                }
                if signaling_lost && peer_loops.is_empty() && !survive_signaling_loss {
                    // The last peer is gone and, without signaling, no new
                    // one can join: end the socket (see `SignalingNews::Lost` above).
                    break Err(SignalingError::StreamExhausted);
                }
            }

            peer_uuid = disconnect_rx.select_next_some() => {
                // Dropping the handshake or peer loop closes the peer connection.
                debug!("disconnecting peer {peer_uuid}");
                peers.cancel(peer_uuid);
                peers.ended.insert(peer_uuid);
                data_channels.remove(&peer_uuid);
                if peer_state_tx.unbounded_send((peer_uuid, PeerState::Disconnected)).is_err() {
                    break Ok(());
                }
            }

            message = next_peer_message_out => {
                match message {
                    Some((channel_index, Some((peer, packet)))) => {
                        // The app may send to a peer this socket never connected to,
                        // e.g. a stale id from before the socket was rebuilt.
                        let Some(peer_channels) = data_channels.get_mut(&peer) else {
                            warn!("dropping packet for unknown peer {peer}");
                            continue;
                        };
                        let data_channel = peer_channels
                            .get_mut(channel_index)
                            .unwrap_or_else(|| panic!("couldn't find data channel with index {channel_index}"));
                        if let Err(e) = data_channel.send(packet) {
                            // Peer we're sending to closed their end of the connection.
                            // We anticipate the PeerLeft event soon, but we sent a message before it came.
                            // Do nothing. Only log it.
                            warn!("failed to send to peer {peer} (socket closed): {e:?}");
                        };
                    }
                    Some((_, None)) | None => {
                        // Receiver end of outgoing message channel closed,
                        // which most likely means the socket was dropped.
                        // There could probably be cleaner ways to handle this,
                        // but for now, just exit cleanly.
                        warn!("Outgoing message queue closed, message not sent");
                        break Ok(());
                    }
                }
            }

            complete => break Ok(())
        }
    }
}
