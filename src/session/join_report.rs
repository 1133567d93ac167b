//! A client's join report: whether its WebRTC link to the host came up,
//! told once per seat to the signaling server that introduced it
//! (`POST /api/rooms/{code}/join-report`).
//!
//! Only the client knows whether WebRTC came up; the server counts an
//! admitted seat that never reports as a failed join, so the success rate
//! it shows operators cannot read high by silence. The report is the seat
//! secret (which proves the seat) and the outcome; nothing else. A game
//! turns it off with `P2pSettings::report_stats`.

use core::time::Duration;

use bevy_p2p_protocol::api::{JoinFailureReason, JoinOutcome};

use super::JoinFailure;

/// One seat's join, from its links opening to its one report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct JoinTally {
    /// When the links opened (app time).
    started: Duration,
    /// Whether the server admitted the seat's websocket (it assigned an
    /// id): the server takes reports only from admitted seats.
    admitted: bool,
    /// Whether the report went out: one per seat.
    reported: bool,
}

impl JoinTally {
    /// A join whose links open at `now`.
    pub(crate) fn opened(now: Duration) -> Self {
        Self {
            started: now,
            admitted: false,
            reported: false,
        }
    }

    /// The server admitted the seat.
    pub(crate) fn admitted(&mut self) {
        self.admitted = true;
    }

    /// The report due now that the host link is up at `now`, if this seat
    /// has not reported.
    pub(crate) fn connected(&mut self, now: Duration, relayed: bool) -> Option<JoinOutcome> {
        let connect_ms = u64::try_from(now.saturating_sub(self.started).as_millis()).ok()?;
        self.report(JoinOutcome::Connected {
            connect_ms,
            relayed,
        })
    }

    /// The report due now that the join failed, if this seat was admitted
    /// and has not reported (a failure before admission is the server's
    /// own count: it refused the seat).
    pub(crate) fn failed(&mut self, failure: &JoinFailure) -> Option<JoinOutcome> {
        self.report(JoinOutcome::Failed {
            reason: reason(failure),
        })
    }

    fn report(&mut self, outcome: JoinOutcome) -> Option<JoinOutcome> {
        if !self.admitted || self.reported {
            return None;
        }
        self.reported = true;
        Some(outcome)
    }
}

/// A failure's name on the wire.
fn reason(failure: &JoinFailure) -> JoinFailureReason {
    match failure {
        JoinFailure::RoomNotFound => JoinFailureReason::RoomNotFound,
        JoinFailure::RoomFull => JoinFailureReason::RoomFull,
        JoinFailure::InvalidCode => JoinFailureReason::InvalidCode,
        JoinFailure::ServerUnreachable => JoinFailureReason::ServerUnreachable,
        JoinFailure::ServerError(_) => JoinFailureReason::ServerError,
        JoinFailure::HostUnreachable => JoinFailureReason::HostUnreachable,
        JoinFailure::NeedsRelay => JoinFailureReason::NeedsRelay,
        JoinFailure::RelayUnavailable => JoinFailureReason::RelayUnavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn one_report_per_admitted_seat() {
        let mut tally = JoinTally::opened(ms(1_000));
        // Not admitted: the server counted its refusal itself.
        assert_eq!(tally.failed(&JoinFailure::RoomFull), None);
        assert_eq!(tally.connected(ms(1_200), false), None);
        tally.admitted();
        assert_eq!(
            tally.connected(ms(1_450), true),
            Some(JoinOutcome::Connected {
                connect_ms: 450,
                relayed: true
            })
        );
        // A host link that comes back later, or a failure after, is no
        // second report.
        assert_eq!(tally.connected(ms(9_000), false), None);
        assert_eq!(tally.failed(&JoinFailure::HostUnreachable), None);
    }

    #[test]
    fn a_failure_after_admission_is_reported_by_name() {
        let mut tally = JoinTally::opened(ms(0));
        tally.admitted();
        assert_eq!(
            tally.failed(&JoinFailure::NeedsRelay),
            Some(JoinOutcome::Failed {
                reason: JoinFailureReason::NeedsRelay
            })
        );
        assert_eq!(
            reason(&JoinFailure::ServerError("x".into())),
            JoinFailureReason::ServerError
        );
    }
}
