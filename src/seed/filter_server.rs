//! The seed's filter server (section 3.1, port 15000).
//!
//! Per connection: a socket bufferevent under a filter bufferevent whose
//! input filter upper-cases ([`filters::AsciiCase`]) and whose output filter
//! frames each reply as `|--- HEAD ---|` + reply + `|--- END ---|\n`
//! ([`filters::framing::HeadTailEncoder::seed`]). The read callback takes
//! everything readable and answers `get information: N bytes!` (or, with
//! [`Config::echo`], the bytes themselves); 4 s without input close the
//! connection. The listener reuses the address, defers accepting until the
//! client has sent something (`LEV_OPT_REUSEABLE | LEV_OPT_DEFERRED_ACCEPT`)
//! and has a backlog of 64, as in the seed.
//!
//! A reply goes to the socket in one (vectored) write, so the seed's client,
//! which prints whatever its first read gets, sees it whole.

use std::net::SocketAddr;
use std::time::Duration;

use filters::framing::HeadTailEncoder;
use filters::AsciiCase;
use listener::{Listener, ListenerHandle};

use super::conn::{self, Answer, Settings};

/// The seed's read timeout: 4 s without input close a connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(4);

/// The default write timeout: a connection whose client has not taken any
/// of its pending replies for this long is closed (the seed has none).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The seed's listen backlog.
pub const BACKLOG: i32 = 64;

/// How the filter server answers.
#[derive(Clone, Debug)]
pub struct Config {
    /// Echo what was read (upper-cased and framed) instead of the seed's
    /// `get information: N bytes!`; for benchmarking. Default `false`.
    pub echo: bool,
    /// Close a connection after this long without input; `None` never.
    /// Default [`READ_TIMEOUT`], the seed's 4 s.
    pub read_timeout: Option<Duration>,
    /// Close a connection whose pending output made no progress for this
    /// long; `None` never. Default [`WRITE_TIMEOUT`].
    pub write_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            echo: false,
            read_timeout: Some(READ_TIMEOUT),
            write_timeout: Some(WRITE_TIMEOUT),
        }
    }
}

/// The seed's listener options: `LEV_OPT_REUSEABLE | LEV_OPT_DEFERRED_ACCEPT`
/// and a backlog of 64. (`LEV_OPT_LEAVE_SOCKETS_BLOCKING` has no meaning on
/// tokio, and `LEV_OPT_CLOSE_ON_FREE` is always the case.)
pub fn options() -> listener::Options {
    listener::Options::new()
        .reuse_addr(true)
        .deferred_accept(true)
        .backlog(BACKLOG)
}

/// Binds the listening socket (`evconnlistener_new_bind`); port 0 picks a
/// free port. Needs no runtime.
pub fn bind(addr: SocketAddr, opts: &listener::Options) -> Result<Listener, listener::Error> {
    Listener::bind(addr, opts)
}

/// Serves `listener` on the current tokio runtime until the returned handle
/// is dropped or closed (`event_base_dispatch`). Each connection runs on a
/// task of its own.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn serve(listener: Listener, config: Config) -> ListenerHandle {
    let settings = Settings {
        answer: if config.echo {
            Answer::Echo
        } else {
            Answer::Count
        },
        read_timeout: config.read_timeout,
        write_timeout: config.write_timeout,
    };
    listener.spawn(move |c| {
        conn::spawn(c, AsciiCase::upper(), HeadTailEncoder::seed(), &settings);
    })
}
