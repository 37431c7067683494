//! Bounded by default on the callback face: a read callback written the
//! obvious way (write everything it reads) against a peer that sends and
//! never reads cannot make the process grow. Reading pauses by itself while
//! the output is at its bound ([`DEFAULT_MAX_OUTPUT`] when no write high
//! watermark is set) and resumes as the output drains (libevent has no such
//! pause: its output grows as long as the peer sends). Over real loopback
//! sockets, with and without a filter stack; the process's RSS is measured.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bufferevent::{
    BufferEvent, Callbacks, Dir, Events, FilterResult, FilterStatus, FlushMode, Options,
    PassThrough, DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT,
};
use common::{check_pattern, pattern, tcp_pair, within};
use evbuffer::EvBuffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes until the server has taken nothing for 500 ms, at most 256 MiB.
async fn flood_until_blocked(w: &mut TcpStream) -> usize {
    let data = pattern(1 << 20);
    let mut sent = 0;
    while sent < 256 << 20 {
        let at = sent % data.len();
        match tokio::time::timeout(Duration::from_millis(500), w.write(&data[at..])).await {
            Ok(Ok(n)) if n > 0 => sent += n,
            Ok(_) => panic!("flood write failed"),
            Err(_) => return sent,
        }
    }
    panic!("the echo server took 256 MiB from a peer that never reads");
}

/// The process's resident set, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

/// Largest buffer sizes seen by the read callback, after it wrote.
#[derive(Default)]
struct Seen {
    input: AtomicUsize,
    output: AtomicUsize,
    under_input: AtomicUsize,
    under_output: AtomicUsize,
    read: AtomicUsize,
    /// The statistics at the last read callback.
    stats: std::sync::Mutex<Option<bufferevent::Stats>>,
}

impl Seen {
    fn record(&self, bev: &BufferEvent) {
        self.input.fetch_max(bev.input().len(), Ordering::Relaxed);
        self.output.fetch_max(bev.output().len(), Ordering::Relaxed);
        if let Some(u) = bev.underlying() {
            self.under_input
                .fetch_max(u.input().len(), Ordering::Relaxed);
            self.under_output
                .fetch_max(u.output().len(), Ordering::Relaxed);
        }
    }
}

/// The naive echo: everything read is written back, nothing else.
fn naive_echo(seen: Arc<Seen>) -> Callbacks {
    Callbacks::new()
        .on_read(move |bev| {
            let mut all = EvBuffer::new();
            let n = bev.read_buffer(&mut all).unwrap();
            seen.read.fetch_add(n, Ordering::Relaxed);
            let _ = bev.write_buffer(&mut all);
            seen.record(bev);
            *seen.stats.lock().unwrap() = Some(bev.stats());
        })
        .on_event(|bev, what| {
            if what.intersects(Events::EOF | Events::ERROR | Events::TIMEOUT) {
                bev.close();
            }
        })
}

/// An output filter that writes every byte twice: the underlying's output
/// fills twice as fast as the filter's drains.
fn doubler(
    src: &mut EvBuffer,
    dst: &mut EvBuffer,
    limit: Option<usize>,
    _: FlushMode,
) -> FilterResult {
    let n = src
        .len()
        .min(limit.unwrap_or(usize::MAX).div_ceil(2).max(1));
    let mut v = vec![0; n];
    let got = src.remove(&mut v)?;
    let mut out = Vec::with_capacity(2 * got);
    for b in &v[..got] {
        out.extend_from_slice(&[*b, *b]);
    }
    dst.add(&out)?;
    Ok(FilterStatus::Ok)
}

