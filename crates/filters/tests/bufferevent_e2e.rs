//! End to end over real bufferevents on loopback sockets: the seed's filter server, TLS over
//! zlib over a socket (megabytes each way, byte-exact), and TLS bufferevent events.

mod common;

use common::{exchange, send_and_read_to_end, tcp_pair};

use std::time::Duration;

use bufferevent::{BufferEvent, Callbacks, Dir, Events, Options};
use bufferevent_filters::framing::HeadTailEncoder;
use bufferevent_filters::AsciiCase;
use evbuffer::EvBuffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(60);

/// The seed's filter server: input upper-cased, replies framed in HEAD/END.
#[tokio::test]
async fn seed_filter_server_bytes_on_the_wire() {
    timeout(T, async {
        let (mut client, server_tcp) = tcp_pair().await;
        let under = BufferEvent::socket(server_tcp, Options::CLOSE_ON_FREE);
        let mut bev = BufferEvent::filter(
            under,
            AsciiCase::upper(),
            HeadTailEncoder::seed(),
            Options::CLOSE_ON_FREE,
        );
        bev.enable(Dir::READ | Dir::WRITE);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let server = tokio::spawn(
            bev.run(
                Callbacks::new()
                    .on_read(move |bev| {
                        let mut all = EvBuffer::new();
                        let n = bev.read_buffer(&mut all).unwrap();
                        let v: Vec<u8> = all.peek(..).flat_map(|e| e.iter().copied()).collect();
                        seen_tx.send(v).unwrap();
                        bev.write(format!("get information: {n} bytes!").as_bytes())
                            .unwrap();
                    })
                    .on_event(|bev, what| {
                        if what.contains(Events::EOF) {
                            bev.close_gracefully();
                        }
                    }),
            ),
        );
        client.write_all(b"temp.data\0").await.unwrap();
        let mut reply = vec![0; 54];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(
            reply,
            b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n"
        );
        assert_eq!(seen_rx.recv().unwrap(), b"TEMP.DATA\0");
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        let _ = server.await.unwrap();
    })
    .await
    .unwrap();
}

#[cfg(all(feature = "zlib", feature = "tls"))]
mod tls_over_zlib {
    use super::*;
    use bufferevent_filters::tls::{client_config, server_config, TlsPair};
    use bufferevent_filters::zlib::{Compression, Compressor, Decompressor, Format};
    use bufferevent_filters::Chain;

    fn pairs() -> (TlsPair, TlsPair) {
        let cert = common::test_cert(&["localhost"]);
        let client =
            TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost").unwrap();
        let server =
            TlsPair::server(server_config(cert.chain.clone(), cert.key.clone_key(), &[]).unwrap())
                .unwrap();
        (client, server)
    }

    async fn check(
        client: BufferEvent,
        server: BufferEvent,
        cs: bufferevent_filters::tls::TlsSession,
        ss: bufferevent_filters::tls::TlsSession,
    ) {
        let (d1, d2) = (common::text(7, 4 << 20), common::pseudo_random(8, 3 << 20));
        let (got_s, got_c) = exchange(client, server, d1.clone(), d2.clone()).await;
        assert!(
            got_s == d1,
            "client->server: {} of {} bytes",
            got_s.len(),
            d1.len()
        );
        assert!(
            got_c == d2,
            "server->client: {} of {} bytes",
            got_c.len(),
            d2.len()
        );
        assert!(!cs.is_handshaking() && ss.peer_closed() && cs.peer_closed());
    }

    /// TLS and zlib as one chained filter over a socket bufferevent.
    #[tokio::test]
    async fn chained_tls_over_zlib_over_a_socket_bufferevent_megabytes_each_way() {
        timeout(T, async {
            let (cp, sp) = pairs();
            let (cs, ss) = (cp.session(), sp.session());
            let (a, b) = tcp_pair().await;
            let bev = |tcp: TcpStream, tls: TlsPair| {
                let (ti, to) = tls.split();
                let mut bev = BufferEvent::filter(
                    BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
                    Chain::new().then(Decompressor::new(Format::Zlib)).then(ti),
                    // auto_flush: TLS handshake records must not wait inside zlib.
                    Chain::new()
                        .then(to)
                        .then(Compressor::new(Format::Zlib, Compression::fast()).auto_flush(true)),
                    Options::CLOSE_ON_FREE,
                );
                bev.enable(Dir::READ | Dir::WRITE);
                bev
            };
            check(bev(a, cp), bev(b, sp), cs, ss).await;
        })
        .await
        .unwrap();
    }

