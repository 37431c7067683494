//! The filter backend: a bufferevent over another bufferevent, with an
//! input and an output [`Filter`] (libevent's `bufferevent_filter_new`,
//! statements 55-64).
//!
//! The filter owns its underlying bufferevent and drives it: polling the
//! filter's read side polls the underlying's read side and then runs the
//! input filter from the underlying's input into the filter's input;
//! polling the write side runs the output filter from the filter's output
//! into the underlying's output and then polls the underlying's write side.
//! Stacks (filter over filter over socket) are this, recursively. The
//! underlying's events are taken here, not given to a user callback.
//!
//! Better than libevent, on purpose:
//! * a filter `Err` is an `ERROR|READING` / `ERROR|WRITING` event with the
//!   error kept (libevent ignores `BEV_ERROR`: statement 60, #107/#172);
//! * underlying EOF calls the input filter once with `Finished` before the
//!   filter reports `EOF|READING` (statement 62);
//! * an idle filter gets no write timeout (statement 45, #67);
//! * the input filter's `limit` is never unlimited: without a read high
//!   watermark it is the room below the default input bound (libevent passes
//!   -1: statement 56), so a peer cannot grow the input past its bound;
//! * input held back by that limit, in the underlying's input or inside the
//!   input filter ([`Filter::wants_write`]), is filtered again as soon as the
//!   user drains, without new network input (statement 57), for the default
//!   bound as for a read high watermark;
//! * a graceful close drains through every layer (#616), and waits for an
//!   output filter that still has something to say after `Finished` (a TLS
//!   filter whose handshake is still running: its buffered plaintext and
//!   `close_notify` go out once the handshake completes, and only then is
//!   the underlying finished).

use std::task::{Context, Waker};
use std::time::Instant;

use super::{Backend, Kind};
use crate::core::state::{Core, HalfState};
use crate::{
    BufferEvent, Error, Events, Filter, FilterEvent, FilterStatus, FlushMode, Options, Side,
};

/// Calls of the output filter per step, so that a filter that always
/// wants to write cannot spin forever.
const MAX_CALLS: usize = 1024;

pub(crate) struct FilterBackend {
    under: BufferEvent,
    input: Box<dyn Filter>,
    output: Box<dyn Filter>,
    /// Underlying input length when the input filter last said `NeedMore`:
    /// it is not called again until that changes.
    in_need_more_at: Option<usize>,
    /// The underlying reached EOF.
    under_eof: bool,
    /// The input filter failed.
    in_failed: bool,
    /// The output filter failed.
    out_failed: bool,
    /// The output filter saw `Finished`.
    out_finished: bool,
    /// The output filter saw `Finished` but still wants to write (a TLS
    /// close held back by the handshake): the underlying is finished once
    /// it no longer does. Meanwhile the filter reads from the underlying
    /// (even with reading disabled) so that the handshake can complete.
    close_waits: bool,
    /// The last tasks that polled each direction. A direction that drives
    /// the other's transport (the read side pushing output made without a
    /// user write, the write side reading for a pending close) takes over
    /// that transport's readiness registration, so it wakes the other
    /// direction's task afterwards (they differ after `tokio::io::split`).
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// A filter reported [`FilterEvent::Eof`].
    filter_eof: bool,
    /// Output made without a write from the user (construction, a
    /// `wants_write` hook) is pending below: the read side drives the
    /// underlying's write side until it is out.
    push_below: bool,
    /// The filter's read limit stopped the input filter.
    in_limited: bool,
    /// What the current read allowance still lets the input filter produce.
    in_allowance: usize,
    /// Produced under the current allowance, not yet reported.
    in_unreported: usize,
    /// The filter's write limit or the room below held back part of a
    /// `Finished`: the output filter has not seen the mode yet.
    out_deferred: bool,
    /// A `Flush` not delivered yet: the room below the underlying's bound
    /// (or the write limit) held back part of the output. Every later run
    /// of the output filter is a `Flush` until one leaves the output empty.
    flush_pending: bool,
}

/// What one [`FilterBackend::process_output`] run did.
#[derive(Clone, Copy, Debug, Default)]
struct OutRun {
    /// A call returned `Ok` (what `flush` reports: statement 63).
    ok: bool,
    /// Bytes moved (consumed or produced), or the filter failed: progress
    /// for the driver. (A filter may return `Ok` without doing anything.)
    moved: bool,
}

