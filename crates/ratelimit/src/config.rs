//! The limit configuration (libevent's `struct ev_token_bucket_cfg`): a
//! rate and a burst per direction and a tick length, validated once so
//! that nothing built from it can divide by zero or overflow.
//!
//! libevent's configuration is a raw pointer that must outlive every
//! bufferevent using it (its issue #1049, a use-after-free in its own
//! tests). Here users hold it in an [`Arc`], so it lives as long as
//! anything refers to it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ConfigError;

/// Largest rate, burst or `min_share` accepted, in bytes: libevent's
/// `EV_RATE_LIMIT_MAX` (`EV_SSIZE_MAX`, `i64::MAX` on 64-bit systems).
pub const MAX_RATE: u64 = i64::MAX as u64;

/// Shortest tick accepted: 1 ms. libevent 2.1.12 accepts shorter ticks and
/// then crashes with a division by zero (statement 72); here they are an
/// error.
pub const MIN_TICK: Duration = Duration::from_millis(1);

/// Longest tick accepted: `u32::MAX` milliseconds (about 49.7 days), the
/// range of libevent's `msec_per_tick`.
pub const MAX_TICK: Duration = Duration::from_millis(u32::MAX as u64);

/// The tick used when none is given: 1 second, as libevent uses for a
/// `NULL` `tick_len`.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// One of the two directions bytes move in (libevent's `EV_READ` /
/// `EV_WRITE` bits of a `short` mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes read from the transport into the input (libevent's `EV_READ`).
    Read,
    /// Bytes written from the output to the transport (libevent's `EV_WRITE`).
    Write,
}

impl Direction {
    /// Both directions, read first (`EV_READ|EV_WRITE`).
    pub const BOTH: [Direction; 2] = [Direction::Read, Direction::Write];

    pub(crate) fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "read",
            Direction::Write => "write",
        })
    }
}

/// A validated token-bucket configuration (libevent's
/// `struct ev_token_bucket_cfg`, made by `ev_token_bucket_cfg_new`).
///
/// Each direction refills by `rate` bytes per tick and holds at most
/// `burst` bytes. Share it as an `Arc<RateLimitConfig>` between the
/// limiters that use it: giving the *same* `Arc` again to
/// [`RateLimiter::set_config`](crate::RateLimiter::set_config) is a no-op,
/// exactly like passing libevent the same pointer.
///
/// ```
/// use std::time::Duration;
/// use ev_token_bucket::{ConfigError, RateLimitConfig};
///
/// // 10 kB per 100 ms tick, bursts of 30 kB, in both directions
/// let cfg = RateLimitConfig::new(10_000, 30_000, 10_000, 30_000, Some(Duration::from_millis(100)))?;
/// assert_eq!(cfg.read_rate(), 10_000);
/// // libevent 2.1.12 would accept this and crash later (statement 72)
/// assert!(matches!(
///     RateLimitConfig::new(1, 1, 1, 1, Some(Duration::from_micros(10))),
///     Err(ConfigError::TickTooShort { .. })
/// ));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimitConfig {
    read_rate: u64,
    read_burst: u64,
    write_rate: u64,
    write_burst: u64,
    tick: Duration,
}

impl RateLimitConfig {
    /// Checks and builds a configuration (libevent's `ev_token_bucket_cfg_new`).
    ///
    /// `tick` of `None` means [`DEFAULT_TICK`] (1 s). Errors, never panics:
    /// a rate of 0, a rate above its burst, a rate or burst above
    /// [`MAX_RATE`], or a tick outside [`MIN_TICK`]`..=`[`MAX_TICK`].
    pub fn new(
        read_rate: u64,
        read_burst: u64,
        write_rate: u64,
        write_burst: u64,
        tick: Option<Duration>,
    ) -> Result<Self, ConfigError> {
        let tick = tick.unwrap_or(DEFAULT_TICK);
        check_direction(Direction::Read, read_rate, read_burst)?;
        check_direction(Direction::Write, write_rate, write_burst)?;
        check_tick(tick)?;
        Ok(RateLimitConfig {
            read_rate,
            read_burst,
            write_rate,
            write_burst,
            tick,
        })
    }

    /// The same rate and burst in both directions: `ev_token_bucket_cfg_new`
    /// with equal read and write arguments.
    pub fn symmetric(rate: u64, burst: u64, tick: Option<Duration>) -> Result<Self, ConfigError> {
        Self::new(rate, burst, rate, burst, tick)
    }

    /// [`new`](Self::new), already wrapped in the `Arc` limiters take (in
    /// place of libevent's `ev_token_bucket_cfg_free`, which must wait for
    /// every user to go).
    pub fn shared(
        read_rate: u64,
        read_burst: u64,
        write_rate: u64,
        write_burst: u64,
        tick: Option<Duration>,
    ) -> Result<Arc<Self>, ConfigError> {
        Self::new(read_rate, read_burst, write_rate, write_burst, tick).map(Arc::new)
    }

    /// Bytes added to the read bucket per tick (`read_rate`).
    ///
    /// libevent: the `read_rate` field of `struct ev_token_bucket_cfg`.
    pub fn read_rate(&self) -> u64 {
        self.read_rate
    }

    /// Most bytes the read bucket holds (`read_maximum`).
    ///
    /// libevent: the `read_maximum` field of `struct ev_token_bucket_cfg`.
    pub fn read_burst(&self) -> u64 {
        self.read_burst
    }

