//! One served connection, shared by both seed servers: a socket
//! bufferevent under a filter bufferevent, the callbacks that answer each
//! read, and the task that drives it until it ends and logs how it ended.
//!
//! Both servers of the seed do the same thing per connection (libevent's
//! `listener_callback`: `bufferevent_socket_new`, `bufferevent_filter_new`,
//! `bufferevent_set_timeouts`, `bufferevent_setcb`, `bufferevent_enable`)
//! and differ only in their filters and in what the read callback writes
//! back, so that part lives here once.
//!
//! Beyond the seed, a connection can start with a PROXY protocol header
//! (decoded in front of the input filter), take part in a graceful drain
//! (finish the replies to what it read, then close), and ends with one log
//! line saying who it served, how much, and how it ended.
//!
//! Memory per connection is what an idle server pays for each client, so
//! the task is kept small: a hand-written future holding the bufferevent,
//! the session and the slot permit once each, with the drain and the
//! PROXY deadline polled by hand (no `select!` state), and what only the
//! PROXY header or a reply delay needs boxed and made only when that
//! option is on. Measured with 2,000 idle connections and 1,000 after one
//! 100-byte ping-pong against `filter_server --echo --quiet`, server RSS
//! per connection went from 1.50x/1.53x libevent's to 1.11x/1.16x.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bufferevent::{BufferEvent, Dir, Events, Filter, Handler, Options};
use bufferevent_filters::proxy::{Accept, ProxyDecoder, ProxyInfo};
use bufferevent_filters::Chain;
use evbuffer::EvBuffer;
use evconnlistener::{Addr, Connection, Drain, DrainGuard, DrainState};
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

/// What a deployment adds to a connection: none of it by default.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    /// Expect a PROXY protocol header of these versions, complete within
    /// this long.
    pub(crate) proxy: Option<(Accept, Duration)>,
    /// Take part in this drain.
    pub(crate) drain: Option<Drain>,
    /// Answer each read this much later (simulated work).
    pub(crate) reply_delay: Option<Duration>,
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
    spawn_with(conn, input, output, settings, &Extras::default());
}

/// [`spawn`] with a PROXY header decoder in front of `input`, a drain
/// guard and a reply delay, as `extras` says.
pub(crate) fn spawn_with(
    conn: Connection,
    input: impl Filter + 'static,
    output: impl Filter + 'static,
    settings: &Settings,
    extras: &Extras,
) {
    match extras.proxy {
        Some((accept, within)) => {
            let (decoder, info) = ProxyDecoder::new(accept);
            let input = Chain::new().then(decoder.timeout(within)).then(input);
            start(conn, input, output, settings, extras, Some((info, within)));
        }
        None => start(conn, input, output, settings, extras, None),
    }
}

fn start(
    conn: Connection,
    input: impl Filter + 'static,
    output: impl Filter + 'static,
    settings: &Settings,
    extras: &Extras,
    proxy: Option<(ProxyInfo, Duration)>,
) {
    let (stream, peer, permit) = conn.into_parts();
    let sock = BufferEvent::socket(stream, Options::CLOSE_ON_FREE);
    let mut bev = BufferEvent::filter(sock, input, output, Options::CLOSE_ON_FREE);
    // The library's span for this bufferevent (kind, peer; its statistics
    // when it closes), with the PROXY header's client recorded on it.
    let span = bev.span();
    // (the listener's stream type is not a bare TcpStream, whose peer the
    // library finds by itself)
    span.record("peer", tracing::field::display(&peer));
    span.in_scope(|| tracing::info!("new connection"));
    bev.set_timeouts(settings.read_timeout, settings.write_timeout);
    bev.enable(Dir::READ | Dir::WRITE);
    // What only the PROXY header and the reply delay need, boxed, and made
    // only when one of them is on: without them a connection carries one
    // null pointer for it. The drain guard is inline (a server that drains
    // on SIGTERM tracks every connection).
    let guard = extras.drain.as_ref().map(Drain::track);
    let rare = (proxy.is_some() || extras.reply_delay.is_some()).then(|| {
        Box::new(Rare {
            header_due: proxy
                .as_ref()
                .map(|(_, within)| Box::pin(tokio::time::sleep(*within))),
            proxy: proxy.map(|(info, _)| info),
            client: None,
            destination: None,
            proxy_local: false,
            client_recorded: false,
            span: span.clone(),
            reply_delay: extras.reply_delay,
            delayed: Arc::new(AtomicUsize::new(0)),
        })
    });
    let session = Session {
        answer: settings.answer,
        paused: false,
        closing_after_replies: false,
        draining: false,
        summary: Summary::new(peer),
        guard,
        rare,
    };
    spawn_in(
        span,
        ConnTask {
            bev,
            _permit: permit,
            session,
        },
    );
}

