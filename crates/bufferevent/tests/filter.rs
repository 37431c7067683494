//! Filter bufferevents (statements 55-64) over real sockets and pairs.

mod common;

use std::sync::{Arc, Mutex};

use bufferevent::{
    BufferEvent, Callbacks, Dir, Error, Events, Filter, FilterError, FilterResult, FilterStatus,
    FlushMode, Options, PassThrough, Side,
};
use common::{check_pattern, pattern, tcp_pair, within};
use evbuffer::EvBuffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Calls = Arc<Mutex<Vec<(Option<usize>, FlushMode)>>>;

/// A pass-through filter that records each call's limit and mode.
fn recorder(calls: &Calls) -> impl Filter + 'static {
    let calls = calls.clone();
    move |src: &mut EvBuffer, dst: &mut EvBuffer, limit: Option<usize>, mode: FlushMode| {
        calls.lock().unwrap().push((limit, mode));
        PassThrough.process(src, dst, limit, mode)
    }
}

fn upper(src: &mut EvBuffer, dst: &mut EvBuffer, _: Option<usize>, _: FlushMode) -> FilterResult {
    let mut v = vec![0u8; src.len()];
    let n = src.remove(&mut v)?;
    v.truncate(n);
    v.make_ascii_uppercase();
    dst.add(&v)?;
    Ok(FilterStatus::Ok)
}

/// Frames each call's data as `[len u32 BE][data]`.
fn frame(src: &mut EvBuffer, dst: &mut EvBuffer, _: Option<usize>, _: FlushMode) -> FilterResult {
    if src.is_empty() {
        return Ok(FilterStatus::Ok);
    }
    let n = src.len();
    dst.add(&(n as u32).to_be_bytes())?;
    src.remove_into(dst, n)?;
    Ok(FilterStatus::Ok)
}

/// Emits complete lines only; the rest waits (NeedMore) until Finished.
fn lines(
    src: &mut EvBuffer,
    dst: &mut EvBuffer,
    _: Option<usize>,
    mode: FlushMode,
) -> FilterResult {
    let mut v = vec![0u8; src.len()];
    src.copy_out(&mut v)?;
    let cut = match v.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if mode == FlushMode::Finished => v.len(),
        None => return Ok(FilterStatus::NeedMore),
    };
    src.remove_into(dst, cut)?;
    Ok(FilterStatus::Ok)
}

fn new_calls() -> Calls {
    Arc::new(Mutex::new(Vec::new()))
}

