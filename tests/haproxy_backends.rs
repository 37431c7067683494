//! Three `filter_server` processes behind a real HAProxy (TCP mode, round
//! robin, health checks), with the PROXY protocol: v2 (`send-proxy-v2`) and
//! v1 (`send-proxy`). Every reply must be byte-exact, and each server must
//! have seen the real client address and port (its close lines say
//! `client=127.0.0.1:PORT` with the client's own source port).
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