/// Why the input loop stopped.
#[derive(PartialEq, Eq)]
enum InStop {
    /// Nothing left, or the filter needs more, or made no progress.
    Drained,
    /// The filter's input is full or reading is disabled: wait for the user.
    Blocked,
    /// The filter failed.
    Failed,
}

impl FilterBackend {
    /// Takes the underlying's events and reflects them on the filter
    /// (libevent's `be_filter_eventcb` forwards them verbatim; EOF is held
    /// back until the input filter has seen `Finished`).
    fn forward_events(&mut self, core: &mut Core) -> bool {
        let ev = self.under.core.take_events();
        if ev.is_empty() {
            return false;
        }
        if ev.contains(Events::EOF) {
            self.under_eof = true;
        }
        if ev.contains(Events::ERROR) {
            match self.under.core.take_error() {
                Some(e) => core.on_error(e),
                None => core.trigger_event(ev & !(Events::EOF)),
            }
        }
        let rest = ev & !(Events::EOF | Events::ERROR);
        let rest = if ev.contains(Events::ERROR) {
            rest & !(Events::READING | Events::WRITING)
        } else if ev.contains(Events::EOF) {
            rest & !Events::READING
        } else {
            rest
        };
        if rest.contains(Events::CONNECTED) {
            core.trigger_event(Events::CONNECTED);
        }
        let rest = rest - Events::CONNECTED;
        if !rest.is_empty() {
            core.trigger_event(rest);
        }
        true
    }

    /// Takes the events both filters raised (`Filter::take_event`).
    fn drain_filter_events(&mut self, core: &mut Core) {
        for f in [&mut self.input, &mut self.output] {
            while let Some(ev) = f.take_event() {
                match ev {
                    FilterEvent::Connected => core.trigger_event(Events::CONNECTED),
                    FilterEvent::Eof => self.filter_eof = true,
                }
            }
        }
    }

    /// Lets the underlying read only while the filter wants more input
    /// (libevent's `BEV_SUSPEND_FILT_READ`).
    /// While the filter's own read limit holds it back, the underlying stops
    /// reading too, so that the transport's backpressure works.
    fn sync_suspend(&mut self, core: &mut Core) {
        self.sync_backlog(core);
        let want = (core.wants_read() || self.reads_for_close(core))
            && !core.input_full()
            && !self.in_limited;
        self.under.core.set_suspended_by_filter(!want);
    }

    /// Tells the core whether the stack's output backlog is at its bound:
    /// this output plus every output below at the write high watermark in
    /// force, or an output below at its own bound. The callback face pauses
    /// reading on it ([`Core::backlogged`]).
    fn sync_backlog(&self, core: &mut Core) {
        let (below, below_full) = self.lower_backlog();
        core.set_backlog_below(
            below_full || core.output.len().saturating_add(below) >= core.write_high(),
        );
    }

    /// Room below the underlying's write high watermark in force (its
    /// default bound when none is set).
    fn under_room(&self) -> usize {
        self.under
            .core
            .write_high()
            .saturating_sub(self.under.core.output.len())
    }

    /// Bytes the transport at the bottom of the stack has written.
    fn bottom_written(&self) -> u64 {
        self.under.backend.wire_written(&self.under.core)
    }

    /// Whether the filter reads although the user does not: a close waits
    /// for the output filter (a TLS handshake must complete first).
    fn reads_for_close(&self, core: &Core) -> bool {
        self.close_waits && core.read_half() == HalfState::Open && !self.in_failed
    }

