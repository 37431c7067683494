//! The input half: ciphertext from the underlying in, plaintext out.

use std::io::{BufRead, ErrorKind};

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use super::TlsSession;
use crate::util::{budget, status};
use crate::{Error, FilterEvent};

/// The input filter of a [`TlsPair`](super::TlsPair): feeds ciphertext to rustls, delivers
/// what it decrypts, reports the handshake's completion and the peer's `close_notify` as
/// events, and at FINISHED tells a clean close from a dirty one.
///
/// libevent: the reading side of `bufferevent_openssl_filter_new`.
#[derive(Debug)]
pub struct TlsInput {
    session: TlsSession,
    connected_reported: bool,
    eof_reported: bool,
    events: Vec<FilterEvent>,
}

impl TlsInput {
    pub(crate) fn new(session: TlsSession) -> Self {
        TlsInput {
            session,
            connected_reported: false,
            eof_reported: false,
            events: Vec::new(),
        }
    }
    /// The connection this filter belongs to.
    ///
    /// libevent: `bufferevent_openssl_get_ssl`.
    pub fn session(&self) -> &TlsSession {
        &self.session
    }
}

impl Filter for TlsInput {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let mut added = 0;
        let mut s = self.session.lock();
        loop {
            // Hand over everything rustls has decrypted (nothing stays hidden inside: #690),
            // copied once, from rustls's buffer into `dst`.
            loop {
                let n = match s.conn.reader().into_first_chunk() {
                    // empty only once the peer's close_notify has arrived
                    Ok([]) => {
                        s.peer_closed = true;
                        break;
                    }
                    Ok(chunk) => {
                        dst.add(chunk)?;
                        chunk.len()
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // UnexpectedEof: only after rustls saw EOF, which we never feed it.
                    Err(e) => return Err(Error::Io(e).into()),
                };
                s.conn.reader().consume(n);
                added += n;
            }
            if added >= budget || src.is_empty() || s.peer_closed || s.failed {
                break;
            }
            // Feed no more ciphertext than the room left (at least 512 bytes so that progress
            // stays cheap): plaintext out <= ciphertext in, plus the one record rustls may
            // already hold in part.
            let extent = src.peek(..).next().unwrap_or(&[]);
            let feed = extent.len().min((budget - added).max(512));
            let n = match s.conn.read_tls(&mut &extent[..feed]) {
                Ok(n) => n,
                Err(e) => return Err(Error::Io(e).into()),
            };
            src.drain(n)?;
            if n == 0 {
                break;
            }
            if let Err(e) = s.conn.process_new_packets() {
                // rustls has queued an alert for the peer: the output side sends it.
                s.failed = true;
                tracing::debug!(error = %e, "TLS input failed");
                return Err(Error::Tls(e).into());
            }
        }
        if !self.connected_reported && !s.conn.is_handshaking() {
            self.connected_reported = true;
            self.events.push(FilterEvent::Connected);
            tracing::debug!(
                version = ?s.conn.protocol_version(),
                alpn = ?s.conn.alpn_protocol().map(String::from_utf8_lossy),
                "TLS handshake complete"
            );
        }
        if s.peer_closed && !self.eof_reported {
            self.eof_reported = true;
            self.events.push(FilterEvent::Eof);
        }
        if mode == FlushMode::Finished && !s.peer_closed {
            let during_handshake = s.conn.is_handshaking();
            if during_handshake || !s.allow_dirty_shutdown {
                return Err(Error::DirtyShutdown { during_handshake }.into());
            }
            if !self.eof_reported {
                self.eof_reported = true;
                self.events.push(FilterEvent::Eof);
            }
        }
        Ok(status(added))
    }

    /// [`FilterEvent::Connected`] once the handshake completes, [`FilterEvent::Eof`] once the
    /// peer's `close_notify` arrives (or, with dirty shutdowns allowed, the transport ends).
    fn take_event(&mut self) -> Option<FilterEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }
}