    /// A TLS filter bufferevent over a zlib filter bufferevent over a socket bufferevent.
    /// (The layers below are driven by the TLS filter's read side too: the handshake records
    /// it makes move through the zlib filter bufferevent to the socket without a user write.)
    #[tokio::test]
    async fn tls_over_zlib_over_stacked_bufferevents_megabytes_each_way() {
        timeout(T, async {
            let (cp, sp) = pairs();
            let (cs, ss) = (cp.session(), sp.session());
            let (a, b) = tcp_pair().await;
            let zlib = |tcp: TcpStream| {
                BufferEvent::filter(
                    BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
                    Decompressor::new(Format::Zlib),
                    Compressor::new(Format::Zlib, Compression::fast()).auto_flush(true),
                    Options::CLOSE_ON_FREE,
                )
            };
            let mut client = cp.into_bufferevent(zlib(a), Options::empty());
            let mut server = sp.into_bufferevent(zlib(b), Options::empty());
            client.enable(Dir::READ | Dir::WRITE);
            server.enable(Dir::READ | Dir::WRITE);
            check(client, server, cs, ss).await;
        })
        .await
        .unwrap();
    }
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_bufferevent_reports_connected_and_serves_tokio_rustls() {
    use std::sync::Arc;
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let scfg = bufferevent_filters::tls::server_config(
            cert.chain.clone(),
            cert.key.clone_key(),
            &[b"echo/1"],
        )
        .unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut bev =
                bufferevent_filters::tls::server_bufferevent(tcp, scfg, Options::empty()).unwrap();
            bev.enable(Dir::READ | Dir::WRITE);
            let events = Arc::new(std::sync::Mutex::new(Vec::new()));
            let ev2 = events.clone();
            let _ = bev
                .run(
                    Callbacks::new()
                        .on_read(|bev| {
                            let mut all = EvBuffer::new();
                            bev.read_buffer(&mut all).unwrap();
                            bev.write_buffer(&mut all).unwrap();
                        })
                        .on_event(move |bev, what| {
                            ev2.lock().unwrap().push(what);
                            if what.intersects(Events::EOF | Events::ERROR) {
                                bev.close_gracefully();
                            }
                        }),
                )
                .await;
            let ev = events.lock().unwrap().clone();
            ev
        });
        let mut ccfg = rustls::ClientConfig::builder_with_provider(
            bufferevent_filters::tls::crypto_provider(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(cert.roots())
        .with_no_client_auth();
        ccfg.alpn_protocols = vec![b"echo/1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(ccfg));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let data = common::pseudo_random(9, 1 << 20);
        let got = send_and_read_to_end(&mut tls, &data).await;
        assert!(got == data, "{} of {} bytes", got.len(), data.len());
        let events = server.await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.contains(Events::CONNECTED))
                .count(),
            1,
            "{events:?}"
        );
        assert!(events.iter().any(|e| e.contains(Events::EOF)), "{events:?}");
    })
    .await
    .unwrap();
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_bufferevent_dirty_shutdown_is_an_error_unless_allowed() {
    use bufferevent_filters::tls::{client_config, TlsPair};
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        for allow in [false, true] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(
                bufferevent_filters::tls::server_config(
                    cert.chain.clone(),
                    cert.key.clone_key(),
                    &[],
                )
                .unwrap(),
            );
            let server = tokio::spawn(async move {
                let (tcp, _) = l.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                tls.write_all(b"bye").await.unwrap();
                tls.flush().await.unwrap();
                drop(tls.into_inner().0); // TCP close, no close_notify
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let pair = TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost")
                .unwrap()
                .allow_dirty_shutdown(allow);
            let mut bev = pair.into_bufferevent(
                BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
                Options::empty(),
            );
            bev.enable(Dir::READ | Dir::WRITE);
            // Reading alone sends the ClientHello (the filter's read side drives the write side
            // below it).
            let mut got = Vec::new();
            let r = bev.read_to_end(&mut got).await;
            server.await.unwrap();
            assert_eq!(got, b"bye");
            match (allow, r) {
                (true, r) => {
                    r.unwrap();
                }
                (false, Err(e)) => assert!(e.to_string().contains("close_notify"), "{e}"),
                (false, Ok(_)) => panic!("dirty shutdown reported as a clean EOF"),
            }
        }
    })
    .await
    .unwrap();
}

