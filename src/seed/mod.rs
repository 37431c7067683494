//! The seed's three programs, as library code shared by the examples and the
//! tests.
//!
//! The seed document (`bufferevent-advanced.md`, section 3) ends with three
//! C++ programs built on libevent: a filter server on port 15000, its
//! client, and a first filter server on port 5001. The examples
//! `filter_server`, `filter_client` and `upper_server` are thin `main`s over
//! the modules here, so that the test suite can run the very same code in
//! process against the C originals (built with libevent by the `cpeers`
//! crate) and compare the bytes on the wire.
//!
//! | seed program | module | example |
//! |---|---|---|
//! | filter server (port 15000) | [`filter_server`] | `cargo run --example filter_server` |
//! | filter client | [`filter_client`] | `cargo run --example filter_client` |
//! | first example (port 5001) | [`upper_server`] | `cargo run --example upper_server` |
//!
//! On the wire they are the originals, byte for byte (the
//! C originals are in `crates/cpeers/c/`): the client sends the 10 bytes `temp.data\0`,
//! the filter server answers the 54 bytes
//! `|--- HEAD ---|get information: 10 bytes!|--- END ---|\n` and closes a
//! connection after 4 s without input; the first server answers
//! `hello, libevent 5001!\n` with
//! `================\nHELLO, LIBEVENT 5001!\n================\n`.
//!
//! Where the originals are fragile, these are not:
//!
//! * binary-safe: the originals copy at most 1,023 bytes per callback into
//!   NUL-terminated arrays, so 1,500 bytes get one answer for 1,023 of them
//!   and the rest waits for more input; these answer for everything read;
//! * the client waits for the whole framed reply (up to `|--- END ---|\n`)
//!   rather than printing whatever its first read got, and says why it
//!   failed (connection refused, no reply in time...) where the original
//!   prints `time out.` for every failure;
//! * logs go through `tracing`, and a closed connection says whether it was
//!   an idle timeout or the peer's end of file (the original prints
//!   `timeout Connection closed.` for both);
//! * bounded: a connection cap, a write timeout, and reading pauses while a
//!   client does not read its replies, so no client can make a server hold
//!   unbounded memory or a connection forever.
//!
//! ```
//! use evstack::seed::{filter_client, filter_server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The seed's filter server on a free port of 127.0.0.1...
//! let listener = filter_server::bind("127.0.0.1:0".parse()?, &filter_server::options())?;
//! let port = listener.local_addr().as_inet().unwrap().port();
//! let server = filter_server::serve(listener, filter_server::Config::default());
//!
//! // ...and the seed's client talking to it.
//! let config = filter_client::Config { port, ..Default::default() };
//! let reply = filter_client::run(&config, |_progress| {}).await?;
//! assert_eq!(reply, b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n");
//! server.close().await;
//! # Ok(())
//! # }
//! ```

pub mod filter_client;
pub mod filter_server;
pub mod upper_server;

mod cli;
mod conn;

pub use cli::{init_logging, runtime, secs, serve_forever};

/// The filter server's port in the seed (3.1, 3.2).
pub const FILTER_SERVER_PORT: u16 = 15000;

/// The first filter server's port in the seed.
pub const UPPER_SERVER_PORT: u16 = 5001;

/// What the seed's client sends: `"temp.data"` with its terminating NUL
/// (the C code writes 10 bytes from a 9-character string literal).
pub const CLIENT_MESSAGE: &[u8] = b"temp.data\0";

/// The filter server's frame head.
pub const HEAD: &[u8] = b"|--- HEAD ---|";

/// The filter server's frame tail; the client reads up to it.
pub const END: &[u8] = b"|--- END ---|\n";

/// The first filter server's frame line, before and after the data.
pub const RULE: &[u8] = b"================\n";

/// The filter server's answer to `n` bytes, before framing:
/// `get information: <n> bytes!`.
///
/// ```
/// assert_eq!(evstack::seed::reply_text(10), "get information: 10 bytes!");
/// ```
pub fn reply_text(n: usize) -> String {
    format!("get information: {n} bytes!")
}

/// `data` framed as the filter server's output filter frames it.
///
/// ```
/// let f = evstack::seed::framed(b"get information: 10 bytes!");
/// assert_eq!(f.len(), 54);
/// ```
pub fn framed(data: &[u8]) -> Vec<u8> {
    [HEAD, data, END].concat()
}

/// `data` framed as the first filter server's output filter frames it.
///
/// ```
/// let f = evstack::seed::ruled(b"HELLO, LIBEVENT 5001!\n");
/// assert_eq!(f.len(), 56);
/// ```
pub fn ruled(data: &[u8]) -> Vec<u8> {
    [RULE, data, RULE].concat()
}

/// What the echo examples (zlib_echo, tls_echo) do with a timeout or an
/// error: log why (`peer` names the connection) and close at once. Returns
/// true when it closed; any other event (end of file, a handshake) is the
/// caller's.
pub fn close_on_timeout_or_error(
    bev: &mut bufferevent::BufferEvent,
    what: bufferevent::Events,
    peer: &dyn std::fmt::Display,
) -> bool {
    use bufferevent::Events;
    if what.contains(Events::TIMEOUT) {
        let reason = if what.contains(Events::READING) {
            "idle timeout: no data"
        } else {
            "write timeout: the client does not read"
        };
        tracing::info!(%peer, reason, "connection closed");
    } else if what.contains(Events::ERROR) {
        match bev.error() {
            Some(e) => tracing::warn!(%peer, error = %e, "connection failed"),
            None => tracing::warn!(%peer, events = ?what, "connection failed"),
        }
    } else {
        return false;
    }
    bev.close();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_lengths() {
        assert_eq!(CLIENT_MESSAGE.len(), 10);
        assert_eq!(
            framed(reply_text(10).as_bytes()),
            b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n"
        );
        assert_eq!(framed(reply_text(10).as_bytes()).len(), 54);
        assert_eq!(ruled(b"HELLO, LIBEVENT 5001!\n").len(), 56);
    }
}
