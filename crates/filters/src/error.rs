//! The filters' error type.
//!
//! Every filter in this crate reports bad input as a [`crate::Error`] that says what was wrong
//! and where, converted into the bufferevent's [`FilterError`] (libevent's `BEV_ERROR`) with the
//! `Error` kept as its source, so a user can `downcast_ref::<bufferevent_filters::Error>()` the reason out of
//! an `ERROR` event.

use bufferevent::{FilterError, FilterErrorKind};

/// What went wrong inside one of this crate's filters.
///
/// Replaces libevent's bare `BEV_ERROR` return with a reason. Converted into
/// [`bufferevent::FilterError`] with `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame announced (or reached) more bytes than the configured maximum.
    #[error("{what}: frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Which decoder saw it.
        what: &'static str,
        /// The announced or buffered length (a lower bound when no length was announced).
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A line grew past the configured maximum without an end-of-line.
    #[error("line decoder: no end of line within {max} bytes ({seen} bytes buffered)")]
    LineTooLong {
        /// The configured maximum line length.
        max: usize,
        /// How many bytes were buffered without finding an end of line.
        seen: usize,
    },
    /// The input does not follow the framing.
    #[error("{what}: malformed frame at input byte {offset}: {reason}")]
    BadFrame {
        /// Which decoder saw it.
        what: &'static str,
        /// Offset of the frame in the decoder's input stream.
        offset: u64,
        /// What was expected.
        reason: String,
    },
    /// The stream ended (FINISHED) inside a frame.
    #[error("{what}: stream ended inside a frame ({buffered} bytes of it received)")]
    Truncated {
        /// Which decoder saw it.
        what: &'static str,
        /// Bytes of the unfinished frame that were received.
        buffered: usize,
    },
    /// Data was written after the filter was finished (`BEV_FINISHED` already processed).
    #[error("{what}: {len} bytes written after the stream was finished")]
    WriteAfterFinish {
        /// Which filter saw it.
        what: &'static str,
        /// How many bytes were waiting.
        len: usize,
    },
    /// zlib refused to compress (an internal error; should not happen with valid settings).
    #[cfg(feature = "zlib")]
    #[error("{format} compression failed: {source}")]
    Compress {
        /// deflate, zlib or gzip.
        format: &'static str,
        /// zlib's return code.
        #[source]
        source: crate::zlib::ZlibCode,
    },
    /// The compressed input is corrupt.
    #[cfg(feature = "zlib")]
    #[error("{format} stream corrupt at compressed byte {offset}: {source}")]
    Decompress {
        /// deflate, zlib or gzip.
        format: &'static str,
        /// Offset in the compressed stream where decoding failed.
        offset: u64,
        /// zlib's reason.
        #[source]
        source: flate2::DecompressError,
    },
    /// Decompression crossed one of the opt-in
    /// [`DecompressLimits`](crate::zlib::DecompressLimits) the application set (there are
    /// none by default: memory is bounded by backpressure, not by refusing data).
    #[cfg(feature = "zlib")]
    #[error(
        "{format} decompression stopped at compressed byte {input}: {output} bytes \
         decompressed exceed {limit}"
    )]
    DecompressionLimit {
        /// deflate, zlib or gzip.
        format: &'static str,
        /// Bytes decompressed so far (including the one that crossed the limit).
        output: u64,
        /// Compressed bytes consumed so far (where in the compressed stream it stopped).
        input: u64,
        /// Which limit, with its setting.
        limit: crate::zlib::DecompressLimit,
    },
    /// Bytes followed the end of a compressed stream that cannot have a successor.
    #[error("{format} stream: {extra} bytes after the end of the stream")]
    TrailingData {
        /// deflate or zlib.
        format: &'static str,
        /// How many bytes were waiting after the end.
        extra: usize,
    },
    /// rustls rejected the peer (bad certificate, protocol error, alert received...).
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The underlying connection ended without a TLS close_notify (a possible truncation
    /// attack); allowed by `TlsPair::allow_dirty_shutdown`. libevent: statement 81.
    #[error("TLS: peer closed the connection without close_notify{}", if *.during_handshake { " during the handshake" } else { "" })]
    DirtyShutdown {
        /// True when the handshake had not completed.
        during_handshake: bool,
    },
    /// A filter was configured with something it cannot use (e.g. an invalid TLS server name).
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// A tokio-util codec reported an error.
    #[error("codec: {0}")]
    Codec(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The buffer refused an operation (frozen, out of range).
    #[error("buffer: {0}")]
    Buffer(#[from] evbuffer::Error),
    /// An I/O error (from an adapter or a codec).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The bufferevent-level category of this error.
    ///
    /// libevent: none (`BEV_ERROR` carries no reason).
    pub fn kind(&self) -> FilterErrorKind {
        match self {
            Error::FrameTooLarge { .. } | Error::LineTooLong { .. } => {
                FilterErrorKind::LimitExceeded
            }
            #[cfg(feature = "zlib")]
            Error::DecompressionLimit { .. } => FilterErrorKind::LimitExceeded,
            Error::Truncated { .. } | Error::DirtyShutdown { .. } => FilterErrorKind::UnexpectedEof,
            Error::Buffer(_) | Error::Io(_) => FilterErrorKind::Io,
            Error::WriteAfterFinish { .. } | Error::InvalidConfig { .. } => FilterErrorKind::Other,
            #[cfg(feature = "zlib")]
            Error::Compress { .. } => FilterErrorKind::Other,
            _ => FilterErrorKind::InvalidData,
        }
    }
}

impl From<Error> for FilterError {
    fn from(e: Error) -> Self {
        FilterError::with_source(e.kind(), e.to_string(), e)
    }
}

/// Shorthand used by the filters: `Result<T, bufferevent_filters::Error>`.
///
/// libevent: none (an `int` return of 0 or -1).
pub type Result<T, E = Error> = std::result::Result<T, E>;
