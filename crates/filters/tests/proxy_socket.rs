//! The PROXY decoder and encoder on real bufferevents over loopback
//! sockets: the header comes off exactly, the payload goes through
//! byte-exact, a bad header is an `ERROR` event carrying a `ProxyError`.

use std::time::Duration;

use bufferevent::{BufferEvent, Callbacks, Dir, Events, Options, PassThrough};
use bufferevent_filters::proxy::{
    Accept, ProxyDecoder, ProxyEncoder, ProxyError, ProxyHeader, Version,
};
use evbuffer::EvBuffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum Seen {
    Connected(Option<std::net::SocketAddr>),
    Error(Option<ProxyError>),
}

/// An echo server whose input filter is a PROXY decoder; reports what it saw.
async fn serve_one(l: &TcpListener, accept: Accept, seen: mpsc::UnboundedSender<Seen>) {
    let (sock, _) = l.accept().await.unwrap();
    let (dec, info) = ProxyDecoder::new(accept);
    let dec = dec.report_connected(true);
    let under = BufferEvent::socket(sock, Options::CLOSE_ON_FREE);
    let mut bev = BufferEvent::filter(under, dec, PassThrough, Options::CLOSE_ON_FREE);
    bev.enable(Dir::READ | Dir::WRITE);
    tokio::spawn(
        bev.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut all = EvBuffer::new();
                    bev.read_buffer(&mut all).unwrap();
                    bev.write_buffer(&mut all).unwrap();
                })
                .on_event(move |bev, what| {
                    if what.contains(Events::CONNECTED) {
                        let _ = seen.send(Seen::Connected(info.source()));
                    } else if what.contains(Events::ERROR) {
                        let pe = bev.error().and_then(|e| {
                            let mut s: Option<&dyn std::error::Error> = Some(e);
                            while let Some(x) = s {
                                if let Some(p) = x.downcast_ref::<ProxyError>() {
                                    return Some(p.clone());
                                }
                                s = x.source();
                            }
                            None
                        });
                        let _ = seen.send(Seen::Error(pe));
                        bev.close();
                    } else if what.contains(Events::EOF) {
                        bev.close_gracefully();
                    }
                }),
        ),
    );
}

#[tokio::test]
async fn header_in_pieces_then_payload_echoed_exactly() {
    timeout(T, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        for version in [Version::V1, Version::V2] {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            serve_one(&l, Accept::Any, tx).await;
            let h = ProxyHeader::proxy(
                "203.0.113.9:61000".parse().unwrap(),
                "198.51.100.1:80".parse().unwrap(),
            )
            .with_version(version);
            let mut wire = bufferevent_filters::proxy::encode(&h).unwrap();
            // Payload that itself starts like a header: must reach the app.
            let payload = bufferevent_filters::proxy::encode(&h).unwrap().repeat(3);
            wire.extend_from_slice(&payload);
            for piece in wire.chunks(5) {
                c.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let mut back = vec![0; payload.len()];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, payload);
            match rx.recv().await.unwrap() {
                Seen::Connected(src) => assert_eq!(src, h.source()),
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn no_header_is_an_error_event_naming_the_byte() {
    timeout(T, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cases: [(&[u8], Accept); 3] = [
            (b"GET / HTTP/1.1\r\n\r\n", Accept::Any),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Accept::V2),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", Accept::V1),
        ];
        for (bytes, accept) in cases {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            serve_one(&l, accept, tx).await;
            c.write_all(bytes).await.unwrap();
            let mut rest = Vec::new();
            // The server closes; nothing is echoed.
            let _ = c.read_to_end(&mut rest).await;
            assert!(rest.is_empty());
            match rx.recv().await.unwrap() {
                Seen::Error(Some(e)) => {
                    let text = e.to_string();
                    assert!(text.contains("byte") || text.contains("accepted"), "{text}");
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn eof_inside_the_header_is_truncated() {
    timeout(T, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        serve_one(&l, Accept::Any, tx).await;
        c.write_all(b"\r\n\r\n\0\r\nQU").await.unwrap();
        c.shutdown().await.unwrap();
        match rx.recv().await.unwrap() {
            Seen::Error(Some(ProxyError::Truncated { received: 9 })) => {}
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn encoder_on_a_connecting_client() {
    timeout(T, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut sock = BufferEvent::connect(addr, Options::CLOSE_ON_FREE);
        sock.connected().await.unwrap();
        let h = ProxyHeader::proxy(
            "[2001:db8::5]:1234".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
        );
        let enc = ProxyEncoder::new(&h).unwrap();
        let mut bev = BufferEvent::filter(sock, PassThrough, enc, Options::CLOSE_ON_FREE);
        bev.enable(Dir::READ | Dir::WRITE);
        bev.write(b"after the header").unwrap();
        bev.close_gracefully();
        let client = tokio::spawn(bev.run(Callbacks::new()));
        let (mut s, _) = l.accept().await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        let (back, n) = bufferevent_filters::proxy::decode(&all, Accept::V2, 4096)
            .unwrap()
            .unwrap();
        assert_eq!(back, h);
        assert_eq!(&all[n..], b"after the header");
        let _ = client.await.unwrap();
    })
    .await
    .unwrap();
}
