//! Filters over any tokio `AsyncRead + AsyncWrite`, for programs that do not use
//! bufferevents at all.
//!
//! [`FilteredStream`] is a small filter bufferevent without callbacks: it owns the four buffers
//! (raw in, plaintext in, plaintext out, raw out), runs the input filter on what it reads and
//! the output filter on what is written, and honours [`Filter::wants_write`] and [`Filter::take_event`] (so a TLS handshake is
//! driven by reads, writes and flushes alike, as tokio-rustls does).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bufferevent::{FilterError, FlushMode};
use evbuffer::EvBuffer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use bufferevent::Filter;

use crate::FilterEvent;

/// An async stream whose reads pass through an input filter and whose writes pass through an
/// output filter.
///
/// * Reading: bytes read from the inner stream go through the input filter; what it produces
///   is returned. At the inner stream's end the input filter is called once with FINISHED
///   (so a truncated frame, compressed stream or TLS session is an error, not a silent EOF).
///   A [`FilterEvent::Eof`] from the input filter (TLS `close_notify`) ends the stream too.
/// * Writing: `poll_write` runs the output filter in NORMAL mode; `poll_flush` in FLUSH mode
///   (zlib sync flush) and writes everything out; `poll_shutdown` in FINISHED mode (zlib
///   trailer, TLS `close_notify`), then shuts the inner stream's write side down.
/// * Bounded: writes are refused (`Pending`) while more than `high_water` bytes wait to be
///   filtered or written; the input filter is given a `dst_limit` keeping the readable
///   buffer near `high_water`; an input filter that makes no progress on `max_input` bytes
///   is an error.
/// * Filter errors become `io::Error`s whose inner error is the [`FilterError`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Width};
/// use bufferevent_filters::FilteredStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (a, b) = tokio::io::duplex(1024);
/// let fmt = LengthPrefix::new(Width::Two);
/// let mut a = FilteredStream::new(a, LengthDecoder::new(fmt), LengthEncoder::new(fmt));
/// let mut b = FilteredStream::new(b, LengthDecoder::new(fmt), LengthEncoder::new(fmt));
/// a.write_all(b"hello").await?;
/// a.shutdown().await?;
/// let mut got = Vec::new();
/// b.read_to_end(&mut got).await?;
/// assert_eq!(got, b"hello");
/// # Ok(()) }
/// ```
///
/// libevent: none: `bufferevent_filter_new` needs a bufferevent, this takes any stream.
pub struct FilteredStream<S, I, O> {
    io: S,
    input: I,
    output: O,
    raw_in: EvBuffer,
    plain_in: EvBuffer,
    plain_out: EvBuffer,
    raw_out: EvBuffer,
    /// The inner stream returned EOF.
    read_eof: bool,
    /// The reading side is over (input filter finished, or it reported Eof).
    read_done: bool,
    /// The output filter was called with FINISHED.
    write_finished: bool,
    events: Vec<FilterEvent>,
    high_water: usize,
    max_input: usize,
    scratch: Box<[u8]>,
}

impl<S, I, O> std::fmt::Debug for FilteredStream<S, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredStream")
            .field("raw_in", &self.raw_in.len())
            .field("plain_in", &self.plain_in.len())
            .field("plain_out", &self.plain_out.len())
            .field("raw_out", &self.raw_out.len())
            .field("read_eof", &self.read_eof)
            .field("write_finished", &self.write_finished)
            .finish_non_exhaustive()
    }
}

fn to_io(e: FilterError) -> io::Error {
    io::Error::new(e.io_kind(), e)
}

