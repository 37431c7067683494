//! [`BufferEvent`]: the state machine joined to a backend, and the calls a
//! libevent user knows (`bufferevent_write`, `_enable`, `_setwatermark`...).
//!
//! The faces (callbacks in [`face::handler`](crate::face::handler), async
//! I/O in `face::async_io`, the cross-task [`Handle`]) all drive a
//! `BufferEvent` through the two per-direction steps defined here,
//! `poll_read_side` and `poll_write_side`.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use evbuffer::EvBuffer;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::backend::{Backend, Kind};
use crate::core::state::{Core, HalfState};
use crate::face::handle::{Command, COMMAND_QUEUE};
use crate::{Dir, Error, Events, FlushMode, Handle, Limiter, Options, Watermark};

/// The clock every driver uses: tokio's, so that tests with a paused clock
/// control timeouts. Inside [`with_clock_cache`] it is read at most once.
pub(crate) fn now() -> Instant {
    CLOCK_CACHE.with(|c| match c.get() {
        ClockCache::Off => tokio::time::Instant::now().into_std(),
        ClockCache::Empty => {
            let t = tokio::time::Instant::now().into_std();
            c.set(ClockCache::Read(t));
            t
        }
        ClockCache::Read(t) => t,
    })
}

/// libevent's `tv_cache`: one clock reading per driver poll.
#[derive(Clone, Copy)]
enum ClockCache {
    /// Not inside a driver poll: every `now()` reads the clock.
    Off,
    /// Inside one, not read yet.
    Empty,
    /// Inside one, read at this instant.
    Read(Instant),
}

thread_local! {
    static CLOCK_CACHE: std::cell::Cell<ClockCache> = const { std::cell::Cell::new(ClockCache::Off) };
}

/// Held for one driver poll: the clock is read at most once, lazily (not
/// at all if nothing needs the time), what libevent's event loop does with
/// its cached time. Nests (an inner poll uses the outer reading).
pub(crate) struct ClockScope(ClockCache);

impl ClockScope {
    pub(crate) fn enter() -> Self {
        ClockScope(CLOCK_CACHE.with(|c| {
            let prev = c.get();
            if let ClockCache::Off = prev {
                c.set(ClockCache::Empty);
            }
            prev
        }))
    }
}

impl Drop for ClockScope {
    fn drop(&mut self) {
        CLOCK_CACHE.with(|c| c.set(self.0));
    }
}

/// A buffered, event-driven connection end (libevent's
/// `struct bufferevent`).
///
/// It owns an input and an output [`EvBuffer`], a transport (a socket, an
/// underlying bufferevent seen through filters, or the other end of an
/// in-memory pair), and the rules libevent gives them: enabled directions,
/// watermarks, timeouts, flush modes. Drive it either with callbacks
/// ([`run`](BufferEvent::run) with a [`Handler`](crate::Handler)) or as a
/// tokio `AsyncRead + AsyncWrite`.
///
/// Dropping it is `bufferevent_free`: no callback runs afterwards, pending
/// output is discarded (except by a pair end, whose partner still reads
/// everything written before the drop, then `EOF`), and the transport is
/// closed (statement 51). For a close that first delivers everything, use
/// [`close_gracefully`](BufferEvent::close_gracefully) or the async
/// `shutdown()`.
///
/// ```
/// use bufferevent::{BufferEvent, Callbacks, Dir, Options};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (mut a, b) = BufferEvent::pair(Options::default());
/// a.write(b"hello").unwrap();
/// a.flush(bufferevent::FlushMode::Finished).unwrap(); // b will see EOF after the data
/// let mut b = b;
/// b.enable(Dir::READ);
/// let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let sink = got.clone();
/// let side = tokio::spawn(a.run(Callbacks::new()));
/// b.run(Callbacks::new().on_read(move |bev| {
///     let mut buf = [0u8; 64];
///     let n = bev.read(&mut buf);
///     sink.lock().unwrap().extend_from_slice(&buf[..n]);
/// }))
/// .await
/// .unwrap(); // the connection's error, if it had one
/// side.await.unwrap().unwrap();
/// assert_eq!(&got.lock().unwrap()[..], b"hello");
/// # }
/// ```
pub struct BufferEvent {
    pub(crate) core: Core,
    pub(crate) backend: Box<dyn Backend>,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
    pub(crate) commands: Option<Box<Commands>>,
    options: Options,
    /// `close()` was called: the driver stops at once.
    pub(crate) closed: bool,
    /// `close_gracefully()` was called.
    pub(crate) closing: bool,
    /// The async face's flush in progress (to send `Flush` once).
    pub(crate) async_flushing: bool,
    /// The async face's read side applied handle commands whose output is
    /// not all sent yet: it keeps driving the write side until it is.
    pub(crate) reader_sends: bool,
    /// Its tracing span, if enabled when it was made (boxed: nothing to pay
    /// for when tracing is off).
    traced: Option<Box<Traced>>,
}

