//! [`Incoming`]: a listener as a `futures::Stream` of connections, for
//! tokio users who would rather `while let Some(conn) = incoming.next().await`
//! than register a callback.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, StreamExt};

use crate::accept::AcceptLoop;
use crate::{AcceptError, Addr, Connection, Control};

/// The stream of accepted connections of a [`Listener`](crate::Listener).
///
/// The async face of libevent's `evconnlistener_cb`. Items are `Ok` for each
/// accepted client; errors that the listener retries by itself (running out
/// of file descriptors...) go to the error callback and the log, not to the
/// stream, so a stream only yields `Err` once, for a
/// [`Fatal`](AcceptError::Fatal) error, and then ends. Dropping it closes the
/// listening socket (libevent's `evconnlistener_free`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::StreamExt;
/// use evconnlistener::{Listener, Options};
///
/// let l = Listener::bind("127.0.0.1:0".parse()?, &Options::new())?;
/// let addr = l.local_addr().as_inet().unwrap();
/// let mut incoming = l.incoming();
/// let _client = tokio::net::TcpStream::connect(addr).await?;
/// let conn = incoming.next().await.unwrap()?;
/// assert_eq!(conn.peer_addr().as_inet().unwrap().ip(), addr.ip());
/// # Ok(())
/// # }
/// ```
pub struct Incoming {
    inner: BoxStream<'static, Result<Connection, AcceptError>>,
    control: Control,
    addr: Addr,
}

impl Incoming {
    pub(crate) fn new(accept: AcceptLoop, control: Control, addr: Addr) -> Self {
        let inner = futures::stream::unfold(accept, |mut accept| async move {
            let item = accept.next().await?;
            Some((item, accept))
        })
        .boxed();
        Incoming {
            inner,
            control,
            addr,
        }
    }

    /// The listening address (with the kernel's port when bound to port 0).
    pub fn local_addr(&self) -> &Addr {
        &self.addr
    }

    /// A handle to pause and resume this listener from elsewhere.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops accepting (libevent's `evconnlistener_disable`).
    pub fn pause(&self) {
        self.control.pause();
    }

    /// Accepts again (libevent's `evconnlistener_enable`).
    pub fn resume(&self) {
        self.control.resume();
    }
}

impl futures::Stream for Incoming {
    type Item = Result<Connection, AcceptError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("addr", &self.addr)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}
