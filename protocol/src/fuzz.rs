//! A small seeded mutation fuzzer, for the tests of every decoder a peer can
//! reach (feature `fuzzing`, for tests only).
//!
//! Stable Rust and no dependency: each case is a valid seed input (a packet,
//! an SDP answer, a signal) with a few random mutations, or plain random
//! bytes. The run is fixed by its seed, so a failure names the case that
//! makes it again. How many cases: `P2P_FUZZ_CASES`, else the test's own
//! default (CI runs that; a long run sets the variable).

use std::time::Instant;

/// Environment variable that sets how many cases each fuzz test runs.
pub const CASES_VAR: &str = "P2P_FUZZ_CASES";

/// A seeded source of inputs: `SplitMix64`, good enough to explore bytes.
#[derive(Clone, Debug)]
pub struct Mutator {
    state: u64,
}

/// Bytes that tend to sit on a decoder's edges.
const INTERESTING: [u8; 10] = [0, 1, 2, 0x7f, 0x80, 0xff, b'"', b'\\', b'\r', b'\n'];

impl Mutator {
    /// A mutator whose whole run follows from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Up to `max_len` random bytes.
    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// `seed` with one to four random mutations: a flipped bit, an
    /// interesting byte, an inserted or deleted run, a duplicated run, a cut.
    pub fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(6) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = INTERESTING[self.below(INTERESTING.len())];
                }
                2 => {
                    let run = self.bytes(8);
                    out.splice(at..at, run);
                }
                3 => {
                    let end = (at + 1 + self.below(16)).min(out.len());
                    out.drain(at.min(end)..end);
                }
                4 => {
                    let end = (at + 1 + self.below(32)).min(out.len());
                    let run = out[at.min(end)..end].to_vec();
                    let to = self.below(out.len() + 1);
                    out.splice(to..to, run);
                }
                _ => out.truncate(at),
            }
        }
        out
    }

    /// One case: a mutated seed (seven times in eight) or random bytes.
    pub fn input(&mut self, seeds: &[&[u8]], max_random: usize) -> Vec<u8> {
        if seeds.is_empty() || self.below(8) == 0 {
            self.bytes(max_random)
        } else {
            let seed = seeds[self.below(seeds.len())];
            self.mutate(seed)
        }
    }
}

/// How many cases to run: `P2P_FUZZ_CASES` if set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var(CASES_VAR)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Runs `case` on [`cases`]`(default)` inputs made from `seeds`, and prints
/// how many ran and how fast: `fuzz <name>: cases=N secs=S`.
pub fn run(name: &str, default: usize, seeds: &[&[u8]], mut case: impl FnMut(&[u8])) -> usize {
    let cases = cases(default);
    let mut mutator = Mutator::new(0x5eed ^ name.len() as u64);
    let start = Instant::now();
    for _ in 0..cases {
        let input = mutator.input(seeds, 64);
        case(&input);
    }
    println!(
        "fuzz {name}: cases={cases} secs={:.1}",
        start.elapsed().as_secs_f64()
    );
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_cases_and_mutations_change_inputs() {
        let (mut a, mut b) = (Mutator::new(7), Mutator::new(7));
        let seed = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n";
        let made: Vec<Vec<u8>> = (0..100).map(|_| a.input(&[seed], 64)).collect();
        assert_eq!(
            made,
            (0..100).map(|_| b.input(&[seed], 64)).collect::<Vec<_>>()
        );
        let changed = made.iter().filter(|m| m.as_slice() != seed).count();
        assert!(changed > 80, "{changed} of 100 differ from the seed");
        assert!(made.iter().any(|m| m.len() < seed.len()));
        assert!(made.iter().any(|m| m.len() > seed.len()));
    }
}
