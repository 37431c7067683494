//! A chaos soak against every example server run as a process: hostile
//! clients reset connections, half-close them, stall mid-request, send
//! garbage and flood without reading, while healthy clients check every
//! byte of every answer. No healthy exchange may fail, the server must
//! survive and serve afterwards, and its resident memory must stay within
//! [`RSS_GROWTH_KIB`] of what it was before.
//!
//! A few seconds each in CI ([`SOAK_SECS`]); `EVSTACK_SOAK_SECS=60` for the
//! long soak (see `docs/hostile.md`).

mod hostile_support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hostile_support::{client_hello, connect, healthy_data, Bounds, Rng, Server, Target};

/// Seconds of chaos per server in CI.
const SOAK_SECS: u64 = 3;

/// Healthy clients, each exchanging again and again.
const HEALTHY: usize = 2;

/// Hostile clients, each doing one hostile thing after another.
const HOSTILE: usize = 3;

/// How much the server's resident memory may grow over the soak.
const RSS_GROWTH_KIB: u64 = 64 * 1024;

/// The soak's length: `EVSTACK_SOAK_SECS` (at most 3,600) or [`SOAK_SECS`].
fn soak() -> Duration {
    let secs = std::env::var("EVSTACK_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(SOAK_SECS, |s| s.clamp(1, 3600));
    Duration::from_secs(secs)
}

/// What a hostile client sends first: a plausible start of a request.
fn opening(target: Target, rng: &mut Rng, hello: &[u8]) -> Vec<u8> {
    match target {
        // half a ClientHello
        Target::TlsEcho => hello[..hello.len() / 2].to_vec(),
        // a zlib header and a little of a stream
        Target::ZlibEcho => {
            let z = hostile_support::zlib_sync(&rng.text(4096));
            z[..z.len() / 2].to_vec()
        }
        _ => {
            let n = 1 + rng.below(4096) as usize;
            rng.text(n)
        }
    }
}

/// One hostile act; errors are the point, so they are ignored.
fn hostile_act(server: &Server, rng: &mut Rng, hello: &[u8], stop: &AtomicBool) {
    let Ok(mut c) = connect(server.addr()) else {
        return;
    };
    let target = server.target;
    match rng.below(5) {
        0 => {
            // reset: leave the answer unread and close (the kernel sends RST)
            let _ = c.write_all(&opening(target, rng, hello));
            std::thread::sleep(Duration::from_millis(20));
        }
        1 => {
            // half-close, then read whatever comes until the end
            let _ = c.write_all(&opening(target, rng, hello));
            let _ = c.shutdown(Shutdown::Write);
            let _ = hostile_support::wait_closed(&mut c, Duration::from_secs(5));
        }
        2 => {
            // stall mid-request
            let _ = c.write_all(&opening(target, rng, hello));
            let until = Instant::now() + Duration::from_millis(100 + rng.below(1400));
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        3 => {
            // garbage
            let n = 1 + rng.below(16 * 1024) as usize;
            let _ = c.write_all(&rng.bytes(n));
            let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
            let _ = c.read(&mut [0u8; 4096]);
        }
        _ => {
            // flood without reading for a while
            let _ = c.set_write_timeout(Some(Duration::from_millis(300)));
            let chunk = opening(target, rng, hello);
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until && c.write_all(&chunk).is_ok() {}
        }
    }
}

fn chaos(target: Target) {
    let bounds = Bounds {
        idle: 2,
        write: 2,
        handshake: 2,
    };
    let Some(mut server) = Server::start(target, bounds, None) else {
        return;
    };
    let mut rng = Rng::new(31);
    server
        .exchange(&healthy_data(target, &mut rng, 50_000))
        .unwrap();
    let base = server.rss_kib();
    let hello = if target == Target::TlsEcho {
        client_hello(server.tls_config())
    } else {
        Vec::new()
    };
    let length = soak();
    let stop = AtomicBool::new(false);
    let (ok, bytes, hostile_acts) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut max = base;
    std::thread::scope(|s| {
        for i in 0..HEALTHY {
            let (server, stop, ok, bytes, failures) = (&server, &stop, &ok, &bytes, &failures);
            s.spawn(move || {
                let mut rng = Rng::new(100 + i as u64);
                while !stop.load(Ordering::Relaxed) {
                    let n = 1 + rng.below(64 * 1024) as usize;
                    let data = healthy_data(target, &mut rng, n);
                    match server.exchange(&data) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let mut f = failures.lock().unwrap();
                            if f.len() < 5 {
                                f.push(format!("{n} bytes: {e}"));
                            }
                        }
                    }
                }
            });
        }
        for i in 0..HOSTILE {
            let (server, stop, hello, acts) = (&server, &stop, &hello, &hostile_acts);
            s.spawn(move || {
                let mut rng = Rng::new(200 + i as u64);
                while !stop.load(Ordering::Relaxed) {
                    hostile_act(server, &mut rng, hello, stop);
                    acts.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let start = Instant::now();
        while start.elapsed() < length {
            max = max.max(server.rss_kib());
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let after = server.rss_kib();
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{target:?}: {length:?} of chaos, {} hostile acts; {} healthy exchanges ({} kB) \
         byte-exact, {} failed; RSS {base} KiB before, at most {max} KiB, {after} KiB after",
        hostile_acts.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed) / 1000,
        failures.len(),
    );
    assert!(
        failures.is_empty(),
        "{target:?}: healthy exchanges failed: {failures:#?}; {}",
        server.tail()
    );
    assert!(
        ok.load(Ordering::Relaxed) > 0,
        "{target:?}: no healthy exchange at all"
    );
    assert!(server.alive(), "{target:?} died: {}", server.tail());
    assert!(
        max.saturating_sub(base) < RSS_GROWTH_KIB,
        "{target:?}: RSS grew from {base} KiB to {max} KiB (bound +{RSS_GROWTH_KIB} KiB)"
    );
    server
        .exchange(&healthy_data(target, &mut rng, 50_000))
        .unwrap_or_else(|e| panic!("{target:?} after the soak: {e}; {}", server.tail()));
}

#[test]
fn chaos_filter_server() {
    chaos(Target::FilterServer);
}

#[test]
fn chaos_upper_server() {
    chaos(Target::UpperServer);
}

#[test]
fn chaos_zlib_echo() {
    chaos(Target::ZlibEcho);
}

#[test]
fn chaos_tls_echo() {
    chaos(Target::TlsEcho);
}

#[test]
fn chaos_ratelimit_server() {
    chaos(Target::RatelimitServer);
}

#[test]
fn chaos_upper_echo() {
    chaos(Target::UpperEcho);
}