/// One connection's task: the bufferevent, its session and its slot under
/// the connection cap, driven by [`Session::poll_drive`], and nothing else
/// (no `select!` state, no timer unless the PROXY header has a deadline).
/// Written by hand because an async block holding them would keep both
/// its captured values and the locals they are moved into, side by side:
/// the bufferevent twice.
///
/// The fields drop in order when the task ends: the bufferevent (closing
/// the socket), then the permit, then the session with its drain guard
/// (last: a drain waiting for this connection may end the process).
struct ConnTask {
    bev: BufferEvent,
    _permit: Option<evconnlistener::ConnPermit>,
    session: Session,
}

impl Future for ConnTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.session.poll_drive(&mut this.bev, cx).is_pending() {
            return Poll::Pending;
        }
        log_closed(&this.bev, &this.session);
        Poll::Ready(())
    }
}

/// Spawns `task` inside `span`, or bare when the span is disabled (a
/// quiet server): then the task holds no span and its polls pay nothing
/// for it.
fn spawn_in<F: Future<Output = ()> + Send + 'static>(span: tracing::Span, task: F) {
    if span.is_disabled() {
        tokio::spawn(task);
    } else {
        tokio::spawn(task.instrument(span));
    }
}

/// How a connection ended.
#[derive(Clone, Debug, Default)]
enum End {
    /// Still open (never logged: the driver only ends on one of the others).
    #[default]
    Open,
    PeerEof,
    IdleTimeout(Duration),
    WriteTimeout(Duration),
    Error(String),
    Drained,
    Cut,
    ProxyHeaderTimeout(Duration),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Open => f.write_str("closed by the server"),
            End::PeerEof => f.write_str("end of file from the client"),
            End::IdleTimeout(d) => write!(f, "no data for {d:?}"),
            End::WriteTimeout(d) => write!(f, "client did not read its replies for {d:?}"),
            End::Error(e) => write!(f, "error: {e}"),
            End::Drained => f.write_str("shutting down: replies flushed, then closed"),
            End::Cut => f.write_str("cut at the drain deadline"),
            End::ProxyHeaderTimeout(d) => write!(f, "no complete PROXY header within {d:?}"),
        }
    }
}

/// What the close line reports, counted by the callbacks.
#[derive(Debug)]
struct Summary {
    peer: Addr,
    started: Instant,
    reads: u64,
    bytes_in: u64,
    replies: u64,
    bytes_out: u64,
    ended: End,
}

impl Summary {
    fn new(peer: Addr) -> Self {
        Summary {
            peer,
            started: Instant::now(),
            reads: 0,
            bytes_in: 0,
            replies: 0,
            bytes_out: 0,
            ended: End::Open,
        }
    }
}

/// The one line logged per closed connection, with what the server
/// counted; the bufferevent's own statistics are added here.
fn log_closed(bev: &BufferEvent, session: &Session) {
    let s = &session.summary;
    let own = bev.stats();
    let wire = bev.underlying().map_or(own, BufferEvent::stats);
    let rare = session.rare.as_deref();
    let client = match rare {
        Some(r) if r.client.is_some() => r.client.map(|c| c.to_string()).unwrap_or_default(),
        Some(r) if r.proxy_local => "proxy-local".to_owned(),
        _ => "-".to_owned(),
    };
    let destination = rare.and_then(|r| r.destination);
    tracing::info!(
        peer = %s.peer,
        client = %client,
        to = %destination.map_or_else(|| "-".to_owned(), |d| d.to_string()),
        reads = s.reads,
        bytes_in = s.bytes_in,
        replies = s.replies,
        bytes_out = s.bytes_out,
        pending_out = bev.output().len(),
        // The transport's own figures (bytes on the wire, the largest
        // backlog, time paused at the bounds or by rate limits).
        wire_in = wire.bytes_in,
        wire_out = wire.bytes_out,
        max_backlog = wire.max_output.max(own.max_output),
        input_full_ms = (wire.input_full + own.input_full).as_millis() as u64,
        output_full_ms = (wire.output_full + own.output_full).as_millis() as u64,
        rate_limited_ms = (wire.rate_limited + own.rate_limited).as_millis() as u64,
        duration_ms = s.started.elapsed().as_millis() as u64,
        reason = %s.ended,
        "connection closed"
    );
}