#[tokio::test]
async fn s55_filter_enables_underlying_and_null_filter_passes_bytes() {
    let (mut client, server) = tcp_pair().await;
    let under = BufferEvent::socket(server, Options::default());
    assert_eq!(under.enabled(), Dir::WRITE);
    let mut f = BufferEvent::filter(under, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    assert_eq!(f.underlying().unwrap().enabled(), Dir::READ | Dir::WRITE);
    assert!(f.underlying().unwrap().underlying().is_none());
    client.write_all(&pattern(1 << 20)).await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    within(30, f.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, 1 << 20);
}

#[tokio::test]
async fn s56_s57_input_limit_and_data_stuck_behind_the_watermark() {
    let (near, mut far) = BufferEvent::pair(Options::default());
    let calls = new_calls();
    let mut f = BufferEvent::filter(near, recorder(&calls), PassThrough, Options::default());
    f.set_watermark(Dir::READ, 0, 10).unwrap();
    f.enable(Dir::READ);
    far.write_all(&[7u8; 20]).await.unwrap();
    AsyncWriteExt::flush(&mut far).await.unwrap();
    let step = Arc::new(Mutex::new(0));
    let st = step.clone();
    let c2 = calls.clone();
    let _keep = far; // no EOF: the second batch must come without new input
    let _ = within(
        10,
        f.run(Callbacks::new().on_read(move |bev| {
            let mut s = st.lock().unwrap();
            *s += 1;
            assert_eq!(bev.input().len(), 10);
            if *s == 1 {
                assert_eq!(c2.lock().unwrap()[0], (Some(10), FlushMode::Normal));
                assert_eq!(bev.underlying().unwrap().input().len(), 10);
                bev.input_mut().drain(10).unwrap();
            } else {
                assert_eq!(bev.underlying().unwrap().input().len(), 0);
                bev.close();
            }
        })),
    )
    .await;
    assert_eq!(*step.lock().unwrap(), 2);
}

#[test]
fn s58_s59_output_filter_runs_in_write_with_limit_from_underlying_high() {
    let (near, _far) = BufferEvent::pair(Options::default());
    let calls = new_calls();
    let mut f = BufferEvent::filter(near, PassThrough, recorder(&calls), Options::default());
    f.underlying_mut()
        .unwrap()
        .set_watermark(Dir::WRITE, 0, 8)
        .unwrap();
    f.write(&[1u8; 20]).unwrap();
    assert_eq!(*calls.lock().unwrap(), vec![(Some(8), FlushMode::Normal)]);
    assert_eq!(f.underlying().unwrap().output().len(), 8);
    assert_eq!(f.output().len(), 12);
    // at the high watermark the filter is not called in NORMAL mode
    f.write(b"more").unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    // without a watermark: the room below the underlying's default output
    // bound (libevent passes -1, unlimited)
    let (near, _far) = BufferEvent::pair(Options::default());
    let calls = new_calls();
    let mut f = BufferEvent::filter(near, PassThrough, recorder(&calls), Options::default());
    f.write(&[1u8; 20]).unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(Some(bufferevent::DEFAULT_MAX_OUTPUT), FlushMode::Normal)]
    );
    // disabled writing: not called
    f.disable(Dir::WRITE);
    f.write(b"x").unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn s61_flush_finished_reaches_output_filter_with_empty_output_and_shuts_down() {
    let (mut client, server) = tcp_pair().await;
    let calls = new_calls();
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        recorder(&calls),
        Options::default(),
    );
    assert!(
        f.flush(FlushMode::Finished).unwrap(),
        "the call returned Ok"
    );
    // The limit is the room below the underlying's bound, for a forced
    // flush too (libevent passes -1, unlimited).
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(Some(bufferevent::DEFAULT_MAX_OUTPUT), FlushMode::Finished)]
    );
    let t = tokio::spawn(f.run(Callbacks::new()));
    let mut got = Vec::new();
    within(10, client.read_to_end(&mut got)).await.unwrap();
    assert!(got.is_empty(), "EOF reached the peer");
    let _ = within(10, t).await.unwrap();
}

#[tokio::test]
async fn flush_modes_pass_through_a_two_filter_stack() {
    let (mut client, server) = tcp_pair().await;
    let (inner, outer) = (new_calls(), new_calls());
    let sock = BufferEvent::socket(server, Options::default());
    let mid = BufferEvent::filter(sock, PassThrough, recorder(&inner), Options::default());
    let mut top = BufferEvent::filter(mid, PassThrough, recorder(&outer), Options::default());
    let data = pattern(2 << 20);
    top.write(&data[..1 << 20]).unwrap();
    assert!(top.flush(FlushMode::Flush).unwrap());
    top.write(&data[1 << 20..]).unwrap();
    // The bytes below are at their bounds now: `Finished` reaches the
    // filters, after all the data, as the socket drains (libevent pushes
    // everything at once, past every bound).
    top.flush(FlushMode::Finished).unwrap();
    let t = tokio::spawn(top.run(Callbacks::new()));
    let mut got = Vec::new();
    within(30, client.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, 2 << 20);
    let _ = within(10, t).await.unwrap();
    for calls in [&inner, &outer] {
        let modes: Vec<FlushMode> = calls.lock().unwrap().iter().map(|c| c.1).collect();
        assert!(modes.contains(&FlushMode::Flush), "{modes:?}");
        assert_eq!(modes.last(), Some(&FlushMode::Finished), "{modes:?}");
        assert_eq!(
            modes.iter().filter(|m| **m == FlushMode::Finished).count(),
            1
        );
        // no call past the room below
        let most = calls.lock().unwrap().iter().filter_map(|c| c.0).max();
        assert!(
            most.is_some_and(|m| m <= bufferevent::DEFAULT_MAX_OUTPUT),
            "{most:?}"
        );
        assert!(calls.lock().unwrap().iter().all(|c| c.0.is_some()));
    }
}

