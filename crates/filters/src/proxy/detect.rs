//! Which parser a connection's first byte selects, and the one entry point
//! [`decode`] both the input filter and the fuzz target use.

use super::{v1, v2, ProxyError, ProxyHeader, Version};

/// Which header versions a decoder accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Accept {
    /// Only the v1 text line (HAProxy's `send-proxy`).
    V1,
    /// Only the v2 binary block (HAProxy's `send-proxy-v2`).
    V2,
    /// Either; the first byte tells them apart.
    #[default]
    Any,
}

/// The default bound on the v2 length field (addresses and TLVs): 4 KiB, far
/// more than HAProxy sends (addresses, unique id, authority and TLS
/// details), far less than the 64 KiB the field can announce.
pub const DEFAULT_MAX_V2_LEN: usize = 4096;

/// Decodes a PROXY header at the start of `buf`.
///
/// * `Ok(Some((header, len)))`: a complete header of `len` bytes; what
///   follows belongs to the application.
/// * `Ok(None)`: every byte so far is a valid beginning; more are needed.
///   Never more than 107 bytes (v1) or 16 + `max_v2_len` (v2).
/// * `Err`: not a header this decoder accepts, with the offending byte.
///
/// ```
/// use bufferevent_filters::proxy::{decode, Accept};
/// let wire = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhello";
/// let (h, len) = decode(wire, Accept::Any, 4096).unwrap().unwrap();
/// assert_eq!(&wire[len..], b"hello");
/// assert_eq!(h.source().unwrap().to_string(), "192.0.2.1:56324");
/// assert_eq!(decode(&wire[..10], Accept::Any, 4096), Ok(None));
/// assert!(decode(b"GET / HTTP/1.1\r\n", Accept::Any, 4096).is_err());
/// ```
pub fn decode(
    buf: &[u8],
    accept: Accept,
    max_v2_len: usize,
) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let found = match first {
        b'P' => Version::V1,
        b'\r' => Version::V2,
        other => {
            let (expected, version) = match accept {
                Accept::V1 => (b'P', Version::V1),
                Accept::V2 | Accept::Any => (b'\r', Version::V2),
            };
            return Err(ProxyError::BadSignature {
                offset: 0,
                found: other,
                expected,
                version,
            });
        }
    };
    match (accept, found) {
        (Accept::V1, Version::V2) => Err(ProxyError::VersionNotAccepted {
            found,
            accepted: Version::V1,
        }),
        (Accept::V2, Version::V1) => Err(ProxyError::VersionNotAccepted {
            found,
            accepted: Version::V2,
        }),
        (_, Version::V1) => v1::parse(buf),
        (_, Version::V2) => v2::parse(buf, max_v2_len),
    }
}

/// How many bytes of `buf` a decoder needs to look at to decide, at most:
/// the v1 bound, or the v2 prefix plus its (bounded) length once known.
pub(crate) fn look_ahead(buf_prefix: &[u8], max_v2_len: usize) -> usize {
    match buf_prefix.first() {
        Some(b'\r') if buf_prefix.len() >= v2::V2_PREFIX_LEN => {
            let len = usize::from(u16::from_be_bytes([buf_prefix[14], buf_prefix[15]]));
            // An oversized length fails on the prefix alone.
            v2::V2_PREFIX_LEN + if len > max_v2_len { 0 } else { len }
        }
        Some(b'\r') => v2::V2_PREFIX_LEN,
        _ => v1::V1_MAX_LEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_decides() {
        assert!(matches!(
            decode(b"\x16\x03\x01", Accept::Any, 100),
            Err(ProxyError::BadSignature {
                offset: 0,
                found: 0x16,
                ..
            })
        ));
        assert_eq!(
            decode(b"P", Accept::V2, 100),
            Err(ProxyError::VersionNotAccepted {
                found: Version::V1,
                accepted: Version::V2
            })
        );
        assert_eq!(
            decode(b"\r", Accept::V1, 100),
            Err(ProxyError::VersionNotAccepted {
                found: Version::V2,
                accepted: Version::V1
            })
        );
        assert_eq!(decode(b"", Accept::Any, 100), Ok(None));
        assert_eq!(decode(b"P", Accept::V1, 100), Ok(None));
        assert_eq!(decode(b"\r", Accept::V2, 100), Ok(None));
    }
}
