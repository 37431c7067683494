//! One direction's token bucket (libevent's `struct ev_token_bucket`, with
//! `ev_token_bucket_init_` and `ev_token_bucket_update_`).
//!
//! It exists apart from the limiter so that the arithmetic libevent gets
//! subtly wrong in places (overflow, ticks under a millisecond, time going
//! backwards) lives in one small, exhaustively tested place. The clock is a
//! parameter: ticks are counted from the bucket's start instant, so under a
//! simulated clock the refills are exact.

use std::time::{Duration, Instant};

use crate::config::{check_direction, check_tick};
use crate::{ConfigError, Direction, RateLimitConfig};

/// A token bucket for one direction (libevent's `struct ev_token_bucket`).
///
/// * A fresh bucket holds one tick's worth (`rate`), not `burst`
///   (statement 73).
/// * Each elapsed tick adds `rate`, capped at `burst`; ticks are counted as
///   whole multiples of the tick length since the start instant.
/// * Transfers and manual decrements may take it below zero; a negative
///   decrement credits it, even above `burst` (statement 75). As in
///   libevent, the next refill brings a bucket that is above `burst` back to
///   `burst`.
///
/// All arithmetic saturates: no value or instant makes it panic.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ev_token_bucket::TokenBucket;
///
/// let t0 = Instant::now();
/// let tick = Duration::from_millis(100);
/// let mut b = TokenBucket::new(1000, 3000, tick, t0)?;
/// assert_eq!(b.tokens(t0), 1000); // one tick's worth
/// b.consume(1500); // a transfer may overdraw
/// assert_eq!(b.tokens(t0), -500);
/// // positive again after one refill
/// assert_eq!(b.next_positive_at(t0), Some(t0 + tick));
/// assert_eq!(b.tokens(t0 + tick * 10), 3000); // capped at burst
/// # Ok::<(), ev_token_bucket::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: i64,
    burst: i64,
    tick: Duration,
    start: Instant,
    /// Index of the tick of the last refill (libevent's `last_updated`).
    last_tick: u64,
    tokens: i64,
}

impl TokenBucket {
    /// A bucket refilling `rate` bytes per `tick` up to `burst`, starting at
    /// `now` with `rate` tokens. Validated like
    /// [`RateLimitConfig::new`](crate::RateLimitConfig::new).
    ///
    /// libevent: `ev_token_bucket_init_` (internal).
    pub fn new(rate: u64, burst: u64, tick: Duration, now: Instant) -> Result<Self, ConfigError> {
        check_direction(Direction::Read, rate, burst)?;
        check_tick(tick)?;
        Ok(Self::from_valid(rate, burst, tick, now))
    }

    /// The bucket for one direction of a configuration, started at `now`
    /// (libevent's `ev_token_bucket_init_` without `reinitialize`).
    pub fn for_direction(cfg: &RateLimitConfig, dir: Direction, now: Instant) -> Self {
        Self::from_valid(cfg.rate(dir), cfg.burst(dir), cfg.tick(), now)
    }

    /// Values already checked by `check_direction`/`check_tick`.
    fn from_valid(rate: u64, burst: u64, tick: Duration, now: Instant) -> Self {
        let rate = to_i64(rate);
        TokenBucket {
            rate,
            burst: to_i64(burst),
            tick,
            start: now,
            last_tick: 0,
            tokens: rate,
        }
    }

    /// Bytes added per tick (libevent's `read_rate` / `write_rate`).
    pub fn rate(&self) -> i64 {
        self.rate
    }

    /// Most tokens a refill leaves in the bucket (libevent's
    /// `read_maximum` / `write_maximum`).
    pub fn burst(&self) -> i64 {
        self.burst
    }

    /// The tick length (libevent's `tick_timeout`).
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Index of the tick `now` falls in, counted from the start instant
    /// (libevent's `ev_token_bucket_get_tick_`, which counts from the epoch
    /// in whole milliseconds). An instant before the start is tick 0.
    pub fn tick_index(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let tick = self.tick.as_nanos().max(1);
        u64::try_from(elapsed / tick).unwrap_or(u64::MAX)
    }

    /// The instant tick `index` starts, if it is representable (libevent
    /// fires its `refill_bucket_event` at tick starts).
    pub fn tick_start(&self, index: u64) -> Option<Instant> {
        let nanos = self.tick.as_nanos().checked_mul(u128::from(index))?;
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        // the remainder is below 10^9 and fits a u32
        let sub = (nanos % 1_000_000_000) as u32;
        self.start.checked_add(Duration::new(secs, sub))
    }

    /// The start of the tick after the one `now` falls in: the next instant
    /// a refill can happen.
    ///
    /// libevent: the instant `ev_token_bucket_get_tick_` next changes.
    pub fn next_tick_at(&self, now: Instant) -> Option<Instant> {
        self.tick_start(self.tick_index(now).saturating_add(1))
    }