#[tokio::test]
async fn s60_input_filter_error_is_an_error_reading_event() {
    let (mut client, server) = tcp_pair().await;
    let bad = |src: &mut EvBuffer, _: &mut EvBuffer, _: Option<usize>, _: FlushMode| {
        if src.len() >= 3 {
            Err(FilterError::invalid_data("bad magic at offset 0"))
        } else {
            Ok(FilterStatus::NeedMore)
        }
    };
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        bad,
        PassThrough,
        Options::default(),
    );
    f.enable(Dir::READ);
    client.write_all(b"xyz").await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let _ = within(
        10,
        f.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(what.bits());
            match bev.error() {
                Some(Error::Filter {
                    side: Side::Reading,
                    source,
                }) => assert!(source.to_string().contains("bad magic")),
                other => panic!("{other:?}"),
            }
            bev.close();
        })),
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), vec![0x21]);
}

#[tokio::test]
async fn s60_output_filter_error_is_an_error_writing_event() {
    let (_client, server) = tcp_pair().await;
    let bad = |_: &mut EvBuffer, _: &mut EvBuffer, _: Option<usize>, _: FlushMode| {
        Err(FilterError::new(
            bufferevent::FilterErrorKind::LimitExceeded,
            "too big",
        ))
    };
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        bad,
        Options::default(),
    );
    f.write(b"anything").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let _ = within(
        10,
        f.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(what.bits());
            assert!(matches!(
                bev.error(),
                Some(Error::Filter {
                    side: Side::Writing,
                    ..
                })
            ));
        })),
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), vec![0x22]);
}

#[tokio::test]
async fn need_more_waits_for_a_line_and_s62_finished_precedes_eof() {
    let (mut client, server) = tcp_pair().await;
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        lines,
        PassThrough,
        Options::default(),
    );
    f.enable(Dir::READ);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (l2, l3) = (log.clone(), log.clone());
    let t = tokio::spawn(
        f.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let mut v = vec![0u8; bev.input().len()];
                    let n = bev.read(&mut v);
                    l2.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&v[..n]).into_owned());
                })
                .on_event(move |_, what| l3.lock().unwrap().push(format!("{:#x}", what.bits()))),
        ),
    );
    for part in ["hel", "lo\nwor", "ld\n", "tail"] {
        client.write_all(part.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    client.shutdown().await.unwrap();
    let _ = within(10, t).await.unwrap();
    let log = log.lock().unwrap().clone();
    // TCP may merge the pieces; what matters: every delivery before EOF is
    // whole lines, the unterminated tail comes with FINISHED, EOF is last
    let (last, reads) = log.split_last().unwrap();
    assert_eq!(last, "0x11");
    let (tail, lines_part) = reads.split_last().unwrap();
    assert_eq!(tail, "tail");
    assert!(lines_part.iter().all(|r| r.ends_with('\n')), "{log:?}");
    assert_eq!(lines_part.concat(), "hello\nworld\n");
}

#[tokio::test]
async fn graceful_close_drains_megabytes_through_two_filters() {
    const N: usize = 8 << 20;
    let (client, server) = tcp_pair().await;
    let sock = BufferEvent::socket(server, Options::default());
    let mid = BufferEvent::filter(sock, PassThrough, frame, Options::default());
    let mut top = BufferEvent::filter(mid, PassThrough, upper, Options::default());
    // write in pieces larger than socket buffers, then close gracefully
    let data = pattern(N);
    for piece in data.chunks(1 << 20) {
        top.write(piece).unwrap();
    }
    top.close_gracefully();
    let t = tokio::spawn(top.run(Callbacks::new()));
    let mut rd = client;
    let mut wire = Vec::new();
    within(60, rd.read_to_end(&mut wire)).await.unwrap();
    let _ = within(10, t).await.unwrap();
    // unframe
    let mut got = Vec::with_capacity(N);
    let mut i = 0;
    while i < wire.len() {
        let len = u32::from_be_bytes(wire[i..i + 4].try_into().unwrap()) as usize;
        got.extend_from_slice(&wire[i + 4..i + 4 + len]);
        i += 4 + len;
    }
    let want: Vec<u8> = data.to_ascii_uppercase();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "content differs");
}

