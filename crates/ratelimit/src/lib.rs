//! # ratelimit
//!
//! libevent's bufferevent rate limiting (`ev_token_bucket_cfg`,
//! `bufferevent_set_rate_limit`, `bufferevent_rate_limit_group`) as a
//! sans-IO core: plain data and methods, no runtime, the clock passed in as
//! a [`std::time::Instant`] on every call, so that it is exact under a
//! simulated clock. The `bufferevent` crate drives it from tokio.
//!
//! * [`RateLimitConfig`] (`ev_token_bucket_cfg`): rate and burst per
//!   direction and a tick, validated: no configuration panics, and a tick
//!   under 1 ms is an error instead of libevent 2.1.12's later crash.
//!   Shared as an `Arc`, so it cannot dangle (libevent #1049).
//! * [`TokenBucket`] (`ev_token_bucket`): starts with one tick's worth,
//!   refills per whole tick, may go negative, tells when it is positive
//!   again.
//! * [`RateLimiter`]: what one bufferevent may read or write now, the
//!   minimum of its own buckets, its group's share and the largest single
//!   transfer; a zero answer comes with the instant to retry, never a
//!   zero-byte transfer (libevent #1439/#1440).
//! * [`RateLimitGroup`] (`bufferevent_rate_limit_group`): one bucket shared
//!   by any number of members, divided fairly among the members that want
//!   to transfer (idle members do not dilute it, unlike libevent), with a
//!   `min_share`, totals, and membership that ends when a member is
//!   dropped.
//!
//! ## Example: a limited reader driven by a simulated clock
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ev_token_bucket::{RateLimitConfig, RateLimitGroup, RateLimiter};
//!
//! let tick = Duration::from_millis(100);
//! let t0 = Instant::now();
//! // each connection: 2 kB per tick (20 kB/s), bursts of 4 kB
//! let per_conn = RateLimitConfig::shared(2000, 4000, 2000, 4000, Some(tick))?;
//! // all of them together: 3 kB per tick
//! let group = RateLimitGroup::new(&RateLimitConfig::symmetric(3000, 3000, Some(tick))?, t0);
//!
//! let mut conns: Vec<RateLimiter> = (0..3)
//!     .map(|_| {
//!         let mut lim = RateLimiter::with_config(per_conn.clone(), t0);
//!         lim.set_group(Some(&group), t0);
//!         lim
//!     })
//!     .collect();
//!
//! // a driver: move what each may, then sleep until the earliest wakeup
//! let mut now = t0;
//! let mut read = [0usize; 3];
//! while now < t0 + Duration::from_secs(1) {
//!     for (lim, total) in conns.iter_mut().zip(&mut read) {
//!         loop {
//!             let q = lim.read_quota(usize::MAX, now);
//!             if q.bytes == 0 {
//!                 break; // suspended: never a zero-byte read
//!             }
//!             // ... read up to q.bytes from the socket ...
//!             lim.on_read(q.bytes, now);
//!             *total += q.bytes;
//!         }
//!     }
//!     now = conns.iter_mut().filter_map(|l| l.read_wakeup(now)).min().expect("all suspended");
//! }
//! // 10 ticks of 3 kB, shared equally
//! assert_eq!(group.totals().0, 30_000);
//! assert_eq!(read, [10_000; 3]);
//! # Ok::<(), ev_token_bucket::ConfigError>(())
//! ```
//!
//! "Statement N" in this crate's documentation and `sN_` in test names refer
//! to item N of `docs/libevent-semantics.md` in the project's repository:
//! libevent 2.1.12's behaviour, as this project pins it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod bucket;
mod config;
mod error;
mod fair;
mod group;
mod limiter;

pub use bucket::TokenBucket;
pub use config::{Direction, RateLimitConfig, DEFAULT_TICK, MAX_RATE, MAX_TICK, MIN_TICK};
pub use error::{ConfigError, LimitError};
pub use group::RateLimitGroup;
pub use limiter::{Quota, RateLimiter, DEFAULT_MAX_SINGLE, MAX_SINGLE_LIMIT};