    /// Adds `rate` per tick elapsed since the last refill, capped at `burst`
    /// (libevent's `ev_token_bucket_update_`). Returns how much the tokens
    /// changed (negative when a credited bucket above `burst` is brought
    /// back to it). Time going backwards adds nothing.
    pub fn refill(&mut self, now: Instant) -> i64 {
        let tick = self.tick_index(now);
        if tick <= self.last_tick {
            return 0;
        }
        let before = self.tokens;
        self.tokens = self.value_at_tick(tick);
        self.last_tick = tick;
        self.tokens.saturating_sub(before)
    }

    /// What the tokens will be at tick `tick` with no transfer in between.
    fn value_at_tick(&self, tick: u64) -> i64 {
        if tick <= self.last_tick {
            return self.tokens;
        }
        let n = i128::from(tick - self.last_tick);
        let filled =
            i128::from(self.tokens).saturating_add(i128::from(self.rate).saturating_mul(n));
        // burst is an i64, so the minimum fits
        i64::try_from(filled.min(i128::from(self.burst))).unwrap_or(self.burst)
    }

    /// Refills, then returns the tokens, negative when overdrawn (libevent's
    /// `read_limit` / `write_limit` after `ev_token_bucket_update_`).
    pub fn tokens(&mut self, now: Instant) -> i64 {
        self.refill(now);
        self.tokens
    }

    /// The tokens as of the last refill, without refilling (libevent's
    /// `read_limit` / `write_limit` as stored).
    pub fn current(&self) -> i64 {
        self.tokens
    }

    /// Takes `n` bytes that were transferred; may go negative (libevent's
    /// `bufferevent_decrement_read_buckets_` on one bucket).
    pub fn consume(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_sub(to_i64(n));
    }

    /// Manual decrement (libevent's `bufferevent_decrement_read_limit` on
    /// the bucket): takes `n`, or credits `-n` when negative, with no clamp
    /// to `burst` (statement 75).
    pub fn decrement(&mut self, n: i64) {
        self.tokens = self.tokens.saturating_sub(n);
    }

    /// Changes rate, burst and tick in place (libevent's
    /// `ev_token_bucket_init_` with `reinitialize`): refills up to `now`
    /// under the old values, then only clips the tokens down to the new
    /// burst (statement 75). Tick boundaries stay counted from the same
    /// start instant. Values are those of a validated configuration.
    pub(crate) fn reconfigure(&mut self, cfg: &RateLimitConfig, dir: Direction, now: Instant) {
        self.refill(now);
        self.rate = to_i64(cfg.rate(dir));
        self.burst = to_i64(cfg.burst(dir));
        self.tick = cfg.tick();
        self.tokens = self.tokens.min(self.burst);
        self.last_tick = self.tick_index(now);
    }

    /// The earliest instant at or after `now` when, without further
    /// transfers, the bucket holds at least `threshold` tokens: `now` if it
    /// already does (after a refill to `now`), otherwise a tick boundary.
    /// `None` if that never happens (`threshold` above `burst`) or the
    /// instant is not representable.
    ///
    /// libevent: none (it polls every tick).
    pub fn instant_reaching(&self, threshold: i64, now: Instant) -> Option<Instant> {
        let tick = self.tick_index(now).max(self.last_tick);
        let at_now = self.value_at_tick(tick);
        if at_now >= threshold {
            return Some(now);
        }
        if threshold > self.burst {
            return None;
        }
        // rate >= 1 for every validated bucket; max(1) keeps this total
        let missing = u128::try_from(i128::from(threshold) - i128::from(at_now)).ok()?;
        let rate = u128::try_from(self.rate.max(1)).ok()?;
        let ticks = u64::try_from(missing.div_ceil(rate)).ok()?;
        self.tick_start(tick.checked_add(ticks)?)
    }

    /// When the bucket becomes positive again, if it is not now: where a
    /// driver sleeps instead of attempting a zero-byte transfer (libevent
    /// #1439/#1440). `None` if it is positive now.
    pub fn next_positive_at(&self, now: Instant) -> Option<Instant> {
        match self.instant_reaching(1, now) {
            Some(t) if t <= now => None,
            Some(t) => Some(t),
            // unreachable for validated buckets (burst >= 1); wake at the
            // next tick rather than never
            None => self.next_tick_at(now),
        }
    }
}

