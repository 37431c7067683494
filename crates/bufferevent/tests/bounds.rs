//! No input from a peer can make a bufferevent hold more than its configured
//! bounds (issue 3; DESIGN principle 5): a peer floods a bufferevent whose
//! user does not read, over real loopback sockets and a pair. The input stops
//! at the read high watermark, or at the default bound
//! ([`DEFAULT_MAX_INPUT`], or what `set_max_input` says) when none is set, through filters too (also one
//! that expands every byte); the peer is held back by TCP (or the pair's
//! backpressure); and once the user drains, every byte arrives, in order.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bufferevent::{
    BufferEvent, Callbacks, Dir, Events, FilterResult, FilterStatus, FlushMode, Options,
    PassThrough, DEFAULT_MAX_INPUT,
};
use common::{pattern, tcp_pair, within};
use evbuffer::EvBuffer;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes `pattern` bytes until the peer has taken nothing for 300 ms (it
/// is full), at most 256 MiB. Returns how many were written.
async fn flood_until_blocked<W: AsyncWrite + Unpin>(w: &mut W) -> usize {
    let data = pattern(1 << 20);
    let mut sent = 0;
    while sent < 256 << 20 {
        let at = sent % data.len();
        match tokio::time::timeout(Duration::from_millis(300), w.write(&data[at..])).await {
            Ok(Ok(n)) if n > 0 => sent += n,
            Ok(_) => panic!("peer write failed"),
            Err(_) => return sent,
        }
    }
    panic!("the bufferevent took 256 MiB without reading it");
}

/// What the server saw: the largest input (and underlying input) at any read
/// callback and at the end of the flood, and the bytes it drained.
#[derive(Default)]
struct Seen {
    max_input: AtomicUsize,
    max_under: AtomicUsize,
    drained: Mutex<Vec<u8>>,
    drain: AtomicBool,
}

impl Seen {
    fn record(&self, bev: &BufferEvent) {
        self.max_input
            .fetch_max(bev.input().len(), Ordering::Relaxed);
        if let Some(u) = bev.underlying() {
            self.max_under.fetch_max(u.input().len(), Ordering::Relaxed);
        }
    }
}

/// Runs `bev` with a handler that does not read until told to, floods it
/// from `peer`, checks the bounds, then drains and checks every byte.
/// `expand` is the input filter's expansion factor (1 without one).
async fn check_flood<W>(
    mut bev: BufferEvent,
    mut peer: W,
    bound: usize,
    under_bound: usize,
    expand: usize,
) where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let seen = Arc::new(Seen::default());
    let s1 = seen.clone();
    let handle = bev.handle();
    bev.enable(Dir::READ);
    let server = tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(move |bev| {
                    s1.record(bev);
                    if s1.drain.load(Ordering::Relaxed) {
                        let mut all = EvBuffer::new();
                        bev.read_buffer(&mut all).unwrap();
                        let mut d = s1.drained.lock().unwrap();
                        for e in all.peek(..) {
                            d.extend_from_slice(e);
                        }
                    }
                })
                .on_event(|bev, what| {
                    assert!(!what.contains(Events::ERROR), "{what:?}: {:?}", bev.error());
                    if what.contains(Events::EOF) {
                        bev.close();
                    }
                }),
        ),
    );
    let sent = within(60, flood_until_blocked(&mut peer)).await;
    let s2 = seen.clone();
    handle
        .with(move |bev| {
            s2.record(bev);
            s2.drain.store(true, Ordering::Relaxed);
            bev.trigger(Dir::READ, true);
        })
        .await
        .unwrap();
    // the flood stopped because the bufferevent stopped reading, not
    // because it holds everything
    let (max_input, max_under) = (
        seen.max_input.load(Ordering::Relaxed),
        seen.max_under.load(Ordering::Relaxed),
    );
    assert!(max_input <= bound, "input reached {max_input} > {bound}");
    assert!(
        max_under <= under_bound,
        "underlying input reached {max_under} > {under_bound}"
    );
    assert!(
        max_input + max_under < sent * expand,
        "held everything: {max_input} + {max_under} of {sent} bytes (x{expand})"
    );
    // drained, everything arrives in order
    peer.shutdown().await.unwrap();
    drop(peer);
    let _ = within(60, server).await.unwrap();
    let got = std::mem::take(&mut *seen.drained.lock().unwrap());
    assert_eq!(got.len(), sent * expand, "bytes lost or added");
    let data = pattern(1 << 20);
    for (i, chunk) in got.chunks(expand).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == data[i % data.len()]),
            "byte {i} differs"
        );
    }
}

/// Repeats every byte `k` times, honouring the limit (a filter that expands
/// what the peer sends, like an inflater).
fn expander(
    k: usize,
) -> impl FnMut(&mut EvBuffer, &mut EvBuffer, Option<usize>, FlushMode) -> FilterResult {
    move |src, dst, limit, _| {
        let n = (limit.unwrap_or(usize::MAX) / k)
            .min(src.len())
            .min(1 << 20);
        if n == 0 {
            return Ok(FilterStatus::NeedMore);
        }
        let mut v = vec![0u8; n];
        src.remove(&mut v)?;
        let out: Vec<u8> = v.iter().flat_map(|&b| std::iter::repeat_n(b, k)).collect();
        dst.add(&out)?;
        Ok(FilterStatus::Ok)
    }
}

#[tokio::test]
async fn a_socket_without_a_watermark_stops_at_the_default_bound() {
    let (peer, server) = tcp_pair().await;
    let bev = BufferEvent::socket(server, Options::default());
    check_flood(bev, peer, DEFAULT_MAX_INPUT, 0, 1).await;
}

