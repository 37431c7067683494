//! The rate-limited download server (`evstack::ratelimit_server`, behind
//! `examples/ratelimit_server.rs`) measured over real loopback connections
//! in real time: 8 clients download for 3 s and the rates they see between
//! 1 s and 3 s (after the first tick's worth and any start-up burst) must
//! be within 5% of the configuration, per connection and for a group
//! shared by the 8.
//!
//! The server runs in this process on a runtime of its own (like the seed
//! servers in `tests/seed_support`); the clients are plain blocking sockets
//! on threads of their own, every read bounded by a timeout; a rate is the
//! slope of a client's byte count sampled every 50 ms. Rates are
//! modest (at most 250 kB/s per connection) and measured with 10 ms ticks,
//! so that one tick's worth at either end of the window is at most 1% of
//! what is measured, and bursts of 4 ticks let a server woken late on a
//! loaded machine catch up without losing tokens.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use evstack::ratelimit_server::{self, pattern_byte, Config, Server, PERIOD};

const CLIENTS: usize = 8;
const TICK: Duration = Duration::from_millis(10);
/// The window measured: from `START` to `END` after the clients connected.
const START: Duration = Duration::from_secs(1);
const END: Duration = Duration::from_secs(3);
/// How often the clients' counts are sampled in the window.
const SAMPLE: Duration = Duration::from_millis(50);
/// Bound on every blocking read.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The server, in this process, on a runtime of its own.
struct Running {
    addr: SocketAddr,
    server: Option<Server>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Running {
    fn start(config: &Config) -> Running {
        let l = ratelimit_server::bind(
            "127.0.0.1:0".parse().unwrap(),
            &evstack::listener::Options::new(),
        )
        .unwrap();
        let addr = l.local_addr().as_inet().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = {
            let _in = rt.enter();
            ratelimit_server::serve(l, config).unwrap()
        };
        Running {
            addr,
            server: Some(server),
            rt: Some(rt),
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(server), Some(rt)) = (self.server.take(), self.rt.as_ref()) {
            rt.block_on(server.close());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// One client: reads and checks the pattern until told to stop.
fn client(
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    const BUF: usize = 64 * 1024;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    thread::spawn(move || {
        // the pattern from every phase, compared with memcmp (cheap even
        // in a debug build)
        let pattern: Vec<u8> = (0..(BUF as u64 + PERIOD)).map(pattern_byte).collect();
        let mut buf = vec![0u8; BUF];
        let mut offset = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let n = s.read(&mut buf).expect("read within the timeout");
            assert!(n > 0, "the server closed the connection");
            let phase = (offset % PERIOD) as usize;
            assert!(
                buf[..n] == pattern[phase..phase + n],
                "pattern broken after byte {offset}"
            );
            offset += n as u64;
            count.store(offset, Ordering::Relaxed);
        }
    })
}

/// The least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// Runs `CLIENTS` downloads and returns each one's bytes per second over
/// the window: the slope of its byte count sampled every `SAMPLE`, so that
/// a client thread scheduled late at one sample hardly matters.
fn download(addr: SocketAddr) -> Vec<f64> {
    let counts: Vec<Arc<AtomicU64>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let threads: Vec<_> = counts
        .iter()
        .map(|c| client(addr, c.clone(), stop.clone()))
        .collect();
    let mut times = Vec::new();
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); CLIENTS];
    let mut at = START;
    while at <= END {
        thread::sleep((t0 + at).saturating_duration_since(Instant::now()));
        times.push(t0.elapsed().as_secs_f64());
        for (row, c) in rows.iter_mut().zip(&counts) {
            row.push(c.load(Ordering::Relaxed) as f64);
        }
        at += SAMPLE;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    rows.iter().map(|ys| slope(&times, ys)).collect()
}

fn off(got: f64, want: f64) -> f64 {
    (got - want) / want
}

#[test]
fn per_connection_rate_holds_for_8_connections() {
    const RATE: u64 = 250_000;
    let config = Config {
        rate: Some(RATE),
        burst: Some(4 * RATE * TICK.as_millis() as u64 / 1000),
        tick: TICK,
        ..Config::default()
    };
    let running = Running::start(&config);
    let rates = download(running.addr);
    for (i, r) in rates.iter().enumerate() {
        println!(
            "connection {i}: {r:.0} B/s, configured {RATE} ({:+.2}%)",
            off(*r, RATE as f64) * 100.0
        );
    }
    for r in &rates {
        assert!(
            off(*r, RATE as f64).abs() <= 0.05,
            "{r:.0} B/s is not within 5% of {RATE}"
        );
    }
}

#[test]
fn group_rate_holds_for_8_connections_sharing_it() {
    const GROUP_RATE: u64 = 400_000;
    let config = Config {
        group_rate: Some(GROUP_RATE),
        group_burst: Some(4 * GROUP_RATE * TICK.as_millis() as u64 / 1000),
        tick: TICK,
        ..Config::default()
    };
    let running = Running::start(&config);
    let rates = download(running.addr);
    let total: f64 = rates.iter().sum();
    let fair = GROUP_RATE as f64 / CLIENTS as f64;
    println!(
        "group of {CLIENTS}: {total:.0} B/s, configured {GROUP_RATE} ({:+.2}%); members {:?}",
        off(total, GROUP_RATE as f64) * 100.0,
        rates
            .iter()
            .map(|r| format!("{:+.1}%", off(*r, fair) * 100.0))
            .collect::<Vec<_>>()
    );
    assert!(
        off(total, GROUP_RATE as f64).abs() <= 0.05,
        "{total:.0} B/s is not within 5% of {GROUP_RATE}"
    );
    // fair shares, loosely: real sockets, real scheduling
    for r in &rates {
        assert!(
            off(*r, fair).abs() <= 0.25,
            "a member got {r:.0} B/s of a fair {fair:.0}"
        );
    }
    let (_, written) = running.server().group().unwrap().get_totals();
    assert!(written as f64 >= total * (END - START).as_secs_f64());
}