/// The callbacks of one connection (the seed's `bev_read_callback`,
/// `bev_write_callback`, `bev_event_callback`).
struct Session {
    answer: Answer,
    /// Reading is paused because the client does not read its replies.
    paused: bool,
    /// The client ended its side: close once the delayed replies are out.
    closing_after_replies: bool,
    /// A drain started: close once every request read has its reply.
    draining: bool,
    summary: Summary,
    /// The connection's part in a drain.
    guard: Option<DrainGuard>,
    /// What the PROXY header and the reply delay need; `None` when neither
    /// is on.
    rare: Option<Box<Rare>>,
}

/// The parts of a connection that only a deployment's options use.
struct Rare {
    /// The PROXY header, once decoded.
    proxy: Option<ProxyInfo>,
    /// When the PROXY header must be complete; dropped once it is.
    header_due: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The original client, from the PROXY header.
    client: Option<SocketAddr>,
    /// The address the client connected to (the load balancer's), from
    /// the PROXY header.
    destination: Option<SocketAddr>,
    /// `LOCAL` or `UNKNOWN` header: the proxy's own connection.
    proxy_local: bool,
    client_recorded: bool,
    /// The connection's span, to name the client in once it is known.
    span: tracing::Span,
    reply_delay: Option<Duration>,
    /// Replies scheduled but not yet written (with a reply delay).
    delayed: Arc<AtomicUsize>,
}

impl Session {
    /// One poll of the connection: the bufferevent's callbacks, then the
    /// drain and the PROXY header deadline (polled by hand, so that a
    /// connection without them has no state for them). `Ready` once the
    /// bufferevent's driver has finished.
    fn poll_drive(&mut self, bev: &mut BufferEvent, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if bev.poll_run(cx, &mut *self).is_ready() {
                self.record_client();
                return Poll::Ready(());
            }
            let mut acted = false;
            let drain = match self.guard.as_mut() {
                Some(g) => g.poll_changed(cx),
                None => Poll::Pending,
            };
            if let Poll::Ready(state) = drain {
                acted = true;
                match state {
                    DrainState::Draining => {
                        self.draining = true;
                        self.maybe_finish(bev);
                    }
                    DrainState::Cut => {
                        self.summary.ended = End::Cut;
                        bev.close();
                    }
                    DrainState::Running => {}
                }
            }
            acted |= self.check_header_deadline(bev, cx);
            self.record_client();
            if !acted {
                return Poll::Pending;
            }
        }
    }

    /// Closes the connection if its PROXY header is not complete by its
    /// deadline; forgets the deadline once the header is there. Returns
    /// whether it closed.
    fn check_header_deadline(&mut self, bev: &mut BufferEvent, cx: &mut Context<'_>) -> bool {
        let Some(rare) = self.rare.as_mut() else {
            return false;
        };
        let Some(due) = rare.header_due.as_mut() else {
            return false;
        };
        // The header may have come in this very round.
        if rare.proxy.as_ref().is_some_and(|i| i.get().is_some()) {
            rare.header_due = None;
            return false;
        }
        if due.as_mut().poll(cx).is_pending() {
            return false;
        }
        rare.header_due = None;
        self.summary.ended = End::ProxyHeaderTimeout(self.summary.started.elapsed());
        bev.close();
        true
    }

    /// Puts the PROXY header's client address on the span and the summary,
    /// once it is known.
    fn record_client(&mut self) {
        let Some(rare) = self.rare.as_mut() else {
            return;
        };
        if rare.client_recorded {
            return;
        }
        let Some(header) = rare.proxy.as_ref().and_then(ProxyInfo::get) else {
            return;
        };
        rare.client_recorded = true;
        match header.source() {
            Some(src) => {
                rare.span.record("client", tracing::field::display(src));
                rare.client = Some(src);
                rare.destination = header.destination();
            }
            None => rare.proxy_local = true,
        }
    }

    /// Draining or after the client's end of file: close gracefully (which
    /// flushes every reply) once no reply is still being worked on. While
    /// draining, a connection must also not be holding unread requests
    /// (reading paused), and one that has not sent its first request yet is
    /// given until it arrives (or its read timeout, or the deadline).
    fn maybe_finish(&mut self, bev: &mut BufferEvent) {
        if self
            .rare
            .as_ref()
            .is_some_and(|r| r.delayed.load(Ordering::Acquire) > 0)
        {
            return;
        }
        if self.closing_after_replies {
            bev.close_gracefully();
        } else if self.draining && !self.paused && self.summary.reads > 0 {
            self.summary.ended = End::Drained;
            bev.close_gracefully();
        }
    }

    fn reply(&mut self, bev: &mut BufferEvent, data: &mut EvBuffer) {
        let n = data.len();
        self.summary.replies += 1;
        let Some((delay, delayed)) = self
            .rare
            .as_ref()
            .and_then(|r| Some((r.reply_delay?, Arc::clone(&r.delayed))))
        else {
            // At once, as the seed does: no copy of the data, no buffer
            // made for the reply.
            let written = match self.answer {
                Answer::Count => {
                    let text = super::reply_text(n);
                    self.summary.bytes_out += text.len() as u64;
                    bev.write(text.as_bytes())
                }
                Answer::Echo => {
                    self.summary.bytes_out += n as u64;
                    bev.write_buffer(data)
                }
            };
            if let Err(e) = written {
                tracing::debug!(error = %e, "reply dropped: the write side is closed");
            }
            return;
        };
        let mut reply = match self.answer {
            Answer::Count => EvBuffer::from(super::reply_text(n)),
            Answer::Echo => std::mem::take(data),
        };
        self.summary.bytes_out += reply.len() as u64;
        delayed.fetch_add(1, Ordering::AcqRel);
        let handle = bev.handle();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = handle
                .with(move |bev| {
                    if let Err(e) = bev.write_buffer(&mut reply) {
                        tracing::debug!(error = %e, "reply dropped: the write side is closed");
                    }
                    delayed.fetch_sub(1, Ordering::AcqRel);
                    // Lets the session decide whether it can close.
                    bev.trigger(Dir::WRITE, true);
                })
                .await;
        });
    }
}

