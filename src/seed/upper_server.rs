//! The seed's first filter server (section 3, port 5001).
//!
//! Per connection: a socket bufferevent under a filter bufferevent whose
//! input filter upper-cases ([`bufferevent_filters::AsciiCase`]) and whose output filter
//! frames what is written as `================\n` + data +
//! `================\n` ([`bufferevent_filters::framing::HeadTailEncoder::rule`]); the
//! read callback writes back everything it read. No newline is added after
//! the data: `hello, libevent 5001!\n` comes back as the 56 bytes
//! `================\nHELLO, LIBEVENT 5001!\n================\n`. The
//! listener reuses the address and has a backlog of 10, as in the seed.
//!
//! The seed's server never closes a connection (its event callback only
//! prints); this one closes on the client's end of file, on errors, and
//! after [`IDLE_TIMEOUT`] without input.

use std::net::SocketAddr;
use std::time::Duration;

use bufferevent_filters::framing::HeadTailEncoder;
use bufferevent_filters::AsciiCase;
use evconnlistener::{Listener, ListenerHandle};

use super::conn::{self, Answer, Settings};

/// The default idle timeout (the seed has none).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The seed's listen backlog.
pub const BACKLOG: i32 = 10;

/// Settings of the first filter server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Close a connection after this long without input; `None` never (as
    /// the seed). Default [`IDLE_TIMEOUT`].
    pub idle_timeout: Option<Duration>,
    /// Close a connection whose pending output made no progress for this
    /// long; `None` never. Default
    /// [`filter_server::WRITE_TIMEOUT`](super::filter_server::WRITE_TIMEOUT).
    pub write_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout: Some(IDLE_TIMEOUT),
            write_timeout: Some(super::filter_server::WRITE_TIMEOUT),
        }
    }
}

/// The seed's listener options: `LEV_OPT_REUSEABLE` and a backlog of 10.
pub fn options() -> evconnlistener::Options {
    evconnlistener::Options::new()
        .reuse_addr(true)
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

/// Serves `listener` on the current tokio runtime until the returned handle
/// is dropped or closed.
///
/// ```
/// use evstack::seed::upper_server;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let l = upper_server::bind("127.0.0.1:0".parse()?, &upper_server::options())?;
/// let addr = l.local_addr().as_inet().unwrap();
/// let server = upper_server::serve(l, upper_server::Config::default());
/// let mut c = tokio::net::TcpStream::connect(addr).await?;
/// c.write_all(b"hello, libevent 5001!\n").await?;
/// let mut reply = [0u8; 56];
/// c.read_exact(&mut reply).await?;
/// assert_eq!(&reply[..], b"================\nHELLO, LIBEVENT 5001!\n================\n");
/// server.close().await;
/// # Ok(())
/// # }
/// ```
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn serve(listener: Listener, config: Config) -> ListenerHandle {
    let settings = Settings {
        answer: Answer::Echo,
        read_timeout: config.idle_timeout,
        write_timeout: config.write_timeout,
    };
    listener.spawn(move |c| {
        conn::spawn(c, AsciiCase::upper(), HeadTailEncoder::rule(), &settings);
    })
}
