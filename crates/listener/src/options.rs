//! [`Options`] and [`Backlog`]: libevent's `LEV_OPT_*` flags and the
//! `backlog` argument, as a builder (the map is in [`Options`]' docs).
//!
//! Two options have no libevent equivalent: [`Options::max_connections`]
//! (a cap on live connections) and [`Options::accept_backoff`] (how long to
//! wait after running out of file descriptors).

use std::num::NonZeroU32;

use crate::{Backoff, ConnectionLimit};

/// The backlog passed to `listen(2)`, following libevent's convention for the
/// `backlog` argument (statement 86).
///
/// `From<i32>` maps libevent's integers: negative → [`Default`](Backlog::Default),
/// 0 → [`AlreadyListening`](Backlog::AlreadyListening), n > 0 → [`Listen(n)`](Backlog::Listen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backlog {
    /// `listen(fd, 128)`, libevent's choice for a negative backlog (and the
    /// value Rust's `std::net::TcpListener::bind` uses).
    #[default]
    Default,
    /// `listen(fd, n)`.
    Listen(NonZeroU32),
    /// Do not call `listen`: the socket is already listening. Only valid with
    /// [`Listener::adopt`](crate::Listener::adopt); binding with it is an
    /// error, as `evconnlistener_new_bind` with backlog 0 returns NULL.
    AlreadyListening,
}

impl Backlog {
    /// The value libevent passes to `listen` for a negative backlog.
    pub const DEFAULT_LEN: i32 = 128;

    /// The value to pass to `listen(2)`, or `None` for "don't call listen".
    pub(crate) fn listen_len(self) -> Option<i32> {
        match self {
            Backlog::Default => Some(Self::DEFAULT_LEN),
            Backlog::Listen(n) => Some(i32::try_from(n.get()).unwrap_or(i32::MAX)),
            Backlog::AlreadyListening => None,
        }
    }
}

impl From<i32> for Backlog {
    fn from(n: i32) -> Self {
        match u32::try_from(n).ok().map(NonZeroU32::new) {
            None => Backlog::Default,
            Some(None) => Backlog::AlreadyListening,
            Some(Some(n)) => Backlog::Listen(n),
        }
    }
}

/// How a listener is set up: libevent's `LEV_OPT_*` flags plus the backlog,
/// a connection cap and the accept back-off.
///
/// | libevent | here |
/// |---|---|
/// | `LEV_OPT_REUSEABLE` | [`Options::reuse_addr`] (on by default, as Rust's `TcpListener::bind` does) |
/// | `LEV_OPT_REUSEABLE_PORT` | [`Options::reuse_port`] |
/// | `LEV_OPT_DEFERRED_ACCEPT` | [`Options::deferred_accept`] |
/// | `LEV_OPT_BIND_IPV6ONLY` | [`Options::ipv6_only`] |
/// | `LEV_OPT_CLOSE_ON_EXEC` | [`Options::close_on_exec`] (on by default) |
/// | `LEV_OPT_DISABLED` | [`Options::start_paused`] |
/// | `LEV_OPT_CLOSE_ON_FREE` | always: the listener owns its socket; dropping it closes it |
/// | `LEV_OPT_LEAVE_SOCKETS_BLOCKING` | not offered: tokio needs non-blocking sockets |
/// | `LEV_OPT_THREADSAFE` | not needed: [`Control`](crate::Control) is `Send + Sync` |
/// | `backlog` argument | [`Options::backlog`] with [`Backlog`] |
/// | (none) | [`Options::max_connections`], [`Options::accept_backoff`] |
///
/// ```
/// use evconnlistener::Options;
/// let opts = Options::new()
///     .reuse_port(true)        // LEV_OPT_REUSEABLE_PORT
///     .deferred_accept(true)   // LEV_OPT_DEFERRED_ACCEPT
///     .backlog(64)             // the `backlog` argument
///     .max_connections(1000);  // no libevent equivalent
/// assert!(opts.is_reuse_port());
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) reuse_addr: bool,
    pub(crate) reuse_port: bool,
    pub(crate) backlog: Backlog,
    pub(crate) deferred_accept: bool,
    pub(crate) ipv6_only: Option<bool>,
    pub(crate) close_on_exec: bool,
    pub(crate) start_paused: bool,
    pub(crate) limit: Option<ConnectionLimit>,
    pub(crate) backoff: Backoff,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reuse_addr: true,
            reuse_port: false,
            backlog: Backlog::Default,
            deferred_accept: false,
            ipv6_only: None,
            close_on_exec: true,
            start_paused: false,
            limit: None,
            backoff: Backoff::default(),
        }
    }
}

