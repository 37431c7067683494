//! libevent's bufferevent rate limiting on tokio: per-bufferevent token
//! buckets (`bufferevent_set_rate_limit`) and shared groups
//! (`bufferevent_rate_limit_group_*`).
//!
//! The arithmetic lives in the sans-IO `ev_token_bucket` crate; this module joins
//! it to the driver. It exists for three things the sans-IO crate cannot do
//! by itself:
//!
//! * **the clock**: every call here uses the drivers' clock (tokio's, so a
//!   paused test clock drives the buckets exactly), and users never pass
//!   instants;
//! * **suspension**: a direction whose bucket is empty is not read or
//!   written at all (never a zero-byte read, libevent #1439/#1440) and
//!   resumes by itself on a timer at the instant the limiter names;
//! * **waking across tasks**: members of a group live in different tasks.
//!   A change made through a [`RateLimitGroup`] from anywhere (a manual
//!   credit, a new configuration or `min_share`) wakes every suspended
//!   member at once, instead of at its next retry instant. (A member
//!   leaving does not: its unused share of the current tick goes to members
//!   that ask before the tick ends, and waking every member on every close
//!   would cost a large group dearly.)

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use ev_token_bucket::{ConfigError, Direction, LimitError, RateLimitConfig};
use futures_util::task::AtomicWaker;

use crate::bufferevent::now;
use crate::BufferEvent;

/// A rate-limit group: one token bucket per direction shared by any number
/// of bufferevents (libevent's `struct bufferevent_rate_limit_group`, made
/// by `bufferevent_rate_limit_group_new`).
///
/// Each member that wants to transfer gets a fair share of what the group
/// allows per tick; members that do not ask do not dilute it (libevent
/// divides by every member, idle or not: statement 76). Shares are at least
/// [`min_share`](Self::min_share) bytes. Clones are handles to the same
/// group; it lives while a handle or a member does, so it may be dropped
/// with members left (libevent's `bufferevent_rate_limit_group_free`
/// asserts that it is empty: statement 80).
///
/// All methods use the drivers' clock (tokio's), and may be called from
/// any task or thread; changes that let members move sooner wake them.
///
/// ```
/// use std::time::Duration;
/// use bufferevent::{BufferEvent, Options, RateLimitConfig, RateLimitGroup};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // all members together: 100 kB/s in each direction, in 100 ms ticks
/// let cfg = RateLimitConfig::symmetric(10_000, 10_000, Some(Duration::from_millis(100)))?;
/// let group = RateLimitGroup::new(&cfg);
/// let (mut a, mut b) = BufferEvent::pair(Options::default());
/// a.add_to_rate_limit_group(&group);
/// b.add_to_rate_limit_group(&group);
/// assert_eq!(group.member_count(), 2);
/// assert_eq!(group.get_read_limit(), 10_000); // one tick's worth to start
/// group.decrement_read(4_000); // manual accounting
/// assert_eq!(group.get_read_limit(), 6_000);
/// assert_eq!(group.get_totals(), (0, 0)); // manual decrements are not totals
/// drop(a);
/// assert_eq!(group.member_count(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimitGroup {
    shared: Arc<Shared>,
}

struct Shared {
    group: ev_token_bucket::RateLimitGroup,
    members: Mutex<WakerList>,
}

/// The members' wakers. Members that left are pruned when the list has
/// doubled since the last pruning, so joining is O(1) amortized.
#[derive(Default)]
struct WakerList {
    entries: Vec<Weak<MemberWakers>>,
    prune_at: usize,
}

impl WakerList {
    fn push(&mut self, w: &Arc<MemberWakers>) {
        if self.entries.len() >= self.prune_at {
            self.entries.retain(|m| m.strong_count() > 0);
            self.prune_at = (2 * self.entries.len()).max(64);
        }
        self.entries.push(Arc::downgrade(w));
    }
}

/// What a group change wakes in one member: the task driving its reading
/// and the one driving its writing (they differ after `tokio::io::split`).
#[derive(Default)]
pub(crate) struct MemberWakers {
    pub(crate) read: AtomicWaker,
    pub(crate) write: AtomicWaker,
}

impl RateLimitGroup {
    /// The default `min_share`: 64 bytes, as in libevent.
    pub const DEFAULT_MIN_SHARE: u64 = ev_token_bucket::RateLimitGroup::DEFAULT_MIN_SHARE;

    /// A group limited by `cfg` (copied), its buckets starting now with one
    /// tick's worth (libevent's `bufferevent_rate_limit_group_new`).
    pub fn new(cfg: &RateLimitConfig) -> Self {
        Self::from_sans_io(ev_token_bucket::RateLimitGroup::new(cfg, now()))
    }

