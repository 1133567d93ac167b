//! How each link is doing, as this app measures it: round trip, jitter,
//! loss, bytes per second each way and route. The backend of the app's role
//! refreshes it every frame for the peers linked then, and the bridge
//! forgets it all when the app has no links or no role
//! (`forget_without_links`); the network overlay (F3) shows it, the
//! roster's routes come from it, and replicon's `ClientStats` get the same
//! figures.

use core::time::Duration;
use std::collections::HashMap;

use bevy::prelude::*;
use bevy_replicon::prelude::ClientStats;

use super::PingTracker;
use crate::transport::{LinkRoute, PeerId, Transport};

/// One link's figures.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
pub struct LinkStat {
    /// Smoothed round-trip time (zero before the first answer).
    pub rtt: Duration,
    /// How much round trips vary from one to the next.
    pub jitter: Duration,
    /// Share of recent probes lost, 0 to 1.
    pub loss: f64,
    /// Payload bytes per second sent on this link.
    pub sent_bps: f64,
    /// Payload bytes per second received on this link.
    pub received_bps: f64,
    /// Direct or through a relay, once the links know.
    pub route: Option<LinkRoute>,
}

impl LinkStat {
    /// The same figures as replicon's statistics.
    pub fn to_replicon(&self) -> ClientStats {
        ClientStats {
            rtt: self.rtt.as_secs_f64(),
            packet_loss: self.loss,
            sent_bps: self.sent_bps,
            received_bps: self.received_bps,
        }
    }
}

/// Every linked peer's [`LinkStat`]: on a client the host, on the host each
/// client.
#[derive(Resource, Default, Debug)]
pub struct LinkStats {
    links: HashMap<PeerId, LinkStat>,
}

impl LinkStats {
    /// The link to `peer`, while it is linked.
    pub fn get(&self, peer: PeerId) -> Option<&LinkStat> {
        self.links.get(&peer)
    }

    /// Every linked peer's figures.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &LinkStat)> {
        self.links.iter().map(|(&peer, stat)| (peer, stat))
    }

    /// Measures the links to `peers` afresh; others are forgotten. Only a
    /// link whose figures moved is written, so `Changed<LinkStats>` means
    /// something did.
    pub(crate) fn refresh(
        stats: &mut ResMut<Self>,
        transport: &Transport,
        pings: &PingTracker,
        peers: impl Iterator<Item = PeerId>,
    ) {
        let fresh: Vec<(PeerId, LinkStat)> = peers
            .map(|peer| (peer, measure(transport, pings, peer)))
            .collect();
        let same = fresh.len() == stats.links.len()
            && fresh
                .iter()
                .all(|(peer, stat)| stats.links.get(peer) == Some(stat));
        if same {
            return;
        }
        let links = &mut stats.links;
        links.retain(|peer, _| fresh.iter().any(|(linked, _)| linked == peer));
        links.extend(fresh);
    }
}

/// The one place the figures are dropped wholesale: an app with no links
/// (no `Transport`) or no role has none. (Each backend refreshes only the
/// links of its own role, so neither wipes the other's.)
pub(crate) fn forget_without_links(
    transport: Option<Res<Transport>>,
    role: Option<Res<crate::role::Role>>,
    mut stats: ResMut<LinkStats>,
) {
    if (transport.is_none() || role.is_none()) && !stats.links.is_empty() {
        stats.links.clear();
    }
}

/// The link to `peer`: the links' own round-trip timing when they have it
/// (off the frame loop, see `transport/probe.rs`), else the bridge's pings.
fn measure(transport: &Transport, pings: &PingTracker, peer: PeerId) -> LinkStat {
    let (rtt, jitter, loss) = match transport.round_trip(peer) {
        Some(timed) => (timed.rtt, timed.jitter, timed.loss),
        None => (
            Duration::from_secs_f64(pings.rtt(peer)),
            Duration::from_secs_f64(pings.jitter(peer)),
            pings.loss(peer),
        ),
    };
    let (sent_bps, received_bps) = transport.traffic().rates(peer);
    LinkStat {
        rtt,
        jitter,
        loss,
        sent_bps,
        received_bps,
        route: transport.route(peer),
    }
}
