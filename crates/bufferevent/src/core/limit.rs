//! The single place the state machine asks "how many bytes may move now".
//!
//! Rate limiting (libevent's `bufferevent_set_rate_limit` and rate-limit
//! groups) plugs in here: the state machine computes what watermarks and
//! read sizes allow, then asks the [`Limiter`], if one is installed, to cut
//! that down and to say when to retry if it allows nothing. A quota of 0 is
//! "suspend until `retry_at`", never a zero-byte read (libevent #1439/#1440).

use std::time::Instant;

/// What a limiter allows right now for one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Bytes that may move now (0 = none).
    pub(crate) bytes: usize,
    /// When asking again may give more, if `bytes` is 0.
    pub(crate) retry_at: Option<Instant>,
}

/// A byte-rate limiter for one bufferevent (the hook token buckets use).
#[allow(dead_code)] // implemented by the rate-limit module
pub(crate) trait Limiter: Send {
    /// How many bytes may be read now, at most `want`.
    fn read_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// How many bytes may be written now, at most `want`.
    fn write_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// `n` bytes were read.
    fn consumed_read(&mut self, n: usize, now: Instant);
    /// `n` bytes were written.
    fn consumed_write(&mut self, n: usize, now: Instant);
}
