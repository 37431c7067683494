//! An echo that flushes what it writes (`write` then `flush(Flush)`, what
//! a compressed echo does so that the peer can decode at once) through a
//! filter stack, against a peer that sends and never reads: the stack's
//! output stays bounded and the write timeout drops the peer.
//!
//! libevent: a forced flush calls the output filter with no limit
//! (`dst_limit` -1), so everything goes into the underlying's output and
//! the filter's own output stays empty. Here a forced flush is limited to
//! the room below the underlying's bound and goes on as it drains, reading
//! pauses on the whole stack's backlog, and only the transport at the
//! bottom writing restarts the filter's write timeout.

mod common;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bufferevent::{
    BufferEvent, Callbacks, Dir, Events, Filter, FilterResult, FilterStatus, FlushMode, Options,
    PassThrough, DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT,
};
use common::{pattern, tcp_pair, within};
use evbuffer::EvBuffer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Writes until the server has taken nothing for 500 ms or the connection
/// fails; at most 256 MiB. Returns the bytes sent.
async fn flood(w: &mut TcpStream) -> usize {
    let data = pattern(1 << 20);
    let mut sent = 0;
    while sent < 256 << 20 {
        let at = sent % data.len();
        match tokio::time::timeout(Duration::from_millis(500), w.write(&data[at..])).await {
            Ok(Ok(n)) if n > 0 => sent += n,
            Ok(Ok(_)) => return sent,
            Ok(Err(e)) => {
                assert!(
                    matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    "{e}"
                );
                return sent;
            }
            Err(_) => return sent,
        }
    }
    panic!("the echo server took 256 MiB from a peer that never reads");
}

/// An output filter that writes every byte twice (expanding), honouring
/// the limit.
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
    let out: Vec<u8> = v[..got].iter().flat_map(|b| [*b, *b]).collect();
    dst.add(&out)?;
    Ok(FilterStatus::Ok)
}

/// zlib-like: `Normal` calls take everything in and emit nothing; a forced
/// call makes all of it ready, and ready bytes go out within the limit.
/// What the limit holds back goes out on later calls ([`wants_write`]).
#[derive(Default)]
struct Holding {
    taken: EvBuffer,
    ready: EvBuffer,
}

impl Filter for Holding {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        let took = src.len();
        self.taken.append(src)?;
        if mode.is_forced() {
            self.ready.append(&mut self.taken)?;
        }
        let n = self.ready.len().min(limit.unwrap_or(usize::MAX));
        self.ready.remove_into(dst, n)?;
        Ok(if took + n > 0 {
            FilterStatus::Ok
        } else {
            FilterStatus::NeedMore
        })
    }

    fn wants_write(&self) -> bool {
        !self.ready.is_empty()
    }
}

/// Each call's limit, mode and source length.
type Calls = Arc<Mutex<Vec<(Option<usize>, FlushMode, usize)>>>;

/// Records each call, then runs `inner`.
struct Recorder<F> {
    inner: F,
    calls: Calls,
}

impl<F: Filter> Filter for Recorder<F> {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        self.calls.lock().unwrap().push((limit, mode, src.len()));
        self.inner.process(src, dst, limit, mode)
    }

    fn wants_write(&self) -> bool {
        self.inner.wants_write()
    }
}

/// Largest backlogs seen by the read callback after its flush.
#[derive(Default)]
struct Seen {
    read: AtomicUsize,
    /// The filter's output plus the underlying's.
    stack: AtomicUsize,
    under: AtomicUsize,
    events: Mutex<Vec<Events>>,
}

/// The obvious echo of a compressed stream: write what was read, flush it.
fn flushing_echo(seen: Arc<Seen>) -> Callbacks {
    let s2 = seen.clone();
    Callbacks::new()
        .on_read(move |bev| {
            let mut all = EvBuffer::new();
            let n = bev.read_buffer(&mut all).unwrap();
            seen.read.fetch_add(n, Ordering::Relaxed);
            if bev.write_buffer(&mut all).is_ok() {
                let _ = bev.flush(FlushMode::Flush);
            }
            let under = bev.underlying().map_or(0, |u| u.output().len());
            seen.under.fetch_max(under, Ordering::Relaxed);
            seen.stack
                .fetch_max(bev.output().len() + under, Ordering::Relaxed);
        })
        .on_event(move |bev, what| {
            s2.events.lock().unwrap().push(what);
            if what.intersects(Events::EOF | Events::ERROR | Events::TIMEOUT) {
                bev.close();
            }
        })
}

