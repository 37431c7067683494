//! Three `filter_server` processes behind a real HAProxy (TCP mode, round
//! robin, health checks), with the PROXY protocol: v2 (`send-proxy-v2`) and
//! v1 (`send-proxy`). Every reply must be byte-exact, and each server must
//! have seen the real client address and port (its close lines say
//! `client=127.0.0.1:PORT` with the client's own source port). HAProxy's
//! health checks speak the protocol too (v2 ones with the `LOCAL` command).
//!
//! Skipped with a note when HAProxy is not installed (`apt-get install
//! haproxy`), unless `EVSTACK_REQUIRE_TOOLS=1`.

#[path = "haproxy_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;

use support::*;

const CLIENTS: usize = 30;

fn behind_haproxy(send: &str, accept: &str) {
    let (Some(haproxy), Some(exe)) = (haproxy(), filter_server()) else {
        return;
    };
    let socks: Vec<_> = (0..3).map(|_| listening_socket()).collect();
    let mut servers: Vec<Proc> = socks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            start_server(
                &exe,
                s,
                &["--echo", "--proxy-protocol", accept],
                &format!("server {i}"),
            )
        })
        .collect();
    let ports: Vec<u16> = socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let front = free_port();
    let _lb = start_haproxy(
        &haproxy,
        &haproxy_config(front, &ports, send),
        front,
        accept,
    );
    let to: SocketAddr = ([127, 0, 0, 1], front).into();
    // Every backend passed a health check (HAProxy's connection, with its
    // PROXY header, `ping`, a framed reply); v2 checks use `LOCAL`.
    for s in &servers {
        let log = s.wait_for(LONG, health_checked);
        if accept == "v2" {
            assert!(log.contains("client=proxy-local"), "{}", tail(&log));
        }
    }

    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let request = format!("request {i} via {send}\n");
        let me = request_once(to, request.as_bytes(), LONG)
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        clients.push(me);
    }

    // Drain each server (SIGTERM) so that every close line is written.
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, s) in servers.iter_mut().enumerate() {
        s.terminate();
        assert!(
            s.wait_exit(LONG).is_some_and(|st| st.success()),
            "server {i} exits"
        );
        let log = s.output();
        assert!(
            log.contains(&format!(" to=127.0.0.1:{front} ")),
            "the destination is HAProxy's frontend:\n{}",
            tail(&log)
        );
        let mine = logged_clients(&log);
        let from_clients = mine.iter().filter(|a| clients.contains(a)).count();
        assert!(
            from_clients > 0,
            "round robin gave server {i} none of the {CLIENTS} clients:\n{}",
            tail(&log)
        );
        for a in mine {
            *seen.entry(a).or_default() += 1;
        }
    }
    for c in &clients {
        assert_eq!(
            seen.get(c),
            Some(&1),
            "client {c} must appear, with its source port, in exactly one server's log"
        );
    }
}

#[test]
fn proxy_v2_behind_haproxy() {
    behind_haproxy("send-proxy-v2", "v2");
}

#[test]
fn proxy_v1_behind_haproxy() {
    behind_haproxy("send-proxy", "v1");
}

/// Without HAProxy: a connection whose PROXY header does not complete in
/// time is closed even with no read timeout, and one that sends something
/// else is closed at once, both without a byte of reply; one whose header
/// came in time is served past the header deadline.
#[test]
fn slow_or_missing_proxy_header_is_closed() {
    use bufferevent_filters::proxy::Accept;
    use evstack::seed::filter_server::{self, ProxyProtocol};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    // The server on a runtime of its own, for 10 s at most.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener =
                filter_server::bind("127.0.0.1:0".parse().unwrap(), &filter_server::options())
                    .unwrap();
            tx.send(listener.local_addr().as_inet().unwrap().port())
                .unwrap();
            let config = filter_server::Config {
                echo: true,
                read_timeout: None,
                proxy: Some(ProxyProtocol {
                    accept: Accept::V2,
                    header_timeout: Duration::from_millis(300),
                }),
                ..Default::default()
            };
            let _server = filter_server::serve(listener, config);
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
    });
    let port = rx.recv().unwrap();

    for (bytes, within) in [
        (&b"\r\n\r\n\0\r\nQU"[..], Duration::from_secs(5)),
        (
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello"[..],
            Duration::from_secs(1),
        ),
    ] {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(within)).unwrap();
        let t = Instant::now();
        c.write_all(bytes).unwrap();
        let mut rest = Vec::new();
        let r = c.read_to_end(&mut rest);
        assert!(
            r.is_ok()
                || r.as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "closed, not timed out: {r:?} after {:?}",
            t.elapsed()
        );
        assert!(rest.is_empty(), "no reply: {rest:?}");
    }

    // A connection whose header came in time outlives the header deadline.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hello = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c".to_vec();
    hello.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2, 0xc0, 0x00, 0x00, 0x50]);
    hello.extend_from_slice(b"first");
    c.write_all(&hello).unwrap();
    for (i, req) in [&b"first"[..], b"second"].into_iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(600));
            c.write_all(req).unwrap();
        }
        let want = evstack::seed::framed(&req.to_ascii_uppercase());
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, want);
    }
    drop(server); // detached: ends by itself
}