    /// Wraps a group of the sans-IO `ev_token_bucket` crate. It must have been
    /// made with the drivers' clock (`tokio::time::Instant::now().into_std()`).
    ///
    /// libevent: none (its group is one object tied to an `event_base`).
    pub fn from_sans_io(group: ev_token_bucket::RateLimitGroup) -> Self {
        RateLimitGroup {
            shared: Arc::new(Shared {
                group,
                members: Mutex::new(WakerList::default()),
            }),
        }
    }

    /// The sans-IO group underneath. Changes made through it do not wake
    /// suspended members (they resume at their next retry instant, at most
    /// one group tick later, or when the bucket refills).
    ///
    /// libevent: none (its group is one object tied to an `event_base`).
    pub fn sans_io(&self) -> &ev_token_bucket::RateLimitGroup {
        &self.shared.group
    }

    /// Replaces the configuration (libevent's
    /// `bufferevent_rate_limit_group_set_cfg`): the buckets are clipped to
    /// the new bursts and `min_share` is clamped again to the new rates.
    /// Wakes the members.
    pub fn set_config(&self, cfg: &RateLimitConfig) {
        self.shared.group.set_config(cfg, now());
        self.wake_members();
    }

    /// The current configuration (the copy libevent keeps in the group).
    pub fn config(&self) -> RateLimitConfig {
        self.shared.group.config()
    }

    /// Sets the smallest share a member is granted at once (libevent's
    /// `bufferevent_rate_limit_group_set_min_share`, default
    /// [`DEFAULT_MIN_SHARE`](Self::DEFAULT_MIN_SHARE)). The value in force
    /// is clamped to `min(read_rate, write_rate)` (statement 76) and 0 acts
    /// as 1. An error above [`ev_token_bucket::MAX_RATE`], where libevent returns
    /// -1. Wakes the members.
    pub fn set_min_share(&self, min_share: u64) -> Result<(), ConfigError> {
        self.shared.group.set_min_share(min_share)?;
        self.wake_members();
        Ok(())
    }

    /// The `min_share` in force, after clamping.
    ///
    /// libevent: the group's `min_share` field, which has no getter.
    pub fn min_share(&self) -> u64 {
        self.shared.group.min_share()
    }

    /// The group's read bucket now, negative when overdrawn (libevent's
    /// `bufferevent_rate_limit_group_get_read_limit`).
    pub fn get_read_limit(&self) -> i64 {
        self.shared.group.read_limit(now())
    }

    /// The group's write bucket now (libevent's
    /// `bufferevent_rate_limit_group_get_write_limit`).
    pub fn get_write_limit(&self) -> i64 {
        self.shared.group.write_limit(now())
    }

    /// Takes `n` bytes from the group's read bucket by hand, or with a
    /// negative `n` credits it (libevent's
    /// `bufferevent_rate_limit_group_decrement_read`). Reaching 0 or below
    /// suspends every member (statement 77); a credit wakes them. Not
    /// counted in the totals (statement 78).
    pub fn decrement_read(&self, n: i64) {
        self.decrement(Direction::Read, n);
    }

    /// Takes `n` bytes from the group's write bucket by hand, or credits it
    /// (libevent's `bufferevent_rate_limit_group_decrement_write`).
    pub fn decrement_write(&self, n: i64) {
        self.decrement(Direction::Write, n);
    }

    fn decrement(&self, dir: Direction, n: i64) {
        self.shared.group.decrement(dir, n, now());
        if n < 0 {
            self.wake_members();
        }
    }

    /// Bytes the members actually read and wrote since the group was made
    /// or the last [`reset_totals`](Self::reset_totals) (libevent's
    /// `bufferevent_rate_limit_group_get_totals`); manual decrements are
    /// not counted (statement 78).
    pub fn get_totals(&self) -> (u64, u64) {
        self.shared.group.totals()
    }

    /// Zeroes the totals (libevent's
    /// `bufferevent_rate_limit_group_reset_totals`).
    pub fn reset_totals(&self) {
        self.shared.group.reset_totals();
    }

    /// How many bufferevents are in the group (libevent's `n_members`).
    pub fn member_count(&self) -> usize {
        self.shared.group.member_count()
    }

    /// Whether two handles are the same group.
    ///
    /// libevent: comparing `struct bufferevent_rate_limit_group *` pointers.
    pub fn same_group(&self, other: &RateLimitGroup) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A new member's wakers.
    pub(crate) fn register(&self) -> Arc<MemberWakers> {
        let w = Arc::new(MemberWakers::default());
        self.lock_members().push(&w);
        w
    }

    /// Wakes every member's drivers, so that suspended ones ask again now.
    pub(crate) fn wake_members(&self) {
        let live: Vec<Arc<MemberWakers>> = self
            .lock_members()
            .entries
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for m in live {
            m.read.wake();
            m.write.wake();
        }
    }

