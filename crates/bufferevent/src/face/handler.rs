//! The callback face: [`Handler`] (libevent's `bufferevent_setcb`) and the
//! driver [`BufferEvent::run`].
//!
//! Callbacks are always deferred (libevent's `BEV_OPT_DEFER_CALLBACKS`):
//! the driver moves bytes, then runs the callbacks that became due, in
//! libevent's order (a pending `CONNECTED` first, then read, then write,
//! then the other events OR-ed into one call: statement 48), each with
//! `&mut BufferEvent`. A callback never runs inside another call of yours,
//! so it may do anything to the bufferevent, including closing it.

use std::future::{poll_fn, Future};
use std::task::{Context, Poll};

use crate::core::state::Callback;
use crate::{BufferEvent, Error, Events};

/// The callbacks of a bufferevent (libevent's `bufferevent_data_cb` ×2 and
/// `bufferevent_event_cb`, with `ctx` replaced by `self`). Every method has
/// a default that does nothing, like passing `NULL`.
pub trait Handler: Send {
    /// Input reached the read low watermark after new data arrived
    /// (`readcb`). Never called again merely because the input is still
    /// full (statement 42, libevent #891).
    fn on_read(&mut self, bev: &mut BufferEvent) {
        let _ = bev;
    }

    /// The output drained to the write low watermark after a write
    /// (`writecb`).
    fn on_write(&mut self, bev: &mut BufferEvent) {
        let _ = bev;
    }

    /// Something happened (`eventcb`): `EOF`, `ERROR` (see
    /// [`BufferEvent::error`]), `TIMEOUT`, `CONNECTED`, with `READING` or
    /// `WRITING` saying where.
    fn on_event(&mut self, bev: &mut BufferEvent, events: Events) {
        let _ = (bev, events);
    }
}

type DataCb = Box<dyn FnMut(&mut BufferEvent) + Send>;
type EventCb = Box<dyn FnMut(&mut BufferEvent, Events) + Send>;

/// A [`Handler`] made of closures, any of which may be left out
/// (`bufferevent_setcb(bev, readcb, writecb, eventcb, ctx)`).
///
/// ```
/// use bufferevent::{Callbacks, Events};
/// let handler = Callbacks::new()
///     .on_read(|bev| {
///         let mut buf = [0u8; 1024];
///         let n = bev.read(&mut buf);
///         bev.write(&buf[..n]).ok(); // echo
///     })
///     .on_event(|bev, what| {
///         if what.intersects(Events::EOF | Events::ERROR | Events::TIMEOUT) {
///             bev.close();
///         }
///     });
/// # drop(handler);
/// ```
#[derive(Default)]
pub struct Callbacks {
    read: Option<DataCb>,
    write: Option<DataCb>,
    event: Option<EventCb>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .field("event", &self.event.is_some())
            .finish()
    }
}

impl Callbacks {
    /// No callbacks (all `NULL`).
    ///
    /// libevent: `bufferevent_setcb(bev, NULL, NULL, NULL, NULL)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the read callback.
    ///
    /// libevent: the `readcb` argument of `bufferevent_setcb`.
    pub fn on_read(mut self, f: impl FnMut(&mut BufferEvent) + Send + 'static) -> Self {
        self.read = Some(Box::new(f));
        self
    }

    /// Sets the write callback.
    ///
    /// libevent: the `writecb` argument of `bufferevent_setcb`.
    pub fn on_write(mut self, f: impl FnMut(&mut BufferEvent) + Send + 'static) -> Self {
        self.write = Some(Box::new(f));
        self
    }

    /// Sets the event callback.
    ///
    /// libevent: the `eventcb` argument of `bufferevent_setcb`.
    pub fn on_event(mut self, f: impl FnMut(&mut BufferEvent, Events) + Send + 'static) -> Self {
        self.event = Some(Box::new(f));
        self
    }
}

impl Handler for Callbacks {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        if let Some(f) = self.read.as_mut() {
            f(bev)
        }
    }

    fn on_write(&mut self, bev: &mut BufferEvent) {
        if let Some(f) = self.write.as_mut() {
            f(bev)
        }
    }

    fn on_event(&mut self, bev: &mut BufferEvent, events: Events) {
        if let Some(f) = self.event.as_mut() {
            f(bev, events)
        }
    }
}