/// The queue of a bufferevent's handles (made by the first
/// [`BufferEvent::handle`], or by a pair).
pub(crate) struct Commands {
    pub(crate) tx: mpsc::Sender<Command>,
    rx: mpsc::Receiver<Command>,
    /// A write taken from the queue while the output was at its bound: it
    /// waits here (and the commands behind it wait in the queue) until the
    /// output has room.
    stalled: Option<Bytes>,
}

impl Commands {
    pub(crate) fn new() -> Box<Self> {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        Box::new(Commands {
            tx,
            rx,
            stalled: None,
        })
    }
}

/// A bufferevent's span and what it was opened with.
struct Traced {
    span: tracing::Span,
    peer: Option<std::net::SocketAddr>,
}

impl fmt::Debug for BufferEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferEvent")
            .field("kind", &self.kind())
            .field("enabled", &self.core.enabled())
            .field("input", &self.core.input.len())
            .field("output", &self.core.output.len())
            .field("read_half", &self.core.read_half())
            .field("write_half", &self.core.write_half())
            .finish()
    }
}

impl BufferEvent {
    pub(crate) fn from_backend(backend: Box<dyn Backend>, options: Options) -> Self {
        Self::from_backend_traced(backend, options, || None)
    }

    /// [`from_backend`](Self::from_backend), with the peer address for the
    /// span (asked only if the span is enabled).
    pub(crate) fn from_backend_traced(
        backend: Box<dyn Backend>,
        options: Options,
        peer: impl FnOnce() -> Option<std::net::SocketAddr>,
    ) -> Self {
        use tracing::field::Empty;
        let kind = backend.kind();
        let span = tracing::info_span!(
            target: "bufferevent",
            "bufferevent",
            ?kind,
            peer = Empty,
            client = Empty,
            bytes_in = Empty,
            bytes_out = Empty,
            max_output = Empty,
            input_full_ms = Empty,
            output_full_ms = Empty,
            rate_limited_ms = Empty,
            ended = Empty,
        );
        let traced = (!span.is_disabled()).then(|| {
            let peer = peer();
            if let Some(p) = peer {
                span.record("peer", tracing::field::display(p));
            }
            Box::new(Traced { span, peer })
        });
        BufferEvent {
            core: Core::new(),
            backend,
            read_timer: None,
            write_timer: None,
            commands: None,
            options,
            closed: false,
            closing: false,
            async_flushing: false,
            reader_sends: false,
            traced,
        }
    }

    /// The peer address recorded on the span (tracing enabled only).
    pub(crate) fn traced_peer(&self) -> Option<std::net::SocketAddr> {
        self.traced.as_ref().and_then(|t| t.peer)
    }

    /// This bufferevent's tracing span: `bufferevent{kind=Socket
    /// peer=127.0.0.1:50000}` (target `bufferevent`, level INFO), entered
    /// while [`run`](Self::run) drives it, so that everything logged in
    /// callbacks carries it. Use it for your own events about the
    /// connection instead of opening another span
    /// (`bev.span().in_scope(|| tracing::info!("accepted"))`). When the
    /// bufferevent is dropped, its [`stats`](Self::stats) are recorded on
    /// it (`bytes_in`, `bytes_out`, `max_output`, `input_full_ms`,
    /// `output_full_ms`, `rate_limited_ms`, `ended`) and a DEBUG event
    /// `closed` is logged in it. Its field `client` is left for the
    /// application: a server behind a proxy records the original client
    /// there once it knows it (`bev.span().record("client",
    /// tracing::field::display(addr))`, from a PROXY protocol header).
    ///
    /// Free when tracing is off: if the span was disabled when the
    /// bufferevent was made, nothing is kept and this returns a disabled
    /// span. A filter has a span of its own, with the peer of the
    /// bufferevent below.
    ///
    /// libevent: none.
    pub fn span(&self) -> tracing::Span {
        self.traced
            .as_ref()
            .map_or_else(tracing::Span::none, |t| t.span.clone())
    }