/// Statement 84 / libevent #690: with a 5 KiB read high watermark and a reader that drains
/// only part of its input each time, a TLS bufferevent never stalls (decrypted plaintext is
/// always handed over, so it is readable), 40 KiB each way.
#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_read_watermark_with_partial_draining_never_stalls() {
    use std::sync::Arc;
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let scfg =
            bufferevent_filters::tls::server_config(cert.chain.clone(), cert.key.clone_key(), &[])
                .unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut bev =
                bufferevent_filters::tls::server_bufferevent(tcp, scfg, Options::empty()).unwrap();
            bev.set_watermark(Dir::READ, 0, 5 * 1024).unwrap();
            bev.enable(Dir::READ | Dir::WRITE);
            let max_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let m2 = max_seen.clone();
            let _ = bev
                .run(
                    Callbacks::new()
                        .on_read(move |bev| {
                            m2.fetch_max(bev.input().len(), std::sync::atomic::Ordering::Relaxed);
                            // Partial draining: at most 1000 bytes per callback.
                            let mut buf = [0u8; 1000];
                            let n = bev.read(&mut buf);
                            bev.write(&buf[..n]).unwrap();
                            // Come back for the rest (bufferevent_trigger), as a reader that
                            // processes in slices would.
                            if !bev.input().is_empty() {
                                bev.trigger(Dir::READ, false);
                            }
                        })
                        .on_event(|bev, what| {
                            if what.intersects(Events::EOF | Events::ERROR) {
                                bev.close_gracefully();
                            }
                        }),
                )
                .await;
            max_seen.load(std::sync::atomic::Ordering::Relaxed)
        });
        let ccfg = bufferevent_filters::tls::client_config(cert.roots(), &[]).unwrap();
        let connector = tokio_rustls::TlsConnector::from(ccfg);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let data = common::pseudo_random(10, 40 * 1024);
        let got = send_and_read_to_end(tls, &data).await;
        assert!(got == data, "{} of {} bytes", got.len(), data.len());
        let max_seen = server.await.unwrap();
        // The watermark may be exceeded by at most about one TLS record (statement 84).
        assert!(
            max_seen <= 5 * 1024 + 17 * 1024,
            "input reached {max_seen} bytes"
        );
    })
    .await
    .unwrap();
}

/// A graceful close that arrives while the TLS handshake is still running does not close
/// dirty. The output filter keeps being called after FINISHED while it wants to write, so the
/// plaintext buffered during the handshake and then `close_notify` go out once the handshake
/// completes; only then is the TCP write side shut down. The peer (tokio-rustls) reads all the
/// data and then a clean end of stream. Both faces (async `shutdown()` without ever reading,
/// and `close_gracefully()` before the driver ran), with a write small enough to sit inside
/// rustls and one larger than rustls buffers during a handshake (the rest waits in the
/// filter's output).
#[cfg(feature = "tls")]
#[tokio::test]
async fn close_during_the_handshake_sends_everything_then_close_notify() {
    use bufferevent_filters::tls::{client_config, TlsPair};
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        for (async_face, len) in [(true, 5), (true, 300_000), (false, 5), (false, 300_000)] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(
                bufferevent_filters::tls::server_config(
                    cert.chain.clone(),
                    cert.key.clone_key(),
                    &[],
                )
                .unwrap(),
            );
            let server = tokio::spawn(async move {
                let (tcp, _) = l.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let mut got = Vec::new();
                // Ok only on close_notify: a TCP end without it is UnexpectedEof.
                let r = tls.read_to_end(&mut got).await;
                (got, r.map(|_| ()))
            });
            let data = common::pseudo_random(11, len);
            let tcp = TcpStream::connect(addr).await.unwrap();
            let pair = TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost")
                .unwrap();
            let session = pair.session();
            let mut bev = pair.into_bufferevent(
                BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
                Options::empty(),
            );
            assert!(session.is_handshaking());
            if async_face {
                bev.write_all(&data).await.unwrap();
                assert!(session.is_handshaking(), "nothing read yet");
                bev.shutdown().await.unwrap();
                assert!(bev.is_write_finished());
            } else {
                bev.write(&data).unwrap();
                bev.close_gracefully();
                assert!(!bev.is_write_finished());
                // The callback driver, kept from dropping the bufferevent when it returns: the
                // server's session tickets may still be unread, and closing a socket with
                // unread input resets the connection (see `close_gracefully`).
                let mut h = Callbacks::new();
                let _ = std::future::poll_fn(|cx| bev.poll_run(cx, &mut h)).await;
                assert!(bev.is_write_finished());
            }
            assert!(!session.is_handshaking());
            let (got, r) = server.await.unwrap();
            drop(bev);
            r.unwrap_or_else(|e| panic!("async {async_face}, {len} bytes: dirty close: {e}"));
            assert!(
                got == data,
                "async {async_face}: {} of {} bytes",
                got.len(),
                data.len()
            );
        }
    })
    .await
    .unwrap();
}

