//! # listener — libevent's `evconnlistener` on tokio
//!
//! Binds IPv4, IPv6 and Unix-domain addresses, or adopts a socket that is
//! already open, and hands every accepted connection (socket + peer address)
//! to a callback ([`Listener::spawn`]) or to an async stream
//! ([`Listener::incoming`]). It knows nothing of bufferevents: the examples
//! join the two.
//!
//! | libevent | here |
//! |---|---|
//! | `evconnlistener_new_bind` | [`Listener::bind`], [`Listener::bind_unix`] |
//! | `evconnlistener_new` | [`Listener::adopt`] |
//! | `LEV_OPT_*`, `backlog` | [`Options`], [`Backlog`] |
//! | `evconnlistener_cb` | the closure of [`Listener::spawn`], or [`Incoming`] |
//! | `evconnlistener_set_error_cb` | [`Listener::set_error_callback`] |
//! | `evconnlistener_disable` / `_enable` | [`Control::pause`] / [`Control::resume`] |
//! | `evconnlistener_free` | dropping the [`Listener`], [`Incoming`] or [`ListenerHandle`] |
//! | `evconnlistener_get_fd` + `getsockname` | [`Listener::local_addr`] |
//! | one `event_base` per thread + `LEV_OPT_REUSEABLE_PORT` | [`Workers`] |
//! | (none) graceful shutdown | [`Drain`] |
//! | (none) systemd socket activation, restart handoff | [`Listener::activated`], [`activation`] |
//!
//! Where it does better than libevent 2.1.12:
//!
//! * Running out of file descriptors or memory (`EMFILE`, `ENFILE`,
//!   `ENOBUFS`, `ENOMEM`) makes the listener back off (10 ms doubling to 1 s,
//!   see [`Backoff`]) and tell the error callback, instead of calling
//!   `accept` again at once forever (statement 89, QUIRK #71).
//! * A cap on live connections ([`Options::max_connections`]): at the cap the
//!   listener stops accepting, and resumes as connections are dropped.
//! * Binding needs no runtime, so a listener can be bound on one thread and
//!   served on another, and binding errors say what failed and where.
//!
//! ## Example
//!
//! An upper-casing echo server, and a client talking to it:
//!
//! ```
//! use evconnlistener::{Listener, Options};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let opts = Options::new().backlog(64).max_connections(100);
//!     let listener = Listener::bind("127.0.0.1:0".parse()?, &opts)?;
//!     let addr = listener.local_addr().as_inet().expect("an IP listener");
//!
//!     let server = listener.spawn(|mut conn| {
//!         tokio::spawn(async move {
//!             let mut buf = [0u8; 1024];
//!             while let Ok(n @ 1..) = conn.read(&mut buf).await {
//!                 buf[..n].make_ascii_uppercase();
//!                 if conn.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     });
//!
//!     let mut client = tokio::net::TcpStream::connect(addr).await?;
//!     client.write_all(b"hello, libevent").await?;
//!     let mut reply = [0u8; 15];
//!     client.read_exact(&mut reply).await?;
//!     assert_eq!(&reply, b"HELLO, LIBEVENT");
//!     server.close().await;
//!     Ok(())
//! }
//! ```
//!
//! "Statement N" in this crate's documentation and `sN_` in test names refer
//! to item N of `docs/libevent-semantics.md` in the project's repository:
//! libevent 2.1.12's behaviour, as this project pins it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

mod accept;
pub mod activation;
mod addr;
mod backoff;
mod connection;
mod control;
mod drain;
mod error;
mod handle;
mod incoming;
mod limit;
#[allow(clippy::module_inception)]
mod listener;
mod options;
mod socket;
mod sys;
mod unix;
mod workers;

pub use addr::Addr;
pub use backoff::Backoff;
pub use connection::{Connection, Stream};
pub use control::Control;
pub use drain::{Drain, DrainGuard, DrainReport, DrainState};
pub use error::{AcceptError, Error};
pub use handle::ListenerHandle;
pub use incoming::Incoming;
pub use limit::{ConnPermit, ConnectionLimit};
pub use listener::Listener;
pub use options::{Backlog, Options};
pub use workers::{Workers, WorkersHandle};