/// Byte counts above `i64::MAX` saturate (validated values never are).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    fn bucket(rate: u64, burst: u64) -> (TokenBucket, Instant) {
        let t0 = Instant::now();
        (TokenBucket::new(rate, burst, TICK, t0).unwrap(), t0)
    }

    #[test]
    fn s73_fresh_bucket_starts_with_one_tick() {
        let (mut b, t0) = bucket(100, 1000);
        assert_eq!(b.tokens(t0), 100);
        assert_eq!(b.tokens(t0 + TICK - Duration::from_nanos(1)), 100);
    }

    #[test]
    fn s73_each_tick_adds_rate_capped_at_burst() {
        let (mut b, t0) = bucket(100, 350);
        assert_eq!(b.tokens(t0 + TICK), 200);
        assert_eq!(b.tokens(t0 + TICK * 2 + TICK / 2), 300);
        assert_eq!(b.tokens(t0 + TICK * 3), 350);
        assert_eq!(b.tokens(t0 + TICK * 100), 350);
    }

    #[test]
    fn s73_ticks_are_whole_multiples_since_start() {
        let (mut b, t0) = bucket(10, 1000);
        b.consume(10);
        // several refills inside one tick add nothing
        for ms in [1, 50, 99] {
            assert_eq!(b.tokens(t0 + Duration::from_millis(ms)), 0);
        }
        assert_eq!(b.tokens(t0 + Duration::from_millis(100)), 10);
        // skipping ticks adds them all at once
        assert_eq!(b.tokens(t0 + Duration::from_millis(550)), 50);
    }

    #[test]
    fn s74_transfers_can_take_the_bucket_negative() {
        let (mut b, t0) = bucket(100, 100);
        b.consume(250);
        assert_eq!(b.tokens(t0), -150);
        assert_eq!(b.tokens(t0 + TICK), -50);
        assert_eq!(b.tokens(t0 + TICK * 2), 50);
    }

    #[test]
    fn s75_decrement_past_zero_suspends_until_positive() {
        let (mut b, t0) = bucket(100, 100);
        b.decrement(150);
        assert_eq!(b.tokens(t0), -50);
        assert_eq!(b.next_positive_at(t0), Some(t0 + TICK));
        assert_eq!(b.tokens(t0 + TICK), 50);
        assert_eq!(b.next_positive_at(t0 + TICK), None);
    }

    #[test]
    fn s75_negative_decrement_credits_without_clamp() {
        let (mut b, t0) = bucket(100, 100);
        b.decrement(-1000);
        assert_eq!(b.tokens(t0), 1100);
        // like libevent, the next refill brings it back to burst
        assert_eq!(b.tokens(t0 + TICK), 100);
    }

    #[test]
    fn s75_reconfigure_clips_down_to_the_new_burst_only() {
        let (mut b, t0) = bucket(100, 1000);
        let t = t0 + TICK * 9;
        assert_eq!(b.tokens(t), 1000);
        let small = RateLimitConfig::symmetric(10, 300, Some(TICK)).unwrap();
        b.reconfigure(&small, Direction::Read, t);
        assert_eq!(b.tokens(t), 300);
        // raising the burst does not add tokens
        let big = RateLimitConfig::symmetric(10, 5000, Some(TICK)).unwrap();
        b.reconfigure(&big, Direction::Read, t);
        assert_eq!(b.tokens(t), 300);
        assert_eq!(b.tokens(t + TICK), 310);
    }

    #[test]
    fn instant_reaching_is_a_tick_boundary() {
        let (mut b, t0) = bucket(100, 1000);
        b.consume(100);
        let now = t0 + Duration::from_millis(30);
        assert_eq!(b.instant_reaching(0, now), Some(now));
        assert_eq!(b.instant_reaching(1, now), Some(t0 + TICK));
        assert_eq!(b.instant_reaching(250, now), Some(t0 + TICK * 3));
        assert_eq!(b.instant_reaching(1001, now), None);
        // without a refill since, the pending ticks are counted
        let later = t0 + TICK * 2 + Duration::from_millis(1);
        assert_eq!(b.instant_reaching(200, later), Some(later));
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let (mut b, t0) = bucket(100, 1000);
        assert_eq!(b.tokens(t0 + TICK * 5), 600);
        assert_eq!(b.tokens(t0 + TICK), 600);
        assert_eq!(b.refill(t0), 0);
    }

    #[test]
    fn extremes_saturate_instead_of_panicking() {
        let t0 = Instant::now();
        let max = crate::MAX_RATE;
        let mut b = TokenBucket::new(max, max, crate::MIN_TICK, t0).unwrap();
        b.decrement(i64::MIN);
        b.decrement(i64::MAX);
        b.consume(u64::MAX);
        b.consume(u64::MAX);
        assert_eq!(b.current(), i64::MIN);
        let far = t0 + Duration::from_secs(1 << 40);
        assert_eq!(b.tokens(far), i64::MAX);
        assert!(b.next_tick_at(far).is_some());
        let mut slow = TokenBucket::new(1, max, crate::MAX_TICK, t0).unwrap();
        slow.consume(u64::MAX);
        // the instant is not representable: None rather than a panic
        let _ = slow.instant_reaching(i64::MAX, t0);
        let _ = slow.next_positive_at(t0);
    }
}