/// An error in one connection never affects another: a zlib echo server runs one filter
/// bufferevent per connection; while five clients stream a megabyte each, one client sends a
/// corrupt compressed stream and another resets its connection mid-transfer. The corrupt one
/// gets exactly one `ERROR|READING` with the decompressor's reason and is closed, the reset
/// one an `ERROR`; the other five get every byte back.
#[cfg(feature = "zlib")]
#[tokio::test]
async fn an_error_in_one_connection_never_affects_another() {
    use bufferevent_filters::zlib::{Compression, Compressor, Decompressor, Format};
    use bufferevent_filters::FilteredStream;
    use std::sync::{Arc, Mutex};
    timeout(T, async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let errors = Arc::new(Mutex::new(Vec::<(u16, String)>::new()));
        let errs = errors.clone();
        let server = tokio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..7 {
                let (tcp, peer) = l.accept().await.unwrap();
                let mut bev = BufferEvent::filter(
                    BufferEvent::socket(tcp, Options::default()),
                    Decompressor::new(Format::Zlib),
                    Compressor::new(Format::Zlib, Compression::fast()).auto_flush(true),
                    Options::default(),
                );
                bev.enable(Dir::READ | Dir::WRITE);
                let errs = errs.clone();
                conns.push(tokio::spawn(
                    bev.run(
                        Callbacks::new()
                            .on_read(|bev| {
                                let mut all = EvBuffer::new();
                                bev.read_buffer(&mut all).unwrap();
                                bev.write_buffer(&mut all).unwrap();
                            })
                            .on_event(move |bev, what| {
                                if what.contains(Events::ERROR) {
                                    let why =
                                        bev.error().map(|e| e.to_string()).unwrap_or_default();
                                    errs.lock().unwrap().push((peer.port(), why));
                                    bev.close();
                                } else if what.contains(Events::EOF) {
                                    bev.close_gracefully();
                                }
                            }),
                    ),
                ));
            }
            for c in conns {
                let _ = c.await.unwrap();
            }
        });
        let good = |seed: u64| async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let s = FilteredStream::new(
                tcp,
                Decompressor::new(Format::Zlib),
                Compressor::new(Format::Zlib, Compression::fast()),
            );
            let data = common::pseudo_random(seed, 1 << 20);
            let got = send_and_read_to_end(s, &data).await;
            assert!(
                got == data,
                "client {seed}: {} of {} bytes",
                got.len(),
                data.len()
            );
        };
        let corrupt = async {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let port = tcp.local_addr().unwrap().port();
            // a valid zlib header and some data, then garbage
            let mut z = Compressor::new(Format::Zlib, Compression::fast());
            let mut plain = EvBuffer::from(&b"fine so far"[..]);
            let mut wire = EvBuffer::new();
            bufferevent::Filter::process(
                &mut z,
                &mut plain,
                &mut wire,
                None,
                bufferevent::FlushMode::Flush,
            )
            .unwrap();
            let mut bytes = wire.to_vec();
            bytes.extend_from_slice(&[0xff; 64]);
            tcp.write_all(&bytes).await.unwrap();
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await; // the server closes it
            port
        };
        let reset = async {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let port = tcp.local_addr().unwrap().port();
            tcp.write_all(&[0x78]).await.unwrap(); // half a zlib header
            tokio::time::sleep(Duration::from_millis(50)).await;
            #[allow(deprecated)] // blocking on drop is what we want here: a reset
            tcp.set_linger(Some(Duration::ZERO)).unwrap();
            drop(tcp);
            port
        };
        let (corrupt_port, reset_port, ..) =
            tokio::join!(corrupt, reset, good(1), good(2), good(3), good(4), good(5));
        server.await.unwrap();
        let errors = errors.lock().unwrap().clone();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let why = |port| {
            let e: Vec<_> = errors.iter().filter(|(p, _)| *p == port).collect();
            assert_eq!(e.len(), 1, "port {port}: {errors:?}");
            e[0].1.clone()
        };
        let corrupt_why = why(corrupt_port);
        assert!(corrupt_why.contains("zlib stream corrupt"), "{corrupt_why}");
        why(reset_port);
    })
    .await
    .unwrap();
}