impl Options {
    /// The defaults: `SO_REUSEADDR` on, close-on-exec on, backlog 128, no
    /// cap, back-off 10 ms..1 s.
    ///
    /// libevent's defaults (flags 0) leave `SO_REUSEADDR` and close-on-exec
    /// off; Rust's `TcpListener::bind` turns `SO_REUSEADDR` on and every Rust
    /// socket is close-on-exec, so this crate follows Rust.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SO_REUSEADDR` (libevent's `LEV_OPT_REUSEABLE`): rebind a port whose
    /// old connections are still in TIME_WAIT. Ignored for Unix-domain sockets.
    pub fn reuse_addr(mut self, on: bool) -> Self {
        self.reuse_addr = on;
        self
    }

    /// `SO_REUSEPORT` (libevent's `LEV_OPT_REUSEABLE_PORT`): several sockets
    /// bind the same address and the kernel spreads connections over them.
    /// [`Workers`](crate::Workers) turns it on by itself.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The `listen(2)` backlog; takes a [`Backlog`] or libevent's integer
    /// convention (`-1` → 128, `0` → don't call listen, `n` → n).
    pub fn backlog(mut self, backlog: impl Into<Backlog>) -> Self {
        self.backlog = backlog.into();
        self
    }

    /// `TCP_DEFER_ACCEPT` with 1 s, as libevent's `LEV_OPT_DEFERRED_ACCEPT`
    /// sets it: the kernel hands over a connection only once the client has
    /// sent data (or after about a second). Linux only; ignored elsewhere
    /// and for Unix-domain sockets. Only for protocols where the client
    /// speaks first.
    pub fn deferred_accept(mut self, on: bool) -> Self {
        self.deferred_accept = on;
        self
    }

    /// `IPV6_V6ONLY` (libevent's `LEV_OPT_BIND_IPV6ONLY`, which can only turn
    /// it on): whether an IPv6 socket bound to `[::]` refuses IPv4-mapped
    /// clients. Unset, the system default (`net.ipv6.bindv6only`) applies.
    /// Ignored for IPv4 and Unix-domain addresses.
    pub fn ipv6_only(mut self, on: bool) -> Self {
        self.ipv6_only = Some(on);
        self
    }

    /// `FD_CLOEXEC` on the listening socket (libevent's
    /// `LEV_OPT_CLOSE_ON_EXEC`). On by default; accepted sockets are always
    /// close-on-exec (tokio accepts with `SOCK_CLOEXEC`).
    pub fn close_on_exec(mut self, on: bool) -> Self {
        self.close_on_exec = on;
        self
    }

    /// Start paused (libevent's `LEV_OPT_DISABLED`): nothing is accepted
    /// until [`Control::resume`](crate::Control::resume).
    pub fn start_paused(mut self, on: bool) -> Self {
        self.start_paused = on;
        self
    }

    /// Cap live connections at `max`: at the cap the listener stops
    /// accepting until an accepted [`Connection`](crate::Connection) is
    /// dropped. No libevent equivalent.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limit = Some(ConnectionLimit::new(max));
        self
    }

    /// Use (and share) an existing [`ConnectionLimit`]: every listener built
    /// with a clone of these options counts against the same cap.
    pub fn connection_limit(mut self, limit: ConnectionLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// How long to wait after `accept` fails for lack of resources
    /// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): from `min`, doubling up to
    /// `max`. libevent retries at once, forever (QUIRK #71/#89).
    pub fn accept_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Whether `SO_REUSEPORT` is asked for.
    pub fn is_reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// The connection cap, if any.
    pub fn limit(&self) -> Option<&ConnectionLimit> {
        self.limit.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_follows_libevent_integers() {
        assert_eq!(Backlog::from(-1), Backlog::Default);
        assert_eq!(Backlog::from(0), Backlog::AlreadyListening);
        assert_eq!(
            Backlog::from(64),
            Backlog::Listen(NonZeroU32::new(64).unwrap())
        );
        assert_eq!(Backlog::from(-1).listen_len(), Some(128));
        assert_eq!(Backlog::from(0).listen_len(), None);
        assert_eq!(Backlog::from(64).listen_len(), Some(64));
        assert_eq!(
            Backlog::Listen(NonZeroU32::MAX).listen_len(),
            Some(i32::MAX)
        );
    }

    #[tokio::test]
    async fn clones_share_the_limit() {
        let a = Options::new().max_connections(3);
        let b = a.clone();
        assert_eq!(b.limit().unwrap().max(), 3);
        let _permit = a.limit().unwrap().acquire().await.into_permit();
        assert_eq!(b.limit().unwrap().live(), 1);
    }
}
