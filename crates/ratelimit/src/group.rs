//! Rate-limit groups (libevent's `struct bufferevent_rate_limit_group`):
//! one bucket per direction shared by any number of bufferevents.
//!
//! The group is a cheap handle (`Arc<Mutex<..>>`), usable from members on
//! different tasks or threads. Membership is an owned value whose `Drop`
//! leaves the group, and the group lives as long as a handle or a member
//! does: there is no "the group must be empty before it is freed" rule
//! (libevent's `bufferevent_rate_limit_group_free` asserts, statement 80).
//! How the bucket is shared is in the `fair` module.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::debug;

use crate::bucket::to_i64;
use crate::fair::{Grant, Lane, MemberId};
use crate::{ConfigError, Direction, RateLimitConfig, MAX_RATE};

/// A bucket shared by a group of bufferevents (libevent's
/// `bufferevent_rate_limit_group`, made by
/// `bufferevent_rate_limit_group_new`).
///
/// Each member that wants to transfer gets a fair share of what the group
/// allows per tick; members that do not ask do not dilute it (libevent
/// divides by every member, idle or not). Shares are at least
/// [`min_share`](Self::min_share) bytes, so that many members do not
/// starve into tiny transfers. Clones are handles to the same group.
///
/// Add a bufferevent with [`RateLimiter::set_group`](crate::RateLimiter::set_group).
///
/// ```
/// use std::time::{Duration, Instant};
/// use ev_token_bucket::{RateLimitConfig, RateLimitGroup, RateLimiter};
///
/// let t0 = Instant::now();
/// let cfg = RateLimitConfig::symmetric(1000, 1000, Some(Duration::from_millis(100)))?;
/// let group = RateLimitGroup::new(&cfg, t0);
/// let mut a = RateLimiter::new();
/// let mut b = RateLimiter::new();
/// a.set_group(Some(&group), t0);
/// b.set_group(Some(&group), t0);
/// // both want to read: 500 bytes each this tick
/// assert_eq!(a.max_to_read(t0), 500);
/// a.on_read(500, t0);
/// assert_eq!(b.max_to_read(t0), 500);
/// b.on_read(500, t0);
/// assert_eq!(group.totals(), (1000, 0));
/// drop(a); // leaves the group
/// assert_eq!(group.member_count(), 1);
/// # Ok::<(), ev_token_bucket::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RateLimitGroup {
    inner: Arc<Mutex<GroupState>>,
}

#[derive(Debug)]
struct GroupState {
    cfg: RateLimitConfig,
    configured_min_share: u64,
    /// `configured_min_share` clamped to the rates, at least 1.
    min_share: i64,
    lanes: [Lane; 2],
    totals: [u64; 2],
    next_id: MemberId,
    members: usize,
}

impl GroupState {
    fn lane(&mut self, dir: Direction) -> &mut Lane {
        &mut self.lanes[dir.index()]
    }

    /// Statement 76: min_share is clamped to min(read_rate, write_rate);
    /// 0 behaves as 1 (a grant of 0 bytes means "wait").
    fn clamp_min_share(&mut self) {
        let clamped = self
            .configured_min_share
            .min(self.cfg.read_rate())
            .min(self.cfg.write_rate())
            .max(1);
        self.min_share = to_i64(clamped);
    }
}

impl RateLimitGroup {
    /// The default `min_share`: 64 bytes, as in libevent.
    pub const DEFAULT_MIN_SHARE: u64 = 64;

