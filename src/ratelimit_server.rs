//! A rate-limited download server: the library side of
//! `examples/ratelimit_server.rs`, shared with the test that measures it
//! over real loopback connections (`tests/ratelimit_server.rs`).
//!
//! It is libevent's `test/test-ratelim.c` server turned into something
//! to measure: every accepted connection gets an endless (or
//! [`Config::bytes`]-long) stream of the pattern byte `i % 251`
//! ([`pattern_byte`]), written through a socket bufferevent with
//!
//! * a per-connection limit ([`Config::rate`], `bufferevent_set_rate_limit`),
//! * and/or one group shared by every connection ([`Config::group_rate`],
//!   `bufferevent_rate_limit_group_new` + `bufferevent_add_to_rate_limit_group`),
//!   with an optional `min_share`.
//!
//! Rates are given in bytes per second and turned into bytes per tick
//! ([`Config::tick`], default 100 ms); the rate in force is that whole
//! number of bytes per tick. What the client sends is read and discarded;
//! its end of file or an error closes the connection.
//!
//! Bounded against hostile clients: a connection queues at most two chunks
//! of the pattern (about 32 KB) ahead of the socket, a client that stops
//! reading is dropped after [`Config::write_timeout`] (default
//! [`WRITE_TIMEOUT`]), one that sends nothing may be dropped after
//! [`Config::read_timeout`] (default none: a downloader sends nothing), and
//! the listener's [`Options::max_connections`](evconnlistener::Options::max_connections)
//! caps the connections while its accept back-off rides out `EMFILE`.
//!
//! ```
//! use std::time::Duration;
//! use evstack::ratelimit_server::{self, Config};
//! use tokio::io::AsyncReadExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config {
//!     rate: Some(100_000), // 100 kB/s per connection
//!     bytes: Some(5_000),  // then close
//!     ..Config::default()
//! };
//! let listener = ratelimit_server::bind("127.0.0.1:0".parse()?, &evstack::listener::Options::new())?;
//! let addr = listener.local_addr().as_inet().unwrap();
//! let server = ratelimit_server::serve(listener, &config)?;
//! let mut c = tokio::net::TcpStream::connect(addr).await?;
//! let mut got = Vec::new();
//! c.read_to_end(&mut got).await?;
//! assert_eq!(got.len(), 5_000);
//! assert!(got.iter().enumerate().all(|(i, &b)| b == ratelimit_server::pattern_byte(i as u64)));
//! server.close().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bufferevent::{
    BufferEvent, ConfigError, Dir, Events, Handler, Options, RateLimitConfig, RateLimitGroup,
};
use bytes::Bytes;
use evconnlistener::{Connection, Listener, ListenerHandle};
use tracing::Instrument;

/// The port the example listens on by default.
pub const DEFAULT_PORT: u16 = 15001;

/// The default tick: 100 ms.
pub const DEFAULT_TICK: Duration = Duration::from_millis(100);

/// The default write timeout: a client that has taken none of its pending
/// bytes for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pattern's period: byte `i` of every stream is `i % 251`.
pub const PERIOD: u64 = 251;

/// Bytes written at a time: a whole number of periods, so that every
/// chunk starts with byte 0 of the pattern and is shared, not copied.
const CHUNK_PERIODS: usize = 64;

/// Byte `i` of every stream the server sends.
///
/// ```
/// use evstack::ratelimit_server::pattern_byte;
/// assert_eq!(pattern_byte(250), 250);
/// assert_eq!(pattern_byte(251), 0);
/// ```
pub fn pattern_byte(i: u64) -> u8 {
    (i % PERIOD) as u8
}

/// What the server limits and sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Per-connection limit in bytes per second, each direction; `None`:
    /// no limit of its own.
    pub rate: Option<u64>,
    /// Per-connection burst in bytes; `None`: one tick's worth of `rate`.
    pub burst: Option<u64>,
    /// Limit shared by all connections, bytes per second; `None`: no group.
    pub group_rate: Option<u64>,
    /// The group's burst in bytes; `None`: one tick's worth.
    pub group_burst: Option<u64>,
    /// The tick of both limits.
    pub tick: Duration,
    /// The group's `min_share` (`bufferevent_rate_limit_group_set_min_share`);
    /// `None`: libevent's default, 64 bytes.
    pub min_share: Option<u64>,
    /// Bytes sent per connection before it is closed; `None`: until the
    /// client closes.
    pub bytes: Option<u64>,
    /// Close a connection whose client sent nothing for this long; `None`
    /// (the default): never, since a downloader need not send anything.
    pub read_timeout: Option<Duration>,
    /// Close a connection whose pending output made no progress for this
    /// long (the client stopped reading); `None`: never. Default
    /// [`WRITE_TIMEOUT`]. Time a rate limit holds the output back does not
    /// count.
    pub write_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate: None,
            burst: None,
            group_rate: None,
            group_burst: None,
            tick: DEFAULT_TICK,
            min_share: None,
            bytes: None,
            read_timeout: None,
            write_timeout: Some(WRITE_TIMEOUT),
        }
    }
}