impl<H: Handler + ?Sized> Handler for Box<H> {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        (**self).on_read(bev)
    }
    fn on_write(&mut self, bev: &mut BufferEvent) {
        (**self).on_write(bev)
    }
    fn on_event(&mut self, bev: &mut BufferEvent, events: Events) {
        (**self).on_event(bev, events)
    }
}

impl<H: Handler + ?Sized> Handler for &mut H {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        (**self).on_read(bev)
    }
    fn on_write(&mut self, bev: &mut BufferEvent) {
        (**self).on_write(bev)
    }
    fn on_event(&mut self, bev: &mut BufferEvent, events: Events) {
        (**self).on_event(bev, events)
    }
}

/// Driver rounds per poll before yielding to other tasks.
const ROUNDS_PER_POLL: usize = 32;

impl BufferEvent {
    /// Drives this bufferevent, running `handler`'s callbacks, until it is
    /// finished (what `event_base_dispatch` does for one bufferevent). Spawn
    /// it (`tokio::spawn(bev.run(h))`) to serve many connections at once;
    /// an error in one never affects another.
    ///
    /// Bounded by default: while the output holds
    /// [`DEFAULT_MAX_OUTPUT`](crate::DEFAULT_MAX_OUTPUT) bytes or more (or
    /// the write high watermark, or [`set_max_output`](BufferEvent::set_max_output)),
    /// the driver does not read, as if reading were disabled, and it reads
    /// again once the output is below that; so a read callback that writes
    /// everything it reads cannot be made to grow by a peer that never
    /// reads (libevent keeps reading). [`enabled`](BufferEvent::enabled)
    /// is not changed by this pause.
    ///
    /// Returns, dropping the bufferevent (`bufferevent_free`), when:
    /// * a callback called [`close`](BufferEvent::close);
    /// * a graceful close ([`close_gracefully`](BufferEvent::close_gracefully))
    ///   finished: all output went through every filter and the transport's
    ///   write side is shut down;
    /// * nothing can happen any more: no callback is due, reading is over or
    ///   disabled, no output is pending, no timeout armed, no
    ///   [`Handle`](crate::Handle) exists (libevent would keep such a
    ///   bufferevent forever).
    ///
    /// The result is the connection's error, if it had one: the error of
    /// the last `ERROR` event ([`error`](BufferEvent::error)) unless a
    /// callback took it ([`take_error`](BufferEvent::take_error)); so
    /// `bev.run(h).await?` propagates it. End of file, a timeout or a close
    /// are `Ok` (the event callback saw them; [`stats`](BufferEvent::stats)
    /// says how it ended).
    ///
    /// The future holds the bufferevent and the handler and nothing else
    /// (no copy of either). It runs inside the bufferevent's
    /// [`span`](BufferEvent::span).
    ///
    /// Cancel safety: dropping the future drops the bufferevent
    /// (`bufferevent_free`): pending output is discarded, the transport is
    /// closed. Nothing is lost that a dropped bufferevent would keep.
    pub fn run<H: Handler>(
        mut self,
        mut handler: H,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        poll_fn(move |cx| self.poll_run(cx, &mut handler))
    }