/// Statement 85: a server that delays its handshake by a second does not make the client
/// busy-loop: the TLS filters of a client bufferevent are called a handful of times while it
/// waits (libevent's test allows 100 BIO reads and writes), then the exchange completes.
#[cfg(feature = "tls")]
#[tokio::test]
async fn s85_a_slow_handshake_does_not_make_the_client_spin() {
    use bufferevent::{Filter, FilterEvent, FilterResult, FlushMode};
    use bufferevent_filters::tls::{client_config, TlsPair};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Forwards to a filter, counting its calls.
    struct Counted<F>(F, Arc<AtomicUsize>);
    impl<F: Filter> Filter for Counted<F> {
        fn process(
            &mut self,
            src: &mut EvBuffer,
            dst: &mut EvBuffer,
            limit: Option<usize>,
            mode: FlushMode,
        ) -> FilterResult {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.process(src, dst, limit, mode)
        }
        fn wants_write(&self) -> bool {
            self.0.wants_write()
        }
        fn take_event(&mut self) -> Option<FilterEvent> {
            self.0.take_event()
        }
    }

    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(
            bufferevent_filters::tls::server_config(cert.chain.clone(), cert.key.clone_key(), &[])
                .unwrap(),
        );
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut ping = [0u8; 4];
            tls.read_exact(&mut ping).await.unwrap();
            assert_eq!(&ping, b"ping");
            tls.write_all(b"pong").await.unwrap();
            tls.shutdown().await.unwrap();
            let mut rest = Vec::new();
            let _ = tls.read_to_end(&mut rest).await;
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let (ti, to) = TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost")
            .unwrap()
            .split();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut bev = BufferEvent::filter(
            BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
            Counted(ti, calls.clone()),
            Counted(to, calls.clone()),
            Options::CLOSE_ON_FREE,
        );
        bev.enable(Dir::READ | Dir::WRITE);
        bev.write(b"ping").unwrap();
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        let _ = bev
            .run(
                Callbacks::new()
                    .on_read(move |bev| {
                        let mut buf = [0u8; 16];
                        let n = bev.read(&mut buf);
                        g.lock().unwrap().extend_from_slice(&buf[..n]);
                    })
                    .on_event(|bev, what| {
                        if what.intersects(Events::EOF | Events::ERROR) {
                            bev.close_gracefully();
                        }
                    }),
            )
            .await;
        server.await.unwrap();
        assert_eq!(&got.lock().unwrap()[..], b"pong");
        let calls = calls.load(Ordering::Relaxed);
        assert!(calls <= 100, "{calls} filter calls");
    })
    .await
    .unwrap();
}

/// TLS over a pair: both ends are TLS filter bufferevents over the two ends of an in-memory
/// pair (no socket at all). Handshake with SNI and ALPN, megabytes each way, and a clean
/// close_notify in both directions.
#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_over_a_pair_of_bufferevents() {
    use bufferevent_filters::tls::{client_config, server_config, TlsPair};
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let client = TlsPair::client_for(
            client_config(cert.roots(), &[b"h2", b"echo/1"]).unwrap(),
            "localhost",
        )
        .unwrap();
        let server = TlsPair::server(
            server_config(cert.chain.clone(), cert.key.clone_key(), &[b"echo/1"]).unwrap(),
        )
        .unwrap();
        let (cs, ss) = (client.session(), server.session());
        let (near, far) = BufferEvent::pair(Options::default());
        let mut a = client.into_bufferevent(near, Options::empty());
        let mut b = server.into_bufferevent(far, Options::empty());
        a.enable(Dir::READ | Dir::WRITE);
        b.enable(Dir::READ | Dir::WRITE);
        let (d1, d2) = (
            common::pseudo_random(12, 2 << 20),
            common::text(13, 2 << 20),
        );
        let (got_b, got_a) = exchange(a, b, d1.clone(), d2.clone()).await;
        assert!(
            got_b == d1,
            "client->server: {} of {}",
            got_b.len(),
            d1.len()
        );
        assert!(
            got_a == d2,
            "server->client: {} of {}",
            got_a.len(),
            d2.len()
        );
        assert_eq!(cs.alpn_protocol().as_deref(), Some(&b"echo/1"[..]));
        assert_eq!(ss.sni_hostname().as_deref(), Some("localhost"));
        assert!(cs.peer_closed() && ss.peer_closed());
    })
    .await
    .unwrap();
}