    /// Runs the input filter (statements 56, 57, 62).
    fn process_input(&mut self, core: &mut Core, now: Instant) -> bool {
        if self.in_failed || core.read_half() != HalfState::Open {
            return false;
        }
        let before_total = core.input.len();
        let mut progress = false;
        // A rate limit on the filter counts the bytes its input filter
        // produces; it is asked only when there is input to filter, and
        // again (after reporting) each time an allowance is used up. An
        // allowance lasts until the end of the drive step (`report_input`),
        // so that the underlying's read in between can fill it.
        let limited = core.limited();
        self.in_limited = false;
        let stop = loop {
            let reading = core.enabled().contains(crate::Dir::READ) || self.close_waits;
            // The callback face's pause on the output backlog: what is
            // already read below waits too, or a read callback that echoes
            // would be fed from it while the peer does not read.
            let paused = core.backlogged() && !self.close_waits;
            if !reading || paused || core.input_full() {
                break InStop::Blocked;
            }
            let src_len = self.under.core.input.len();
            // Input the filter holds itself (a `Chain` whose first stage
            // took all of the underlying's input while the limit held the
            // last one back) is waiting input too: it is run over it once
            // the user drained, although the underlying's input is empty
            // and no new network input comes (statement 57).
            if (src_len == 0 && !self.input.wants_write()) || self.in_need_more_at == Some(src_len)
            {
                break InStop::Drained;
            }
            // Statement 56: the room below the read high watermark. Without
            // one libevent passes -1 (unlimited); here the default input
            // bound stands in for it, so that one call cannot grow the input
            // without bound (an inflate filter fed a bomb, a pass-through fed
            // a full underlying input).
            let mut limit = Some(core.input_room());
            if limited {
                if self.in_allowance == 0 {
                    self.report_input(core, now);
                    self.in_allowance = core.read_quota(limit.unwrap_or(usize::MAX), now);
                    if self.in_allowance == 0 {
                        // suspended until the core's read retry instant
                        self.in_limited = true;
                        break InStop::Blocked;
                    }
                }
                let allowance = self.in_allowance;
                limit = Some(limit.map_or(allowance, |l| l.min(allowance)));
            }
            let dst_before = core.input.len();
            let res = self.input.process(
                &mut self.under.core.input,
                &mut core.input,
                limit,
                FlushMode::Normal,
            );
            self.drain_filter_events(core);
            let produced = core.input.len().saturating_sub(dst_before);
            if limited {
                self.in_allowance = self.in_allowance.saturating_sub(produced);
                self.in_unreported += produced;
            }
            match res {
                Ok(FilterStatus::Ok) => {
                    self.in_need_more_at = None;
                    progress = true;
                    if self.under.core.input.len() == src_len && core.input.len() == dst_before {
                        break InStop::Drained;
                    }
                }
                Ok(FilterStatus::NeedMore) => {
                    self.in_need_more_at = Some(self.under.core.input.len());
                    progress |= self.under.core.input.len() != src_len;
                    break InStop::Drained;
                }
                Err(e) => {
                    self.fail_input(core, e);
                    break InStop::Failed;
                }
            }
        };
        let mut finished = false;
        if stop == InStop::Drained && self.under_eof {
            finished = true;
            let dst_before = core.input.len();
            let res = self.input.process(
                &mut self.under.core.input,
                &mut core.input,
                None,
                FlushMode::Finished,
            );
            self.drain_filter_events(core);
            if limited {
                self.in_unreported += core.input.len().saturating_sub(dst_before);
            }
            match res {
                Ok(_) => {}
                Err(e) => {
                    self.fail_input(core, e);
                    finished = false;
                }
            }
        }
        let produced = core.input.len().saturating_sub(before_total);
        core.on_input(produced, now);
        if self.filter_eof && !self.in_failed {
            // a clean end inside the filter (TLS close_notify)
            finished = true;
        }
        if finished {
            core.on_eof();
            progress = true;
        }
        progress || produced > 0
    }

    /// Tells the filter's limits what the input filter produced under the
    /// current allowance, and ends the allowance.
    fn report_input(&mut self, core: &mut Core, now: Instant) {
        core.report_read(std::mem::take(&mut self.in_unreported), now);
        self.in_allowance = 0;
    }

    fn fail_input(&mut self, core: &mut Core, e: crate::FilterError) {
        tracing::debug!(error = %e, "input filter failed");
        self.in_failed = true;
        core.on_error(Error::Filter {
            side: Side::Reading,
            source: e,
        });
    }

    fn under_output_full(&self) -> bool {
        self.under.core.output_full()
    }

