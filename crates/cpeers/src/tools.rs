//! Skipping a test whose system tool is missing, in one line, instead of a
//! panic with a debug dump.
//!
//! The interoperability tests need programs that `cargo` does not bring:
//! libevent's headers and `pkg-config` (the C peers), a C compiler,
//! `openssl` (TLS interop), `python3` with its `zlib` module (C zlib
//! interop), `haproxy` (load-balancer tests). On a machine without one of
//! them, such a test prints one line naming what is missing and how to
//! install it, and returns early (the test harness has no "skipped" state,
//! so it counts as passed). CI sets [`REQUIRE_ENV`] (`EVSTACK_REQUIRE_TOOLS=1`):
//! there a missing tool fails the test, so CI never skips silently.
//!
//! ```no_run
//! if !cpeers::have_command(&["openssl", "version"], "openssl") {
//!     return; // one line on stderr says what to install
//! }
//! ```

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::{BuildError, Peer, PeerError};

/// The environment variable under which a missing tool fails the test
/// instead of skipping it.
pub const REQUIRE_ENV: &str = "EVSTACK_REQUIRE_TOOLS";

/// Whether [`REQUIRE_ENV`] is set to something other than empty or `0`.
pub fn tools_required() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Reports that a test cannot run because `what` is missing: one line on
/// the real stderr (not the test harness's captured one, so it shows in a
/// normal `cargo test` run). Panics instead, with the same line, when
/// [`tools_required`].
pub fn skip(what: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    let line = format!("skipped {test}: {what}");
    if tools_required() {
        panic!("{line} ({REQUIRE_ENV} is set, so a missing tool is a failure)");
    }
    // Written with `write!` on the process's stderr: libtest captures only
    // the print macros, so this line is visible without --nocapture.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// True when `argv` runs and exits with success (output discarded);
/// otherwise calls [`skip`] with "`argv[0]` is missing (apt-get install
/// `install`)" and returns false.
pub fn have_command(argv: &[&str], install: &str) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return true;
    };
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!(
            "`{}` is missing or failed (install: apt-get install {install})",
            argv.join(" ")
        ));
    }
    ok
}

/// [`build`](crate::build), or `None` after one [`skip`] line when the
/// machine lacks what it takes to build C peers (pkg-config, libevent-dev,
/// zlib1g-dev, libssl-dev, a C compiler). Any other failure panics with the
/// error's message (not its debug dump).
pub fn build_or_skip(name: &str) -> Option<std::path::PathBuf> {
    match crate::build(name) {
        Ok(exe) => Some(exe),
        Err(e) => skip_or_panic(name, e),
    }
}

impl Peer {
    /// [`Peer::start_server`], or `None` after one [`skip`] line when the C
    /// peer cannot be built on this machine for want of a tool. Any other
    /// failure panics with the error's message.
    pub fn start_server_or_skip(name: &str) -> Option<(Peer, u16)> {
        match Peer::start_server(name) {
            Ok(started) => Some(started),
            Err(PeerError::Build(e)) => skip_or_panic(name, e),
            Err(e) => panic!("cannot start the C peer {name}: {e}"),
        }
    }

    /// [`Peer::run`], or `None` after one [`skip`] line when the C peer
    /// cannot be built on this machine for want of a tool.
    pub fn run_or_skip(name: &str, args: &[&str]) -> Option<Peer> {
        match Peer::run(name, args) {
            Ok(peer) => Some(peer),
            Err(PeerError::Build(e)) => skip_or_panic(name, e),
            Err(e) => panic!("cannot start the C peer {name}: {e}"),
        }
    }
}

fn skip_or_panic<T>(name: &str, e: BuildError) -> Option<T> {
    if e.is_missing_tool() {
        skip(&format!("the C peer {name} cannot be built: {e}"));
        None
    } else {
        panic!("cannot build the C peer {name}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_command_is_had() {
        assert!(have_command(&["sh", "-c", "exit 0"], "dash"));
    }

    #[test]
    fn a_missing_command_is_reported() {
        if tools_required() {
            return; // would panic by design
        }
        assert!(!have_command(
            &["evstack-no-such-program-here", "--version"],
            "nothing"
        ));
    }
}
