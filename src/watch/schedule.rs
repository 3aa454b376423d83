//! When each poller runs next (plain code, no I/O, no clock of its own: every decision takes
//! `now`, so the benchmark can drive the watcher on simulated time).
//!
//! - A [`Schedule`] adapts a poller's interval to change: back to `quick` after a poll that saw
//!   something move (or a user action), then doubling up to `slow` while nothing moves.
//! - A [`Backoff`] spaces the attempts to reach a service that does not answer: 0.5 s, 1 s,
//!   2 s ... up to [`MAX_BACKOFF`], with a little jitter so that many sessions do not retry in
//!   step. It never gives up: ending the watch is the caller's decision.

use std::time::{Duration, Instant};

/// The longest wait between two attempts to reach a service that does not answer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first wait after a failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// How often a poller runs: `quick` while things change, up to `slow` when nothing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub quick: Duration,
    pub slow: Duration,
}

impl Cadence {
    pub const fn new(quick: Duration, slow: Duration) -> Cadence {
        Cadence { quick, slow }
    }
}

/// One poller's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub cadence: Cadence,
    /// The wait after the last poll.
    pub interval: Duration,
    /// When the poller is due next.
    pub next: Instant,
    /// When it last polled, if it has.
    pub last: Option<Instant>,
}

impl Schedule {
    /// Due at `at`, then at the quick cadence.
    pub fn starting(cadence: Cadence, at: Instant) -> Schedule {
        Schedule {
            cadence,
            interval: cadence.quick,
            next: at,
            last: None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// After a poll at `now`: quick again if it saw a change, else twice the last wait, up to
    /// the slow cadence.
    pub fn polled(&mut self, now: Instant, changed: bool) {
        self.interval = if changed {
            self.cadence.quick
        } else {
            (self.interval * 2).clamp(self.cadence.quick, self.cadence.slow)
        };
        self.next = now + self.interval;
        self.last = Some(now);
    }

    /// The service says something changed: poll a quick interval after the last poll (at
    /// once if that is past), not after a wait that grew while nothing moved. However often
    /// it says so, the poller runs at most at the quick cadence.
    pub fn nudge(&mut self, now: Instant) {
        let soonest = self
            .last
            .map_or(now, |last| (last + self.cadence.quick).max(now));
        self.next = self.next.min(soonest);
    }

    /// Something is expected to move (a user action, a related change): poll at `at` at the
    /// latest, then quickly.
    pub fn hurry(&mut self, at: Instant) {
        self.interval = self.cadence.quick;
        self.next = self.next.min(at);
    }

    /// Changes the cadence (e.g. slower once every task completed); the next poll keeps its
    /// time unless the new slow bound comes earlier.
    pub fn set_cadence(&mut self, cadence: Cadence, now: Instant) {
        if self.cadence != cadence {
            self.cadence = cadence;
            self.interval = self.interval.clamp(cadence.quick, cadence.slow);
            self.next = self.next.min(now + cadence.slow);
        }
    }
}

/// Waits between attempts to reach a service that does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    /// Failed attempts in a row.
    pub attempt: u32,
}

impl Backoff {
    /// The ceiling of the wait after `attempt` failures in a row (1-based).
    pub fn ceiling(attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        FIRST_BACKOFF
            .checked_mul(1u32 << exp)
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF)
    }

    /// Records a failure; returns the wait before the next attempt for a jitter `unit` in
    /// `[0, 1)`: between 80% and 100% of the ceiling.
    pub fn failed(&mut self, unit: f64) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self::ceiling(self.attempt).mul_f64(0.8 + 0.2 * unit)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_interval_doubles_while_nothing_moves_and_snaps_back_on_change() {
        let t0 = Instant::now();
        let mut s = Schedule::starting(Cadence::new(S, 5 * S), t0);
        assert!(s.due(t0));
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            s.polled(now, false);
            waits.push(s.interval.as_secs());
            now = s.next;
        }
        assert_eq!(waits, [2, 4, 5, 5, 5]);
        s.polled(now, true);
        assert_eq!(s.interval, S);
        // A user action brings the next poll forward, never back.
        s.polled(now, false);
        s.hurry(now + Duration::from_millis(100));
        assert_eq!(s.next, now + Duration::from_millis(100));
        s.hurry(now + 10 * S);
        assert_eq!(s.next, now + Duration::from_millis(100));
        assert_eq!(s.interval, S);
    }

    #[test]
    fn a_slower_cadence_keeps_the_next_poll_and_a_faster_one_brings_it_forward() {
        let t0 = Instant::now();
        let mut s = Schedule::starting(Cadence::new(S, 15 * S), t0);
        for _ in 0..4 {
            s.polled(t0, false);
        }
        assert_eq!(s.interval, 15 * S);
        s.set_cadence(Cadence::new(S, 5 * S), t0);
        assert_eq!(s.next, t0 + 5 * S);
        assert_eq!(s.interval, 5 * S);
    }

    #[test]
    fn a_nudge_brings_the_next_poll_to_a_quick_interval_after_the_last() {
        let now = Instant::now();
        let mut s = Schedule::starting(Cadence::new(S, 60 * S), now);
        // Not polled yet: due at once (it already was).
        s.nudge(now + S);
        assert_eq!(s.next, now);
        for i in 0..6 {
            s.polled(now + i * S, false);
        }
        let last = now + 5 * S;
        assert_eq!(s.next, last + 60 * S);
        s.nudge(last + S / 2);
        assert_eq!(s.next, last + S, "a quick interval after the last poll");
        s.nudge(last + 3 * S);
        assert_eq!(s.next, last + S, "never later than it was");
        let mut late = Schedule::starting(Cadence::new(S, 60 * S), now);
        late.polled(now, false);
        late.next = now + 60 * S;
        late.nudge(now + 10 * S);
        assert_eq!(
            late.next,
            now + 10 * S,
            "at once when the quick interval is past"
        );
    }

    #[test]
    fn backoff_grows_to_thirty_seconds_and_never_gives_up() {
        let mut b = Backoff::default();
        let waits: Vec<f64> = (0..10).map(|_| b.failed(1.0).as_secs_f64()).collect();
        assert_eq!(
            waits,
            [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
        );
        assert_eq!(b.attempt, 10);
        let low = b.failed(0.0);
        assert_eq!(low, Duration::from_secs(24), "jitter stays within 80-100%");
        for _ in 0..1000 {
            b.failed(0.5);
        }
        assert!(b.failed(0.5) <= MAX_BACKOFF);
        b.reset();
        assert_eq!(b.failed(1.0), FIRST_BACKOFF);
    }
}
