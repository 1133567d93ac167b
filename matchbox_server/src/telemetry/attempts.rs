//! Which admitted clients still owe a join report, and which rooms their
//! session report: plain data driven by explicit `now` instants, as
//! [`crate::rooms`] is, so the timeouts are unit-tested without a clock.
//!
//! Every client seat the server admits opens an attempt. Its player
//! reports how it ended (connected, or failed and why); one that reports
//! nothing within the connect timeout is counted as failed (`no_report`),
//! so the success rate cannot read near 100 % by silence. An attempt is
//! reported once; a report for a seat this room never admitted, or
//! admitted and already counted, changes nothing. Records are bounded:
//! per room, and kept a short while after their room closed (for a host's
//! last report, and for its clients' timeouts to run out).

use std::{
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

/// How long a closed room's record stays, for late reports.
pub(crate) const CLOSED_KEPT: Duration = Duration::from_secs(300);

/// Why a report is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotCounted {
    /// No record of this room (never here, or closed long ago).
    UnknownRoom,
    /// This room never admitted that seat (or forgot it).
    NotAdmitted,
    /// Already counted: reported, or timed out as `no_report`.
    AlreadyCounted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Counted,
}

#[derive(Debug)]
struct Admitted<P> {
    peer: P,
    since: Instant,
    state: State,
}

#[derive(Debug)]
struct RoomRecord<P> {
    admitted: Vec<Admitted<P>>,
    /// A client's websocket entered it once.
    joined: bool,
    session_reported: bool,
    closed_at: Option<Instant>,
}

impl<P> Default for RoomRecord<P> {
    fn default() -> Self {
        Self {
            admitted: Vec::new(),
            joined: false,
            session_reported: false,
            closed_at: None,
        }
    }
}

/// Open attempts and report bookkeeping for every room.
#[derive(Debug)]
pub(crate) struct Attempts<P> {
    connect_timeout: Duration,
    /// Attempts one room remembers; past it, the oldest counted one goes
    /// (a pending one is timed out early, as `no_report`).
    per_room: usize,
    /// Rooms remembered; past it, the oldest closed one goes.
    max_rooms: usize,
    rooms: HashMap<String, RoomRecord<P>>,
}

/// What [`Attempts::admitted`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Admission {
    /// The first client this room admitted.
    pub(crate) first_in_room: bool,
    /// Attempts pushed out early by the per-room cap: count as `no_report`.
    pub(crate) evicted_pending: usize,
}

impl<P: Copy + Eq + Hash> Attempts<P> {
    pub(crate) fn new(connect_timeout: Duration, per_room: usize, max_rooms: usize) -> Self {
        Self {
            connect_timeout,
            per_room: per_room.max(1),
            max_rooms: max_rooms.max(1),
            rooms: HashMap::new(),
        }
    }

    /// A room opened (or opened again).
    pub(crate) fn opened(&mut self, code: &str) {
        if !self.rooms.contains_key(code) && self.rooms.len() >= self.max_rooms {
            let oldest_closed = self
                .rooms
                .iter()
                .filter_map(|(code, room)| room.closed_at.map(|at| (at, code.clone())))
                .min();
            if let Some((_, code)) = oldest_closed {
                self.rooms.remove(&code);
            }
        }
        let room = self.rooms.entry(code.to_owned()).or_default();
        room.closed_at = None;
    }

    /// A room closed: its record stays [`CLOSED_KEPT`].
    pub(crate) fn closed(&mut self, code: &str, now: Instant) {
        if let Some(room) = self.rooms.get_mut(code) {
            room.closed_at = Some(now);
        }
    }

