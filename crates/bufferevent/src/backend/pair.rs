//! The pair backend: two bufferevents connected in memory
//! (`bufferevent_pair_new`, statements 65-71).
//!
//! Unlike libevent's pair, the two ends may live in different tasks or
//! threads. Each direction is a small shared channel (`Arc<Mutex<Chan>>`)
//! holding chunks in transit, the reader's published room, and both wakers.
//! The writer moves chunks (never bytes) from its output into the channel,
//! at most as many as the reader said it has room for below its read high
//! watermark (statement 67); the reader moves them into its input. So
//! backpressure works both ways, and the reader's input never exceeds its
//! bound. Dropping one end gives the other EOF, like a socketpair (not like
//! libevent, #93); writing to a dropped end is an `ERROR|WRITING` with
//! `BrokenPipe`.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::Instant;

use evbuffer::EvBuffer;
use tokio::sync::mpsc;

use super::{Backend, Kind};
use crate::core::state::{unfrozen, Core};
use crate::face::handle::Command;
use crate::{BufferEvent, Error, FlushMode, Handle, Options, Side};
use evbuffer::End;

/// One direction of a pair.
#[derive(Default)]
struct Chan {
    /// Bytes moved out of the writer's output, not yet in the reader's input.
    buf: EvBuffer,
    /// The writer finished (`flush(Finished)`) or was dropped.
    eof: bool,
    /// The reader was dropped.
    reader_gone: bool,
    /// How many more bytes the reader accepts (published by the reader).
    room: usize,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
}

fn lock(c: &Mutex<Chan>) -> MutexGuard<'_, Chan> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

pub(crate) struct PairBackend {
    /// What we write.
    tx: Arc<Mutex<Chan>>,
    /// What we read.
    rx: Arc<Mutex<Chan>>,
    partner: mpsc::WeakSender<Command>,
}

impl PairBackend {
    /// Publishes our room to the writer and wakes it if the room grew.
    fn publish_room(core: &Core, chan: &mut Chan) {
        let room = if core.wants_read() {
            core.input_room().saturating_sub(chan.buf.len())
        } else {
            0
        };
        if room > chan.room {
            wake(&mut chan.writer_waker);
        }
        chan.room = room;
    }

    /// Moves up to `n` bytes of our output into the channel.
    fn transfer(core: &mut Core, chan: &mut Chan, n: usize, now: Instant) -> usize {
        if n == 0 {
            return 0;
        }
        let moved = unfrozen(&mut core.output, End::Front, |out| {
            out.remove_into(&mut chan.buf, n).unwrap_or(0)
        });
        chan.room = chan.room.saturating_sub(moved);
        wake(&mut chan.reader_waker);
        core.on_written(moved, now);
        moved
    }

    fn finish(core: &mut Core, chan: &mut Chan) {
        if !chan.eof {
            chan.eof = true;
            wake(&mut chan.reader_waker);
        }
        core.on_shutdown();
    }
}

impl Backend for PairBackend {
    fn kind(&self) -> Kind {
        Kind::Pair
    }

    fn poll_read(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut chan = lock(&self.rx);
        let mut progress = false;
        if core.wants_read() {
            // the limits are asked only when there is something to move
            let available = core.input_room().min(chan.buf.len());
            let n = core.read_quota(available, now);
            if n > 0 {
                let moved = unfrozen(&mut core.input, End::Back, |input| {
                    chan.buf.remove_into(input, n).unwrap_or(0)
                });
                core.on_read(moved, now);
                progress = true;
            }
        }
        // Like a socket, EOF is noticed while reading.
        if chan.eof && chan.buf.is_empty() && core.wants_read() {
            core.on_eof();
            progress = true;
        }
        Self::publish_room(core, &mut chan);
        register(&mut chan.reader_waker, cx);
        progress
    }

    fn poll_write(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut chan = lock(&self.tx);
        if chan.reader_gone {
            if !core.output.is_empty() || core.wants_shutdown() {
                core.on_error(Error::Io {
                    side: Side::Writing,
                    source: io::Error::new(io::ErrorKind::BrokenPipe, "pair partner was dropped"),
                });
                return true;
            }
            return false;
        }
        // a flush pushes regardless of the partner's room (statement 68);
        // otherwise the limits are asked only when the partner has room
        let room = if core.is_forced() {
            usize::MAX
        } else {
            chan.room
        };
        let n = core.write_budget_upto(room, now);
        let mut progress = Self::transfer(core, &mut chan, n, now) > 0;
        if core.wants_shutdown() {
            Self::finish(core, &mut chan);
            progress = true;
        }
        if !core.output.is_empty() {
            register(&mut chan.writer_waker, cx);
        }
        progress
    }

