//! A client's clock for drawing the host's ticks smoothly, only as far
//! behind them as the link's jitter needs.
//!
//! A client receives the host's state once per host tick at best, and over
//! a real link at uneven times: one tick late, two at once. Drawing each
//! state the frame it arrives stutters; drawing a fixed 100 ms behind hides
//! the stutter and adds 100 ms to everything a player sees. A
//! [`PlayoutClock`] is fed the newest host tick a client holds (once a frame
//! is enough) and answers, each frame, which host tick to draw: a fractional
//! tick that advances at the real-time rate, behind the newest tick by a
//! delay it derives from how unevenly the ticks arrive.
//!
//! How:
//! - Each arrival gives an *offset*, the tick minus the arrival time in
//!   ticks. Its running mean says which tick is due now; its mean deviation
//!   (both with RFC 3550's gain of 1/16) says how unevenly ticks come, from
//!   the network and from both apps' frames (a host runs 0, 1 or 2 ticks a
//!   frame).
//! - The delay is [`PlayoutSettings::deviations`] mean deviations, at least
//!   [`PlayoutSettings::min_delay_ticks`]: the drawn tick trails the tick
//!   due by that much, so that a tick that comes late is still in time.
//! - The drawn tick advances at real time and steers toward its target by
//!   at most [`PlayoutSettings::max_slew`] of its rate (a 10 % speed change
//!   is not seen), so a change in the delay never jumps; it jumps only when
//!   it is more than [`PlayoutSettings::snap_ticks`] off (the first tick, a
//!   long stall).
//! - It never runs more than [`PlayoutSettings::max_ahead_ticks`] past the
//!   newest tick it holds: when the host stops sending, the drawing stops
//!   soon after instead of inventing a future.
//!
//! Pure: times are given in seconds by the caller, so it is tested without
//! a clock and runs the same in a browser. The arena feeds it its replicated
//! tick counter (`examples/arena/view.rs`).

/// The limits a [`PlayoutClock`] works within.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlayoutSettings {
    /// Host ticks per second (the plugin's fixed rate, 60 by default).
    pub tick_hz: f64,
    /// The least delay behind the newest tick, in ticks, however clean the
    /// link. A client sees a tick only at its next frame, so even on
    /// loopback ticks show up to a frame late; with half a tick the latency
    /// benchmark counted 0.05 % of frames with a drawn step up to 2.6 px off
    /// (a start or stop drawn from a guess, then corrected), with one tick
    /// none, for about 8 ms more.
    pub min_delay_ticks: f64,
    /// The most delay, in ticks: a link worse than this stutters rather
    /// than adding more.
    pub max_delay_ticks: f64,
    /// Mean deviations of the arrivals the drawn tick trails the tick due.
    pub deviations: f64,
    /// The most the drawn tick's rate changes to catch up or fall back,
    /// as a share of real time.
    pub max_slew: f64,
    /// How far off its target the drawn tick may be before it jumps.
    pub snap_ticks: f64,
    /// How far past the newest tick held the drawn tick may run.
    pub max_ahead_ticks: f64,
}

impl Default for PlayoutSettings {
    fn default() -> Self {
        Self {
            tick_hz: 60.0,
            min_delay_ticks: 1.0,
            max_delay_ticks: 12.0,
            deviations: 3.0,
            max_slew: 0.1,
            snap_ticks: 6.0,
            max_ahead_ticks: 2.0,
        }
    }
}

/// Which host tick to draw each frame: see the [module](self).
#[derive(Clone, Debug)]
pub struct PlayoutClock {
    settings: PlayoutSettings,
    /// The first tick seen: ticks are kept relative to it, unwrapped.
    base: Option<u32>,
    /// The newest tick held, relative to `base`.
    newest: f64,
    /// Mean offset of arrivals: tick minus arrival time, in ticks.
    offset: f64,
    /// Mean deviation of the offsets, ticks.
    deviation: f64,
    /// The tick drawn last frame and when, relative to `base`.
    drawn: Option<(f64, f64)>,
}

impl PlayoutClock {
    /// A clock that has seen no tick yet.
    pub fn new(settings: PlayoutSettings) -> Self {
        Self {
            settings,
            base: None,
            newest: 0.0,
            offset: 0.0,
            deviation: 0.0,
            drawn: None,
        }
    }

