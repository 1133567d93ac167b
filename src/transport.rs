//! Links between peers, seen as byte queues.
//!
//! A [`PeerLinks`] implementation moves opaque packets to and from other
//! peers. Two exist: [`WebRtcLinks`] over matchbox data channels (the real
//! thing, native and browser), and `MemoryLinks` (feature `testing`) in one process with a
//! seeded link conditioner (the deterministic test tier). Nothing above this
//! module touches a socket: [`bridge`] turns link events into `bevy_replicon`'s
//! queues and states, and answers pings to measure round-trip time.

pub mod bridge;
#[cfg(feature = "testing")]
pub mod conditioner;
#[cfg(feature = "testing")]
pub mod delay_stage;
#[cfg(feature = "testing")]
pub mod memory;
pub mod packet;
mod probe;
pub mod traffic;
pub mod webrtc;

use core::{fmt, time::Duration};

use bevy::prelude::*;
use bytes::Bytes;
pub use matchbox_socket::PeerId;
use serde::{Deserialize, Serialize};

#[cfg(feature = "testing")]
pub use conditioner::LinkConditions;
#[cfg(feature = "testing")]
pub use delay_stage::DelayedLinks;
#[cfg(feature = "testing")]
pub use memory::{MemoryLinks, MemoryNetwork};
pub use traffic::{ByteCounts, TrafficMeter};
pub use webrtc::WebRtcLinks;

/// How a packet travels.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Delivery {
    /// Retransmitted until it arrives, in order.
    Reliable,
    /// Sent once; may be lost, duplicated or reordered.
    Unreliable,
}

/// Something that happened on the links since the last poll.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LinkEvent {
    /// A peer's link is up: packets can flow both ways.
    Connected(PeerId),
    /// A peer's link is down for good.
    Disconnected(PeerId),
    /// A packet arrived.
    Received {
        /// The peer it came from, as the link saw it (never from the payload).
        from: PeerId,
        /// The channel it came on.
        delivery: Delivery,
        /// The payload.
        packet: Bytes,
    },
    /// The links are gone: the signaling connection closed or the message
    /// loop ended. No further events follow.
    Closed(LinkClosed),
}

/// Why the links closed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LinkClosed {
    /// The signaling server refused us or could not be reached.
    Signaling(String),
    /// The WebRTC stack failed; the text says how.
    Failed(String),
    /// The links were closed on purpose from this side.
    Local,
}

impl fmt::Display for LinkClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkClosed::Signaling(why) => write!(f, "signaling connection lost: {why}"),
            LinkClosed::Failed(why) => write!(f, "peer-to-peer links failed: {why}"),
            LinkClosed::Local => f.write_str("closed by this peer"),
        }
    }
}

/// How a link's packets travel, as ICE settled it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum LinkRoute {
    /// Straight between the two peers (on one network, or through their
    /// routers' NAT mappings).
    Direct,
    /// Through a TURN relay: it works where the routers allow nothing else,
    /// at the cost of a detour and the relay operator's bandwidth.
    Relayed,
}

/// Why no link to the host came up, as far as this side can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoPath {
    /// The host never started a connection to us.
    PeerSilent,
    /// Candidates went both ways but no pair worked, and no relay (TURN)
    /// server is configured: the two networks need one.
    NeedsRelay,
    /// A relay server is configured but gave us no relay address: it
    /// refused the credentials or did not answer.
    RelayUnavailable,
    /// Even with a relay address nothing got through.
    Blocked,
}

/// A packet could not be queued: the peer or the links are gone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkDown;

/// A link's round trip, timed by the links.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundTrip {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// How much round trips vary: the smoothed difference between one
    /// sample and the next (RFC 3550's interarrival jitter, on round trips).
    pub jitter: Duration,
    /// Share of recent probes lost, 0 to 1.
    pub loss: f64,
}

