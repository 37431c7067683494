//! Errors: what is wrong with a limit configuration, and which manual
//! operation has nothing to act on.
//!
//! libevent answers a bad configuration with `NULL` or `-1` (or, for a tick
//! under a millisecond, with a crash later); here every refusal names the
//! field, the value and the bound it broke.

use std::time::Duration;

use crate::Direction;

/// A rate-limit configuration that cannot be used (libevent's
/// `ev_token_bucket_cfg_new` returning `NULL`,
/// `bufferevent_rate_limit_group_set_min_share` returning `-1`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A rate of 0 bytes per tick would never refill.
    #[error("{direction} rate must be at least 1 byte per tick, got 0")]
    ZeroRate {
        /// The direction whose rate is 0.
        direction: Direction,
    },
    /// The rate is larger than the burst, so one tick's refill could never fit.
    #[error("{direction} rate {rate} is larger than its burst {burst}")]
    RateAboveBurst {
        /// The direction concerned.
        direction: Direction,
        /// The rate asked for, in bytes per tick.
        rate: u64,
        /// The burst asked for, in bytes.
        burst: u64,
    },
    /// A rate or burst above [`MAX_RATE`](crate::MAX_RATE)
    /// (libevent's `EV_RATE_LIMIT_MAX`).
    #[error("{direction} {field} {value} is larger than the maximum {max}")]
    TooLarge {
        /// The direction concerned.
        direction: Direction,
        /// `"rate"` or `"burst"`.
        field: &'static str,
        /// The value asked for.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A tick shorter than [`MIN_TICK`](crate::MIN_TICK) (1 ms). libevent
    /// 2.1.12 accepts it and then divides by zero in `bufferevent_set_rate_limit`.
    #[error("tick length {tick:?} is shorter than the minimum of 1 ms")]
    TickTooShort {
        /// The tick asked for.
        tick: Duration,
    },
    /// A tick longer than [`MAX_TICK`](crate::MAX_TICK) (libevent keeps the
    /// tick as a 32-bit count of milliseconds).
    #[error("tick length {tick:?} is longer than the maximum of {max:?}")]
    TickTooLong {
        /// The tick asked for.
        tick: Duration,
        /// The longest tick accepted.
        max: Duration,
    },
    /// A group `min_share` above [`MAX_RATE`](crate::MAX_RATE).
    #[error("min_share {min_share} is larger than the maximum {max}")]
    MinShareTooLarge {
        /// The share asked for.
        min_share: u64,
        /// The largest value accepted.
        max: u64,
    },
}

/// A manual operation with nothing to act on.
///
/// libevent: an assertion failure or a -1 return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// `decrement_read`/`decrement_write` on a limiter without its own
    /// configuration. libevent's `bufferevent_decrement_read_limit` asserts
    /// (aborts) in that case.
    #[error("cannot decrement the {direction} limit: no rate limit is set on this bufferevent")]
    NotLimited {
        /// The direction asked for.
        direction: Direction,
    },
}
