//! Shared by the seed interop tests: our servers on a runtime of their own
//! (so that plain blocking sockets and the C peers can talk to them), and
//! raw-socket helpers in the style of `crates/cpeers/tests/transcript.rs`,
//! every read bounded by a timeout.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use evstack::listener::ListenerHandle;
use evstack::seed::{filter_server, upper_server};

/// The bound on every wait.
pub(crate) const LONG: Duration = Duration::from_secs(10);

/// One of our servers, served in this process on a runtime of its own,
/// on 127.0.0.1 and a free port. Dropping it stops it.
pub(crate) struct Ours {
    pub port: u16,
    server: Option<ListenerHandle>,
    rt: Option<tokio::runtime::Runtime>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

impl Ours {
    /// The seed's filter server.
    pub(crate) fn filter_server(config: filter_server::Config) -> Ours {
        let l =
            filter_server::bind("127.0.0.1:0".parse().unwrap(), &filter_server::options()).unwrap();
        let port = l.local_addr().as_inet().unwrap().port();
        let rt = runtime();
        let server = {
            let _in = rt.enter();
            filter_server::serve(l, config)
        };
        Ours {
            port,
            server: Some(server),
            rt: Some(rt),
        }
    }

    /// The seed's first filter server.
    pub(crate) fn upper_server(config: upper_server::Config) -> Ours {
        let l =
            upper_server::bind("127.0.0.1:0".parse().unwrap(), &upper_server::options()).unwrap();
        let port = l.local_addr().as_inet().unwrap().port();
        let rt = runtime();
        let server = {
            let _in = rt.enter();
            upper_server::serve(l, config)
        };
        Ours {
            port,
            server: Some(server),
            rt: Some(rt),
        }
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A raw client connected to 127.0.0.1:`port`, reads bounded by [`LONG`].
pub(crate) fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    c.set_read_timeout(Some(LONG)).unwrap();
    c
}

/// Reads exactly `n` bytes.
pub(crate) fn read_n(c: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.read_exact(&mut buf).unwrap();
    buf
}

/// Sends `request` on a new connection and reads exactly `n` bytes back.
pub(crate) fn exchange(port: u16, request: &[u8], n: usize) -> Vec<u8> {
    let mut c = connect(port);
    c.write_all(request).unwrap();
    read_n(&mut c, n)
}

/// Asserts nothing more arrives within `quiet` (the connection stays open).
/// Reads interrupted by a signal (EINTR) are retried.
pub(crate) fn assert_silent(c: &mut TcpStream, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    let mut b = [0u8; 64];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match c.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }
    c.set_read_timeout(Some(LONG)).unwrap();
}

/// Reads until EOF; returns when it came, measured from `since`.
pub(crate) fn time_to_eof(c: &mut TcpStream, since: Instant) -> Duration {
    let mut b = [0u8; 64];
    loop {
        match c.read(&mut b) {
            Ok(0) => return since.elapsed(),
            Ok(n) => panic!("unexpected {:?}", String::from_utf8_lossy(&b[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("no EOF within {LONG:?}: {e}"),
        }
    }
}

/// Reads frames `head` + payload + `tail` until their payloads add up to
/// `total` bytes; returns the payloads. Fails on anything else on the wire.
pub(crate) fn read_frames(
    c: &mut TcpStream,
    head: &[u8],
    tail: &[u8],
    total: usize,
) -> Vec<Vec<u8>> {
    let mut pending = Vec::new();
    // where the search for the tail resumes in `pending` (frames can be
    // megabytes: don't rescan them on every read)
    let mut scanned = head.len();
    let mut frames = Vec::new();
    let mut got = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while got < total {
        // take every complete frame
        while pending.len() >= head.len() {
            assert_eq!(
                &pending[..head.len()],
                head,
                "a frame must start with its head"
            );
            let from = scanned.max(head.len());
            let Some(at) = pending
                .get(from..)
                .and_then(|rest| rest.windows(tail.len()).position(|w| w == tail))
            else {
                scanned = pending.len().saturating_sub(tail.len() - 1).max(head.len());
                break;
            };
            let end = from + at;
            let payload = pending[head.len()..end].to_vec();
            got += payload.len();
            frames.push(payload);
            pending.drain(..end + tail.len());
            scanned = head.len();
        }
        if got >= total {
            break;
        }
        let n = loop {
            match c.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.expect("a reply within the timeout"),
            }
        };
        assert!(n > 0, "EOF after {got} of {total} payload bytes");
        pending.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, total, "payload bytes");
    assert!(pending.is_empty(), "bytes after the last frame");
    frames
}
