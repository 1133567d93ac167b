//! The host's queue of one client's inputs: a jitter buffer that is only as
//! deep as the link needs.
//!
//! Inputs arrive in bursts (redundant copies, packets that were late,
//! a client that stalled and sent the ticks it owed at once) and leave one
//! per host tick. A fixed depth is either too shallow for a jittery link
//! (the slot repeats its last input while the queue is empty) or a lasting
//! delay on a clean one. So the queue watches how deep it was at each tick
//! of the last [`WINDOW`] ticks: if it never fell below two, the inputs
//! beyond the one each tick needs are delay the link does not need, and
//! the queue drops one of them every other tick until the lowest depth is
//! one. An empty tick is how the queue grows: the inputs that were late
//! arrive after it and stay queued, so a jittery link keeps the depth its
//! jitter needs, and a burst after a stall drains within
//! `WINDOW + 2 × burst` ticks (under a second at 60 Hz).

use std::collections::VecDeque;

/// The most inputs queued per slot (133 ms at 60 Hz, enough for 100 ms of
/// jitter); beyond it the oldest are dropped, so a burst after a long stall
/// adds at most this much delay, and only until the queue drains.
pub(crate) const MAX_QUEUED: usize = 8;

/// Ticks over which the queue must have had spare inputs before it drops
/// one: half a second at 60 Hz, long enough to see a jittery link's gaps.
pub(crate) const WINDOW: usize = 30;

/// Ticks between two dropped inputs: the game sees its player's input
/// advance at most twice as fast while the queue drains, never jump.
const DROP_EVERY: u32 = 2;

/// One slot's queued inputs and what the queue has seen lately.
#[derive(Debug)]
pub(crate) struct SlotQueue<T> {
    /// The newest tick queued: anything not after it is a copy or late.
    newest_tick: Option<u32>,
    /// Inputs not yet applied, each with the sender's tick it was for.
    pending: VecDeque<(u32, T)>,
    /// The depth at each of the last [`WINDOW`] ticks, a ring.
    depths: [u8; WINDOW],
    /// Ticks taken since the slot was last reset, up to [`WINDOW`].
    seen: usize,
    /// Where the next depth goes in `depths`.
    next: usize,
    /// Ticks since the queue last dropped an input.
    since_drop: u32,
}

impl<T> Default for SlotQueue<T> {
    fn default() -> Self {
        Self {
            newest_tick: None,
            pending: VecDeque::new(),
            depths: [0; WINDOW],
            seen: 0,
            next: 0,
            since_drop: DROP_EVERY,
        }
    }
}

impl<T: Clone> SlotQueue<T> {
    /// Queues the inputs this slot has not seen: `inputs` are for
    /// consecutive ticks, the last one for `tick`. More than `max_batch`
    /// inputs, or none, is not a batch a client sends: ignored.
    pub(crate) fn accept(&mut self, tick: u32, inputs: &[T], max_batch: usize) {
        if inputs.is_empty() || inputs.len() > max_batch {
            return;
        }
        let first_tick = tick.wrapping_sub(inputs.len() as u32).wrapping_add(1);
        for (offset, input) in inputs.iter().enumerate() {
            let tick = first_tick.wrapping_add(offset as u32);
            // Ticks are compared by distance so that a wrapped counter still
            // counts as newer; anything not ahead is a duplicate or late.
            let is_new = self
                .newest_tick
                .is_none_or(|newest| tick.wrapping_sub(newest) as i32 > 0);
            if is_new {
                self.newest_tick = Some(tick);
                self.pending.push_back((tick, input.clone()));
            }
        }
        while self.pending.len() > MAX_QUEUED {
            self.pending.pop_front();
        }
    }

    /// The input for this tick and the sender's tick it was for, if one is
    /// queued (else the slot keeps its last), after dropping one the link
    /// does not need.
    pub(crate) fn take(&mut self) -> Option<(u32, T)> {
        let depth = self.pending.len();
        self.depths[self.next] = u8::try_from(depth).unwrap_or(u8::MAX);
        self.next = (self.next + 1) % WINDOW;
        self.seen = (self.seen + 1).min(WINDOW);
        self.since_drop = self.since_drop.saturating_add(1);
        let lowest = self.depths[..self.seen].iter().copied().min().unwrap_or(0);
        if self.seen == WINDOW && lowest >= 2 && depth >= 2 && self.since_drop >= DROP_EVERY {
            self.pending.pop_front();
            self.since_drop = 0;
        }
        self.pending.pop_front()
    }

