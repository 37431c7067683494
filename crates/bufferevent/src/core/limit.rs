//! The single place the state machine asks "how many bytes may move now".
//!
//! Two things can cut a transfer down, and both are asked here:
//!
//! * libevent's rate limits (`bufferevent_set_rate_limit`, rate-limit
//!   groups): a [`ev_token_bucket::RateLimiter`], created by the first rate-limit
//!   call on the bufferevent (see [`BufferEvent::set_rate_limit`]);
//! * an optional custom [`Limiter`] installed with
//!   [`BufferEvent::set_limiter`], for policies libevent does not have.
//!
//! The state machine computes what watermarks and read sizes allow, then
//! asks [`Limits::quota`], which returns the smaller of the two answers and,
//! if it is 0, when to ask again. A quota of 0 is "suspend until
//! `retry_at`", never a zero-byte read (libevent #1439/#1440).
//!
//! [`BufferEvent::set_rate_limit`]: crate::BufferEvent::set_rate_limit
//! [`BufferEvent::set_limiter`]: crate::BufferEvent::set_limiter

use std::sync::Arc;
use std::time::Instant;

use ev_token_bucket::{Direction, RateLimiter, MAX_SINGLE_LIMIT};

use crate::rate_limit::{MemberWakers, RateLimitGroup};

/// What a [`Limiter`] allows right now for one direction.
///
/// libevent: what `bufferevent_get_max_to_read` / `_write` return, plus when to ask again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Bytes that may move now (0 = none: the direction is suspended;
    /// libevent: the `ev_ssize_t` of `bufferevent_get_max_to_read`).
    pub bytes: usize,
    /// When asking again may give more, if `bytes` is 0 (the driver sleeps
    /// until then; `None` means "when something else wakes the driver";
    /// libevent: its `refill_bucket_event` timer).
    pub retry_at: Option<Instant>,
}

/// A custom byte-rate limiter for one bufferevent, installed with
/// [`BufferEvent::set_limiter`](crate::BufferEvent::set_limiter).
///
/// libevent has no such hook: its only policy is token buckets, which
/// this crate provides directly (libevent's `bufferevent_set_rate_limit`
/// is [`BufferEvent::set_rate_limit`](crate::BufferEvent::set_rate_limit),
/// groups are [`RateLimitGroup`](crate::RateLimitGroup)); use those
/// first. Implement `Limiter` for anything else (a budget shared with
/// non-bufferevent traffic, a schedule, a test double). When both a rate
/// limit and a custom limiter are set, the smaller quota wins.
///
/// Times are `std::time::Instant`s taken from tokio's clock
/// (`tokio::time::Instant::now().into_std()`), so a paused test clock
/// drives limiters too.
pub trait Limiter: Send {
    /// How many bytes may be read now, at most `want` (libevent:
    /// `bufferevent_get_read_max_`, internal).
    fn read_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// How many bytes may be written now, at most `want` (libevent:
    /// `bufferevent_get_write_max_`, internal).
    fn write_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// `n` bytes were read (libevent: `bufferevent_decrement_read_buckets_`).
    fn consumed_read(&mut self, n: usize, now: Instant);
    /// `n` bytes were written (libevent:
    /// `bufferevent_decrement_write_buckets_`).
    fn consumed_write(&mut self, n: usize, now: Instant);
}

/// A bufferevent's membership in a rate-limit group, with the wakers the
/// group uses to resume it early after a change made elsewhere.
struct GroupLink {
    group: RateLimitGroup,
    wakers: Arc<MemberWakers>,
}

/// Everything that limits a bufferevent's transfers.
#[derive(Default)]
pub(crate) struct Limits {
    /// libevent's per-bufferevent rate-limit state; created on first use.
    rate: Option<RateLimiter>,
    group: Option<GroupLink>,
    custom: Option<Box<dyn Limiter>>,
}

impl Limits {
    /// Whether anything may cut a transfer down.
    pub(crate) fn is_active(&self) -> bool {
        self.custom.is_some() || self.rate.as_ref().is_some_and(RateLimiter::is_limited)
    }

    pub(crate) fn set_custom(&mut self, limiter: Option<Box<dyn Limiter>>) {
        self.custom = limiter;
    }

    /// The rate limiter, created without limits on first use. Its single
    /// transfer bound is lifted: the core applies its own.
    pub(crate) fn rate(&mut self) -> &mut RateLimiter {
        self.rate.get_or_insert_with(|| {
            let mut r = RateLimiter::new();
            r.set_max_single_read(MAX_SINGLE_LIMIT);
            r.set_max_single_write(MAX_SINGLE_LIMIT);
            r
        })
    }

    /// The rate limiter if one was made.
    pub(crate) fn rate_ref(&self) -> Option<&RateLimiter> {
        self.rate.as_ref()
    }

    /// Joins `group` (leaving any other), or leaves with `None`.
    pub(crate) fn set_group(&mut self, group: Option<&RateLimitGroup>, now: Instant) {
        match group {
            Some(g) => {
                if self.group.as_ref().is_some_and(|l| l.group.same_group(g)) {
                    return;
                }
                self.leave_group(now);
                self.rate().set_group(Some(g.sans_io()), now);
                self.group = Some(GroupLink {
                    group: g.clone(),
                    wakers: g.register(),
                });
            }
            None => self.leave_group(now),
        }
    }

    fn leave_group(&mut self, now: Instant) {
        if self.group.take().is_some() {
            if let Some(r) = self.rate.as_mut() {
                r.set_group(None, now);
            }
        }
    }

    /// The group this bufferevent is in.
    pub(crate) fn group(&self) -> Option<&RateLimitGroup> {
        self.group.as_ref().map(|l| &l.group)
    }

    /// The wakers a group change wakes, if in a group.
    pub(crate) fn group_wakers(&self) -> Option<&MemberWakers> {
        self.group.as_ref().map(|l| &*l.wakers)
    }

    /// What may move in `dir` now, at most `want` (> 0): the custom
    /// limiter is asked first, then the rate limit with what the custom
    /// one allows (asking a group counts as wanting to transfer, so it is
    /// only asked when a transfer would follow).
    pub(crate) fn quota(&mut self, dir: Direction, want: usize, now: Instant) -> Quota {
        let mut q = Quota {
            bytes: want,
            retry_at: None,
        };
        if let Some(c) = self.custom.as_mut() {
            let cq = match dir {
                Direction::Read => c.read_quota(want, now),
                Direction::Write => c.write_quota(want, now),
            };
            q.bytes = cq.bytes.min(want);
            if q.bytes == 0 {
                return cq;
            }
        }
        if let Some(r) = self.rate.as_mut().filter(|r| r.is_limited()) {
            let rq = r.quota(dir, q.bytes, now);
            q = Quota {
                bytes: rq.bytes.min(q.bytes),
                retry_at: rq.retry_at,
            };
        }
        q
    }

    /// `n` bytes moved in `dir`.
    pub(crate) fn consumed(&mut self, dir: Direction, n: usize, now: Instant) {
        if let Some(c) = self.custom.as_mut() {
            match dir {
                Direction::Read => c.consumed_read(n, now),
                Direction::Write => c.consumed_write(n, now),
            }
        }
        if let Some(r) = self.rate.as_mut().filter(|r| r.is_limited()) {
            r.on_transfer(dir, n, now);
        }
    }
}
