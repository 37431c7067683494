//! Per-connection statistics: what a bufferevent moved, how long it waited
//! and why, and how it ended.
//!
//! They exist so that a server can log one line per closed connection (and
//! a tracing span carries them) without instrumenting its callbacks. They
//! are counters bumped where the bytes are counted anyway; the clock is read
//! only when a pause starts or ends, never per message. libevent has no
//! such statistics (only a rate-limit group's totals).

use std::io;
use std::time::{Duration, Instant};

use crate::Side;

/// How a connection ended (the first cause seen), in [`Stats::ended`].
///
/// libevent: the `what` of the event callback that made the user free the
/// bufferevent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ending {
    /// The peer closed: end of file was read (`BEV_EVENT_EOF`).
    Eof,
    /// An error ended a side (`BEV_EVENT_ERROR`); `side` is `None` for a
    /// connect or resolve failure. The full error is
    /// [`BufferEvent::error`](crate::BufferEvent::error) and what
    /// [`run`](crate::BufferEvent::run) returns.
    Error {
        /// The side that failed.
        side: Option<Side>,
        /// The error's kind.
        kind: io::ErrorKind,
    },
    /// A read or write timeout fired (`BEV_EVENT_TIMEOUT`).
    Timeout(Side),
    /// The user closed it ([`close`](crate::BufferEvent::close), or
    /// dropped it) before any of the above.
    Closed,
    /// A graceful close ([`close_gracefully`](crate::BufferEvent::close_gracefully))
    /// finished before any of the above.
    ClosedGracefully,
}

/// A bufferevent's statistics so far, read with
/// [`BufferEvent::stats`](crate::BufferEvent::stats) (and recorded on its
/// tracing span when it is dropped).
///
/// The byte counts are this bufferevent's own: for a filter, the bytes its
/// input filter produced and its output filter consumed (plain text under a
/// TLS filter); the transport's are in
/// `bev.underlying().unwrap().stats()`.
///
/// ```
/// use bufferevent::{BufferEvent, Dir, Options};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (mut a, mut b) = BufferEvent::pair(Options::default());
/// a.write_all(b"hello").await.unwrap();
/// a.shutdown().await.unwrap();
/// let mut got = Vec::new();
/// b.read_to_end(&mut got).await.unwrap();
/// assert_eq!(a.stats().bytes_out, 5);
/// assert_eq!(b.stats().bytes_in, 5);
/// assert_eq!(b.stats().ended, Some(bufferevent::Ending::Eof));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes that arrived in the input.
    pub bytes_in: u64,
    /// Bytes that left the output (written to the transport, moved to a
    /// pair's partner, or consumed by a filter's output filter).
    pub bytes_out: u64,
    /// The largest output backlog seen (bytes waiting in the output), as
    /// measured after each write and each drive step.
    pub max_output: usize,
    /// How long reading was paused because the input was at its read high
    /// watermark (or the default input bound): the user did not drain it.
    pub input_full: Duration,
    /// How long reading was paused because the output was at its bound
    /// (the callback face's backpressure: the peer was not reading).
    pub output_full: Duration,
    /// How long a rate limit (or custom limiter) held reading or writing
    /// back.
    pub rate_limited: Duration,
    /// How it ended; `None` while it has not.
    pub ended: Option<Ending>,
}

/// The pauses being timed: bits of [`Pauses`].
pub(crate) const PAUSE_INPUT: u8 = 1;
pub(crate) const PAUSE_OUTPUT: u8 = 2;
pub(crate) const PAUSE_RATE: u8 = 4;

/// The pause timers, allocated at the first pause (most connections never
/// pause: they pay 8 bytes for this).
#[derive(Debug, Default)]
pub(crate) struct PauseClock {
    since: [Option<Instant>; 3],
    total: [Duration; 3],
}

/// The counters kept in the core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    max_output: usize,
    ended: Option<Ending>,
    /// Which pauses are running (`PAUSE_*` bits).
    pauses: u8,
    clock: Option<Box<PauseClock>>,
}

const BITS: [u8; 3] = [PAUSE_INPUT, PAUSE_OUTPUT, PAUSE_RATE];

impl Counters {
    /// The pauses now in force are `now_paused`; reads the clock only if
    /// that differs from the last call.
    #[inline]
    pub(crate) fn track(&mut self, now_paused: u8, read: impl FnOnce() -> Instant) {
        if now_paused == self.pauses {
            return;
        }
        let now = read();
        let clock = self.clock.get_or_insert_with(Default::default);
        for (i, bit) in BITS.into_iter().enumerate() {
            let was = self.pauses & bit != 0;
            let is = now_paused & bit != 0;
            if was && !is {
                if let Some(t) = clock.since[i].take() {
                    clock.total[i] += now.saturating_duration_since(t);
                }
            } else if is && !was {
                clock.since[i] = Some(now);
            }
        }
        self.pauses = now_paused;
    }

    /// The statistics, with running pauses counted up to `now` (the clock
    /// is read only if one runs).
    pub(crate) fn snapshot(&self, read: impl FnOnce() -> Instant) -> Stats {
        let mut total = [Duration::ZERO; 3];
        if let Some(clock) = self.clock.as_deref() {
            total = clock.total;
            if self.pauses != 0 {
                let now = read();
                for (i, t) in clock.since.iter().enumerate() {
                    if let Some(t) = t {
                        total[i] += now.saturating_duration_since(*t);
                    }
                }
            }
        }
        Stats {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            max_output: self.max_output,
            input_full: total[0],
            output_full: total[1],
            rate_limited: total[2],
            ended: self.ended,
        }
    }

    /// Notes the output's size.
    #[inline]
    pub(crate) fn output_len(&mut self, n: usize) {
        if n > self.max_output {
            self.max_output = n;
        }
    }

    /// Notes a cause of the end, unless one was noted before.
    pub(crate) fn ending(&mut self, e: Ending) {
        if self.ended.is_none() {
            self.ended = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_timed_at_their_edges_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = Counters::default();
        let mut reads = 0;
        c.track(0, || panic!("no pause, no clock"));
        c.track(PAUSE_INPUT, || {
            reads += 1;
            t0
        });
        c.track(PAUSE_INPUT, || panic!("same pauses, no clock"));
        c.track(PAUSE_INPUT | PAUSE_RATE, || {
            reads += 1;
            t0 + s
        });
        assert_eq!(c.snapshot(|| t0 + 2 * s).input_full, 2 * s);
        c.track(0, || {
            reads += 1;
            t0 + 3 * s
        });
        assert_eq!(reads, 3);
        let st = c.snapshot(|| panic!("nothing running"));
        assert_eq!(
            (st.input_full, st.rate_limited, st.output_full),
            (3 * s, 2 * s, Duration::ZERO)
        );
        c.ending(Ending::Eof);
        c.ending(Ending::Closed);
        c.output_len(10);
        c.output_len(3);
        let st = c.snapshot(|| t0);
        assert_eq!((st.ended, st.max_output), (Some(Ending::Eof), 10));
    }
}
