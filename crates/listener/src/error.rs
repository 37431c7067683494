//! Errors: why a listener could not be set up ([`Error`]), and what went
//! wrong while accepting ([`AcceptError`]).
//!
//! libevent reports the first kind as a NULL return from
//! `evconnlistener_new_bind` with `errno` set, and the second through the
//! callback installed by `evconnlistener_set_error_cb`, leaving the caller to
//! read `EVUTIL_SOCKET_ERROR()`. Here both carry the address and the
//! underlying [`std::io::Error`].

use std::io;
use std::time::Duration;

use crate::Addr;

/// Why a listener (or a set of workers) could not be set up.
///
/// Replaces the NULL return of libevent's `evconnlistener_new_bind` /
/// `evconnlistener_new` together with `errno`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `socket(2)` failed for this address.
    #[error("cannot create a socket for {addr}: {source}")]
    Socket {
        /// The address the socket was for.
        addr: Addr,
        /// What the OS said.
        source: io::Error,
    },
    /// A socket option could not be set (e.g. `SO_REUSEPORT`, `TCP_DEFER_ACCEPT`).
    #[error("cannot set {option} on the socket for {addr}: {source}")]
    SetOption {
        /// The option's name as in C, e.g. `"SO_REUSEADDR"`.
        option: &'static str,
        /// The address the socket is for.
        addr: Addr,
        /// What the OS said.
        source: io::Error,
    },
    /// `bind(2)` failed (address in use, permission, no such interface...).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: Addr,
        /// What the OS said.
        source: io::Error,
    },
    /// `listen(2)` failed.
    #[error("cannot listen on {addr} with backlog {backlog}: {source}")]
    Listen {
        /// The bound address.
        addr: Addr,
        /// The backlog passed to `listen(2)`.
        backlog: i32,
        /// What the OS said.
        source: io::Error,
    },
    /// Binding with [`Backlog::AlreadyListening`](crate::Backlog::AlreadyListening):
    /// a freshly bound socket must be put into the listening state. libevent's
    /// `evconnlistener_new_bind` returns NULL for backlog 0 for the same reason.
    #[error("cannot bind {addr} without listening: backlog 0 (AlreadyListening) only makes sense when adopting a socket")]
    ZeroBacklog {
        /// The address asked for.
        addr: Addr,
    },
    /// The socket handed to [`Listener::adopt`](crate::Listener::adopt) is not
    /// usable as a listener.
    #[error("cannot adopt the socket: {reason}")]
    Adopt {
        /// What is wrong with it.
        reason: String,
        /// What the OS said, if it said anything.
        source: Option<io::Error>,
    },
    /// The socket-activation environment (`LISTEN_PID`, `LISTEN_FDS`) is
    /// malformed or names a descriptor that is not open.
    #[error("socket activation: {reason}")]
    Activation {
        /// What is wrong.
        reason: String,
    },
    /// [`Workers`](crate::Workers) was asked for zero threads.
    #[error("a worker pool needs at least one thread")]
    NoWorkers,
    /// A worker thread or its runtime could not be started.
    #[error("cannot start worker {index}: {source}")]
    Worker {
        /// The worker's index, from 0.
        index: usize,
        /// What the OS or tokio said.
        source: io::Error,
    },
}

/// A failed `accept(2)` that was not simply skipped, as given to the error
/// callback (libevent's `evconnlistener_set_error_cb`) and, for
/// [`Fatal`](AcceptError::Fatal), yielded by [`Incoming`](crate::Incoming).
///
/// Transient failures (`ECONNABORTED`, `EINTR`, `EAGAIN`, and the network
/// errors Linux passes on from `accept` such as `EPROTO` or `ENETDOWN`) are
/// skipped without a report, as libevent does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// Accepting failed for a reason that may go away: out of file
    /// descriptors (`EMFILE`, `ENFILE`), out of memory (`ENOBUFS`, `ENOMEM`),
    /// or an error this crate does not know. The listener waits `retry_in`
    /// (growing exponentially while the error persists) before it calls
    /// `accept` again, instead of spinning as libevent does (QUIRK #71/#89).
    #[error("accept on {addr} failed: {source}; retrying in {retry_in:?}")]
    Retrying {
        /// The listener's local address.
        addr: Addr,
        /// What the OS said.
        source: io::Error,
        /// How long the listener waits before the next `accept`.
        retry_in: Duration,
    },
    /// The listening socket itself is unusable (`EBADF`, `EINVAL`,
    /// `ENOTSOCK`, `EFAULT`, or it could not be registered with tokio).
    /// The listener stops.
    #[error("accept on {addr} failed for good: {source}")]
    Fatal {
        /// The listener's local address.
        addr: Addr,
        /// What the OS said.
        source: io::Error,
    },
}

impl AcceptError {
    /// The OS error behind this report.
    pub fn io_error(&self) -> &io::Error {
        match self {
            AcceptError::Retrying { source, .. } | AcceptError::Fatal { source, .. } => source,
        }
    }

    /// `true` when the cause is running out of file descriptors or memory
    /// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`).
    pub fn is_resource_exhaustion(&self) -> bool {
        crate::backoff::classify(self.io_error()) == crate::backoff::ErrorClass::Exhausted
    }
}