    /// Runs the output filter (statements 58, 59, 61). Returns whether a
    /// call returned `Ok`.
    ///
    /// Every call's `limit` is the room below the underlying's write high
    /// watermark in force (its default bound when none is set), for a
    /// `Flush` or `Finished` too, where libevent passes -1 (unlimited): one
    /// flush cannot grow the underlying's output past its bound (an
    /// expanding filter, or an echo that flushes everything it writes to a
    /// peer that does not read). With no room nothing is called. What the
    /// room holds back goes on as the underlying drains, and the mode goes
    /// with it: a `Flush` stays pending (`flush_pending`) and every later
    /// run is a `Flush` until one leaves the output empty; `Finished`
    /// reaches the filter once, after `Normal` calls have consumed the
    /// output (`out_deferred`), so trailers never overtake data.
    ///
    /// A rate limit on the filter counts the bytes the output filter
    /// consumes. It is asked before each call that has output to consume
    /// (again, after reporting, each time an allowance is used up) and its
    /// allowance cuts the `limit` down; while it holds output back, the
    /// calls are `Normal` and the mode waits the same way.
    ///
    /// After `Finished` the filter is called again (with `Normal`) only
    /// while it [wants to write](Filter::wants_write): what it could not
    /// send yet (a TLS close during the handshake, or output held back by
    /// the room).
    ///
    /// Consumed bytes are counted ([`Core::on_consumed`]) but do not
    /// restart the write timeout: only the transport at the bottom writing
    /// does (see `poll_write`).
    fn process_output(&mut self, core: &mut Core, mode: FlushMode, now: Instant) -> OutRun {
        self.out_deferred = false;
        let mut run = OutRun::default();
        if self.out_failed || core.write_half() == HalfState::Failed {
            self.flush_pending = false;
            return run;
        }
        let mode = if self.out_finished {
            self.flush_pending = false;
            if !self.output.wants_write() {
                return run;
            }
            FlushMode::Normal
        } else if mode == FlushMode::Normal && self.flush_pending {
            FlushMode::Flush
        } else {
            mode
        };
        if mode == FlushMode::Normal
            && ((!core.enabled().contains(crate::Dir::WRITE)
                && !core.is_forced()
                && !self.close_waits)
                || (core.output.is_empty() && !self.output.wants_write())
                || self.under_output_full())
        {
            return run;
        }
        let limited = core.limited();
        let mut allowance = 0usize;
        let mut unreported = 0usize;
        let under_before = self.under.core.output.len();
        // A forced mode is delivered by a call in that mode that leaves
        // the output empty.
        let mut delivered = mode == FlushMode::Normal;
        // A `Normal` call standing in for `Finished` moved nothing although
        // there was room: the filter holds its source back for a reason of
        // its own (a TLS handshake still running).
        let mut held = false;
        for _ in 0..MAX_CALLS {
            let room = self.under_room();
            if room == 0 {
                break;
            }
            let mut limit = room;
            // `Finished` reaches the filter once, with nothing left to
            // consume: until then the output goes through `Normal` calls
            // (unless the filter holds it back itself).
            let mut call_mode = if mode == FlushMode::Finished && !core.output.is_empty() && !held {
                FlushMode::Normal
            } else {
                mode
            };
            if limited && !core.output.is_empty() {
                if allowance == 0 {
                    core.on_consumed(std::mem::take(&mut unreported), now);
                    allowance = core.write_quota(core.output.len(), now);
                    if allowance == 0 {
                        // suspended until the core's write retry instant
                        break;
                    }
                }
                limit = limit.min(allowance);
                if allowance < core.output.len() {
                    call_mode = FlushMode::Normal;
                }
            }
            let src_before = core.output.len();
            let dst_before = self.under.core.output.len();
            let res = self.output.process(
                &mut core.output,
                &mut self.under.core.output,
                Some(limit),
                call_mode,
            );
            self.drain_filter_events(core);
            let consumed = src_before.saturating_sub(core.output.len());
            let added = self.under.core.output.len() != dst_before;
            allowance = allowance.saturating_sub(consumed);
            unreported += consumed;
            run.moved |= consumed > 0 || added;
            match res {
                Ok(FilterStatus::Ok) => run.ok = true,
                Ok(FilterStatus::NeedMore) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "output filter failed");
                    run.moved = true;
                    self.out_failed = true;
                    core.on_error(Error::Filter {
                        side: Side::Writing,
                        source: e,
                    });
                    break;
                }
            }
            let progressed = consumed > 0 || added;
            if call_mode == mode && (mode == FlushMode::Finished || core.output.is_empty()) {
                delivered = true;
            }
            if !delivered
                && mode == FlushMode::Finished
                && !progressed
                && !held
                && !core.output.is_empty()
            {
                // The filter holds its source back itself: it gets
                // `Finished` now, as libevent's filters do, and finishes
                // later ([`Filter::wants_write`], `close_waits`).
                held = true;
                continue;
            }
            if res.is_ok_and(|st| st == FilterStatus::NeedMore)
                && (delivered || !core.output.is_empty())
            {
                break;
            }
            let more_src = consumed > 0 && !core.output.is_empty();
            let more_records = added && self.output.wants_write();
            // the held-back mode, once the output is consumed
            let deliver = !delivered && progressed;
            if !more_src && !more_records && !deliver {
                break;
            }
        }
        core.on_consumed(unreported, now);
        if !self.out_failed {
            match mode {
                FlushMode::Flush => self.flush_pending = !delivered,
                FlushMode::Finished => self.out_deferred = !delivered,
                FlushMode::Normal => {}
            }
        }
        if mode == FlushMode::Finished && !self.out_failed && !self.out_deferred {
            self.out_finished = true;
            self.flush_pending = false;
            // still something to say (a TLS close during the handshake)
            self.close_waits = self.output.wants_write();
        }
        if self.under.core.output.len() != under_before {
            // What we pushed is a write on the underlying: a filter below
            // runs its own output filter now.
            self.under.backend.after_write(&mut self.under.core, now);
        }
        self.sync_backlog(core);
        run
    }
}