    /// Statement 68: `Normal` is a no-op; `Flush`/`Finished` move all the
    /// output now, even with writing (or the partner's reading) disabled.
    /// The partner's input still never exceeds its bound: what it has no
    /// room for waits in the channel. `Finished` then gives the partner EOF
    /// (statement 69). A rate limit or max single write still applies: what
    /// it holds back follows as the limit allows (the flush stays in force),
    /// and EOF comes after it.
    fn flush(&mut self, core: &mut Core, mode: FlushMode, now: Instant) -> Result<bool, Error> {
        if mode == FlushMode::Normal {
            return Ok(false);
        }
        let mut chan = lock(&self.tx);
        if chan.reader_gone {
            return Err(Error::Closed);
        }
        let pending = !core.output.is_empty();
        let n = core.write_budget_upto(usize::MAX, now);
        Self::transfer(core, &mut chan, n, now);
        if mode == FlushMode::Finished && core.output.is_empty() {
            Self::finish(core, &mut chan);
        }
        Ok(pending)
    }

    /// libevent moves the bytes to the partner inside `bufferevent_write`
    /// when the partner reads: so does this, within the room the partner
    /// published (its input bound), so that bytes written just before a
    /// drop are already on their way.
    fn after_write(&mut self, core: &mut Core, now: Instant) {
        let mut chan = lock(&self.tx);
        if chan.reader_gone || chan.eof {
            return;
        }
        let room = if core.is_forced() {
            usize::MAX
        } else {
            chan.room
        };
        let n = core.write_budget_upto(room, now);
        Self::transfer(core, &mut chan, n, now);
    }

    /// What is still in the output goes to the partner (which reads it
    /// before the `EOF` the drop gives it): a pair never loses written
    /// bytes. Its input bound still holds: what it has no room for waits in
    /// the channel, which is memory the output held until now.
    fn on_free(&mut self, core: &mut Core) {
        if core.output.is_empty() || core.write_half() != crate::core::state::HalfState::Open {
            return;
        }
        let mut chan = lock(&self.tx);
        if chan.reader_gone || chan.eof {
            return;
        }
        let n = core.output.len();
        unfrozen(&mut core.output, End::Front, |out| {
            out.remove_into(&mut chan.buf, n).unwrap_or(0)
        });
        wake(&mut chan.reader_waker);
    }

    fn on_enable_change(&mut self, core: &mut Core) {
        let mut chan = lock(&self.rx);
        Self::publish_room(core, &mut chan);
    }

    fn partner(&self) -> Option<Handle> {
        if lock(&self.tx).reader_gone {
            return None;
        }
        self.partner.upgrade().map(Handle::new)
    }
}

impl Drop for PairBackend {
    fn drop(&mut self) {
        {
            let mut chan = lock(&self.tx);
            chan.eof = true;
            wake(&mut chan.reader_waker);
        }
        let mut chan = lock(&self.rx);
        chan.reader_gone = true;
        chan.buf.clear();
        wake(&mut chan.writer_waker);
    }
}

impl BufferEvent {
    /// Two bufferevents connected to each other in memory
    /// (`bufferevent_pair_new`): what one writes the other reads, with
    /// watermarks and backpressure in both directions. The ends are `Send`
    /// and may be driven by different tasks or threads. Dropping one end
    /// gives the other `EOF|READING` once it has read everything that was
    /// transferred (libevent gives nothing: #93).
    ///
    /// ```
    /// use bufferevent::{BufferEvent, Dir, Options};
    /// let (a, b) = BufferEvent::pair(Options::default());
    /// assert_eq!(a.enabled(), Dir::WRITE);
    /// assert!(a.partner().is_some());
    /// drop(b);
    /// assert!(a.partner().is_none());
    /// ```
    pub fn pair(options: Options) -> (BufferEvent, BufferEvent) {
        let ab = Arc::new(Mutex::new(Chan::default()));
        let ba = Arc::new(Mutex::new(Chan::default()));
        let ca = crate::bufferevent::Commands::new();
        let cb = crate::bufferevent::Commands::new();
        let options = options | Options::DEFER_CALLBACKS;
        let mut a = BufferEvent::from_backend(
            Box::new(PairBackend {
                tx: ab.clone(),
                rx: ba.clone(),
                partner: cb.tx.downgrade(),
            }),
            options,
        );
        let mut b = BufferEvent::from_backend(
            Box::new(PairBackend {
                tx: ba,
                rx: ab,
                partner: ca.tx.downgrade(),
            }),
            options,
        );
        a.core.freeze_transport_ends();
        b.core.freeze_transport_ends();
        a.commands = Some(ca);
        b.commands = Some(cb);
        (a, b)
    }
}
