//! [`Handle`]: reach a bufferevent from another task or thread.
//!
//! libevent users turn on `BEV_OPT_THREADSAFE` and call `bufferevent_write`
//! from other threads, which deadlocks when locks are held across callbacks
//! (#200, #1361, #1750). Here a bufferevent belongs to the task driving it;
//! a handle sends it commands over a bounded queue, which wakes the driver.
//! No lock is held while a callback runs. The queue holds at most
//! [`COMMAND_QUEUE`] commands, and a queued write is only applied while the
//! output is below its write high watermark (the commands behind it wait
//! too, in order), so a fast producer waits (backpressure) rather than
//! growing memory without bound. Other commands are applied at once even
//! when the output is full: a handle can still close, inspect or reconfigure
//! a bufferevent whose peer does not read.

use std::fmt;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::{BufferEvent, Dir, Error, FlushMode};

/// How many commands a bufferevent's handle queue holds.
///
/// libevent: none (its cross-thread calls wait for the bufferevent's lock instead).
pub const COMMAND_QUEUE: usize = 64;

/// A command sent by a handle.
pub(crate) enum Command {
    Write(Bytes),
    Flush(FlushMode),
    Enable(Dir),
    Disable(Dir),
    Close,
    CloseGracefully,
    Call(Box<dyn FnOnce(&mut BufferEvent) + Send>),
}

/// A `Send + Clone` handle on a bufferevent (what `BEV_OPT_THREADSAFE` is
/// used for in libevent, without its locks). Get one with
/// [`BufferEvent::handle`]; for a pair, [`BufferEvent::partner`] gives one
/// on the other end.
///
/// Every method fails with [`Error::Closed`] once the bufferevent is gone.
///
/// ```
/// use bufferevent::{BufferEvent, Callbacks, Dir, Options};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (mut a, mut b) = BufferEvent::pair(Options::default());
/// let h = a.handle();
/// let writer = std::thread::spawn(move || {
///     h.blocking_write(&b"from another thread"[..]).unwrap();
///     h.blocking_close_gracefully().unwrap();
/// });
/// let a_task = tokio::spawn(a.run(Callbacks::new()));
/// b.enable(Dir::READ);
/// let mut got = Vec::new();
/// use tokio::io::AsyncReadExt;
/// b.read_to_end(&mut got).await.unwrap();
/// assert_eq!(got, b"from another thread");
/// writer.join().unwrap();
/// a_task.await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl Handle {
    pub(crate) fn new(tx: mpsc::Sender<Command>) -> Self {
        Handle { tx }
    }

    async fn send(&self, cmd: Command) -> Result<(), Error> {
        self.tx.send(cmd).await.map_err(|_| Error::Closed)
    }

    fn blocking_send(&self, cmd: Command) -> Result<(), Error> {
        self.tx.blocking_send(cmd).map_err(|_| Error::Closed)
    }

    /// Queues `data` for writing (`bufferevent_write` from another thread),
    /// waiting while the queue is full.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Command::Write(data.into())).await
    }

    /// Queues `data` if the queue has room, without waiting.
    ///
    /// libevent: `bufferevent_write` from another thread (`BEV_OPT_THREADSAFE`), without waiting.
    pub fn try_write(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.tx
            .try_send(Command::Write(data.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::QueueFull,
                mpsc::error::TrySendError::Closed(_) => Error::Closed,
            })
    }

    /// Like [`write`](Self::write), from a thread outside the runtime
    /// (panics if called from inside an async context, as tokio's
    /// `blocking_send` does).
    ///
    /// libevent: `bufferevent_write` from another thread (`BEV_OPT_THREADSAFE`).
    pub fn blocking_write(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.blocking_send(Command::Write(data.into()))
    }

    /// `bufferevent_flush(EV_WRITE, mode)` on the bufferevent.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn flush(&self, mode: FlushMode) -> Result<(), Error> {
        self.send(Command::Flush(mode)).await
    }

    /// `bufferevent_enable`.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn enable(&self, dir: Dir) -> Result<(), Error> {
        self.send(Command::Enable(dir)).await
    }

    /// `bufferevent_disable`.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn disable(&self, dir: Dir) -> Result<(), Error> {
        self.send(Command::Disable(dir)).await
    }

    /// Closes the bufferevent at once ([`BufferEvent::close`]).
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn close(&self) -> Result<(), Error> {
        self.send(Command::Close).await
    }

    /// Closes the bufferevent gracefully
    /// ([`BufferEvent::close_gracefully`]); await [`closed`](Self::closed)
    /// to learn when it is done.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, the command was not queued (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn close_gracefully(&self) -> Result<(), Error> {
        self.send(Command::CloseGracefully).await
    }

    /// Like [`close_gracefully`](Self::close_gracefully), from a thread
    /// outside the runtime.
    ///
    /// libevent: none (#616).
    pub fn blocking_close_gracefully(&self) -> Result<(), Error> {
        self.blocking_send(Command::CloseGracefully)
    }

    /// Runs `f` on the bufferevent, in the task that drives it, between
    /// callbacks.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it
    /// completes, `f` was not queued (and is dropped unrun) (tokio's `mpsc::Sender::send`
    /// guarantee), so it can be retried.
    pub async fn with<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut BufferEvent) + Send + 'static,
    {
        self.send(Command::Call(Box::new(f))).await
    }

    /// Resolves once the bufferevent has been dropped (after `run` returned,
    /// for example after a graceful close completed).
    ///
    /// Cancel safety: cancel-safe (it only waits).
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Whether the bufferevent has been dropped.
    ///
    /// libevent: none (a freed bufferevent is a dangling pointer).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
