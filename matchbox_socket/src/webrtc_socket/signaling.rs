//! The socket's signaling connection across sessions.
//!
//! Upstream, a socket has one signaling session for its whole life: once the
//! websocket ends, no peer can join again until the socket is rebuilt, which
//! also drops every peer connection. Here the socket keeps its peers and the
//! application may open a new session on the same socket
//! ([`WebRtcSocket::reconnect_signaling`](crate::WebRtcSocket::reconnect_signaling)).
//! The [`Supervisor`] opens, replaces and loses sessions; the message loop
//! hears of them through [`SignalingNews`], in order with their events; the
//! application reads [`SignalingState`].

use super::{PeerEvent, PeerRequest, SignallerBuilder, error::SignalingError, signaling_loop};
use futures::{FutureExt, StreamExt, select};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use log::{debug, info, warn};
use std::{
    convert::Infallible,
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
};

/// Where a socket's signaling connection stands, see
/// [`WebRtcSocket::signaling_state`](crate::WebRtcSocket::signaling_state).
///
/// Peer connections do not depend on it: connected peers stay connected in
/// every state. Only peers still to come need a `Connected` session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalingState {
    /// A session is being opened: from the start, and after each
    /// [`WebRtcSocket::reconnect_signaling`](crate::WebRtcSocket::reconnect_signaling),
    /// until the server assigns the session an id.
    Connecting,
    /// The server assigned the session an id: new peers can join.
    Connected,
    /// The session ended, or opening it failed, for this reason. No new peer
    /// can join until the application reconnects signaling.
    Lost(String),
}

/// What reaches the message loop from signaling, in the order it happened,
/// across sessions.
#[derive(Debug)]
pub(crate) enum SignalingNews {
    /// Session `.0` is being opened. Its events, if it opens, follow.
    Opening(u64),
    /// An event of the session opened last.
    Event(PeerEvent),
    /// The session opened last ended, or could not be opened.
    Lost,
}

/// The signaling state, shared by the socket handle (which reads it every
/// frame, and asks for sessions) and the socket's tasks (which move it on).
///
/// Sessions are numbered in the order the application asked for them. Only
/// the last one asked for moves the state: an older session that connects or
/// ends after a newer one was asked for must not report over it (the
/// application would reconnect again on a `Lost` of a session it already
/// replaced).
#[derive(Debug, Clone)]
pub(crate) struct SignalingStatus(Arc<Mutex<Status>>);

#[derive(Debug)]
struct Status {
    state: SignalingState,
    /// The number of the last session asked for; the first is 0.
    latest: u64,
}

