//! The accept loop: wait while paused, take a slot under the cap, accept,
//! and on failure skip, back off or stop.
//!
//! This is libevent's `listener_read_cb` (which loops on `accept` until
//! `EAGAIN`) with the differences that make it fit for a server: it never
//! spins on `EMFILE`/`ENFILE` (statement 89, issue #71), it honours a cap on
//! live connections, and it registers its socket with tokio lazily, on the
//! first call, so the runtime it runs on is the one that polls it.

use std::io;
use std::sync::Arc;

use socket2::{SockAddr, Socket};
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;

use crate::backoff::{classify, BackoffState, ErrorClass};
use crate::connection::{Connection, Stream};
use crate::{AcceptError, Addr, ConnectionLimit, Control, Options};

/// The error callback (libevent's `evconnlistener_errorcb`).
pub(crate) type ErrorCallback = Arc<dyn Fn(&AcceptError) + Send + Sync>;

/// One `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)`: the new socket is ready for
/// tokio without a further `fcntl`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn accept_raw(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    listener.accept4(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn accept_raw(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    let (sock, peer) = listener.accept()?;
    sock.set_nonblocking(true)?;
    Ok((sock, peer))
}

/// Hands an accepted socket to tokio, as TCP or Unix-domain like its listener.
fn into_stream(sock: Socket, peer: &SockAddr, listener: &Addr) -> io::Result<(Stream, Addr)> {
    Ok(match listener {
        Addr::Inet(_) => {
            let peer = peer.as_socket().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "TCP peer without an IP address")
            })?;
            (
                Stream::Tcp(TcpStream::from_std(sock.into())?),
                Addr::Inet(peer),
            )
        }
        Addr::Unix(_) => (
            Stream::Unix(UnixStream::from_std(sock.into())?),
            Addr::Unix(peer.as_pathname().map(|p| p.to_path_buf())),
        ),
    })
}

/// The state of one listener's accept loop.
pub(crate) struct AcceptLoop {
    unregistered: Option<Socket>,
    io: Option<AsyncFd<Socket>>,
    addr: Addr,
    // Holding the sender side keeps `paused` from ever reporting "closed",
    // which would make the pause branch below fire in a loop.
    _control: Control,
    paused: watch::Receiver<bool>,
    limit: Option<ConnectionLimit>,
    backoff: BackoffState,
    on_error: Option<ErrorCallback>,
    done: bool,
}

impl AcceptLoop {
    pub(crate) fn new(
        sock: Socket,
        addr: Addr,
        control: Control,
        opts: &Options,
        on_error: Option<ErrorCallback>,
    ) -> Self {
        AcceptLoop {
            unregistered: Some(sock),
            io: None,
            addr,
            paused: control.subscribe(),
            _control: control,
            limit: opts.limit.clone(),
            backoff: BackoffState::new(opts.backoff),
            on_error,
            done: false,
        }
    }

    fn report(&self, err: &AcceptError) {
        match err {
            AcceptError::Retrying { .. } => tracing::warn!(addr = %self.addr, "{err}"),
            AcceptError::Fatal { .. } => tracing::error!(addr = %self.addr, "{err}"),
        }
        if let Some(cb) = &self.on_error {
            cb(err);
        }
    }

    fn fatal(&mut self, source: io::Error) -> Option<Result<Connection, AcceptError>> {
        let err = AcceptError::Fatal {
            addr: self.addr.clone(),
            source,
        };
        self.report(&err);
        self.done = true;
        Some(Err(err))
    }

    /// The next accepted connection; `Some(Err(Fatal))` once if the socket
    /// broke, then `None`. Cancel-safe: dropping the future loses nothing.
    ///
    /// A slot of the connection cap is taken only once the socket is
    /// readable, so listeners sharing one limit never sit on slots while
    /// idle; at the cap the loop waits for a slot, then for readiness again.
    pub(crate) async fn next(&mut self) -> Option<Result<Connection, AcceptError>> {
        if self.done {
            return None;
        }
        if let Some(sock) = self.unregistered.take() {
            match crate::sys::register_listener(sock) {
                Ok(fd) => self.io = Some(fd),
                Err(e) => return self.fatal(e),
            }
        }
        loop {
            // Paused: accept nothing, leave clients in the kernel's backlog.
            let _ = self.paused.wait_for(|paused| !*paused).await;

            let fd = self.io.as_ref().expect("registered above");
            let paused = &mut self.paused;
            let readable = tokio::select! {
                biased;
                _ = paused.wait_for(|paused| *paused) => continue,
                r = fd.readable() => r,
            };
            let mut ready = match readable {
                Ok(guard) => guard,
                Err(e) => return self.fatal(e),
            };

            let slot = match &self.limit {
                None => None,
                Some(limit) => match limit.try_acquire() {
                    Some(slot) => Some(slot),
                    None => {
                        // At the cap: wait until a slot frees (without
                        // keeping it), then start over.
                        drop(ready);
                        tokio::select! {
                            biased;
                            _ = paused.wait_for(|paused| *paused) => {}
                            _ = limit.wait_for_free_slot() => {}
                        }
                        continue;
                    }
                },
            };

            let result = match ready.try_io(|fd| accept_raw(fd.get_ref())) {
                // Spurious wake-up or another worker was faster: readiness
                // is cleared, wait again.
                Err(_would_block) => continue,
                Ok(r) => r.and_then(|(sock, peer)| into_stream(sock, &peer, &self.addr)),
            };

            match result {
                Ok((stream, peer)) => {
                    self.backoff.reset();
                    tracing::debug!(addr = %self.addr, %peer, "accepted");
                    return Some(Ok(Connection::new(
                        stream,
                        peer,
                        slot.map(crate::limit::Slot::into_permit),
                    )));
                }
                Err(e) => match classify(&e) {
                    ErrorClass::Transient => {
                        tracing::debug!(addr = %self.addr, "accept: {e}; skipped");
                    }
                    ErrorClass::Exhausted | ErrorClass::Unknown => {
                        drop(slot);
                        let retry_in = self.backoff.next_delay();
                        self.report(&AcceptError::Retrying {
                            addr: self.addr.clone(),
                            source: e,
                            retry_in,
                        });
                        tokio::time::sleep(retry_in).await;
                    }
                    ErrorClass::Fatal => return self.fatal(e),
                },
            }
        }
    }
}