    /// Room `code` admitted `peer` to a client seat at `now`: an attempt
    /// that must be reported within the connect timeout.
    pub(crate) fn admitted(&mut self, code: &str, peer: P, now: Instant) -> Admission {
        let room = self.rooms.entry(code.to_owned()).or_default();
        let first_in_room = !room.joined;
        room.joined = true;
        let mut evicted_pending = 0;
        if let Some(open) = room.admitted.iter_mut().find(|seen| seen.peer == peer) {
            // A seat taken again (its old one expired): a new attempt, and
            // the old one, if still open, is settled by its timeout below.
            if open.state == State::Pending {
                evicted_pending += 1;
            }
            open.since = now;
            open.state = State::Pending;
            return Admission {
                first_in_room,
                evicted_pending,
            };
        }
        if room.admitted.len() >= self.per_room {
            let victim = room
                .admitted
                .iter()
                .position(|seen| seen.state == State::Counted)
                .unwrap_or(0);
            if room.admitted.remove(victim).state == State::Pending {
                evicted_pending += 1;
            }
        }
        room.admitted.push(Admitted {
            peer,
            since: now,
            state: State::Pending,
        });
        Admission {
            first_in_room,
            evicted_pending,
        }
    }

    /// `peer` reports its join in room `code`: counted once, only for a
    /// seat the room admitted and whose attempt is still open.
    pub(crate) fn report_join(&mut self, code: &str, peer: P) -> Result<(), NotCounted> {
        let room = self.rooms.get_mut(code).ok_or(NotCounted::UnknownRoom)?;
        let attempt = room
            .admitted
            .iter_mut()
            .find(|seen| seen.peer == peer)
            .ok_or(NotCounted::NotAdmitted)?;
        if attempt.state != State::Pending {
            return Err(NotCounted::AlreadyCounted);
        }
        attempt.state = State::Counted;
        Ok(())
    }

    /// The host of room `code` reports its session: once per room.
    pub(crate) fn report_session(&mut self, code: &str) -> Result<(), NotCounted> {
        let room = self.rooms.get_mut(code).ok_or(NotCounted::UnknownRoom)?;
        if room.session_reported {
            return Err(NotCounted::AlreadyCounted);
        }
        room.session_reported = true;
        Ok(())
    }

    /// Runs the clock: attempts open for the connect timeout are counted as
    /// failed (returned: how many), and closed rooms' records go once
    /// [`CLOSED_KEPT`] has passed and nothing in them is open.
    pub(crate) fn tick(&mut self, now: Instant) -> usize {
        let mut timed_out = 0;
        for room in self.rooms.values_mut() {
            for attempt in &mut room.admitted {
                if attempt.state == State::Pending
                    && now.saturating_duration_since(attempt.since) >= self.connect_timeout
                {
                    attempt.state = State::Counted;
                    timed_out += 1;
                }
            }
        }
        self.rooms.retain(|_, room| {
            let open = room.admitted.iter().any(|a| a.state == State::Pending);
            open || room
                .closed_at
                .is_none_or(|at| now.saturating_duration_since(at) < CLOSED_KEPT)
        });
        timed_out
    }

    /// Attempts not yet counted.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.rooms
            .values()
            .flat_map(|room| &room.admitted)
            .filter(|a| a.state == State::Pending)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_silent_client_counts_as_failed_at_the_timeout_and_not_before() {
        let t0 = Instant::now();
        let mut attempts: Attempts<u32> = Attempts::new(TIMEOUT, 8, 16);
        attempts.opened("ABC234");
        assert!(attempts.admitted("ABC234", 10, t0).first_in_room);
        assert!(!attempts.admitted("ABC234", 11, t0 + secs(5)).first_in_room);
        assert_eq!(attempts.tick(t0 + TIMEOUT - Duration::from_millis(1)), 0);
        assert_eq!(attempts.report_join("ABC234", 11), Ok(()));
        assert_eq!(attempts.tick(t0 + TIMEOUT), 1, "10 said nothing");
        assert_eq!(attempts.pending(), 0);
        // Counted once: neither a late report nor a later tick counts it again.
        assert_eq!(
            attempts.report_join("ABC234", 10),
            Err(NotCounted::AlreadyCounted)
        );
        assert_eq!(attempts.tick(t0 + secs(3600)), 0);
    }

