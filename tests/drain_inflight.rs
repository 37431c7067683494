//! Graceful drain of a real `filter_server` process: 100 connections with
//! a request in flight (the server answers 1 s late), 5 idle ones that were
//! already answered, and one client that sends megabytes without reading its
//! replies (it can never finish). SIGTERM: every in-flight reply must arrive
//! whole, followed by the server's end of file, before the process exits;
//! the idle connections are closed; the one that cannot finish is cut at
//! the deadline; the server reports `105 drained, 1 cut`.

#[path = "haproxy_support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use support::*;

const IN_FLIGHT: usize = 100;
const IDLE: usize = 5;

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(LONG)).unwrap();
    c
}

#[test]
fn sigterm_finishes_in_flight_replies_and_cuts_at_the_deadline() {
    let Some(exe) = filter_server() else {
        return;
    };
    let sock = listening_socket();
    let port = sock.local_addr().unwrap().port();
    let mut server = start_server(
        &exe,
        &sock,
        &[
            "--echo",
            "--reply-delay-ms",
            "1000",
            "--drain-deadline",
            "3",
            "--timeout",
            "0",
        ],
        "filter_server",
    );
    drop(sock); // the server's socket only: closing it refuses new clients

    // Idle connections: answered (after the delay), then quiet.
    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|i| {
            let mut c = connect(port);
            c.write_all(format!("idle {i}").as_bytes()).unwrap();
            c
        })
        .collect();
    for (i, c) in idle.iter_mut().enumerate() {
        let want = echo_reply(format!("idle {i}").as_bytes());
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, want);
    }

    // The client that never reads: 16 MiB echoed back into a full pipe.
    let mut hog = connect(port);
    hog.set_write_timeout(Some(LONG)).unwrap();
    let hog_writer = std::thread::spawn(move || {
        let block = vec![b'z'; 1 << 20];
        let mut sent = 0;
        for _ in 0..16 {
            if hog.write_all(&block).is_err() {
                break;
            }
            sent += block.len();
        }
        (hog, sent)
    });

    // In-flight requests: read by the server, answered only 1 s later.
    let mut busy: Vec<(TcpStream, Vec<u8>)> = (0..IN_FLIGHT)
        .map(|i| {
            let mut c = connect(port);
            let req = format!("in flight {i:03}").into_bytes();
            c.write_all(&req).unwrap();
            (c, req)
        })
        .collect();
    // All of them read by the server (its log says so), none answered yet.
    server.wait_for(LONG, |s| s.matches("data=\"IN FLIGHT").count() == IN_FLIGHT);

    server.terminate();
    let signalled = Instant::now();

    // Every reply whole, then end of file.
    let mut last_reply = Instant::now();
    for (c, req) in busy.iter_mut() {
        let want = echo_reply(req);
        let mut got = Vec::new();
        c.read_to_end(&mut got)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(req)));
        assert_eq!(got, want, "reply to {}", String::from_utf8_lossy(req));
        last_reply = Instant::now();
    }
    // The idle ones were closed by the drain.
    for c in idle.iter_mut() {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
    let status = server
        .wait_exit(LONG)
        .expect("the server exits after the deadline");
    let exited = Instant::now();
    assert!(status.success(), "{status}");
    assert!(
        last_reply <= exited,
        "every reply arrived before the server exited"
    );
    let out = server.output();
    assert_eq!(
        drain_counts(&out),
        Some((IN_FLIGHT + IDLE, 1)),
        "drain report:\n{}",
        tail(&out)
    );
    assert!(
        out.contains("reason=cut at the drain deadline"),
        "{}",
        tail(&out)
    );
    let (_, sent) = hog_writer.join().unwrap();
    eprintln!(
        "drain: {} in-flight replies complete {:.2} s after SIGTERM; exit after {:.2} s \
         (deadline 3 s, cut the client that had {} MiB unread)",
        IN_FLIGHT,
        (last_reply - signalled).as_secs_f64(),
        (exited - signalled).as_secs_f64(),
        sent >> 20
    );
}
