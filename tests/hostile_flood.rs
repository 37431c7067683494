//! A client that sends as fast as it can and never reads, against every
//! example server run as a process: the server's resident memory (`VmRSS`
//! from `/proc/PID/status`) must stay within [`RSS_GROWTH_KIB`] of what it
//! was before, and the server must drop the client at its write timeout
//! (the client's writes then fail), then serve a healthy client.
//!
//! The echo servers' read callbacks are the obvious echo (write everything
//! read): these tests hold only if the bufferevent stops reading by itself
//! while a connection's output backlog is above its bound.

mod hostile_support;

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hostile_support::{healthy_data, Bounds, Rng, Server, Target};

/// The servers' write timeout in these tests, seconds.
const WRITE_TIMEOUT: u64 = 3;

/// How much the server's resident memory may grow while flooded.
const RSS_GROWTH_KIB: u64 = 64 * 1024;

/// The longest a flood runs: the server should have dropped the client
/// long before.
const FLOOD_MAX: Duration = Duration::from_secs(15);

/// How the flood ended.
struct Flood {
    sent: u64,
    /// When and how the server dropped the client, if it did.
    dropped: Option<(Duration, String)>,
}

/// Is `e` only "no room yet" (the socket's write timeout)?
fn would_block(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// Writes `chunks` in a cycle over `sock` (resuming partial writes, so a
/// compressed stream stays valid) until a write fails or `stop`.
fn pour(sock: &mut std::net::TcpStream, first: &[u8], chunk: &[u8], stop: &AtomicBool) -> Flood {
    let start = Instant::now();
    sock.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut sent = 0u64;
    let (mut cur, mut off) = (first, 0);
    while !stop.load(Ordering::Relaxed) {
        match sock.write(&cur[off..]) {
            Ok(n) => {
                sent += n as u64;
                off += n;
                if off == cur.len() {
                    (cur, off) = (chunk, 0);
                }
            }
            Err(e) if would_block(&e) => {}
            Err(e) => {
                return Flood {
                    sent,
                    dropped: Some((start.elapsed(), e.to_string())),
                }
            }
        }
    }
    Flood {
        sent,
        dropped: None,
    }
}

/// The same over TLS: the handshake, then application data, never reading
/// after the handshake.
fn pour_tls(server: &Server, stop: &AtomicBool) -> Flood {
    let mut s = hostile_support::tls_client(server.addr(), server.tls_config()).unwrap();
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("TLS handshake");
    }
    let start = Instant::now();
    s.sock
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let chunk = Rng::new(7).bytes(16 * 1024);
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if !s.conn.wants_write() {
            s.conn.writer().write_all(&chunk).unwrap();
        }
        match s.conn.write_tls(&mut s.sock) {
            Ok(n) => sent += n as u64,
            Err(e) if would_block(&e) => {}
            Err(e) => {
                return Flood {
                    sent,
                    dropped: Some((start.elapsed(), e.to_string())),
                }
            }
        }
    }
    Flood {
        sent,
        dropped: None,
    }
}

/// Floods `target` from a thread while sampling its memory.
fn flood(target: Target) {
    let bounds = Bounds {
        write: WRITE_TIMEOUT,
        ..Bounds::default()
    };
    let Some(mut server) = Server::start(target, bounds, None) else {
        return;
    };
    // one healthy exchange first, so that the baseline includes what the
    // server allocates for any connection
    let mut rng = Rng::new(1);
    server
        .exchange(&healthy_data(target, &mut rng, 100_000))
        .unwrap();
    let base = server.rss_kib();
    let stop = AtomicBool::new(false);
    let flooder = {
        let stop = &stop;
        let addr = server.addr();
        let server_ref: &Server = &server;
        std::thread::scope(|scope| {
            let h = scope.spawn(move || match target {
                Target::TlsEcho => pour_tls(server_ref, stop),
                Target::ZlibEcho => {
                    // a valid zlib stream of incompressible data, forever
                    let block = hostile_support::zlib_sync(&Rng::new(3).bytes(256 * 1024));
                    let mut c = hostile_support::connect(addr).unwrap();
                    pour(&mut c, &block, &block[2..], stop)
                }
                _ => {
                    let text = healthy_data(target, &mut Rng::new(5), 64 * 1024);
                    let mut c = hostile_support::connect(addr).unwrap();
                    pour(&mut c, &text, &text, stop)
                }
            });
            let start = Instant::now();
            let mut max = base;
            while !h.is_finished() && start.elapsed() < FLOOD_MAX {
                max = max.max(server_ref.rss_kib());
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
            let flood = h.join().unwrap();
            (flood, max)
        })
    };
    let (flood, max) = flooder;
    let growth = max.saturating_sub(base);
    eprintln!(
        "{target:?}: flooded with {} MB never read; RSS {} KiB before, at most {} KiB \
         (+{} KiB); {}",
        flood.sent / 1_000_000,
        base,
        max,
        growth,
        match &flood.dropped {
            Some((t, e)) => format!("dropped after {t:.1?} ({e})"),
            None => "never dropped".into(),
        }
    );
    assert!(
        growth < RSS_GROWTH_KIB,
        "{target:?}: RSS grew by {growth} KiB (bound {RSS_GROWTH_KIB} KiB) under a flood \
         of {} bytes never read",
        flood.sent
    );
    assert!(
        flood.dropped.is_some(),
        "{target:?}: the server did not drop a client that never reads within {FLOOD_MAX:?} \
         (write timeout {WRITE_TIMEOUT} s)"
    );
    assert!(server.alive(), "{target:?} died: {}", server.tail());
    server
        .exchange(&healthy_data(target, &mut rng, 100_000))
        .unwrap_or_else(|e| panic!("{target:?} after the flood: {e}; {}", server.tail()));
}

#[test]
fn flood_filter_server() {
    flood(Target::FilterServer);
}

#[test]
fn flood_upper_server() {
    flood(Target::UpperServer);
}

#[test]
fn flood_zlib_echo() {
    flood(Target::ZlibEcho);
}

#[test]
fn flood_tls_echo() {
    flood(Target::TlsEcho);
}

#[test]
fn flood_ratelimit_server() {
    flood(Target::RatelimitServer);
}

#[test]
fn flood_upper_echo() {
    flood(Target::UpperEcho);
}