    /// Its statistics so far: bytes in and out, the largest output backlog,
    /// time spent paused (input at its read high watermark, output at its
    /// bound, rate limits), and how it ended. A small `Copy` value; counting
    /// costs a few additions per transfer and a clock read only when a pause
    /// starts or ends. See [`Stats`](crate::Stats).
    ///
    /// libevent: none.
    pub fn stats(&self) -> crate::Stats {
        self.core.stats.snapshot(now)
    }

    /// A clone of the span, if tracing was on when this was made.
    pub(crate) fn traced_span(&self) -> Option<tracing::Span> {
        self.traced.as_ref().map(|t| t.span.clone())
    }

    /// Notes how the driver ended, if nothing did before.
    pub(crate) fn note_end(&mut self) {
        let e = if self.closing {
            crate::Ending::ClosedGracefully
        } else {
            crate::Ending::Closed
        };
        self.core.stats.ending(e);
    }

    /// What kind of bufferevent this is.
    ///
    /// libevent: which `struct bufferevent_ops` a bufferevent has (`BEV_IS_SOCKET`, `BEV_IS_FILTER`, `BEV_IS_PAIR`).
    pub fn kind(&self) -> Kind {
        self.backend.kind()
    }

    /// The options it was created with (`bufferevent_get_options_`).
    pub fn options(&self) -> Options {
        self.options
    }

    // ----- buffers -----------------------------------------------------

    /// The input buffer (`bufferevent_get_input`).
    pub fn input(&self) -> &EvBuffer {
        &self.core.input
    }

    /// The input buffer, to consume from (`bufferevent_get_input`).
    /// Draining it below the read high watermark resumes reading by itself.
    /// On socket and pair bufferevents its back is frozen, as in libevent
    /// (statement 52): only the transport appends to it.
    pub fn input_mut(&mut self) -> &mut EvBuffer {
        &mut self.core.input
    }

    /// The output buffer (`bufferevent_get_output`).
    pub fn output(&self) -> &EvBuffer {
        &self.core.output
    }

    /// The output buffer, to append to (`bufferevent_get_output`). Bytes
    /// appended here are sent by the driver; for a filter they reach the
    /// output filter on the next drive step (use [`write`](Self::write) to
    /// run it at once). On socket and pair bufferevents its front is frozen,
    /// as in libevent (statement 52): only the transport drains it.
    pub fn output_mut(&mut self) -> &mut EvBuffer {
        &mut self.core.output
    }

