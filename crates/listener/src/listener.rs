//! [`Listener`]: a bound, listening socket and its settings, before it is
//! served as a callback ([`Listener::spawn`]) or a stream ([`Listener::incoming`]).
//!
//! libevent's `evconnlistener_new_bind` both sets up the socket and starts
//! watching it on an `event_base`. Here the two steps are split: binding is
//! synchronous and needs no runtime, so a listener can be bound on one thread
//! and served on another runtime (that is how [`Workers`](crate::Workers)
//! binds every socket before starting its threads).

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use socket2::Socket;

use crate::accept::{AcceptLoop, ErrorCallback};
use crate::handle::ListenerHandle;
use crate::{AcceptError, Addr, Connection, Control, Error, Incoming, Options};

/// A listening socket: libevent's `struct evconnlistener`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use evconnlistener::{Listener, Options};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// // evconnlistener_new_bind(base, cb, arg, LEV_OPT_REUSEABLE, -1, &sin, len)
/// let l = Listener::bind("127.0.0.1:0".parse()?, &Options::new())?;
/// let addr = l.local_addr().as_inet().unwrap();
/// let handle = l.spawn(|mut conn| {
///     tokio::spawn(async move {
///         let _ = conn.write_all(b"hello\n").await;
///     });
/// });
///
/// let mut client = tokio::net::TcpStream::connect(addr).await?;
/// let mut buf = [0u8; 6];
/// client.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello\n");
/// handle.close().await; // evconnlistener_free
/// # Ok(())
/// # }
/// ```
pub struct Listener {
    sock: Socket,
    addr: Addr,
    opts: Options,
    control: Control,
    on_error: Option<ErrorCallback>,
}

impl Listener {
    fn from_parts(sock: Socket, addr: Addr, opts: &Options) -> Self {
        Listener {
            sock,
            addr,
            opts: opts.clone(),
            control: Control::new(opts.start_paused),
            on_error: None,
        }
    }

    /// Creates, binds and listens on an IPv4 or IPv6 address
    /// (libevent's `evconnlistener_new_bind`). Port 0 picks a free port; read
    /// it back with [`local_addr`](Self::local_addr).
    ///
    /// Needs no tokio runtime: the socket is registered when first served.
    pub fn bind(addr: SocketAddr, opts: &Options) -> Result<Self, Error> {
        let sock = crate::socket::bind_inet(addr, opts)?;
        let local = crate::socket::local_addr(&sock).map_err(|source| Error::Bind {
            addr: Addr::Inet(addr),
            source,
        })?;
        tracing::debug!(addr = %local, "listening");
        Ok(Self::from_parts(sock, local, opts))
    }

    /// Creates, binds and listens on a Unix-domain socket path
    /// (libevent's `evconnlistener_new_bind` with a `sockaddr_un`). The file
    /// must not exist yet, and is not removed on drop.
    pub fn bind_unix(path: impl AsRef<Path>, opts: &Options) -> Result<Self, Error> {
        let path = path.as_ref();
        let sock = crate::unix::bind_unix(path, opts)?;
        let local = Addr::Unix(Some(path.to_path_buf()));
        tracing::debug!(addr = %local, "listening");
        Ok(Self::from_parts(sock, local, opts))
    }

    /// Adopts a socket that is already bound, and possibly listening
    /// (libevent's `evconnlistener_new`), e.g. one inherited through systemd
    /// socket activation or made with socket2. It is made non-blocking; with
    /// [`Backlog::AlreadyListening`](crate::Backlog::AlreadyListening)
    /// `listen` is not called, otherwise it is (again) with the backlog.
    ///
    /// The listener owns the socket from now on and closes it on drop, as
    /// with `LEV_OPT_CLOSE_ON_FREE`.
    pub fn adopt(fd: impl Into<OwnedFd>, opts: &Options) -> Result<Self, Error> {
        let sock = Socket::from(fd.into());
        let (sock, local) = crate::socket::adopt(sock, opts)?;
        tracing::debug!(addr = %local, "adopted listening socket");
        Ok(Self::from_parts(sock, local, opts))
    }

    /// The listening sockets passed to this process by socket activation
    /// (systemd's `LISTEN_PID`/`LISTEN_FDS`, or a predecessor's
    /// [`successor_command`](crate::activation::successor_command)),
    /// adopted as they are: already listening, so `opts`' backlog is not
    /// applied. Empty when the process was not socket-activated.
    pub fn activated(opts: &Options) -> Result<Vec<Self>, Error> {
        let opts = opts.clone().backlog(crate::Backlog::AlreadyListening);
        crate::activation::listen_fds()?
            .into_iter()
            .map(|fd| Self::adopt(fd, &opts))
            .collect()
    }

    /// A duplicate of the listening socket's descriptor, e.g. to hand to a
    /// successor process ([`successor_command`](crate::activation::successor_command))
    /// while this one keeps serving.
    pub fn try_clone_fd(&self) -> std::io::Result<OwnedFd> {
        Ok(self.sock.try_clone()?.into())
    }

    /// The bound address (libevent's `evconnlistener_get_fd` followed by
    /// `getsockname`), with the kernel's port when bound to port 0.
    pub fn local_addr(&self) -> &Addr {
        &self.addr
    }

    /// A handle to pause and resume accepting, usable from any thread and
    /// from inside the accept callback.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Sets the callback told about accept errors that are not simply
    /// skipped (libevent's `evconnlistener_set_error_cb`). It runs on the
    /// accept loop's task: keep it short.
    pub fn set_error_callback(&mut self, cb: impl Fn(&AcceptError) + Send + Sync + 'static) {
        self.on_error = Some(Arc::new(cb));
    }

    pub(crate) fn set_error_callback_arc(&mut self, cb: Option<ErrorCallback>) {
        self.on_error = cb;
    }

    /// The options the listener was made with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The listener as a stream of connections. Must be polled inside a
    /// tokio runtime with I/O enabled.
    pub fn incoming(self) -> Incoming {
        let Listener {
            sock,
            addr,
            opts,
            control,
            on_error,
        } = self;
        let accept = AcceptLoop::new(sock, addr.clone(), control.clone(), &opts, on_error);
        Incoming::new(accept, control, addr)
    }

    /// Starts accepting on the current tokio runtime and calls `on_accept`
    /// for each connection (libevent's `evconnlistener_cb`). Dropping the
    /// returned handle stops accepting and closes the socket
    /// (`evconnlistener_free`).
    ///
    /// As in libevent, one wake-up accepts every pending connection, one
    /// callback each, unless the callback pauses the listener through its
    /// [`Control`] (statement 88). libevent also allows a listener with a
    /// NULL callback, which closes what it accepts until `set_cb` (statement
    /// 87); here a callback is always given, and a listener that should not
    /// accept yet is bound with [`Options::start_paused`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn<F>(self, on_accept: F) -> ListenerHandle
    where
        F: FnMut(Connection) + Send + 'static,
    {
        ListenerHandle::spawn(self, on_accept)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .field("control", &self.control)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}
