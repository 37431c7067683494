//! `BufferEvent::connected`: waiting for a connect without callbacks, so
//! that the bufferevent can then be used by value (as the seed's client
//! does).

mod common;

use bufferevent::{BufferEvent, Callbacks, Dir, Error, Events, Options, PassThrough};
use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn connected_then_stack_a_filter_and_talk() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).await.unwrap();
        v
    });
    let mut bev = BufferEvent::connect(addr, Options::CLOSE_ON_FREE);
    bev.write(b"before").unwrap();
    within(10, bev.connected()).await.unwrap();
    // already connected: at once
    within(10, bev.connected()).await.unwrap();
    let mut f = BufferEvent::filter(bev, PassThrough, PassThrough, Options::CLOSE_ON_FREE);
    f.write(b", after").unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let e2 = events.clone();
    f.enable(Dir::READ);
    let _ = within(
        10,
        f.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut b = [0u8; 16];
                    let n = bev.read(&mut b);
                    assert_eq!(&b[..n], b"hello");
                    bev.close_gracefully();
                })
                .on_event(move |_, what| e2.lock().unwrap().push(what)),
        ),
    )
    .await;
    // CONNECTED was taken by `connected`
    assert!(!events.lock().unwrap().contains(&Events::CONNECTED));
    assert_eq!(within(10, peer).await.unwrap(), b"before, after");
}

#[tokio::test]
async fn refused_connect_is_the_connect_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut bev = BufferEvent::connect(addr, Options::default());
    match within(10, bev.connected()).await {
        Err(Error::Connect { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_host_is_the_resolve_error() {
    let mut bev = BufferEvent::connect_host("no-such-host.invalid", 80, Options::default());
    assert!(matches!(
        within(30, bev.connected()).await,
        Err(Error::Resolve { .. })
    ));
}

#[tokio::test]
async fn events_already_due_decide_and_are_taken() {
    // a pair is never connecting: connected at once
    let (mut a, _b) = BufferEvent::pair(Options::default());
    within(10, a.connected()).await.unwrap();
    // what the write timeout bounding a connect reports (the network here
    // may accept any connect, so the event is raised by hand)
    a.trigger_event(Events::TIMEOUT | Events::WRITING);
    match within(10, a.connected()).await {
        Err(Error::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("{other:?}"),
    }
    a.trigger_event(Events::CONNECTED);
    within(10, a.connected()).await.unwrap();
    a.trigger_event(Events::ERROR);
    assert!(matches!(
        within(10, a.connected()).await,
        Err(Error::Closed)
    ));
    // all taken
    within(10, a.connected()).await.unwrap();
}
