//! # bufferevent
//!
//! libevent's `bufferevent`, re-done in Rust on tokio: a connection end
//! with an input and an output [`EvBuffer`],
//! watermarks, timeouts, flush modes, and three backends: a socket
//! ([`BufferEvent::socket`], [`connect`](BufferEvent::connect),
//! [`connect_host`](BufferEvent::connect_host)), a filter over another
//! bufferevent ([`BufferEvent::filter`] with the [`Filter`] trait), and an
//! in-memory pair ([`BufferEvent::pair`]). Any of them can be rate limited
//! like libevent's (`bufferevent_set_rate_limit`:
//! [`BufferEvent::set_rate_limit`]; rate-limit groups: [`RateLimitGroup`]).
//!
//! ## Layout
//!
//! * `core`: the sans-IO state machine (enabled directions, watermarks,
//!   timeouts as deadlines, pending callbacks and events, flush and
//!   shutdown state). No I/O, time passed in: every libevent rule is
//!   tested there with a simulated clock.
//! * `backend`: socket, filter and pair, each moving bytes as far as the
//!   core allows.
//! * `rate_limit`: libevent's rate limits joined to the drivers (the
//!   arithmetic is the sans-IO `ev_token_bucket` crate; `core::limit` is the one
//!   place that asks it before bytes move).
//! * [`face`]: callbacks ([`Handler`], [`Callbacks`], [`BufferEvent::run`]),
//!   `AsyncRead + AsyncWrite` on every bufferevent, and the cross-task
//!   [`Handle`].
//!
//! The [`porting`] page maps libevent calls to this crate.
//!
//! ## Bounded by default
//!
//! With no settings at all, nothing a peer does can grow one connection's
//! buffers past fixed bounds: the input stops at [`DEFAULT_MAX_INPUT`] (or
//! the read high watermark), the callback face stops reading while the
//! output holds [`DEFAULT_MAX_OUTPUT`] (or the write high watermark) and
//! reads again once it is below, the async face's writes wait at the same
//! bound, and a filter's `limit` is the room below the bound of the buffer
//! it fills. libevent is unbounded on both sides; raise the bounds with
//! [`BufferEvent::set_max_input`], [`BufferEvent::set_max_output`] or the
//! watermarks.
//!
//! ## Per-connection statistics and tracing
//!
//! [`BufferEvent::stats`] gives a [`Stats`] (bytes in and out, the largest
//! output backlog, time paused and why, how it ended); each bufferevent has
//! a tracing span ([`BufferEvent::span`], target `bufferevent`, with its
//! kind and peer address) that [`BufferEvent::run`] enters and that carries
//! the statistics when the bufferevent is dropped. Both are free when
//! unused: counters, and no span kept when tracing is off.
//!
//! ## Dependencies
//!
//! tokio with `net`, `time` and `sync` only (bring your own runtime
//! flavour), `futures-util` without default features. Rate limiting has no
//! feature flag: unused, it costs one pointer per bufferevent and one branch
//! per transfer.
//!
//! ## Example: an upper-casing filter over a pair, with callbacks
//!
//! ```
//! use bufferevent::{BufferEvent, Callbacks, Dir, Events, FilterStatus, FlushMode, Options, PassThrough};
//! use evbuffer::EvBuffer;
//! use tokio::io::AsyncReadExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (near, mut far) = BufferEvent::pair(Options::default());
//! let upper = |src: &mut EvBuffer, dst: &mut EvBuffer, _: Option<usize>, _: FlushMode| {
//!     let mut v = vec![0; src.len()];
//!     let n = src.remove(&mut v)?;
//!     v.truncate(n);
//!     dst.add(&v.to_ascii_uppercase())?;
//!     Ok(FilterStatus::Ok)
//! };
//! let mut server = BufferEvent::filter(near, upper, PassThrough, Options::CLOSE_ON_FREE);
//! server.enable(Dir::READ | Dir::WRITE);
//! let server = tokio::spawn(server.run(
//!     Callbacks::new()
//!         .on_read(|bev| {
//!             // echo what the input filter produced
//!             let mut all = EvBuffer::new();
//!             bev.read_buffer(&mut all).unwrap();
//!             bev.write_buffer(&mut all).unwrap();
//!         })
//!         .on_event(|bev, what| {
//!             if what.contains(Events::EOF) {
//!                 bev.close_gracefully();
//!             }
//!         }),
//! ));
//! // the far end is a plain AsyncRead + AsyncWrite
//! use tokio::io::AsyncWriteExt;
//! far.write_all(b"hello, world").await.unwrap();
//! far.shutdown().await.unwrap();
//! let mut echoed = Vec::new();
//! far.read_to_end(&mut echoed).await.unwrap();
//! assert_eq!(echoed, b"HELLO, WORLD");
//! server.await.unwrap().unwrap(); // run() returns the connection's error
//! # }
//! ```
//!
//! "Statement N" in this crate's documentation and `sN_` in test names refer
//! to item N of `docs/libevent-semantics.md` in the project's repository:
//! libevent 2.1.12's behaviour, as this project pins it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod backend;
mod bufferevent;
mod core;
mod error;
pub mod face;
mod filter;
mod flush;
mod options;
mod rate_limit;

#[doc = include_str!("porting.md")]
pub mod porting {}

pub use crate::backend::Kind;
pub use crate::bufferevent::BufferEvent;
pub use crate::core::{
    Dir, Ending, Events, Limiter, Quota, Stats, Watermark, DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT,
    DEFAULT_READ_SIZE,
};
pub use crate::error::{Error, FilterError, FilterErrorKind, Side};
pub use crate::face::handle::Handle;
pub use crate::face::handler::{Callbacks, Handler};
pub use crate::filter::{Filter, FilterEvent, FilterResult, FilterStatus, PassThrough};
pub use crate::flush::FlushMode;
pub use crate::options::Options;
pub use crate::rate_limit::RateLimitGroup;
pub use ev_token_bucket::{ConfigError, LimitError, RateLimitConfig};
pub use evbuffer::EvBuffer;

#[cfg(test)]
mod sizes {
    //! What one connection's objects cost; a regression here is memory per
    //! connection (run with `--nocapture` to see the figures).
    use std::mem::size_of;

    #[test]
    fn hot_structs_stay_small() {
        let bev = size_of::<crate::BufferEvent>();
        let core = size_of::<crate::core::state::Core>();
        let filter = size_of::<crate::backend::filter::FilterBackend>();
        let run = {
            let (a, _b) = crate::BufferEvent::pair(crate::Options::default());
            size_of_val(&a.run(crate::Callbacks::new()))
        };
        eprintln!("BufferEvent {bev}, Core {core}, FilterBackend {filter}, run future {run}");
        // two EvBuffers plus the state; the cold parts (timeouts, limits,
        // errors, the span) are boxed and absent until used
        assert!(
            core <= 2 * size_of::<evbuffer::EvBuffer>() + 160,
            "Core {core}"
        );
        assert!(bev <= core + 64, "BufferEvent {bev}");
        // the run future holds the bufferevent and the handler, once
        assert!(run <= bev + size_of::<crate::Callbacks>() + 16, "run {run}");
    }
}