    /// Removes up to `buf.len()` bytes from the input into `buf`
    /// (`bufferevent_read`). Returns how many; 0 when the input is empty.
    /// It cannot fail (libevent 2.1.12 returns `(size_t)-1` when the remove
    /// fails: statement 54).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.core.input.remove(buf).unwrap_or(0)
    }

    /// Moves the whole input into `dst` without copying
    /// (`bufferevent_read_buffer`).
    pub fn read_buffer(&mut self, dst: &mut EvBuffer) -> Result<usize, Error> {
        let n = self.core.input.len();
        Ok(self.core.input.remove_into(dst, n)?)
    }

    /// Appends `data` to the output (`bufferevent_write`). Never fails
    /// because of the write high watermark (statement 44); fails with
    /// [`Error::Closed`] once the write side is finished or failed.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_writable()?;
        self.core.output.add(data)?;
        self.after_write();
        Ok(())
    }

    /// Appends `data` without copying it.
    ///
    /// libevent: `bufferevent_write` of an `evbuffer_add_reference`d block.
    pub fn write_bytes(&mut self, data: Bytes) -> Result<(), Error> {
        self.check_writable()?;
        self.core.output.add_bytes(data)?;
        self.after_write();
        Ok(())
    }

    /// Moves all of `src` to the output without copying
    /// (`bufferevent_write_buffer`).
    pub fn write_buffer(&mut self, src: &mut EvBuffer) -> Result<(), Error> {
        self.check_writable()?;
        self.core.output.append(src)?;
        self.after_write();
        Ok(())
    }

    /// The user appended to the output: the backend moves it along (a
    /// filter runs its output filter, a pair hands it to a reading
    /// partner), and the statistics note the backlog.
    fn after_write(&mut self) {
        self.core.note_output();
        let now = self.core.clock(now);
        self.backend.after_write(&mut self.core, now);
    }

    fn check_writable(&self) -> Result<(), Error> {
        if self.core.accepts_writes() {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }

    // ----- directions, watermarks, timeouts -----------------------------

    /// Enables reading and/or writing (`bufferevent_enable`). Restarts the
    /// timeouts of those directions (statement 45).
    pub fn enable(&mut self, dir: Dir) {
        let now = self.core.clock(now);
        self.core.enable(dir, now);
        self.backend.on_enable_change(&mut self.core);
        if dir.contains(Dir::WRITE) {
            self.backend.after_write(&mut self.core, now);
        }
    }

    /// Disables reading and/or writing (`bufferevent_disable`). A pending
    /// callback of that direction is cancelled.
    pub fn disable(&mut self, dir: Dir) {
        self.core.disable(dir);
        self.backend.on_enable_change(&mut self.core);
    }

    /// The enabled directions (`bufferevent_get_enabled`); a new
    /// bufferevent has [`Dir::WRITE`] (statement 38).
    pub fn enabled(&self) -> Dir {
        self.core.enabled()
    }

    /// Sets the watermarks of every direction in `dir`
    /// (`bufferevent_setwatermark`). 0 means unset. Fails if
    /// `low > high > 0`.
    pub fn set_watermark(&mut self, dir: Dir, low: usize, high: usize) -> Result<(), Error> {
        self.core.set_watermark(dir, low, high)?;
        self.backend.on_enable_change(&mut self.core);
        Ok(())
    }

    /// The watermarks of exactly one direction
    /// (`bufferevent_getwatermark`; statement 39).
    pub fn watermark(&self, dir: Dir) -> Result<Watermark, Error> {
        self.core.watermark(dir)
    }

    /// Sets (or with `None` removes) the read and write timeouts and
    /// restarts both clocks (`bufferevent_set_timeouts`; statement 45).
    ///
    /// A read timeout runs while reading is enabled and the input is below
    /// its high watermark; a write timeout while output is pending anywhere
    /// in the stack (or a connect is in progress). Unlike libevent, an idle
    /// filter gets no write timeout (#67, statement 45), and neither timeout
    /// runs while a rate limit holds its direction back, on this bufferevent
    /// or on one below it.
    pub fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) {
        self.core.set_timeouts(read, write);
    }

    /// The configured timeouts (`bufferevent_get_timeouts`... libevent has
    /// none; kept for symmetry).
    pub fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        self.core.timeouts()
    }

    /// Bytes asked of the transport per read; default
    /// [`DEFAULT_READ_SIZE`](crate::DEFAULT_READ_SIZE)
    /// (`bufferevent_set_max_single_read`; the libevent-named
    /// [`set_max_single_read`](Self::set_max_single_read) is the same
    /// setting, with 0 restoring the default).
    pub fn set_read_size(&mut self, n: usize) {
        self.core.set_read_size(n);
    }

    /// The input bound used when no read high watermark is set; default
    /// [`DEFAULT_MAX_INPUT`](crate::DEFAULT_MAX_INPUT).
    ///
    /// libevent: none (its input grows without bound when no read high watermark is set).
    pub fn set_max_input(&mut self, n: usize) {
        self.core.set_max_input(n);
    }

    /// The output bound used when no write high watermark is set; default
    /// [`DEFAULT_MAX_OUTPUT`](crate::DEFAULT_MAX_OUTPUT). Driven by
    /// [`run`](Self::run), this bufferevent stops reading while its output
    /// holds this many bytes or more (a peer that does not read holds a
    /// read callback that answers everything back), and reads again once
    /// the output is below it; the async face's writes wait instead. An
    /// application that needs a larger backlog raises it here (or with a
    /// write high watermark, which takes precedence).
    ///
    /// libevent: none (its output grows without bound, and reading goes on
    /// whatever the output holds).
    pub fn set_max_output(&mut self, n: usize) {
        self.core.set_max_output(n);
    }

    /// Installs (or with `None` removes) a custom byte-rate [`Limiter`]:
    /// every read and write asks it how many bytes may move now and when to
    /// retry. libevent has no such hook; for its token buckets use
    /// [`set_rate_limit`](Self::set_rate_limit) and
    /// [`add_to_rate_limit_group`](Self::add_to_rate_limit_group), which
    /// combine with a custom limiter (the smaller quota wins). A limiter
    /// answering 0 suspends that direction until `retry_at`; it never causes
    /// a 0-byte read (libevent #1439/#1440).
    pub fn set_limiter(&mut self, limiter: Option<Box<dyn Limiter>>) {
        self.core.set_limiter(limiter);
    }

    // ----- flushing and closing ----------------------------------------

    /// `bufferevent_flush(bev, EV_WRITE, mode)`.
    ///
    /// * `Normal`: run filters as usual (for a pair, a no-op, as in
    ///   libevent's source; its book says it forces the transfer:
    ///   statement 68).
    /// * `Flush`: push everything written so far through every filter and
    ///   down to the transport, ignoring watermarks and disabled writing.
    /// * `Finished`: like `Flush`, and no more data follows: filters emit
    ///   their trailers (the output filter is called with `Finished` even
    ///   if the output is empty: statement 61), and once the output has
    ///   drained the transport's write side is shut down (a pair's partner
    ///   sees EOF: statement 69). Reading continues (half-close).
    ///
    /// Returns `Ok(true)` if a filter call returned `Ok` or (for other
    /// kinds) there was something to push (statement 63).
    pub fn flush(&mut self, mode: FlushMode) -> Result<bool, Error> {
        if self.core.write_half() == HalfState::Failed {
            return Err(Error::Closed);
        }
        let now = self.core.clock(now);
        self.core.request_flush(mode);
        self.backend.flush(&mut self.core, mode, now)
    }

    /// Closes at once (`bufferevent_free` from inside a callback): the
    /// driver stops, no further callback runs, pending output is discarded
    /// and the transport is closed when the bufferevent is dropped.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Closes gracefully (what libevent lacks, #616): reading stops, all
    /// output is pushed through every filter (with `Finished`, so trailers
    /// are written), the transport's write side is shut down, and then the
    /// driver ([`run`](Self::run)) returns and drops the bufferevent.
    ///
    /// Input arriving after this is not read. Closing a TCP socket with
    /// unread input makes the kernel reset the connection, which can destroy
    /// data still on its way to the peer; if the peer may still be sending,
    /// use `flush(FlushMode::Finished)` (half-close), keep reading until its
    /// `EOF`, then close.
    pub fn close_gracefully(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.disable(Dir::READ);
        if self.core.accepts_writes() {
            let _ = self.flush(FlushMode::Finished);
        }
    }

    /// Whether [`close_gracefully`](Self::close_gracefully) (or the async
    /// `shutdown`) has finished: the write side is shut down all the way to
    /// the transport, or failed.
    ///
    /// libevent: none (it cannot tell when a close has completed: #616).
    pub fn is_write_finished(&self) -> bool {
        self.backend.write_finished(&self.core)
    }

    /// The error reported by the most recent `ERROR` event
    /// (`EVUTIL_SOCKET_ERROR()` / `bufferevent_socket_get_dns_error`).
    pub fn error(&self) -> Option<&Error> {
        self.core.error()
    }

    /// Takes the error reported by the most recent `ERROR` event.
    ///
    /// libevent: reading `EVUTIL_SOCKET_ERROR()` in the event callback.
    pub fn take_error(&mut self) -> Option<Error> {
        self.core.take_error()
    }

    // ----- triggers ----------------------------------------------------

    /// `bufferevent_trigger(bev, EV_READ/EV_WRITE, options)`: schedules the
    /// read (write) callback if the watermark allows it, or regardless with
    /// `ignore_watermarks` (`BEV_TRIG_IGNORE_WATERMARKS`). Always deferred.
    pub fn trigger(&mut self, dir: Dir, ignore_watermarks: bool) {
        if dir.contains(Dir::READ) {
            self.core.trigger_read(ignore_watermarks);
        }
        if dir.contains(Dir::WRITE) {
            self.core.trigger_write(ignore_watermarks);
        }
    }

    /// `bufferevent_trigger_event(bev, what, options)`: schedules the event
    /// callback with `what`, verbatim (statement 50).
    pub fn trigger_event(&mut self, what: Events) {
        self.core.trigger_event(what);
    }

    // ----- stacking and pairs ------------------------------------------

    /// The bufferevent under a filter (`bufferevent_get_underlying`);
    /// `None` for sockets and pairs (statement 53).
    pub fn underlying(&self) -> Option<&BufferEvent> {
        self.backend.underlying()
    }

    /// The bufferevent under a filter, mutably.
    ///
    /// libevent: `bufferevent_get_underlying`.
    pub fn underlying_mut(&mut self) -> Option<&mut BufferEvent> {
        self.backend.underlying_mut()
    }

    /// Takes the bufferevent under a filter back, dropping the filter and
    /// anything in its own buffers (`bufferevent_free` on a filter created
    /// without `BEV_OPT_CLOSE_ON_FREE`). `None` for sockets and pairs.
    pub fn into_underlying(mut self) -> Option<BufferEvent> {
        let backend = std::mem::replace(&mut self.backend, Box::new(crate::backend::Gone));
        backend.into_underlying()
    }

    /// A handle on the other end of a pair while it exists
    /// (`bufferevent_pair_get_partner`; `None` after the partner was
    /// dropped, statement 70, and for other kinds).
    pub fn partner(&self) -> Option<Handle> {
        self.backend.partner()
    }

    /// A `Send + Clone` handle to write to, flush, enable or close this
    /// bufferevent from another task or thread. Commands are applied by the
    /// driver of this bufferevent, which they wake: [`run`](Self::run), or
    /// the task reading from or writing to it through its async face.
    ///
    /// libevent: `BEV_OPT_THREADSAFE`, then calls from other threads.
    pub fn handle(&mut self) -> Handle {
        let c = self.commands.get_or_insert_with(Commands::new);
        Handle::new(c.tx.clone())
    }

    // ----- driving (crate-internal) ------------------------------------

    /// Output still pending here or below.
    pub(crate) fn output_pending(&self) -> bool {
        !self.core.output.is_empty() || self.backend.lower_output_pending()
    }

    /// One step of the read direction: transport reads, then read timers.
    pub(crate) fn poll_read_side(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(w) = self.core.limits_ref().and_then(|l| l.group_wakers()) {
            w.read.register(cx.waker());
        }
        let mut progress = false;
        for _ in 0..4 {
            let now = self.core.clock(now);
            progress |= self.backend.poll_read(&mut self.core, cx, now);
            progress |= self.check_timers(now);
            if !poll_timer(&mut self.read_timer, self.core.read_wakeup(), cx) {
                break;
            }
        }
        self.core.track(now);
        progress
    }

    /// One step of the write direction: transport writes and shutdown,
    /// then write timers.
    pub(crate) fn poll_write_side(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(w) = self.core.limits_ref().and_then(|l| l.group_wakers()) {
            w.write.register(cx.waker());
        }
        let mut progress = false;
        for _ in 0..4 {
            let now = self.core.clock(now);
            progress |= self.backend.poll_write(&mut self.core, cx, now);
            progress |= self.check_timers(now);
            if !poll_timer(&mut self.write_timer, self.core.write_wakeup(), cx) {
                break;
            }
        }
        // (the statistics are tracked on the read side, polled as often)
        progress
    }

    /// Fires expired timeouts; whether any fired. Asks the layers below
    /// nothing when no timeout is set.
    #[inline]
    fn check_timers(&mut self, now: Instant) -> bool {
        if !self.core.has_timeouts() {
            return false;
        }
        let pending = self.output_pending();
        let before = self.core.peek_events();
        let below = self.backend.lower_suspended();
        self.core.check_timers(now, pending, below);
        self.core.peek_events() != before
    }

    /// Applies queued handle commands in order. A write waits while the
    /// output is at its bound (and so do the commands queued behind it);
    /// other commands are applied at once, so that a handle can still
    /// close, inspect or reconfigure a bufferevent whose peer does not read.
    pub(crate) fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            if self.closed {
                return progress;
            }
            let full = self.core.output_full();
            let Some(c) = self.commands.as_mut() else {
                return progress;
            };
            let cmd = if c.stalled.is_some() {
                if full {
                    return progress;
                }
                Command::Write(c.stalled.take().unwrap_or_default())
            } else {
                match c.rx.poll_recv(cx) {
                    Poll::Ready(Some(Command::Write(data))) if full => {
                        c.stalled = Some(data);
                        return progress;
                    }
                    Poll::Ready(Some(cmd)) => cmd,
                    Poll::Ready(None) | Poll::Pending => return progress,
                }
            };
            progress = true;
            self.apply(cmd);
        }
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Write(data) => {
                if let Err(e) = self.write_bytes(data) {
                    tracing::debug!(error = %e, "handle write dropped: write side closed");
                }
            }
            Command::Flush(mode) => {
                let _ = self.flush(mode);
            }
            Command::Enable(d) => self.enable(d),
            Command::Disable(d) => self.disable(d),
            Command::Close => self.close(),
            Command::CloseGracefully => self.close_gracefully(),
            Command::Call(f) => f(self),
        }
    }

    /// Whether handles other than our own sender exist.
    fn handles_alive(&self) -> bool {
        self.commands
            .as_ref()
            .is_some_and(|c| c.tx.strong_count() > 1)
    }

    /// Whether nothing can ever happen again: no callback due, reading
    /// impossible, no output pending, no timer, no handle, no transport
    /// activity of its own. The callback driver returns then.
    pub(crate) fn is_idle_forever(&self) -> bool {
        let read_possible =
            self.core.read_half() == HalfState::Open && self.core.enabled().contains(Dir::READ);
        let write_pending = self.core.write_half() != HalfState::Failed && self.output_pending();
        !self.core.has_pending()
            && !read_possible
            && !write_pending
            && !self.core.is_connecting()
            && self.core.read_wakeup().is_none()
            && self.core.write_wakeup().is_none()
            && !self.handles_alive()
            && !self.backend.may_progress()
    }
}

