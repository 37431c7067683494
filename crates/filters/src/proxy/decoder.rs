//! [`ProxyDecoder`]: the input filter that takes the PROXY header off the
//! front of a connection, and [`ProxyInfo`], where the application reads it.
//!
//! The filter looks at (copies) at most the header's bound, drains exactly
//! the header's length once it is complete, and from then on moves bytes
//! through untouched, as [`PassThrough`](bufferevent::PassThrough) does. It
//! cannot put anything on the bufferevent itself, so the decoded header goes
//! into a shared [`ProxyInfo`] the application holds; with
//! [`report_connected`](ProxyDecoder::report_connected) the bufferevent
//! also reports `CONNECTED` when it arrives.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bufferevent::{Filter, FilterEvent, FilterResult, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use super::detect::look_ahead;
use super::{decode, Accept, ProxyError, ProxyHeader, DEFAULT_MAX_V2_LEN};

/// Where a [`ProxyDecoder`] puts the header it decoded: a cheap, cloneable,
/// `Send + Sync` handle, set once.
///
/// ```
/// use bufferevent_filters::proxy::{Accept, ProxyDecoder};
/// let (decoder, info) = ProxyDecoder::new(Accept::Any);
/// assert!(info.get().is_none()); // until the header has arrived
/// # drop(decoder);
/// ```
#[derive(Clone, Default)]
pub struct ProxyInfo(Arc<OnceLock<ProxyHeader>>);

impl ProxyInfo {
    /// The header, once it has been decoded.
    pub fn get(&self) -> Option<&ProxyHeader> {
        self.0.get()
    }

    /// The original client's address, once a `PROXY` header with IP
    /// addresses has been decoded (`None` for `LOCAL`, `UNKNOWN`, Unix).
    pub fn source(&self) -> Option<std::net::SocketAddr> {
        self.get().and_then(ProxyHeader::source)
    }

    /// The address the client connected to, as [`source`](Self::source).
    pub fn destination(&self) -> Option<std::net::SocketAddr> {
        self.get().and_then(ProxyHeader::destination)
    }
}

impl fmt::Debug for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProxyInfo").field(&self.get()).finish()
    }
}

/// The PROXY protocol input filter: strict, bounded, and exact about where
/// the header ends.
///
/// * A connection whose first bytes are not a header of an accepted version
///   fails at the first wrong byte ([`ProxyError`] inside the
///   [`FilterError`](bufferevent::FilterError) of the `ERROR` event).
/// * A header still incomplete after 107 bytes (v1) or 16 + `max_v2_len`
///   bytes (v2), at end of file, or (with [`timeout`](Self::timeout)) when
///   bytes arrive after the deadline, fails the same way. A peer that sends
///   nothing at all is left to the bufferevent's read timeout, or to the
///   application watching [`deadline`](Self::deadline).
/// * Bytes after the header are never consumed as header: they reach the
///   application unchanged (`limit` honoured).
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::proxy::{Accept, ProxyDecoder};
///
/// let (mut f, info) = ProxyDecoder::new(Accept::Any);
/// let mut src = EvBuffer::from(&b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhello"[..]);
/// let mut dst = EvBuffer::new();
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, &b"hello"[..]);
/// assert_eq!(info.source().unwrap().port(), 56324);
/// ```
pub struct ProxyDecoder {
    accept: Accept,
    max_v2_len: usize,
    timeout: Option<Duration>,
    started: Instant,
    info: ProxyInfo,
    done: bool,
    failed: Option<ProxyError>,
    report_connected: bool,
    event: Option<FilterEvent>,
    scratch: Vec<u8>,
}

impl ProxyDecoder {
    /// A decoder accepting `accept`, with the default v2 bound
    /// ([`DEFAULT_MAX_V2_LEN`]) and no timeout, and the handle where the
    /// header will appear.
    pub fn new(accept: Accept) -> (Self, ProxyInfo) {
        let info = ProxyInfo::default();
        let decoder = ProxyDecoder {
            accept,
            max_v2_len: DEFAULT_MAX_V2_LEN,
            timeout: None,
            started: Instant::now(),
            info: info.clone(),
            done: false,
            failed: None,
            report_connected: false,
            event: None,
            scratch: Vec::new(),
        };
        (decoder, info)
    }

