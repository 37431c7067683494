//! The seed's filter server (port 15000; C original: `crates/cpeers/c/filter_server.c`).
//!
//! Per connection: a socket bufferevent under a filter bufferevent whose
//! input filter upper-cases ([`bufferevent_filters::AsciiCase`]) and whose output filter
//! frames each reply as `|--- HEAD ---|` + reply + `|--- END ---|\n`
//! ([`bufferevent_filters::framing::HeadTailEncoder::seed`]). The read callback takes
//! everything readable and answers `get information: N bytes!` (or, with
//! [`Config::echo`], the bytes themselves); 4 s without input close the
//! connection. The listener reuses the address, defers accepting until the
//! client has sent something (`LEV_OPT_REUSEABLE | LEV_OPT_DEFERRED_ACCEPT`)
//! and has a backlog of 64, as in the seed.
//!
//! A reply goes to the socket in one (vectored) write, so the seed's client,
//! which prints whatever its first read gets, sees it whole.
//!
//! For running behind a load balancer ([`Config::proxy`], [`Config::drain`]):
//! connections may start with a PROXY protocol header (v1, v2 or either;
//! anything else is refused), whose client address goes on the
//! connection's span and close line; and a [`Drain`] stops accepting and
//! lets every connection finish its replies before the process exits.

use std::net::SocketAddr;
use std::time::Duration;

use bufferevent_filters::framing::HeadTailEncoder;
use bufferevent_filters::proxy::Accept;
use bufferevent_filters::AsciiCase;
use evconnlistener::{Drain, Listener, ListenerHandle};

use super::conn::{self, Answer, Extras, Settings};

/// The default time a connection has to deliver its PROXY header.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// PROXY protocol settings: which versions, and how long the header may
/// take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The versions accepted (HAProxy: `send-proxy` is v1,
    /// `send-proxy-v2` is v2).
    pub accept: Accept,
    /// A connection whose header is not complete this long after it was
    /// accepted is closed.
    pub header_timeout: Duration,
}

impl ProxyProtocol {
    /// `accept` with [`PROXY_HEADER_TIMEOUT`].
    pub fn new(accept: Accept) -> Self {
        ProxyProtocol {
            accept,
            header_timeout: PROXY_HEADER_TIMEOUT,
        }
    }
}

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
    /// Expect a PROXY protocol header at the start of every connection;
    /// `None` (the default): no header.
    pub proxy: Option<ProxyProtocol>,
    /// Stop accepting and finish the connections when this drain starts;
    /// `None` (the default): connections are not tracked.
    pub drain: Option<Drain>,
    /// Answer each read this much later, as if the work took that long
    /// (for drain tests and demonstrations); `None` (the default): at once.
    pub reply_delay: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            echo: false,
            read_timeout: Some(READ_TIMEOUT),
            write_timeout: Some(WRITE_TIMEOUT),
            proxy: None,
            drain: None,
            reply_delay: None,
        }
    }
}

/// The seed's listener options: `LEV_OPT_REUSEABLE | LEV_OPT_DEFERRED_ACCEPT`
/// and a backlog of 64. (`LEV_OPT_LEAVE_SOCKETS_BLOCKING` has no meaning on
/// tokio, and `LEV_OPT_CLOSE_ON_FREE` is always the case.)
pub fn options() -> evconnlistener::Options {
    evconnlistener::Options::new()
        .reuse_addr(true)
        .deferred_accept(true)
        .backlog(BACKLOG)
}

/// Binds the listening socket (`evconnlistener_new_bind`); port 0 picks a
/// free port. Needs no runtime.
pub fn bind(
    addr: SocketAddr,
    opts: &evconnlistener::Options,
) -> Result<Listener, evconnlistener::Error> {
    Listener::bind(addr, opts)
}

/// The listening socket inherited through socket activation (systemd's
/// `LISTEN_PID`/`LISTEN_FDS`, or a predecessor handing its socket over with
/// [`evconnlistener::activation::successor_command`]), or else a new one bound to
/// `addr`; the flag is `true` for an inherited one. Needs no runtime.
pub fn bind_or_inherit(
    addr: SocketAddr,
    opts: &evconnlistener::Options,
) -> Result<(Listener, bool), evconnlistener::Error> {
    super::cli::bind_or_inherit(addr, opts)
}

/// The program's `main` once its options are parsed: serve `bound` on a
/// runtime of `threads` until SIGTERM or SIGINT, then drain: stop
/// accepting, let every connection finish its replies, cut what is left
/// after `deadline`, print `drained: N connections drained, M cut at the
/// deadline...` and exit. The first stdout line is `listening on port N`.
///
/// SIGHUP restarts: the program is started again with the same arguments
/// on this process's listening socket, then this process drains.
pub fn run_until_drained(
    bound: Result<(Listener, bool), evconnlistener::Error>,
    threads: usize,
    deadline: Option<Duration>,
    config: Config,
) -> std::process::ExitCode {
    super::cli::serve_until_drained("filter_server", bound, threads, deadline, |l, drain| {
        serve(
            l,
            Config {
                drain: Some(drain),
                ..config
            },
        )
    })
}

/// Serves `listener` on the current tokio runtime until the returned handle
/// is dropped or closed (`event_base_dispatch`). Each connection runs on a
/// task of its own. With [`Config::drain`], starting the drain pauses the
/// listener and every connection closes once its replies are flushed.
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
    let extras = Extras {
        proxy: config.proxy.map(|p| (p.accept, p.header_timeout)),
        drain: config.drain.clone(),
        reply_delay: config.reply_delay,
    };
    if let Some(drain) = &config.drain {
        drain.attach(listener.control());
    }
    listener.spawn(move |c| {
        conn::spawn_with(
            c,
            AsciiCase::upper(),
            HeadTailEncoder::seed(),
            &settings,
            &extras,
        );
    })
}
