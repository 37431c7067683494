//! Socket bufferevents over real loopback TCP and Unix sockets.

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bufferevent::{BufferEvent, Callbacks, Dir, Error, Events, FlushMode, Options};
use common::{check_pattern, pattern, tcp_pair, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

#[tokio::test]
async fn echo_megabytes_with_callbacks() {
    const N: usize = 8 << 20;
    let (client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    bev.enable(Dir::READ | Dir::WRITE);
    let server = tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut all = bufferevent::EvBuffer::new();
                    bev.read_buffer(&mut all).unwrap();
                    bev.write_buffer(&mut all).unwrap();
                })
                .on_event(|bev, what| {
                    assert_eq!(what, Events::EOF | Events::READING);
                    bev.close_gracefully();
                }),
        ),
    );
    let (mut rd, mut wr) = client.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&pattern(N)).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut got = Vec::with_capacity(N);
    within(60, rd.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, N);
    within(10, writer).await.unwrap();
    let _ = within(10, server).await.unwrap();
}

#[tokio::test]
async fn s41_read_high_watermark_pauses_reading_under_a_slow_reader() {
    const N: usize = 4 << 20;
    const H: usize = 64 * 1024;
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_watermark(Dir::READ, 0, H).unwrap();
    bev.set_read_size(16 * 1024);
    let writer = tokio::spawn(async move {
        client.write_all(&pattern(N)).await.unwrap();
        client.shutdown().await.unwrap();
        client
    });
    let mut got = Vec::with_capacity(N);
    let mut buf = vec![0u8; 8 * 1024];
    let mut max_seen = 0;
    let mut i = 0u32;
    within(120, async {
        loop {
            // slow: let the sender run ahead
            if i.is_multiple_of(16) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            i += 1;
            let n = AsyncReadExt::read(&mut bev, &mut buf).await.unwrap();
            max_seen = max_seen.max(bev.input().len() + n);
            assert!(
                bev.input().len() <= H,
                "input {} above H",
                bev.input().len()
            );
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    check_pattern(&got, N);
    assert!(max_seen <= H);
    drop(within(10, writer).await.unwrap());
}

#[tokio::test]
async fn s46_eof_comes_after_all_data_and_disables_reading() {
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.enable(Dir::READ);
    client.write_all(b"last bytes").await.unwrap();
    client.shutdown().await.unwrap();
    let events = log();
    let e2 = events.clone();
    let e3 = events.clone();
    let _ = within(
        10,
        bev.run(
            Callbacks::new()
                .on_read(move |bev| {
                    let mut b = [0u8; 64];
                    let n = bev.read(&mut b);
                    e2.lock()
                        .unwrap()
                        .push(format!("read {}", String::from_utf8_lossy(&b[..n])));
                })
                .on_event(move |bev, what| {
                    assert!(!bev.enabled().contains(Dir::READ));
                    e3.lock().unwrap().push(format!("event {:#x}", what.bits()));
                }),
        ),
    )
    .await;
    let ev = events.lock().unwrap().join(",");
    assert_eq!(ev, "read last bytes,event 0x11");
}

#[tokio::test]
async fn half_close_reply_after_peer_eof() {
    let (client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.enable(Dir::READ);
    let server = tokio::spawn(bev.run(Callbacks::new().on_event(|bev, what| {
        if what.contains(Events::EOF) {
            let n = bev.input().len();
            bev.write(format!("got {n} bytes").as_bytes()).unwrap();
            bev.close_gracefully();
        }
    })));
    let (mut rd, mut wr) = client.into_split();
    wr.write_all(&pattern(100_000)).await.unwrap();
    wr.shutdown().await.unwrap();
    let mut reply = String::new();
    within(10, rd.read_to_string(&mut reply)).await.unwrap();
    assert_eq!(reply, "got 100000 bytes");
    let _ = within(10, server).await.unwrap();
}

#[tokio::test]
async fn flush_finished_shuts_the_write_side_but_keeps_reading() {
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.write(&pattern(1 << 20)).unwrap();
    bev.flush(FlushMode::Finished).unwrap();
    assert!(matches!(bev.write(b"late"), Err(Error::Closed)));
    bev.enable(Dir::READ);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let server = tokio::spawn(bev.run(Callbacks::new().on_read(move |bev| {
        let mut b = vec![0u8; 1024];
        let n = bev.read(&mut b);
        g.lock().unwrap().extend_from_slice(&b[..n]);
    })));
    let mut all = Vec::new();
    within(10, client.read_to_end(&mut all)).await.unwrap();
    check_pattern(&all, 1 << 20);
    client.write_all(b"still reading").await.unwrap();
    client.shutdown().await.unwrap();
    let _ = within(10, server).await.unwrap();
    assert_eq!(&got.lock().unwrap()[..], b"still reading");
}

#[tokio::test(start_paused = true)]
async fn s45_read_timeout_on_a_silent_peer() {
    let (_client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.enable(Dir::READ);
    bev.set_timeouts(Some(Duration::from_secs(4)), None);
    let seen = log();
    let s2 = seen.clone();
    let start = tokio::time::Instant::now();
    let _ = within(
        100,
        bev.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(format!("{:#x}", what.bits()));
            assert!(!bev.enabled().contains(Dir::READ));
            bev.close();
        })),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x41");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn s45_write_timeout_when_the_peer_does_not_read() {
    let (_client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_timeouts(None, Some(Duration::from_secs(2)));
    // far more than the socket buffers hold
    bev.write(&pattern(64 << 20)).unwrap();
    let seen = log();
    let s2 = seen.clone();
    let _ = within(
        100,
        bev.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(format!("{:#x}", what.bits()));
            bev.close();
        })),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x42");
}

#[tokio::test(start_paused = true)]
async fn s45_idle_socket_gets_no_write_timeout() {
    let (_client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_timeouts(None, Some(Duration::from_secs(1)));
    let h = bev.handle(); // keeps the driver alive
    let seen = log();
    let s2 = seen.clone();
    let task = tokio::spawn(bev.run(Callbacks::new().on_event(move |_, what| {
        s2.lock().unwrap().push(format!("{:#x}", what.bits()));
    })));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(seen.lock().unwrap().is_empty());
    h.close().await.unwrap();
    let _ = within(10, task).await.unwrap();
}

#[tokio::test]
async fn s47_connect_success_is_exactly_one_connected_event() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).await.unwrap();
        v
    });
    let mut bev = BufferEvent::connect(addr, Options::default());
    bev.write(b"written before connecting").unwrap();
    let seen = log();
    let s2 = seen.clone();
    let _ = within(
        10,
        bev.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(format!("{:#x}", what.bits()));
            bev.close_gracefully();
        })),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x80");
    assert_eq!(
        within(10, peer).await.unwrap(),
        b"written before connecting"
    );
}

