//! Address families: Unix-domain sockets and IPv6 loopback.

use std::path::PathBuf;
use std::time::Duration;

use evconnlistener::{Addr, Error, Listener, Options, Stream};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(5);

/// A fresh socket path, removed again on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "listener-{tag}-{}-{nanos}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn unix_domain_listener_accepts_and_talks() {
    let path = TempPath::new("talk");
    let l = Listener::bind_unix(&path.0, &Options::new()).unwrap();
    assert_eq!(l.local_addr(), &Addr::Unix(Some(path.0.clone())));

    let mut incoming = l.incoming();
    let mut client = tokio::net::UnixStream::connect(&path.0).await.unwrap();
    let mut conn = timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(conn.stream(), Stream::Unix(_)));
    assert_eq!(conn.peer_addr(), &Addr::Unix(None), "clients are unnamed");
    client.write_all(b"over unix").await.unwrap();
    let mut buf = [0u8; 9];
    timeout(LONG, conn.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"over unix");
    let conn = conn.into_tcp().expect_err("not TCP");
    assert!(matches!(conn.stream(), Stream::Unix(_)));
}

#[tokio::test]
async fn unix_domain_pause_and_cap_work_too() {
    let path = TempPath::new("cap");
    let l = Listener::bind_unix(&path.0, &Options::new().max_connections(1)).unwrap();
    let mut incoming = l.incoming();
    let _a = tokio::net::UnixStream::connect(&path.0).await.unwrap();
    let _b = tokio::net::UnixStream::connect(&path.0).await.unwrap();
    let first = timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(timeout(Duration::from_millis(300), incoming.next())
        .await
        .is_err());
    incoming.pause();
    drop(first);
    assert!(timeout(Duration::from_millis(300), incoming.next())
        .await
        .is_err());
    incoming.resume();
    assert!(timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .is_ok());
}

#[tokio::test]
async fn unix_domain_path_in_use_is_a_bind_error() {
    let path = TempPath::new("inuse");
    let _l = Listener::bind_unix(&path.0, &Options::new()).unwrap();
    let err = Listener::bind_unix(&path.0, &Options::new()).unwrap_err();
    assert!(matches!(&err, Error::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("unix:"), "{err}");
}

#[tokio::test]
async fn ipv6_loopback_if_available() {
    let opts = Options::new().ipv6_only(true);
    let l = match Listener::bind("[::1]:0".parse().unwrap(), &opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping: ::1 is not available here ({e})");
            return;
        }
    };
    let addr = l.local_addr().as_inet().unwrap();
    assert!(addr.is_ipv6());
    let mut incoming = l.incoming();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let conn = timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (_stream, peer, permit) = conn.into_tcp().unwrap();
    assert!(permit.is_none());
    assert_eq!(peer, client.local_addr().unwrap());
    assert!(peer.is_ipv6());
}
