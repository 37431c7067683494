//! The core's rules, one test per libevent statement, on a simulated clock
//! and an in-memory transport (no runtime, no sockets).

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::limit::{Limiter, Quota};
use super::state::{Callback, Core, HalfState};
use crate::{Dir, Error, Events, FlushMode, Side};

/// An in-memory transport and clock around a [`Core`].
struct Sim {
    core: Core,
    now: Instant,
    /// Bytes the peer has sent that the transport can deliver.
    wire_in: VecDeque<u8>,
    /// Bytes the transport wrote.
    wire_out: Vec<u8>,
    /// The peer closed its side.
    peer_eof: bool,
    /// The write side was shut down.
    shut: bool,
}

impl Sim {
    fn new() -> Self {
        Sim {
            core: Core::new(),
            now: Instant::now(),
            wire_in: VecDeque::new(),
            wire_out: Vec::new(),
            peer_eof: false,
            shut: false,
        }
    }

    fn peer_sends(&mut self, n: usize) {
        let start = self.wire_in.len();
        self.wire_in.extend((start..start + n).map(|i| i as u8));
    }

    /// One read readiness: reads what the budget allows. Returns bytes read.
    fn pump_read(&mut self) -> usize {
        let budget = self.core.read_budget(self.now);
        if budget == 0 {
            return 0;
        }
        let n = budget.min(self.wire_in.len());
        if n == 0 {
            if self.peer_eof {
                self.core.on_eof();
            }
            return 0;
        }
        let chunk: Vec<u8> = self.wire_in.drain(..n).collect();
        self.core.input.add(&chunk).unwrap();
        self.core.on_read(n, self.now);
        n
    }

    /// One write readiness: writes everything allowed.
    fn pump_write(&mut self) -> usize {
        let budget = self.core.write_budget(self.now);
        let mut buf = vec![0u8; budget];
        let n = self.core.output.remove(&mut buf).unwrap();
        self.wire_out.extend_from_slice(&buf[..n]);
        self.core.on_written(n, self.now);
        if self.core.wants_shutdown() {
            self.core.on_shutdown();
            self.shut = true;
        }
        n
    }

    fn timers(&mut self) {
        let pending = !self.core.output.is_empty();
        self.core.check_timers(self.now, pending, Dir::empty());
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.timers();
    }

    fn callbacks(&mut self) -> Vec<Callback> {
        std::iter::from_fn(|| self.core.take_callback()).collect()
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn s38_new_bufferevent_has_only_write_enabled() {
    let core = Core::new();
    assert_eq!(core.enabled(), Dir::WRITE);
    let mut s = Sim::new();
    s.peer_sends(10);
    assert_eq!(s.pump_read(), 0, "reading must be enabled explicitly");
    s.core.enable(Dir::READ, s.now);
    assert_eq!(s.pump_read(), 10);
}

#[test]
fn s39_watermarks_default_to_zero_and_need_one_direction() {
    let core = Core::new();
    assert_eq!(core.watermark(Dir::READ).unwrap().low, 0);
    assert_eq!(core.watermark(Dir::READ).unwrap().high, 0);
    assert_eq!(core.watermark(Dir::WRITE).unwrap().high, 0);
    assert!(core.watermark(Dir::READ | Dir::WRITE).is_err());
}

#[test]
fn s40_read_low_watermark_gates_read_callback() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_watermark(Dir::READ, 5, 0).unwrap();
    s.peer_sends(3);
    s.pump_read();
    assert!(s.callbacks().is_empty(), "3 bytes with L=5: no call");
    s.peer_sends(2);
    s.pump_read();
    assert_eq!(s.callbacks(), vec![Callback::Read]);
}

#[test]
fn s41_read_high_watermark_stops_reading_and_resumes_when_drained() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_watermark(Dir::READ, 0, 10).unwrap();
    s.peer_sends(25);
    assert_eq!(s.pump_read(), 10, "never more than H - len per read");
    assert_eq!(s.pump_read(), 0, "stops at H");
    assert_eq!(s.core.input.len(), 10);
    s.core.input.drain(4).unwrap();
    assert_eq!(s.pump_read(), 4, "resumes by itself, up to H - len");
    assert_eq!(s.core.input.len(), 10);
    s.core.input.drain(10).unwrap();
    assert_eq!(s.pump_read(), 10);
    s.core.input.drain(10).unwrap();
    assert_eq!(s.pump_read(), 1);
}