impl Backend for FilterBackend {
    fn kind(&self) -> Kind {
        Kind::Filter
    }

    fn poll_read(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        remember(&mut self.read_waker, cx);
        // Data stuck in the underlying input behind our high watermark is
        // processed first, without new network input (statement 57).
        let mut progress = self.process_input(core, now);
        self.sync_suspend(core);
        progress |= self.under.poll_read_side(cx);
        progress |= self.forward_events(core);
        progress |= self.process_input(core, now);
        self.report_input(core, now);
        self.sync_suspend(core);
        // Reading may have made the output filter want to write (a TLS
        // handshake answer): send it now, even if nobody polls for writing.
        if self.output.wants_write() {
            progress |= self.process_output(core, FlushMode::Normal, now).moved;
            self.push_below = true;
        }
        progress |= self.continue_close(core, now);
        // What such a hook produced (or the output filter at construction:
        // a TLS ClientHello) may already have moved further down than the
        // underlying's output when that is a filter too: drive the layers
        // below until it is all out (a TLS filter stacked on another filter).
        if self.push_below {
            if self.under.output_pending() {
                let written = self.bottom_written();
                progress |= self.under.poll_write_side(cx);
                progress |= self.forward_events(core);
                if self.bottom_written() != written {
                    core.note_write_progress(now);
                }
                wake_other(&mut self.write_waker, cx);
                self.sync_suspend(core);
            }
            self.push_below = self.under.output_pending();
        }
        if !progress
            && core.input.is_empty()
            && core.output.is_empty()
            && self.under.core.input.is_empty()
        {
            // Quiet (the socket below gave its own buffers back already).
            core.shed_buffers();
        }
        progress
    }

    fn poll_write(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        remember(&mut self.write_waker, cx);
        let mut progress = false;
        for _ in 0..4 {
            if self.close_waits {
                // The close waits for the output filter (a TLS handshake):
                // read its answer even if nobody polls for reading.
                progress |= self.under.poll_read_side(cx);
                progress |= self.forward_events(core);
                progress |= self.process_input(core, now);
                self.report_input(core, now);
                self.sync_suspend(core);
                wake_other(&mut self.read_waker, cx);
            }
            progress |= self.process_output(core, FlushMode::Normal, now).moved;
            if core.wants_shutdown() && !self.out_finished {
                // (a `Finished` held back by the room below is no progress)
                self.finish(core, now);
                progress |= self.out_finished;
            }
            progress |= self.continue_close(core, now);
            // The write timeout runs until the transport at the bottom
            // writes: bytes merely moved into the outputs below do not
            // restart it (a peer that does not read is dropped at the
            // timeout, whatever the filters still move).
            let written = self.bottom_written();
            let under_progress = self.under.poll_write_side(cx);
            progress |= self.forward_events(core);
            if self.bottom_written() != written {
                core.note_write_progress(now);
            }
            progress |= under_progress;
            // Loop again only if the underlying made room for more, and
            // there is more: output, a pending flush, or output the filter
            // held back.
            let more = !core.output.is_empty() || self.flush_pending || self.output.wants_write();
            if !under_progress || !more || self.under_output_full() {
                break;
            }
        }
        // What the underlying's last write made room for goes down now:
        // after this step, output the filter held back is either below or
        // waiting for room there (pending output for the drivers), unless
        // the filter holds it for a reason of its own (a TLS handshake).
        if (self.flush_pending || self.output.wants_write() || !core.output.is_empty())
            && !self.under_output_full()
        {
            progress |= self.process_output(core, FlushMode::Normal, now).moved;
        }
        self.sync_suspend(core);
        if core.write_half() == HalfState::Open
            && self.out_finished
            && !self.close_waits
            && core.output.is_empty()
            && !self.under.core.accepts_writes()
        {
            core.on_shutdown();
        }
        progress
    }