impl Drop for BufferEvent {
    /// `bufferevent_free`. A pair end first hands what it still holds in
    /// its output to the partner, which reads it before its `EOF`. The
    /// statistics go on the span, if tracing was on.
    fn drop(&mut self) {
        self.backend.on_free(&mut self.core);
        if let Some(t) = self.traced.take() {
            self.note_end();
            let st = self.stats();
            let span = &t.span;
            span.record("bytes_in", st.bytes_in);
            span.record("bytes_out", st.bytes_out);
            span.record("max_output", st.max_output as u64);
            span.record("input_full_ms", st.input_full.as_millis() as u64);
            span.record("output_full_ms", st.output_full.as_millis() as u64);
            span.record("rate_limited_ms", st.rate_limited.as_millis() as u64);
            if let Some(e) = st.ended {
                span.record("ended", tracing::field::debug(e));
            }
            span.in_scope(|| tracing::debug!(target: "bufferevent", stats = ?st, "closed"));
        }
    }
}

/// Keeps `slot` sleeping until `deadline`; returns true if it already
/// passed (the caller re-checks its timers).
fn poll_timer(
    slot: &mut Option<Pin<Box<Sleep>>>,
    deadline: Option<Instant>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(at) = deadline else {
        if slot.is_some() {
            *slot = None;
        }
        return false;
    };
    let at = tokio::time::Instant::from_std(at);
    match slot {
        Some(s) => {
            // A deadline that only moved later (a timeout restarted by
            // progress, every message) keeps the earlier timer: when that
            // fires, the caller finds nothing expired and it is re-armed
            // here for the real deadline. So the timer wheel is touched
            // once per timeout period, not once per message.
            let current = s.deadline();
            if current > at || (current != at && s.is_elapsed()) {
                s.as_mut().reset(at);
            }
        }
        None => *slot = Some(Box::pin(tokio::time::sleep_until(at))),
    }
    slot.as_mut()
        .is_some_and(|s| s.as_mut().poll(cx).is_ready())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_read_once_per_driver_poll() {
        let outside = now();
        std::thread::sleep(Duration::from_millis(2));
        {
            let _poll = ClockScope::enter();
            let a = now();
            assert!(a > outside);
            std::thread::sleep(Duration::from_millis(2));
            {
                let _inner = ClockScope::enter();
                assert_eq!(now(), a, "a nested poll uses the outer reading");
            }
            assert_eq!(now(), a);
        }
        let after = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() > after, "outside a poll every call reads the clock");
    }
}
