//! Running out of file descriptors: the listener backs off instead of
//! spinning (libevent statement 89 / issue #71), tells the error callback,
//! and serves the waiting clients once descriptors are free again.
//!
//! The server runs in a child process (this test binary re-executed with
//! `LISTENER_EMFILE_CHILD=1`) whose `RLIMIT_NOFILE` is lowered so that it can
//! hold only two client sockets. The parent is the client. The child prints
//! `port N` once, `accepted` per connection and `error ...` per error
//! callback; the parent counts them.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "LISTENER_EMFILE_CHILD";
/// The child runs at most this long, whatever happens to the parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

/// The server side; does nothing unless started by the parent test.
#[test]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    child_main();
}

/// The descriptor numbers in use (without read_dir's own handle).
fn open_fds() -> Vec<u64> {
    let own = format!("/proc/{}/fd", std::process::id());
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            if target.to_str() == Some(own.as_str()) {
                return None;
            }
            e.file_name().to_str()?.parse().ok()
        })
        .collect()
}

/// The smallest `RLIMIT_NOFILE` that leaves exactly `free` descriptor
/// numbers available (new descriptors must be below the limit).
fn limit_leaving(free: usize) -> u64 {
    let used = open_fds();
    (0u64..)
        .filter(|n| !used.contains(n))
        .nth(free - 1)
        .expect("descriptor numbers are unbounded")
        + 1
}

fn lower_nofile(soft: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill and a
    // valid one for setrlimit to read; both only touch this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = soft as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

fn child_main() {
    use evconnlistener::{Listener, Options};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut l = Listener::bind("127.0.0.1:0".parse().unwrap(), &Options::new()).unwrap();
        l.set_error_callback(|e| {
            let kind = if e.is_resource_exhaustion() {
                "exhausted"
            } else {
                "other"
            };
            println!("error {kind} {e}");
        });
        let port = l.local_addr().as_inet().unwrap().port();
        let handle = l.spawn(|mut conn| {
            println!("accepted");
            tokio::spawn(async move {
                let _ = conn.write_all(b"ok\n").await;
                let mut buf = [0u8; 64];
                while let Ok(1..) = conn.read(&mut buf).await {}
            });
        });
        // Room for exactly two accepted sockets.
        lower_nofile(limit_leaving(2));
        println!("port {port}");
        tokio::time::sleep(CHILD_LIFETIME).await;
        drop(handle);
    });
}

/// Kills and reaps the child however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_ok(c: &mut TcpStream, within: Duration) -> std::io::Result<()> {
    c.set_read_timeout(Some(within))?;
    let mut buf = [0u8; 3];
    c.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ok\n");
    Ok(())
}

#[test]
fn out_of_descriptors_backs_off_and_recovers() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = ChildGuard(child);

    // Lines from the child, at most 10 000 of them (a spinning server would
    // print far more errors than that).
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(10_000) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |within: Duration| rx.recv_timeout(within).ok();

    let port: u16 = loop {
        let line = next_line(Duration::from_secs(10)).expect("the child prints its port");
        // libtest prints `test emfile_child ... ` without a newline first.
        if let Some((_, p)) = line.split_once("port ") {
            break p.trim().parse().unwrap();
        }
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // Two clients fill the child's descriptor table.
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut held {
        read_ok(c, Duration::from_secs(5)).unwrap();
    }

    // Two more complete the handshake in the kernel but cannot be accepted.
    let mut waiting: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let watch = Duration::from_millis(1500);
    let start = Instant::now();
    let (mut accepted, mut exhausted, mut other) = (0, 0, 0);
    let mut log = Vec::new();
    while let Some(left) = watch.checked_sub(start.elapsed()) {
        let Some(line) = next_line(left) else { break };
        if log.len() < 50 {
            log.push(line.clone());
        }
        if line == "accepted" {
            accepted += 1;
        } else if line.starts_with("error exhausted") {
            exhausted += 1;
        } else if line.starts_with("error") {
            other += 1;
        }
    }
    assert_eq!(
        accepted, 2,
        "only the first two clients were accepted: {log:#?}"
    );
    assert_eq!(other, 0);
    // Back-off 10, 20, 40 ... 640 ms: about 8 retries in 1.5 s. libevent
    // would retry on every loop iteration: thousands.
    assert!(exhausted >= 1, "the error callback heard of EMFILE");
    assert!(exhausted <= 20, "{exhausted} errors in 1.5 s: spinning");
    let mut probe = [0u8; 1];
    waiting[0]
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // Timed-out (or EINTR-interrupted) read: no byte and no EOF.
    assert!(
        waiting[0].read(&mut probe).is_err(),
        "nothing served while out of descriptors"
    );

    // Free the descriptors: the waiting clients are served (within the 1 s
    // maximum back-off plus slack).
    held.clear();
    for c in &mut waiting {
        read_ok(c, Duration::from_secs(5)).expect("served after descriptors freed up");
    }
}
