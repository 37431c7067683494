//! libevent's rate limits (`bufferevent_set_rate_limit`, rate-limit groups)
//! measured under tokio's paused clock, over in-memory pairs, real
//! loopback sockets and filters.
//!
//! The paused clock jumps to the next timer whenever every task is idle,
//! so ten simulated seconds take milliseconds and the refills are exact.
//! Readers are "sinks" that drain and check every byte (the stream is the
//! `i % 251` pattern); writers are "sources" that keep their output topped
//! up. Meters are sampled in the middle of ticks, when no refill is due,
//! so every figure below is a whole number of ticks' worth.

mod common;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bufferevent::{
    BufferEvent, Callbacks, Dir, Events, Options, PassThrough, RateLimitConfig, RateLimitGroup,
};
use common::tcp_pair;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TICK: Duration = Duration::from_millis(100);
/// What a source writes at a time, and its write low watermark.
const CHUNK: u64 = 16 * 1024;
/// Read high watermark of sinks: bounds what a pair holds in transit.
const SINK_HIGH: usize = 64 * 1024;

fn byte(i: u64) -> u8 {
    (i % 251) as u8
}

// ----- meters, sinks and sources ------------------------------------------

/// What one sink received.
#[derive(Clone, Default)]
struct Meter(Arc<MeterInner>);

#[derive(Default)]
struct MeterInner {
    bytes: AtomicU64,
    /// Read callbacks that found input.
    reads: AtomicU64,
    /// Smallest and largest input seen by one read callback.
    min_chunk: AtomicU64,
    max_chunk: AtomicU64,
    eof: AtomicBool,
}

impl Meter {
    fn new() -> Self {
        let m = Meter::default();
        m.0.min_chunk.store(u64::MAX, Ordering::Relaxed);
        m
    }
    fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }
    fn reads(&self) -> u64 {
        self.0.reads.load(Ordering::Relaxed)
    }
    fn min_chunk(&self) -> u64 {
        self.0.min_chunk.load(Ordering::Relaxed)
    }
    fn max_chunk(&self) -> u64 {
        self.0.max_chunk.load(Ordering::Relaxed)
    }
    fn eof(&self) -> bool {
        self.0.eof.load(Ordering::Relaxed)
    }
    fn record(&self, n: u64) {
        self.0.bytes.fetch_add(n, Ordering::Relaxed);
        self.0.reads.fetch_add(1, Ordering::Relaxed);
        self.0.min_chunk.fetch_min(n, Ordering::Relaxed);
        self.0.max_chunk.fetch_max(n, Ordering::Relaxed);
    }
}

/// Drains `bev`'s input as it arrives, checking the pattern. Reading is
/// enabled unless `paused` (then enable it later, through a handle).
fn spawn_sink(
    mut bev: BufferEvent,
    meter: Meter,
    paused: bool,
) -> JoinHandle<Result<(), bufferevent::Error>> {
    bev.set_watermark(Dir::READ, 0, SINK_HIGH).unwrap();
    if !paused {
        bev.enable(Dir::READ);
    }
    let mut offset = 0u64;
    let eof = meter.clone();
    let mut buf = vec![0u8; 16 * 1024];
    tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let mut got = 0u64;
                    loop {
                        let n = bev.read(&mut buf);
                        if n == 0 {
                            break;
                        }
                        for (k, &b) in buf[..n].iter().enumerate() {
                            assert_eq!(b, byte(offset + k as u64), "byte {}", offset + k as u64);
                        }
                        offset += n as u64;
                        got += n as u64;
                    }
                    if got > 0 {
                        meter.record(got);
                    }
                })
                .on_event(move |bev, what| {
                    if what.contains(Events::EOF) {
                        eof.0.eof.store(true, Ordering::Relaxed);
                    }
                    if what.intersects(Events::EOF | Events::ERROR) {
                        bev.close();
                    }
                }),
        ),
    )
}