    fn lock_members(&self) -> std::sync::MutexGuard<'_, WakerList> {
        // the list stays consistent between statements
        self.shared
            .members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for RateLimitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shared.group, f)
    }
}

/// libevent's `bufferevent_set_rate_limit` and friends. Limits apply where
/// they are set: on a socket bufferevent to the bytes it reads from and
/// writes to its stream; on a filter to the bytes its input filter
/// produces and its output filter consumes (the filter's own flow, not the
/// underlying's: limit that one through
/// [`underlying_mut`](BufferEvent::underlying_mut)); on a pair end to the
/// bytes it takes from and hands to its partner (libevent's pairs ignore
/// rate limits: statement 71).
impl BufferEvent {
    /// Sets, changes or with `None` removes this bufferevent's own rate
    /// limit (libevent's `bufferevent_set_rate_limit`), at any time
    /// (statements 73, 75):
    ///
    /// * a first limit starts with one tick's worth (`rate`), not `burst`;
    /// * the same `Arc` again is a no-op;
    /// * a different configuration keeps the buckets' tokens, clipped to the
    ///   new bursts;
    /// * `None` removes the limit and resumes a suspended direction at once.
    ///
    /// Each direction whose bucket is empty is suspended (no read or write
    /// is attempted, unlike libevent's zero-byte reads #1439) and resumes by
    /// itself when the bucket refills. The configuration is an `Arc`, so it
    /// lives as long as a user does (libevent's must outlive its users,
    /// #1049).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bufferevent::{BufferEvent, Options, RateLimitConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut a, _b) = BufferEvent::pair(Options::default());
    /// // 20 kB/s in 100 ms ticks, bursts of up to 8 kB
    /// let cfg = RateLimitConfig::shared(2_000, 8_000, 2_000, 8_000, Some(Duration::from_millis(100)))?;
    /// a.set_rate_limit(Some(cfg));
    /// assert_eq!(a.get_read_limit(), 2_000);
    /// assert_eq!(a.get_max_to_write(), 2_000);
    /// a.decrement_write_limit(2_500)?; // manual accounting: now overdrawn
    /// assert_eq!(a.get_write_limit(), -500);
    /// assert_eq!(a.get_max_to_write(), 0); // writing is suspended
    /// a.set_rate_limit(None);
    /// assert_eq!(a.get_read_limit(), i64::MAX);
    /// # Ok(()) }
    /// ```
    pub fn set_rate_limit(&mut self, cfg: Option<Arc<RateLimitConfig>>) {
        let now = now();
        self.core.limits().rate().set_config(cfg, now);
        self.core.clear_retry();
    }

    /// This bufferevent's own rate-limit configuration, if any (libevent
    /// keeps it in `rate_limiting->cfg` and has no getter).
    pub fn rate_limit(&self) -> Option<&Arc<RateLimitConfig>> {
        self.core.limits_ref()?.rate_ref()?.config()
    }

    /// Adds this bufferevent to `group`, leaving any other group first
    /// (libevent's `bufferevent_add_to_rate_limit_group`). Joining the group
    /// it is in is a no-op. Its own limit, if any, still applies: what may
    /// move is the smaller of the two. Dropping the bufferevent leaves the
    /// group.
    pub fn add_to_rate_limit_group(&mut self, group: &RateLimitGroup) {
        let now = now();
        self.core.limits().set_group(Some(group), now);
        self.core.clear_retry();
    }

    /// Leaves the rate-limit group, if any (libevent's
    /// `bufferevent_remove_from_rate_limit_group`); a direction suspended by
    /// the group resumes at once. What it was granted in the current tick
    /// and did not use goes to the members that ask before the tick ends.
    pub fn remove_from_rate_limit_group(&mut self) {
        let now = now();
        self.core.limits().set_group(None, now);
        self.core.clear_retry();
    }

    /// The group this bufferevent is in, if any.
    ///
    /// libevent: `bev->rate_limiting->group`, which has no public getter.
    pub fn rate_limit_group(&self) -> Option<&RateLimitGroup> {
        self.core.limits_ref().and_then(|l| l.group())
    }

    /// This bufferevent's own read bucket now, negative when overdrawn, or
    /// `i64::MAX` without a limit of its own (libevent's
    /// `bufferevent_get_read_limit`, statement 74). The group's bucket is
    /// [`RateLimitGroup::get_read_limit`].
    pub fn get_read_limit(&mut self) -> i64 {
        self.limit(Direction::Read)
    }

    /// This bufferevent's own write bucket now (libevent's
    /// `bufferevent_get_write_limit`).
    pub fn get_write_limit(&mut self) -> i64 {
        self.limit(Direction::Write)
    }