/// A certificate the client does not trust is an `ERROR` event on the client's TLS bufferevent,
/// with rustls's reason reachable as a [`bufferevent_filters::Error::Tls`]; the server's bufferevent gets an
/// `ERROR` too (the client's alert), and neither gets `CONNECTED`.
#[cfg(feature = "tls")]
#[tokio::test]
async fn certificate_errors_are_error_events_with_the_reason() {
    use bufferevent_filters::tls::{client_config, server_config, TlsPair};
    use std::sync::{Arc, Mutex};
    timeout(T, async {
        let trusted = common::test_cert(&["localhost"]);
        let served = common::test_cert(&["localhost"]); // another self-signed certificate
        let client =
            TlsPair::client_for(client_config(trusted.roots(), &[]).unwrap(), "localhost").unwrap();
        let server = TlsPair::server(
            server_config(served.chain.clone(), served.key.clone_key(), &[]).unwrap(),
        )
        .unwrap();
        let (a, b) = tcp_pair().await;
        let run = |bev: BufferEvent| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s2 = seen.clone();
            let mut bev = bev;
            bev.enable(Dir::READ | Dir::WRITE);
            let task = tokio::spawn(bev.run(Callbacks::new().on_event(move |bev, what| {
                let reason = bev.error().map(|e| {
                    let tls = std::error::Error::source(e)
                        .and_then(std::error::Error::source)
                        .and_then(|s| s.downcast_ref::<bufferevent_filters::Error>())
                        .is_some_and(|f| matches!(f, bufferevent_filters::Error::Tls(_)));
                    (e.to_string(), tls)
                });
                s2.lock().unwrap().push((what, reason));
                if what.intersects(Events::ERROR | Events::EOF) {
                    bev.close();
                }
            })));
            (task, seen)
        };
        let (tc, client_seen) = run(client.into_bufferevent(
            BufferEvent::socket(a, Options::CLOSE_ON_FREE),
            Options::empty(),
        ));
        let (ts, server_seen) = run(server.into_bufferevent(
            BufferEvent::socket(b, Options::CLOSE_ON_FREE),
            Options::empty(),
        ));
        let _ = tc.await.unwrap();
        let _ = ts.await.unwrap();
        let client_seen = client_seen.lock().unwrap().clone();
        assert_eq!(client_seen.len(), 1, "{client_seen:?}");
        let (what, reason) = &client_seen[0];
        assert!(what.contains(Events::ERROR) && !what.contains(Events::CONNECTED));
        let (msg, is_tls) = reason.as_ref().expect("an error with the event");
        assert!(msg.contains("invalid peer certificate"), "{msg}");
        assert!(
            is_tls,
            "source is not bufferevent_filters::Error::Tls: {msg}"
        );
        let server_seen = server_seen.lock().unwrap().clone();
        assert!(
            server_seen.iter().any(|(w, _)| w.contains(Events::ERROR))
                && !server_seen
                    .iter()
                    .any(|(w, _)| w.contains(Events::CONNECTED)),
            "{server_seen:?}"
        );
    })
    .await
    .unwrap();
}

/// The client shortcut (`client_bufferevent`: a TLS bufferevent straight over a TCP stream)
/// against a tokio-rustls echo server: a megabyte each way, then close_notify both ways.
#[cfg(feature = "tls")]
#[tokio::test]
async fn client_shortcut_against_a_tokio_rustls_echo_server() {
    timeout(T, async {
        let cert = common::test_cert(&["localhost"]);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(
            bufferevent_filters::tls::server_config(cert.chain.clone(), cert.key.clone_key(), &[])
                .unwrap(),
        );
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (mut r, mut w) = tokio::io::split(tls);
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let config = bufferevent_filters::tls::client_config(cert.roots(), &[]).unwrap();
        let bev = bufferevent_filters::tls::client_bufferevent(
            tcp,
            config,
            "localhost",
            Options::empty(),
        )
        .unwrap();
        let data = common::pseudo_random(14, 1 << 20);
        let got = send_and_read_to_end(bev, &data).await;
        assert!(got == data, "{} of {} bytes", got.len(), data.len());
        server.await.unwrap();
    })
    .await
    .unwrap();
}