/// Floods the flushing echo over `output` (an output filter) and checks
/// the bounds and the write timeout.
async fn check(name: &str, output: impl Filter + 'static, expands: usize) {
    let (mut client, server) = tcp_pair().await;
    let sock = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    let mut bev = BufferEvent::filter(sock, PassThrough, output, Options::CLOSE_ON_FREE);
    bev.enable(Dir::READ | Dir::WRITE);
    bev.set_timeouts(None, Some(Duration::from_secs(1)));
    let seen = Arc::new(Seen::default());
    let task = tokio::spawn(bev.run(flushing_echo(seen.clone())));
    let sent = within(120, flood(&mut client)).await;
    // The peer never reads: the write timeout fires although the output
    // filter keeps having bytes to move below.
    within(30, task).await.unwrap().unwrap();
    let read = seen.read.load(Ordering::Relaxed);
    let (stack, under) = (
        seen.stack.load(Ordering::Relaxed),
        seen.under.load(Ordering::Relaxed),
    );
    eprintln!("{name}: sent {sent}, server read {read}, largest stack backlog {stack}, underlying {under}");
    let events = seen.events.lock().unwrap().clone();
    assert!(
        events.contains(&(Events::TIMEOUT | Events::WRITING)),
        "{name}: no write timeout: {events:?}"
    );
    // The underlying's output never passes its bound (by more than the one
    // byte an expanding filter may overshoot), whatever was flushed.
    assert!(
        under <= DEFAULT_MAX_OUTPUT + expands,
        "{name}: underlying output {under}"
    );
    // The whole stack: the bound plus what one read callback wrote.
    assert!(
        stack <= DEFAULT_MAX_OUTPUT + DEFAULT_MAX_INPUT + expands,
        "{name}: stack backlog {stack}"
    );
    assert!(read < 32 << 20, "{name}: server read {read} bytes");
}

#[tokio::test(flavor = "current_thread")]
async fn flushing_echo_is_bounded_and_times_out_against_a_peer_that_never_reads() {
    check("pass-through", PassThrough, 0).await;
    check("expanding", doubler, 1).await;
    check("holding", Holding::default(), 0).await;
}

/// A `Flush` held back by the room below completes as the underlying
/// drains: every call is limited to the room, and everything written
/// before the flush reaches the peer (the holding filter emits nothing
/// without a flush), before the driver ends.
#[tokio::test(flavor = "current_thread")]
async fn a_flush_held_back_by_the_room_below_completes_as_it_drains() {
    let (mut client, server) = tcp_pair().await;
    let mut sock = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    sock.set_watermark(Dir::WRITE, 0, 1000).unwrap();
    let modes = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        inner: Holding::default(),
        calls: modes.clone(),
    };
    let mut bev = BufferEvent::filter(sock, PassThrough, recorder, Options::CLOSE_ON_FREE);
    let data = pattern(100_000);
    bev.write(&data).unwrap();
    assert!(bev.flush(FlushMode::Flush).unwrap());
    // the first forced call was limited to the room below
    {
        let m = modes.lock().unwrap();
        let first_flush = m.iter().find(|c| c.1 == FlushMode::Flush).unwrap();
        assert_eq!(first_flush.0, Some(1000));
    }
    assert!(bev.underlying().unwrap().output().len() <= 1000);
    let task = tokio::spawn(bev.run(Callbacks::new().on_event(|bev, _| bev.close())));
    let mut got = vec![0u8; data.len()];
    within(
        30,
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut got),
    )
    .await
    .unwrap();
    assert!(got == data, "the echo differs");
    drop(client);
    let _ = within(10, task).await.unwrap();
    let m = modes.lock().unwrap();
    assert!(m.iter().all(|c| c.0.is_some_and(|l| l <= 1000)), "{m:?}");
}