#[test]
fn s41_default_bound_applies_without_high_watermark() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_max_input(100);
    s.core.set_read_size(64);
    s.peer_sends(1000);
    let mut total = 0;
    for _ in 0..10 {
        total += s.pump_read();
    }
    assert_eq!(total, 100, "no peer can push the input past the bound");
    assert_eq!(s.core.watermark(Dir::READ).unwrap().high, 0);
}

#[test]
fn s42_full_input_does_not_rerun_read_callback() {
    // libevent #891: a read callback that leaves the input full is re-run
    // forever. Here it runs again only on new data.
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_watermark(Dir::READ, 0, 10).unwrap();
    s.peer_sends(30);
    s.pump_read();
    assert_eq!(s.callbacks(), vec![Callback::Read]);
    for _ in 0..1000 {
        s.pump_read();
        s.timers();
        assert!(s.callbacks().is_empty());
    }
    s.core.input.drain(1).unwrap();
    assert_eq!(s.pump_read(), 1);
    assert_eq!(
        s.callbacks(),
        vec![Callback::Read],
        "new data: one more call"
    );
    // an explicit trigger also works
    s.core.trigger_read(false);
    assert_eq!(s.callbacks(), vec![Callback::Read]);
}

#[test]
fn s43_write_low_watermark_gates_write_callback() {
    let mut s = Sim::new();
    s.core.set_watermark(Dir::WRITE, 4, 0).unwrap();
    s.core.output.add(&[0; 10]).unwrap();
    let b = s.core.write_budget(s.now);
    assert_eq!(b, 10);
    // the transport takes 5: 5 left > 4
    let mut buf = [0u8; 5];
    s.core.output.remove(&mut buf).unwrap();
    s.core.on_written(5, s.now);
    assert!(s.callbacks().is_empty());
    s.core.output.remove(&mut buf[..1]).unwrap();
    s.core.on_written(1, s.now);
    assert_eq!(s.callbacks(), vec![Callback::Write]);
    // default low 0: called when fully drained
    let mut s = Sim::new();
    s.core.output.add(&[0; 10]).unwrap();
    s.pump_write();
    assert_eq!(s.callbacks(), vec![Callback::Write]);
    assert_eq!(s.wire_out.len(), 10);
}

#[test]
fn s44_write_high_watermark_never_blocks_writes_into_output() {
    let mut s = Sim::new();
    s.core.set_watermark(Dir::WRITE, 0, 4).unwrap();
    s.core.output.add(&[1; 100]).unwrap();
    assert!(s.core.accepts_writes());
    assert!(s.core.output_full());
    assert_eq!(s.pump_write(), 100, "the transport still writes it all");
}

#[test]
fn s45_read_timeout_fires_disables_read_and_is_restarted_by_reads() {
    let mut s = Sim::new();
    s.core.set_timeouts(Some(secs(4)), None);
    s.timers();
    s.advance(secs(10));
    assert!(
        s.callbacks().is_empty(),
        "no read timeout while reading is disabled"
    );
    s.core.enable(Dir::READ, s.now);
    s.timers();
    s.advance(secs(3));
    s.peer_sends(1);
    s.pump_read();
    s.callbacks();
    s.advance(secs(3));
    assert!(
        s.callbacks().is_empty(),
        "a successful read restarts the clock"
    );
    s.advance(secs(1));
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::TIMEOUT | Events::READING)]
    );
    assert!(
        !s.core.enabled().contains(Dir::READ),
        "firing disables reading"
    );
    s.advance(secs(100));
    assert!(s.callbacks().is_empty(), "fires once");
    // enable restarts it
    s.core.enable(Dir::READ, s.now);
    s.timers();
    s.advance(secs(4));
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::TIMEOUT | Events::READING)]
    );
}