impl SignalingStatus {
    /// Session 0 is being opened.
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(Status {
            state: SignalingState::Connecting,
            latest: 0,
        })))
    }

    pub(crate) fn state(&self) -> SignalingState {
        self.lock().state.clone()
    }

    /// Numbers the next session and passes its number to `open`, which asks
    /// the socket's tasks for it. If they took the request (they still run),
    /// that session is the latest and the state is `Connecting`; otherwise
    /// nothing changes.
    pub(crate) fn request(&self, open: impl FnOnce(u64) -> bool) {
        let mut status = self.lock();
        let session = status.latest + 1;
        // Under the lock, so that a session ending meanwhile either sees the
        // new number (and stays quiet) or reports before the request.
        if open(session) {
            status.latest = session;
            status.state = SignalingState::Connecting;
        }
    }

    /// The server assigned `session` its id.
    pub(crate) fn connected(&self, session: u64) {
        self.set(session, SignalingState::Connected);
    }

    /// `session` ended or could not be opened.
    pub(crate) fn lost(&self, session: u64, reason: String) {
        self.set(session, SignalingState::Lost(reason));
    }

    fn set(&self, session: u64, state: SignalingState) {
        let mut status = self.lock();
        if status.latest == session {
            status.state = state;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The application's request for a new session: its number and room URL.
pub(crate) type Reconnect = (u64, String);

/// Runs the socket's signaling sessions one after the other, for as long as
/// the socket lives.
pub(crate) struct Supervisor {
    pub(crate) builder: Arc<dyn SignallerBuilder>,
    pub(crate) attempts: Option<u16>,
    pub(crate) status: SignalingStatus,
    /// From the message loop, for whichever session is open. One channel for
    /// the socket's whole life: the message loop and its handshakes keep
    /// their sender across sessions.
    pub(crate) requests: UnboundedReceiver<PeerRequest>,
    /// To the message loop, across sessions.
    pub(crate) news: UnboundedSender<SignalingNews>,
    pub(crate) reconnects: UnboundedReceiver<Reconnect>,
    /// Why the last session ended, for when the socket ends because of it.
    pub(crate) last_error: Option<SignalingError>,
}

impl Supervisor {
    /// Opens session 0 at `room_url`, then whichever the application asks
    /// for. Never returns: the socket ends with its message loop.
    pub(crate) async fn run(&mut self, room_url: String) -> Infallible {
        let mut next = Some((0, room_url));
        loop {
            let Some((session, room_url)) = next.take() else {
                // No session is open. Whatever the message loop asks of
                // signaling meanwhile (signals of handshakes that cannot
                // complete, keep-alives) is stale by the time one opens, and
                // must not reach the next server: drop it.
                select! {
                    reconnect = self.reconnects.select_next_some() => next = Some(reconnect),
                    request = self.requests.select_next_some() => {
                        debug!("no signaling session, dropping {request:?}");
                    }
                    // The socket is going away: its message loop ends it.
                    complete => std::future::pending::<()>().await,
                }
                continue;
            };

            // Unbounded, so the message loop can only be gone, and then so is the socket.
            let _ = self.news.unbounded_send(SignalingNews::Opening(session));
            let ended = {
                let mut open = pin!(
                    open_session(
                        &*self.builder,
                        self.attempts,
                        room_url,
                        &mut self.requests,
                        &self.news,
                    )
                    .fuse()
                );
                select! {
                    ended = open => Some(ended),
                    reconnect = self.reconnects.select_next_some() => {
                        // The session open now is dropped (its websocket
                        // closed) before the next one opens.
                        info!("replacing signaling session {session}");
                        next = Some(reconnect);
                        None
                    }
                }
            };
            if let Some(ended) = ended {
                let reason = match &ended {
                    Ok(()) | Err(SignalingError::StreamExhausted) => {
                        "closed by the server".to_string()
                    }
                    Err(e) => e.to_string(),
                };
                warn!("signaling session {session} lost: {reason}");
                self.status.lost(session, reason);
                self.last_error = ended.err();
                let _ = self.news.unbounded_send(SignalingNews::Lost);
            }
        }
    }
}

/// Opens one session and runs it until it ends.
async fn open_session(
    builder: &dyn SignallerBuilder,
    attempts: Option<u16>,
    room_url: String,
    requests: &mut UnboundedReceiver<PeerRequest>,
    news: &UnboundedSender<SignalingNews>,
) -> Result<(), SignalingError> {
    let signaller = builder.new_signaller(attempts, room_url).await?;
    // Asked while the session was being opened: as stale as while none was.
    while let Ok(request) = requests.try_recv() {
        debug!("signaling session not open yet, dropping {request:?}");
    }
    signaling_loop(signaller, requests, |event| {
        news.unbounded_send(SignalingNews::Event(event))
            // Only once the message loop has ended, when so does the socket.
            .map_err(|_| SignalingError::StreamExhausted)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{SignalingNews, SignalingState, SignalingStatus, Supervisor};
    use crate::{
        PeerId, PeerRequest, PeerSignal, SignalingError, Signaller, SignallerBuilder,
        async_trait::async_trait,
    };
    use futures_channel::mpsc::unbounded;
    use std::{
        pin::pin,
        sync::{Arc, Mutex},
    };

    /// Opens sessions whose server closes the first at once, and then keeps
    /// each next one open, writing down what it was sent.
    #[derive(Debug, Default)]
    struct Server {
        opened: Mutex<usize>,
        sent: Arc<Mutex<Vec<PeerRequest>>>,
    }

    struct Session {
        closed: bool,
        sent: Arc<Mutex<Vec<PeerRequest>>>,
    }

    #[cfg_attr(not(target_arch = "wasm32"), async_trait)]
    #[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
    impl Signaller for Session {
        async fn send(&mut self, request: PeerRequest) -> Result<(), SignalingError> {
            self.sent.lock().unwrap().push(request);
            Ok(())
        }

        async fn next_message(&mut self) -> Result<crate::PeerEvent, SignalingError> {
            if self.closed {
                return Err(SignalingError::StreamExhausted);
            }
            std::future::pending().await
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), async_trait)]
    #[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
    impl SignallerBuilder for Server {
        async fn new_signaller(
            &self,
            _attempts: Option<u16>,
            _room_url: String,
        ) -> Result<Box<dyn Signaller>, SignalingError> {
            let mut opened = self.opened.lock().unwrap();
            *opened += 1;
            Ok(Box::new(Session {
                closed: *opened == 1,
                sent: Arc::clone(&self.sent),
            }))
        }
    }

    fn signal(sdp: &str) -> PeerRequest {
        PeerRequest::Signal {
            receiver: PeerId(uuid::Uuid::from_u128(1)),
            data: PeerSignal::Offer(sdp.into()),
        }
    }

    /// What the message loop asks while no session is open is dropped, not
    /// sent to the next server; what it asks once one is open is sent.
    #[futures_test::test]
    async fn requests_made_without_a_session_are_dropped() {
        let server = Arc::new(Server::default());
        let (requests_tx, requests) = unbounded();
        let (news, mut news_rx) = unbounded();
        let (reconnect_tx, reconnects) = unbounded();
        let status = SignalingStatus::new();
        let mut supervisor = Supervisor {
            builder: server.clone(),
            attempts: None,
            status: status.clone(),
            requests,
            news,
            reconnects,
            last_error: None,
        };
        let mut run = pin!(supervisor.run("first".into()));

        // The first session closes at once.
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert_eq!(
            status.state(),
            SignalingState::Lost("closed by the server".into())
        );
        assert!(matches!(news_rx.try_recv(), Ok(SignalingNews::Opening(0))));
        assert!(matches!(news_rx.try_recv(), Ok(SignalingNews::Lost)));

        requests_tx.unbounded_send(signal("while lost")).unwrap();
        assert!(futures::poll!(run.as_mut()).is_pending());
        requests_tx.unbounded_send(PeerRequest::KeepAlive).unwrap();
        requests_tx.unbounded_send(signal("just before")).unwrap();
        status.request(|session| {
            reconnect_tx
                .unbounded_send((session, "second".into()))
                .is_ok()
        });
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert!(matches!(news_rx.try_recv(), Ok(SignalingNews::Opening(1))));
        assert_eq!(*server.opened.lock().unwrap(), 2);

        requests_tx.unbounded_send(signal("fresh")).unwrap();
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert_eq!(*server.sent.lock().unwrap(), [signal("fresh")]);
        assert_eq!(status.state(), SignalingState::Connecting);
    }

    #[test]
    fn a_session_connects_then_is_lost() {
        let status = SignalingStatus::new();
        assert_eq!(status.state(), SignalingState::Connecting);
        status.connected(0);
        assert_eq!(status.state(), SignalingState::Connected);
        status.lost(0, "closed by the server".into());
        assert_eq!(
            status.state(),
            SignalingState::Lost("closed by the server".into())
        );
    }

    #[test]
    fn an_older_session_does_not_report_over_a_newer_one() {
        let status = SignalingStatus::new();
        status.connected(0);
        status.request(|session| {
            assert_eq!(session, 1);
            true
        });
        assert_eq!(status.state(), SignalingState::Connecting);
        // Session 0, replaced, ends late: the application must not see Lost.
        status.lost(0, "replaced".into());
        assert_eq!(status.state(), SignalingState::Connecting);
        status.connected(1);
        assert_eq!(status.state(), SignalingState::Connected);
        status.lost(1, "gone".into());
        assert_eq!(status.state(), SignalingState::Lost("gone".into()));
    }

    #[test]
    fn a_request_the_socket_no_longer_takes_changes_nothing() {
        let status = SignalingStatus::new();
        status.lost(0, "gone".into());
        status.request(|_| false);
        assert_eq!(status.state(), SignalingState::Lost("gone".into()));
        // The number was not used up.
        status.request(|session| session == 1);
        assert_eq!(status.state(), SignalingState::Connecting);
    }
}