/// Keeps `bev`'s output topped up with the pattern: `limit` bytes in all
/// (then a graceful close), or forever.
fn spawn_source(
    mut bev: BufferEvent,
    limit: Option<u64>,
) -> JoinHandle<Result<(), bufferevent::Error>> {
    let total = limit.unwrap_or(u64::MAX);
    let mut next = 0u64;
    let mut fill = move |bev: &mut BufferEvent| {
        while next < total && (bev.output().len() as u64) < 2 * CHUNK {
            let n = CHUNK.min(total - next);
            let chunk: Vec<u8> = (next..next + n).map(byte).collect();
            next += n;
            if bev.write(&chunk).is_err() {
                return;
            }
        }
        if next == total {
            next += 1; // once
            bev.close_gracefully();
        }
    };
    bev.set_watermark(Dir::WRITE, CHUNK as usize, 0).unwrap();
    fill(&mut bev);
    tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_write(move |bev| fill(bev))
                .on_event(|bev, what| {
                    if what.intersects(Events::EOF | Events::ERROR) {
                        bev.close();
                    }
                }),
        ),
    )
}

/// A stream that counts the bytes that cross it and fails the test if it
/// is ever asked for a zero-byte read (libevent #1439/#1440).
struct Probe<S> {
    inner: S,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl<S> Probe<S> {
    fn new(inner: S) -> (Self, Arc<AtomicU64>, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let p = Probe {
            inner,
            read: read.clone(),
            written: written.clone(),
        };
        (p, read, written)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Probe<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        assert!(buf.remaining() > 0, "a zero-byte read was attempted");
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Probe<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        assert!(!data.is_empty(), "a zero-byte write was attempted");
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        assert!(
            bufs.iter().any(|b| !b.is_empty()),
            "a zero-byte write was attempted"
        );
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ----- sampling and figures -----------------------------------------------

/// Sleeps until the middle of tick `k` counted from `t0`.
async fn mid_tick(t0: Instant, k: u32) {
    tokio::time::sleep_until(t0 + TICK * k + TICK / 2).await;
}

/// Samples `read` in the middle of ticks `from..=to`: one row per tick.
async fn sample<F: Fn() -> Vec<u64>>(t0: Instant, from: u32, to: u32, read: F) -> Vec<Vec<u64>> {
    let mut rows = Vec::new();
    for k in from..=to {
        mid_tick(t0, k).await;
        rows.push(read());
    }
    rows
}

fn meters(ms: &[Meter]) -> impl Fn() -> Vec<u64> + '_ {
    move || ms.iter().map(Meter::bytes).collect()
}

/// Bytes per second between two samples `ticks` apart.
fn rate(first: u64, last: u64, ticks: u32) -> f64 {
    (last - first) as f64 / (TICK * ticks).as_secs_f64()
}

/// Relative error of `got` against `want`.
fn error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want
}

/// Jain's fairness index of `xs`: 1 when all equal, 1/n when one has all.
fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * sq)
}

/// Per-connection bytes per second of `rows` between rows `a` and `b`.
fn member_rates(rows: &[Vec<u64>], a: usize, b: usize, members: &[usize]) -> Vec<f64> {
    members
        .iter()
        .map(|&i| rate(rows[a][i], rows[b][i], (b - a) as u32))
        .collect()
}

/// Checks a group phase: the members' total within 1% of `group_rate`,
/// each member within 10% of its fair share, Jain index at least 0.98.
fn check_group(what: &str, rates: &[f64], group_rate: f64) {
    let total: f64 = rates.iter().sum();
    let fair = group_rate / rates.len() as f64;
    let worst = rates.iter().map(|&r| error(r, fair)).fold(0.0, f64::max);
    let j = jain(rates);
    println!(
        "{what}: {} members, total {total:.0} B/s of {group_rate:.0} ({:+.3}%), \
         worst member {:.2}% off its share {fair:.0}, Jain {j:.5}",
        rates.len(),
        (total - group_rate) / group_rate * 100.0,
        worst * 100.0
    );
    assert!(
        error(total, group_rate) <= 0.01,
        "{what}: group total {total} vs {group_rate}"
    );
    assert!(
        worst <= 0.10,
        "{what}: a member is {:.1}% off",
        worst * 100.0
    );
    assert!(j >= 0.98, "{what}: Jain index {j}");
}

