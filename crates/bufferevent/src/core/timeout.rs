//! Read and write timeouts as deadlines (libevent statement 45).
//!
//! A timeout is a duration; while its direction is *armed* it has a
//! deadline. The state machine decides when a direction is armed (reading:
//! enabled and not suspended; writing: enabled and output pending) and
//! tells this module; this module only keeps deadlines and says which
//! expired. Time is a parameter, so tests run on a simulated clock.

use std::time::{Duration, Instant};

use crate::Dir;

/// Timeouts and their current deadlines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
    read_at: Option<Instant>,
    write_at: Option<Instant>,
}

impl Timeouts {
    /// `bufferevent_set_timeouts`: replaces both and restarts their clocks.
    pub(crate) fn set(&mut self, read: Option<Duration>, write: Option<Duration>) {
        self.read = read;
        self.write = write;
        self.read_at = None;
        self.write_at = None;
    }

    /// The configured durations.
    pub(crate) fn get(&self) -> (Option<Duration>, Option<Duration>) {
        (self.read, self.write)
    }

    /// Arms each direction that should run and is not yet armed, disarms
    /// each that should not run.
    pub(crate) fn sync(&mut self, now: Instant, read_armed: bool, write_armed: bool) {
        Self::sync_one(&mut self.read_at, self.read, now, read_armed);
        Self::sync_one(&mut self.write_at, self.write, now, write_armed);
    }

    fn sync_one(at: &mut Option<Instant>, dur: Option<Duration>, now: Instant, armed: bool) {
        match (armed, dur) {
            (true, Some(d)) => {
                if at.is_none() {
                    *at = Some(now + d);
                }
            }
            _ => *at = None,
        }
    }

    /// Restarts the clock of every direction in `dir` (progress was made,
    /// or the direction was enabled): an armed deadline moves to `now + d`,
    /// a disarmed one is re-armed by the next [`sync`](Self::sync).
    pub(crate) fn restart(&mut self, dir: Dir, now: Instant) {
        if dir.contains(Dir::READ) {
            self.read_at = self
                .read
                .map(|d| now + d)
                .filter(|_| self.read_at.is_some());
        }
        if dir.contains(Dir::WRITE) {
            self.write_at = self
                .write
                .map(|d| now + d)
                .filter(|_| self.write_at.is_some());
        }
    }

    /// Which deadlines passed at `now`; those are disarmed.
    pub(crate) fn expired(&mut self, now: Instant) -> Dir {
        let mut d = Dir::empty();
        if self.read_at.is_some_and(|t| t <= now) {
            self.read_at = None;
            d |= Dir::READ;
        }
        if self.write_at.is_some_and(|t| t <= now) {
            self.write_at = None;
            d |= Dir::WRITE;
        }
        d
    }

    /// The read deadline, if armed.
    pub(crate) fn read_deadline(&self) -> Option<Instant> {
        self.read_at
    }

    /// The write deadline, if armed.
    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        self.write_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_restart_expire() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = Timeouts::default();
        t.set(Some(s), Some(2 * s));
        t.sync(t0, true, false);
        assert_eq!(t.read_deadline(), Some(t0 + s));
        assert_eq!(t.write_deadline(), None);
        // progress half-way restarts
        t.restart(Dir::READ, t0 + s / 2);
        assert_eq!(t.read_deadline(), Some(t0 + s + s / 2));
        // sync does not move an armed deadline
        t.sync(t0 + s, true, false);
        assert_eq!(t.read_deadline(), Some(t0 + s + s / 2));
        assert!(t.expired(t0 + s).is_empty());
        assert_eq!(t.expired(t0 + 2 * s), Dir::READ);
        assert_eq!(t.read_deadline(), None);
        // disarm
        t.sync(t0, true, true);
        t.sync(t0, false, false);
        assert_eq!((t.read_deadline(), t.write_deadline()), (None, None));
    }
}
