//! One limited stream under a simulated clock: the configured rate holds
//! over 10 seconds, bursts are what the configuration says (statements 73,
//! 74, 79).

mod common;

use std::time::{Duration, Instant};

use common::{assert_within, run, Sim};
use ev_token_bucket::{RateLimitConfig, RateLimiter};

const TICK: Duration = Duration::from_millis(100);
const TEN_S: Duration = Duration::from_secs(10);

fn limited(rate: u64, burst: u64, t0: Instant) -> RateLimiter {
    RateLimiter::with_config(
        RateLimitConfig::shared(rate, burst, rate, burst, Some(TICK)).unwrap(),
        t0,
    )
}

#[test]
fn s79_single_stream_holds_its_rate_within_one_percent_over_10s() {
    // 100 kB/s in 10 kB ticks
    let t0 = Instant::now();
    let mut sims = [Sim::greedy(limited(10_000, 30_000, t0))];
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    // one tick's worth at t0 and one per tick after: exactly rate x time
    assert_within(sims[0].read as f64, 1_000_000.0, 0.01, "bytes in 10 s");
    assert_eq!(sims[0].read, 1_000_000);
    // a steady reader never sees more than a tick's worth at once
    assert_eq!(sims[0].max_grant, 10_000);
}

#[test]
fn s79_rate_holds_when_a_tick_needs_several_reads() {
    // 500 kB/s: 50 kB per tick, read in max_single_read pieces
    let t0 = Instant::now();
    let mut lim = limited(50_000, 50_000, t0);
    lim.set_max_single_read(4096);
    let mut sims = [Sim::greedy(lim)];
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    assert_within(sims[0].read as f64, 5_000_000.0, 0.01, "bytes in 10 s");
    assert_eq!(sims[0].max_grant, 4096);
    assert!(sims[0].min_grant.is_some_and(|m| m > 0));
}

#[test]
fn s73_burst_is_available_after_idling_then_the_rate_resumes() {
    let t0 = Instant::now();
    let mut lim = limited(10_000, 30_000, t0);
    lim.set_max_single_read(1 << 20);
    let mut sims = [Sim::greedy(lim)];
    // idle for a second: the bucket fills up to burst, not beyond
    sims[0].wants = false;
    let t1 = run(&mut sims, t0, TICK, t0, t0 + Duration::from_secs(1));
    sims[0].wants = true;
    // everything readable at t1 in one go: the burst
    let q = sims[0].lim.read_quota(usize::MAX, t1);
    assert_eq!(q.bytes, 30_000);
    // then the configured rate: the burst at 1 s, and 10 kB at each of
    // the 89 ticks after it
    run(&mut sims, t0, TICK, t1, t0 + TEN_S);
    assert_eq!(sims[0].read, 30_000 + 89 * 10_000);
}

#[test]
fn s73_fresh_bucket_starts_with_one_tick_not_the_burst() {
    let t0 = Instant::now();
    let mut lim = limited(1000, 50_000, t0);
    assert_eq!(lim.max_to_read(t0), 1000);
    assert_eq!(lim.max_to_write(t0), 1000);
}

#[test]
fn write_direction_is_limited_the_same_way() {
    let t0 = Instant::now();
    let mut lim = limited(2000, 2000, t0);
    let mut now = t0;
    let mut written = 0u64;
    while now < t0 + TEN_S {
        let q = lim.write_quota(usize::MAX, now);
        if q.bytes > 0 {
            lim.on_written(q.bytes, now);
            written += q.bytes as u64;
        } else {
            now = lim
                .write_wakeup(now)
                .expect("suspended writer must have a wakeup");
        }
    }
    assert_eq!(written, 200_000);
    // reading untouched by writing
    assert_eq!(lim.max_to_read(now), 2000);
}
