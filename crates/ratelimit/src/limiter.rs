//! The limiter one bufferevent owns (libevent's
//! `struct bufferevent_rate_limit` plus `max_single_read/write`): its own
//! read and write buckets, an optional group membership, and the largest
//! single transfer.
//!
//! This is the one object the bufferevent core talks to: before a transfer
//! it asks how many bytes may move ([`RateLimiter::read_quota`]), after it
//! reports how many did ([`RateLimiter::on_read`]), and when the answer was
//! 0 it sleeps until [`Quota::retry_at`] instead of attempting a zero-byte
//! transfer (libevent #1439/#1440).

use std::sync::Arc;
use std::time::Instant;

use crate::group::Member;
use crate::{Direction, LimitError, RateLimitConfig, RateLimitGroup, TokenBucket};

/// Default largest single read or write: 16384 bytes, libevent's
/// `MAX_SINGLE_READ_DEFAULT` / `MAX_SINGLE_WRITE_DEFAULT`.
pub const DEFAULT_MAX_SINGLE: usize = 16384;

/// Largest accepted single read or write bound (libevent's `EV_SSIZE_MAX`).
pub const MAX_SINGLE_LIMIT: usize = i64::MAX as usize;

/// What may move in one direction right now (libevent's
/// `bufferevent_get_read_max_` result plus the `BEV_SUSPEND_BW` state: a
/// suspended direction and when its refill comes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Bytes that may be transferred now; 0 means the direction is
    /// suspended (never attempt a zero-byte transfer).
    pub bytes: usize,
    /// When `bytes` is 0 because of a limit: the instant asking again can
    /// give more. `None` when `bytes > 0`, or when nothing was wanted.
    pub retry_at: Option<Instant>,
}

