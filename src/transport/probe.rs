//! Round trips timed at the transport, off the frame loop.
//!
//! The bridge's pings travel with the game's packets and are answered once
//! per frame, so what they time includes both apps' frame times: on a busy
//! machine, or a browser tab in the background, that is most of the
//! number. Players read the ping as their network's, so the WebRTC links
//! time their round trips on a data channel of their own, taken out of the
//! socket and served by a task: a ping is answered the moment it arrives,
//! and a pong is timed the moment it arrives, whatever the frame loops do.
//! What remains is the network and the two message loops.
//!
//! The bookkeeping is the bridge's [`PingTracker`]; a peer's pings are
//! answered at most [`ANSWERS_PER_SECOND`] times a second, so a flood on
//! this channel costs its sender more than it costs us.

use core::time::Duration;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use bevy::{platform::time::Instant, tasks::IoTaskPool};
use bytes::Bytes;
use futures::{StreamExt, channel::mpsc::UnboundedSender};
use matchbox_socket::{PeerId, WebRtcChannel};

use super::{RoundTrip, bridge::PingTracker, packet::Packet};

/// The most pings of one peer answered in a second; the rest are dropped.
pub const ANSWERS_PER_SECOND: u32 = 20;

/// What the answering task and the app share.
struct Book {
    epoch: Instant,
    pings: PingTracker,
    /// Per peer: the second its answers are counted in, and how many.
    answered: HashMap<PeerId, (u64, u32)>,
}

impl Book {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// Times round trips to the linked peers on the probe channel.
pub(crate) struct Probes {
    book: Arc<Mutex<Book>>,
    tx: UnboundedSender<(PeerId, Bytes)>,
}

impl Probes {
    /// Serves `channel`: answers pings and times pongs in a task of its own.
    pub(crate) fn start(channel: WebRtcChannel) -> Self {
        let book = Arc::new(Mutex::new(Book {
            epoch: Instant::now(),
            pings: PingTracker::default(),
            answered: HashMap::new(),
        }));
        let (tx, mut rx) = channel.split();
        let task = {
            let (book, tx) = (book.clone(), tx.clone());
            async move {
                while let Some((peer, bytes)) = rx.next().await {
                    let answer = {
                        let mut book = lock(&book);
                        let now = book.now();
                        handle(&mut book, peer, bytes, now)
                    };
                    if let Some(answer) = answer
                        && tx.unbounded_send((peer, answer)).is_err()
                    {
                        break;
                    }
                }
            }
        };
        IoTaskPool::get().spawn(task).detach();
        Self { book, tx }
    }

    /// Sends the pings due to `peers` (every half second each).
    pub(crate) fn send_due(&self, peers: impl Iterator<Item = PeerId>) {
        let probes = {
            let mut book = lock(&self.book);
            let now = book.now();
            book.pings.probes(now, peers)
        };
        for (peer, probe) in probes {
            // A closed socket: nothing to time any more.
            let _ = self.tx.unbounded_send((peer, probe.encode()));
        }
    }

    /// The round trip to `peer`, once one ping was answered.
    pub(crate) fn stats(&self, peer: PeerId) -> Option<RoundTrip> {
        let book = lock(&self.book);
        let rtt = book.pings.rtt(peer);
        (rtt > 0.0).then(|| RoundTrip {
            rtt: Duration::from_secs_f64(rtt),
            jitter: Duration::from_secs_f64(book.pings.jitter(peer)),
            loss: book.pings.loss(peer),
        })
    }

    /// Forgets a peer that is gone.
    pub(crate) fn forget(&self, peer: PeerId) {
        let mut book = lock(&self.book);
        book.pings.forget(peer);
        book.answered.remove(&peer);
    }
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What `peer`'s packet, arrived at `now`, asks for: a pong for a ping
/// (within its budget), nothing for a pong (it is timed) or for anything
/// else.
fn handle(book: &mut Book, peer: PeerId, bytes: Bytes, now: Duration) -> Option<Bytes> {
    match Packet::decode(bytes) {
        Ok(Packet::Ping(seq)) => {
            let second = now.as_secs();
            let (counted_in, count) = book.answered.entry(peer).or_insert((second, 0));
            if *counted_in != second {
                (*counted_in, *count) = (second, 0);
            }
            *count += 1;
            (*count <= ANSWERS_PER_SECOND).then(|| Packet::Pong(seq).encode())
        }
        Ok(Packet::Pong(seq)) => {
            book.pings.answered(peer, seq, now);
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Book {
        Book {
            epoch: Instant::now(),
            pings: PingTracker::default(),
            answered: HashMap::new(),
        }
    }

    fn peer(n: u128) -> PeerId {
        PeerId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn pings_are_answered_within_a_budget_and_pongs_timed() {
        let mut book = book();
        let ping = Packet::Ping(7).encode();
        let at = |ms| Duration::from_millis(ms);
        let answers = |book: &mut Book, peer, now| {
            (0..ANSWERS_PER_SECOND + 5)
                .filter(|_| handle(book, peer, ping.clone(), now).is_some())
                .count()
        };
        assert_eq!(
            answers(&mut book, peer(1), at(100)),
            ANSWERS_PER_SECOND as usize
        );
        assert_eq!(answers(&mut book, peer(1), at(900)), 0, "the same second");
        assert_eq!(
            answers(&mut book, peer(2), at(900)),
            ANSWERS_PER_SECOND as usize,
            "another peer has its own budget"
        );
        assert_eq!(
            answers(&mut book, peer(1), at(1_000)),
            ANSWERS_PER_SECOND as usize,
            "a new second"
        );
        assert_eq!(
            handle(&mut book, peer(3), ping.clone(), at(1_000)),
            Some(Packet::Pong(7).encode())
        );
        // A pong for a probe we sent is timed; junk and stray pongs are not.
        let probes = book.pings.probes(at(2_000), [peer(4)].into_iter());
        let Packet::Ping(seq) = probes[0].1 else {
            panic!("a ping");
        };
        let pong = Packet::Pong(seq).encode();
        assert!(
            handle(
                &mut book,
                peer(4),
                Bytes::from_static(b"\xff junk"),
                at(2_010)
            )
            .is_none()
        );
        assert!(handle(&mut book, peer(5), pong.clone(), at(2_010)).is_none());
        assert_eq!(book.pings.rtt(peer(4)), 0.0);
        assert!(handle(&mut book, peer(4), pong, at(2_030)).is_none());
        assert!((book.pings.rtt(peer(4)) - 0.030).abs() < 1e-9);
    }
}
