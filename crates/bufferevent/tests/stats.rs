//! Per-connection statistics and the driver's result, over real loopback
//! sockets: bytes in and out, the largest backlog, time paused with a full
//! input, how the connection ended, and `run()` returning the connection's
//! error.

mod common;

use std::time::Duration;

use bufferevent::{BufferEvent, Callbacks, Dir, Ending, Events, Options, Side};
use common::{tcp_pair, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn an_echo_counts_its_bytes_and_ends_with_eof() {
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    bev.enable(Dir::READ | Dir::WRITE);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let task = tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut buf = vec![0; bev.input().len()];
                    let n = bev.read(&mut buf);
                    bev.write(&buf[..n]).unwrap();
                })
                .on_event(move |bev, what| {
                    if what.contains(Events::EOF) {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(bev.stats());
                        }
                        bev.close_gracefully();
                    }
                }),
        ),
    );
    client.write_all(&[7u8; 3000]).await.unwrap();
    let mut back = vec![0u8; 3000];
    within(10, client.read_exact(&mut back)).await.unwrap();
    client.shutdown().await.unwrap();
    let st = within(10, rx).await.unwrap();
    assert_eq!((st.bytes_in, st.bytes_out), (3000, 3000));
    assert!(st.max_output > 0 && st.max_output <= 3000, "{st:?}");
    assert_eq!(st.ended, Some(Ending::Eof));
    assert_eq!(st.rate_limited, Duration::ZERO);
    within(10, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_input_is_timed() {
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    bev.set_watermark(Dir::READ, 0, 1000).unwrap();
    bev.enable(Dir::READ);
    client.write_all(&[1u8; 5000]).await.unwrap();
    // drive it (nobody drains) until the input is at its high watermark
    let mut h = Callbacks::new();
    within(10, async {
        while bev.input().len() < 1000 {
            std::future::poll_fn(|cx| {
                let _ = bev.poll_run(cx, &mut h);
                std::task::Poll::Ready(())
            })
            .await;
            tokio::task::yield_now().await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let st = bev.stats();
    assert_eq!(st.bytes_in, 1000);
    assert!(st.input_full >= Duration::from_millis(30), "{st:?}");
}

#[tokio::test]
async fn run_returns_the_connection_error() {
    let (client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::CLOSE_ON_FREE);
    bev.enable(Dir::READ | Dir::WRITE);
    // the peer resets the connection
    let client = client.into_std().unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    let r = within(
        10,
        bev.run(Callbacks::new().on_event(|bev, what| {
            if what.contains(Events::ERROR) {
                bev.close();
            }
        })),
    )
    .await;
    let e = r.expect_err("a reset connection is an error");
    assert_eq!(e.side(), Some(Side::Reading));
    assert_eq!(e.io_kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn time_held_back_by_a_rate_limit_is_counted() {
    use bufferevent::{FlushMode, RateLimitConfig, Stats};
    use std::sync::{Arc, Mutex};
    // 1,000 bytes per 100 ms tick on the writer: 3,000 bytes wait for the
    // bucket about two ticks (paused clock: exact and instant).
    let (mut a, mut b) = BufferEvent::pair(Options::default());
    let cfg =
        RateLimitConfig::shared(1000, 1000, 1000, 1000, Some(Duration::from_millis(100))).unwrap();
    a.set_rate_limit(Some(cfg));
    a.write(&[5u8; 3000]).unwrap();
    a.flush(FlushMode::Finished).unwrap();
    b.enable(Dir::READ);
    let seen: Arc<Mutex<Option<Stats>>> = Arc::default();
    let sink = seen.clone();
    let writer = tokio::spawn(a.run(Callbacks::new().on_write(move |bev| {
        if bev.output().is_empty() {
            *sink.lock().unwrap() = Some(bev.stats());
        }
    })));
    let mut got = Vec::new();
    within(10, b.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got.len(), 3000);
    within(10, writer).await.unwrap().unwrap();
    let st = seen
        .lock()
        .unwrap()
        .expect("write callback with an empty output");
    assert!(st.rate_limited >= Duration::from_millis(100), "{st:?}");
    assert_eq!(st.bytes_out, 3000);
}
