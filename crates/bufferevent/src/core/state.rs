//! The bufferevent state machine, with no I/O in it.
//!
//! [`Core`] holds the input and output evbuffers, the enabled directions,
//! watermarks, timeouts (as deadlines), the pending callbacks and events,
//! and the flush/shutdown state. Backends ask it how many bytes they may
//! read or write *now* and report what happened; the drivers ask it which
//! callbacks are due. Every method that depends on time takes `now`, so the
//! whole rule set is tested below on a simulated clock, with no runtime.

use std::time::{Duration, Instant};

use evbuffer::EvBuffer;

use ev_token_bucket::Direction;

use super::limit::{Limiter, Limits, Quota};
use super::stats::{Counters, Ending, PAUSE_INPUT, PAUSE_OUTPUT, PAUSE_RATE};
use super::timeout::Timeouts;
use super::watermark::{
    Watermark, Watermarks, DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT, DEFAULT_READ_SIZE,
};
use crate::{Dir, Error, Events, Side};

/// The state of one half of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HalfState {
    /// Still usable.
    Open,
    /// Finished normally: EOF read, or write side shut down.
    Done,
    /// Failed with an error.
    Failed,
}

/// A callback the driver must run, in the order libevent's deferred
/// callbacks run (statement 48): `CONNECTED` alone first, then read, then
/// write, then the other events OR-ed together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Callback {
    /// `readcb`.
    Read,
    /// `writecb`.
    Write,
    /// `eventcb(what)`.
    Event(Events),
}

/// Pending callbacks.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    read: bool,
    write: bool,
    events: Events,
}

/// Why reading is paused besides the user's `disable` (libevent's
/// `BEV_SUSPEND_*` reasons that apply here).
#[derive(Clone, Copy, Debug, Default)]
struct Suspend {
    /// A filter over this bufferevent has a full input.
    by_filter: bool,
    /// A connect is in progress.
    connecting: bool,
    /// The callback face drives this bufferevent: reading also waits while
    /// the output backlog is at or above the write high watermark in force
    /// ([`Core::backlogged`]).
    on_backlog: bool,
    /// For a filter: the output backlog of the whole stack (this output
    /// plus every output below) is at the write high watermark in force,
    /// or an output below is at its own bound. Kept by the filter backend
    /// ([`Core::set_backlog_below`]).
    backlog_below: bool,
}

/// The sans-IO state of one bufferevent.
pub(crate) struct Core {
    pub(crate) input: EvBuffer,
    pub(crate) output: EvBuffer,
    enabled: Dir,
    suspend: Suspend,
    /// Watermarks and sizes; `None` while all are at their defaults.
    config: Option<Box<Config>>,
    /// The timeouts; `None` until one is set, so that a connection without
    /// timeouts pays neither the memory nor a clock read per message.
    timeouts: Option<Box<Timeouts>>,
    pending: Pending,
    /// The error of the last `ERROR` event (boxed: rare, and large).
    error: Option<Box<Error>>,
    read_half: HalfState,
    write_half: HalfState,
    /// `flush(Finished)` was asked: shut the write side once output drains.
    finishing: bool,
    /// `flush(Flush|Finished)` was asked: write even while disabled, until
    /// the output drains.
    forced: bool,
    /// Rate limits and the custom limiter with their retry instants;
    /// `None` until one is set (nothing to pay for when unused).
    limits: Option<Box<LimitState>>,
    pub(crate) stats: Counters,
}

/// Watermarks and sizes, kept out of line: most bufferevents never change
/// them, and a connection should not pay for settings it does not use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    wm: Watermarks,
    read_size: usize,
    max_input: usize,
    max_output: usize,
    /// Largest single write (`bufferevent_set_max_single_write`); the
    /// largest single read is `read_size`.
    max_single_write: usize,
}

/// What a bufferevent without settings uses.
static DEFAULT_CONFIG: Config = Config {
    wm: Watermarks {
        read: Watermark { low: 0, high: 0 },
        write: Watermark { low: 0, high: 0 },
    },
    read_size: DEFAULT_READ_SIZE,
    max_input: DEFAULT_MAX_INPUT,
    max_output: DEFAULT_MAX_OUTPUT,
    max_single_write: usize::MAX,
};