    /// Bytes added to the write bucket per tick (`write_rate`).
    ///
    /// libevent: the `write_rate` field of `struct ev_token_bucket_cfg`.
    pub fn write_rate(&self) -> u64 {
        self.write_rate
    }

    /// Most bytes the write bucket holds (`write_maximum`).
    ///
    /// libevent: the `write_maximum` field of `struct ev_token_bucket_cfg`.
    pub fn write_burst(&self) -> u64 {
        self.write_burst
    }

    /// The tick length (`tick_timeout`).
    ///
    /// libevent: the `tick_timeout` field of `struct ev_token_bucket_cfg`.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The rate of one direction (`read_rate` or `write_rate`).
    ///
    /// libevent: the `read_rate` / `write_rate` field of `struct ev_token_bucket_cfg`.
    pub fn rate(&self, dir: Direction) -> u64 {
        match dir {
            Direction::Read => self.read_rate,
            Direction::Write => self.write_rate,
        }
    }

    /// The burst of one direction (`read_maximum` or `write_maximum`).
    ///
    /// libevent: the `read_maximum` / `write_maximum` field of `struct ev_token_bucket_cfg`.
    pub fn burst(&self, dir: Direction) -> u64 {
        match dir {
            Direction::Read => self.read_burst,
            Direction::Write => self.write_burst,
        }
    }
}

/// Validates one direction's rate and burst (statement 72).
pub(crate) fn check_direction(
    direction: Direction,
    rate: u64,
    burst: u64,
) -> Result<(), ConfigError> {
    if rate == 0 {
        return Err(ConfigError::ZeroRate { direction });
    }
    for (field, value) in [("rate", rate), ("burst", burst)] {
        if value > MAX_RATE {
            return Err(ConfigError::TooLarge {
                direction,
                field,
                value,
                max: MAX_RATE,
            });
        }
    }
    if rate > burst {
        return Err(ConfigError::RateAboveBurst {
            direction,
            rate,
            burst,
        });
    }
    Ok(())
}

/// Validates a tick length (statement 72, QUIRK: libevent crashes below 1 ms).
pub(crate) fn check_tick(tick: Duration) -> Result<(), ConfigError> {
    if tick < MIN_TICK {
        return Err(ConfigError::TickTooShort { tick });
    }
    if tick > MAX_TICK {
        return Err(ConfigError::TickTooLong {
            tick,
            max: MAX_TICK,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS100: Option<Duration> = Some(Duration::from_millis(100));

    #[test]
    fn s72_zero_rate_is_an_error() {
        assert_eq!(
            RateLimitConfig::new(0, 10, 1, 10, MS100),
            Err(ConfigError::ZeroRate {
                direction: Direction::Read
            })
        );
        assert_eq!(
            RateLimitConfig::new(1, 10, 0, 10, MS100),
            Err(ConfigError::ZeroRate {
                direction: Direction::Write
            })
        );
    }

    #[test]
    fn s72_rate_above_burst_is_an_error() {
        assert!(matches!(
            RateLimitConfig::new(11, 10, 1, 10, MS100),
            Err(ConfigError::RateAboveBurst {
                direction: Direction::Read,
                rate: 11,
                burst: 10
            })
        ));
        assert!(matches!(
            RateLimitConfig::new(1, 10, 11, 10, MS100),
            Err(ConfigError::RateAboveBurst {
                direction: Direction::Write,
                ..
            })
        ));
    }

    #[test]
    fn s72_values_above_ev_rate_limit_max_are_errors() {
        let big = MAX_RATE + 1;
        assert!(matches!(
            RateLimitConfig::new(1, big, 1, 1, MS100),
            Err(ConfigError::TooLarge { field: "burst", .. })
        ));
        assert!(matches!(
            RateLimitConfig::new(1, 1, big, big, MS100),
            Err(ConfigError::TooLarge {
                direction: Direction::Write,
                field: "rate",
                ..
            })
        ));
        assert!(RateLimitConfig::new(MAX_RATE, MAX_RATE, 1, MAX_RATE, MS100).is_ok());
    }

    #[test]
    fn s72_null_tick_means_one_second() {
        let cfg = RateLimitConfig::new(1, 1, 1, 1, None).unwrap();
        assert_eq!(cfg.tick(), Duration::from_secs(1));
    }

    #[test]
    fn s72_quirk_tick_under_one_ms_is_rejected() {
        for tick in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(999),
        ] {
            assert_eq!(
                RateLimitConfig::new(1, 1, 1, 1, Some(tick)),
                Err(ConfigError::TickTooShort { tick })
            );
        }
        assert!(RateLimitConfig::new(1, 1, 1, 1, Some(MIN_TICK)).is_ok());
        assert!(matches!(
            RateLimitConfig::new(1, 1, 1, 1, Some(MAX_TICK + Duration::from_nanos(1))),
            Err(ConfigError::TickTooLong { .. })
        ));
        assert!(RateLimitConfig::new(1, 1, 1, 1, Some(MAX_TICK)).is_ok());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = RateLimitConfig::new(5, 4, 1, 1, MS100).unwrap_err();
        assert_eq!(e.to_string(), "read rate 5 is larger than its burst 4");
    }
}
