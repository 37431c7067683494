//! [`Connection`]: what the listener hands out for each accepted client,
//! and [`Stream`], the TCP-or-Unix socket inside it.
//!
//! libevent's accept callback receives a raw `evutil_socket_t`, the peer's
//! `struct sockaddr *`, and owns the descriptor from then on. Here the
//! connection owns a tokio stream, the peer [`Addr`] and, when the listener
//! has a cap, the [`ConnPermit`] whose drop frees the slot. Both types are
//! `AsyncRead + AsyncWrite` so they can be used as they are.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::{Addr, ConnPermit};

/// An accepted socket: TCP or Unix-domain.
///
/// Replaces the `evutil_socket_t` given to libevent's `evconnlistener_cb`.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection (from an IPv4 or IPv6 listener).
    Tcp(TcpStream),
    /// A Unix-domain stream connection.
    Unix(UnixStream),
}

/// An accepted client: its socket, its address and (under a
/// [connection cap](crate::Options::max_connections)) its slot.
///
/// Replaces the arguments of libevent's `evconnlistener_cb`
/// (`fd`, `sockaddr`, `socklen`). Dropping it closes the socket and frees the
/// slot; [`into_parts`](Self::into_parts) splits it when the socket must go
/// elsewhere (then keep the permit alive as long as the connection lives).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    peer: Addr,
    permit: Option<ConnPermit>,
}

impl Connection {
    pub(crate) fn new(stream: Stream, peer: Addr, permit: Option<ConnPermit>) -> Self {
        Connection {
            stream,
            peer,
            permit,
        }
    }

    /// The client's address (the `sockaddr` of `evconnlistener_cb`).
    pub fn peer_addr(&self) -> &Addr {
        &self.peer
    }

    /// The socket.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The socket, mutably.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Whether this connection holds a slot of a [`ConnectionLimit`](crate::ConnectionLimit).
    pub fn has_permit(&self) -> bool {
        self.permit.is_some()
    }

    /// The socket, the peer address and the slot permit, separately.
    pub fn into_parts(self) -> (Stream, Addr, Option<ConnPermit>) {
        (self.stream, self.peer, self.permit)
    }

    /// The TCP stream and peer address with the permit, or the connection
    /// back if it is a Unix-domain one.
    #[allow(clippy::result_large_err)]
    pub fn into_tcp(self) -> Result<(TcpStream, std::net::SocketAddr, Option<ConnPermit>), Self> {
        match (self.stream, self.peer) {
            (Stream::Tcp(s), Addr::Inet(a)) => Ok((s, a, self.permit)),
            (stream, peer) => Err(Connection {
                stream,
                peer,
                permit: self.permit,
            }),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