/// A configuration the server cannot use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rate that is less than one byte per tick.
    #[error("{what} of {rate} bytes/s is less than one byte per {tick:?} tick")]
    RateTooLow {
        /// `"rate"` or `"group rate"`.
        what: &'static str,
        /// The rate asked for.
        rate: u64,
        /// The tick.
        tick: Duration,
    },
    /// The limit configuration was refused (`ev_token_bucket_cfg_new`
    /// returning `NULL`).
    #[error("invalid {what} limit: {source}")]
    Limit {
        /// `"per-connection"` or `"group"`.
        what: &'static str,
        /// Why.
        source: ConfigError,
    },
    /// A `min_share` was given without a group.
    #[error("min_share needs a group rate")]
    MinShareWithoutGroup,
}

/// Bytes per tick for `rate` bytes per second (rounded down).
fn per_tick(what: &'static str, rate: u64, tick: Duration) -> Result<u64, Error> {
    let n = u128::from(rate) * tick.as_nanos() / 1_000_000_000;
    match u64::try_from(n) {
        Ok(0) => Err(Error::RateTooLow { what, rate, tick }),
        Ok(n) => Ok(n),
        Err(_) => Ok(u64::MAX), // refused below as too large
    }
}

impl Config {
    /// Refuses a tick outside 1 ms ..= about 49 days, as the limits would.
    fn check_tick(&self, what: &'static str) -> Result<(), Error> {
        RateLimitConfig::symmetric(1, 1, Some(self.tick))
            .map(drop)
            .map_err(|source| Error::Limit { what, source })
    }

    /// The per-connection configuration, if any (`ev_token_bucket_cfg_new`).
    pub fn connection_limit(&self) -> Result<Option<Arc<RateLimitConfig>>, Error> {
        let Some(rate) = self.rate else {
            return Ok(None);
        };
        self.check_tick("per-connection")?;
        let r = per_tick("rate", rate, self.tick)?;
        let b = self.burst.unwrap_or(r);
        RateLimitConfig::shared(r, b, r, b, Some(self.tick))
            .map(Some)
            .map_err(|source| Error::Limit {
                what: "per-connection",
                source,
            })
    }

    /// The group's configuration, if any.
    pub fn group_limit(&self) -> Result<Option<RateLimitConfig>, Error> {
        let Some(rate) = self.group_rate else {
            return match self.min_share {
                Some(_) => Err(Error::MinShareWithoutGroup),
                None => Ok(None),
            };
        };
        self.check_tick("group")?;
        let r = per_tick("group rate", rate, self.tick)?;
        let b = self.group_burst.unwrap_or(r);
        RateLimitConfig::symmetric(r, b, Some(self.tick))
            .map(Some)
            .map_err(|source| Error::Limit {
                what: "group",
                source,
            })
    }
}

/// Binds the listening socket; port 0 picks a free one. Needs no runtime.
pub fn bind(
    addr: SocketAddr,
    opts: &evconnlistener::Options,
) -> Result<Listener, evconnlistener::Error> {
    Listener::bind(addr, opts)
}

/// A running server; dropping it stops accepting (connections already
/// accepted go on until they end).
#[derive(Debug)]
pub struct Server {
    listener: ListenerHandle,
    group: Option<RateLimitGroup>,
}

impl Server {
    /// The group every connection is in, if [`Config::group_rate`] is set:
    /// its totals say what all connections sent
    /// (`bufferevent_rate_limit_group_get_totals`).
    pub fn group(&self) -> Option<&RateLimitGroup> {
        self.group.as_ref()
    }

    /// Stops accepting and waits until the listening socket is closed.
    pub async fn close(self) {
        self.listener.close().await;
    }
}

/// Serves `listener` on the current tokio runtime with `config`.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn serve(listener: Listener, config: &Config) -> Result<Server, Error> {
    let per_conn = config.connection_limit()?;
    let group = match config.group_limit()? {
        Some(cfg) => {
            let g = RateLimitGroup::new(&cfg);
            if let Some(m) = config.min_share {
                g.set_min_share(m).map_err(|source| Error::Limit {
                    what: "group",
                    source,
                })?;
            }
            Some(g)
        }
        None => None,
    };
    let chunk = Bytes::from(
        (0..PERIOD * CHUNK_PERIODS as u64)
            .map(pattern_byte)
            .collect::<Vec<u8>>(),
    );
    let limit = config.bytes;
    let timeouts = (config.read_timeout, config.write_timeout);
    let conn_group = group.clone();
    let listener = listener.spawn(move |conn| {
        spawn_connection(
            conn,
            per_conn.clone(),
            conn_group.as_ref(),
            chunk.clone(),
            limit,
            timeouts,
        )
    });
    Ok(Server { listener, group })
}

