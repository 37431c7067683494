//! [`Peer`]: a C peer running as a child process, with its stdout captured
//! (up to [`MAX_CAPTURE`] bytes) and a guard that kills and reaps it when the
//! test ends, however it ends.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::PeerError;

/// At most this many bytes of a peer's stdout are kept; the rest is read and
/// dropped so the child never blocks on a full pipe.
pub const MAX_CAPTURE: usize = 1024 * 1024;

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Captured>,
    changed: Condvar,
}

/// A running C peer. Dropping it kills the process and waits for it.
pub struct Peer {
    name: String,
    child: Child,
    out: Arc<Shared>,
}

impl Peer {
    /// Starts `exe` with `args`, stdin piped (see [`Peer::stdin`]), stdout
    /// captured, stderr inherited (so a crash shows in the test's output).
    pub fn spawn(exe: &Path, args: &[&str]) -> Result<Peer, PeerError> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| PeerError::Spawn {
                path: exe.to_path_buf(),
                source,
            })?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let out = Arc::new(Shared::default());
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match stdout.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut st = sink.state.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    st.closed = true;
                    sink.changed.notify_all();
                    return;
                }
                let room = MAX_CAPTURE - st.bytes.len();
                st.truncated |= n > room;
                st.bytes.extend_from_slice(&buf[..n.min(room)]);
                sink.changed.notify_all();
            }
        });
        let name = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Peer { name, child, out })
    }

    /// Builds program `name` (see [`build`](crate::build)) and starts it with `args`.
    pub fn run(name: &str, args: &[&str]) -> Result<Peer, PeerError> {
        let exe = crate::build(name)?;
        let mut peer = Peer::spawn(&exe, args)?;
        peer.name = name.to_owned();
        Ok(peer)
    }

    /// Builds and starts server `name` on port 0 and waits (up to 10 s) for
    /// its `listening on port N` line; returns the peer and the port.
    pub fn start_server(name: &str) -> Result<(Peer, u16), PeerError> {
        const WAIT: Duration = Duration::from_secs(10);
        let peer = Peer::run(name, &["0"])?;
        let found = peer.wait_for_stdout(WAIT, |s| port_in(s).is_some());
        match found.ok().as_deref().and_then(port_in) {
            Some(port) => Ok((peer, port)),
            None => Err(PeerError::NoPort {
                name: name.to_owned(),
                secs: WAIT.as_secs(),
                stdout: peer.stdout(),
            }),
        }
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin (closing it is how a test can say "EOF").
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Everything captured from stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        let st = self.out.state.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&st.bytes).into_owned()
    }

    /// The raw captured stdout bytes so far, and whether some were dropped
    /// past [`MAX_CAPTURE`].
    pub fn stdout_bytes(&self) -> (Vec<u8>, bool) {
        let st = self.out.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.bytes.clone(), st.truncated)
    }

    /// Waits until the captured stdout satisfies `pred`, for at most
    /// `within`. `Ok(stdout)` when it does; `Err(stdout)` on timeout or when
    /// stdout closed without satisfying it.
    pub fn wait_for_stdout(
        &self,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + within;
        let mut st = self.out.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = String::from_utf8_lossy(&st.bytes).into_owned();
            if pred(&text) {
                return Ok(text);
            }
            let now = Instant::now();
            if st.closed || now >= deadline {
                return Err(text);
            }
            st = self
                .out
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `within` for the process to exit by itself; `None` if it
    /// is still running.
    pub fn wait_exit(&mut self, within: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// The port in a `listening on port N` line.
fn port_in(stdout: &str) -> Option<u16> {
    let rest = &stdout[stdout.find("listening on port ")? + "listening on port ".len()..];
    let line = rest.split('\n').next()?;
    if !rest.contains('\n') {
        return None; // the line is not complete yet
    }
    line.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_line_parsing() {
        assert_eq!(
            port_in("test server!\nlistening on port 4242\n"),
            Some(4242)
        );
        assert_eq!(port_in("listening on port 42"), None, "incomplete line");
        assert_eq!(port_in("listening on port x\n"), None);
        assert_eq!(port_in("nothing\n"), None);
    }

    #[test]
    fn captures_output_and_exit_status() {
        let mut p = Peer::spawn(Path::new("/bin/sh"), &["-c", "printf 'a\\nb'; exit 3"]).unwrap();
        let status = p.wait_exit(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(status.code(), Some(3));
        let out = p.wait_for_stdout(Duration::from_secs(5), |s| s == "a\nb");
        assert_eq!(out.as_deref(), Ok("a\nb"));
    }

    #[test]
    fn drop_kills_a_running_child() {
        let p = Peer::spawn(Path::new("/bin/sleep"), &["30"]).unwrap();
        let pid = p.id();
        drop(p);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "reaped");
    }

    #[test]
    fn waiting_for_output_that_never_comes_times_out() {
        let p = Peer::spawn(Path::new("/bin/sleep"), &["30"]).unwrap();
        let start = Instant::now();
        assert!(p
            .wait_for_stdout(Duration::from_millis(100), |s| !s.is_empty())
            .is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