impl<S, I, O> FilteredStream<S, I, O>
where
    S: AsyncRead + AsyncWrite + Unpin,
    I: Filter + Unpin,
    O: Filter + Unpin,
{
    /// Default `high_water`: 64 KiB.
    ///
    /// libevent: none (the role of a filter bufferevent's watermarks).
    pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
    /// Default `max_input`: 16 MiB.
    ///
    /// libevent: none (the role of a filter bufferevent's read high watermark).
    pub const DEFAULT_MAX_INPUT: usize = 16 << 20;

    /// Wraps `io`, filtering reads with `input` and writes with `output`.
    ///
    /// libevent: `bufferevent_filter_new(under, input, output, ..)` for a plain stream.
    pub fn new(io: S, input: I, output: O) -> Self {
        FilteredStream {
            io,
            input,
            output,
            raw_in: EvBuffer::new(),
            plain_in: EvBuffer::new(),
            plain_out: EvBuffer::new(),
            raw_out: EvBuffer::new(),
            read_eof: false,
            read_done: false,
            write_finished: false,
            events: Vec::new(),
            high_water: Self::DEFAULT_HIGH_WATER,
            max_input: Self::DEFAULT_MAX_INPUT,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    /// Sets the buffer bounds (see the type's docs).
    ///
    /// libevent: `bufferevent_filter_new` followed by `bufferevent_setwatermark`.
    pub fn with_limits(mut self, high_water: usize, max_input: usize) -> Self {
        self.high_water = high_water.max(1);
        self.max_input = max_input.max(1);
        self
    }

    /// The inner stream.
    ///
    /// libevent: `bufferevent_get_underlying`.
    pub fn get_ref(&self) -> &S {
        &self.io
    }
    /// The inner stream, mutably (reading or writing it directly bypasses the filters).
    ///
    /// libevent: `bufferevent_get_underlying`.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }
    /// The input filter.
    ///
    /// libevent: the filter's `ctx`, which it cannot give back.
    pub fn input_filter(&self) -> &I {
        &self.input
    }
    /// The output filter.
    ///
    /// libevent: the filter's `ctx`, which it cannot give back.
    pub fn output_filter(&self) -> &O {
        &self.output
    }
    /// Gives the inner stream and the filters back. Buffered bytes are dropped.
    ///
    /// libevent: freeing a filter bufferevent without `BEV_OPT_CLOSE_ON_FREE`.
    pub fn into_parts(self) -> (S, I, O) {
        (self.io, self.input, self.output)
    }

    /// The next event the filters reported ([`FilterEvent::Connected`] after a TLS handshake).
    ///
    /// libevent: the event callback's `BEV_EVENT_CONNECTED` / `BEV_EVENT_EOF`.
    pub fn take_event(&mut self) -> Option<FilterEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// Runs the TLS handshake (or whatever the filters must exchange before data flows) until
    /// the input filter reports [`FilterEvent::Connected`]; other events stay queued.
    pub async fn handshake(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| *e == FilterEvent::Connected)
            {
                self.events.remove(i);
                return Poll::Ready(Ok(()));
            }
            if self.output.wants_write() {
                self.run_output(FlushMode::Flush)?;
            }
            let _ = self.poll_write_raw(cx)?;
            if self.read_done {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended before the handshake completed",
                )));
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.input.take_event() {
            if e == FilterEvent::Eof {
                self.read_done = true;
            }
            self.events.push(e);
        }
        while let Some(e) = self.output.take_event() {
            self.events.push(e);
        }
    }

    /// Runs the output filter: once for FLUSH/FINISHED, while it progresses for NORMAL.
    /// Returns whether any source byte was consumed.
    fn run_output(&mut self, mode: FlushMode) -> io::Result<bool> {
        let start = self.plain_out.len();
        for _ in 0..64 {
            if mode == FlushMode::Normal && self.plain_out.is_empty() && !self.output.wants_write()
            {
                break;
            }
            let (a, b) = (self.plain_out.len(), self.raw_out.len());
            self.output
                .process(&mut self.plain_out, &mut self.raw_out, None, mode)
                .map_err(to_io)?;
            self.collect_events();
            if mode != FlushMode::Normal || (self.plain_out.len() == a && self.raw_out.len() == b) {
                break;
            }
        }
        Ok(self.plain_out.len() != start)
    }

    /// Runs the input filter once; returns whether it consumed or produced anything.
    fn run_input(&mut self, mode: FlushMode) -> io::Result<bool> {
        let (a, b) = (self.raw_in.len(), self.plain_in.len());
        let limit = match mode {
            FlushMode::Finished => None,
            _ => Some(self.high_water.saturating_sub(self.plain_in.len()).max(1)),
        };
        if let Err(e) = self
            .input
            .process(&mut self.raw_in, &mut self.plain_in, limit, mode)
        {
            // Let the output side queue what the failure produced (a TLS alert); the caller
            // writes it out best-effort.
            if self.output.wants_write() {
                let _ = self.run_output(FlushMode::Flush);
            }
            return Err(to_io(e));
        }
        self.collect_events();
        // Records the input side caused (TLS handshake, alerts) go out now, flushed through
        // any later stage (a compressor below TLS) since the peer waits for them.
        if self.output.wants_write() {
            self.run_output(FlushMode::Flush)?;
        }
        Ok(self.raw_in.len() != a || self.plain_in.len() != b)
    }

    /// Writes `raw_out` to the inner stream; Ready once it is empty.
    fn poll_write_raw(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.raw_out.is_empty() {
            let slices: Vec<IoSlice<'_>> =
                self.raw_out.peek(..).take(64).map(IoSlice::new).collect();
            let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices))?;
            drop(slices);
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.raw_out.drain(n).map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Makes input progress: runs the input filter on what is buffered, or reads more (once).
    /// Ready(Ok) when something changed (including reaching the end).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = self.poll_fill_inner(cx);
        if let Poll::Ready(Err(_)) = &r {
            // Best effort: an alert explaining the failure to the peer.
            let _ = self.poll_write_raw(cx);
        }
        r
    }

    fn poll_fill_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.read_done {
                return Poll::Ready(Ok(()));
            }
            // Input the filter holds itself (zlib's owed output) counts as buffered input.
            if (!self.raw_in.is_empty() || self.input.wants_write())
                && self.run_input(FlushMode::Normal)?
            {
                return Poll::Ready(Ok(()));
            }
            if self.read_eof {
                self.run_input(FlushMode::Finished)?;
                self.read_done = true;
                return Poll::Ready(Ok(()));
            }
            if self.plain_in.len() >= self.max_input {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "{} bytes read but not taken while a write waits for input",
                        self.plain_in.len()
                    ),
                )));
            }
            if self.raw_in.len() >= self.max_input {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "input filter made no progress on {} buffered bytes",
                        self.raw_in.len()
                    ),
                )));
            }
            let want = self.scratch.len().min(self.max_input - self.raw_in.len());
            let mut rb = ReadBuf::new(&mut self.scratch[..want]);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                self.read_eof = true;
            } else {
                let filled = rb.filled().len();
                self.raw_in
                    .add(&self.scratch[..filled])
                    .map_err(io::Error::other)?;
            }
        }
    }

    /// Pushes the output side as far as it goes; when the output filter is stuck waiting for
    /// input (a TLS handshake), reads. Ready once nothing is left to filter or write.
    fn poll_drain_output(&mut self, cx: &mut Context<'_>, mode: FlushMode) -> Poll<io::Result<()>> {
        let mut mode = mode;
        loop {
            let consumed = self.run_output(mode)?;
            mode = FlushMode::Normal;
            ready!(self.poll_write_raw(cx))?;
            // Done when the filter wants nothing more; bytes it keeps back on purpose (a
            // partial line) do not hold a flush up.
            if !self.output.wants_write() && (self.plain_out.is_empty() || !consumed) {
                return Poll::Ready(Ok(()));
            }
            if self.read_done {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!(
                        "{} bytes could not be sent: the stream ended first",
                        self.plain_out.len()
                    ),
                )));
            }
            // About to wait for the peer: everything produced so far must reach it (a TLS
            // record inside a compressor below would otherwise wait forever).
            self.run_output(FlushMode::Flush)?;
            ready!(self.poll_write_raw(cx))?;
            ready!(self.poll_fill(cx))?;
        }
    }
}