/// The instant handed out when nothing depends on the time.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// The limits and when each suspended direction may retry.
#[derive(Default)]
pub(crate) struct LimitState {
    pub(crate) limits: Limits,
    read_retry_at: Option<Instant>,
    write_retry_at: Option<Instant>,
}

impl Default for Core {
    fn default() -> Self {
        Self::new()
    }
}

impl Core {
    /// A fresh state: writing enabled, reading not (statement 38).
    pub(crate) fn new() -> Self {
        Core {
            input: EvBuffer::new(),
            output: EvBuffer::new(),
            enabled: Dir::WRITE,
            suspend: Suspend::default(),
            config: None,
            timeouts: None,
            pending: Pending::default(),
            error: None,
            read_half: HalfState::Open,
            write_half: HalfState::Open,
            finishing: false,
            forced: false,
            limits: None,
            stats: Counters::default(),
        }
    }

    // ----- user-facing state -------------------------------------------

    pub(crate) fn enabled(&self) -> Dir {
        self.enabled
    }

    /// `bufferevent_enable`: also restarts the timeouts of `dir`.
    pub(crate) fn enable(&mut self, dir: Dir, now: Instant) {
        self.enabled |= dir & Dir::BOTH;
        self.restart_timeouts(dir, now);
    }

    /// `bufferevent_disable`: also cancels a pending read or write callback
    /// of that direction (libevent #1809: a disabled direction gets no
    /// further callback).
    pub(crate) fn disable(&mut self, dir: Dir) {
        self.enabled -= dir;
        if dir.contains(Dir::READ) {
            self.pending.read = false;
        }
        if dir.contains(Dir::WRITE) {
            self.pending.write = false;
        }
    }

    pub(crate) fn set_watermark(&mut self, dir: Dir, low: usize, high: usize) -> Result<(), Error> {
        if self.config.is_none() && low == 0 && high == 0 {
            return Ok(());
        }
        self.cfg_mut().wm.set(dir, low, high)
    }

    pub(crate) fn watermark(&self, dir: Dir) -> Result<Watermark, Error> {
        self.cfg().wm.get(dir)
    }

