//! The crate's only `unsafe`, in two small calls no safe API offers.
//!
//! * `TCP_DEFER_ACCEPT`: libevent's `LEV_OPT_DEFERRED_ACCEPT` calls
//!   `setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &1, sizeof(int))` on
//!   Linux. socket2 0.6 has no setter for it, and std's `set_deferaccept`
//!   lives on `TcpStream` (and needs a newer Rust than the workspace's
//!   minimum), so the call goes through libc.
//! * Registering the listening socket with tokio's reactor: tokio's own
//!   `TcpListener` can only `accept`, it cannot wait for readiness alone, and
//!   the accept loop must know a client is waiting *before* it takes a slot
//!   of a shared connection cap. `AsyncFd::register` does that; it is
//!   `unsafe` because tokio cannot check that the descriptor stays valid.
//! * Socket activation: taking ownership of an inherited descriptor
//!   (`OwnedFd::from_raw_fd`), and putting a listener at descriptor 3 of a
//!   child between `fork` and `exec` (`dup2`, `fcntl` in `pre_exec`).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Registers a listening socket with the current tokio reactor, for
/// readability.
///
/// # Panics
///
/// Outside a tokio runtime with I/O enabled, as tokio does.
pub(crate) fn register_listener(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `socket2::Socket` owns its descriptor (it wraps an `OwnedFd`):
    // `as_raw_fd` returns that same open descriptor for as long as the value
    // lives, and it is closed only when the `Socket` is dropped, which is
    // when the `AsyncFd` that now owns it is dropped (or `into_inner` hands
    // it back).
    unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }.map_err(io::Error::from)
}

/// Takes ownership of descriptor `fd`, inherited from the parent process,
/// after checking that it is open; makes it close-on-exec.
///
/// The caller (`activation::listen_fds`) calls this once per descriptor
/// per process.
pub(crate) fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; on a closed
    // descriptor it fails with EBADF, which is how we learn it is not open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above) and was handed to this process
    // by its parent under the socket-activation protocol, which makes this
    // process its owner; `listen_fds` takes the inherited set only once per
    // process, so no second `OwnedFd` for it exists.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD on a descriptor we own, with the flags read above.
    let rc = unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Makes `cmd`'s child start with `fd` at descriptor 3 (not close-on-exec).
/// `fd` lives in the hook, so it stays open as long as `cmd` does.
pub(crate) fn pass_as_fd3(cmd: &mut Command, fd: OwnedFd) {
    let hook = move || -> io::Result<()> {
        let raw = fd.as_raw_fd();
        if raw == 3 {
            // SAFETY: between fork and exec only async-signal-safe calls
            // are allowed; fcntl is one. It clears FD_CLOEXEC on the
            // descriptor the child inherited.
            if unsafe { libc::fcntl(3, libc::F_SETFD, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        // SAFETY: dup2 is async-signal-safe; `raw` is open in the child
        // (the child has a copy of every descriptor of the parent, and the
        // hook owns this one). The new descriptor 3 has no FD_CLOEXEC.
        } else if unsafe { libc::dup2(raw, 3) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls async-signal-safe functions (fcntl, dup2,
    // reading errno) and allocates nothing.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Sets `TCP_DEFER_ACCEPT` to `seconds` on a TCP socket (Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_tcp_defer_accept(sock: &impl AsRawFd, seconds: i32) -> io::Result<()> {
    let value: libc::c_int = seconds;
    // SAFETY: `sock` is a live descriptor borrowed for the duration of the
    // call; `value` is a c_int on our stack and the length passed is exactly
    // its size, which is what the kernel reads for TCP_DEFER_ACCEPT.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads `TCP_DEFER_ACCEPT` back (Linux); used by the tests.
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(crate) fn tcp_defer_accept(sock: &impl AsRawFd) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `sock` is live for the call; `value` and `len` are valid,
    // writable and `len` holds `value`'s size, so the kernel writes at most
    // that many bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    #[test]
    fn defer_accept_round_trips() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(super::tcp_defer_accept(&sock).unwrap(), 0);
        super::set_tcp_defer_accept(&sock, 1).unwrap();
        // The kernel stores the timeout in retransmission periods and reports
        // it back rounded, so 1 s may read as 1..=3.
        assert!(super::tcp_defer_accept(&sock).unwrap() >= 1);
    }

    #[tokio::test]
    async fn registered_listener_reports_readiness() {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_nonblocking(true).unwrap();
        sock.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        sock.listen(8).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        let fd = super::register_listener(sock).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let mut guard = tokio::time::timeout(std::time::Duration::from_secs(5), fd.readable())
            .await
            .unwrap()
            .unwrap();
        let accepted = guard.try_io(|s| s.get_ref().accept()).unwrap();
        assert!(accepted.is_ok());
        let sock = fd.into_inner();
        assert!(sock.local_addr().is_ok(), "still open after into_inner");
    }

    #[test]
    fn closed_descriptor_is_not_taken() {
        // Far above any descriptor this process has open (a closed low one
        // could be reused by a concurrent test).
        assert!(super::take_inherited_fd(1 << 30).is_err());
    }

    #[test]
    fn bad_descriptor_is_an_error_not_a_crash() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(super::set_tcp_defer_accept(&file, 1).is_err());
    }
}