    #[test]
    fn reports_count_once_and_only_for_seats_the_room_admitted() {
        let t0 = Instant::now();
        let mut attempts: Attempts<u32> = Attempts::new(TIMEOUT, 8, 16);
        attempts.opened("ABC234");
        attempts.opened("XYZ789");
        attempts.admitted("ABC234", 10, t0);
        assert_eq!(
            attempts.report_join("XYZ789", 10),
            Err(NotCounted::NotAdmitted),
            "another room's seat"
        );
        assert_eq!(
            attempts.report_join("QQQQQQ", 10),
            Err(NotCounted::UnknownRoom)
        );
        assert_eq!(
            attempts.report_join("ABC234", 99),
            Err(NotCounted::NotAdmitted)
        );
        assert_eq!(attempts.report_join("ABC234", 10), Ok(()));
        assert_eq!(
            attempts.report_join("ABC234", 10),
            Err(NotCounted::AlreadyCounted)
        );
        assert_eq!(attempts.report_session("ABC234"), Ok(()));
        assert_eq!(
            attempts.report_session("ABC234"),
            Err(NotCounted::AlreadyCounted)
        );
        assert_eq!(
            attempts.report_session("QQQQQQ"),
            Err(NotCounted::UnknownRoom)
        );
        // The same seat taken again (after its old one expired) may report again.
        attempts.admitted("ABC234", 10, t0 + secs(60));
        assert_eq!(attempts.report_join("ABC234", 10), Ok(()));
    }

    #[test]
    fn a_closed_room_keeps_its_record_for_late_reports_then_forgets_it() {
        let t0 = Instant::now();
        let mut attempts: Attempts<u32> = Attempts::new(TIMEOUT, 8, 16);
        attempts.opened("ABC234");
        attempts.admitted("ABC234", 10, t0);
        attempts.closed("ABC234", t0 + secs(1));
        assert_eq!(attempts.tick(t0 + secs(2)), 0);
        assert_eq!(attempts.report_session("ABC234"), Ok(()));
        // The open attempt still times out after its room closed...
        assert_eq!(attempts.tick(t0 + TIMEOUT), 1);
        // ...and the record goes once CLOSED_KEPT has passed.
        attempts.tick(t0 + secs(1) + CLOSED_KEPT - Duration::from_millis(1));
        assert_eq!(
            attempts.report_join("ABC234", 10),
            Err(NotCounted::AlreadyCounted)
        );
        attempts.tick(t0 + secs(1) + CLOSED_KEPT);
        assert_eq!(
            attempts.report_join("ABC234", 10),
            Err(NotCounted::UnknownRoom)
        );
    }

    #[test]
    fn records_are_bounded() {
        let t0 = Instant::now();
        let mut attempts: Attempts<u32> = Attempts::new(TIMEOUT, 2, 2);
        attempts.opened("AAAAAA");
        attempts.admitted("AAAAAA", 1, t0);
        attempts.report_join("AAAAAA", 1).expect("counted");
        attempts.admitted("AAAAAA", 2, t0);
        // The counted attempt goes first.
        assert_eq!(attempts.admitted("AAAAAA", 3, t0).evicted_pending, 0);
        // Then the oldest open one, which the caller counts as no report.
        assert_eq!(attempts.admitted("AAAAAA", 4, t0).evicted_pending, 1);
        assert_eq!(attempts.pending(), 2);
        // Past the room cap, the oldest closed room goes; open ones stay.
        attempts.opened("BBBBBB");
        attempts.closed("BBBBBB", t0);
        attempts.opened("CCCCCC");
        assert_eq!(
            attempts.report_session("BBBBBB"),
            Err(NotCounted::UnknownRoom)
        );
        assert_eq!(attempts.report_session("AAAAAA"), Ok(()));
        assert_eq!(attempts.report_session("CCCCCC"), Ok(()));
    }
}
