//! Handles: writing to a bufferevent from other tasks and threads.

mod common;

use std::sync::{Arc, Mutex};

use bufferevent::{BufferEvent, Callbacks, Dir, Error, Options};
use common::{check_pattern, pattern, tcp_pair, within};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_write_megabytes_through_handles_in_order() {
    const N: usize = 4 << 20;
    const PIECE: usize = 64 * 1024;
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    let h = bev.handle();
    let done = h.clone();
    let driver = tokio::spawn(bev.run(Callbacks::new()));
    let data = pattern(N);
    let writer = std::thread::spawn(move || {
        for piece in data.chunks(PIECE) {
            h.blocking_write(piece.to_vec()).unwrap();
        }
        h.blocking_close_gracefully().unwrap();
    });
    let mut got = Vec::with_capacity(N);
    within(60, client.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, N);
    writer.join().unwrap();
    within(10, done.closed()).await;
    assert!(done.is_closed());
    assert!(matches!(done.write(&b"late"[..]).await, Err(Error::Closed)));
    let _ = within(10, driver).await.unwrap();
}

#[tokio::test]
async fn a_full_queue_pushes_back_instead_of_growing() {
    let (_client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    let h = bev.handle();
    // nobody drives the bufferevent: the queue fills and says so
    let mut accepted = 0;
    loop {
        match h.try_write(vec![0u8; 1024]) {
            Ok(()) => accepted += 1,
            Err(Error::QueueFull) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted <= bufferevent::face::handle::COMMAND_QUEUE);
    }
    assert_eq!(accepted, bufferevent::face::handle::COMMAND_QUEUE);
    drop(bev);
    assert!(matches!(h.try_write(vec![1u8]), Err(Error::Closed)));
}

#[tokio::test]
async fn with_runs_a_closure_in_the_driving_task() {
    let (near, mut far) = BufferEvent::pair(Options::default());
    let mut near = near;
    let h = near.handle();
    let seen = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    let driver = tokio::spawn(near.run(Callbacks::new()));
    h.with(move |bev| {
        *s2.lock().unwrap() = bev.output().len();
        bev.write(b"from a closure").unwrap();
        bev.enable(Dir::READ);
    })
    .await
    .unwrap();
    let mut buf = [0u8; 14];
    within(10, far.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"from a closure");
    h.close().await.unwrap();
    let _ = within(10, driver).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), 0);
}

/// A producer thread writing through a handle to a peer that does not read
/// is held back: the driver takes commands only while the output is below
/// its bound, and the queue holds at most `COMMAND_QUEUE` of them. When the
/// peer reads again, everything arrives in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_is_held_back_while_the_peer_does_not_read() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const PIECE: usize = 64 * 1024;
    const N: usize = 32 << 20;
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    let h = bev.handle();
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let data = pattern(N);
    let writer = std::thread::spawn(move || {
        for piece in data.chunks(PIECE) {
            h.blocking_write(piece.to_vec()).unwrap();
            s2.fetch_add(piece.len(), Ordering::Relaxed);
        }
        h.blocking_close_gracefully().unwrap();
    });
    // drive it here, looking at the output between steps, until the
    // producer has made no progress for 300 ms
    let mut handler = Callbacks::new();
    let mut max_output = 0;
    let (mut last, mut still) = (usize::MAX, 0);
    while still < 6 {
        tokio::select! {
            _ = std::future::poll_fn(|cx| bev.poll_run(cx, &mut handler)) => {
                panic!("driver finished early")
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
        }
        max_output = max_output.max(bev.output().len());
        let now = sent.load(Ordering::Relaxed);
        still = if now == last && now > 0 { still + 1 } else { 0 };
        last = now;
    }
    let queued = bufferevent::face::handle::COMMAND_QUEUE * PIECE;
    assert!(
        max_output <= bufferevent::DEFAULT_MAX_OUTPUT + PIECE,
        "output reached {max_output}"
    );
    assert!(last < N, "the producer was not held back");
    assert!(
        last <= max_output + queued + (16 << 20),
        "{last} bytes taken: more than the output, the queue and the kernel's buffers"
    );
    // the peer reads again: everything arrives
    let driver = tokio::spawn(bev.run(handler));
    let mut got = Vec::with_capacity(N);
    within(120, client.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, N);
    writer.join().unwrap();
    let _ = within(10, driver).await.unwrap();
}

/// A handle also wakes a bufferevent driven only by its async face's
/// reads: commands are applied, and their output sent, by `poll_read` too.
#[tokio::test]
async fn a_handle_wakes_a_bufferevent_that_is_only_read_from() {
    let (mut near, mut far) = BufferEvent::pair(Options::default());
    let h = near.handle();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        near.read_to_end(&mut got).await.unwrap();
        got
    });
    // the reader is parked in poll_read when the commands arrive
    tokio::task::yield_now().await;
    h.write(&b"sent through a handle"[..]).await.unwrap();
    let mut buf = [0u8; 21];
    within(10, far.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"sent through a handle");
    // more than the partner takes at once: the rest follows as it reads
    far.set_watermark(Dir::READ, 0, 4096).unwrap();
    h.write(pattern(300_000)).await.unwrap();
    let mut big = vec![0u8; 300_000];
    within(10, far.read_exact(&mut big)).await.unwrap();
    check_pattern(&big, 300_000);
    use tokio::io::AsyncWriteExt;
    far.write_all(b"reply").await.unwrap();
    far.shutdown().await.unwrap();
    assert_eq!(within(10, reader).await.unwrap(), b"reply");
}
