//! A seeded link conditioner: loss, latency, jitter and duplication, so that
//! tests see what a bad network does, the same way on every run.

use core::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// What a link does to the packets crossing it, in one direction.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct LinkConditions {
    /// One-way delay every packet gets.
    pub latency: Duration,
    /// Up to this much more delay, drawn uniformly per packet (so packets
    /// overtake each other on unreliable channels).
    pub jitter: Duration,
    /// Chance that an unreliable packet is lost, 0.0 to 1.0. Reliable packets
    /// are never lost: like SCTP, the link retransmits, which shows as delay.
    pub loss: f64,
    /// Chance that an unreliable packet arrives twice, 0.0 to 1.0.
    pub duplicate: f64,
}

impl LinkConditions {
    /// A perfect link: no delay, no loss.
    pub const PERFECT: Self = Self {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
    };
}

/// Decides, packet by packet, when (and whether) each copy arrives.
pub(crate) struct Conditioner {
    rng: StdRng,
}

/// What happens to one packet.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct Fate {
    /// Arrival times, relative to the send time; empty when lost.
    pub copies: [Option<Duration>; 2],
}

impl Conditioner {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Draws the fate of one packet under `conditions`.
    pub(crate) fn fate(&mut self, conditions: &LinkConditions, reliable: bool) -> Fate {
        if !reliable && self.rng.random_bool(conditions.loss.clamp(0.0, 1.0)) {
            return Fate {
                copies: [None, None],
            };
        }
        let first = Some(self.delay(conditions));
        let second = (!reliable && self.rng.random_bool(conditions.duplicate.clamp(0.0, 1.0)))
            .then(|| self.delay(conditions));
        Fate {
            copies: [first, second],
        }
    }

    fn delay(&mut self, conditions: &LinkConditions) -> Duration {
        let jitter = if conditions.jitter.is_zero() {
            Duration::ZERO
        } else {
            conditions.jitter.mul_f64(self.rng.random::<f64>())
        };
        conditions.latency + jitter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fates() {
        let conditions = LinkConditions {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(100),
            loss: 0.2,
            duplicate: 0.1,
        };
        let draw = |seed| {
            let mut conditioner = Conditioner::new(seed);
            (0..100)
                .map(|_| conditioner.fate(&conditions, false))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn loss_rate_is_close_to_the_setting() {
        let conditions = LinkConditions {
            loss: 0.2,
            ..LinkConditions::PERFECT
        };
        let mut conditioner = Conditioner::new(7);
        let lost = (0..10_000)
            .filter(|_| conditioner.fate(&conditions, false).copies[0].is_none())
            .count();
        assert!((1_700..2_300).contains(&lost), "lost {lost} of 10000");
    }

    #[test]
    fn reliable_packets_are_never_lost() {
        let conditions = LinkConditions {
            loss: 1.0,
            duplicate: 1.0,
            ..LinkConditions::PERFECT
        };
        let mut conditioner = Conditioner::new(7);
        let fate = conditioner.fate(&conditions, true);
        assert_eq!(fate.copies, [Some(Duration::ZERO), None]);
    }
}
