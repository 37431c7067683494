//! What to do when `accept(2)` fails: skip, back off, or stop.
//!
//! libevent 2.1.12 skips `EINTR`/`EAGAIN`/`ECONNABORTED`, and for anything
//! else calls the error callback and leaves the listener enabled, so when the
//! process runs out of file descriptors the still-pending connection makes
//! the loop call `accept` again at once, forever (statement 89, issue #71).
//! Here such errors make the listener wait, 10 ms at first, doubling up to
//! 1 s while the error persists, and the delay resets on the next success.
//! This module is plain data with no I/O so it is tested without sockets.

use std::io;
use std::time::Duration;

/// How long the accept loop waits after an `accept` that failed for lack of
/// resources, growing from `min` to `max` by doubling.
///
/// libevent has no equivalent: it retries at once (QUIRK #71/#89).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay after a failure (default 10 ms).
    pub min: Duration,
    /// Largest delay (default 1 s).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_secs(1),
        }
    }
}

/// The running state of a [`Backoff`]: the delay to use next.
#[derive(Debug, Clone)]
pub(crate) struct BackoffState {
    cfg: Backoff,
    next: Duration,
}

impl BackoffState {
    pub(crate) fn new(cfg: Backoff) -> Self {
        // A zero minimum would never grow: keep at least 1 ms.
        let min = cfg.min.max(Duration::from_millis(1));
        let max = cfg.max.max(min);
        BackoffState {
            cfg: Backoff { min, max },
            next: min,
        }
    }

    /// The delay to wait now; the following one is twice as long (capped).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = d.saturating_mul(2).min(self.cfg.max);
        d
    }

    /// An accept succeeded: start again from the minimum.
    pub(crate) fn reset(&mut self) {
        self.next = self.cfg.min;
    }
}

/// The three ways an accept error is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Skip and accept again at once: the failure was about one connection.
    Transient,
    /// Out of descriptors or memory: report, back off, retry.
    Exhausted,
    /// Not known to be harmless: report, back off, retry (never spin).
    Unknown,
    /// The listening socket itself is broken: report and stop.
    Fatal,
}

/// Sorts an `accept(2)` error into its [`ErrorClass`].
pub(crate) fn classify(err: &io::Error) -> ErrorClass {
    match err.kind() {
        io::ErrorKind::WouldBlock
        | io::ErrorKind::Interrupted
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => return ErrorClass::Transient,
        _ => {}
    }
    let Some(code) = err.raw_os_error() else {
        return ErrorClass::Unknown;
    };
    match code {
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => ErrorClass::Exhausted,
        // accept(2), Linux notes: these are network errors already pending on
        // the new socket, passed on by accept; treat like EAGAIN.
        libc::EAGAIN
        | libc::EINTR
        | libc::ECONNABORTED
        | libc::EPROTO
        | libc::ENETDOWN
        | libc::ENOPROTOOPT
        | libc::EHOSTDOWN
        | libc::ENONET
        | libc::EHOSTUNREACH
        | libc::EOPNOTSUPP
        | libc::ENETUNREACH
        | libc::ETIMEDOUT
        | libc::EPERM => ErrorClass::Transient,
        libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT => ErrorClass::Fatal,
        _ => ErrorClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_and_resets() {
        let mut b = BackoffState::new(Backoff::default());
        let seq: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(seq, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }

    #[test]
    fn degenerate_configs_still_wait() {
        let mut b = BackoffState::new(Backoff {
            min: Duration::ZERO,
            max: Duration::ZERO,
        });
        assert_eq!(b.next_delay(), Duration::from_millis(1));
        assert_eq!(b.next_delay(), Duration::from_millis(1));
    }

    #[test]
    fn classification() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(classify(&os(libc::EMFILE)), ErrorClass::Exhausted);
        assert_eq!(classify(&os(libc::ENFILE)), ErrorClass::Exhausted);
        assert_eq!(classify(&os(libc::ENOBUFS)), ErrorClass::Exhausted);
        assert_eq!(classify(&os(libc::ENOMEM)), ErrorClass::Exhausted);
        assert_eq!(classify(&os(libc::ECONNABORTED)), ErrorClass::Transient);
        assert_eq!(classify(&os(libc::EINTR)), ErrorClass::Transient);
        assert_eq!(classify(&os(libc::EAGAIN)), ErrorClass::Transient);
        assert_eq!(classify(&os(libc::EPROTO)), ErrorClass::Transient);
        assert_eq!(classify(&os(libc::EBADF)), ErrorClass::Fatal);
        assert_eq!(classify(&os(libc::EINVAL)), ErrorClass::Fatal);
        assert_eq!(classify(&os(libc::EIO)), ErrorClass::Unknown);
        assert_eq!(
            classify(&io::Error::other("not from the OS")),
            ErrorClass::Unknown
        );
    }
}