    /// The settings it works by.
    pub fn settings(&self) -> &PlayoutSettings {
        &self.settings
    }

    /// The newest host tick this client holds is `tick`, as of `now`
    /// (seconds, any origin, the same as [`Self::advance`]'s). A tick not
    /// newer than the newest is ignored, so calling it every frame with the
    /// same tick is right.
    pub fn observe(&mut self, tick: u32, now: f64) {
        let Some(base) = self.base else {
            self.base = Some(tick);
            self.newest = 0.0;
            self.offset = -now * self.settings.tick_hz;
            return;
        };
        // Ticks compared by distance, so a wrapped counter is still newer.
        let relative = f64::from(tick.wrapping_sub(base) as i32);
        if relative <= self.newest {
            return;
        }
        self.newest = relative;
        let offset = relative - now * self.settings.tick_hz;
        let error = offset - self.offset;
        self.offset += error / 16.0;
        self.deviation += (error.abs() - self.deviation) / 16.0;
    }

    /// How far behind the newest tick the clock aims to draw, in ticks.
    pub fn delay_ticks(&self) -> f64 {
        let s = &self.settings;
        (s.deviations * self.deviation).clamp(s.min_delay_ticks, s.max_delay_ticks)
    }

    /// How unevenly ticks arrive: the mean deviation of their arrival
    /// from when they were due, in ticks.
    pub fn jitter_ticks(&self) -> f64 {
        self.deviation
    }

    /// The host tick to draw at `now`, fractional; `None` before the first
    /// tick. Call it once a frame: it never goes backwards.
    pub fn advance(&mut self, now: f64) -> Option<f64> {
        let base = self.base?;
        let s = self.settings;
        let expected_newest = now * s.tick_hz + self.offset;
        let target = expected_newest.min(self.newest + s.max_ahead_ticks) - self.delay_ticks();
        let drawn = match self.drawn {
            Some((drawn, at)) => {
                let step = ((now - at) * s.tick_hz).max(0.0);
                let error = target - (drawn + step);
                if error.abs() > s.snap_ticks {
                    target.max(drawn)
                } else {
                    // Steer toward the target, by at most `max_slew` of
                    // this frame's step, and never past the newest allowed.
                    let steer = error.clamp(-s.max_slew * step, s.max_slew * step);
                    (drawn + step + steer)
                        .min(self.newest + s.max_ahead_ticks)
                        .max(drawn)
                }
            }
            None => target,
        };
        self.drawn = Some((drawn, now));
        Some(f64::from(base) + drawn)
    }
}