    pub(crate) fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) {
        if read.is_none() && write.is_none() {
            self.timeouts = None;
        } else {
            self.timeouts
                .get_or_insert_with(Default::default)
                .set(read, write);
        }
    }

    pub(crate) fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        self.timeouts.as_ref().map_or((None, None), |t| t.get())
    }

    /// Whether a timeout is set.
    #[inline]
    pub(crate) fn has_timeouts(&self) -> bool {
        self.timeouts.is_some()
    }

    fn restart_timeouts(&mut self, dir: Dir, now: Instant) {
        if let Some(t) = self.timeouts.as_mut() {
            t.restart(dir, now);
        }
    }

    /// Whether time matters to this bufferevent: a timeout is set or a
    /// limit may cut transfers down. When not, the drivers do not read the
    /// clock ([`clock`](Self::clock)).
    pub(crate) fn needs_clock(&self) -> bool {
        self.timeouts.is_some() || self.limits.as_ref().is_some_and(|l| l.limits.is_active())
    }

    /// The current time if [`needs_clock`](Self::needs_clock), else the
    /// last reading (which nothing then depends on).
    pub(crate) fn clock(&mut self, read: impl FnOnce() -> Instant) -> Instant {
        if self.needs_clock() {
            read()
        } else {
            *EPOCH.get_or_init(Instant::now)
        }
    }

    pub(crate) fn set_read_size(&mut self, n: usize) {
        self.cfg_mut().read_size = n.max(1);
    }

    pub(crate) fn read_size(&self) -> usize {
        self.cfg().read_size
    }

    /// The settings in force.
    #[inline]
    fn cfg(&self) -> &Config {
        self.config.as_deref().unwrap_or(&DEFAULT_CONFIG)
    }

    /// The settings, made explicit (boxed) on first change.
    fn cfg_mut(&mut self) -> &mut Config {
        self.config.get_or_insert_with(|| Box::new(DEFAULT_CONFIG))
    }

    /// 0 restores the default: no bound.
    pub(crate) fn set_max_single_write(&mut self, n: usize) {
        self.cfg_mut().max_single_write = if n == 0 { usize::MAX } else { n };
    }

    pub(crate) fn max_single_write(&self) -> usize {
        self.cfg().max_single_write
    }

    pub(crate) fn set_max_input(&mut self, n: usize) {
        self.cfg_mut().max_input = n.max(1);
    }

    pub(crate) fn set_max_output(&mut self, n: usize) {
        self.cfg_mut().max_output = n.max(1);
    }

    pub(crate) fn set_limiter(&mut self, limiter: Option<Box<dyn Limiter>>) {
        if limiter.is_none() && self.limits.is_none() {
            return;
        }
        self.limits().set_custom(limiter);
        self.clear_retry();
    }

    /// The rate limits and custom limiter (created on first use).
    pub(crate) fn limits(&mut self) -> &mut Limits {
        &mut self.limits.get_or_insert_with(Default::default).limits
    }

    /// The rate limits and custom limiter, if any was set.
    pub(crate) fn limits_ref(&self) -> Option<&Limits> {
        self.limits.as_ref().map(|l| &l.limits)
    }

    /// Whether a limit may cut transfers down.
    pub(crate) fn limited(&self) -> bool {
        self.limits.as_ref().is_some_and(|l| l.limits.is_active())
    }

    /// Forgets the retry instants: a limit changed, the next drive step
    /// asks again at once.
    pub(crate) fn clear_retry(&mut self) {
        if let Some(l) = self.limits.as_mut() {
            l.read_retry_at = None;
            l.write_retry_at = None;
        }
    }

    fn set_read_retry(&mut self, at: Option<Instant>) {
        if let Some(l) = self.limits.as_mut() {
            l.read_retry_at = at;
        }
    }

    fn set_write_retry(&mut self, at: Option<Instant>) {
        if let Some(l) = self.limits.as_mut() {
            l.write_retry_at = at;
        }
    }

    fn read_retry_at(&self) -> Option<Instant> {
        self.limits.as_ref().and_then(|l| l.read_retry_at)
    }

    fn write_retry_at(&self) -> Option<Instant> {
        self.limits.as_ref().and_then(|l| l.write_retry_at)
    }

    pub(crate) fn error(&self) -> Option<&Error> {
        self.error.as_deref()
    }

    pub(crate) fn take_error(&mut self) -> Option<Error> {
        self.error.take().map(|e| *e)
    }

    pub(crate) fn read_half(&self) -> HalfState {
        self.read_half
    }

    pub(crate) fn write_half(&self) -> HalfState {
        self.write_half
    }

    pub(crate) fn total_written(&self) -> u64 {
        self.stats.bytes_out
    }

    /// The read high watermark in force (the default bound if unset).
    pub(crate) fn read_high(&self) -> usize {
        let c = self.cfg();
        c.wm.read.high_or(c.max_input)
    }

    /// The write high watermark in force (the default bound if unset).
    pub(crate) fn write_high(&self) -> usize {
        let c = self.cfg();
        c.wm.write.high_or(c.max_output)
    }

    /// Whether the input is at or above the read high watermark in force.
    pub(crate) fn input_full(&self) -> bool {
        self.input.len() >= self.read_high()
    }

    /// Whether the output is at or above the write high watermark in force.
    pub(crate) fn output_full(&self) -> bool {
        self.output.len() >= self.write_high()
    }

    /// Room in the input below the read high watermark in force.
    pub(crate) fn input_room(&self) -> usize {
        self.read_high().saturating_sub(self.input.len())
    }

    /// Whether the user wants input: reading enabled, not ended, not
    /// paused by a connect or a filter above.
    pub(crate) fn wants_read(&self) -> bool {
        self.enabled.contains(Dir::READ)
            && self.read_half == HalfState::Open
            && !self.suspend.connecting
            && !self.suspend.by_filter
            && !self.backlogged()
    }

    /// Whether reading waits for the output to drain: the callback face
    /// drives this bufferevent and its output is at or above the write high
    /// watermark in force (default [`DEFAULT_MAX_OUTPUT`]). This is what
    /// bounds a callback that writes everything it reads to a peer that
    /// never reads (Netty's writability turning `autoRead` off); libevent
    /// has no such pause, its output grows without bound. The async face
    /// needs none: its `poll_write` waits instead.
    ///
    /// For a filter the backlog is the whole stack's: what it already
    /// moved into the outputs below counts too, so a filter that pushes
    /// everything down (a `Flush`) still pauses its reading.
    pub(crate) fn backlogged(&self) -> bool {
        self.suspend.on_backlog
            && (self.suspend.backlog_below || self.output.len() >= self.write_high())
    }

    /// The filter backend tells whether the stack's output backlog is at
    /// its bound ([`backlogged`](Self::backlogged)).
    pub(crate) fn set_backlog_below(&mut self, on: bool) {
        self.suspend.backlog_below = on;
    }

    /// Turns the pause of [`backlogged`](Self::backlogged) on (the callback
    /// face) or off.
    pub(crate) fn set_pause_on_backlog(&mut self, on: bool) {
        self.suspend.on_backlog = on;
    }

    /// A filter above pauses (or resumes) this bufferevent's reading
    /// (libevent's `BEV_SUSPEND_FILT_READ`).
    pub(crate) fn set_suspended_by_filter(&mut self, on: bool) {
        self.suspend.by_filter = on;
    }

    // ----- reading -----------------------------------------------------

    /// How many bytes the transport may read now (0 = do not read). Never
    /// more than the room below the read high watermark (statement 41),
    /// the read size, and what the limiter allows.
    pub(crate) fn read_budget(&mut self, now: Instant) -> usize {
        self.set_read_retry(None);
        if !self.wants_read() {
            return 0;
        }
        let want = self.input_room();
        self.read_quota(want, now)
    }

    /// How many of `want` bytes a transport that already knows what it can
    /// deliver (a pair's channel, a filter's underlying input) may move into
    /// the input now: at most the read size (libevent's max single read),
    /// cut down by the limits. 0 suspends reading until the retry instant
    /// kept for [`read_wakeup`](Self::read_wakeup).
    pub(crate) fn read_quota(&mut self, want: usize, now: Instant) -> usize {
        let want = want.min(self.cfg().read_size);
        let Some(l) = self.limits.as_mut() else {
            return want;
        };
        l.read_retry_at = None;
        if want == 0 || !l.limits.is_active() {
            return want;
        }
        let Quota { bytes, retry_at } = l.limits.quota(Direction::Read, want, now);
        if bytes == 0 {
            l.read_retry_at = retry_at;
        }
        bytes.min(want)
    }

    /// `n > 0` bytes were appended to the input by the transport.
    /// Schedules the read callback if the input reached the read low
    /// watermark (statement 40). A read callback is only ever scheduled
    /// here, on new data, or by an explicit trigger: never because the input
    /// is still full after a callback (statement 42, libevent #891).
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) {
        self.report_read(n, now);
        self.on_input(n, now);
    }

    /// [`on_read`](Self::on_read) without telling the limits: for a
    /// transport that reports to them once per quota
    /// ([`report_read`](Self::report_read)).
    pub(crate) fn on_input(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        self.stats.bytes_in += n as u64;
        self.restart_timeouts(Dir::READ, now);
        if self.enabled.contains(Dir::READ) && self.input.len() >= self.cfg().wm.read.low {
            self.pending.read = true;
        }
    }

    /// Tells the limits that `n > 0` bytes were read under the last read
    /// quota. Reporting less than the quota gives the rest of a group
    /// share to the other members; a transport that read nothing (the
    /// socket had nothing yet) reports nothing and keeps its share until
    /// the end of the tick.
    pub(crate) fn report_read(&mut self, n: usize, now: Instant) {
        if n > 0 {
            if let Some(l) = self.limits.as_mut().filter(|l| l.limits.is_active()) {
                l.limits.consumed(Direction::Read, n, now);
            }
        }
    }

    /// The transport reached end of file: `EOF|READING`, reading disabled,
    /// the input kept (statement 46).
    pub(crate) fn on_eof(&mut self) {
        if self.read_half != HalfState::Open {
            return;
        }
        self.read_half = HalfState::Done;
        self.enabled -= Dir::READ;
        self.pending.events |= Events::EOF | Events::READING;
        self.stats.ending(Ending::Eof);
    }

    /// `bufferevent_trigger(EV_READ)`: schedules the read callback if the
    /// input reaches the low watermark, or regardless with
    /// `ignore_watermarks` (statement 50).
    pub(crate) fn trigger_read(&mut self, ignore_watermarks: bool) {
        if ignore_watermarks || self.input.len() >= self.cfg().wm.read.low {
            self.pending.read = true;
        }
    }

    /// `bufferevent_trigger(EV_WRITE)`.
    pub(crate) fn trigger_write(&mut self, ignore_watermarks: bool) {
        if ignore_watermarks || self.output.len() <= self.cfg().wm.write.low {
            self.pending.write = true;
        }
    }

    /// `bufferevent_trigger_event(what)`: passed verbatim (statement 50).
    pub(crate) fn trigger_event(&mut self, what: Events) {
        self.pending.events |= what;
    }

    // ----- writing -----------------------------------------------------

    /// How many bytes of the output the transport may write now (0 = do not
    /// write): output pending, writing enabled (or a flush forcing it), the
    /// write half open, and what the limiter allows.
    pub(crate) fn write_budget(&mut self, now: Instant) -> usize {
        self.write_budget_upto(usize::MAX, now)
    }

    /// [`write_budget`](Self::write_budget), at most `cap` bytes (what the
    /// transport has room for: the limits are not asked when it has none).
    pub(crate) fn write_budget_upto(&mut self, cap: usize, now: Instant) -> usize {
        self.set_write_retry(None);
        if self.write_half != HalfState::Open || self.suspend.connecting || self.output.is_empty() {
            return 0;
        }
        if !self.enabled.contains(Dir::WRITE) && !self.forced {
            return 0;
        }
        let want = self.output.len().min(cap);
        self.write_quota(want, now)
    }

    /// How many of `want` bytes of the output may be written now: at most
    /// the max single write, cut down by the limits. 0 suspends writing
    /// until the retry instant kept for [`write_wakeup`](Self::write_wakeup).
    /// The filter backend calls it directly; it checks no other state.
    pub(crate) fn write_quota(&mut self, want: usize, now: Instant) -> usize {
        let want = want.min(self.cfg().max_single_write);
        let Some(l) = self.limits.as_mut() else {
            return want;
        };
        l.write_retry_at = None;
        if want == 0 || !l.limits.is_active() {
            return want;
        }
        let Quota { bytes, retry_at } = l.limits.quota(Direction::Write, want, now);
        if bytes == 0 {
            l.write_retry_at = retry_at;
        }
        bytes.min(want)
    }

    /// `n` bytes were removed from the output by the transport (or, for a
    /// filter, consumed by the output filter). Schedules the write callback
    /// when the output is at or below the write low watermark (statement 43).
    pub(crate) fn on_written(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        self.restart_timeouts(Dir::WRITE, now);
        self.on_consumed(n, now);
    }

    /// [`on_written`](Self::on_written) for a filter's output filter: the
    /// bytes are counted, the limits told, the write callback scheduled,
    /// but the write timeout is not restarted. Bytes moved to the
    /// underlying's output have not reached the peer; the filter restarts
    /// its write timeout only when the transport at the bottom of the
    /// stack writes ([`note_write_progress`](Self::note_write_progress)),
    /// so that a peer that does not read is dropped at the write timeout.
    pub(crate) fn on_consumed(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        self.stats.bytes_out += n as u64;
        if let Some(l) = self.limits.as_mut().filter(|l| l.limits.is_active()) {
            l.limits.consumed(Direction::Write, n, now);
        }
        if self.output.is_empty() {
            self.forced = false;
        }
        if self.enabled.contains(Dir::WRITE) && self.output.len() <= self.cfg().wm.write.low {
            self.pending.write = true;
        }
    }

    /// `bufferevent_flush(EV_WRITE, mode)`: `Flush` and `Finished` write even
    /// while writing is disabled; `Finished` also shuts the write side down
    /// once the output has drained.
    pub(crate) fn request_flush(&mut self, mode: crate::FlushMode) {
        match mode {
            crate::FlushMode::Normal => {}
            crate::FlushMode::Flush => self.forced = !self.output.is_empty(),
            crate::FlushMode::Finished => {
                self.forced = !self.output.is_empty();
                self.finishing = true;
            }
        }
    }

    /// Whether a `Flush`/`Finished` flush is pushing the output regardless
    /// of watermarks and the enabled flag.
    pub(crate) fn is_forced(&self) -> bool {
        self.forced
    }

    /// Output progress made below this bufferevent (a filter's underlying
    /// wrote): restarts the write timeout without counting bytes.
    pub(crate) fn note_write_progress(&mut self, now: Instant) {
        self.restart_timeouts(Dir::WRITE, now);
    }

    /// Whether the write side should be shut down now: `Finished` was asked
    /// and the output drained.
    pub(crate) fn wants_shutdown(&self) -> bool {
        self.finishing
            && self.write_half == HalfState::Open
            && self.output.is_empty()
            && !self.suspend.connecting
    }

    /// The transport's write side is shut down.
    pub(crate) fn on_shutdown(&mut self) {
        if self.write_half == HalfState::Open {
            self.write_half = HalfState::Done;
        }
        self.forced = false;
    }

    /// Whether new data may still be written (not finishing, not shut, not
    /// failed).
    pub(crate) fn accepts_writes(&self) -> bool {
        !self.finishing && self.write_half == HalfState::Open
    }

    // ----- connect and errors ------------------------------------------

    /// A connect started: reading and writing wait for it.
    pub(crate) fn on_connecting(&mut self) {
        self.suspend.connecting = true;
    }

    /// Whether a connect is in progress.
    pub(crate) fn is_connecting(&self) -> bool {
        self.suspend.connecting
    }

    /// The connect succeeded: one `CONNECTED` event (statement 47).
    pub(crate) fn on_connected(&mut self, now: Instant) {
        self.suspend.connecting = false;
        self.pending.events |= Events::CONNECTED;
        self.restart_timeouts(Dir::BOTH, now);
    }

    /// Something failed. The side decides the event bits and which
    /// direction is disabled (statement 46); an error with no side (connect,
    /// resolve) is one plain `ERROR` event and ends both halves
    /// (statement 47).
    pub(crate) fn on_error(&mut self, err: Error) {
        tracing::debug!(error = %err, "bufferevent error");
        self.stats.ending(Ending::Error {
            side: err.side(),
            kind: err.io_kind(),
        });
        match err.side() {
            Some(Side::Reading) => {
                if self.read_half != HalfState::Open {
                    return;
                }
                self.read_half = HalfState::Failed;
                self.enabled -= Dir::READ;
                self.pending.read = false;
                self.pending.events |= Events::ERROR | Events::READING;
            }
            Some(Side::Writing) => {
                if self.write_half == HalfState::Failed {
                    return;
                }
                self.write_half = HalfState::Failed;
                self.enabled -= Dir::WRITE;
                self.pending.write = false;
                self.forced = false;
                self.pending.events |= Events::ERROR | Events::WRITING;
            }
            None => {
                self.read_half = HalfState::Failed;
                self.write_half = HalfState::Failed;
                self.suspend.connecting = false;
                self.enabled = Dir::empty();
                self.pending.read = false;
                self.pending.write = false;
                self.pending.events |= Events::ERROR;
            }
        }
        self.error = Some(Box::new(err));
    }

    // ----- time --------------------------------------------------------

    /// Arms and disarms the timeouts for the current state and fires those
    /// that expired (statement 45): a read timeout runs while reading is
    /// wanted, the input is not full and no rate limit suspends reading; a
    /// write timeout while writing is enabled, output is pending
    /// (`output_pending` includes what lower layers still hold) or a connect
    /// is in progress, and no rate limit suspends writing. An idle bufferevent,
    /// filter or not, gets no write timeout (libevent #67 QUIRK fixed).
    /// Firing reports `TIMEOUT|READING` / `TIMEOUT|WRITING` and disables
    /// that direction.
    ///
    /// `suspended_below` names the directions in which a bufferevent under
    /// this one (a filter's underlying, or further down) is suspended by its
    /// rate limit: those directions wait for the limit, not for the peer, so
    /// they have no timeout here either.
    pub(crate) fn check_timers(
        &mut self,
        now: Instant,
        output_pending: bool,
        suspended_below: Dir,
    ) {
        if self.timeouts.is_none() {
            return;
        }
        // a direction suspended by a rate limit, here or below, has no
        // timeout; it gets a fresh one when it resumes (libevent deletes the
        // event while `BEV_SUSPEND_BW` holds)
        let suspended = self.rate_suspended() | suspended_below;
        let read_armed = self.wants_read() && !self.input_full() && !suspended.contains(Dir::READ);
        let write_armed = self.enabled.contains(Dir::WRITE)
            && self.write_half == HalfState::Open
            && (output_pending || self.suspend.connecting)
            && !suspended.contains(Dir::WRITE);
        let Some(timeouts) = self.timeouts.as_mut() else {
            return;
        };
        timeouts.sync(now, read_armed, write_armed);
        let fired = timeouts.expired(now);
        if fired.contains(Dir::READ) {
            self.enabled -= Dir::READ;
            self.pending.read = false;
            self.pending.events |= Events::TIMEOUT | Events::READING;
            self.stats.ending(Ending::Timeout(Side::Reading));
        }
        if fired.contains(Dir::WRITE) {
            self.enabled -= Dir::WRITE;
            self.pending.write = false;
            self.pending.events |= Events::TIMEOUT | Events::WRITING;
            self.stats.ending(Ending::Timeout(Side::Writing));
        }
    }

    /// The directions a rate limit (or custom limiter) suspends now, until
    /// their retry instants.
    pub(crate) fn rate_suspended(&self) -> Dir {
        let mut d = Dir::empty();
        if let Some(l) = self.limits.as_ref() {
            if l.read_retry_at.is_some() {
                d |= Dir::READ;
            }
            if l.write_retry_at.is_some() {
                d |= Dir::WRITE;
            }
        }
        d
    }

    /// When the read side next needs attention without I/O readiness (a
    /// read timeout or a rate-limit retry).
    pub(crate) fn read_wakeup(&self) -> Option<Instant> {
        min_opt(
            self.timeouts.as_ref().and_then(|t| t.read_deadline()),
            self.read_retry_at(),
        )
    }

    /// When the write side next needs attention without I/O readiness.
    pub(crate) fn write_wakeup(&self) -> Option<Instant> {
        min_opt(
            self.timeouts.as_ref().and_then(|t| t.write_deadline()),
            self.write_retry_at(),
        )
    }

    // ----- statistics --------------------------------------------------

    /// Updates the statistics' pause timers and largest backlog after a
    /// drive step; reads the clock (`read`) only when a pause starts or
    /// ends.
    #[inline]
    pub(crate) fn track(&mut self, read: impl FnOnce() -> Instant) {
        let mut paused = 0;
        if self.enabled.contains(Dir::READ) && self.read_half == HalfState::Open {
            if self.input_full() {
                paused |= PAUSE_INPUT;
            } else if self.backlogged() {
                paused |= PAUSE_OUTPUT;
            }
        }
        if self.limits.is_some() && !self.rate_suspended().is_empty() {
            paused |= PAUSE_RATE;
        }
        self.stats.track(paused, read);
        self.stats.output_len(self.output.len());
    }

    /// Notes the output's size after a write.
    pub(crate) fn note_output(&mut self) {
        self.stats.output_len(self.output.len());
    }

    // ----- callbacks ---------------------------------------------------

    /// Whether any callback is due.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.read || self.pending.write || !self.pending.events.is_empty()
    }

    /// The next callback to run, in libevent's deferred order
    /// (statement 48).
    pub(crate) fn take_callback(&mut self) -> Option<Callback> {
        let p = &mut self.pending;
        if p.events.contains(Events::CONNECTED) {
            p.events -= Events::CONNECTED;
            return Some(Callback::Event(Events::CONNECTED));
        }
        if p.read {
            p.read = false;
            return Some(Callback::Read);
        }
        if p.write {
            p.write = false;
            return Some(Callback::Write);
        }
        if !p.events.is_empty() {
            return Some(Callback::Event(std::mem::take(&mut p.events)));
        }
        None
    }

    /// Takes the pending events and clears pending callbacks (the async
    /// face and filters, which consume events rather than run callbacks).
    pub(crate) fn take_events(&mut self) -> Events {
        self.pending.read = false;
        self.pending.write = false;
        std::mem::take(&mut self.pending.events)
    }

    /// Pending events, left in place.
    pub(crate) fn peek_events(&self) -> Events {
        self.pending.events
    }

    /// Removes `what` from the pending events.
    pub(crate) fn clear_events(&mut self, what: Events) {
        self.pending.events -= what;
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `f` with `end` of `buf` unfrozen, then restores the freeze: the
/// backends of sockets and pairs freeze the ends users must not touch
/// (statement 52) and open them only for their own transfers.
pub(crate) fn unfrozen<R>(
    buf: &mut EvBuffer,
    end: evbuffer::End,
    f: impl FnOnce(&mut EvBuffer) -> R,
) -> R {
    let was = buf.is_frozen(end);
    if was {
        buf.unfreeze(end);
    }
    let r = f(buf);
    if was {
        buf.freeze(end);
    }
    r
}

/// Gives back everything an empty buffer still holds (spare allocations,
/// the chunk list's capacity) by replacing it with a fresh one of the same
/// chunk policy and freeze state: what a quiet connection keeps is then only
/// the buffer itself. A buffer with change callbacks (or deferred callbacks
/// turned on) only releases its spares. A fresh buffer starts a new
/// generation, so a [`evbuffer::Ptr`] into the old one is seen as stale.
pub(crate) fn shed(buf: &mut EvBuffer) {
    if !buf.is_empty() {
        return;
    }
    if buf.cb_count() != 0 || buf.deferred_callbacks() {
        buf.release_spare();
        return;
    }
    let front = buf.is_frozen(evbuffer::End::Front);
    let back = buf.is_frozen(evbuffer::End::Back);
    *buf = EvBuffer::with_chunk_policy(buf.chunk_policy());
    if front {
        buf.freeze(evbuffer::End::Front);
    }
    if back {
        buf.freeze(evbuffer::End::Back);
    }
}

impl Core {
    /// Both buffers are empty and the transport has nothing for now: give
    /// back everything they hold ([`shed`]), as libevent frees a chain once
    /// it is drained. Measured on N1 (64 connections ping-ponging) this
    /// costs about 1% of the server's CPU per message (a free and a regrow
    /// of the chunk lists per message) and saves about 1 KB per idle
    /// connection against releasing the spare chunks only.
    pub(crate) fn shed_buffers(&mut self) {
        if self.input.is_empty() && self.output.is_empty() {
            shed(&mut self.input);
            shed(&mut self.output);
        }
    }

    /// Freezes the input's back and the output's front (socket and pair
    /// bufferevents: statement 52).
    pub(crate) fn freeze_transport_ends(&mut self) {
        self.input.freeze(evbuffer::End::Back);
        self.output.freeze(evbuffer::End::Front);
    }
}

#[cfg(test)]
mod shed_tests {
    use super::*;
    use evbuffer::{ChunkPolicy, End};

    #[test]
    fn shedding_keeps_policy_freezes_and_callbacks() {
        let policy = ChunkPolicy::new().with_keep_spare(false);
        let mut b = EvBuffer::with_chunk_policy(policy);
        b.add(b"0123456789").unwrap();
        b.freeze(End::Back);
        // not empty: untouched
        shed(&mut b);
        assert_eq!(b.len(), 10);
        b.drain(10).unwrap();
        shed(&mut b);
        assert!(b.is_frozen(End::Back) && !b.is_frozen(End::Front));
        assert_eq!(b.chunk_policy(), policy);
        // a buffer with a change callback is kept (only its spares go)
        let mut c = EvBuffer::new();
        let id = c.add_cb(|_| {});
        shed(&mut c);
        assert!(c.remove_cb(id).is_ok());
    }
}