#[tokio::test]
async fn a_socket_stops_at_its_read_high_watermark() {
    let (peer, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_watermark(Dir::READ, 0, 100_000).unwrap();
    check_flood(bev, peer, 100_000, 0, 1).await;
}

#[tokio::test]
async fn a_filter_and_its_underlying_stop_at_their_bounds() {
    let (peer, server) = tcp_pair().await;
    let mut under = BufferEvent::socket(server, Options::default());
    under.set_max_input(300_000);
    let mut bev = BufferEvent::filter(under, PassThrough, PassThrough, Options::default());
    bev.set_max_input(200_000);
    check_flood(bev, peer, 200_000, 300_000, 1).await;
}

#[tokio::test]
async fn an_expanding_input_filter_stays_within_the_input_bound() {
    // 64 bytes out for every byte in, no read high watermark: the filter's
    // limit is the room below the input bound (libevent would pass -1, and
    // one call would expand all of the underlying's input)
    let (mut under, mut far) = BufferEvent::pair(Options::default());
    under.set_max_input(64 * 1024);
    far.set_max_output(64 * 1024);
    let mut bev = BufferEvent::filter(under, expander(64), PassThrough, Options::default());
    bev.set_max_input(1 << 20);
    check_flood(bev, far, 1 << 20, 64 * 1024, 64).await;
}

#[tokio::test]
async fn a_pair_end_stops_at_its_bound() {
    let (mut near, far) = BufferEvent::pair(Options::default());
    near.set_watermark(Dir::READ, 0, 50_000).unwrap();
    check_flood(near, far, 50_000, 0, 1).await;
}

/// A two-stage input filter, like `bufferevent_filters::Chain` with an unlimited first
/// stage: every call moves all of `src` into its own buffer, then expands
/// from there by `k` within the limit. Once the peer has gone quiet the
/// underlying's input is empty and the rest waits inside the filter, which
/// says so with `wants_write`.
struct Staged {
    k: usize,
    held: EvBuffer,
}

impl bufferevent::Filter for Staged {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        let moved = src.len();
        src.remove_into(&mut self.held, moved)?;
        let st = expander(self.k)(&mut self.held, dst, limit, mode)?;
        Ok(if moved > 0 { FilterStatus::Ok } else { st })
    }

    fn wants_write(&self) -> bool {
        !self.held.is_empty()
    }
}

/// The peer sends `sent` bytes that the input filter turns into
/// `sent * expand`, more than the default input bound, then goes quiet
/// without closing; the reader drains in its read callback. Everything must
/// arrive without new network input (statement 57 for the default bound, as
/// for a read high watermark: the zlib echo stall after 2d2dd80).
async fn check_quiet_peer(
    bev: BufferEvent,
    mut peer: tokio::net::TcpStream,
    sent: usize,
    expand: usize,
) {
    let total = Arc::new(AtomicUsize::new(0));
    let t1 = total.clone();
    let mut bev = bev;
    bev.enable(Dir::READ);
    let data = pattern(1 << 20);
    let server = tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let mut all = EvBuffer::new();
                    bev.read_buffer(&mut all).unwrap();
                    let at = t1.load(Ordering::Relaxed);
                    let mut i = at;
                    for e in all.peek(..) {
                        for &b in e {
                            assert_eq!(b, data[(i / expand) % data.len()], "byte {i} differs");
                            i += 1;
                        }
                    }
                    t1.store(i, Ordering::Relaxed);
                })
                .on_event(|bev, what| {
                    assert!(!what.contains(Events::ERROR), "{what:?}: {:?}", bev.error());
                    if what.contains(Events::EOF) {
                        bev.close();
                    }
                }),
        ),
    );
    let src = pattern(1 << 20);
    let mut off = 0;
    while off < sent {
        let n = (sent - off).min(src.len() - off % src.len());
        let at = off % src.len();
        within(60, peer.write_all(&src[at..at + n])).await.unwrap();
        off += n;
    }
    // the peer is quiet now, the connection stays open
    let want = sent * expand;
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while total.load(Ordering::Relaxed) < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let got = total.load(Ordering::Relaxed);
    assert!(done.is_ok(), "stalled: {got} of {want} bytes arrived");
    assert_eq!(got, want, "bytes added");
    drop(peer);
    let _ = within(30, server).await.unwrap();
}

#[tokio::test]
async fn an_expanding_filter_delivers_everything_from_a_quiet_peer() {
    let (peer, server) = tcp_pair().await;
    let under = BufferEvent::socket(server, Options::default());
    let bev = BufferEvent::filter(under, expander(8), PassThrough, Options::default());
    check_quiet_peer(bev, peer, 3 << 20, 8).await;
}

#[tokio::test]
async fn a_pass_through_filter_delivers_everything_from_a_quiet_peer() {
    let (peer, server) = tcp_pair().await;
    let under = BufferEvent::socket(server, Options::default());
    let bev = BufferEvent::filter(under, PassThrough, PassThrough, Options::default());
    check_quiet_peer(bev, peer, 3 * DEFAULT_MAX_INPUT, 1).await;
}

#[tokio::test]
async fn a_filter_holding_input_delivers_everything_from_a_quiet_peer() {
    let (peer, server) = tcp_pair().await;
    let under = BufferEvent::socket(server, Options::default());
    let staged = Staged {
        k: 8,
        held: EvBuffer::new(),
    };
    let bev = BufferEvent::filter(under, staged, PassThrough, Options::default());
    check_quiet_peer(bev, peer, 3 << 20, 8).await;
}