    fn limit(&mut self, dir: Direction) -> i64 {
        if self.core.limits_ref().and_then(|l| l.rate_ref()).is_none() {
            return i64::MAX;
        }
        let now = now();
        self.core.limits().rate().limit(dir, now)
    }

    /// How many bytes one read may take now (libevent's
    /// `bufferevent_get_max_to_read`): the smallest of the max single read,
    /// the own bucket and the group share, never negative (statement 74).
    /// Asking tells the group this member wants to read. The max single
    /// read defaults to [`DEFAULT_READ_SIZE`](crate::DEFAULT_READ_SIZE)
    /// (64 KiB; libevent: 16384).
    pub fn get_max_to_read(&mut self) -> usize {
        let now = now();
        self.core.read_quota(usize::MAX, now)
    }

    /// How many bytes one write may take now (libevent's
    /// `bufferevent_get_max_to_write`): the smallest of the max single
    /// write, the own bucket and the group share. `usize::MAX` when nothing
    /// bounds it (libevent's default max single write is 16384; here writes
    /// are unbounded unless [`set_max_single_write`](Self::set_max_single_write)
    /// says otherwise).
    pub fn get_max_to_write(&mut self) -> usize {
        let now = now();
        self.core.write_quota(usize::MAX, now)
    }

    /// Takes `n` bytes from this bufferevent's own read bucket by hand, or
    /// with a negative `n` credits it, even above the burst (libevent's
    /// `bufferevent_decrement_read_limit`, statement 75). A bucket at 0 or
    /// below suspends reading until refills make it positive; a credit
    /// resumes it at once. [`LimitError::NotLimited`] without a limit of its
    /// own (libevent asserts).
    pub fn decrement_read_limit(&mut self, n: i64) -> Result<(), LimitError> {
        self.decrement_limit(Direction::Read, n)
    }

    /// Takes `n` bytes from this bufferevent's own write bucket by hand, or
    /// credits it (libevent's `bufferevent_decrement_write_limit`).
    pub fn decrement_write_limit(&mut self, n: i64) -> Result<(), LimitError> {
        self.decrement_limit(Direction::Write, n)
    }

    fn decrement_limit(&mut self, dir: Direction, n: i64) -> Result<(), LimitError> {
        let now = now();
        if self.core.limits_ref().and_then(|l| l.rate_ref()).is_none() {
            return Err(LimitError::NotLimited { direction: dir });
        }
        self.core.limits().rate().decrement(dir, n, now)?;
        self.core.clear_retry();
        Ok(())
    }

    /// Bounds a single read (libevent's `bufferevent_set_max_single_read`);
    /// 0 restores the default [`DEFAULT_READ_SIZE`](crate::DEFAULT_READ_SIZE)
    /// (64 KiB; libevent's is 16384). The same setting as
    /// [`set_read_size`](Self::set_read_size).
    pub fn set_max_single_read(&mut self, n: usize) {
        let n = if n == 0 { crate::DEFAULT_READ_SIZE } else { n };
        self.core.set_read_size(n);
    }

    /// The single-read bound (libevent's `bufferevent_get_max_single_read`).
    pub fn get_max_single_read(&self) -> usize {
        self.core.read_size()
    }

    /// Bounds a single write (libevent's `bufferevent_set_max_single_write`);
    /// 0 restores the default, no bound (libevent's is 16384).
    pub fn set_max_single_write(&mut self, n: usize) {
        self.core.set_max_single_write(n);
    }

    /// The single-write bound, `usize::MAX` for none (libevent's
    /// `bufferevent_get_max_single_write`).
    pub fn get_max_single_write(&self) -> usize {
        self.core.max_single_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn group() -> RateLimitGroup {
        let cfg = RateLimitConfig::symmetric(1000, 1000, Some(Duration::from_millis(100))).unwrap();
        RateLimitGroup::new(&cfg)
    }

    #[test]
    fn the_waker_list_stays_proportional_to_the_live_members() {
        let g = group();
        let mut live = Vec::new();
        for i in 0..10_000 {
            let w = g.register();
            if i % 100 == 0 {
                live.push(w);
            }
        }
        let len = g.lock_members().entries.len();
        assert!(
            len <= 2 * 64 + 2 * live.len(),
            "{len} entries for {} members",
            live.len()
        );
    }

    #[test]
    fn waking_reaches_registered_members() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Wake, Waker};
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let g = group();
        let m = g.register();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        m.read.register(&Waker::from(count.clone()));
        g.decrement_read(10); // a debit wakes nobody
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        g.decrement_read(-10); // a credit does
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        m.read.register(&Waker::from(count.clone()));
        g.set_min_share(10).unwrap();
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
    }
}