#[tokio::test]
async fn filter_stack_as_async_io_with_a_codec() {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::{Framed, LinesCodec};
    let (client, server) = tcp_pair().await;
    let mid = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        PassThrough,
        Options::default(),
    );
    let top = BufferEvent::filter(mid, upper, PassThrough, Options::default());
    let server = tokio::spawn(async move {
        let mut framed = Framed::new(top, LinesCodec::new());
        let mut n = 0;
        while let Some(line) = framed.next().await {
            let line = line.unwrap();
            framed.send(format!("{line}!")).await.unwrap();
            n += 1;
        }
        SinkExt::<String>::close(&mut framed).await.unwrap();
        n
    });
    let mut client_f = Framed::new(client, LinesCodec::new());
    for i in 0..1000 {
        client_f.send(format!("line {i}")).await.unwrap();
    }
    client_f.get_mut().shutdown().await.unwrap();
    for i in 0..1000 {
        let got = within(10, client_f.next()).await.unwrap().unwrap();
        assert_eq!(got, format!("LINE {i}!"));
    }
    assert!(within(10, client_f.next()).await.is_none());
    assert_eq!(within(10, server).await.unwrap(), 1000);
}

#[tokio::test]
async fn underlying_eof_is_reported_once_after_filtered_data() {
    let (near, mut far) = BufferEvent::pair(Options::default());
    let calls = new_calls();
    let mut f = BufferEvent::filter(near, recorder(&calls), PassThrough, Options::default());
    f.enable(Dir::READ);
    far.write_all(b"abc").await.unwrap();
    far.shutdown().await.unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let _ = within(
        10,
        f.run(Callbacks::new().on_event(move |bev, what| {
            assert_eq!(bev.input(), &b"abc"[..]);
            e2.lock().unwrap().push(what);
        })),
    )
    .await;
    assert_eq!(*events.lock().unwrap(), vec![Events::EOF | Events::READING]);
    let modes: Vec<FlushMode> = calls.lock().unwrap().iter().map(|c| c.1).collect();
    assert_eq!(modes.last(), Some(&FlushMode::Finished));
    assert_eq!(
        modes.iter().filter(|m| **m == FlushMode::Finished).count(),
        1
    );
}

/// A toy handshake: the input filter answers "HELLO" with "WELCOME" (sent
/// by the output filter although the user wrote nothing) and reports
/// CONNECTED; "BYE" is a clean end of stream inside the filter.
#[derive(Default, Clone)]
struct Shake(Arc<Mutex<(Vec<u8>, Vec<bufferevent::FilterEvent>)>>);

struct ShakeIn(Shake);
struct ShakeOut(Shake);

