//! The seed's client (C original: `crates/cpeers/c/filter_client.c`).
//!
//! It connects (`bufferevent_socket_connect`), and once connected wraps the
//! socket bufferevent in a filter bufferevent with pass-through filters,
//! the input one reporting how many bytes it sees ([`Progress::Received`],
//! printed as `byte sizes: N`). It then writes the 10 bytes `temp.data\0`
//! and reads the reply.
//!
//! Unlike the seed, which prints whatever its first read returned and then
//! closes, [`run`] reads until the frame's end marker `|--- END ---|\n`
//! (at most [`Config::max_reply`] bytes, within [`Config::reply_timeout`]),
//! so a reply split over several TCP segments is still printed whole; and
//! where the seed prints `time out.` for any failure to connect, [`run`]
//! returns an [`Error`] saying what failed.

use std::sync::Arc;
use std::time::Duration;

use bufferevent::{
    BufferEvent, Dir, Events, Filter, FilterResult, FlushMode, Handler, Options, PassThrough,
};
use evbuffer::EvBuffer;

use super::{CLIENT_MESSAGE, END, FILTER_SERVER_PORT};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// How long the whole reply may take once the request is sent.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(4);

/// The longest reply accepted (the end marker included).
pub const MAX_REPLY: usize = 64 * 1024;

/// Where to connect and what to send.
#[derive(Clone, Debug)]
pub struct Config {
    /// Host name or address; default `127.0.0.1` as in the seed.
    pub host: String,
    /// Port; default 15000 as in the seed.
    pub port: u16,
    /// What to send; default [`CLIENT_MESSAGE`] (`temp.data\0`).
    pub message: Vec<u8>,
    /// Default [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Default [`REPLY_TIMEOUT`]: the longest silence while waiting for the
    /// reply (a read timeout); the whole reply must arrive within four
    /// times this.
    pub reply_timeout: Duration,
    /// Default [`MAX_REPLY`].
    pub max_reply: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_owned(),
            port: FILTER_SERVER_PORT,
            message: CLIENT_MESSAGE.to_vec(),
            connect_timeout: CONNECT_TIMEOUT,
            reply_timeout: REPLY_TIMEOUT,
            max_reply: MAX_REPLY,
        }
    }
}

/// What [`run`] reports as it goes (the seed prints these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// The connection is up (`Connect to server successfully.`).
    Connected,
    /// The input filter was called with this many bytes
    /// (`byte sizes: N`).
    Received(usize),
}

/// Why [`run`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Resolving or connecting failed (connection refused, no route...).
    #[error("{0}")]
    Connect(#[source] bufferevent::Error),
    /// Connecting took longer than [`Config::connect_timeout`].
    #[error("no connection to {target} within {after:?}")]
    ConnectTimeout {
        /// `host:port`.
        target: String,
        /// The timeout.
        after: Duration,
    },
    /// The reply did not end within [`Config::reply_timeout`].
    #[error("no complete reply within {after:?} ({} bytes received)", received.len())]
    NoReply {
        /// The timeout.
        after: Duration,
        /// What had arrived.
        received: Vec<u8>,
    },
    /// The server closed the connection before the reply's end marker.
    #[error("the server closed the connection after {} bytes, before the end of the reply", received.len())]
    Closed {
        /// What had arrived.
        received: Vec<u8>,
    },
    /// More than [`Config::max_reply`] bytes arrived without an end marker.
    #[error("the reply exceeds {max} bytes without its end marker")]
    TooLong {
        /// The bound.
        max: usize,
    },
    /// The connection failed after it was established.
    #[error("the connection failed: {0}")]
    Failed(#[source] bufferevent::Error),
}

type Report = Arc<dyn Fn(Progress) + Send + Sync>;

/// Runs the seed's client once: connect, send [`Config::message`], read
/// the framed reply, close. Returns the reply (up to and including
/// `|--- END ---|\n`); `on_progress` is told when the connection is up and
/// each time the input filter sees bytes.
pub async fn run(
    config: &Config,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<Vec<u8>, Error> {
    let report: Report = Arc::new(on_progress);
    let target = format!("{}:{}", config.host, config.port);

    // bufferevent_socket_new(base, -1, ..) + bufferevent_socket_connect; the
    // seed's `event_callback_cont` waits for BEV_EVENT_CONNECTED
    let mut bev = BufferEvent::connect_host(&config.host, config.port, Options::CLOSE_ON_FREE);
    match tokio::time::timeout(config.connect_timeout, bev.connected()).await {
        Err(_elapsed) => {
            return Err(Error::ConnectTimeout {
                target,
                after: config.connect_timeout,
            })
        }
        Ok(Err(e)) => return Err(Error::Connect(e)),
        Ok(Ok(())) => {}
    }
    tracing::debug!(%target, "connected");
    report(Progress::Connected);

    // Once connected: pass-through filters, the input one reporting sizes.
    let input = SizeReporter {
        report: Arc::clone(&report),
    };
    let mut bev = BufferEvent::filter(bev, input, PassThrough, Options::CLOSE_ON_FREE);
    bev.set_timeouts(Some(config.reply_timeout), None);
    bev.enable(Dir::READ | Dir::WRITE);
    bev.write(&config.message).map_err(Error::Failed)?;

    let mut replying = Replying {
        max: config.max_reply,
        timeout: config.reply_timeout,
        outcome: None,
    };
    // The read timeout restarts with each read; this bounds the total.
    let total = config.reply_timeout.saturating_mul(4);
    if tokio::time::timeout(total, bev.run(&mut replying))
        .await
        .is_err()
    {
        return Err(Error::NoReply {
            after: total,
            received: Vec::new(),
        });
    }
    replying.outcome.unwrap_or_else(|| {
        Err(Error::Closed {
            received: Vec::new(),
        })
    })
}

/// The input filter: passes bytes through, reporting how many it sees (the
/// seed's client `filter_in`).
struct SizeReporter {
    report: Report,
}

impl Filter for SizeReporter {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        if !src.is_empty() {
            (self.report)(Progress::Received(src.len()));
        }
        PassThrough.process(src, dst, limit, mode)
    }
}

/// The callbacks while waiting for the reply (the seed's `read_callback`
/// and `event_callback`).
struct Replying {
    max: usize,
    timeout: Duration,
    outcome: Option<Result<Vec<u8>, Error>>,
}

impl Replying {
    fn finish(&mut self, bev: &mut BufferEvent, outcome: Result<Vec<u8>, Error>) {
        self.outcome = Some(outcome);
        bev.close(); // bufferevent_free
    }
}

impl Handler for Replying {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        // evbuffer_search for the end marker; the reply stays in the input
        // until it is complete.
        if let Some(at) = bev.input().search(END, None) {
            let n = at.position() + END.len();
            let mut reply = vec![0u8; n];
            let got = bev.read(&mut reply);
            reply.truncate(got);
            self.finish(bev, Ok(reply));
        } else if bev.input().len() > self.max {
            let max = self.max;
            self.finish(bev, Err(Error::TooLong { max }));
        }
    }

    fn on_event(&mut self, bev: &mut BufferEvent, what: Events) {
        let received = bev.input().to_vec();
        let outcome = if what.contains(Events::TIMEOUT) {
            Error::NoReply {
                after: self.timeout,
                received,
            }
        } else if what.contains(Events::ERROR) {
            Error::Failed(bev.take_error().unwrap_or(bufferevent::Error::Closed))
        } else {
            Error::Closed { received }
        };
        self.finish(bev, Err(outcome));
    }
}
