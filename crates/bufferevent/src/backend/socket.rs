//! The socket backend: a bufferevent over any tokio `AsyncRead + AsyncWrite`
//! (libevent's `bufferevent_socket_new`, `_socket_connect`,
//! `_socket_connect_hostname`).
//!
//! Reads land directly in reserved space at the tail of the input
//! (`EvBuffer::poll_read_from`), as much as the core's read budget allows
//! (default 64 KiB per read, never past the read high watermark); writes
//! are vectored (`EvBuffer::poll_write_to`). A connect runs as a boxed
//! future inside the backend, so creating a connecting bufferevent never
//! blocks and its outcome arrives as exactly one event.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Backend, Kind};
use crate::core::state::{unfrozen, Core};
use crate::{BufferEvent, Error, FlushMode, Options, Side};
use evbuffer::End;

type ConnectFuture<S> = Pin<Box<dyn Future<Output = Result<S, Error>> + Send>>;

enum State<S> {
    Connecting(ConnectFuture<S>),
    Open(S),
    Gone,
}

/// Reads per drive step before yielding to the driver (which loops again
/// while there is progress).
const READS_PER_STEP: usize = 16;

pub(crate) struct SocketBackend<S> {
    state: State<S>,
    /// The stream may buffer internally: flush it after the output drains.
    needs_flush: bool,
}

impl<S> SocketBackend<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    #[inline]
    fn poll_connect(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        if matches!(self.state, State::Connecting(_)) {
            self.poll_connecting(core, cx, now)
        } else {
            false
        }
    }

    #[cold]
    fn poll_connecting(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let State::Connecting(fut) = &mut self.state else {
            return false;
        };
        match fut.as_mut().poll(cx) {
            Poll::Pending => false,
            Poll::Ready(Ok(s)) => {
                tracing::debug!("connected");
                self.state = State::Open(s);
                core.on_connected(now);
                true
            }
            Poll::Ready(Err(e)) => {
                self.state = State::Gone;
                core.on_error(e);
                true
            }
        }
    }
}

impl<S> Backend for SocketBackend<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn kind(&self) -> Kind {
        Kind::Socket
    }

    fn poll_read(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = self.poll_connect(core, cx, now);
        let State::Open(s) = &mut self.state else {
            return progress;
        };
        let mut reads = 0;
        while reads < READS_PER_STEP {
            let budget = core.read_budget(now);
            if budget == 0 {
                break;
            }
            // Read the whole budget before reporting it: a read can come
            // back short because the input's tail chunk had less room, and
            // a short report would give away the rest of a group share.
            let mut got = 0;
            let mut stop = None;
            while got < budget && reads < READS_PER_STEP {
                reads += 1;
                // Ask a socket for readiness before reserving room to read
                // into: a read that finds nothing then costs no allocation.
                match read_ready(s, cx) {
                    Poll::Pending => {
                        stop = Some(Ok(false));
                        break;
                    }
                    Poll::Ready(Err(e)) => {
                        stop = Some(Err(e));
                        break;
                    }
                    Poll::Ready(Ok(())) => {}
                }
                let r = unfrozen(&mut core.input, End::Back, |b| {
                    b.poll_read_from(cx, Pin::new(&mut *s), budget - got)
                });
                match r {
                    Poll::Pending => {
                        stop = Some(Ok(false));
                        break;
                    }
                    Poll::Ready(Ok(0)) => {
                        stop = Some(Ok(true));
                        break;
                    }
                    Poll::Ready(Ok(n)) => got += n,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        stop = Some(Err(e));
                        break;
                    }
                }
            }
            if got > 0 {
                core.on_read(got, now);
                progress = true;
            }
            match stop {
                None => {}
                Some(Ok(false)) => {
                    // Quiet: give back what the read and write buffers
                    // hold (libevent frees a chain once it is drained); an
                    // idle connection holds no buffer memory.
                    core.shed_buffers();
                    break;
                }
                Some(Ok(true)) => {
                    core.on_eof();
                    progress = true;
                    break;
                }
                Some(Err(e)) => {
                    core.on_error(Error::Io {
                        side: Side::Reading,
                        source: e,
                    });
                    progress = true;
                    break;
                }
            }
        }
        progress
    }

    fn poll_write(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = self.poll_connect(core, cx, now);
        let State::Open(s) = &mut self.state else {
            return progress;
        };
        loop {
            let budget = core.write_budget(now);
            if budget == 0 {
                break;
            }
            let r = unfrozen(&mut core.output, End::Front, |b| {
                b.poll_write_to(cx, Pin::new(&mut *s), budget)
            });
            match r {
                Poll::Pending => break,
                Poll::Ready(Ok(0)) => {
                    core.on_error(Error::Io {
                        side: Side::Writing,
                        source: io::ErrorKind::WriteZero.into(),
                    });
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    self.needs_flush = true;
                    core.on_written(n, now);
                    progress = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    core.on_error(Error::Io {
                        side: Side::Writing,
                        source: e,
                    });
                    return true;
                }
            }
        }
        if self.needs_flush && core.output.is_empty() {
            match Pin::new(&mut *s).poll_flush(cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    core.on_error(Error::Io {
                        side: Side::Writing,
                        source: e,
                    });
                    return true;
                }
            }
        }
        if !self.needs_flush && core.wants_shutdown() {
            match Pin::new(&mut *s).poll_shutdown(cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => {
                    tracing::trace!("write side shut down");
                    core.on_shutdown();
                    progress = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                    core.on_shutdown();
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    core.on_error(Error::Io {
                        side: Side::Writing,
                        source: e,
                    });
                    progress = true;
                }
            }
        }
        progress
    }

    fn flush(&mut self, core: &mut Core, mode: FlushMode, _now: Instant) -> Result<bool, Error> {
        Ok(mode.is_forced() && !core.output.is_empty())
    }

    fn lower_output_pending(&self) -> bool {
        self.needs_flush
    }

    fn may_progress(&self) -> bool {
        matches!(self.state, State::Connecting(_))
    }
}