/// Rate limits of one bufferevent (libevent's `bufferevent_set_rate_limit`,
/// `bufferevent_add_to_rate_limit_group`, `bufferevent_get_max_to_read`,
/// `bufferevent_decrement_read_limit` and friends), sans I/O: every call
/// takes the current instant.
///
/// Without a configuration or group it only bounds single transfers to
/// [`DEFAULT_MAX_SINGLE`]. What may move is `min(max single, own bucket,
/// group share)`, never negative (statement 74).
///
/// ```
/// use std::time::{Duration, Instant};
/// use ev_token_bucket::{RateLimitConfig, RateLimiter};
///
/// let t0 = Instant::now();
/// let tick = Duration::from_millis(100);
/// let cfg = RateLimitConfig::shared(1000, 5000, 1000, 5000, Some(tick))?;
/// let mut lim = RateLimiter::with_config(cfg, t0);
/// let q = lim.read_quota(4096, t0);
/// assert_eq!(q.bytes, 1000); // one tick's worth to start with
/// lim.on_read(1000, t0);
/// let q = lim.read_quota(4096, t0);
/// assert_eq!((q.bytes, q.retry_at), (0, Some(t0 + tick))); // suspended: sleep, don't read
/// assert_eq!(lim.read_quota(4096, t0 + tick).bytes, 1000);
/// # Ok::<(), ev_token_bucket::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    cfg: Option<Arc<RateLimitConfig>>,
    /// Read and write buckets, present iff `cfg` is.
    buckets: Option<[TokenBucket; 2]>,
    max_single: [usize; 2],
    member: Option<Member>,
    /// What the last quota allowed, per direction, until reported.
    granted: [Option<u64>; 2],
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// No limit, single transfers bounded to [`DEFAULT_MAX_SINGLE`] (a
    /// bufferevent before any `bufferevent_set_rate_limit`).
    pub fn new() -> Self {
        RateLimiter {
            cfg: None,
            buckets: None,
            max_single: [DEFAULT_MAX_SINGLE; 2],
            member: None,
            granted: [None; 2],
        }
    }

    /// A limiter with `cfg` set at `now` ([`new`](Self::new) then
    /// `bufferevent_set_rate_limit`).
    pub fn with_config(cfg: Arc<RateLimitConfig>, now: Instant) -> Self {
        let mut lim = Self::new();
        lim.set_config(Some(cfg), now);
        lim
    }

    /// Sets, changes or removes this bufferevent's own limit (libevent's
    /// `bufferevent_set_rate_limit`), at any time (statement 75):
    ///
    /// * first set (or set after removal): buckets start with one tick's
    ///   worth (statement 73);
    /// * the same `Arc` again: no-op;
    /// * a different configuration: buckets keep their tokens, clipped down
    ///   to the new bursts;
    /// * `None`: the limit is removed and both directions resume at once.
    pub fn set_config(&mut self, cfg: Option<Arc<RateLimitConfig>>, now: Instant) {
        let Some(cfg) = cfg else {
            self.cfg = None;
            self.buckets = None;
            return;
        };
        if self.cfg.as_ref().is_some_and(|old| Arc::ptr_eq(old, &cfg)) {
            return;
        }
        match self.buckets.as_mut() {
            Some(buckets) => {
                for dir in Direction::BOTH {
                    buckets[dir.index()].reconfigure(&cfg, dir, now);
                }
            }
            None => {
                self.buckets =
                    Some(Direction::BOTH.map(|dir| TokenBucket::for_direction(&cfg, dir, now)));
            }
        }
        self.cfg = Some(cfg);
    }

    /// This bufferevent's own configuration, if any (libevent's
    /// `rate_limiting->cfg`).
    pub fn config(&self) -> Option<&Arc<RateLimitConfig>> {
        self.cfg.as_ref()
    }

    /// Joins `group`, leaving any previous one, or with `None` leaves the
    /// group (libevent's `bufferevent_add_to_rate_limit_group` /
    /// `bufferevent_remove_from_rate_limit_group`). Joining the group it is
    /// already in is a no-op. Dropping the limiter also leaves.
    pub fn set_group(&mut self, group: Option<&RateLimitGroup>, now: Instant) {
        match (group, &self.member) {
            (Some(g), Some(m)) if m.group().same_group(g) => {}
            (Some(g), _) => {
                self.member = None;
                self.member = Some(g.join(now));
            }
            (None, _) => self.member = None,
        }
        self.granted = [None; 2];
    }

    /// The group this bufferevent is in, if any (libevent's
    /// `rate_limiting->group`).
    pub fn group(&self) -> Option<&RateLimitGroup> {
        self.member.as_ref().map(Member::group)
    }

    /// Whether any rate limit (own or group) applies (libevent's
    /// `bevp->rate_limiting != NULL`, roughly).
    pub fn is_limited(&self) -> bool {
        self.cfg.is_some() || self.member.is_some()
    }

    /// Bounds a single read (libevent's `bufferevent_set_max_single_read`);
    /// 0 or a value above [`MAX_SINGLE_LIMIT`] restores
    /// [`DEFAULT_MAX_SINGLE`], as in libevent.
    pub fn set_max_single_read(&mut self, n: usize) {
        self.max_single[0] = checked_single(n);
    }

    /// Bounds a single write (libevent's `bufferevent_set_max_single_write`).
    pub fn set_max_single_write(&mut self, n: usize) {
        self.max_single[1] = checked_single(n);
    }

    /// The single-read bound (libevent's `bufferevent_get_max_single_read`).
    pub fn max_single_read(&self) -> usize {
        self.max_single[0]
    }

    /// The single-write bound (libevent's `bufferevent_get_max_single_write`).
    pub fn max_single_write(&self) -> usize {
        self.max_single[1]
    }

    /// This bufferevent's own read bucket, negative when overdrawn, or
    /// `i64::MAX` without a configuration (libevent's
    /// `bufferevent_get_read_limit`, statement 74).
    pub fn read_limit(&mut self, now: Instant) -> i64 {
        self.limit(Direction::Read, now)
    }

    /// This bufferevent's own write bucket (libevent's
    /// `bufferevent_get_write_limit`).
    pub fn write_limit(&mut self, now: Instant) -> i64 {
        self.limit(Direction::Write, now)
    }

    /// This bufferevent's own bucket for `dir` ([`read_limit`](Self::read_limit)
    /// or [`write_limit`](Self::write_limit)).
    ///
    /// libevent: `bufferevent_get_read_limit` / `bufferevent_get_write_limit`.
    pub fn limit(&mut self, dir: Direction, now: Instant) -> i64 {
        match self.buckets.as_mut() {
            Some(b) => b[dir.index()].tokens(now),
            None => i64::MAX,
        }
    }

    /// How many bytes may be read now (libevent's
    /// `bufferevent_get_max_to_read`): `min(max single read, own bucket,
    /// group share)`, never negative. Asking tells the group this member
    /// wants to read.
    pub fn max_to_read(&mut self, now: Instant) -> usize {
        self.quota(Direction::Read, usize::MAX, now).bytes
    }

    /// How many bytes may be written now (libevent's
    /// `bufferevent_get_max_to_write`).
    pub fn max_to_write(&mut self, now: Instant) -> usize {
        self.quota(Direction::Write, usize::MAX, now).bytes
    }

    /// How many of the `want` bytes the core would like to read may be
    /// read now, and when to retry if none: call right before a read.
    ///
    /// libevent: `bufferevent_get_read_max_` (internal, asked before each read).
    pub fn read_quota(&mut self, want: usize, now: Instant) -> Quota {
        self.quota(Direction::Read, want, now)
    }

    /// [`read_quota`](Self::read_quota) for writes.
    ///
    /// libevent: `bufferevent_get_write_max_` (internal, asked before each write).
    pub fn write_quota(&mut self, want: usize, now: Instant) -> Quota {
        self.quota(Direction::Write, want, now)
    }

    /// Quota for `dir` (libevent's `bufferevent_get_read_max_` /
    /// `bufferevent_get_write_max_`, plus the retry instant); see
    /// [`read_quota`](Self::read_quota).
    pub fn quota(&mut self, dir: Direction, want: usize, now: Instant) -> Quota {
        let i = dir.index();
        self.granted[i] = None;
        let mut cap = u64::try_from(want.min(self.max_single[i])).unwrap_or(u64::MAX);
        if cap == 0 {
            return Quota {
                bytes: 0,
                retry_at: None,
            };
        }
        if let Some(buckets) = self.buckets.as_mut() {
            let bucket = &mut buckets[i];
            let tokens = bucket.tokens(now);
            if tokens <= 0 {
                return Quota {
                    bytes: 0,
                    retry_at: bucket.next_positive_at(now),
                };
            }
            cap = cap.min(tokens.unsigned_abs());
        }
        if let Some(member) = &self.member {
            let grant = member.grant(dir, now);
            if grant.bytes == 0 {
                return Quota {
                    bytes: 0,
                    retry_at: grant.retry_at,
                };
            }
            cap = cap.min(grant.bytes);
        }
        self.granted[i] = Some(cap);
        Quota {
            bytes: usize::try_from(cap).unwrap_or(usize::MAX),
            retry_at: None,
        }
    }

    /// `n` bytes were read (libevent's `bufferevent_decrement_read_buckets_`):
    /// taken from the own bucket and the group's, and counted in the group
    /// totals. Report every read attempt made after a nonzero quota,
    /// including `0` when the transport had nothing: a member that reads
    /// less than it was allowed gives its unused group share back.
    pub fn on_read(&mut self, n: usize, now: Instant) {
        self.on_transfer(Direction::Read, n, now);
    }

    /// `n` bytes were written; see [`on_read`](Self::on_read).
    ///
    /// libevent: `bufferevent_decrement_write_buckets_` (internal).
    pub fn on_written(&mut self, n: usize, now: Instant) {
        self.on_transfer(Direction::Write, n, now);
    }

    /// `n` bytes moved in `dir` (libevent's `bufferevent_decrement_read_buckets_`
    /// / `bufferevent_decrement_write_buckets_`).
    pub fn on_transfer(&mut self, dir: Direction, n: usize, now: Instant) {
        let i = dir.index();
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let granted = self.granted[i].take();
        let mut own_exhausted = false;
        if let Some(buckets) = self.buckets.as_mut() {
            let bucket = &mut buckets[i];
            bucket.refill(now);
            bucket.consume(n);
            own_exhausted = bucket.current() <= 0;
        }
        if let Some(member) = &self.member {
            // it moved less than allowed, or its own bucket is what holds
            // it back: the rest of its group quota goes to the others
            let release = granted.is_some_and(|g| n < g) || own_exhausted;
            member.consume(dir, n, release, now);
        }
    }

    /// Manual decrement of the own read bucket, or credit when negative
    /// (libevent's `bufferevent_decrement_read_limit`, statement 75). Not
    /// counted in group totals. An error without a configuration, where
    /// libevent asserts.
    pub fn decrement_read(&mut self, n: i64, now: Instant) -> Result<(), LimitError> {
        self.decrement(Direction::Read, n, now)
    }

    /// Manual decrement of the own write bucket (libevent's
    /// `bufferevent_decrement_write_limit`).
    pub fn decrement_write(&mut self, n: i64, now: Instant) -> Result<(), LimitError> {
        self.decrement(Direction::Write, n, now)
    }

    /// Manual decrement of the own bucket for `dir` (libevent's
    /// `bufferevent_decrement_read_limit` / `_write_limit`).
    pub fn decrement(&mut self, dir: Direction, n: i64, now: Instant) -> Result<(), LimitError> {
        let buckets = self
            .buckets
            .as_mut()
            .ok_or(LimitError::NotLimited { direction: dir })?;
        let bucket = &mut buckets[dir.index()];
        bucket.refill(now);
        bucket.decrement(n);
        Ok(())
    }

    /// When reading, suspended now, may resume; `None` if it is not
    /// suspended by a limit. What a driver sleeps until.
    ///
    /// libevent: the `refill_bucket_event` timer that unsuspends reading.
    pub fn read_wakeup(&mut self, now: Instant) -> Option<Instant> {
        self.wakeup(Direction::Read, now)
    }

    /// When writing may resume; see [`read_wakeup`](Self::read_wakeup).
    ///
    /// libevent: the `refill_bucket_event` timer that unsuspends writing.
    pub fn write_wakeup(&mut self, now: Instant) -> Option<Instant> {
        self.wakeup(Direction::Write, now)
    }

    /// The earlier of [`read_wakeup`](Self::read_wakeup) and
    /// [`write_wakeup`](Self::write_wakeup).
    ///
    /// libevent: the `refill_bucket_event` timer.
    pub fn next_wakeup(&mut self, now: Instant) -> Option<Instant> {
        match (self.read_wakeup(now), self.write_wakeup(now)) {
            (Some(r), Some(w)) => Some(r.min(w)),
            (r, w) => r.or(w),
        }
    }

    /// When `dir` may resume; `None` if it is not suspended by a limit
    /// (where libevent would arm its `refill_bucket_event` or wait for the
    /// group's `master_refill_event`).
    pub fn wakeup(&mut self, dir: Direction, now: Instant) -> Option<Instant> {
        let i = dir.index();
        let own = self
            .buckets
            .as_ref()
            .and_then(|b| b[i].next_positive_at(now));
        let group = self.member.as_ref().and_then(|m| m.wakeup(dir, now));
        match (own, group) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

fn checked_single(n: usize) -> usize {
    if n == 0 || n > MAX_SINGLE_LIMIT {
        DEFAULT_MAX_SINGLE
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TICK: Duration = Duration::from_millis(100);

    fn cfg(rate: u64, burst: u64) -> Arc<RateLimitConfig> {
        RateLimitConfig::shared(rate, burst, rate, burst, Some(TICK)).unwrap()
    }

    #[test]
    fn s74_no_config_means_unlimited_but_bounded_single_transfers() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::new();
        assert_eq!(lim.read_limit(t0), i64::MAX);
        assert_eq!(lim.write_limit(t0), i64::MAX);
        assert_eq!(lim.max_to_read(t0), DEFAULT_MAX_SINGLE);
        assert_eq!(lim.max_to_write(t0), 16384);
        assert_eq!(lim.read_wakeup(t0), None);
    }

    #[test]
    fn s74_max_to_read_is_the_minimum_and_never_negative() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::with_config(cfg(100_000, 100_000), t0);
        assert_eq!(lim.max_to_read(t0), 16384);
        lim.set_max_single_read(500);
        assert_eq!(lim.max_to_read(t0), 500);
        lim.decrement_read(99_800, t0).unwrap();
        assert_eq!(lim.max_to_read(t0), 200);
        lim.decrement_read(1000, t0).unwrap();
        assert_eq!(lim.read_limit(t0), -800);
        assert_eq!(lim.max_to_read(t0), 0);
        // and the group share
        let group = RateLimitGroup::new(
            &RateLimitConfig::symmetric(1000, 1000, Some(TICK)).unwrap(),
            t0,
        );
        lim.set_group(Some(&group), t0);
        let t = t0 + TICK;
        assert_eq!(lim.max_to_write(t), 1000);
    }

    #[test]
    fn s74_max_single_zero_or_huge_restores_the_default() {
        let mut lim = RateLimiter::new();
        lim.set_max_single_write(10);
        assert_eq!(lim.max_single_write(), 10);
        lim.set_max_single_write(0);
        assert_eq!(lim.max_single_write(), DEFAULT_MAX_SINGLE);
        lim.set_max_single_read(usize::MAX);
        assert_eq!(lim.max_single_read(), DEFAULT_MAX_SINGLE);
    }

    #[test]
    fn s75_decrement_150_on_100_suspends_until_a_refill() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::with_config(cfg(100, 100), t0);
        lim.decrement_read(150, t0).unwrap();
        assert_eq!(lim.read_limit(t0), -50);
        let q = lim.read_quota(1000, t0);
        assert_eq!(
            q,
            Quota {
                bytes: 0,
                retry_at: Some(t0 + TICK)
            }
        );
        assert_eq!(lim.read_wakeup(t0), Some(t0 + TICK));
        assert_eq!(lim.read_quota(1000, t0 + TICK).bytes, 50);
        // writing was not touched
        assert_eq!(lim.max_to_write(t0), 100);
    }

    #[test]
    fn s75_negative_decrement_credits_above_burst() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::with_config(cfg(100, 100), t0);
        lim.decrement_write(-400, t0).unwrap();
        assert_eq!(lim.write_limit(t0), 500);
        assert_eq!(lim.max_to_write(t0), 500);
    }

    #[test]
    fn s75_set_config_with_a_different_cfg_clips_to_the_new_burst() {
        let t0 = Instant::now();
        let first = cfg(1000, 10_000);
        let mut lim = RateLimiter::with_config(first.clone(), t0);
        let t = t0 + TICK * 20;
        assert_eq!(lim.read_limit(t), 10_000);
        // the same Arc: no-op
        lim.set_config(Some(first), t);
        assert_eq!(lim.read_limit(t), 10_000);
        lim.set_config(Some(cfg(100, 2000)), t);
        assert_eq!(lim.read_limit(t), 2000);
        assert_eq!(lim.write_limit(t), 2000);
    }

    #[test]
    fn s75_set_config_none_removes_the_limit_and_unsuspends() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::with_config(cfg(100, 100), t0);
        lim.decrement_read(1000, t0).unwrap();
        assert_eq!(lim.max_to_read(t0), 0);
        lim.set_config(None, t0);
        assert_eq!(lim.max_to_read(t0), DEFAULT_MAX_SINGLE);
        assert_eq!(lim.read_wakeup(t0), None);
        assert_eq!(
            lim.decrement_read(1, t0),
            Err(LimitError::NotLimited {
                direction: Direction::Read
            })
        );
        // set again: a fresh bucket with one tick's worth
        lim.set_config(Some(cfg(100, 100)), t0);
        assert_eq!(lim.read_limit(t0), 100);
    }

    #[test]
    fn pain12_empty_bucket_is_a_wait_never_a_zero_byte_read() {
        let t0 = Instant::now();
        let mut lim = RateLimiter::with_config(cfg(10, 10), t0);
        lim.on_read(10, t0);
        let q = lim.read_quota(4096, t0);
        assert_eq!(q.bytes, 0);
        assert!(q.retry_at.is_some_and(|t| t > t0));
        // nothing wanted: 0 without a retry instant
        assert_eq!(
            lim.read_quota(0, t0 + TICK),
            Quota {
                bytes: 0,
                retry_at: None
            }
        );
    }

    #[test]
    fn own_limit_and_group_combine() {
        let t0 = Instant::now();
        let group = RateLimitGroup::new(
            &RateLimitConfig::symmetric(1000, 1000, Some(TICK)).unwrap(),
            t0,
        );
        let mut slow = RateLimiter::with_config(cfg(100, 100), t0);
        let mut fast = RateLimiter::new();
        slow.set_group(Some(&group), t0);
        fast.set_group(Some(&group), t0);
        assert_eq!(slow.max_to_read(t0), 100);
        slow.on_read(100, t0);
        // slow's own bucket holds it back: fast may use the rest
        assert_eq!(fast.max_to_read(t0), 900);
        fast.on_read(900, t0);
        assert_eq!(fast.max_to_read(t0), 0);
        assert_eq!(slow.read_wakeup(t0), Some(t0 + TICK));
    }

    #[test]
    fn set_group_moves_between_groups_and_drop_leaves() {
        let t0 = Instant::now();
        let c = RateLimitConfig::symmetric(1000, 1000, Some(TICK)).unwrap();
        let g1 = RateLimitGroup::new(&c, t0);
        let g2 = RateLimitGroup::new(&c, t0);
        let mut lim = RateLimiter::new();
        lim.set_group(Some(&g1), t0);
        lim.set_group(Some(&g1), t0);
        assert_eq!(g1.member_count(), 1);
        lim.set_group(Some(&g2), t0);
        assert_eq!((g1.member_count(), g2.member_count()), (0, 1));
        assert!(lim.group().is_some_and(|g| g.same_group(&g2)));
        drop(lim);
        assert_eq!(g2.member_count(), 0);
    }
}