/// Serves one connection on a task of its own.
fn spawn_connection(
    conn: Connection,
    per_conn: Option<Arc<RateLimitConfig>>,
    group: Option<&RateLimitGroup>,
    chunk: Bytes,
    limit: Option<u64>,
    (read_timeout, write_timeout): (Option<Duration>, Option<Duration>),
) {
    let (stream, peer, permit) = conn.into_parts();
    let mut bev = BufferEvent::socket(stream, Options::CLOSE_ON_FREE);
    // The library's span for this connection (kind, peer, its statistics
    // when it closes).
    let span = bev.span();
    span.record("peer", tracing::field::display(&peer));
    span.in_scope(|| tracing::info!("new connection"));
    bev.set_rate_limit(per_conn);
    if let Some(g) = group {
        bev.add_to_rate_limit_group(g);
    }
    // refill once the output is down to one chunk; read to see the close
    let _ = bev.set_watermark(Dir::WRITE, chunk.len(), 0);
    bev.set_timeouts(read_timeout, write_timeout);
    bev.enable(Dir::READ | Dir::WRITE);
    let mut sender = Sender {
        chunk,
        left: limit.unwrap_or(u64::MAX),
        sent: 0,
    };
    sender.fill(&mut bev);
    tokio::spawn(
        async move {
            let _ = bev.run(&mut sender).await;
            tracing::info!(bytes = sender.sent, "connection closed");
            drop(permit);
        }
        .instrument(span),
    );
}

/// The callbacks of one connection.
struct Sender {
    /// Whole periods of the pattern.
    chunk: Bytes,
    /// Bytes still to queue.
    left: u64,
    /// Bytes queued so far.
    sent: u64,
}

impl Sender {
    /// Queues pattern bytes until two chunks are pending or all are
    /// queued; then a graceful close.
    fn fill(&mut self, bev: &mut BufferEvent) {
        if self.left == 0 {
            return;
        }
        while self.left > 0 && bev.output().len() < 2 * self.chunk.len() {
            let n =
                usize::try_from(self.left).map_or(self.chunk.len(), |l| l.min(self.chunk.len()));
            if bev.write_bytes(self.chunk.slice(..n)).is_err() {
                return;
            }
            self.left -= n as u64;
            self.sent += n as u64;
        }
        if self.left == 0 {
            bev.close_gracefully();
        }
    }
}

impl Handler for Sender {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        // what the client sends is not used
        let n = bev.input().len();
        let _ = bev.input_mut().drain(n);
    }

    fn on_write(&mut self, bev: &mut BufferEvent) {
        self.fill(bev);
    }

    fn on_event(&mut self, bev: &mut BufferEvent, what: Events) {
        if what.contains(Events::EOF) {
            tracing::debug!("end of file from the client");
            bev.close();
        } else if what.contains(Events::TIMEOUT) {
            let reason = if what.contains(Events::READING) {
                "idle timeout: the client sent nothing"
            } else {
                "write timeout: the client does not read"
            };
            tracing::info!(reason, "connection closed");
            bev.close();
        } else if what.contains(Events::ERROR) {
            match bev.error() {
                Some(e) => tracing::debug!(error = %e, "connection error"),
                None => tracing::debug!(events = ?what, "connection error"),
            }
            bev.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_become_bytes_per_tick() {
        let c = Config {
            rate: Some(300_000),
            group_rate: Some(1_000_000),
            group_burst: Some(500_000),
            tick: Duration::from_millis(10),
            ..Config::default()
        };
        let per = c.connection_limit().unwrap().unwrap();
        assert_eq!((per.read_rate(), per.read_burst()), (3_000, 3_000));
        let g = c.group_limit().unwrap().unwrap();
        assert_eq!((g.write_rate(), g.write_burst()), (10_000, 500_000));
        assert_eq!(Config::default().connection_limit().unwrap(), None);
        assert_eq!(Config::default().group_limit().unwrap(), None);
    }

    #[test]
    fn bad_configurations_are_errors() {
        let c = |rate, burst, tick_ms| Config {
            rate: Some(rate),
            burst,
            tick: Duration::from_millis(tick_ms),
            ..Config::default()
        };
        assert!(matches!(
            c(5, None, 100).connection_limit(),
            Err(Error::RateTooLow { .. })
        ));
        assert!(matches!(
            c(1_000, Some(10), 100).connection_limit(),
            Err(Error::Limit { .. })
        ));
        assert!(matches!(
            c(1_000, None, 0).connection_limit(),
            Err(Error::Limit {
                source: ConfigError::TickTooShort { .. },
                ..
            })
        ));
        assert!(matches!(
            c(u64::MAX, None, 100_000).connection_limit(),
            Err(Error::Limit { .. })
        ));
        let no_group = Config {
            min_share: Some(10),
            ..Config::default()
        };
        assert!(matches!(
            no_group.group_limit(),
            Err(Error::MinShareWithoutGroup)
        ));
    }
}
