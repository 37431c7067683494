//! `FilteredStream` over real loopback TCP: compression, framing, and TLS over zlib,
//! megabytes each way, byte-exact.

mod common;

use std::time::Duration;

use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Lines, Width};
use bufferevent_filters::{AsciiCase, Chain, Counting, FilteredStream};
use common::{exchange, tcp_pair, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(60);

#[cfg(feature = "zlib")]
#[tokio::test]
async fn zlib_each_way_over_tcp() {
    use bufferevent_filters::zlib::{Compression, Compressor, Decompressor, Format};
    timeout(T, async {
        for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
            let (a, b) = tcp_pair().await;
            let mk = |s| {
                FilteredStream::new(
                    s,
                    Decompressor::new(format),
                    Compressor::new(format, Compression::default()),
                )
            };
            let (d1, d2) = (text(1, 2 << 20), text(2, 2 << 20));
            let (got_b, got_a) = exchange(mk(a), mk(b), d1.clone(), d2.clone()).await;
            assert!(got_b == d1 && got_a == d2, "{format:?}");
        }
    })
    .await
    .unwrap();
}

#[cfg(all(feature = "zlib", feature = "tls"))]
#[tokio::test]
async fn tls_over_zlib_over_tcp_megabytes_each_way() {
    use bufferevent_filters::tls::{client_config, server_config, TlsPair};
    use bufferevent_filters::zlib::{Compression, Compressor, Decompressor, Format};
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let (a, b) = tcp_pair().await;
        let (ci, co) = TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost")
            .unwrap()
            .split();
        let (si, so) =
            TlsPair::server(server_config(cert.chain.clone(), cert.key.clone_key(), &[]).unwrap())
                .unwrap()
                .split();
        // Wire <- zlib <- TLS <- user: the input chain inflates then decrypts, the output chain
        // encrypts then deflates.
        let client = FilteredStream::new(
            a,
            Chain::new().then(Decompressor::new(Format::Zlib)).then(ci),
            Chain::new()
                .then(co)
                .then(Compressor::new(Format::Zlib, Compression::fast())),
        );
        let server = FilteredStream::new(
            b,
            Chain::new().then(Decompressor::new(Format::Zlib)).then(si),
            Chain::new()
                .then(so)
                .then(Compressor::new(Format::Zlib, Compression::fast())),
        );
        // TLS output is incompressible: send data that is, to check both layers carry it.
        let (d1, d2) = (common::pseudo_random(3, 4 << 20), text(4, 4 << 20));
        let (got_b, got_a) = exchange(client, server, d1.clone(), d2.clone()).await;
        assert!(
            got_b == d1,
            "client->server differs: {} of {} bytes",
            got_b.len(),
            d1.len()
        );
        assert!(
            got_a == d2,
            "server->client differs: {} of {} bytes",
            got_a.len(),
            d2.len()
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn framing_and_transforms_over_tcp() {
    timeout(T, async {
        let (a, b) = tcp_pair().await;
        let fmt = LengthPrefix::new(Width::Four).max_frame(100_000);
        let counter = Counting::new();
        let seen = counter.counter();
        let a = FilteredStream::new(a, LengthDecoder::new(fmt), LengthEncoder::new(fmt));
        let b = FilteredStream::new(
            b,
            Chain::new()
                .then(counter)
                .then(LengthDecoder::new(fmt))
                .then(AsciiCase::upper()),
            LengthEncoder::new(fmt),
        );
        let d1 = text(5, 1 << 20);
        let (got_b, got_a) = exchange(a, b, d1.clone(), b"ok".to_vec()).await;
        assert_eq!(got_b, d1.to_ascii_uppercase());
        assert_eq!(got_a, b"ok");
        assert!(seen.get() > d1.len() as u64);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn decoder_errors_surface_as_io_errors() {
    timeout(T, async {
        // A line longer than the maximum.
        let (mut a, b) = tcp_pair().await;
        let mut b = FilteredStream::new(b, Lines::new(evbuffer::Eol::Lf, 16), Counting::new());
        a.write_all(&[b'x'; 100]).await.unwrap();
        let mut buf = Vec::new();
        let e = b.read_to_end(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            e.to_string().contains("no end of line within 16 bytes"),
            "{e}"
        );
        // A truncated frame at EOF.
        let (mut a, b) = tcp_pair().await;
        let fmt = LengthPrefix::new(Width::Two);
        let mut b = FilteredStream::new(b, LengthDecoder::new(fmt), LengthEncoder::new(fmt));
        a.write_all(b"\x00\x05abc").await.unwrap();
        a.shutdown().await.unwrap();
        let e = b.read_to_end(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn writes_are_bounded_when_the_peer_does_not_read() {
    timeout(T, async {
        let (a, _b) = tcp_pair().await;
        let mut a = FilteredStream::new(a, Counting::new(), Counting::new())
            .with_limits(64 * 1024, 1 << 20);
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0usize;
        // The peer never reads: writes stop once the socket buffers and ours are full.
        loop {
            match tokio::time::timeout(Duration::from_millis(300), a.write(&chunk)).await {
                Ok(r) => written += r.unwrap(),
                Err(_) => break,
            }
            assert!(written < 256 << 20, "unbounded buffering");
        }
        assert!(
            a.pending_output() <= 128 * 1024,
            "{} bytes held",
            a.pending_output()
        );
    })
    .await
    .unwrap();
}