impl<S, I, O> AsyncRead for FilteredStream<S, I, O>
where
    S: AsyncRead + AsyncWrite + Unpin,
    I: Filter + Unpin,
    O: Filter + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.plain_in.is_empty() {
                let n = buf.remaining().min(this.plain_in.len());
                let dst = buf.initialize_unfilled_to(n);
                let got = this.plain_in.remove(dst).map_err(io::Error::other)?;
                buf.advance(got);
                return Poll::Ready(Ok(()));
            }
            if this.read_done {
                return Poll::Ready(Ok(()));
            }
            // Whatever the filters want to send (handshake records) goes out first.
            if this.output.wants_write() {
                this.run_output(FlushMode::Flush)?;
            }
            let _ = this.poll_write_raw(cx)?;
            ready!(this.poll_fill(cx))?;
        }
    }
}

impl<S, I, O> AsyncWrite for FilteredStream<S, I, O>
where
    S: AsyncRead + AsyncWrite + Unpin,
    I: Filter + Unpin,
    O: Filter + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_finished {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if this.plain_out.len() + this.raw_out.len() >= this.high_water {
            ready!(this.poll_drain_output(cx, FlushMode::Normal))?;
        }
        let n = buf
            .len()
            .min(this.high_water.saturating_sub(this.plain_out.len()).max(1));
        this.plain_out.add(&buf[..n]).map_err(io::Error::other)?;
        this.run_output(FlushMode::Normal)?;
        let _ = this.poll_write_raw(cx)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mode = if this.write_finished {
            FlushMode::Normal
        } else {
            FlushMode::Flush
        };
        ready!(this.poll_drain_output(cx, mode))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_finished {
            ready!(this.poll_drain_output(cx, FlushMode::Normal))?;
            this.run_output(FlushMode::Finished)?;
            this.write_finished = true;
        }
        ready!(this.poll_drain_output(cx, FlushMode::Normal))?;
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<S, I, O> FilteredStream<S, I, O> {
    /// Bytes written but not yet filtered or not yet sent.
    ///
    /// libevent: `evbuffer_get_length(bufferevent_get_output(bev))` of every layer.
    pub fn pending_output(&self) -> usize {
        self.plain_out.len() + self.raw_out.len()
    }
}
