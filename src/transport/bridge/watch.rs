//! Which linked peers have gone silent.
//!
//! A WebRTC link whose network died says nothing for a long while: ICE
//! gives up after some 30 s, and until then the data channels look open.
//! But a live peer is never quiet: pings go both ways twice a second, and a
//! playing client sends its input every tick. So a peer heard nothing from
//! for [`LinkWatch::timeout`] is taken for gone: the bridge closes its link
//! and reports it unlinked, at once on both sides of a dead network (each
//! side's watch fires), and the session's reconnect paths take over. Pure
//! bookkeeping, driven by the caller's clock.

use core::time::Duration;
use std::collections::HashMap;

use bevy::prelude::*;

use crate::transport::PeerId;

/// When each linked peer was last heard from.
#[derive(Resource, Debug)]
pub struct LinkWatch {
    /// Silence past this closes a link ([`P2pSettings::link_timeout`](crate::P2pSettings::link_timeout)).
    pub timeout: Duration,
    last_heard: HashMap<PeerId, Duration>,
}

impl Default for LinkWatch {
    fn default() -> Self {
        Self {
            timeout: crate::P2pSettings::default().link_timeout,
            last_heard: HashMap::new(),
        }
    }
}

impl LinkWatch {
    /// `peer`'s link came up at `now`.
    pub fn linked(&mut self, peer: PeerId, now: Duration) {
        self.last_heard.insert(peer, now);
    }

    /// Something came from `peer` at `now` (ignored for a peer not linked).
    pub fn heard(&mut self, peer: PeerId, now: Duration) {
        if let Some(last) = self.last_heard.get_mut(&peer) {
            *last = (*last).max(now);
        }
    }

    /// `peer`'s link is gone.
    pub fn forget(&mut self, peer: PeerId) {
        self.last_heard.remove(&peer);
    }

    /// The peers silent past the timeout at `now`, forgotten as they are
    /// named.
    pub fn silent(&mut self, now: Duration) -> Vec<PeerId> {
        let timeout = self.timeout;
        let mut silent = Vec::new();
        self.last_heard.retain(|&peer, &mut last| {
            let quiet = now.saturating_sub(last) > timeout;
            if quiet {
                silent.push(peer);
            }
            !quiet
        });
        silent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::peer_id as peer;

    #[test]
    fn a_peer_is_silent_once_nothing_came_for_the_timeout() {
        let mut watch = LinkWatch {
            timeout: Duration::from_secs(5),
            ..LinkWatch::default()
        };
        let (a, b) = (peer(1), peer(2));
        watch.linked(a, Duration::ZERO);
        watch.linked(b, Duration::ZERO);
        watch.heard(a, Duration::from_secs(4));
        // Nothing from an unlinked peer counts.
        watch.heard(peer(3), Duration::from_secs(4));
        assert!(watch.silent(Duration::from_secs(5)).is_empty());
        assert_eq!(watch.silent(Duration::from_millis(5_001)), vec![b]);
        // Named once, then forgotten.
        assert!(watch.silent(Duration::from_secs(8)).is_empty());
        assert_eq!(watch.silent(Duration::from_millis(9_001)), vec![a]);
        watch.linked(b, Duration::from_secs(10));
        watch.forget(b);
        assert!(watch.silent(Duration::from_secs(60)).is_empty());
    }
}