#[test]
fn s45_read_timeout_not_armed_while_input_full() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_watermark(Dir::READ, 0, 4).unwrap();
    s.core.set_timeouts(Some(secs(1)), None);
    s.peer_sends(4);
    s.pump_read();
    s.callbacks();
    s.advance(secs(5));
    assert!(
        s.callbacks().is_empty(),
        "suspended by the watermark: no timeout"
    );
    s.core.input.drain(4).unwrap();
    s.timers();
    s.advance(secs(1));
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::TIMEOUT | Events::READING)]
    );
}

#[test]
fn s45_set_timeouts_restarts_the_clock() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.set_timeouts(Some(secs(2)), None);
    s.timers();
    s.advance(secs(1));
    s.core.set_timeouts(Some(secs(2)), None);
    s.timers();
    s.advance(secs(1));
    assert!(s.callbacks().is_empty());
    s.advance(secs(1));
    assert_eq!(s.callbacks().len(), 1);
}

#[test]
fn s45_write_timeout_only_while_output_pending() {
    let mut s = Sim::new();
    s.core.set_timeouts(None, Some(secs(2)));
    s.timers();
    s.advance(secs(10));
    assert!(s.callbacks().is_empty(), "idle: no write timeout");
    s.core.output.add(b"stuck").unwrap();
    s.timers();
    s.advance(secs(2));
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::TIMEOUT | Events::WRITING)]
    );
    assert!(!s.core.enabled().contains(Dir::WRITE));
}

#[test]
fn quirk_67_idle_filter_gets_no_write_timeout() {
    // libevent arms a filter's write timeout on enable(EV_WRITE) even with
    // nothing to write. Here enable with an empty output arms nothing.
    let mut s = Sim::new();
    s.core.set_timeouts(None, Some(secs(1)));
    s.core.enable(Dir::WRITE, s.now);
    s.timers();
    s.advance(secs(60));
    assert!(s.callbacks().is_empty());
}

#[test]
fn s46_eof_reports_eof_reading_disables_read_keeps_input() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.peer_sends(5);
    s.peer_eof = true;
    s.pump_read();
    s.pump_read();
    assert_eq!(
        s.callbacks(),
        vec![
            Callback::Read,
            Callback::Event(Events::EOF | Events::READING)
        ]
    );
    assert_eq!(s.core.input.len(), 5);
    assert!(!s.core.enabled().contains(Dir::READ));
    assert_eq!(s.core.read_half(), HalfState::Done);
}

#[test]
fn s46_read_and_write_errors_carry_the_side() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.on_error(Error::Io {
        side: Side::Reading,
        source: io::ErrorKind::ConnectionReset.into(),
    });
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::ERROR | Events::READING)]
    );
    assert!(!s.core.enabled().contains(Dir::READ));
    assert_eq!(
        s.core.error().unwrap().io_kind(),
        io::ErrorKind::ConnectionReset
    );
    s.core.on_error(Error::Io {
        side: Side::Writing,
        source: io::ErrorKind::BrokenPipe.into(),
    });
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::ERROR | Events::WRITING)]
    );
    assert!(!s.core.enabled().contains(Dir::WRITE));
}

#[test]
fn s47_connect_success_is_one_connected_event() {
    let mut s = Sim::new();
    s.core.on_connecting();
    s.core.output.add(b"early").unwrap();
    assert_eq!(s.pump_write(), 0, "nothing written while connecting");
    s.core.on_connected(s.now);
    assert_eq!(s.pump_write(), 5);
    assert_eq!(
        s.callbacks(),
        vec![Callback::Event(Events::CONNECTED), Callback::Write]
    );
    assert!(s.callbacks().is_empty());
}

#[test]
fn s47_connect_failure_is_one_plain_error_event() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.on_connecting();
    s.core.on_error(Error::Connect {
        target: "127.0.0.1:1".into(),
        source: io::ErrorKind::ConnectionRefused.into(),
    });
    s.peer_sends(3);
    s.pump_read();
    assert_eq!(s.callbacks(), vec![Callback::Event(Events::ERROR)]);
    assert!(s.callbacks().is_empty());
}