    /// Refuse v2 headers announcing more than `max` bytes after the 16-byte
    /// prefix (at most 65,535, what the field can say).
    pub fn max_v2_len(mut self, max: usize) -> Self {
        self.max_v2_len = max.min(usize::from(u16::MAX));
        self
    }

    /// Fail a header that is not complete `after` the decoder was made
    /// (checked whenever bytes arrive).
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// Raise [`FilterEvent::Connected`] (the bufferevent's `CONNECTED`
    /// event) once the header has been decoded. Off by default.
    pub fn report_connected(mut self, on: bool) -> Self {
        self.report_connected = on;
        self
    }

    /// Another handle on the decoded header.
    pub fn info(&self) -> ProxyInfo {
        self.info.clone()
    }

    /// When the header must be complete, with a [`timeout`](Self::timeout).
    pub fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|t| self.started + t)
    }

    fn fail(&mut self, e: ProxyError) -> FilterResult {
        tracing::debug!(error = %e, "PROXY header refused");
        self.failed = Some(e.clone());
        Err(e.into())
    }

    /// Moves what follows the header, as `PassThrough` does.
    fn pass(src: &mut EvBuffer, dst: &mut EvBuffer, limit: Option<usize>) -> FilterResult {
        let n = limit.unwrap_or(usize::MAX).min(src.len());
        if n == 0 {
            return Ok(FilterStatus::NeedMore);
        }
        src.remove_into(dst, n)?;
        Ok(FilterStatus::Ok)
    }
}

impl Filter for ProxyDecoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        if self.done {
            return Self::pass(src, dst, limit);
        }
        if let Some(e) = &self.failed {
            return Err(e.clone().into());
        }
        // Look at the fixed prefix first, then (v2) at the announced length,
        // never at more than the bound.
        let mut want = src.len().min(16);
        for _ in 0..2 {
            self.scratch.resize(want, 0);
            let n = src.copy_out(&mut self.scratch)?;
            self.scratch.truncate(n);
            want = src.len().min(look_ahead(&self.scratch, self.max_v2_len));
            if want <= self.scratch.len() {
                break;
            }
        }
        match decode(&self.scratch, self.accept, self.max_v2_len) {
            Ok(Some((header, len))) => {
                src.drain(len)?;
                tracing::debug!(?header, len, "PROXY header");
                let _ = self.info.0.set(header);
                self.done = true;
                if self.report_connected {
                    self.event = Some(FilterEvent::Connected);
                }
                let _ = Self::pass(src, dst, limit)?;
                // The header itself was consumed: progress either way.
                Ok(FilterStatus::Ok)
            }
            Ok(None) => {
                let received = self.scratch.len();
                if mode == FlushMode::Finished {
                    return self.fail(ProxyError::Truncated { received });
                }
                if let Some(after) = self.timeout {
                    if self.started.elapsed() >= after {
                        return self.fail(ProxyError::Timeout { after, received });
                    }
                }
                Ok(FilterStatus::NeedMore)
            }
            Err(e) => self.fail(e),
        }
    }

    fn take_event(&mut self) -> Option<FilterEvent> {
        self.event.take()
    }
}