impl Default for PlayoutClock {
    fn default() -> Self {
        Self::new(PlayoutSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: f64 = 60.0;
    const FRAME: f64 = 1.0 / 144.0;

    /// Plays `seconds` of frames: tick `t` arrives at `t / HZ + delay(t)`.
    /// Returns every frame's drawn tick, with its time.
    fn play(clock: &mut PlayoutClock, seconds: f64, delay: impl Fn(u32) -> f64) -> Vec<(f64, f64)> {
        let mut arrivals: Vec<(f64, u32)> = (0..(seconds * HZ) as u32)
            .map(|tick| (f64::from(tick) / HZ + delay(tick), tick))
            .collect();
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut next = 0;
        let mut newest = None;
        let mut frames = Vec::new();
        let mut now = 0.0;
        while now < seconds {
            while next < arrivals.len() && arrivals[next].0 <= now {
                newest = newest.max(Some(arrivals[next].1));
                next += 1;
            }
            if let Some(tick) = newest {
                clock.observe(tick, now);
            }
            if let Some(drawn) = clock.advance(now) {
                frames.push((now, drawn));
            }
            now += FRAME;
        }
        frames
    }

    /// Frames whose drawn tick moved less than half or more than twice
    /// what real time did.
    fn uneven_frames(frames: &[(f64, f64)]) -> usize {
        frames
            .windows(2)
            .filter(|pair| {
                let real = (pair[1].0 - pair[0].0) * HZ;
                let drawn = pair[1].1 - pair[0].1;
                drawn < real * 0.5 || drawn > real * 2.0
            })
            .count()
    }

    #[test]
    fn a_clean_link_is_drawn_evenly_and_close_behind() {
        let mut clock = PlayoutClock::default();
        let frames = play(&mut clock, 5.0, |_| 0.020);
        let late: Vec<_> = frames[frames.len() / 2..].to_vec();
        assert_eq!(uneven_frames(&late), 0);
        // Behind the newest tick that has arrived by the frame's end by
        // about the delay: the frame's quantization and `min_delay_ticks`.
        let (now, drawn) = *late.last().unwrap();
        let newest = ((now - 0.020) * HZ).floor();
        assert!(
            newest - drawn < 2.0 && newest - drawn > 0.0,
            "drawn {drawn:.2}, newest {newest}"
        );
        assert!(clock.delay_ticks() < 1.5, "delay {}", clock.delay_ticks());
    }

    #[test]
    fn jitter_grows_the_delay_and_the_drawing_stays_even() {
        let mut clean = PlayoutClock::default();
        play(&mut clean, 5.0, |_| 0.050);
        let mut jittery = PlayoutClock::default();
        // 50 ms ± 20 ms, a fixed pseudo-random pattern.
        let frames = play(&mut jittery, 5.0, |tick| {
            0.030 + f64::from(tick.wrapping_mul(2_654_435_761) % 1000) / 1000.0 * 0.040
        });
        // ± 1.2 ticks: three mean deviations of the arrivals, as the clock
        // sees them (late ticks are seen together), are over the least
        // delay a clean link gets, and under the spread.
        assert_eq!(clean.delay_ticks(), clean.settings().min_delay_ticks);
        assert!(
            (1.15..2.4).contains(&jittery.delay_ticks()),
            "jittery {} vs clean {}",
            jittery.delay_ticks(),
            clean.delay_ticks()
        );
        let late = &frames[frames.len() / 2..];
        assert_eq!(uneven_frames(late), 0);
        // It draws only ticks it holds, or at most its allowance past them.
        for &(now, drawn) in late {
            let held = ((now - 0.070) * HZ).floor();
            assert!(
                drawn <= held + 2.0 + 1e-9,
                "at {now}: drawn {drawn} held >= {held}"
            );
        }
    }

    #[test]
    fn a_stall_stops_the_drawing_and_it_catches_up_after() {
        let mut clock = PlayoutClock::default();
        // Ticks of 2.0 s to 2.5 s arrive together at 2.5 s.
        let frames = play(&mut clock, 5.0, |tick| {
            let sent = f64::from(tick) / HZ;
            if (2.0..2.5).contains(&sent) {
                2.5 - sent + 0.010
            } else {
                0.010
            }
        });
        let during: Vec<_> = frames
            .iter()
            .filter(|(now, _)| (2.2..2.5).contains(now))
            .collect();
        let stalled_at = during.first().unwrap().1;
        assert!(
            during.iter().all(|(_, drawn)| *drawn <= 120.0 + 2.0),
            "ran past the ticks it held: {stalled_at}"
        );
        // Within a second after the stall, even again and close behind.
        let after: Vec<_> = frames
            .iter()
            .copied()
            .filter(|(now, _)| *now >= 3.5)
            .collect();
        assert_eq!(uneven_frames(&after), 0);
        let (now, drawn) = *after.last().unwrap();
        assert!((now * HZ) - drawn < 3.0, "at {now}: drawn {drawn}");
    }

    #[test]
    fn it_never_goes_backwards_and_wrapped_ticks_are_newer() {
        let mut clock = PlayoutClock::default();
        clock.observe(u32::MAX - 1, 0.0);
        let first = clock.advance(0.0).unwrap();
        clock.observe(u32::MAX, 1.0 / HZ);
        clock.observe(0, 2.0 / HZ);
        clock.observe(u32::MAX, 3.0 / HZ);
        let mut last = first;
        for frame in 1..20 {
            let drawn = clock.advance(f64::from(frame) * FRAME).unwrap();
            assert!(drawn >= last, "went back from {last} to {drawn}");
            last = drawn;
        }
        assert!(last > first, "did not advance past the wrap");
    }

    #[test]
    fn nothing_is_drawn_before_the_first_tick() {
        let mut clock = PlayoutClock::default();
        assert_eq!(clock.advance(1.0), None);
    }
}
