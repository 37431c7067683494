//! [`Addr`]: one type for the addresses a listener binds and its peers
//! connect from, IP or Unix-domain.
//!
//! libevent hands the accept callback a `struct sockaddr *` and a length, and
//! the caller casts by `sa_family`; here the family is the enum's variant.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A listening or peer address: IPv4/IPv6 or Unix-domain.
///
/// Replaces the `struct sockaddr *` + `socklen` pair of libevent's
/// `evconnlistener_new_bind` and of the `evconnlistener_cb` callback.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// An IPv4 or IPv6 address and port (`AF_INET`, `AF_INET6`).
    Inet(SocketAddr),
    /// A Unix-domain socket path (`AF_UNIX`); `None` for an unnamed socket,
    /// which is what a connecting client usually is.
    Unix(Option<PathBuf>),
}

impl Addr {
    /// The IP address and port, if this is an IP address.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// The socket path, if this is a named Unix-domain address.
    pub fn as_unix_path(&self) -> Option<&Path> {
        match self {
            Addr::Unix(Some(p)) => Some(p),
            _ => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Self {
        Addr::Inet(a)
    }
}

impl From<PathBuf> for Addr {
    fn from(p: PathBuf) -> Self {
        Addr::Unix(Some(p))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => write!(f, "{a}"),
            Addr::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            Addr::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_accessors() {
        let a: Addr = "127.0.0.1:80".parse::<SocketAddr>().unwrap().into();
        assert_eq!(a.to_string(), "127.0.0.1:80");
        assert_eq!(a.as_inet().unwrap().port(), 80);
        assert!(a.as_unix_path().is_none());

        let u: Addr = PathBuf::from("/tmp/s").into();
        assert_eq!(u.to_string(), "unix:/tmp/s");
        assert_eq!(u.as_unix_path(), Some(Path::new("/tmp/s")));
        assert_eq!(Addr::Unix(None).to_string(), "unix:(unnamed)");
    }
}