impl Handler for Session {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        // Everything the input filter produced, moved without copying
        // (the seed removes at most 1,023 bytes into a char array).
        let mut data = EvBuffer::new();
        if let Err(e) = bev.read_buffer(&mut data) {
            tracing::warn!(error = %e, "cannot take the input");
            self.summary.ended = End::Error(e.to_string());
            bev.close();
            return;
        }
        let n = data.len();
        if n == 0 {
            return;
        }
        self.summary.reads += 1;
        self.summary.bytes_in += n as u64;
        tracing::info!(bytes = n, data = %Preview(&data), "read");
        self.reply(bev, &mut data);
        // The output filter has moved the reply into the socket's output
        // unless that is full: then the client is not reading, and reading
        // more would only queue more replies. Resume once it drained.
        if !bev.output().is_empty() && !self.paused {
            tracing::debug!("client is not reading its replies: reading paused");
            self.paused = true;
            bev.disable(Dir::READ);
        }
        self.maybe_finish(bev);
    }

    fn on_write(&mut self, bev: &mut BufferEvent) {
        if bev.output().is_empty() {
            tracing::debug!("write event buffer is empty");
            if self.paused {
                self.paused = false;
                bev.enable(Dir::READ);
            }
        }
        self.maybe_finish(bev);
    }

    fn on_event(&mut self, bev: &mut BufferEvent, what: Events) {
        if what.contains(Events::TIMEOUT) {
            let (read, write) = bev.timeouts();
            self.summary.ended = if what.contains(Events::READING) {
                End::IdleTimeout(read.unwrap_or_default())
            } else {
                End::WriteTimeout(write.unwrap_or_default())
            };
            bev.close();
        } else if what.contains(Events::EOF) {
            self.summary.ended = End::PeerEof;
            // Replies still queued (or still being worked on) are
            // delivered before the socket closes.
            self.closing_after_replies = true;
            self.maybe_finish(bev);
        } else if what.contains(Events::ERROR) {
            let e = bev
                .error()
                .map_or_else(|| format!("{what:?}"), ToString::to_string);
            tracing::warn!(error = %e, "connection error");
            self.summary.ended = End::Error(e);
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

    #[test]
    fn end_reasons_read_well() {
        assert_eq!(End::PeerEof.to_string(), "end of file from the client");
        assert_eq!(End::Cut.to_string(), "cut at the drain deadline");
    }
}
