//! [`ProxyError`]: why a connection's first bytes are not an acceptable
//! PROXY protocol header, and at which byte.
//!
//! The decoder returns it inside a [`FilterError`] (kept as the source, so
//! `downcast_ref::<ProxyError>()` gets it back from the bufferevent's
//! `ERROR` event).

use std::time::Duration;

use bufferevent::{FilterError, FilterErrorKind};

use super::Version;

/// What was wrong with the start of a connection that should carry a PROXY
/// protocol header. Offsets count from the connection's first byte.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes match neither signature (`PROXY ` nor the v2 block).
    #[error("no PROXY protocol header: byte {offset} is 0x{found:02x}, expected 0x{expected:02x} of the {version:?} signature")]
    BadSignature {
        /// Offset of the first byte that does not match.
        offset: usize,
        /// The byte received there.
        found: u8,
        /// The byte the signature has there.
        expected: u8,
        /// The version whose signature the earlier bytes matched (the
        /// first byte decides: `P` for v1, `\r` for v2).
        version: Version,
    },
    /// A header of a version this decoder was told not to accept.
    #[error("PROXY protocol {found:?} header received, but only {accepted:?} is accepted")]
    VersionNotAccepted {
        /// The version received.
        found: Version,
        /// The version accepted.
        accepted: Version,
    },
    /// A v1 line that does not follow the grammar.
    #[error("malformed PROXY v1 header at byte {offset}: {reason}")]
    V1Syntax {
        /// Offset of the offending byte.
        offset: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// No `\r\n` within the v1 maximum of 107 bytes.
    #[error("PROXY v1 header has no CRLF within {max} bytes")]
    V1TooLong {
        /// The bound (107).
        max: usize,
    },
    /// A v2 block that breaks the specification.
    #[error("malformed PROXY v2 header at byte {offset}: {reason}")]
    V2Syntax {
        /// Offset of the offending byte.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A v2 length field over this decoder's bound.
    #[error("PROXY v2 header announces {len} bytes after its 16-byte prefix (bytes 14-15); the maximum is {max}")]
    V2TooLong {
        /// The announced length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The connection ended before the header was complete.
    #[error("connection ended after {received} bytes, inside the PROXY header")]
    Truncated {
        /// Bytes of the header received.
        received: usize,
    },
    /// The header was not complete in time.
    #[error("no complete PROXY header within {after:?} ({received} bytes received)")]
    Timeout {
        /// The configured timeout.
        after: Duration,
        /// Bytes of the header received.
        received: usize,
    },
}

impl From<ProxyError> for FilterError {
    fn from(e: ProxyError) -> Self {
        let kind = match e {
            ProxyError::V1TooLong { .. } | ProxyError::V2TooLong { .. } => {
                FilterErrorKind::LimitExceeded
            }
            ProxyError::Truncated { .. } => FilterErrorKind::UnexpectedEof,
            ProxyError::Timeout { .. } => FilterErrorKind::Other,
            _ => FilterErrorKind::InvalidData,
        };
        FilterError::with_source(kind, e.to_string(), e)
    }
}
