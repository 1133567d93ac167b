//! Hostile members of a room, for the hostile-peer tiers: a raw one that
//! speaks matchbox's signaling by hand, and one that completes a real
//! handshake (the fork's socket) while this test adds signals in its name.

#![allow(dead_code, reason = "each test binary uses a part of it")]

use core::time::Duration;
use std::{
    net::TcpStream,
    sync::{Arc, Mutex, mpsc},
    thread,
    time::Instant,
};

use futures::StreamExt;
use matchbox_socket::{
    PeerEvent, PeerId, PeerRequest, PeerSignal, RtcIceServerConfig, SignalingError, Signaller,
    SignallerBuilder, WebRtcSocket, async_trait::async_trait,
};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Answers to a host's offer that are not SDP, or not a usable answer.
pub const BAD_ANSWERS: [&str; 4] = [
    "garbage",
    "",
    "v=0\r\nnonsense",
    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\n",
];

/// ICE candidates that are not JSON, not a candidate, or nonsense in a
/// candidate's shape.
pub const BOGUS_CANDIDATES: [&str; 4] = [
    "not json",
    r#"{"candidate":"candidate:garbage","sdpMid":"0","sdpMLineIndex":0}"#,
    r#"{"candidate":"candidate:1 1 udp 1 999.1.1.1 70000 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
    r#"{"candidate":"","sdpMid":"nope","sdpMLineIndex":9}"#,
];

fn connect(room_url: &str, read_timeout: Duration) -> Socket {
    let (mut socket, _) = tungstenite::connect(room_url).expect("the server admits a member");
    if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
        // Every read is bounded.
        stream
            .set_read_timeout(Some(read_timeout))
            .expect("a timeout");
    }
    socket
}

fn request_text(to: PeerId, signal: PeerSignal) -> String {
    serde_json::to_string(&PeerRequest::Signal {
        receiver: to,
        data: signal,
    })
    .expect("a request serializes")
}

/// A member of the room that speaks matchbox's signaling protocol by hand.
pub struct RawMember {
    socket: Socket,
}

impl RawMember {
    pub fn join(room_url: &str) -> Self {
        Self {
            socket: connect(room_url, Duration::from_secs(10)),
        }
    }

    /// Waits for the host's offer; returns the host's peer id.
    pub fn offer(&mut self) -> PeerId {
        loop {
            let message = self.socket.read().expect("the host offers within 10 s");
            let Message::Text(text) = message else {
                continue;
            };
            if let Ok(PeerEvent::Signal {
                sender,
                data: PeerSignal::Offer(_),
            }) = serde_json::from_str::<PeerEvent>(&text)
            {
                return sender;
            }
        }
    }

    pub fn send(&mut self, to: PeerId, signal: PeerSignal) {
        self.socket
            .send(Message::text(request_text(to, signal)))
            .expect("the server takes the signal");
    }

    pub fn leave(mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

/// Signaling over a websocket of this test's own: a thread owns it, sends
/// what the socket asks, and right after the socket's answer sends the
/// `after_answer` candidates to the same peer, in the socket's name.
#[derive(Debug, Clone)]
struct InjectingSignalling {
    after_answer: Vec<String>,
}

struct InjectingSignaller {
    outgoing: mpsc::Sender<PeerRequest>,
    incoming: futures::channel::mpsc::UnboundedReceiver<PeerEvent>,
}

#[async_trait]
impl SignallerBuilder for InjectingSignalling {
    async fn new_signaller(
        &self,
        _attempts: Option<u16>,
        room_url: String,
    ) -> Result<Box<dyn Signaller>, SignalingError> {
        let mut socket = connect(&room_url, Duration::from_millis(20));
        let (outgoing, requests) = mpsc::channel::<PeerRequest>();
        let (events, incoming) = futures::channel::mpsc::unbounded();
        let after_answer = self.after_answer.clone();
        thread::spawn(move || {
            loop {
                while let Ok(request) = requests.try_recv() {
                    let answered_to = match &request {
                        PeerRequest::Signal {
                            receiver,
                            data: PeerSignal::Answer(_),
                        } => Some(*receiver),
                        _ => None,
                    };
                    let text = serde_json::to_string(&request).expect("serializes");
                    if socket.send(Message::text(text)).is_err() {
                        return;
                    }
                    for candidate in answered_to.iter().flat_map(|to| {
                        after_answer
                            .iter()
                            .map(|c| request_text(*to, PeerSignal::IceCandidate(c.clone())))
                    }) {
                        let _ = socket.send(Message::text(candidate));
                    }
                }
                match socket.read() {
                    Ok(Message::Text(text)) => {
                        if let Ok(event) = serde_json::from_str::<PeerEvent>(&text)
                            && events.unbounded_send(event).is_err()
                        {
                            let _ = socket.close(None);
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // The socket is dropped: leave.
                        if events.is_closed() {
                            let _ = socket.close(None);
                            let _ = socket.flush();
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Ok(Box::new(InjectingSignaller { outgoing, incoming }))
    }
}

#[async_trait]
impl Signaller for InjectingSignaller {
    async fn send(&mut self, request: PeerRequest) -> Result<(), SignalingError> {
        self.outgoing
            .send(request)
            .map_err(|_| SignalingError::StreamExhausted)
    }

    async fn next_message(&mut self) -> Result<PeerEvent, SignalingError> {
        self.incoming
            .next()
            .await
            .ok_or(SignalingError::StreamExhausted)
    }
}

/// Joins the room as a real WebRTC peer (the host offers, it answers), and
/// sends `bogus_candidates` in its name right after its valid answer. Stays
/// `linger` after it linked (or gave up trying), then leaves. Returns
/// whether it linked to the host.
pub fn answer_then_send_bogus_candidates(
    room_url: &str,
    bogus_candidates: &[&str],
    linger: Duration,
) -> bool {
    let (mut socket, message_loop) = WebRtcSocket::builder(room_url)
        .signaller_builder(Arc::new(InjectingSignalling {
            after_answer: bogus_candidates.iter().map(|c| c.to_string()).collect(),
        }))
        .ice_server(RtcIceServerConfig {
            urls: vec![],
            username: None,
            credential: None,
        })
        // Our peers' channels: reliable, unreliable, and the probes.
        .add_reliable_channel()
        .add_unreliable_channel()
        .add_unreliable_channel()
        .build();
    let ended = Arc::new(Mutex::new(false));
    let flag = ended.clone();
    let runner = thread::spawn(move || {
        let _ = bevy::tasks::block_on(message_loop);
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
    });
    let start = Instant::now();
    let mut linked = false;
    while start.elapsed() < Duration::from_secs(20) && !linked {
        if let Ok(changes) = socket.try_update_peers() {
            linked |= changes
                .iter()
                .any(|(_, state)| *state == matchbox_socket::PeerState::Connected);
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(linger);
    socket.close();
    drop(socket);
    let _ = runner.join();
    linked
}