/// Readiness of a TCP or Unix stream for reading (registering `cx`), or
/// `Ready` for other streams, which are simply read.
fn read_ready<S: 'static>(stream: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let any: &mut dyn std::any::Any = stream;
    if let Some(t) = any.downcast_mut::<TcpStream>() {
        return t.poll_read_ready(cx);
    }
    #[cfg(unix)]
    if let Some(u) = any.downcast_mut::<tokio::net::UnixStream>() {
        return u.poll_read_ready(cx);
    }
    Poll::Ready(Ok(()))
}

/// The peer of a TCP stream, for the span (a TCP stream only: other
/// streams have none to tell).
fn peer_of<S: 'static>(stream: &S) -> Option<SocketAddr> {
    let any: &dyn std::any::Any = stream;
    any.downcast_ref::<TcpStream>()
        .and_then(|s| s.peer_addr().ok())
}

impl BufferEvent {
    /// A bufferevent over a connected stream (`bufferevent_socket_new`):
    /// a [`tokio::net::TcpStream`], [`tokio::net::UnixStream`], or any
    /// `AsyncRead + AsyncWrite`. It owns the stream and closes it when
    /// dropped. Writing is enabled, reading is not (statement 38).
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use bufferevent::{BufferEvent, Options};
    /// let stream = tokio::net::TcpStream::connect("127.0.0.1:15000").await?;
    /// let bev = BufferEvent::socket(stream, Options::CLOSE_ON_FREE);
    /// # drop(bev); Ok(()) }
    /// ```
    pub fn socket<S>(stream: S, options: Options) -> BufferEvent
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let peer = if tracing::enabled!(target: "bufferevent", tracing::Level::INFO) {
            peer_of(&stream)
        } else {
            None
        };
        let mut bev = BufferEvent::from_backend_traced(
            Box::new(SocketBackend {
                state: State::Open(stream),
                needs_flush: false,
            }),
            options,
            || peer,
        );
        bev.core.freeze_transport_ends();
        bev
    }

    fn connecting<S>(fut: ConnectFuture<S>, options: Options) -> BufferEvent
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut bev = BufferEvent::from_backend(
            Box::new(SocketBackend {
                state: State::Connecting(fut),
                needs_flush: false,
            }),
            options,
        );
        bev.core.on_connecting();
        bev.core.freeze_transport_ends();
        bev
    }

    /// Starts connecting to `addr` and returns at once
    /// (`bufferevent_socket_new(base, -1, ..)` + `bufferevent_socket_connect`).
    /// The outcome is exactly one event: `CONNECTED`, or `ERROR` (with no
    /// `READING`/`WRITING` bit) and the reason in
    /// [`error`](BufferEvent::error) (statement 47). Output written before
    /// the connect completes is sent after it. A write timeout, if set,
    /// bounds the connect.
    pub fn connect(addr: SocketAddr, options: Options) -> BufferEvent {
        let fut = async move {
            TcpStream::connect(addr).await.map_err(|e| Error::Connect {
                target: addr.to_string(),
                source: e,
            })
        };
        BufferEvent::connecting(Box::pin(fut), options)
    }

    /// Resolves `host` without blocking the runtime, then connects to each
    /// address in turn until one accepts
    /// (`bufferevent_socket_connect_hostname`). Failure to resolve is one
    /// `ERROR` event with [`Error::Resolve`]; failure to connect to every
    /// address is one `ERROR` event with [`Error::Connect`] holding the
    /// last reason.
    pub fn connect_host(host: &str, port: u16, options: Options) -> BufferEvent {
        let host = host.to_owned();
        let fut = async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| Error::Resolve {
                    host: host.clone(),
                    source: e,
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Error::Resolve {
                    host,
                    source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
                });
            }
            let mut last = None;
            for a in addrs {
                match TcpStream::connect(a).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                }
            }
            Err(Error::Connect {
                target: format!("{host}:{port}"),
                source: last.unwrap_or_else(|| io::ErrorKind::NotFound.into()),
            })
        };
        BufferEvent::connecting(Box::pin(fut), options)
    }
}