#[tokio::test]
async fn s47_refused_connect_is_one_error_event_and_no_read() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut bev = BufferEvent::connect(addr, Options::default());
    bev.enable(Dir::READ);
    let seen = log();
    let (s2, s3) = (seen.clone(), seen.clone());
    let kind = Arc::new(Mutex::new(None));
    let k2 = kind.clone();
    let _ = within(
        10,
        bev.run(
            Callbacks::new()
                .on_read(move |_| s3.lock().unwrap().push("read".into()))
                .on_event(move |bev, what| {
                    s2.lock().unwrap().push(format!("{:#x}", what.bits()));
                    match bev.error() {
                        Some(Error::Connect { source, .. }) => {
                            *k2.lock().unwrap() = Some(source.kind())
                        }
                        other => panic!("unexpected error {other:?}"),
                    }
                }),
        ),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x20");
    assert_eq!(
        *kind.lock().unwrap(),
        Some(io::ErrorKind::ConnectionRefused)
    );
}

#[tokio::test]
async fn connect_to_unknown_host_is_one_resolve_error() {
    let bev = BufferEvent::connect_host("no-such-host.invalid", 80, Options::default());
    let seen = log();
    let s2 = seen.clone();
    let _ = within(
        30,
        bev.run(Callbacks::new().on_event(move |bev, what| {
            assert!(
                matches!(bev.error(), Some(Error::Resolve { host, .. }) if host == "no-such-host.invalid"),
                "{:?}",
                bev.error()
            );
            s2.lock().unwrap().push(format!("{:#x}", what.bits()));
        })),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x20");
}

#[tokio::test]
async fn connect_host_localhost_works() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"hi").await.unwrap();
    });
    let mut bev = BufferEvent::connect_host("127.0.0.1", port, Options::default());
    bev.enable(Dir::READ);
    let seen = log();
    let s2 = seen.clone();
    let _ = within(
        10,
        bev.run(Callbacks::new().on_event(move |bev, what| {
            s2.lock().unwrap().push(format!("{:#x}", what.bits()));
            if what.contains(Events::EOF) {
                assert_eq!(bev.input(), &b"hi"[..]);
            }
        })),
    )
    .await;
    assert_eq!(seen.lock().unwrap().join(","), "0x80,0x11");
    peer.await.unwrap();
}