/// Floods `bev` (served with the naive echo) from a client that never
/// reads; checks the buffer bounds and the RSS growth, then reads the echo
/// back and checks the first bytes of it. `factor` is how much the output
/// filter expands.
async fn check(mut bev: BufferEvent, mut client: TcpStream, factor: usize) {
    let seen = Arc::new(Seen::default());
    bev.enable(Dir::READ | Dir::WRITE);
    let handle = bev.handle();
    let server = tokio::spawn(bev.run(naive_echo(seen.clone())));
    let before = rss();
    let sent = within(60, flood_until_blocked(&mut client)).await;
    let grown = rss().saturating_sub(before);
    // A handle still reaches the paused bufferevent (only writes wait for
    // room), and its statistics count the pause that is running.
    let (tx, rx) = tokio::sync::oneshot::channel();
    handle
        .with(move |bev| {
            let _ = tx.send(bev.stats());
        })
        .await
        .unwrap();
    let now = within(10, rx).await.unwrap();
    assert!(now.output_full >= Duration::from_millis(100), "{now:?}");
    let read = seen.read.load(Ordering::Relaxed);
    eprintln!(
        "sent {sent}, server read {read}, RSS +{grown}, max input {} output {} under input {} output {}",
        seen.input.load(Ordering::Relaxed),
        seen.output.load(Ordering::Relaxed),
        seen.under_input.load(Ordering::Relaxed),
        seen.under_output.load(Ordering::Relaxed),
    );
    // The documented bound: the output at its bound plus what one read
    // callback wrote (at most one input's worth), the input at its bound.
    let out_bound = DEFAULT_MAX_OUTPUT + DEFAULT_MAX_INPUT;
    assert!(seen.output.load(Ordering::Relaxed) <= out_bound);
    assert!(seen.input.load(Ordering::Relaxed) <= DEFAULT_MAX_INPUT);
    assert!(seen.under_input.load(Ordering::Relaxed) <= DEFAULT_MAX_INPUT);
    assert!(seen.under_output.load(Ordering::Relaxed) <= DEFAULT_MAX_OUTPUT + factor * out_bound);
    // The server stopped reading: it took far less than a peer that is
    // read without limit pushes (the flood stops at 256 MiB otherwise).
    assert!(read < 64 << 20, "server read {read} bytes");
    // A generous bound on the process's growth (buffers, chunk slack,
    // allocator): without the pause it grows by everything sent.
    assert!(grown < 48 << 20, "RSS grew by {grown} bytes");
    // The echo is intact: read the first MiB back (the server resumes
    // reading as its output drains).
    let mut back = vec![0u8; (1 << 20) * factor];
    within(30, client.read_exact(&mut back)).await.unwrap();
    // The pause shows in the statistics seen by a read callback after it
    // (the flood ended after 500 ms without progress, all of it paused).
    let st = within(10, async {
        loop {
            if let Some(st) = *seen.stats.lock().unwrap() {
                if st.output_full > Duration::ZERO {
                    return st;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(st.output_full >= Duration::from_millis(100), "{st:?}");
    assert!(
        st.max_output <= DEFAULT_MAX_OUTPUT + DEFAULT_MAX_INPUT,
        "{st:?}"
    );
    if factor == 1 {
        check_pattern(&back, 1 << 20);
    } else {
        let want: Vec<u8> = pattern(1 << 20).iter().flat_map(|b| [*b, *b]).collect();
        assert!(back == want, "doubled echo differs");
    }
    drop(client);
    let _ = within(30, server).await.unwrap();
}

/// The async face written the obvious way: read, then `write_all` what was
/// read. Its `poll_write` waits while the output is at its bound, so the
/// loop stops reading by itself.
async fn naive_async_echo(mut bev: BufferEvent, seen: Arc<Seen>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match AsyncReadExt::read(&mut bev, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen.read.fetch_add(n, Ordering::Relaxed);
        if bev.write_all(&buf[..n]).await.is_err() {
            return;
        }
        seen.record(&bev);
    }
}

/// [`check`] for the async face.
async fn check_async(bev: BufferEvent, mut client: TcpStream) {
    let seen = Arc::new(Seen::default());
    let server = tokio::spawn(naive_async_echo(bev, seen.clone()));
    let before = rss();
    let sent = within(60, flood_until_blocked(&mut client)).await;
    let grown = rss().saturating_sub(before);
    let read = seen.read.load(Ordering::Relaxed);
    eprintln!(
        "async face: sent {sent}, server read {read}, RSS +{grown}, max output {}",
        seen.output.load(Ordering::Relaxed)
    );
    assert!(seen.output.load(Ordering::Relaxed) <= DEFAULT_MAX_OUTPUT);
    assert!(read < 64 << 20, "server read {read} bytes");
    assert!(grown < 48 << 20, "RSS grew by {grown} bytes");
    let mut back = vec![0u8; 1 << 20];
    within(30, client.read_exact(&mut back)).await.unwrap();
    check_pattern(&back, 1 << 20);
    drop(client);
    within(30, server).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn naive_echo_is_bounded_against_a_peer_that_never_reads() {
    // One test per process for the RSS figure: socket, then filter stack.
    let (client, server) = tcp_pair().await;
    check(
        BufferEvent::socket(server, Options::CLOSE_ON_FREE),
        client,
        1,
    )
    .await;

    let (client, server) = tcp_pair().await;
    let sock = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    let bev = BufferEvent::filter(sock, PassThrough, doubler, Options::CLOSE_ON_FREE);
    check(bev, client, 2).await;

    // The async face, plain and through a filter.
    let (client, server) = tcp_pair().await;
    check_async(BufferEvent::socket(server, Options::CLOSE_ON_FREE), client).await;
    let (client, server) = tcp_pair().await;
    let sock = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    let bev = BufferEvent::filter(sock, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    check_async(bev, client).await;
}
