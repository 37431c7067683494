//! One served connection, shared by both seed servers: a socket
//! bufferevent under a filter bufferevent, and the callbacks that answer
//! each read.
//!
//! Both servers of the seed do the same thing per connection (libevent's
//! `listener_callback`: `bufferevent_socket_new`, `bufferevent_filter_new`,
//! `bufferevent_set_timeouts`, `bufferevent_setcb`, `bufferevent_enable`)
//! and differ only in their filters and in what the read callback writes
//! back, so that part lives here once.

use std::fmt;
use std::time::Duration;

use bufferevent::{BufferEvent, Dir, Events, Filter, Handler, Options};
use evbuffer::EvBuffer;
use listener::Connection;
use tracing::Instrument;

/// What the read callback writes back for the bytes it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `get information: <n> bytes!` (the filter server).
    Count,
    /// The bytes themselves (the first server, and `--echo`).
    Echo,
}

/// Per-connection settings.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) answer: Answer,
    /// Close after this long without input (`bufferevent_set_timeouts`'
    /// read timeout).
    pub(crate) read_timeout: Option<Duration>,
    /// Close after this long without output progress while output is
    /// pending (a client that does not read).
    pub(crate) write_timeout: Option<Duration>,
}

/// Bytes of each read shown in the log.
const PREVIEW: usize = 64;

/// Serves `conn` on a task of its own: the socket under a filter
/// bufferevent with `input` and `output` filters. The connection's slot
/// permit (under a connection cap) is released when the connection ends.
pub(crate) fn spawn(
    conn: Connection,
    input: impl Filter + 'static,
    output: impl Filter + 'static,
    settings: &Settings,
) {
    let (stream, peer, permit) = conn.into_parts();
    let span = tracing::info_span!("conn", %peer);
    span.in_scope(|| tracing::info!("new connection"));
    let sock = BufferEvent::socket(stream, Options::CLOSE_ON_FREE);
    let mut bev = BufferEvent::filter(sock, input, output, Options::CLOSE_ON_FREE);
    bev.set_timeouts(settings.read_timeout, settings.write_timeout);
    bev.enable(Dir::READ | Dir::WRITE);
    let session = Session {
        answer: settings.answer,
        paused: false,
        _permit: permit,
    };
    // The run future itself is the task (no async block around it that
    // would hold a second copy of the bufferevent); the permit lives in the
    // session and is released when the connection ends.
    tokio::spawn(bev.run(session).instrument(span));
}

/// The callbacks of one connection (the seed's `bev_read_callback`,
/// `bev_write_callback`, `bev_event_callback`).
struct Session {
    answer: Answer,
    /// Reading is paused because the client does not read its replies.
    paused: bool,
    /// The connection's slot under a connection cap.
    _permit: Option<listener::ConnPermit>,
}

impl Handler for Session {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        // Everything the input filter produced, moved without copying
        // (the seed removes at most 1,023 bytes into a char array).
        let mut data = EvBuffer::new();
        if let Err(e) = bev.read_buffer(&mut data) {
            tracing::warn!(error = %e, "cannot take the input");
            bev.close();
            return;
        }
        let n = data.len();
        if n == 0 {
            return;
        }
        tracing::info!(bytes = n, data = %Preview(&data), "read");
        let written = match self.answer {
            Answer::Count => bev.write(super::reply_text(n).as_bytes()),
            Answer::Echo => bev.write_buffer(&mut data),
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "reply dropped: the write side is closed");
        }
        // The output filter has moved the reply into the socket's output
        // unless that is full: then the client is not reading, and reading
        // more would only queue more replies. Resume once it drained.
        if !bev.output().is_empty() && !self.paused {
            tracing::debug!("client is not reading its replies: reading paused");
            self.paused = true;
            bev.disable(Dir::READ);
        }
    }

    fn on_write(&mut self, bev: &mut BufferEvent) {
        if bev.output().is_empty() {
            tracing::debug!("write event buffer is empty");
            if self.paused {
                self.paused = false;
                bev.enable(Dir::READ);
            }
        }
    }

    fn on_event(&mut self, bev: &mut BufferEvent, what: Events) {
        if what.contains(Events::TIMEOUT) {
            let reason = if what.contains(Events::READING) {
                "idle timeout: no data"
            } else {
                "write timeout: the client does not read"
            };
            let (read, write) = bev.timeouts();
            let after = if what.contains(Events::READING) {
                read
            } else {
                write
            };
            tracing::info!(reason, after = ?after.unwrap_or_default(), "connection closed");
            bev.close();
        } else if what.contains(Events::EOF) {
            tracing::info!(reason = "end of file from the client", "connection closed");
            // Replies still queued are delivered before the socket closes.
            bev.close_gracefully();
        } else if what.contains(Events::ERROR) {
            match bev.error() {
                Some(e) => tracing::warn!(error = %e, "connection closed on error"),
                None => tracing::warn!(events = ?what, "connection closed on error"),
            }
            bev.close();
        }
    }
}

/// The first [`PREVIEW`] bytes of a buffer, escaped, for the log.
struct Preview<'a>(&'a EvBuffer);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = [0u8; PREVIEW];
        let n = self.0.copy_out(&mut head).unwrap_or(0);
        write!(f, "\"{}\"", head[..n].escape_ascii())?;
        if self.0.len() > n {
            write!(f, "... (+{} bytes)", self.0.len() - n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_escapes_and_caps() {
        let b = EvBuffer::from(&b"TEMP.DATA\0"[..]);
        assert_eq!(Preview(&b).to_string(), "\"TEMP.DATA\\x00\"");
        let big = EvBuffer::from(&[b'A'; 100][..]);
        let s = Preview(&big).to_string();
        assert!(s.ends_with("\"... (+36 bytes)"), "{s}");
    }
}
