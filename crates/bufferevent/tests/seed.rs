//! The seed's filter server (port 15000 in the seed, port 0 here) written
//! against this crate, checked byte for byte against the bytes the C
//! original puts on the wire (`crates/cpeers/c/filter_server.c`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bufferevent::{
    BufferEvent, Callbacks, Dir, Events, FilterResult, FilterStatus, FlushMode, Options,
};
use common::within;
use evbuffer::EvBuffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Input filter: upper-cases everything (binary-safe).
fn filter_in(
    src: &mut EvBuffer,
    dst: &mut EvBuffer,
    _: Option<usize>,
    _: FlushMode,
) -> FilterResult {
    let mut data = vec![0u8; src.len()];
    let n = src.remove(&mut data)?;
    data.truncate(n);
    data.make_ascii_uppercase();
    dst.add(&data)?;
    Ok(FilterStatus::Ok)
}

/// Output filter: frames each reply with HEAD/END markers.
fn filter_out(
    src: &mut EvBuffer,
    dst: &mut EvBuffer,
    _: Option<usize>,
    _: FlushMode,
) -> FilterResult {
    if src.is_empty() {
        return Ok(FilterStatus::Ok);
    }
    dst.add(b"|--- HEAD ---|")?;
    let n = src.len();
    src.remove_into(dst, n)?;
    dst.add(b"|--- END ---|\n")?;
    Ok(FilterStatus::Ok)
}

/// The seed's filter server: accept -> socket bufferevent -> filter
/// bufferevent (upper-case in, framing out) -> callbacks with a 4 s read
/// timeout.
async fn filter_server(listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            return;
        };
        tracing::info!(%peer, "new connection");
        let sock = BufferEvent::socket(stream, Options::CLOSE_ON_FREE);
        let mut bev = BufferEvent::filter(sock, filter_in, filter_out, Options::CLOSE_ON_FREE);
        bev.set_timeouts(Some(Duration::from_secs(4)), None);
        bev.enable(Dir::READ | Dir::WRITE);
        tokio::spawn(
            bev.run(
                Callbacks::new()
                    .on_read(|bev| {
                        let n = bev.input().len();
                        let mut data = vec![0u8; n];
                        bev.read(&mut data);
                        tracing::info!("{}", String::from_utf8_lossy(&data));
                        let reply = format!("get information: {n} bytes!");
                        bev.write(reply.as_bytes()).ok();
                    })
                    .on_write(|_| tracing::info!("write event buffer is empty!"))
                    .on_event(|bev, what| {
                        if what.contains(Events::TIMEOUT) {
                            tracing::info!("timeout");
                        } else if what.contains(Events::EOF) {
                            tracing::info!("connection closed");
                        } else if what.contains(Events::ERROR) {
                            tracing::info!(error = ?bev.error(), "error");
                        }
                        bev.close();
                    }),
            ),
        );
    }
}

async fn start() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(filter_server(l));
    addr
}

#[tokio::test]
async fn seed_filter_server_transcript() {
    let addr = start().await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"temp.data\0").await.unwrap();
    let mut reply = [0u8; 54];
    within(10, c.read_exact(&mut reply)).await.unwrap();
    assert_eq!(
        &reply[..],
        b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n"
    );
    drop(c); // the client closes; the server sees EOF and closes
}

#[tokio::test(start_paused = true)]
async fn seed_filter_server_closes_after_4s_idle() {
    let addr = start().await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"hello Idle\n").await.unwrap();
    let mut reply = [0u8; 54];
    within(10, c.read_exact(&mut reply)).await.unwrap();
    assert_eq!(
        &reply[..],
        b"|--- HEAD ---|get information: 11 bytes!|--- END ---|\n"
    );
    let t0 = tokio::time::Instant::now();
    let mut rest = Vec::new();
    within(100, c.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn seed_filter_server_answers_for_everything_read() {
    let addr = start().await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[b'x'; 1500]).await.unwrap();
    let mut got = Vec::new();
    let mut total = 0;
    // replies may be split over reads; collect until 1500 bytes are accounted for
    within(10, async {
        while total < 1500 {
            let mut buf = [0u8; 256];
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            total = text
                .split("|--- END ---|\n")
                .filter_map(|f| f.strip_prefix("|--- HEAD ---|get information: "))
                .filter_map(|f| f.strip_suffix(" bytes!"))
                .map(|n| n.parse::<usize>().unwrap())
                .sum();
        }
    })
    .await;
    assert_eq!(total, 1500);
}
