//! Pairs (statements 65-71): in-memory bufferevents, also across threads.

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bufferevent::{BufferEvent, Callbacks, Dir, Events, FlushMode, Handler, Options};
use common::{check_pattern, pattern, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Records the callbacks it gets.
#[derive(Default, Clone)]
struct Rec(Arc<Mutex<Vec<String>>>);

impl Handler for Rec {
    fn on_read(&mut self, bev: &mut BufferEvent) {
        self.0
            .lock()
            .unwrap()
            .push(format!("read {}", bev.input().len()));
    }
    fn on_write(&mut self, _: &mut BufferEvent) {
        self.0.lock().unwrap().push("write".into());
    }
    fn on_event(&mut self, _: &mut BufferEvent, what: Events) {
        self.0
            .lock()
            .unwrap()
            .push(format!("event {:#x}", what.bits()));
    }
}

impl Rec {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// One poll of the callback driver, no runtime needed.
fn step(bev: &mut BufferEvent, h: &mut Rec) -> Poll<()> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    bev.poll_run(&mut cx, h).map(|_| ())
}

#[test]
fn s65_pair_forces_deferred_callbacks() {
    let (a, b) = BufferEvent::pair(Options::empty());
    assert!(a.options().contains(Options::DEFER_CALLBACKS));
    assert!(b.options().contains(Options::DEFER_CALLBACKS));
    assert_eq!(a.enabled(), Dir::WRITE, "statement 38 for pairs");
}

#[test]
fn s66_bytes_wait_in_output_until_the_partner_reads() {
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let (mut ha, mut hb) = (Rec::default(), Rec::default());
    a.write(&[1u8; 10]).unwrap();
    let _ = step(&mut a, &mut ha);
    assert_eq!(a.output().len(), 10, "B is not reading");
    assert!(ha.take().is_empty(), "no write callback yet");
    b.enable(Dir::READ);
    let _ = step(&mut a, &mut ha);
    assert_eq!(a.output().len(), 0);
    assert_eq!(ha.take(), vec!["write"]);
    let _ = step(&mut b, &mut hb);
    assert_eq!(hb.take(), vec!["read 10"]);
}

#[test]
fn s67_partner_high_watermark_limits_each_transfer() {
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let (mut ha, mut hb) = (Rec::default(), Rec::default());
    b.set_watermark(Dir::READ, 0, 4).unwrap();
    b.enable(Dir::READ);
    a.write(&[1u8; 10]).unwrap();
    let _ = step(&mut a, &mut ha);
    let _ = step(&mut b, &mut hb);
    assert_eq!((b.input().len(), a.output().len()), (4, 6));
    b.input_mut().drain(4).unwrap();
    let _ = step(&mut b, &mut hb); // publishes the room
    let _ = step(&mut a, &mut ha);
    let _ = step(&mut b, &mut hb);
    assert_eq!(
        (b.input().len(), a.output().len()),
        (4, 2),
        "8 moved, 2 left"
    );
}

#[test]
fn s68_flush_moves_everything_even_when_disabled_but_normal_does_nothing() {
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let mut hb = Rec::default();
    b.set_watermark(Dir::READ, 0, 4).unwrap();
    a.disable(Dir::WRITE);
    a.write(&[1u8; 10]).unwrap();
    assert!(!a.flush(FlushMode::Normal).unwrap(), "NORMAL is a no-op");
    assert_eq!(a.output().len(), 10);
    assert!(a.flush(FlushMode::Flush).unwrap());
    assert_eq!(a.output().len(), 0, "all moved out of A");
    b.enable(Dir::READ);
    let _ = step(&mut b, &mut hb);
    assert_eq!(b.input().len(), 4, "B's input still respects its bound");
    b.input_mut().drain(4).unwrap();
    let _ = step(&mut b, &mut hb);
    b.input_mut().drain(4).unwrap();
    let _ = step(&mut b, &mut hb);
    assert_eq!(b.input().len(), 2);
}

#[test]
fn s69_flush_finished_gives_the_partner_eof_after_the_data() {
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let mut hb = Rec::default();
    b.enable(Dir::READ);
    a.write(b"bye").unwrap();
    a.flush(FlushMode::Finished).unwrap();
    let _ = step(&mut b, &mut hb);
    assert_eq!(hb.take(), vec!["read 3", "event 0x11"]);
    let _ = step(&mut b, &mut hb);
    assert!(
        hb.take().is_empty(),
        "exactly once, no spurious 0-byte reads"
    );
}

#[test]
fn s70_dropping_one_end_gives_the_survivor_eof() {
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let mut hb = Rec::default();
    b.enable(Dir::READ);
    a.write(b"sent").unwrap();
    let _ = step(&mut a, &mut Rec::default());
    assert!(b.partner().is_some());
    drop(a);
    assert!(b.partner().is_none());
    assert!(b.flush(FlushMode::Flush).is_err());
    let _ = step(&mut b, &mut hb);
    assert_eq!(hb.take(), vec!["read 4", "event 0x11"]);
    assert_eq!(b.input(), &b"sent"[..], "transferred bytes stay readable");
}

#[test]
fn writing_to_a_dropped_partner_is_a_broken_pipe() {
    let (mut a, b) = BufferEvent::pair(Options::default());
    let mut ha = Rec::default();
    drop(b);
    a.write(b"into the void").unwrap();
    let _ = step(&mut a, &mut ha);
    let got = ha.take();
    assert!(got.contains(&"event 0x22".to_string()), "{got:?}");
    assert_eq!(a.error().unwrap().io_kind(), std::io::ErrorKind::BrokenPipe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfer_both_ways_across_threads_with_backpressure() {
    const N: usize = 16 << 20;
    const H: usize = 64 * 1024;
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    a.set_watermark(Dir::READ, 0, H).unwrap();
    b.set_watermark(Dir::READ, 0, H).unwrap();
    a.set_watermark(Dir::WRITE, 0, H).unwrap();
    b.set_watermark(Dir::WRITE, 0, H).unwrap();
    let run = |bev: BufferEvent| async move {
        let (mut rd, mut wr) = tokio::io::split(bev);
        let w = async {
            wr.write_all(&pattern(N)).await.unwrap();
            wr.shutdown().await.unwrap();
        };
        let r = async {
            let mut got = Vec::with_capacity(N);
            rd.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = tokio::join!(w, r);
        got
    };
    let ta = tokio::spawn(run(a));
    let tb = tokio::spawn(run(b));
    check_pattern(&within(120, ta).await.unwrap(), N);
    check_pattern(&within(120, tb).await.unwrap(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_producer_and_slow_consumer_stay_within_watermarks() {
    const N: usize = 8 << 20;
    const H: usize = 32 * 1024;
    const CHUNK: usize = 16 * 1024;
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    b.set_watermark(Dir::READ, 0, H).unwrap();
    b.enable(Dir::READ);
    // producer: refills when the output drained (libevent's write-callback pattern)
    let data = Arc::new(pattern(N));
    let mut sent = CHUNK;
    a.write(&data[..CHUNK]).unwrap();
    let d2 = data.clone();
    let producer = tokio::spawn(a.run(Callbacks::new().on_write(move |bev| {
        assert!(bev.output().len() <= CHUNK);
        if sent < N {
            let end = (sent + CHUNK).min(N);
            bev.write(&d2[sent..end]).unwrap();
            sent = end;
        } else {
            bev.close_gracefully();
        }
    })));
    // consumer: takes at most 1000 bytes per callback, on another thread
    let got = Arc::new(Mutex::new(Vec::with_capacity(N)));
    let g2 = got.clone();
    let g3 = got.clone();
    let consumer = tokio::spawn(
        b.run(
            Callbacks::new()
                .on_read(move |bev| {
                    assert!(
                        bev.input().len() <= H,
                        "input {} above H",
                        bev.input().len()
                    );
                    let mut buf = [0u8; 1000];
                    let n = bev.read(&mut buf);
                    g2.lock().unwrap().extend_from_slice(&buf[..n]);
                    // leave the rest: the next callback comes only with new data, so
                    // take what is left if the producer has stopped
                    if bev.input().len() >= H - 1000 {
                        let mut rest = vec![0u8; bev.input().len()];
                        let n = bev.read(&mut rest);
                        g2.lock().unwrap().extend_from_slice(&rest[..n]);
                    }
                })
                .on_event(move |bev, what| {
                    assert_eq!(what, Events::EOF | Events::READING);
                    let mut rest = vec![0u8; bev.input().len()];
                    let n = bev.read(&mut rest);
                    g3.lock().unwrap().extend_from_slice(&rest[..n]);
                    bev.close();
                }),
        ),
    );
    let _ = within(120, producer).await.unwrap();
    let _ = within(120, consumer).await.unwrap();
    check_pattern(&got.lock().unwrap(), N);
}

/// Callbacks never run inside a call of yours (libevent's
/// `BEV_OPT_DEFER_CALLBACKS`, always on): calls made from inside a callback
/// (write, flush, trigger, trigger_event, enable) only schedule further
/// callbacks, which the driver runs afterwards, one at a time.
#[tokio::test]
async fn callbacks_are_never_reentered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let depth = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (d1, d2, d3) = (depth.clone(), depth.clone(), depth.clone());
    let (c1, c2) = (calls.clone(), calls.clone());
    let enter = |d: &AtomicUsize| assert_eq!(d.fetch_add(1, Ordering::SeqCst), 0, "re-entered");
    let leave = |d: &AtomicUsize| d.fetch_sub(1, Ordering::SeqCst);
    a.enable(Dir::READ);
    a.write(b"ping").unwrap();
    let handler = Callbacks::new()
        .on_read(move |bev| {
            enter(&d1);
            let n = c1.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 64];
            let _ = bev.read(&mut buf);
            if n < 20 {
                bev.write(b"again").unwrap();
                bev.flush(FlushMode::Flush).unwrap();
                bev.trigger(Dir::READ | Dir::WRITE, true);
                bev.trigger_event(Events::TIMEOUT);
                bev.enable(Dir::READ);
            } else {
                bev.close();
            }
            leave(&d1);
        })
        .on_write(move |_| {
            enter(&d2);
            leave(&d2);
        })
        .on_event(move |_, _| {
            enter(&d3);
            c2.fetch_add(1, Ordering::SeqCst);
            leave(&d3);
        });
    b.enable(Dir::READ);
    let echo = tokio::spawn(b.run(Callbacks::new().on_read(|bev| {
        let mut all = bufferevent::EvBuffer::new();
        bev.read_buffer(&mut all).unwrap();
        bev.write_buffer(&mut all).unwrap();
    })));
    let _ = within(10, a.run(handler)).await;
    assert!(calls.load(Ordering::SeqCst) > 20);
    echo.abort();
}

/// Reads `bev` to its end through the async face.
async fn read_all(mut bev: BufferEvent) -> Vec<u8> {
    let mut got = Vec::new();
    within(20, bev.read_to_end(&mut got)).await.unwrap();
    got
}

#[tokio::test]
async fn bytes_written_just_before_a_drop_reach_the_partner_then_eof() {
    // The partner is reading (libevent moves the bytes inside
    // `bufferevent_write` then): written, dropped at once, nothing lost.
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    b.enable(Dir::READ);
    a.write(b"response").unwrap();
    drop(a);
    assert_eq!(read_all(b).await, b"response");

    // The partner is not reading yet: the drop hands the output over.
    let (mut a, b) = BufferEvent::pair(Options::default());
    a.write(b"early").unwrap();
    drop(a);
    assert_eq!(read_all(b).await, b"early");

    // More than the partner's input bound: all of it, in order, then EOF.
    let n = 3 * bufferevent::DEFAULT_MAX_INPUT + 12_345;
    let (mut a, b) = BufferEvent::pair(Options::default());
    a.write(&pattern(n)).unwrap();
    drop(a);
    check_pattern(&read_all(b).await, n);
}

#[tokio::test]
async fn a_filter_over_a_pair_dropped_after_writing_loses_nothing() {
    use bufferevent::{FilterStatus, PassThrough};
    let upper = |src: &mut evbuffer::EvBuffer,
                 dst: &mut evbuffer::EvBuffer,
                 _: Option<usize>,
                 _: FlushMode| {
        let mut v = vec![0; src.len()];
        let n = src.remove(&mut v)?;
        dst.add(&v[..n].to_ascii_uppercase())?;
        Ok(FilterStatus::Ok)
    };
    for reading in [true, false] {
        let (a, mut b) = BufferEvent::pair(Options::default());
        if reading {
            b.enable(Dir::READ);
        }
        let mut f = BufferEvent::filter(a, PassThrough, upper, Options::CLOSE_ON_FREE);
        f.write(b"written then dropped").unwrap();
        drop(f);
        assert_eq!(
            read_all(b).await,
            b"WRITTEN THEN DROPPED",
            "partner reading: {reading}"
        );
    }
}
