//! The async face: every bufferevent, with all its filters, is a tokio
//! `AsyncRead + AsyncWrite`, so codecs (`tokio_util::codec::Framed`),
//! `copy`, `read_to_end` and the rest of the ecosystem run on it.
//!
//! * `poll_read` enables reading if needed, hands out input, returns
//!   `Ok(0)` at EOF (after the input is drained), the error after an
//!   `ERROR`, and `TimedOut` once for a read timeout.
//! * `poll_write` appends to the output while it is below the write high
//!   watermark (default [`DEFAULT_MAX_OUTPUT`](crate::DEFAULT_MAX_OUTPUT))
//!   and waits otherwise: backpressure.
//! * `poll_flush` runs `flush(Flush)` once and waits until the output has
//!   reached the transport through every layer.
//! * `poll_shutdown` is a graceful close of the write side:
//!   `flush(Finished)` (filters write trailers), then waits until every
//!   layer's write side is shut down.
//!
//! The read half drives only reading and the write half only writing, so
//! `tokio::io::split` works (both apply [`Handle`](crate::Handle) commands);
//! callbacks are not run (pending callback flags are discarded).
//!
//! Cancel safety (for the `AsyncReadExt`/`AsyncWriteExt` futures built on
//! these): `read` is cancel-safe (bytes leave the input only when a poll
//! returns them); `write` is cancel-safe (bytes are appended only by the
//! poll that returns `Ready(n)`); `write_all`, `read_exact` and the like
//! are not, as for every tokio stream (part of the data may have moved);
//! `flush` and `shutdown` may be cancelled and called again (what they
//! started goes on being driven).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::bufferevent::now;
use crate::core::state::HalfState;
use crate::{BufferEvent, Dir, Error, Events, FlushMode};

fn take_io_error(bev: &mut BufferEvent, side_default: io::ErrorKind) -> io::Error {
    match bev.core.take_error() {
        Some(e) => e.into(),
        None => io::Error::new(side_default, Error::Closed),
    }
}

impl BufferEvent {
    fn poll_drain_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        for _ in 0..64 {
            let progress = self.poll_commands(cx) | self.poll_write_side(cx);
            self.core.clear_events(Events::CONNECTED);
            if self.core.write_half() == HalfState::Failed {
                return Poll::Ready(Err(take_io_error(self, io::ErrorKind::BrokenPipe)));
            }
            if self
                .core
                .peek_events()
                .contains(Events::TIMEOUT | Events::WRITING)
            {
                self.core.clear_events(Events::TIMEOUT | Events::WRITING);
                let now = self.core.clock(now);
                self.core.enable(Dir::WRITE, now);
                return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
            }
            if !self.output_pending() {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncRead for BufferEvent {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        let this = self.get_mut();
        // Commands from handles are applied by whichever side is polled, and
        // the read side then sends what they wrote until it is out: a task
        // that only reads from this bufferevent still serves its handles.
        this.reader_sends |= this.poll_commands(cx);
        if this.reader_sends {
            let _ = this.poll_drain_step(cx);
            this.reader_sends = this.output_pending();
        }
        for _ in 0..64 {
            if !this.core.input.is_empty() {
                let n = buf.remaining().min(this.core.input.len());
                let dst = buf.initialize_unfilled_to(n);
                let got = this.core.input.remove(dst).map_err(io::Error::other)?;
                buf.advance(got);
                return Poll::Ready(Ok(()));
            }
            let ev = this.core.peek_events();
            if ev.contains(Events::TIMEOUT | Events::READING) {
                this.core.clear_events(Events::TIMEOUT | Events::READING);
                return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
            }
            match this.core.read_half() {
                HalfState::Done => return Poll::Ready(Ok(())),
                HalfState::Failed => {
                    return Poll::Ready(Err(take_io_error(this, io::ErrorKind::ConnectionReset)))
                }
                HalfState::Open => {}
            }
            if !this.core.enabled().contains(Dir::READ) {
                this.enable(Dir::READ);
            }
            if !this.poll_read_side(cx) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncWrite for BufferEvent {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        let this = self.get_mut();
        if this.core.write_half() == HalfState::Failed {
            return Poll::Ready(Err(take_io_error(this, io::ErrorKind::BrokenPipe)));
        }
        if !this.core.accepts_writes() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut room = this
            .core
            .write_high()
            .saturating_sub(this.core.output.len());
        if room == 0 {
            let _ = this.poll_drain_step(cx);
            room = this
                .core
                .write_high()
                .saturating_sub(this.core.output.len());
            if this.core.write_half() == HalfState::Failed {
                return Poll::Ready(Err(take_io_error(this, io::ErrorKind::BrokenPipe)));
            }
            if room == 0 {
                return Poll::Pending;
            }
        }
        let n = room.min(data.len());
        this.write(&data[..n]).map_err(io::Error::from)?;
        // Start sending now; readiness is registered for later progress.
        let _ = this.poll_drain_step(cx);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        let this = self.get_mut();
        if !this.async_flushing {
            this.async_flushing = true;
            if this.core.accepts_writes() {
                if let Err(e) = this.flush(FlushMode::Flush) {
                    this.async_flushing = false;
                    return Poll::Ready(Err(e.into()));
                }
            }
        }
        let r = this.poll_drain_output(cx);
        if r.is_ready() {
            this.async_flushing = false;
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _clock = crate::bufferevent::ClockScope::enter();
        let this = self.get_mut();
        if this.core.accepts_writes() {
            if let Err(e) = this.flush(FlushMode::Finished) {
                return Poll::Ready(Err(e.into()));
            }
        }
        for _ in 0..64 {
            let progress = this.poll_commands(cx) | this.poll_write_side(cx);
            if this.core.write_half() == HalfState::Failed {
                return Poll::Ready(Err(take_io_error(this, io::ErrorKind::BrokenPipe)));
            }
            if this.is_write_finished() {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl BufferEvent {
    /// One write-side step for `poll_write`: move output along and register
    /// for readiness.
    fn poll_drain_step(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        for _ in 0..8 {
            let p = self.poll_commands(cx) | self.poll_write_side(cx);
            progress |= p;
            if !p {
                return progress;
            }
        }
        // Still moving: make sure we are polled again.
        cx.waker().wake_by_ref();
        progress
    }
}
