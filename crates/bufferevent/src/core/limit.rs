//! The single place the state machine asks "how many bytes may move now".
//!
//! Rate limiting (libevent's `bufferevent_set_rate_limit` and rate-limit
//! groups) plugs in here: the state machine computes what watermarks and
//! read sizes allow, then asks the [`Limiter`], if one is installed, to cut
//! that down and to say when to retry if it allows nothing. A quota of 0 is
//! "suspend until `retry_at`", never a zero-byte read (libevent #1439/#1440).

use std::time::Instant;

/// What a [`Limiter`] allows right now for one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Bytes that may move now (0 = none: the direction is suspended).
    pub bytes: usize,
    /// When asking again may give more, if `bytes` is 0 (the driver sleeps
    /// until then; `None` means "when something else wakes the driver").
    pub retry_at: Option<Instant>,
}

/// A byte-rate limiter for one bufferevent: the hook that libevent's
/// `bufferevent_set_rate_limit` and rate-limit groups plug into. Install
/// one with [`BufferEvent::set_limiter`](crate::BufferEvent::set_limiter).
///
/// Times are `std::time::Instant`s taken from tokio's clock
/// (`tokio::time::Instant::now().into_std()`), so a paused test clock
/// drives limiters too.
pub trait Limiter: Send {
    /// How many bytes may be read now, at most `want`.
    fn read_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// How many bytes may be written now, at most `want`.
    fn write_quota(&mut self, want: usize, now: Instant) -> Quota;
    /// `n` bytes were read.
    fn consumed_read(&mut self, n: usize, now: Instant);
    /// `n` bytes were written.
    fn consumed_write(&mut self, n: usize, now: Instant);
}
