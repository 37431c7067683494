//! The output half: plaintext in, ciphertext to the underlying out.

use std::io::Write;

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use super::session::Shared;
use super::TlsSession;
use crate::util::{budget, status};
use crate::Error;

/// The output filter of a [`TlsPair`](super::TlsPair): hands plaintext to rustls and emits the
/// records rustls wants sent (including handshake records and alerts the input side caused),
/// and `close_notify` at FINISHED.
///
/// Plaintext written before the handshake completes is buffered by rustls (up to its buffer
/// limit, 64 KiB by default; the rest waits in the source) and sent once the handshake is
/// done; FINISHED during the handshake, or with plaintext still waiting, sends `close_notify`
/// after them.
/// [`Filter::wants_write`](bufferevent::Filter::wants_write) is true whenever rustls has records to send.
///
/// libevent: the writing side of `bufferevent_openssl_filter_new`.
#[derive(Debug)]
pub struct TlsOutput {
    session: TlsSession,
}

impl TlsOutput {
    pub(crate) fn new(session: TlsSession) -> Self {
        TlsOutput { session }
    }
    /// The connection this filter belongs to.
    ///
    /// libevent: `bufferevent_openssl_get_ssl`.
    pub fn session(&self) -> &TlsSession {
        &self.session
    }
}

/// Appends what rustls writes straight to the destination buffer, at most `room` bytes in
/// total (rustls keeps the rest of a record for the next call): one copy, out of rustls's
/// buffer, and no allocation of our own.
struct Capped<'a> {
    dst: &'a mut EvBuffer,
    room: usize,
}

impl Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.room);
        self.dst.add(&buf[..n]).map_err(std::io::Error::other)?;
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Moves records rustls wants sent into `dst`, at most `room` bytes; returns bytes added.
fn push_records(s: &mut Shared, dst: &mut EvBuffer, room: usize) -> Result<usize, Error> {
    let mut added = 0;
    while s.conn.wants_write() && added < room {
        let n = s.conn.write_tls(&mut Capped {
            dst,
            room: room - added,
        })?;
        if n == 0 {
            break;
        }
        added += n;
    }
    Ok(added)
}

impl Filter for TlsOutput {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let mut s = self.session.lock();
        let mut added = 0;
        loop {
            added += push_records(&mut s, dst, budget - added)?;
            if added >= budget || src.is_empty() {
                break;
            }
            if s.failed {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "TLS connection failed earlier; cannot send data",
                ))
                .into());
            }
            if s.close_sent {
                return Err(Error::WriteAfterFinish {
                    what: "TLS output",
                    len: src.len(),
                }
                .into());
            }
            let extent = src.peek(..).next().unwrap_or(&[]);
            let take = extent.len().min(budget - added);
            let n = s.conn.writer().write(&extent[..take]).map_err(Error::Io)?;
            src.drain(n)?;
            if s.conn.is_handshaking() && n > 0 {
                s.early_plaintext = true;
            }
            if n == 0 {
                break; // rustls's buffer is full (handshake still running)
            }
        }
        if mode == FlushMode::Finished && !s.close_sent {
            s.close_pending = true;
        }
        if s.close_pending
            && src.is_empty()
            && !s.close_sent
            && !s.failed
            && !s.conn.is_handshaking()
        {
            s.close_pending = false;
            s.conn.send_close_notify();
            s.close_sent = true;
            tracing::debug!("TLS close_notify queued");
            added += push_records(&mut s, dst, usize::MAX)?;
        }
        Ok(status(added))
    }

    /// True whenever rustls has records to send, and also while the handshake is running
    /// with plaintext or a `close_notify` waiting for it (the driver must keep reading and
    /// call this filter again once the handshake has progressed).
    fn wants_write(&self) -> bool {
        let s = self.session.lock();
        s.conn.wants_write()
            || (!s.failed && s.conn.is_handshaking() && (s.early_plaintext || s.close_pending))
            || (!s.failed && s.close_pending && !s.close_sent)
    }
}
