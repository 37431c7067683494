//! What the deployment tests share: finding the `filter_server` example and
//! HAProxy, running them as child processes with their stdout captured,
//! starting a server on a listening socket the test holds (the way systemd
//! socket activation does), HAProxy's generated configuration, and a client
//! that checks a reply byte for byte.
//!
//! Every process is killed and reaped when its guard drops; every wait is
//! bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bound on every wait for a process or a reply.
pub(crate) const LONG: Duration = Duration::from_secs(20);

/// Captured stdout kept per process (the rest is read and dropped).
const MAX_CAPTURE: usize = 8 * 1024 * 1024;

/// One line saying what is missing and how to install it, then `None`; a
/// failure instead under `EVSTACK_REQUIRE_TOOLS=1` (as CI sets it).
fn missing(what: &str) -> Option<PathBuf> {
    cpeers::skip(what);
    None
}

/// HAProxy's binary, or `None` (with a note) when it is not installed.
pub(crate) fn haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file())
        .or_else(|| missing("haproxy is not installed (apt-get install haproxy)"))
}

/// `target/<profile>/examples/filter_server`, if built (plain `cargo test`
/// builds the examples before running tests).
pub(crate) fn filter_server() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join("filter_server");
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!(
            "{} is not built (plain `cargo test` builds the examples)",
            path.display()
        ))
    }
}

#[derive(Default)]
struct Captured {
    text: String,
    closed: bool,
}

/// A child process with its stdout captured; killed and reaped on drop.
pub(crate) struct Proc {
    pub name: String,
    child: Child,
    out: Arc<(Mutex<Captured>, Condvar)>,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with stdout captured and stderr inherited.
    pub(crate) fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new((Mutex::new(Captured::default()), Condvar::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (m, cv) = &*sink;
                let mut c = m.lock().unwrap();
                if n == 0 {
                    c.closed = true;
                    cv.notify_all();
                    return;
                }
                if c.text.len() < MAX_CAPTURE {
                    c.text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                cv.notify_all();
            }
        });
        Proc {
            name: name.to_owned(),
            child,
            out,
            exited: None,
        }
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything captured so far.
    pub(crate) fn output(&self) -> String {
        self.out.0.lock().unwrap().text.clone()
    }

    /// Waits until the captured output satisfies `pred` (or the pipe
    /// closes, or `within` passes); panics with the output if it never does.
    pub(crate) fn wait_for(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let (m, cv) = &*self.out;
        let end = Instant::now() + within;
        let mut c = m.lock().unwrap();
        loop {
            if pred(&c.text) {
                return c.text.clone();
            }
            let now = Instant::now();
            if c.closed || now >= end {
                panic!(
                    "{}: expected output not seen; got:\n{}",
                    self.name,
                    tail(&c.text)
                );
            }
            c = cv.wait_timeout(c, end - now).unwrap().0;
        }
    }

    /// The port from the `listening on port N` line.
    pub(crate) fn port(&self) -> u16 {
        let out = self.wait_for(LONG, |s| {
            s.contains("listening on port ") && s.contains('\n')
        });
        out.lines()
            .find_map(|l| l.strip_prefix("listening on port "))
            .and_then(|p| p.trim().parse().ok())
            .expect("a port number")
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        signal(self.id(), "TERM");
    }