impl Filter for ShakeIn {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        _: Option<usize>,
        _: FlushMode,
    ) -> FilterResult {
        let mut v = vec![0u8; src.len()];
        let n = src.remove(&mut v)?;
        v.truncate(n);
        let mut st = (self.0).0.lock().unwrap();
        let mut v = &v[..];
        if let Some(rest) = v.strip_prefix(b"HELLO") {
            st.0.extend_from_slice(b"WELCOME");
            st.1.push(bufferevent::FilterEvent::Connected);
            v = rest;
        }
        let bye = v.ends_with(b"BYE");
        if bye {
            v = &v[..v.len() - 3];
        }
        dst.add(v)?;
        if bye {
            st.1.push(bufferevent::FilterEvent::Eof);
        }
        Ok(FilterStatus::Ok)
    }
    fn take_event(&mut self) -> Option<bufferevent::FilterEvent> {
        let mut st = (self.0).0.lock().unwrap();
        (!st.1.is_empty()).then(|| st.1.remove(0))
    }
}

impl Filter for ShakeOut {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        _: Option<usize>,
        _: FlushMode,
    ) -> FilterResult {
        let pending = std::mem::take(&mut (self.0).0.lock().unwrap().0);
        dst.add(&pending)?;
        let n = src.len();
        src.remove_into(dst, n)?;
        Ok(FilterStatus::Ok)
    }
    fn wants_write(&self) -> bool {
        !(self.0).0.lock().unwrap().0.is_empty()
    }
}

#[tokio::test]
async fn filter_hooks_send_unprompted_output_and_raise_events() {
    let (near, mut far) = BufferEvent::pair(Options::default());
    let shake = Shake::default();
    let mut f = BufferEvent::filter(
        near,
        ShakeIn(shake.clone()),
        ShakeOut(shake),
        Options::default(),
    );
    f.enable(Dir::READ);
    let events = Arc::new(Mutex::new(Vec::new()));
    let (e2, e3) = (events.clone(), events.clone());
    let server = tokio::spawn(
        f.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let mut v = vec![0u8; bev.input().len()];
                    let n = bev.read(&mut v);
                    e3.lock()
                        .unwrap()
                        .push(format!("read {}", String::from_utf8_lossy(&v[..n])));
                })
                .on_event(move |_, what| e2.lock().unwrap().push(format!("{:#x}", what.bits()))),
        ),
    );
    far.write_all(b"HELLO").await.unwrap();
    AsyncWriteExt::flush(&mut far).await.unwrap();
    let mut buf = [0u8; 7];
    within(10, far.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"WELCOME");
    far.write_all(b"data").await.unwrap();
    AsyncWriteExt::flush(&mut far).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    far.write_all(b"BYE").await.unwrap();
    AsyncWriteExt::flush(&mut far).await.unwrap();
    let _ = within(10, server).await.unwrap();
    assert_eq!(events.lock().unwrap().join(","), "0x80,read data,0x11");
    drop(far);
}

#[test]
fn s63_flush_reports_whether_a_filter_call_returned_ok() {
    let (near, _far) = BufferEvent::pair(Options::default());
    let holds = |_: &mut EvBuffer, _: &mut EvBuffer, _: Option<usize>, _: FlushMode| {
        Ok(FilterStatus::NeedMore)
    };
    let mut f = BufferEvent::filter(near, PassThrough, holds, Options::default());
    f.write(b"kept").unwrap();
    assert!(!f.flush(FlushMode::Flush).unwrap());
    let (near, _far) = BufferEvent::pair(Options::default());
    let mut f = BufferEvent::filter(near, PassThrough, PassThrough, Options::default());
    assert!(f.flush(FlushMode::Flush).unwrap());
}

