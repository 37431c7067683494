//! Building the listening socket from [`Options`]: create, set options,
//! bind, listen (what libevent's `evconnlistener_new_bind` does before it
//! hands the socket to `evconnlistener_new`), and checking an adopted one.
//!
//! Sockets are made with socket2 and stay plain (not yet registered with
//! tokio) until the accept loop first runs, so a [`Listener`](crate::Listener)
//! can be bound on one thread and served on another runtime.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{Addr, Error, Options};

/// socket + options + bind + listen for an IP address.
pub(crate) fn bind_inet(addr: SocketAddr, opts: &Options) -> Result<Socket, Error> {
    let a = Addr::Inet(addr);
    let Some(backlog) = opts.backlog.listen_len() else {
        return Err(Error::ZeroBacklog { addr: a });
    };
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(
        |source| Error::Socket {
            addr: a.clone(),
            source,
        },
    )?;
    let opt_err = |option: &'static str| {
        let addr = a.clone();
        move |source| Error::SetOption {
            option,
            addr,
            source,
        }
    };
    // socket2 creates sockets with SOCK_CLOEXEC; only undo it on request.
    if !opts.close_on_exec {
        sock.set_cloexec(false).map_err(opt_err("FD_CLOEXEC"))?;
    }
    sock.set_nonblocking(true).map_err(opt_err("O_NONBLOCK"))?;
    if opts.reuse_addr {
        sock.set_reuse_address(true)
            .map_err(opt_err("SO_REUSEADDR"))?;
    }
    if opts.reuse_port {
        sock.set_reuse_port(true).map_err(opt_err("SO_REUSEPORT"))?;
    }
    if let (SocketAddr::V6(_), Some(only)) = (addr, opts.ipv6_only) {
        sock.set_only_v6(only).map_err(opt_err("IPV6_V6ONLY"))?;
    }
    if opts.deferred_accept {
        set_deferred(&sock).map_err(opt_err("TCP_DEFER_ACCEPT"))?;
    }
    sock.bind(&SockAddr::from(addr))
        .map_err(|source| Error::Bind {
            addr: a.clone(),
            source,
        })?;
    listen(&sock, &a, backlog)?;
    Ok(sock)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_deferred(sock: &Socket) -> std::io::Result<()> {
    // libevent passes 1 (second), and so do we.
    crate::sys::set_tcp_defer_accept(sock, 1)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_deferred(_sock: &Socket) -> std::io::Result<()> {
    tracing::debug!("deferred accept is only implemented on Linux; ignored");
    Ok(())
}

pub(crate) fn listen(sock: &Socket, addr: &Addr, backlog: i32) -> Result<(), Error> {
    sock.listen(backlog).map_err(|source| Error::Listen {
        addr: addr.clone(),
        backlog,
        source,
    })
}

/// The address a socket is bound to, as an [`Addr`].
pub(crate) fn local_addr(sock: &Socket) -> std::io::Result<Addr> {
    let sa = sock.local_addr()?;
    if let Some(inet) = sa.as_socket() {
        Ok(Addr::Inet(inet))
    } else if sa.is_unix() {
        Ok(Addr::Unix(sa.as_pathname().map(|p| p.to_path_buf())))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "socket family is neither IP nor Unix-domain",
        ))
    }
}

/// Checks and prepares a socket handed to [`Listener::adopt`](crate::Listener::adopt).
pub(crate) fn adopt(sock: Socket, opts: &Options) -> Result<(Socket, Addr), Error> {
    let adopt_err = |reason: &str, source: Option<std::io::Error>| Error::Adopt {
        reason: reason.to_owned(),
        source,
    };
    match sock.r#type() {
        Ok(t) if t == Type::STREAM => {}
        Ok(_) => return Err(adopt_err("it is not a stream socket", None)),
        Err(e) => return Err(adopt_err("it is not a socket", Some(e))),
    }
    let addr =
        local_addr(&sock).map_err(|e| adopt_err("it has no usable local address", Some(e)))?;
    sock.set_nonblocking(true)
        .map_err(|e| adopt_err("cannot make it non-blocking", Some(e)))?;
    sock.set_cloexec(opts.close_on_exec)
        .map_err(|e| adopt_err("cannot set FD_CLOEXEC", Some(e)))?;
    if opts.deferred_accept && matches!(addr, Addr::Inet(_)) {
        set_deferred(&sock).map_err(|source| Error::SetOption {
            option: "TCP_DEFER_ACCEPT",
            addr: addr.clone(),
            source,
        })?;
    }
    if let Some(backlog) = opts.backlog.listen_len() {
        listen(&sock, &addr, backlog)?;
    }
    Ok((sock, addr))
}
