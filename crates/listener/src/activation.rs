//! Inherited listening sockets: systemd's socket activation protocol
//! (`LISTEN_PID`, `LISTEN_FDS`, descriptors from 3), and starting a
//! successor process that inherits a listener the same way.
//!
//! This is how a server restarts without refusing a connection. Two
//! processes listening on the same port with `SO_REUSEPORT` each have their
//! own accept queue; when the old one closes its socket, the connections
//! the kernel had queued on it are reset. Passing *the same* listening
//! socket to the new process instead leaves one queue, shared: the old
//! process stops accepting and drains, the new one accepts everything that
//! was queued and everything after, and the socket never stops listening.
//! A supervisor that holds the socket (systemd, or a test) starts each new
//! process with it; a running server can also start its own successor
//! ([`successor_command`]).
//!
//! libevent: none (`evconnlistener_new` adopts a descriptor, wherever it
//! came from).

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// Most descriptors accepted from `LISTEN_FDS` (a sanity bound).
const MAX_FDS: usize = 1024;

/// Whether this process already took its inherited descriptors: they are
/// owned once, so a second call cannot make a second owner.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// How many descriptors the environment passes to the process `my_pid`:
/// 0 when it passes none or passes them to another process.
pub(crate) fn count_from_env(
    pid: Option<&str>,
    fds: Option<&str>,
    my_pid: u32,
) -> Result<usize, Error> {
    let bad = |reason: String| Error::Activation { reason };
    let Some(pid) = pid else {
        return Ok(0);
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| bad(format!("LISTEN_PID={pid:?} is not a process id")))?;
    if pid != my_pid {
        tracing::debug!(pid, my_pid, "LISTEN_PID names another process; ignored");
        return Ok(0);
    }
    let Some(fds) = fds else {
        return Err(bad("LISTEN_PID is set but LISTEN_FDS is not".to_owned()));
    };
    let n: usize = fds
        .trim()
        .parse()
        .map_err(|_| bad(format!("LISTEN_FDS={fds:?} is not a count")))?;
    if n > MAX_FDS {
        return Err(bad(format!("LISTEN_FDS={n} is over {MAX_FDS}")));
    }
    Ok(n)
}

/// Takes the listening sockets passed by socket activation
/// (systemd's `sd_listen_fds(1)`): none if `LISTEN_PID` is unset or names
/// another process. The variables are removed so that children do not
/// see them, and the descriptors are made close-on-exec.
///
/// Call it early, before other threads read the environment. A second call
/// returns nothing.
pub fn listen_fds() -> Result<Vec<OwnedFd>, Error> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let n = count_from_env(pid.as_deref(), fds.as_deref(), std::process::id())?;
    if n == 0 || TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(Vec::new());
    }
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let fd = LISTEN_FDS_START + i32::try_from(i).expect("bounded by MAX_FDS");
        let owned = crate::sys::take_inherited_fd(fd).map_err(|e| Error::Activation {
            reason: format!("descriptor {fd} from LISTEN_FDS is unusable: {e}"),
        })?;
        out.push(owned);
    }
    tracing::debug!(count = n, "inherited listening sockets");
    Ok(out)
}

/// A [`Command`] that runs `program` with `args` and `listener` as its
/// descriptor 3, `LISTEN_FDS=1` and `LISTEN_PID` set to the new process's
/// own id, as systemd starts a socket-activated service.
///
/// The process id is only known in the child, so the command runs
/// `/bin/sh -c 'export LISTEN_PID=$$; exec "$0" "$@"'`, which replaces
/// itself (same pid) with `program`. The descriptor is duplicated now and
/// stays open as long as the command exists.
pub fn successor_command<I, S>(
    program: impl AsRef<OsStr>,
    args: I,
    listener: &impl AsFd,
) -> std::io::Result<Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let fd = listener.as_fd().try_clone_to_owned()?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("export LISTEN_PID=$$; exec \"$0\" \"$@\"")
        .arg(program)
        .args(args)
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_FDNAMES");
    crate::sys::pass_as_fd3(&mut cmd, fd);
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_rules() {
        assert_eq!(count_from_env(None, Some("2"), 7).unwrap(), 0);
        assert_eq!(count_from_env(Some("8"), Some("2"), 7).unwrap(), 0);
        assert_eq!(count_from_env(Some("7"), Some("2"), 7).unwrap(), 2);
        assert_eq!(count_from_env(Some("7"), Some("0"), 7).unwrap(), 0);
        for (pid, fds) in [
            (Some("x"), Some("1")),
            (Some("7"), None),
            (Some("7"), Some("-1")),
            (Some("7"), Some("99999")),
        ] {
            let e = count_from_env(pid, fds, 7).unwrap_err();
            assert!(e.to_string().contains("LISTEN_"), "{e}");
        }
    }
}
