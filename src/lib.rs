//! # evstack
//!
//! This package is the workspace's facade, not a published crate: it exists
//! so that the seed's programs (`src/seed`), the examples, the benchmarks and
//! the cross-crate tests can use every crate through one dependency.
//!
//! libevent's bufferevent stack re-done in Rust on tokio. This facade
//! re-exports the member crates so that one dependency brings them all:
//!
//! * [`evbuffer`] — the zero-copy chained buffer (libevent's `struct evbuffer`).
//! * [`listener`] — the connection listener (libevent's `evconnlistener`).
//! * [`bufferevent`] — buffered connections with watermarks, timeouts, flush
//!   modes, and socket, filter and pair backends (libevent's `struct bufferevent`).
//! * [`filters`] — ready-made filters: byte transforms, framing, zlib/gzip, TLS
//!   (rustls), composition, and an adapter for any tokio stream.
//! * [`ratelimit`] — libevent's rate limits as a sans-IO core (token buckets,
//!   groups with fair shares); the bufferevent crate applies them
//!   (`BufferEvent::set_rate_limit`, `RateLimitGroup`).
//! * [`ratelimit_server`] — the rate-limited download server behind the
//!   `ratelimit_server` example.
//! * [`seed`] — the seed's three programs (filter server, its client, the
//!   first filter server) behind the `filter_server`, `filter_client` and
//!   `upper_server` examples.
//!
//! The layers and the libevent-to-Rust map are described in the README.
#![forbid(unsafe_code)]

pub use bufferevent;
pub use bufferevent_filters as filters;
pub use ev_token_bucket as ratelimit;
pub use evbuffer;
pub use evconnlistener as listener;

pub mod ratelimit_server;
pub mod seed;