    /// A group limited by `cfg` (copied, as libevent does), its buckets
    /// starting at `now` with one tick's worth (libevent's
    /// `bufferevent_rate_limit_group_new`).
    pub fn new(cfg: &RateLimitConfig, now: Instant) -> Self {
        let mut state = GroupState {
            cfg: *cfg,
            configured_min_share: Self::DEFAULT_MIN_SHARE,
            min_share: 1,
            lanes: [
                Lane::new(cfg, Direction::Read, now),
                Lane::new(cfg, Direction::Write, now),
            ],
            totals: [0; 2],
            next_id: 0,
            members: 0,
        };
        state.clamp_min_share();
        RateLimitGroup {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        // the state stays consistent between statements; a panic elsewhere
        // while holding the lock must not make every member panic too
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the configuration (libevent's
    /// `bufferevent_rate_limit_group_set_cfg`): the buckets are clipped to
    /// the new bursts, and `min_share` is clamped again to the new rates.
    pub fn set_config(&self, cfg: &RateLimitConfig, now: Instant) {
        let mut g = self.lock();
        g.cfg = *cfg;
        for dir in Direction::BOTH {
            g.lane(dir).reconfigure(cfg, now);
        }
        g.clamp_min_share();
        debug!(?cfg, "group configuration changed");
    }

    /// The current configuration (the copy libevent keeps in the group's
    /// `rate_limit_cfg`).
    pub fn config(&self) -> RateLimitConfig {
        self.lock().cfg
    }

    /// Sets the smallest share a member is granted (libevent's
    /// `bufferevent_rate_limit_group_set_min_share`). The value in force is
    /// clamped to `min(read_rate, write_rate)` (statement 76), and 0 acts
    /// as 1. Errors above [`MAX_RATE`].
    pub fn set_min_share(&self, min_share: u64) -> Result<(), ConfigError> {
        if min_share > MAX_RATE {
            return Err(ConfigError::MinShareTooLarge {
                min_share,
                max: MAX_RATE,
            });
        }
        let mut g = self.lock();
        g.configured_min_share = min_share;
        g.clamp_min_share();
        Ok(())
    }

    /// The `min_share` in force, after clamping (statement 76).
    ///
    /// libevent: the group's `min_share` field, which has no getter.
    pub fn min_share(&self) -> u64 {
        u64::try_from(self.lock().min_share).unwrap_or(1)
    }

    /// The group's read bucket now, negative when overdrawn (libevent's
    /// `bufferevent_rate_limit_group_get_read_limit`).
    pub fn read_limit(&self, now: Instant) -> i64 {
        self.limit(Direction::Read, now)
    }

    /// The group's write bucket now (libevent's
    /// `bufferevent_rate_limit_group_get_write_limit`).
    pub fn write_limit(&self, now: Instant) -> i64 {
        self.limit(Direction::Write, now)
    }

    /// The group's bucket for `dir` now ([`read_limit`](Self::read_limit) or
    /// [`write_limit`](Self::write_limit)).
    ///
    /// libevent: `bufferevent_rate_limit_group_get_read_limit` / `_get_write_limit`.
    pub fn limit(&self, dir: Direction, now: Instant) -> i64 {
        let mut g = self.lock();
        let min_share = g.min_share;
        g.lane(dir).tokens(now, min_share)
    }

    /// Takes `n` bytes from the group's read bucket by hand, or credits
    /// `-n` (libevent's `bufferevent_rate_limit_group_decrement_read`).
    /// Reaching 0 or below suspends every member; not counted in the totals.
    pub fn decrement_read(&self, n: i64, now: Instant) {
        self.decrement(Direction::Read, n, now);
    }

    /// Takes `n` bytes from the group's write bucket by hand (libevent's
    /// `bufferevent_rate_limit_group_decrement_write`).
    pub fn decrement_write(&self, n: i64, now: Instant) {
        self.decrement(Direction::Write, n, now);
    }

    /// Manual decrement of `dir`'s bucket ([`decrement_read`](Self::decrement_read)
    /// or [`decrement_write`](Self::decrement_write)).
    ///
    /// libevent: `bufferevent_rate_limit_group_decrement_read` / `_decrement_write`.
    pub fn decrement(&self, dir: Direction, n: i64, now: Instant) {
        let mut g = self.lock();
        let min_share = g.min_share;
        g.lane(dir).decrement(n, now, min_share);
    }

    /// Bytes the members actually read and wrote since the group was made
    /// or [`reset_totals`](Self::reset_totals) (libevent's
    /// `bufferevent_rate_limit_group_get_totals`); manual decrements are
    /// not counted (statement 78).
    pub fn totals(&self) -> (u64, u64) {
        let g = self.lock();
        (g.totals[0], g.totals[1])
    }

    /// Zeroes the totals (libevent's
    /// `bufferevent_rate_limit_group_reset_totals`).
    pub fn reset_totals(&self) {
        self.lock().totals = [0; 2];
    }

    /// How many members the group has (libevent's `n_members`).
    pub fn member_count(&self) -> usize {
        self.lock().members
    }

    /// Adds a member (libevent's `bufferevent_add_to_rate_limit_group`).
    pub(crate) fn join(&self, now: Instant) -> Member {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.members += 1;
        for dir in Direction::BOTH {
            g.lane(dir).join(id, now);
        }
        Member {
            group: self.clone(),
            id,
        }
    }

    /// Whether two handles are the same group (libevent compares group
    /// pointers).
    pub fn same_group(&self, other: &RateLimitGroup) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for RateLimitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock();
        f.debug_struct("RateLimitGroup")
            .field("cfg", &g.cfg)
            .field("min_share", &g.min_share)
            .field("members", &g.members)
            .field("totals", &g.totals)
            .finish_non_exhaustive()
    }
}

/// Membership of one limiter in a group; dropping it leaves the group
/// (libevent's `bufferevent_remove_from_rate_limit_group`).
#[derive(Debug)]
pub(crate) struct Member {
    group: RateLimitGroup,
    id: MemberId,
}

impl Member {
    pub(crate) fn group(&self) -> &RateLimitGroup {
        &self.group
    }

    /// What the group lets this member transfer now; asking counts as
    /// wanting to transfer.
    pub(crate) fn grant(&self, dir: Direction, now: Instant) -> Grant {
        let mut g = self.group.lock();
        let min_share = g.min_share;
        g.lane(dir).grant(self.id, now, min_share)
    }

    /// When a refused member should ask again (`None`: it would be granted
    /// something now).
    pub(crate) fn wakeup(&self, dir: Direction, now: Instant) -> Option<Instant> {
        let mut g = self.group.lock();
        let min_share = g.min_share;
        g.lane(dir).wakeup(self.id, now, min_share)
    }

    /// `n` bytes were transferred; `release`: it transferred less than allowed, or its own bucket ran dry.
    pub(crate) fn consume(&self, dir: Direction, n: u64, release: bool, now: Instant) {
        let mut g = self.group.lock();
        let min_share = g.min_share;
        g.totals[dir.index()] = g.totals[dir.index()].saturating_add(n);
        g.lane(dir).consume(self.id, n, release, now, min_share);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut g = self.group.lock();
        g.members = g.members.saturating_sub(1);
        for dir in Direction::BOTH {
            g.lane(dir).leave(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TICK: Duration = Duration::from_millis(100);

    fn group(rate: u64) -> (RateLimitGroup, Instant) {
        let t0 = Instant::now();
        let cfg = RateLimitConfig::symmetric(rate, rate, Some(TICK)).unwrap();
        (RateLimitGroup::new(&cfg, t0), t0)
    }

    #[test]
    fn s76_min_share_defaults_to_64_and_is_clamped_to_the_rates() {
        let (g, _) = group(1000);
        assert_eq!(g.min_share(), 64);
        g.set_min_share(100_000).unwrap();
        assert_eq!(g.min_share(), 1000);
        let t0 = Instant::now();
        let asym = RateLimitConfig::new(100, 100, 5000, 5000, Some(TICK)).unwrap();
        g.set_config(&asym, t0);
        assert_eq!(g.min_share(), 100);
        assert!(matches!(
            g.set_min_share(u64::MAX),
            Err(ConfigError::MinShareTooLarge { .. })
        ));
        g.set_min_share(0).unwrap();
        assert_eq!(g.min_share(), 1);
    }

    #[test]
    fn s76_two_members_of_a_100_byte_group_get_50_each() {
        let (g, t0) = group(100);
        g.set_min_share(1).unwrap();
        let a = g.join(t0);
        let b = g.join(t0);
        assert_eq!(a.grant(Direction::Read, t0).bytes, 50);
        assert_eq!(b.grant(Direction::Read, t0).bytes, 50);
    }

    #[test]
    fn s76_min_share_100000_clamps_to_100() {
        let (g, t0) = group(100);
        g.set_min_share(100_000).unwrap();
        assert_eq!(g.min_share(), 100);
        let a = g.join(t0);
        let _b = g.join(t0);
        // each share raised to min_share: the first member may take all 100
        assert_eq!(a.grant(Direction::Read, t0).bytes, 100);
    }

    #[test]
    fn s77_empty_group_bucket_suspends_every_member_until_min_share() {
        let (g, t0) = group(100);
        let a = g.join(t0);
        let b = g.join(t0);
        g.decrement_read(250, t0);
        assert_eq!(g.read_limit(t0), -150);
        for m in [&a, &b] {
            let grant = m.grant(Direction::Read, t0);
            assert_eq!(grant.bytes, 0);
            // -150 +100 +100 = 50 < 64, so the third tick (capped at 100)
            assert_eq!(grant.retry_at, Some(t0 + TICK * 3));
        }
        assert_eq!(a.grant(Direction::Read, t0 + TICK * 2).bytes, 0);
        assert!(a.grant(Direction::Read, t0 + TICK * 3).bytes > 0);
        // writing was never suspended
        assert!(b.grant(Direction::Write, t0).bytes > 0);
    }

    #[test]
    fn s77_manual_credit_resumes_a_suspended_group() {
        let (g, t0) = group(100);
        let a = g.join(t0);
        g.decrement_read(100, t0);
        assert_eq!(a.grant(Direction::Read, t0).bytes, 0);
        g.decrement_read(-200, t0);
        assert_eq!(g.read_limit(t0), 200);
        // its quota for this tick plus the credit
        assert_eq!(a.grant(Direction::Read, t0).bytes, 300);
    }

    #[test]
    fn s78_totals_count_transfers_not_manual_decrements() {
        let (g, t0) = group(1000);
        let a = g.join(t0);
        a.consume(Direction::Read, 300, false, t0);
        a.consume(Direction::Write, 20, false, t0);
        g.decrement_read(500, t0);
        g.decrement_write(-500, t0);
        assert_eq!(g.totals(), (300, 20));
        g.reset_totals();
        assert_eq!(g.totals(), (0, 0));
    }

    #[test]
    fn s80_quirk_group_handle_may_be_dropped_while_members_remain() {
        let (g, t0) = group(1000);
        let a = g.join(t0);
        let b = g.join(t0);
        drop(g);
        // the members keep sharing the bucket
        assert_eq!(a.grant(Direction::Read, t0).bytes, 500);
        drop(b);
        assert_eq!(a.group().member_count(), 1);
    }

    #[test]
    fn leaving_returns_the_quota_to_the_others() {
        let (g, t0) = group(1000);
        let a = g.join(t0);
        let b = g.join(t0);
        assert_eq!(a.grant(Direction::Read, t0).bytes, 500);
        a.consume(Direction::Read, 500, false, t0);
        assert_eq!(b.grant(Direction::Read, t0).bytes, 500);
        drop(b);
        assert_eq!(g.member_count(), 1);
        assert_eq!(a.grant(Direction::Read, t0).bytes, 500);
    }
}