impl fmt::Debug for ProxyDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyDecoder")
            .field("accept", &self.accept)
            .field("max_v2_len", &self.max_v2_len)
            .field("timeout", &self.timeout)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{encode, ProxyHeader, Version};

    fn run(
        f: &mut ProxyDecoder,
        chunks: &[&[u8]],
        limit: Option<usize>,
    ) -> Result<Vec<u8>, bufferevent::FilterError> {
        let mut src = EvBuffer::new();
        let mut dst = EvBuffer::new();
        for c in chunks {
            src.add(c).unwrap();
            loop {
                let before = (src.len(), dst.len());
                f.process(&mut src, &mut dst, limit, FlushMode::Normal)?;
                if (src.len(), dst.len()) == before {
                    break;
                }
            }
        }
        let mut out = vec![0; dst.len()];
        dst.copy_out(&mut out).unwrap();
        Ok(out)
    }

    #[test]
    fn byte_by_byte_both_versions_payload_exact() {
        for version in [Version::V1, Version::V2] {
            let h = ProxyHeader::proxy(
                "[2001:db8::7]:40000".parse().unwrap(),
                "[2001:db8::1]:443".parse().unwrap(),
            )
            .with_version(version);
            let mut wire = encode(&h).unwrap();
            wire.extend_from_slice(b"\r\n\r\nPROXY payload that looks like a header");
            let chunks: Vec<&[u8]> = wire.chunks(1).collect();
            let (mut f, info) = ProxyDecoder::new(Accept::Any);
            let out = run(&mut f, &chunks, Some(3)).unwrap();
            assert_eq!(out, b"\r\n\r\nPROXY payload that looks like a header");
            assert_eq!(info.get(), Some(&h));
        }
    }

    #[test]
    fn eof_inside_the_header_is_truncated() {
        let (mut f, info) = ProxyDecoder::new(Accept::Any);
        let mut src = EvBuffer::from(&b"PROXY TCP4 1.2"[..]);
        let mut dst = EvBuffer::new();
        assert_eq!(
            f.process(&mut src, &mut dst, None, FlushMode::Normal)
                .unwrap(),
            FilterStatus::NeedMore
        );
        let e = f
            .process(&mut src, &mut dst, None, FlushMode::Finished)
            .unwrap_err();
        let pe = std::error::Error::source(&e)
            .unwrap()
            .downcast_ref::<ProxyError>()
            .unwrap();
        assert_eq!(pe, &ProxyError::Truncated { received: 14 });
        assert!(info.get().is_none());
        assert_eq!(src.len(), 14, "nothing consumed");
        // Stays failed.
        assert!(f
            .process(&mut src, &mut dst, None, FlushMode::Normal)
            .is_err());
    }

    #[test]
    fn timeout_is_checked_when_bytes_arrive() {
        let (f, _) = ProxyDecoder::new(Accept::V2);
        let mut f = f.timeout(Duration::ZERO);
        assert!(f.deadline().is_some());
        let mut src = EvBuffer::from(&b"\r\n\r\n"[..]);
        let e = f
            .process(&mut src, &mut EvBuffer::new(), None, FlushMode::Normal)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("no complete PROXY header within 0ns (4 bytes received)"),
            "{e}"
        );
    }

    #[test]
    fn connected_event_once() {
        let (f, _) = ProxyDecoder::new(Accept::Any);
        let mut f = f.report_connected(true);
        let mut src = EvBuffer::from(&b"PROXY UNKNOWN\r\n"[..]);
        f.process(&mut src, &mut EvBuffer::new(), None, FlushMode::Normal)
            .unwrap();
        assert_eq!(f.take_event(), Some(FilterEvent::Connected));
        assert_eq!(f.take_event(), None);
    }

    #[test]
    fn v2_copies_no_more_than_its_bound() {
        // A v2 prefix announcing 600 bytes with a 512-byte bound fails with
        // the first 16 bytes, however much garbage follows.
        let (f, _) = ProxyDecoder::new(Accept::Any);
        let mut f = f.max_v2_len(512);
        let mut wire = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
        wire.extend_from_slice(&600u16.to_be_bytes());
        wire.resize(100_000, 0);
        let mut src = EvBuffer::from(&wire[..]);
        let e = f
            .process(&mut src, &mut EvBuffer::new(), None, FlushMode::Normal)
            .unwrap_err();
        assert!(e.to_string().contains("announces 600 bytes"), "{e}");
        assert!(f.scratch.len() <= 16);
    }
}
