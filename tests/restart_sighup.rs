//! Restart by SIGHUP, without a process manager: the running
//! `filter_server` starts its successor (same program, same arguments) on
//! its own listening socket, then drains and exits. A client sending
//! requests all along sees every one answered byte-exact, before, during
//! and after the switch, and the successor (a new process) serves on.

#[path = "haproxy_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn sighup_hands_the_socket_to_a_successor() {
    let Some(exe) = filter_server() else {
        return;
    };
    let mut cmd = Command::new(&exe);
    cmd.args([
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--echo",
        "--reply-delay-ms",
        "5",
    ]);
    let mut old = Proc::spawn("filter_server", cmd);
    let to: SocketAddr = ([127, 0, 0, 1], old.port()).into();

    let stop = Arc::new(AtomicBool::new(false));
    let client = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut results = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                let req = format!("request {n}\n");
                n += 1;
                results.push((Instant::now(), request_once(to, req.as_bytes(), LONG)));
                std::thread::sleep(Duration::from_millis(2));
            }
            results
        }
    });

    std::thread::sleep(Duration::from_millis(300));
    signal(old.id(), "HUP");
    let status = old
        .wait_exit(LONG)
        .expect("the old process exits once drained");
    let old_gone = Instant::now();
    assert!(status.success(), "{status}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let results = client.join().unwrap();

    let out = old.output();
    let successor: u32 = out
        .lines()
        .find_map(|l| l.split("successor=").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no successor pid in the log:\n{}", tail(&out)));
    assert_ne!(successor, old.id());
    // The successor shares the stdout pipe: stop it the same way.
    signal(successor, "TERM");
    let out = old.wait_for(LONG, |s| {
        s.lines().filter(|l| l.starts_with("drained: ")).count() == 2
    });

    let failed: Vec<_> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    let after = results
        .iter()
        .filter(|(t, r)| *t > old_gone && r.is_ok())
        .count();
    eprintln!(
        "SIGHUP restart: {} requests, {} failed, {after} answered by the successor after the old process exited",
        results.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}\n{}", tail(&out));
    assert!(after > 0, "the successor served");
    assert_eq!(
        out.matches(&format!("listening on port {}", to.port()))
            .count(),
        2,
        "both processes served the same port"
    );
}