#[tokio::test]
async fn unix_stream_socket() {
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let mut bev = BufferEvent::socket(a, Options::default());
    let mut peer = b;
    let data = pattern(3 << 20);
    bev.write(&data).unwrap();
    bev.close_gracefully();
    let server = tokio::spawn(bev.run(Callbacks::new()));
    let mut got = Vec::new();
    within(30, peer.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, 3 << 20);
    let _ = within(10, server).await.unwrap();
}

#[tokio::test]
async fn drop_is_free_closes_and_discards_output() {
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.disable(Dir::WRITE);
    bev.write(b"never sent").unwrap();
    drop(bev);
    let mut got = Vec::new();
    within(10, client.read_to_end(&mut got)).await.unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn an_error_in_one_connection_does_not_affect_another() {
    let (c1, s1) = tcp_pair().await;
    let (c2, s2) = tcp_pair().await;
    let mut b1 = BufferEvent::socket(s1, Options::default());
    let mut b2 = BufferEvent::socket(s2, Options::default());
    b1.enable(Dir::READ);
    b2.enable(Dir::READ | Dir::WRITE);
    let echo = || {
        Callbacks::new()
            .on_read(|bev| {
                let mut all = bufferevent::EvBuffer::new();
                bev.read_buffer(&mut all).unwrap();
                bev.write_buffer(&mut all).unwrap();
            })
            .on_event(|bev, _| bev.close_gracefully())
    };
    let t1 = tokio::spawn(b1.run(echo()));
    let t2 = tokio::spawn(b2.run(echo()));
    // connection 1: reset by the peer (SO_LINGER 0)
    #[allow(deprecated)] // blocking on drop is what we want here: a reset
    c1.set_linger(Some(Duration::ZERO)).unwrap();
    drop(c1);
    let _ = within(10, t1).await.unwrap();
    // connection 2 keeps working
    let (mut rd, mut wr) = c2.into_split();
    let w = tokio::spawn(async move {
        wr.write_all(&pattern(2 << 20)).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    within(30, rd.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, 2 << 20);
    w.await.unwrap();
    let _ = within(10, t2).await.unwrap();
}

#[tokio::test]
async fn s52_socket_input_and_output_ends_are_frozen_for_users() {
    let (_client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    assert!(
        bev.input_mut().add(b"forged").is_err(),
        "no appending to the input"
    );
    bev.write(b"queued").unwrap();
    assert!(
        bev.output_mut().drain(1).is_err(),
        "no removing from the output"
    );
    let (a, _b) = BufferEvent::pair(Options::default());
    let mut a = a;
    assert!(a.input_mut().add(b"x").is_err());
    // filters do not freeze
    let mut f = BufferEvent::filter(
        a,
        bufferevent::PassThrough,
        bufferevent::PassThrough,
        Options::default(),
    );
    f.input_mut().add(b"ok").unwrap();
    assert_eq!(f.read(&mut [0u8; 8]), 2);
}
