//! A simulated-clock driver: an `Instant` base plus exact `Duration`s.
//!
//! Each step lets every member that wants data read what its limiter
//! allows (again and again until nobody can), then advances the clock to
//! the earliest wakeup any limiter reports, or the next tick.

#![allow(dead_code)] // each test file uses part of it

use std::time::{Duration, Instant};

use ev_token_bucket::RateLimiter;

/// One simulated connection.
pub(crate) struct Sim {
    pub lim: RateLimiter,
    /// Whether it currently wants to read at all.
    pub wants: bool,
    /// Bytes arriving per tick from its peer; `None` = always more.
    pub arrival_per_tick: Option<u64>,
    /// Bytes arrived and not yet read.
    pub backlog: u64,
    /// Bytes read, in total and since the last `reset`.
    pub read: u64,
    /// Smallest nonzero quota it was given.
    pub min_grant: Option<usize>,
    /// Largest quota it was given.
    pub max_grant: usize,
    /// Number of reads.
    pub reads: u64,
}

impl Sim {
    pub(crate) fn greedy(lim: RateLimiter) -> Self {
        Sim {
            lim,
            wants: true,
            arrival_per_tick: None,
            backlog: 0,
            read: 0,
            min_grant: None,
            max_grant: 0,
            reads: 0,
        }
    }

    pub(crate) fn slow(lim: RateLimiter, per_tick: u64) -> Self {
        Sim {
            arrival_per_tick: Some(per_tick),
            ..Sim::greedy(lim)
        }
    }

    pub(crate) fn reset(&mut self) {
        self.read = 0;
        self.min_grant = None;
        self.max_grant = 0;
        self.reads = 0;
    }
}

/// Runs the members from `from` until `until` (exclusive) and returns the
/// instant it stopped at. `tick` is the refill tick used to time arrivals
/// and to advance when no limiter is waiting.
pub(crate) fn run(
    sims: &mut [Sim],
    t0: Instant,
    tick: Duration,
    from: Instant,
    until: Instant,
) -> Instant {
    let mut now = from;
    let mut last_tick = tick_index(t0, tick, now);
    let mut steps = 0u64;
    while now < until {
        steps += 1;
        assert!(steps < 10_000_000, "simulation does not advance");
        // arrivals for the ticks that passed
        let tick_now = tick_index(t0, tick, now);
        for s in sims.iter_mut() {
            if let Some(rate) = s.arrival_per_tick {
                s.backlog += rate * (tick_now - last_tick);
            }
        }
        last_tick = tick_now;
        loop {
            let mut progress = false;
            for s in sims.iter_mut().filter(|s| s.wants) {
                let q = s.lim.read_quota(usize::MAX, now);
                if q.bytes == 0 {
                    assert!(
                        q.retry_at.is_some_and(|t| t > now),
                        "refused without a future retry instant"
                    );
                    continue;
                }
                let n = match s.arrival_per_tick {
                    None => q.bytes as u64,
                    Some(_) => (q.bytes as u64).min(s.backlog),
                };
                s.backlog = s.backlog.saturating_sub(n);
                s.lim.on_read(n as usize, now);
                s.read += n;
                if n > 0 {
                    s.reads += 1;
                    s.min_grant = Some(s.min_grant.map_or(q.bytes, |m| m.min(q.bytes)));
                    s.max_grant = s.max_grant.max(q.bytes);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        let next_tick = t0 + tick * (tick_index(t0, tick, now) + 1) as u32;
        let next = sims
            .iter_mut()
            .filter(|s| s.wants)
            .filter_map(|s| s.lim.read_wakeup(now))
            .fold(next_tick, Instant::min);
        assert!(next > now, "wakeup not in the future");
        now = next.min(until);
    }
    now
}

fn tick_index(t0: Instant, tick: Duration, now: Instant) -> u64 {
    (now.duration_since(t0).as_nanos() / tick.as_nanos()) as u64
}

/// Jain's fairness index: 1 when all equal, 1/n when one gets everything.
pub(crate) fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * squares)
}

/// `actual` within `tol` (a fraction) of `expected`.
pub(crate) fn assert_within(actual: f64, expected: f64, tol: f64, what: &str) {
    let err = (actual - expected).abs() / expected;
    assert!(
        err <= tol,
        "{what}: {actual} is {:.3}% away from {expected} (allowed {:.1}%)",
        err * 100.0,
        tol * 100.0
    );
}