fn cfg(rate: u64, burst: u64) -> Arc<RateLimitConfig> {
    RateLimitConfig::shared(rate, burst, rate, burst, Some(TICK)).unwrap()
}

// ----- one connection -----------------------------------------------------

/// A single limited connection: per tick `RATE`, bursts up to `BURST`.
const RATE: u64 = 4_000;
const BURST: u64 = 20_000;

/// Checks a greedy single stream sampled over ticks `0..=100` (10 s): the
/// rate within 1% and never more than one tick's worth per tick.
fn check_single(what: &str, rows: &[Vec<u64>]) {
    let want = RATE as f64 / TICK.as_secs_f64();
    let got = rate(rows[0][0], rows[100][0], 100);
    println!(
        "{what}: {got:.0} B/s over 10 simulated s, configured {want:.0} ({:+.3}%)",
        (got - want) / want * 100.0
    );
    assert!(error(got, want) <= 0.01, "{what}: {got} B/s, want {want}");
    // one tick's worth to start with (statement 73), then one per tick
    assert_eq!(rows[0][0], RATE, "{what}: first tick");
    for w in rows.windows(2) {
        assert!(
            w[1][0] - w[0][0] <= RATE,
            "{what}: more than a tick's worth in a tick"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn pair_read_limit_holds_the_rate() {
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("pair, read limit", &rows);
}

#[tokio::test(start_paused = true)]
async fn pair_write_limit_holds_the_rate() {
    let (mut src, dst) = BufferEvent::pair(Options::default());
    src.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("pair, write limit", &rows);
}

#[tokio::test(start_paused = true)]
async fn socket_read_limit_holds_the_rate_and_never_reads_zero_bytes() {
    let (client, server) = tcp_pair().await;
    let (server, read, _) = Probe::new(server);
    let mut dst = BufferEvent::socket(server, Options::default());
    dst.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(BufferEvent::socket(client, Options::default()), None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("socket, read limit", &rows);
    assert_eq!(read.load(Ordering::Relaxed), m.bytes());
}

#[tokio::test(start_paused = true)]
async fn socket_write_limit_holds_the_rate() {
    let (client, server) = tcp_pair().await;
    let (server, _, written) = Probe::new(server);
    let mut src = BufferEvent::socket(server, Options::default());
    src.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    spawn_sink(
        BufferEvent::socket(client, Options::default()),
        Meter::new(),
        false,
    );
    spawn_source(src, None);
    // measured where the limit applies: what reached the socket
    let rows = sample(t0, 0, 100, || vec![written.load(Ordering::Relaxed)]).await;
    check_single("socket, write limit", &rows);
}

#[tokio::test(start_paused = true)]
async fn bursts_are_as_configured_and_then_the_rate_holds() {
    // the reader is limited from t0, the data only starts after 1 s: the
    // bucket fills up to BURST (not beyond), which is read at once
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    mid_tick(t0, 10).await;
    assert_eq!(m.bytes(), 0);
    spawn_source(src, None);
    tokio::time::sleep(TICK / 4).await; // still tick 10
    assert_eq!(m.bytes(), BURST, "the whole burst at once, no more");
    let rows = sample(t0, 11, 111, meters(std::slice::from_ref(&m))).await;
    assert_eq!(rows[0][0], BURST + RATE);
    let got = rate(rows[0][0], rows[100][0], 100);
    let want = RATE as f64 / TICK.as_secs_f64();
    println!("after a burst of {BURST}: {got:.0} B/s, configured {want:.0}");
    assert!(error(got, want) <= 0.01);
}

#[tokio::test(start_paused = true)]
async fn write_bursts_are_as_configured() {
    let (mut src, dst) = BufferEvent::pair(Options::default());
    src.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    mid_tick(t0, 10).await;
    spawn_source(src, None);
    tokio::time::sleep(TICK / 4).await;
    assert_eq!(m.bytes(), BURST);
    let rows = sample(t0, 11, 111, meters(std::slice::from_ref(&m))).await;
    assert!(error(rate(rows[0][0], rows[100][0], 100), 40_000.0) <= 0.01);
}

#[tokio::test(start_paused = true)]
async fn max_single_read_bounds_every_read_and_the_rate_holds() {
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(cfg(RATE, BURST)));
    dst.set_max_single_read(1_000);
    assert_eq!(dst.get_max_single_read(), 1_000);
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("pair, read limit, max single read 1000", &rows);
    assert_eq!(m.max_chunk(), 1_000);
}

#[tokio::test(start_paused = true)]
async fn max_single_write_bounds_every_write() {
    let (client, server) = tcp_pair().await;
    let mut src = BufferEvent::socket(client, Options::default());
    src.set_max_single_write(1_000);
    assert_eq!(src.get_max_single_write(), 1_000);
    let m = Meter::new();
    let mut dst = BufferEvent::socket(server, Options::default());
    dst.set_read_size(100_000);
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, Some(50_000));
    common::within(10, async {
        while !m.eof() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(m.bytes(), 50_000);
}

// ----- libevent's getters and manual accounting ----------------------------

#[tokio::test(start_paused = true)]
async fn limits_read_back_and_manual_decrements_suspend_and_resume() {
    let (mut a, _b) = BufferEvent::pair(Options::default());
    // statement 74: no limit of its own
    assert_eq!(a.get_read_limit(), i64::MAX);
    assert_eq!(a.get_write_limit(), i64::MAX);
    assert_eq!(a.get_max_to_read(), bufferevent::DEFAULT_READ_SIZE);
    assert!(a.decrement_read_limit(1).is_err());
    a.set_rate_limit(Some(cfg(100, 100)));
    // statement 73: one tick's worth to start with
    assert_eq!(a.get_read_limit(), 100);
    // statement 75: overdraw, then credit above the burst
    a.decrement_read_limit(150).unwrap();
    assert_eq!(a.get_read_limit(), -50);
    assert_eq!(a.get_max_to_read(), 0);
    a.decrement_read_limit(-450).unwrap();
    assert_eq!(a.get_read_limit(), 400);
    assert_eq!(a.get_max_to_read(), 400);
    a.set_max_single_read(300);
    assert_eq!(a.get_max_to_read(), 300);
    // a different configuration clips to the new burst
    a.set_rate_limit(Some(cfg(50, 200)));
    assert_eq!(a.get_read_limit(), 200);
    assert_eq!(a.get_write_limit(), 100);
    assert!(a.rate_limit().is_some());
    a.set_rate_limit(None);
    assert_eq!(a.get_read_limit(), i64::MAX);
    assert!(a.rate_limit().is_none());
}

#[tokio::test(start_paused = true)]
async fn an_overdrawn_bucket_suspends_reading_until_refills_pay_it_back() {
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(cfg(RATE, BURST)));
    dst.decrement_read_limit(3 * RATE as i64).unwrap(); // -2 ticks' worth
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, None);
    let rows = sample(t0, 0, 4, meters(std::slice::from_ref(&m))).await;
    // -8000, -4000, 0: suspended; then 4000 per tick
    let got: Vec<u64> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(got, [0, 0, 0, RATE, 2 * RATE]);
}

#[tokio::test(start_paused = true)]
async fn manual_credit_and_removal_from_another_task_resume_at_once() {
    // a slow limit: 100 bytes per second
    let slow = RateLimitConfig::shared(100, 100, 100, 100, Some(Duration::from_secs(1))).unwrap();
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(slow));
    let h = dst.handle();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(src, Some(100_000));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(m.bytes(), 100);
    h.with(|bev| bev.decrement_read_limit(-5_000).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(m.bytes(), 5_100, "the credit is read at once");
    h.with(|bev| bev.set_rate_limit(None)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(m.bytes(), 100_000, "no limit: everything at once");
    assert!(m.eof());
}

// ----- groups -------------------------------------------------------------

/// A group of 32: `GROUP_RATE` per tick in all.
const MEMBERS: usize = 32;
const GROUP_RATE: u64 = 64_000;

/// `n` pairs whose reading ends are sinks (paused ones do not read until
/// enabled), their writing ends endless sources.
fn pairs(n: usize) -> (Vec<BufferEvent>, Vec<BufferEvent>) {
    (0..n)
        .map(|_| BufferEvent::pair(Options::default()))
        .unzip()
}

#[tokio::test(start_paused = true)]
async fn group_of_32_pairs_holds_the_group_rate_fairly() {
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(GROUP_RATE, GROUP_RATE, Some(TICK)).unwrap(),
    );
    let t0 = Instant::now();
    let (srcs, dsts) = pairs(MEMBERS);
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    for (mut d, m) in dsts.into_iter().zip(&ms) {
        d.add_to_rate_limit_group(&group);
        spawn_sink(d, m.clone(), false);
    }
    for s in srcs {
        spawn_source(s, None);
    }
    assert_eq!(group.member_count(), MEMBERS);
    let rows = sample(t0, 0, 100, meters(&ms)).await;
    let all: Vec<usize> = (0..MEMBERS).collect();
    check_group(
        "pairs, group of 32, 10 s",
        &member_rates(&rows, 0, 100, &all),
        GROUP_RATE as f64 / TICK.as_secs_f64(),
    );
    // statement 78: totals count what members read
    let (read, written) = group.get_totals();
    assert_eq!(read, ms.iter().map(Meter::bytes).sum::<u64>());
    assert_eq!(written, 0);
    group.reset_totals();
    assert_eq!(group.get_totals(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn group_write_limit_of_32_pairs() {
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(GROUP_RATE, GROUP_RATE, Some(TICK)).unwrap(),
    );
    let t0 = Instant::now();
    let (srcs, dsts) = pairs(MEMBERS);
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    for (d, m) in dsts.into_iter().zip(&ms) {
        spawn_sink(d, m.clone(), false);
    }
    for mut s in srcs {
        s.add_to_rate_limit_group(&group);
        spawn_source(s, None);
    }
    let rows = sample(t0, 0, 100, meters(&ms)).await;
    let all: Vec<usize> = (0..MEMBERS).collect();
    check_group(
        "pairs, group write limit of 32, 10 s",
        &member_rates(&rows, 0, 100, &all),
        GROUP_RATE as f64 / TICK.as_secs_f64(),
    );
    assert_eq!(group.get_totals().0, 0);
}

#[tokio::test(start_paused = true)]
async fn group_min_share_is_honoured() {
    // 1000 bytes per tick among 32: 31 each, below a min_share of 100, so
    // members take turns and no grant is below 100 bytes
    let group = RateLimitGroup::new(&RateLimitConfig::symmetric(1_000, 1_000, Some(TICK)).unwrap());
    group.set_min_share(100).unwrap();
    assert_eq!(group.min_share(), 100);
    let t0 = Instant::now();
    let (srcs, dsts) = pairs(MEMBERS);
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    for (mut d, m) in dsts.into_iter().zip(&ms) {
        d.add_to_rate_limit_group(&group);
        spawn_sink(d, m.clone(), false);
    }
    for s in srcs {
        spawn_source(s, None);
    }
    let rows = sample(t0, 0, 100, meters(&ms)).await;
    let all: Vec<usize> = (0..MEMBERS).collect();
    check_group(
        "pairs, group of 32, min_share 100",
        &member_rates(&rows, 0, 100, &all),
        10_000.0,
    );
    let smallest = ms.iter().map(Meter::min_chunk).min().unwrap();
    let reads: u64 = ms.iter().map(Meter::reads).sum();
    let bytes: u64 = ms.iter().map(Meter::bytes).sum();
    println!("min_share 100: smallest read {smallest}, {reads} reads for {bytes} bytes");
    assert!(smallest >= 100, "a read of {smallest} bytes");
    // at most 1000/100 grants per tick
    assert!(reads <= 10 * 101, "{reads} reads");
}

#[tokio::test(start_paused = true)]
async fn group_members_join_and_leave_mid_run() {
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(GROUP_RATE, GROUP_RATE, Some(TICK)).unwrap(),
    );
    let t0 = Instant::now();
    let (srcs, dsts) = pairs(MEMBERS);
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    let mut handles = Vec::new();
    for (i, (mut d, m)) in dsts.into_iter().zip(&ms).enumerate() {
        handles.push(d.handle());
        // the first 16 start in the group; the others do not read yet
        let first = i < 16;
        if first {
            d.add_to_rate_limit_group(&group);
        }
        spawn_sink(d, m.clone(), !first);
    }
    for s in srcs {
        spawn_source(s, None);
    }
    let read = meters(&ms);
    let group_rate = GROUP_RATE as f64 / TICK.as_secs_f64();
    // 0..3 s: 16 members
    let phase1 = sample(t0, 0, 29, &read).await;
    // 3 s: the other 16 join and start reading
    for h in &handles[16..] {
        let g = group.clone();
        h.with(move |bev| {
            bev.add_to_rate_limit_group(&g);
            bev.enable(Dir::READ);
        })
        .await
        .unwrap();
    }
    let phase2 = sample(t0, 31, 59, &read).await;
    // 6 s: 8 leave (and stop reading: they would be unlimited)
    for h in &handles[..8] {
        h.with(|bev| {
            bev.remove_from_rate_limit_group();
            bev.disable(Dir::READ);
        })
        .await
        .unwrap();
    }
    let phase3 = sample(t0, 61, 100, &read).await;
    assert_eq!(group.member_count(), 24);
    let r1 = member_rates(&phase1, 0, 29, &(0..16).collect::<Vec<_>>());
    check_group("join/leave, 16 members", &r1, group_rate);
    let r2 = member_rates(&phase2, 0, 28, &(0..32).collect::<Vec<_>>());
    check_group("join/leave, 32 members", &r2, group_rate);
    let r3 = member_rates(&phase3, 0, 39, &(8..32).collect::<Vec<_>>());
    check_group("join/leave, 24 members", &r3, group_rate);
    // those that left read nothing more
    assert_eq!(phase3[0][..8], phase3[39][..8]);
}

#[tokio::test(start_paused = true)]
async fn group_of_32_sockets_holds_the_group_rate_fairly() {
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(GROUP_RATE, GROUP_RATE, Some(TICK)).unwrap(),
    );
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    let mut reads = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..MEMBERS {
        conns.push(tcp_pair().await);
    }
    let t0 = Instant::now();
    for ((client, server), m) in conns.into_iter().zip(&ms) {
        let (server, read, _) = Probe::new(server);
        reads.push(read);
        let mut d = BufferEvent::socket(server, Options::default());
        d.add_to_rate_limit_group(&group);
        spawn_sink(d, m.clone(), false);
        spawn_source(BufferEvent::socket(client, Options::default()), None);
    }
    let rows = sample(t0, 0, 100, meters(&ms)).await;
    let all: Vec<usize> = (0..MEMBERS).collect();
    check_group(
        "sockets, group of 32, 10 s",
        &member_rates(&rows, 0, 100, &all),
        GROUP_RATE as f64 / TICK.as_secs_f64(),
    );
    for (r, m) in reads.iter().zip(&ms) {
        assert_eq!(r.load(Ordering::Relaxed), m.bytes());
    }
}

#[tokio::test(start_paused = true)]
async fn group_credit_from_another_task_wakes_suspended_members() {
    // 1 s ticks; the group is overdrawn by 10 ticks' worth
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(1_000, 1_000, Some(Duration::from_secs(1))).unwrap(),
    );
    group.decrement_read(11_000);
    assert_eq!(group.get_read_limit(), -10_000);
    let (srcs, dsts) = pairs(4);
    let ms: Vec<Meter> = (0..4).map(|_| Meter::new()).collect();
    for (mut d, m) in dsts.into_iter().zip(&ms) {
        d.add_to_rate_limit_group(&group);
        spawn_sink(d, m.clone(), false);
    }
    for s in srcs {
        spawn_source(s, None);
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        ms.iter().all(|m| m.bytes() == 0),
        "suspended (statement 77)"
    );
    // a credit from this task, not the members'
    let g = group.clone();
    tokio::spawn(async move { g.decrement_read(-20_000) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let total: u64 = ms.iter().map(Meter::bytes).sum();
    println!("read within 1 ms of a 20000-byte credit: {total}");
    assert!(total >= 9_000, "members did not wake: {total}");
}

#[tokio::test(start_paused = true)]
async fn leaving_a_group_and_dropping_it_keep_the_rest_working() {
    let group = RateLimitGroup::new(&RateLimitConfig::symmetric(1_000, 1_000, Some(TICK)).unwrap());
    let (mut a, _b) = BufferEvent::pair(Options::default());
    let (mut c, _d) = BufferEvent::pair(Options::default());
    a.add_to_rate_limit_group(&group);
    a.add_to_rate_limit_group(&group); // no-op
    c.add_to_rate_limit_group(&group);
    assert_eq!(group.member_count(), 2);
    assert!(a.rate_limit_group().is_some_and(|g| g.same_group(&group)));
    a.remove_from_rate_limit_group();
    assert!(a.rate_limit_group().is_none());
    assert_eq!(group.member_count(), 1);
    // statement 80 QUIRK: the group may go while members remain
    drop(group);
    assert_eq!(c.rate_limit_group().unwrap().member_count(), 1);
    assert!(c.get_max_to_read() > 0);
    drop(c);
}

// ----- filters: the limit applies where it is set ---------------------------

#[tokio::test(start_paused = true)]
async fn limit_on_a_filter_limits_the_filters_flow() {
    // the underlying pair end is unlimited; the filter above it is limited
    let (src, under) = BufferEvent::pair(Options::default());
    let mut f = BufferEvent::filter(under, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    f.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(f, m.clone(), false);
    spawn_source(src, None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("filter over a pair, read limit on the filter", &rows);
}

#[tokio::test(start_paused = true)]
async fn write_limit_on_a_filter_limits_what_its_output_filter_takes() {
    let (under, dst) = BufferEvent::pair(Options::default());
    let mut f = BufferEvent::filter(under, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    f.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    spawn_source(f, None);
    let rows = sample(t0, 0, 100, meters(std::slice::from_ref(&m))).await;
    check_single("filter over a pair, write limit on the filter", &rows);
}

#[tokio::test(start_paused = true)]
async fn limit_on_the_socket_below_a_filter() {
    let (client, server) = tcp_pair().await;
    let (server, read, _) = Probe::new(server);
    let mut under = BufferEvent::socket(server, Options::default());
    under.set_rate_limit(Some(cfg(RATE, BURST)));
    let f = BufferEvent::filter(under, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(f, m.clone(), false);
    spawn_source(BufferEvent::socket(client, Options::default()), None);
    let rows = sample(t0, 0, 100, || vec![read.load(Ordering::Relaxed)]).await;
    check_single("socket below a filter, read limit on the socket", &rows);
    // everything the socket read reached the filter's reader
    assert!(m.bytes() <= read.load(Ordering::Relaxed));
    assert!(m.bytes() + RATE >= read.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn filters_in_a_group() {
    let group = RateLimitGroup::new(
        &RateLimitConfig::symmetric(GROUP_RATE, GROUP_RATE, Some(TICK)).unwrap(),
    );
    let t0 = Instant::now();
    let (srcs, unders) = pairs(MEMBERS);
    let ms: Vec<Meter> = (0..MEMBERS).map(|_| Meter::new()).collect();
    for (u, m) in unders.into_iter().zip(&ms) {
        let mut f = BufferEvent::filter(u, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
        f.add_to_rate_limit_group(&group);
        spawn_sink(f, m.clone(), false);
    }
    for s in srcs {
        spawn_source(s, None);
    }
    let rows = sample(t0, 0, 100, meters(&ms)).await;
    let all: Vec<usize> = (0..MEMBERS).collect();
    check_group(
        "filters over pairs, group of 32",
        &member_rates(&rows, 0, 100, &all),
        GROUP_RATE as f64 / TICK.as_secs_f64(),
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_close_of_a_limited_filter_sends_everything_then_finishes() {
    let (under, dst) = BufferEvent::pair(Options::default());
    let mut f = BufferEvent::filter(under, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    f.set_rate_limit(Some(cfg(RATE, BURST)));
    let t0 = Instant::now();
    let m = Meter::new();
    spawn_sink(dst, m.clone(), false);
    let data: Vec<u8> = (0..40_000).map(byte).collect();
    f.write(&data).unwrap();
    f.close_gracefully();
    let driver = tokio::spawn(f.run(Callbacks::new()));
    let _ = common::within(10, driver).await.unwrap();
    // 4000 per tick: the 10th tick's share (at 0.9 s) ends it
    assert_eq!(m.bytes(), 40_000);
    assert!(t0.elapsed() >= TICK * 9, "{:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(m.eof());
}

#[tokio::test(start_paused = true)]
async fn a_direction_suspended_by_its_limit_does_not_time_out() {
    // one read and one write per second, timeouts of 300 ms: the timeouts
    // run only while the limit lets the direction move (libevent removes
    // the event, and its timeout, while it is suspended by bandwidth)
    let slow =
        RateLimitConfig::shared(1_000, 1_000, 1_000, 1_000, Some(Duration::from_secs(1))).unwrap();
    let timeout = Some(Duration::from_millis(300));
    let (src, mut dst) = BufferEvent::pair(Options::default());
    dst.set_rate_limit(Some(slow.clone()));
    dst.set_timeouts(timeout, None);
    let (mut wsrc, wdst) = BufferEvent::pair(Options::default());
    wsrc.set_rate_limit(Some(slow));
    wsrc.set_timeouts(None, timeout);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (e1, e2) = (events.clone(), events.clone());
    dst.enable(Dir::READ);
    tokio::spawn(
        dst.run(
            Callbacks::new()
                .on_read(|bev| {
                    let n = bev.input().len();
                    bev.input_mut().drain(n).unwrap();
                })
                .on_event(move |_, what| e1.lock().unwrap().push(what)),
        ),
    );
    spawn_source(src, None);
    wsrc.write(&(0..100_000).map(byte).collect::<Vec<u8>>())
        .unwrap();
    tokio::spawn(wsrc.run(Callbacks::new().on_event(move |_, what| e2.lock().unwrap().push(what))));
    let wm = Meter::new();
    spawn_sink(wdst, wm.clone(), false);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
    // one tick's worth at 0 s, then one per second
    assert_eq!(wm.bytes(), 4_000);
}

#[tokio::test(start_paused = true)]
async fn a_filter_does_not_time_out_while_the_layer_below_is_suspended_by_its_limit() {
    // the limit is on the pair end under the filter, the timeouts on the
    // filter: the filter's directions wait for the limit below, not for a
    // stalled peer, so its timeouts do not run meanwhile (one read and one
    // write per second below, timeouts of 300 ms above)
    let slow =
        RateLimitConfig::shared(1_000, 1_000, 1_000, 1_000, Some(Duration::from_secs(1))).unwrap();
    let timeout = Some(Duration::from_millis(300));
    let (mut under, far) = BufferEvent::pair(Options::default());
    under.set_rate_limit(Some(slow));
    let mut f = BufferEvent::filter(under, PassThrough, PassThrough, Options::default());
    f.set_timeouts(timeout, timeout);
    f.enable(Dir::READ | Dir::WRITE);
    f.write(&(0..100_000).map(byte).collect::<Vec<u8>>())
        .unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let e1 = events.clone();
    let read = Meter::new();
    let r1 = read.clone();
    tokio::spawn(
        f.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let n = bev.input().len();
                    bev.input_mut().drain(n).unwrap();
                    r1.record(n as u64);
                })
                .on_event(move |_, what| e1.lock().unwrap().push(what)),
        ),
    );
    // the far end drains what the filter writes and sends more than the
    // limit below lets the filter read
    let (mut far_r, mut far_w) = tokio::io::split(far);
    let written = Meter::new();
    let w1 = written.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut far_r, &mut buf).await {
            w1.record(n as u64);
        }
    });
    tokio::spawn(async move {
        let data = vec![7u8; 100_000];
        let _ = tokio::io::AsyncWriteExt::write_all(&mut far_w, &data).await;
        std::future::pending::<()>().await;
    });
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
    // one tick's worth at 0 s, then one per second, each way
    assert_eq!(written.bytes(), 4_000);
    assert_eq!(read.bytes(), 4_000);
}