/// Packet links to other peers: the only thing a messaging backend needs.
///
/// Implementations never panic on a closed channel or a vanished peer: they
/// report [`LinkEvent::Closed`] or [`LinkDown`] instead.
pub trait PeerLinks: Send + Sync + 'static {
    /// This peer's id, once the signaling server has assigned it.
    fn local_id(&mut self) -> Option<PeerId>;

    /// Appends what happened since the last call. `now` is the app's real
    /// time, which the in-memory links use as their clock.
    fn poll(&mut self, now: Duration, events: &mut Vec<LinkEvent>);

    /// Queues a packet for one peer.
    fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown>;

    /// Closes the link to one peer, connected or still connecting: it sees
    /// its link go down, and [`LinkEvent::Disconnected`] follows here. It
    /// cannot link to these links again.
    fn disconnect(&mut self, peer: PeerId);

    /// Asks the signaling server to introduce this client to its host
    /// again (a client whose host link died while the host stayed in the
    /// room): the host then offers a new link. Links without signaling do
    /// nothing. `now` is the app's real time; links may ignore a request
    /// that comes too soon after the last.
    fn rejoin(&mut self, _now: Duration) {}

    /// The host started the game in this room: links that may have to
    /// open the room again on a signaling server that lost it say so.
    fn game_started(&mut self) {}

    /// The round trip to a connected peer as the links time it themselves,
    /// off the frame loop, once known. Links that do not (in-memory ones)
    /// say `None`, and the bridge's own pings, which include both apps'
    /// frame times, stand in.
    fn round_trip(&self, _peer: PeerId) -> Option<RoundTrip> {
        None
    }

    /// How the link to a connected peer travels, once known. Links that
    /// have no such notion (in-memory ones) say `None`.
    fn route(&self, _peer: PeerId) -> Option<LinkRoute> {
        None
    }

    /// Why no link came up, asked when the wait for the host ends. Links
    /// that cannot tell say `None`.
    fn why_unreachable(&self) -> Option<NoPath> {
        None
    }
}

/// The links of this app, inserted by the lobby (or a test) and removed when
/// the session ends. Dropping it closes every link.
///
/// It counts the bytes that go through [`send`](Self::send) and
/// [`poll`](Self::poll) per peer ([`traffic`](Self::traffic)); every other
/// [`PeerLinks`] method is the links' own, through `Deref`.
#[derive(Resource, Deref, DerefMut)]
pub struct Transport {
    #[deref]
    links: Box<dyn PeerLinks>,
    traffic: TrafficMeter,
}

impl Transport {
    /// Wraps any [`PeerLinks`].
    pub fn new(links: impl PeerLinks) -> Self {
        Self {
            links: Box::new(links),
            traffic: TrafficMeter::default(),
        }
    }

    /// [`PeerLinks::poll`], counting the bytes received.
    pub fn poll(&mut self, now: Duration, events: &mut Vec<LinkEvent>) {
        let first = events.len();
        self.links.poll(now, events);
        self.traffic.advance(now);
        for event in &events[first..] {
            match event {
                LinkEvent::Received { from, packet, .. } => {
                    self.traffic.received(*from, packet.len());
                }
                LinkEvent::Disconnected(peer) => self.traffic.forget(*peer),
                _ => {}
            }
        }
    }

    /// [`PeerLinks::send`], counting the bytes queued.
    pub fn send(&mut self, to: PeerId, delivery: Delivery, packet: Bytes) -> Result<(), LinkDown> {
        let len = packet.len();
        self.links.send(to, delivery, packet)?;
        self.traffic.sent(to, len);
        Ok(())
    }

    /// The bytes counted per peer.
    pub fn traffic(&self) -> &TrafficMeter {
        &self.traffic
    }

    /// Every byte sent and received since the last call, all peers together.
    pub fn take_byte_counts(&mut self) -> ByteCounts {
        self.traffic.take_totals()
    }
}

/// Which room to open links in, and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEntry {
    /// The room's share code.
    pub code: crate::share_code::ShareCode,
    /// The room's host token when hosting. [`WebRtcLinks`] trades it for a
    /// one-time ticket right before the websocket opens, so the token
    /// itself never travels in a URL (where proxies log it).
    pub host_token: Option<String>,
    /// This player's seat secret in the room: drawn once when it enters the
    /// room and kept while it plays there. The server derives the player's
    /// peer id from it, so a player whose signaling dropped comes back as
    /// the same peer, to the same seat and the same player.
    pub seat: String,
}

impl RoomEntry {
    /// Entering `code` (hosting, with its token) with a fresh seat secret.
    pub fn new(code: crate::share_code::ShareCode, host_token: Option<String>) -> Self {
        Self {
            code,
            host_token,
            seat: fresh_seat(),
        }
    }

    /// Joining `code` as a client, with a fresh seat secret.
    pub fn client(code: crate::share_code::ShareCode) -> Self {
        Self::new(code, None)
    }
}

/// A new seat secret: 122 random bits (a v4 UUID) as 32 hex characters.
pub fn fresh_seat() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Opens the links of a room: given the room (with the host token when
/// hosting) and the settings, returns the app's [`Transport`].
///
/// The default opens [`WebRtcLinks`]. The deterministic tests replace it with
/// one that joins a `MemoryNetwork`, so the lobby and the host's reconnect
/// run the same code over in-memory links.
#[derive(Resource)]
pub struct LinkFactory(pub OpenLinks);

/// The function behind a [`LinkFactory`].
pub type OpenLinks = Box<dyn Fn(&RoomEntry, &crate::P2pSettings) -> Transport + Send + Sync>;

impl Default for LinkFactory {
    fn default() -> Self {
        Self(Box::new(|room, settings| {
            Transport::new(WebRtcLinks::open(room, settings))
        }))
    }
}