    fn after_write(&mut self, core: &mut Core, now: Instant) {
        self.process_output(core, FlushMode::Normal, now);
    }

    /// Statement 61/63: run the output filter with `mode` (even with an
    /// empty output for `Flush`/`Finished`), then flush the underlying with
    /// the same mode.
    fn flush(&mut self, core: &mut Core, mode: FlushMode, now: Instant) -> Result<bool, Error> {
        let ok = self.process_output(core, mode, now).ok;
        if mode == FlushMode::Finished {
            self.finish(core, now);
            return Ok(ok);
        }
        if mode.is_forced() {
            let _ = self.under.flush(mode);
        }
        Ok(ok)
    }

    /// Includes a close waiting for the output filter (its data and
    /// trailer are output not yet sent, so a write timeout bounds the
    /// wait) and a `Flush` held back by the room below. Output the filter
    /// holds back because the room below ran out ([`Filter::wants_write`])
    /// is pending through the underlying's full output: `poll_write` ends
    /// by moving it down whenever there is room.
    fn lower_output_pending(&self) -> bool {
        self.close_waits || self.flush_pending || self.under.output_pending()
    }

    /// The underlying's output and everything below it.
    fn lower_backlog(&self) -> (usize, bool) {
        let (below, below_full) = self.under.backend.lower_backlog();
        (
            self.under.core.output.len().saturating_add(below),
            below_full || self.under.core.output_full(),
        )
    }

    fn wire_written(&self, _core: &Core) -> u64 {
        self.bottom_written()
    }

    fn lower_suspended(&self) -> crate::Dir {
        self.under.core.rate_suspended() | self.under.backend.lower_suspended()
    }

    fn write_finished(&self, core: &Core) -> bool {
        core.write_half() != HalfState::Open && self.under.is_write_finished()
    }

    /// Enabling a direction on the filter enables it on the underlying too
    /// (libevent's `be_filter_enable`), so that an underlying disabled by its
    /// own timeout or EOF handling is restarted by the user's `enable`.
    /// Disabling reading only suspends the underlying's reading.
    fn on_enable_change(&mut self, core: &mut Core) {
        let missing = (core.enabled() & crate::Dir::BOTH) - self.under.enabled();
        if !missing.is_empty() {
            self.under.enable(missing);
        }
        self.sync_suspend(core);
    }

    fn underlying(&self) -> Option<&BufferEvent> {
        Some(&self.under)
    }

    fn underlying_mut(&mut self) -> Option<&mut BufferEvent> {
        Some(&mut self.under)
    }

    fn into_underlying(self: Box<Self>) -> Option<BufferEvent> {
        let mut under = self.under;
        under.core.set_suspended_by_filter(false);
        Some(under)
    }

    fn may_progress(&self) -> bool {
        self.under.backend.may_progress() || self.under.core.is_connecting()
    }
}

