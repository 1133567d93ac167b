//! Links over WebRTC data channels, through `matchbox_socket`.
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

use bevy::tasks::IoTaskPool;
use bytes::Bytes;
#[cfg(not(target_family = "wasm"))]
use futures::FutureExt;
use matchbox_socket::{
    ChannelConfig, PeerState, RtcIceServerConfig, WebRtcSocket, WebRtcSocketBuilder,
};

use super::{Delivery, LinkClosed, LinkDown, LinkEvent, PeerId, PeerLinks};
use crate::P2pSettings;

const RELIABLE: usize = 0;
const UNRELIABLE: usize = 1;

/// Links to the peers of one matchbox room.
pub struct WebRtcLinks {
    socket: WebRtcSocket,
    /// Set by the message loop's task when it ends; read by [`PeerLinks::poll`].
    loop_end: Arc<Mutex<Option<LinkClosed>>>,
    closed: bool,
}

impl WebRtcLinks {
    /// Opens the room at `room_url` and starts the message loop, with the
    /// settings' ICE servers and handshake timeout.
    ///
    /// The ICE servers may be empty: then only host candidates are gathered.
    pub fn open(room_url: &str, settings: &P2pSettings) -> Self {
        let ice_servers = &settings.ice_servers;
        let ice = RtcIceServerConfig {
            urls: ice_servers.iter().flat_map(|s| s.urls.clone()).collect(),
            username: ice_servers.iter().find_map(|s| s.username.clone()),
            credential: ice_servers.iter().find_map(|s| s.credential.clone()),
        };
        let (socket, message_loop) = WebRtcSocketBuilder::new(room_url)
            .ice_server(ice)
            // A refused or unreachable server should fail the join quickly,
            // not retry for long: the lobby explains the failure.
            .reconnect_attempts(Some(2))
            .signaling_keep_alive_interval(Some(Duration::from_secs(10)))
            .handshake_timeout(Some(settings.handshake_timeout))
            .add_channel(ChannelConfig::reliable())
            .add_channel(ChannelConfig::unreliable())
            .build();
        let loop_end = Arc::new(Mutex::new(None));
        let report = loop_end.clone();
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
        Self {
            socket,
            loop_end,
            closed: false,
        }
    }
}

impl PeerLinks for WebRtcLinks {
    fn local_id(&mut self) -> Option<PeerId> {
        self.socket.id()
    }

    fn poll(&mut self, _now: Duration, events: &mut Vec<LinkEvent>) {
        if self.closed {
            return;
        }
        let changes = self.socket.try_update_peers();
        for (peer, state) in changes.as_deref().unwrap_or_default() {
            events.push(match state {
                PeerState::Connected => LinkEvent::Connected(*peer),
                PeerState::Disconnected => LinkEvent::Disconnected(*peer),
            });
        }
        for (channel, delivery) in [
            (RELIABLE, Delivery::Reliable),
            (UNRELIABLE, Delivery::Unreliable),
        ] {
            if let Ok(channel) = self.socket.get_channel_mut(channel) {
                for (from, packet) in channel.receive() {
                    events.push(LinkEvent::Received {
                        from,
                        delivery,
                        packet,
                    });
                }
            }
        }
        let loop_end = self
            .loop_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(closed) = loop_end.or_else(|| changes.is_err().then_some(LinkClosed::Local)) {
            self.closed = true;
            events.push(LinkEvent::Closed(closed));
        }
    }

    fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
        let index = match delivery {
            Delivery::Reliable => RELIABLE,
            Delivery::Unreliable => UNRELIABLE,
        };
        let channel = self.socket.get_channel_mut(index).map_err(|_| LinkDown)?;
        channel.try_send(packet, to).map_err(|_| LinkDown)
    }

    fn disconnect(&mut self, peer: PeerId) {
        self.socket.disconnect(peer);
    }
}

impl Drop for WebRtcLinks {
    fn drop(&mut self) {
        self.socket.close();
    }
}