#[tokio::test(start_paused = true)]
async fn quirk_67_idle_filter_gets_no_write_timeout_but_a_stalled_one_does() {
    use std::time::Duration;
    // idle
    let (_client, server) = tcp_pair().await;
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        PassThrough,
        Options::default(),
    );
    f.set_timeouts(None, Some(Duration::from_secs(1)));
    f.enable(Dir::WRITE);
    let h = f.handle();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let t = tokio::spawn(
        f.run(Callbacks::new().on_event(move |_, what| s2.lock().unwrap().push(what.bits()))),
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "libevent reports 1 here (#67)"
    );
    h.close().await.unwrap();
    let _ = within(10, t).await.unwrap();

    // stalled: the peer never reads, output stays pending below the filter
    let (_client, server) = tcp_pair().await;
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        PassThrough,
        Options::default(),
    );
    f.set_timeouts(None, Some(Duration::from_secs(1)));
    f.write(&pattern(32 << 20)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let _ = within(
        100,
        f.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(what.bits());
            bev.close();
        })),
    )
    .await;
    assert_eq!(*seen.lock().unwrap(), vec![0x42]);
}

#[tokio::test(start_paused = true)]
async fn async_read_timeout_is_timed_out_once() {
    use std::time::Duration;
    let (mut client, server) = tcp_pair().await;
    let mut f = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        upper,
        PassThrough,
        Options::default(),
    );
    f.set_timeouts(Some(Duration::from_secs(2)), None);
    let mut buf = [0u8; 16];
    let e = within(100, AsyncReadExt::read(&mut f, &mut buf))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    // reading again re-enables and works
    client.write_all(b"late").await.unwrap();
    let n = within(100, AsyncReadExt::read(&mut f, &mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], b"LATE");
}

/// An output filter that, like a TLS filter during its handshake, holds every byte (and its
/// `Finished` trailer) until its input filter has seen `GO` from the peer.
#[derive(Default, Clone)]
struct Gate(Arc<Mutex<GateState>>);

#[derive(Default)]
struct GateState {
    open: bool,
    held: EvBuffer,
    finish: bool,
    trailer_sent: bool,
}

struct GateIn(Gate);
struct GateOut(Gate);

impl Filter for GateIn {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        _: Option<usize>,
        _: FlushMode,
    ) -> FilterResult {
        let mut st = (self.0).0.lock().unwrap();
        if !st.open && src.len() >= 2 {
            src.drain(2)?;
            st.open = true;
        }
        let n = src.len();
        src.remove_into(dst, n)?;
        Ok(FilterStatus::Ok)
    }
}

impl Filter for GateOut {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        _: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        let mut st = (self.0).0.lock().unwrap();
        st.held.append(src)?;
        st.finish |= mode == FlushMode::Finished;
        if st.open {
            let held = &mut st.held;
            let mut all = std::mem::take(held);
            dst.append(&mut all)?;
            if st.finish && !st.trailer_sent {
                dst.add(b"|FIN")?;
                st.trailer_sent = true;
            }
        }
        Ok(FilterStatus::Ok)
    }
    fn wants_write(&self) -> bool {
        let st = (self.0).0.lock().unwrap();
        !st.held.is_empty() || (st.finish && !st.trailer_sent)
    }
}

/// `Finished` given to an output filter that cannot send yet (a
/// TLS handshake still running) does not finish the underlying at once. The filter is called
/// again while it wants to write, the bufferevent reads the peer's answer although nobody
/// reads from it (async `shutdown()`) or reading is disabled (`close_gracefully`), and the
/// peer sees the data, then the trailer, then EOF.
#[tokio::test(start_paused = true)]
async fn finished_waits_for_an_output_filter_that_still_wants_to_write() {
    for graceful in [false, true] {
        let (near, mut far) = BufferEvent::pair(Options::default());
        let gate = Gate::default();
        let mut f = BufferEvent::filter(
            near,
            GateIn(gate.clone()),
            GateOut(gate),
            Options::default(),
        );
        let data = pattern(300_000);
        f.write(&data).unwrap();
        let closer = tokio::spawn(async move {
            if graceful {
                f.close_gracefully();
                let mut h = Callbacks::new();
                let _ = std::future::poll_fn(|cx| f.poll_run(cx, &mut h)).await;
            } else {
                f.shutdown().await.unwrap();
            }
            assert!(f.is_write_finished());
            f
        });
        // Nothing (and no EOF) before the peer opens the gate.
        let mut buf = [0u8; 16];
        let quiet = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            AsyncReadExt::read(&mut far, &mut buf),
        );
        assert!(quiet.await.is_err(), "output before the gate opened");
        assert!(!closer.is_finished());
        far.write_all(b"GO").await.unwrap();
        AsyncWriteExt::flush(&mut far).await.unwrap();
        let mut got = Vec::new();
        within(10, far.read_to_end(&mut got)).await.unwrap();
        let f = within(10, closer).await.unwrap();
        assert_eq!(got.len(), data.len() + 4, "graceful {graceful}");
        check_pattern(&got[..data.len()], data.len());
        assert_eq!(&got[data.len()..], b"|FIN");
        drop(f);
    }
}

