//! The faces: ways to drive a bufferevent. All run the same engine.
//!
//! * [`handler`]: libevent-style callbacks (`bufferevent_setcb`) run by
//!   [`BufferEvent::run`](crate::BufferEvent::run);
//! * `async_io`: `tokio::io::AsyncRead + AsyncWrite` on every bufferevent;
//! * [`handle`]: a `Send + Clone` handle for other tasks and threads.

pub(crate) mod async_io;
pub mod handle;
pub mod handler;
