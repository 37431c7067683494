//! [`Drain`] with a real listener on 127.0.0.1: starting the drain stops
//! accepting, tells every tracked connection, and the report counts the
//! ones that finished and the one that had to be cut.

use std::time::Duration;

use evconnlistener::{Drain, DrainState, Listener, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn drain_stops_accepting_and_reports() {
    let l = Listener::bind("127.0.0.1:0".parse().unwrap(), &Options::new()).unwrap();
    let addr = l.local_addr().as_inet().unwrap();
    let drain = Drain::new();
    drain.attach(l.control());
    let tracker = drain.clone();
    let _server = l.spawn(move |mut conn| {
        let mut guard = tracker.track();
        tokio::spawn(async move {
            // Echo one request; when told to drain, a connection whose
            // client sent "stubborn" ignores it until it is cut.
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            let stubborn = &buf[..n] == b"stubborn";
            let _ = conn.write_all(&buf[..n]).await;
            loop {
                match guard.changed().await {
                    DrainState::Draining if stubborn => continue,
                    _ => break,
                }
            }
            drop(conn);
            drop(guard);
        });
    });

    let mut clients = Vec::new();
    for msg in [&b"one"[..], b"two", b"stubborn"] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(msg).await.unwrap();
        let mut back = vec![0; msg.len()];
        timeout(LONG, c.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, msg);
        clients.push(c);
    }
    assert_eq!(drain.live(), 3);

    let report = tokio::spawn({
        let drain = drain.clone();
        async move { drain.finish(Some(Duration::from_millis(500))).await }
    });
    drain.started().await;
    // Not accepted while draining: the client waits in the backlog.
    let mut late = TcpStream::connect(addr).await.unwrap();
    late.write_all(b"late").await.unwrap();
    let mut b = [0u8; 4];
    assert!(timeout(Duration::from_millis(300), late.read(&mut b))
        .await
        .is_err());

    let report = timeout(LONG, report).await.unwrap().unwrap();
    assert_eq!((report.drained, report.cut, report.stuck), (2, 1, 0));
    for mut c in clients {
        let mut rest = Vec::new();
        timeout(LONG, c.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
    }
}