impl FilterBackend {
    /// `Finished` on the output side: everything through the output filter
    /// with `Finished`, then `flush(Finished)` on the underlying, which shuts
    /// its transport's write side once drained.
    ///
    /// While the filter's write limit holds output back, nothing is
    /// finished yet: the driver calls this again once the output is gone.
    /// While the output filter still wants to write after `Finished` (a TLS
    /// close during the handshake), the underlying is not finished yet:
    /// [`continue_close`](Self::continue_close) does it once the filter is
    /// done (libevent cannot: its TLS bufferevent is not a filter, and its
    /// filters are never called again after `BEV_FINISHED`).
    fn finish(&mut self, core: &mut Core, now: Instant) {
        if !self.out_finished {
            self.process_output(core, FlushMode::Finished, now);
            if self.out_deferred && !self.out_failed {
                return;
            }
            self.out_finished = true;
        }
        if self.close_waits {
            tracing::trace!("close waits for the output filter");
            self.sync_suspend(core);
            return;
        }
        self.finish_below(core);
    }

    /// The output filter has nothing more to say: finish the underlying.
    fn finish_below(&mut self, core: &mut Core) {
        if self.under.core.accepts_writes() {
            let _ = self.under.flush(FlushMode::Finished);
        }
        if core.output.is_empty() || self.out_failed {
            core.on_shutdown();
        }
    }

    /// A close waiting for the output filter: call it again, and finish the
    /// underlying once it no longer wants to write (or failed). Returns
    /// whether anything changed.
    fn continue_close(&mut self, core: &mut Core, now: Instant) -> bool {
        if !self.close_waits {
            return false;
        }
        let progress = self.process_output(core, FlushMode::Normal, now).moved;
        if self.out_failed || core.write_half() == HalfState::Failed || !self.output.wants_write() {
            self.close_waits = false;
            self.sync_suspend(core);
            tracing::trace!("output filter done after Finished; finishing the underlying");
            self.finish_below(core);
            return true;
        }
        progress
    }
}

/// Keeps `slot` pointing at the task polling with `cx`.
fn remember(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Wakes the task in `other` if it is not the one polling with `cx`: this
/// task just took over a readiness registration that task may wait on.
fn wake_other(other: &mut Option<Waker>, cx: &Context<'_>) {
    if let Some(w) = other.as_ref() {
        if !w.will_wake(cx.waker()) {
            w.wake_by_ref();
        }
    }
}

impl BufferEvent {
    /// A filter bufferevent over `underlying` (`bufferevent_filter_new`).
    ///
    /// `input` transforms what the underlying reads before it reaches this
    /// bufferevent's input; `output` transforms what is written here before
    /// it reaches the underlying's output. Pass [`PassThrough`](crate::PassThrough)
    /// for libevent's `NULL`. The filter owns the underlying (reach it with
    /// [`underlying`](BufferEvent::underlying), take it back with
    /// [`into_underlying`](BufferEvent::into_underlying)), enables both its
    /// directions and takes its events (statement 55). Filters stack.
    ///
    /// ```
    /// use bufferevent::{BufferEvent, Dir, Options, PassThrough, Kind};
    /// let (a, _b) = BufferEvent::pair(Options::default());
    /// let f = BufferEvent::filter(a, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    /// assert_eq!(f.kind(), Kind::Filter);
    /// assert_eq!(f.underlying().unwrap().enabled(), Dir::BOTH);
    /// ```
    pub fn filter(
        underlying: BufferEvent,
        input: impl Filter + 'static,
        output: impl Filter + 'static,
        options: Options,
    ) -> BufferEvent {
        let mut under = underlying;
        under.enable(crate::Dir::BOTH);
        let peer = under.traced_peer();
        let mut bev = BufferEvent::from_backend_traced(
            Box::new(FilterBackend {
                under,
                input: Box::new(input),
                output: Box::new(output),
                in_need_more_at: None,
                under_eof: false,
                in_failed: false,
                out_failed: false,
                out_finished: false,
                close_waits: false,
                read_waker: None,
                write_waker: None,
                filter_eof: false,
                push_below: true,
                in_limited: false,
                in_allowance: 0,
                in_unreported: 0,
                out_deferred: false,
                flush_pending: false,
            }),
            options,
            || peer,
        );
        // Reading is not enabled on a new filter: keep the underlying from
        // reading until it is.
        let core = &bev.core;
        let want = core.wants_read();
        if let Some(u) = bev.backend.underlying_mut() {
            u.core.set_suspended_by_filter(!want);
            u.backend.on_enable_change(&mut u.core);
        }
        // An output filter that speaks first (a TLS client's hello).
        let now = bev.core.clock(crate::bufferevent::now);
        bev.backend.after_write(&mut bev.core, now);
        bev
    }
}
