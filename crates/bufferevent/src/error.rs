//! Errors: what went wrong, on which side, with the cause kept.
//!
//! libevent reports failures as a bit in `short events` plus `errno`
//! (`EVUTIL_SOCKET_ERROR()`); filter failures (`BEV_ERROR`) it drops on the
//! floor. Here every failure is a value: [`Error`] for a bufferevent,
//! [`FilterError`] for what a [`Filter`](crate::Filter) returns.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// Boxed error source carried by [`FilterError`].
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a [`FilterError`] is.
///
/// libevent: none (`BEV_ERROR` carries no reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterErrorKind {
    /// The data is malformed (bad compressed stream, bad frame, TLS alert).
    InvalidData,
    /// A configured bound would be exceeded (frame too long, inflate ratio).
    LimitExceeded,
    /// The stream ended in the middle of a unit (truncated frame or stream).
    UnexpectedEof,
    /// An I/O or buffer operation failed inside the filter.
    Io,
    /// Anything else.
    Other,
}

impl fmt::Display for FilterErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterErrorKind::InvalidData => "invalid data",
            FilterErrorKind::LimitExceeded => "limit exceeded",
            FilterErrorKind::UnexpectedEof => "unexpected end of stream",
            FilterErrorKind::Io => "i/o error",
            FilterErrorKind::Other => "filter error",
        })
    }
}

/// A filter's failure (libevent's `BEV_ERROR`, with a reason attached).
///
/// ```
/// use bufferevent::{FilterError, FilterErrorKind};
/// let e = FilterError::new(FilterErrorKind::LimitExceeded, "frame of 70000 bytes exceeds 65536");
/// assert_eq!(e.kind(), FilterErrorKind::LimitExceeded);
/// assert_eq!(e.to_string(), "limit exceeded: frame of 70000 bytes exceeds 65536");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct FilterError {
    kind: FilterErrorKind,
    message: Cow<'static, str>,
    #[source]
    source: Option<Source>,
}

impl FilterError {
    /// A filter error of `kind` saying `message`.
    ///
    /// libevent: returning `BEV_ERROR` (without a reason).
    pub fn new(kind: FilterErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        FilterError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A filter error of `kind` saying `message`, caused by `source`.
    ///
    /// libevent: returning `BEV_ERROR` (without a reason).
    pub fn with_source(
        kind: FilterErrorKind,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<Source>,
    ) -> Self {
        FilterError {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Shorthand for [`FilterErrorKind::InvalidData`].
    ///
    /// libevent: returning `BEV_ERROR` (without a reason).
    pub fn invalid_data(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(FilterErrorKind::InvalidData, message)
    }

    /// What kind of failure this is.
    ///
    /// libevent: none (`BEV_ERROR` carries no reason).
    pub fn kind(&self) -> FilterErrorKind {
        self.kind
    }

    /// The human-readable reason.
    ///
    /// libevent: none (`BEV_ERROR` carries no reason).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The best matching [`io::ErrorKind`], for the async face.
    ///
    /// libevent: none (`BEV_ERROR` sets no `errno`).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self.kind {
            FilterErrorKind::InvalidData | FilterErrorKind::LimitExceeded => {
                io::ErrorKind::InvalidData
            }
            FilterErrorKind::UnexpectedEof => io::ErrorKind::UnexpectedEof,
            FilterErrorKind::Io => match self.source.as_deref() {
                Some(s) => s
                    .downcast_ref::<io::Error>()
                    .map_or(io::ErrorKind::Other, io::Error::kind),
                None => io::ErrorKind::Other,
            },
            _ => io::ErrorKind::Other,
        }
    }
}

impl From<io::Error> for FilterError {
    fn from(e: io::Error) -> Self {
        FilterError::with_source(FilterErrorKind::Io, "i/o failed", e)
    }
}

impl From<evbuffer::Error> for FilterError {
    fn from(e: evbuffer::Error) -> Self {
        FilterError::with_source(FilterErrorKind::Io, "buffer operation failed", e)
    }
}

/// Which half of a bufferevent an error or event belongs to.
///
/// libevent: the `BEV_EVENT_READING` / `BEV_EVENT_WRITING` bit of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The input half (`BEV_EVENT_READING`).
    Reading,
    /// The output half (`BEV_EVENT_WRITING`).
    Writing,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Reading => "reading",
            Side::Writing => "writing",
        })
    }
}

/// A bufferevent failure, as reported with [`Events::ERROR`](crate::Events::ERROR)
/// (libevent's `BEV_EVENT_ERROR` plus `EVUTIL_SOCKET_ERROR()`), and as the
/// error of fallible calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed while reading or writing.
    #[error("{side} failed: {source}")]
    Io {
        /// Which half failed.
        side: Side,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Connecting to `target` failed (`bufferevent_socket_connect`).
    #[error("connecting to {target} failed: {source}")]
    Connect {
        /// The address or `host:port` tried.
        target: String,
        /// Why it failed (for several addresses: the last failure).
        #[source]
        source: io::Error,
    },
    /// Resolving a host name failed (`bufferevent_socket_connect_hostname`,
    /// libevent's `bufferevent_socket_get_dns_error`).
    #[error("resolving {host:?} failed: {source}")]
    Resolve {
        /// The name that could not be resolved.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The input or output filter returned an error (libevent's
    /// `BEV_ERROR`, which libevent itself ignores).
    #[error("{side} filter failed: {source}")]
    Filter {
        /// `Reading` for the input filter, `Writing` for the output filter.
        side: Side,
        /// What the filter said.
        #[source]
        source: FilterError,
    },
    /// A buffer operation failed (for example a frozen end).
    #[error("buffer operation failed: {0}")]
    Buffer(#[from] evbuffer::Error),
    /// An argument was out of range (libevent returns -1).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The bufferevent is gone or its write side is shut (the partner of a
    /// pair was dropped, or a handle outlived its bufferevent).
    #[error("bufferevent closed")]
    Closed,
    /// A [`Handle`](crate::Handle)'s queue is full (`try_write`).
    #[error("handle queue is full")]
    QueueFull,
}

impl Error {
    /// The best matching [`io::ErrorKind`].
    ///
    /// libevent: the `errno` value read with `EVUTIL_SOCKET_ERROR()`.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. }
            | Error::Connect { source, .. }
            | Error::Resolve { source, .. } => source.kind(),
            Error::Filter { source, .. } => source.io_kind(),
            Error::Buffer(_) => io::ErrorKind::Other,
            Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            Error::Closed => io::ErrorKind::BrokenPipe,
            Error::QueueFull => io::ErrorKind::WouldBlock,
        }
    }

    /// The side this error happened on, if it belongs to one (connect and
    /// resolve errors do not: libevent reports them as plain
    /// `BEV_EVENT_ERROR`).
    pub fn side(&self) -> Option<Side> {
        match self {
            Error::Io { side, .. } | Error::Filter { side, .. } => Some(*side),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { source, .. } => source,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}
