//! Unix-domain listeners: binding a path (libevent's
//! `evconnlistener_new_bind` with a `struct sockaddr_un`).
//!
//! IP-only options (`SO_REUSEADDR`, `SO_REUSEPORT`, `TCP_DEFER_ACCEPT`,
//! `IPV6_V6ONLY`) are ignored here. As with libevent, the socket file is
//! neither removed before binding (binding over an existing file fails with
//! "address in use") nor when the listener is dropped.

use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::{Addr, Error, Options};

/// socket + bind + listen for a Unix-domain path.
pub(crate) fn bind_unix(path: &Path, opts: &Options) -> Result<Socket, Error> {
    let a = Addr::Unix(Some(path.to_path_buf()));
    let Some(backlog) = opts.backlog.listen_len() else {
        return Err(Error::ZeroBacklog { addr: a });
    };
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|source| Error::Socket {
        addr: a.clone(),
        source,
    })?;
    if !opts.close_on_exec {
        sock.set_cloexec(false).map_err(|source| Error::SetOption {
            option: "FD_CLOEXEC",
            addr: a.clone(),
            source,
        })?;
    }
    sock.set_nonblocking(true)
        .map_err(|source| Error::SetOption {
            option: "O_NONBLOCK",
            addr: a.clone(),
            source,
        })?;
    let sa = SockAddr::unix(path).map_err(|source| Error::Bind {
        addr: a.clone(),
        source,
    })?;
    sock.bind(&sa).map_err(|source| Error::Bind {
        addr: a.clone(),
        source,
    })?;
    crate::socket::listen(&sock, &a, backlog)?;
    Ok(sock)
}