#[test]
fn s48_connected_first_and_other_events_ored() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.core.on_connecting();
    s.core.on_connected(s.now);
    s.peer_sends(2);
    s.peer_eof = true;
    s.pump_read();
    s.pump_read();
    s.core.on_error(Error::Io {
        side: Side::Writing,
        source: io::ErrorKind::BrokenPipe.into(),
    });
    assert_eq!(
        s.callbacks(),
        vec![
            Callback::Event(Events::CONNECTED),
            Callback::Read,
            Callback::Event(Events::EOF | Events::READING | Events::ERROR | Events::WRITING),
        ]
    );
}

#[test]
fn s50_trigger_respects_low_watermark_unless_ignored() {
    let mut s = Sim::new();
    s.core.set_watermark(Dir::READ, 5, 0).unwrap();
    s.core.trigger_read(false);
    assert!(s.callbacks().is_empty());
    s.core.trigger_read(true);
    assert_eq!(s.callbacks(), vec![Callback::Read]);
    s.core.trigger_event(Events::all());
    assert_eq!(
        s.callbacks(),
        vec![
            Callback::Event(Events::CONNECTED),
            Callback::Event(Events::all() - Events::CONNECTED)
        ]
    );
}

#[test]
fn disable_cancels_a_pending_callback() {
    // libevent #1809: disable could not stop a callback already scheduled.
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    s.peer_sends(3);
    s.pump_read();
    s.core.disable(Dir::READ);
    assert!(s.callbacks().is_empty());
}

#[test]
fn flush_finished_shuts_down_after_output_drains() {
    let mut s = Sim::new();
    s.core.output.add(b"last words").unwrap();
    s.core.disable(Dir::WRITE);
    assert_eq!(s.pump_write(), 0);
    s.core.request_flush(FlushMode::Finished);
    assert!(!s.core.accepts_writes());
    assert!(!s.core.wants_shutdown(), "output first");
    assert_eq!(s.pump_write(), 10, "a forced flush writes while disabled");
    assert!(s.shut);
    assert_eq!(s.core.write_half(), HalfState::Done);
    assert_eq!(s.wire_out, b"last words");
}

#[test]
fn flush_normal_changes_nothing() {
    let mut s = Sim::new();
    s.core.disable(Dir::WRITE);
    s.core.output.add(b"x").unwrap();
    s.core.request_flush(FlushMode::Normal);
    assert_eq!(s.pump_write(), 0);
    s.core.request_flush(FlushMode::Flush);
    assert_eq!(s.pump_write(), 1);
    assert!(!s.shut);
}

struct Bucket {
    tokens: usize,
    refill_at: Instant,
}

impl Limiter for Bucket {
    fn read_quota(&mut self, want: usize, now: Instant) -> Quota {
        if now >= self.refill_at {
            self.tokens = 3;
        }
        Quota {
            bytes: self.tokens.min(want),
            retry_at: (self.tokens == 0).then_some(self.refill_at),
        }
    }
    fn write_quota(&mut self, want: usize, now: Instant) -> Quota {
        self.read_quota(want, now)
    }
    fn consumed_read(&mut self, n: usize, _now: Instant) {
        self.tokens -= n;
    }
    fn consumed_write(&mut self, n: usize, _now: Instant) {
        self.tokens -= n;
    }
}

#[test]
fn limiter_hook_bounds_reads_and_gives_a_retry_time() {
    let mut s = Sim::new();
    s.core.enable(Dir::READ, s.now);
    let refill = s.now + secs(1);
    s.core.set_limiter(Some(Box::new(Bucket {
        tokens: 3,
        refill_at: refill,
    })));
    s.peer_sends(10);
    assert_eq!(s.pump_read(), 3);
    assert_eq!(
        s.pump_read(),
        0,
        "bucket empty: suspended, never a 0-byte read"
    );
    assert_eq!(s.core.read_wakeup(), Some(refill));
    s.now = refill;
    assert_eq!(s.pump_read(), 3);
}