/// Passes bytes through; on `Finished` appends `marker` once (a trailer, like
/// zlib's or a TLS close_notify).
fn trailer(marker: &'static [u8]) -> impl Filter + 'static {
    let mut done = false;
    move |src: &mut EvBuffer, dst: &mut EvBuffer, limit: Option<usize>, mode: FlushMode| {
        PassThrough.process(src, dst, limit, mode)?;
        if mode == FlushMode::Finished && src.is_empty() && !done {
            done = true;
            dst.add(marker)?;
        }
        Ok(FilterStatus::Ok)
    }
}

/// The async face's `shutdown()` is a graceful close through every filter:
/// megabytes written with `write_all` all reach the peer, each layer's
/// trailer follows in order (top first), then EOF; `shutdown` returns once
/// the socket's write side is shut down, and reading still works afterwards
/// (half-close).
#[tokio::test]
async fn async_shutdown_drains_megabytes_and_trailers_through_two_filters() {
    const N: usize = 6 << 20;
    let (mut client, server) = tcp_pair().await;
    let mid = BufferEvent::filter(
        BufferEvent::socket(server, Options::default()),
        PassThrough,
        trailer(b"<mid>"),
        Options::default(),
    );
    let mut top = BufferEvent::filter(mid, PassThrough, trailer(b"<top>"), Options::default());
    let peer = tokio::spawn(async move {
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).await.unwrap();
        client.write_all(b"reply after your EOF").await.unwrap();
        client.shutdown().await.unwrap();
        wire
    });
    let data = pattern(N);
    within(60, top.write_all(&data)).await.unwrap();
    within(60, top.shutdown()).await.unwrap();
    assert!(top.is_write_finished());
    assert!(top.underlying().unwrap().is_write_finished());
    let mut reply = Vec::new();
    within(10, top.read_to_end(&mut reply)).await.unwrap();
    assert_eq!(reply, b"reply after your EOF");
    let wire = within(10, peer).await.unwrap();
    assert_eq!(&wire[N..], b"<top><mid>");
    check_pattern(&wire[..N], N);
}

/// A close waiting for an output filter (a TLS handshake whose peer never answers) is
/// bounded by the write timeout: the pending close counts as pending output.
#[tokio::test(start_paused = true)]
async fn a_close_waiting_for_the_output_filter_is_bounded_by_the_write_timeout() {
    let (near, _far) = BufferEvent::pair(Options::default());
    let gate = Gate::default();
    let mut f = BufferEvent::filter(
        near,
        GateIn(gate.clone()),
        GateOut(gate),
        Options::default(),
    );
    f.set_timeouts(None, Some(std::time::Duration::from_secs(2)));
    f.write(b"never sent").unwrap();
    f.close_gracefully();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let t0 = tokio::time::Instant::now();
    let _ = within(
        10,
        f.run(Callbacks::new().on_event(move |bev, what| {
            e2.lock().unwrap().push(what);
            bev.close();
        })),
    )
    .await;
    assert_eq!(
        *events.lock().unwrap(),
        vec![Events::TIMEOUT | Events::WRITING]
    );
    assert_eq!(t0.elapsed(), std::time::Duration::from_secs(2));
}