    /// Waits for the process to exit, at most `within`.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        loop {
            if let Some(s) = self.exited {
                return Some(s);
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exited = Some(s);
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends signal `name` (`TERM`, `HUP`...) to `pid`, through kill(1): no
/// unsafe code in tests.
pub(crate) fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{name} {pid} failed");
}

/// The last 4 KiB of `s`, for failure messages.
pub(crate) fn tail(s: &str) -> &str {
    let mut at = s.len().saturating_sub(4096);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

/// A listening socket on 127.0.0.1 and a free port, held by the test as a
/// process manager holds it.
pub(crate) fn listening_socket() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Starts `filter_server` on `sock` (inherited as descriptor 3 with
/// `LISTEN_FDS`, as systemd or a predecessor passes it) with `args`.
pub(crate) fn start_server(exe: &Path, sock: &TcpListener, args: &[&str], name: &str) -> Proc {
    let mut all = vec!["--port", "0", "--bind", "127.0.0.1"];
    all.extend_from_slice(args);
    let cmd = evconnlistener::activation::successor_command(exe, &all, sock).unwrap();
    let p = Proc::spawn(name, cmd);
    let port = p.port();
    assert_eq!(
        port,
        sock.local_addr().unwrap().port(),
        "served the inherited socket"
    );
    p
}

/// A port that was free a moment ago (for HAProxy's frontend, which binds
/// its own socket).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The HAProxy configuration the tests use (and the README shows): TCP
/// mode, round robin over `backends`, each with `send` (`send-proxy-v2` or
/// `send-proxy`), and a health check that speaks the protocol: it connects
/// with the PROXY header (v2: the `LOCAL` command), sends `ping\n`, expects
/// a framed reply and closes cleanly (`linger`: FIN, not RST).
pub(crate) fn haproxy_config(frontend: u16, backends: &[u16], send: &str) -> String {
    let mut cfg = format!(
        "global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch

frontend evstack
    bind 127.0.0.1:{frontend}
    default_backend filter_servers

backend filter_servers
    balance roundrobin
    option tcp-check
    tcp-check connect default linger
    tcp-check send \"ping\\n\"
    tcp-check expect string \"|--- END ---|\"
"
    );
    for (i, port) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "    server s{i} 127.0.0.1:{port} {send} check check-send-proxy inter 500ms fall 2 rise 1\n"
        ));
    }
    cfg
}

/// Writes `cfg` next to the test binary and starts HAProxy on it in the
/// foreground; returns once its frontend accepts connections.
pub(crate) fn start_haproxy(exe: &Path, cfg: &str, frontend: u16, tag: &str) -> Proc {
    let dir = std::env::temp_dir().join(format!("evstack-haproxy-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("-db").arg("-f").arg(&path);
    let p = Proc::spawn("haproxy", cmd);
    let addr: SocketAddr = ([127, 0, 0, 1], frontend).into();
    let end = Instant::now() + LONG;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < end, "haproxy never listened on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// The filter server's echo reply to `request`: upper-cased and framed.
pub(crate) fn echo_reply(request: &[u8]) -> Vec<u8> {
    evstack::seed::framed(&request.to_ascii_uppercase())
}

/// One request on a new connection from a fresh source port: sends
/// `request`, reads the echo reply up to the frame's end, checks it byte
/// for byte. Returns the client's source address, or why it failed.
pub(crate) fn request_once(
    to: SocketAddr,
    request: &[u8],
    within: Duration,
) -> Result<SocketAddr, String> {
    let mut c = TcpStream::connect_timeout(&to, within).map_err(|e| format!("connect: {e}"))?;
    let me = c.local_addr().map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    c.set_nodelay(true).map_err(|e| e.to_string())?;
    c.write_all(request).map_err(|e| format!("write: {e}"))?;
    let want = echo_reply(request);
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got)
        .map_err(|e| format!("read from {me}: {e}"))?;
    if got != want {
        return Err(format!(
            "reply differs: {:?} != {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        ));
    }
    Ok(me)
}

/// Whether `log` shows a passed HAProxy health check: a connection that
/// read the 5 bytes `ping\n` and was closed by its client.
pub(crate) fn health_checked(log: &str) -> bool {
    log.lines().any(|l| {
        l.contains("connection closed")
            && l.contains(" reads=1 bytes_in=5 ")
            && l.contains("end of file from the client")
    })
}

/// The `client=` addresses of a server's close lines.
pub(crate) fn logged_clients(log: &str) -> Vec<SocketAddr> {
    log.lines()
        .filter(|l| l.contains("connection closed"))
        .filter_map(|l| l.rsplit(" client=").next())
        .filter_map(|rest| rest.split(' ').next())
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// The `(drained, cut)` counts of the `drained: ...` line.
pub(crate) fn drain_counts(out: &str) -> Option<(usize, usize)> {
    let line = out.lines().find_map(|l| l.strip_prefix("drained: "))?;
    let mut words = line.split(' ');
    let drained = words.next()?.parse().ok()?;
    let cut = line.split(", ").nth(1)?.split(' ').next()?.parse().ok()?;
    Some((drained, cut))
}

/// The p-th percentile (0..=100) of `v` (sorted here).
pub(crate) fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
    v[i]
}