    /// One poll of the callback driver; see [`run`](Self::run). `Ready`
    /// when the driver is finished (the bufferevent is then only good for
    /// dropping), with the connection's error if it had one.
    ///
    /// libevent: one turn of `event_base_loop(base, EVLOOP_NONBLOCK)`, for this bufferevent only.
    pub fn poll_run<H: Handler + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        handler: &mut H,
    ) -> Poll<Result<(), Error>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        match self.traced_span() {
            None => self.poll_run_inner(cx, handler),
            Some(span) => span.in_scope(|| self.poll_run_inner(cx, handler)),
        }
    }

    fn poll_run_inner<H: Handler + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        handler: &mut H,
    ) -> Poll<Result<(), Error>> {
        match self.poll_run_rounds(cx, handler) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.note_end();
                tracing::trace!("bufferevent driver finished");
                Poll::Ready(match self.core.take_error() {
                    Some(e) => Err(e),
                    None => Ok(()),
                })
            }
        }
    }

    fn poll_run_rounds<H: Handler + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        handler: &mut H,
    ) -> Poll<()> {
        // The callback face bounds the output itself: reading waits while
        // the output is at its bound (see `set_max_output`).
        self.core.set_pause_on_backlog(true);
        for _ in 0..ROUNDS_PER_POLL {
            if self.closed {
                return Poll::Ready(());
            }
            let mut progress = self.poll_commands(cx);
            progress |= self.poll_read_side(cx);
            progress |= self.poll_write_side(cx);
            let ran = self.run_callbacks(handler);
            if self.closed {
                return Poll::Ready(());
            }
            if ran {
                progress = true;
                if self.output_pending() {
                    // What the callbacks wrote goes out in this round (a
                    // ping-pong takes two rounds, not three), and the write
                    // callback it makes due runs now too.
                    self.poll_write_side(cx);
                    self.run_callbacks(handler);
                    if self.closed {
                        return Poll::Ready(());
                    }
                }
            }
            if self.closing && self.is_write_finished() {
                return Poll::Ready(());
            }
            if !progress {
                if self.is_idle_forever() {
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Runs the callbacks that are due, in libevent's order, until none is
    /// or a callback closed the bufferevent. Returns whether any ran.
    fn run_callbacks<H: Handler + ?Sized>(&mut self, handler: &mut H) -> bool {
        let mut ran = false;
        while let Some(cb) = self.core.take_callback() {
            ran = true;
            match cb {
                Callback::Read => handler.on_read(self),
                Callback::Write => handler.on_write(self),
                Callback::Event(what) => handler.on_event(self, what),
            }
            if self.closed {
                break;
            }
        }
        ran
    }

    /// Drives a connecting bufferevent until its connect has finished
    /// (what libevent users wait for in the event callback of
    /// `bufferevent_socket_connect`), without running any callback, so that
    /// the bufferevent can then be used by value: wrapped in a filter,
    /// given to [`run`](Self::run)...
    ///
    /// * `Ok(())` when it is connected: the `CONNECTED` event is taken (a
    ///   handler run afterwards does not see it). Also at once for a
    ///   bufferevent that is not connecting (already connected, a pair).
    /// * The error of the `ERROR` event ([`Error::Connect`](crate::Error::Connect),
    ///   [`Error::Resolve`](crate::Error::Resolve)) when the connect failed;
    ///   the event is taken.
    /// * `TimedOut` ([`Error::Io`](crate::Error::Io)) when the write timeout,
    ///   which bounds a connect, fired first; the event is taken.
    ///
    /// Other callbacks that become due stay pending for a later handler.
    /// Wrap it in `tokio::time::timeout` to bound it otherwise.
    ///
    /// Cancel safety: cancel-safe. The outcome event is taken only when the
    /// future completes; dropped before, the bufferevent is still connecting
    /// (or has its `CONNECTED`/`ERROR` event pending) and `connected()` can
    /// be called again.
    ///
    /// ```
    /// use bufferevent::{BufferEvent, Dir, Options, PassThrough};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let mut bev = BufferEvent::connect(l.local_addr()?, Options::CLOSE_ON_FREE);
    /// bev.connected().await?;
    /// // connected: now stack a filter on it (the seed's client does this)
    /// let f = BufferEvent::filter(bev, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    /// assert_eq!(f.underlying().unwrap().enabled(), Dir::BOTH);
    /// # Ok(()) }
    /// ```
    pub async fn connected(&mut self) -> Result<(), crate::Error> {
        poll_fn(|cx| self.poll_connected(cx)).await
    }

    fn poll_connected(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), crate::Error>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        for _ in 0..ROUNDS_PER_POLL {
            let ev = self.core.peek_events();
            if ev.contains(Events::CONNECTED) {
                self.core.clear_events(Events::CONNECTED);
                return Poll::Ready(Ok(()));
            }
            if ev.contains(Events::ERROR) {
                self.core
                    .clear_events(Events::ERROR | Events::READING | Events::WRITING);
                return Poll::Ready(Err(self.core.take_error().unwrap_or(crate::Error::Closed)));
            }
            if ev.contains(Events::TIMEOUT | Events::WRITING) {
                self.core.clear_events(Events::TIMEOUT | Events::WRITING);
                return Poll::Ready(Err(crate::Error::Io {
                    side: crate::Side::Writing,
                    source: std::io::ErrorKind::TimedOut.into(),
                }));
            }
            if !self.core.is_connecting() && !self.backend.may_progress() {
                return Poll::Ready(Ok(()));
            }
            let progress =
                self.poll_commands(cx) | self.poll_read_side(cx) | self.poll_write_side(cx);
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
