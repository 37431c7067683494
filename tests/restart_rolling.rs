//! Rolling restart under load, behind a real HAProxy: three `filter_server`
//! backends (PROXY protocol v2), a steady request/response load through
//! HAProxy, and each backend replaced in turn: a new process started on the
//! same listening socket (inherited as socket activation passes it), then
//! the old one drained with SIGTERM. Every request sent must be answered
//! byte-exact: zero failed, zero lost (a request
//! whose reply never comes fails on its 10 s read timeout). The counts and latency p99 during
//! the restarts and during a run without restarts are printed (not
//! asserted: timing on a shared machine is noise).
//!
//! Skipped with a note when HAProxy is not installed (`apt-get install
//! haproxy`), unless `EVSTACK_REQUIRE_TOOLS=1`.

#[path = "haproxy_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// Load: this many client threads, each one request at a time on a new
/// connection, paced to this many requests per second in all.
const WORKERS: usize = 8;
const RATE: u32 = 300;

#[derive(Default)]
struct Tally {
    sent: usize,
    ok: usize,
    failed: Vec<String>,
    latencies: Vec<Duration>,
}

/// Runs the load against `to` until `stop`, then returns what it saw.
fn load(
    to: SocketAddr,
    stop: Arc<AtomicBool>,
    tag: &'static str,
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let interval = Duration::from_secs(1) * WORKERS as u32 / RATE;
        let threads: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
                std::thread::spawn(move || {
                    let mut next = Instant::now() + interval * w as u32 / WORKERS as u32;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        next += interval;
                        let req = format!("{tag} worker {w} request {n}\n");
                        n += 1;
                        let t = Instant::now();
                        let r = request_once(to, req.as_bytes(), Duration::from_secs(10));
                        let took = t.elapsed();
                        let mut s = tally.lock().unwrap();
                        s.sent += 1;
                        match r {
                            Ok(_) => {
                                s.ok += 1;
                                s.latencies.push(took);
                            }
                            Err(e) => s.failed.push(format!("{req:?}: {e}")),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
    })
}

fn report(name: &str, t: &mut Tally, secs: f64) -> String {
    let p50 = percentile(&mut t.latencies, 50.0);
    let p99 = percentile(&mut t.latencies, 99.0);
    let max = t.latencies.iter().max().copied().unwrap_or_default();
    format!(
        "{name}: {} sent, {} answered byte-exact, {} failed (refused, reset, \
         unanswered within 10 s, or wrong bytes) in {secs:.1} s; \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        t.sent,
        t.ok,
        t.failed.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
    )
}

#[test]
fn rolling_restart_behind_haproxy_loses_nothing() {
    let (Some(haproxy), Some(exe)) = (haproxy(), filter_server()) else {
        return;
    };
    // Each reply takes 20 ms of "work", so every old backend has requests
    // in flight when it is told to drain.
    let args = [
        "--echo",
        "--proxy-protocol",
        "v2",
        "--reply-delay-ms",
        "20",
        "--quiet",
        "--drain-deadline",
        "10",
    ];
    let socks: Vec<_> = (0..3).map(|_| listening_socket()).collect();
    let mut servers: Vec<Proc> = socks
        .iter()
        .enumerate()
        .map(|(i, s)| start_server(&exe, s, &args, &format!("backend {i}")))
        .collect();
    let ports: Vec<u16> = socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let front = free_port();
    let _lb = start_haproxy(
        &haproxy,
        &haproxy_config(front, &ports, "send-proxy-v2"),
        front,
        "rolling",
    );
    let to: SocketAddr = ([127, 0, 0, 1], front).into();

    // Seconds of load per phase; 3 in CI, more by hand
    // (EVSTACK_LOAD_SECS=30).
    let secs: u64 = std::env::var("EVSTACK_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .clamp(1, 120);
    let phase = Duration::from_secs(secs);

    // Without restarts.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let baseline = load(to, Arc::clone(&stop), "steady");
    std::thread::sleep(phase);
    stop.store(true, Ordering::Release);
    let mut baseline = baseline.join().unwrap();
    let baseline_secs = started.elapsed().as_secs_f64();

    // Each backend replaced in turn while the load runs.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let during = load(to, Arc::clone(&stop), "rolling");
    std::thread::sleep(phase / 6);
    let mut drains = Vec::new();
    for (i, sock) in socks.iter().enumerate() {
        let new = start_server(&exe, sock, &args, &format!("backend {i} (new)"));
        let mut old = std::mem::replace(&mut servers[i], new);
        old.terminate();
        let status = old
            .wait_exit(LONG)
            .expect("the old backend exits once drained");
        assert!(status.success(), "{status}");
        let out = old.output();
        let counts =
            drain_counts(&out).unwrap_or_else(|| panic!("no drain report:\n{}", tail(&out)));
        assert_eq!(counts.1, 0, "backend {i} cut connections:\n{}", tail(&out));
        drains.push(counts.0);
        std::thread::sleep(phase / 4);
    }
    stop.store(true, Ordering::Release);
    let mut during = during.join().unwrap();
    let during_secs = started.elapsed().as_secs_f64();

    let a = report("without restarts", &mut baseline, baseline_secs);
    let b = report("rolling restart of 3 backends", &mut during, during_secs);
    eprintln!("{a}\n{b}\nconnections drained by the old backends: {drains:?}");
    for t in [&baseline, &during] {
        assert!(
            t.failed.is_empty(),
            "failed requests: {:#?}",
            &t.failed[..t.failed.len().min(10)]
        );
        assert_eq!(t.ok, t.sent, "every request sent was answered");
        assert!(t.sent > 0);
    }
}