    /// Inputs waiting behind this tick's: the slot's input delay, in ticks,
    /// on top of the network's.
    pub(crate) fn delay(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: usize = 8;

    fn queue() -> SlotQueue<u32> {
        SlotQueue::default()
    }

    /// The inputs queued, without their ticks.
    fn pending(queue: &SlotQueue<u32>) -> Vec<u32> {
        queue.pending.iter().map(|(_, input)| *input).collect()
    }

    #[test]
    fn redundant_copies_are_queued_once() {
        let mut queue = queue();
        queue.accept(1, &[1], BATCH);
        queue.accept(2, &[1, 2], BATCH);
        queue.accept(2, &[1, 2], BATCH);
        assert_eq!(pending(&queue), [1, 2]);
    }

    #[test]
    fn a_lost_packet_is_filled_by_the_next() {
        let mut queue = queue();
        queue.accept(1, &[1], BATCH);
        // Tick 2's packet is lost; tick 3's carries it.
        queue.accept(3, &[1, 2, 3], BATCH);
        assert_eq!(pending(&queue), [1, 2, 3]);
        // Each comes out with the tick it was sent for.
        assert_eq!(queue.take(), Some((1, 1)));
        assert_eq!(queue.take(), Some((2, 2)));
    }

    #[test]
    fn late_and_oversized_batches_change_nothing() {
        let mut queue = queue();
        queue.accept(10, &[10], BATCH);
        queue.take();
        queue.accept(9, &[9], BATCH);
        queue.accept(20, &[1, 2, 3, 4, 5, 6, 7, 8, 9], BATCH);
        queue.accept(21, &[], BATCH);
        assert!(pending(&queue).is_empty());
        assert_eq!(queue.newest_tick, Some(10));
    }

    #[test]
    fn the_queue_is_capped() {
        let mut queue = queue();
        queue.accept(8, &[1, 2, 3, 4, 5, 6, 7, 8], BATCH);
        queue.accept(10, &[3, 4, 5, 6, 7, 8, 9, 10], BATCH);
        assert_eq!(pending(&queue), [3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn counter_wraps() {
        let mut queue = queue();
        queue.accept(u32::MAX, &[6], BATCH);
        queue.accept(0, &[6, 7], BATCH);
        assert_eq!(pending(&queue), [6, 7]);
    }

    /// Runs `ticks` host ticks with one input arriving per tick (tick `n`'s
    /// before the host takes one): a clean link. Returns the delay after
    /// each tick.
    fn steady(queue: &mut SlotQueue<u32>, from: u32, ticks: u32) -> Vec<usize> {
        (from..from + ticks)
            .map(|tick| {
                queue.accept(tick, &[tick], BATCH);
                queue.take();
                queue.delay()
            })
            .collect()
    }

    #[test]
    fn a_burst_drains_back_to_the_clean_link_depth() {
        let mut queue = queue();
        let before = steady(&mut queue, 1, 60);
        assert!(before.iter().all(|&delay| delay == 0), "{before:?}");
        // A stall: nothing for 30 ticks, then the last 8 at once.
        for _ in 0..30 {
            assert_eq!(queue.take(), None);
        }
        queue.accept(98, &[91, 92, 93, 94, 95, 96, 97, 98], BATCH);
        let after = steady(&mut queue, 99, 120);
        assert_eq!(after[0], 7, "the burst is queued");
        let back = after.iter().position(|&delay| delay == 0).expect("drained");
        // WINDOW ticks to see the spare inputs, then one every other tick.
        assert!(
            back <= WINDOW + 2 * 7,
            "back to no delay after {back} ticks: {after:?}"
        );
        assert!(after[back..].iter().all(|&delay| delay == 0), "{after:?}");
    }

    #[test]
    fn a_jittery_link_keeps_the_depth_its_gaps_need() {
        let mut queue = queue();
        let mut starved = Vec::new();
        let mut tick = 0;
        // Every fourth tick nothing arrives, and the next tick brings two.
        for round in 0..200u32 {
            for step in 0..4 {
                if step != 0 {
                    let count = if step == 1 { 2 } else { 1 };
                    let inputs: Vec<u32> = (tick + 1..=tick + count).collect();
                    tick += count;
                    queue.accept(tick, &inputs, BATCH);
                }
                if queue.take().is_none() && round >= 50 {
                    starved.push((round, step));
                }
            }
        }
        // After the first gaps, the queue holds the one spare input the
        // gaps need and never runs dry again.
        assert!(starved.is_empty(), "starved at {starved:?}");
        assert!(queue.delay() <= 2, "delay {}", queue.delay());
    }
}
