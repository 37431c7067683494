//! Inflate bombs over real bufferevents on loopback: a bomb is delivered at the consumer's pace
//! through bounded buffers (no default ratio limit refuses compressible data), 4 MiB of zeros
//! echo through a deflate/inflate stack, and an explicit total limit ends the connection with
//! an ERROR event whose error names the limit and the numbers.
#![cfg(feature = "zlib")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bufferevent::{BufferEvent, Callbacks, Dir, Events, Options, PassThrough, DEFAULT_MAX_INPUT};
use bufferevent_filters::zlib::{
    Compression, Compressor, DecompressLimit, DecompressLimits, Decompressor, Format,
};
use bufferevent_filters::FilteredStream;
use evbuffer::EvBuffer;
use flate2::{Compress, FlushCompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(240);
const MIB: usize = 1 << 20;

/// A zlib stream of `mib` MiB of zeros, built from one full-flushed 1 MiB block repeated (so
/// that making a 1 GiB bomb costs a few milliseconds), with its real Adler-32 trailer.
fn zeros_bomb(mib: usize) -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut z = Compress::new(Compression::best(), false);
    let mut block = |flush| {
        let mut out = Vec::with_capacity(16 << 10);
        let before = z.total_in();
        z.compress_vec(&zeros, &mut out, flush).unwrap();
        assert_eq!(z.total_in() - before, MIB as u64);
        out
    };
    let first = block(FlushCompress::Full);
    let middle = block(FlushCompress::Full);
    assert_eq!(
        block(FlushCompress::Full),
        middle,
        "full-flushed blocks repeat"
    );
    let mut wire = vec![0x78, 0xda]; // zlib header, best compression
    wire.extend_from_slice(&first);
    for _ in 0..mib - 3 {
        wire.extend_from_slice(&middle);
    }
    wire.extend_from_slice(&middle);
    let mut tail = Vec::with_capacity(64 << 10);
    z.compress_vec(&zeros, &mut tail, FlushCompress::Finish)
        .unwrap();
    wire.extend_from_slice(&tail);
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let n = (mib * MIB) as u64;
    wire.extend_from_slice(&((((n % 65521) << 16) | 1) as u32).to_be_bytes());
    wire
}

#[derive(Debug, Default)]
struct Seen {
    delivered: u64,
    nonzero: bool,
    /// Largest input of the filter bufferevent seen (what the user is offered).
    peak_input: usize,
    /// Largest input of the socket bufferevent below it (compressed bytes waiting).
    peak_under: usize,
    /// Largest input during the stall.
    stalled_input: usize,
    stall_started: bool,
    stall_delivered: Option<u64>,
    eof: bool,
    error: Option<String>,
}

fn sample(bev: &BufferEvent, seen: &mut Seen) {
    seen.peak_input = seen.peak_input.max(bev.input().len());
    let under = bev.underlying().map_or(0, |u| u.input().len());
    seen.peak_under = seen.peak_under.max(under);
}

fn inflating_server(tcp: TcpStream, limits: DecompressLimits) -> BufferEvent {
    let mut bev = BufferEvent::filter(
        BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
        Decompressor::with_limits(Format::Zlib, limits),
        PassThrough,
        Options::CLOSE_ON_FREE,
    );
    bev.enable(Dir::READ | Dir::WRITE);
    bev
}

/// A 1 GiB-of-zeros bomb (about 1 MB compressed) is delivered whole, through buffers that
/// never hold more than the default input bound, and stays bounded while the consumer stalls.
#[tokio::test]
async fn a_gigabyte_bomb_is_delivered_through_bounded_buffers() {
    const BOMB_MIB: usize = 1024;
    timeout(T, async {
        let wire = zeros_bomb(BOMB_MIB);
        assert!(wire.len() < 2 * MIB, "{} bytes compressed", wire.len());
        let (mut client, server_tcp) = common::tcp_pair().await;
        let mut bev = inflating_server(server_tcp, DecompressLimits::default());
        let seen = Arc::new(Mutex::new(Seen::default()));
        // A sampler between callbacks, so the stall is observed too.
        let handle = bev.handle();
        let sampler = {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let seen = seen.clone();
                    if handle
                        .with(move |bev| sample(bev, &mut seen.lock().unwrap()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let (s1, s2) = (seen.clone(), seen.clone());
        let zero_block = vec![0u8; 64 << 10];
        let server = tokio::spawn(
            bev.run(
                Callbacks::new()
                    .on_read(move |bev| {
                        let mut seen = s1.lock().unwrap();
                        sample(bev, &mut seen);
                        for e in bev.input().peek(..) {
                            for c in e.chunks(zero_block.len()) {
                                seen.nonzero |= c != &zero_block[..c.len()];
                            }
                        }
                        let n = bev.input().len();
                        bev.input_mut().drain(n).unwrap();
                        seen.delivered += n as u64;
                        // Once, after 64 MiB: stop reading for 300 ms, as a slow consumer would.
                        if seen.delivered >= 64 << 20 && !seen.stall_started {
                            seen.stall_started = true;
                            seen.stall_delivered = Some(seen.delivered);
                            bev.disable(Dir::READ);
                            let handle = bev.handle();
                            let seen = s1.clone();
                            tokio::spawn(async move {
                                for _ in 0..30 {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    let seen = seen.clone();
                                    let _ = handle
                                        .with(move |bev| {
                                            let mut s = seen.lock().unwrap();
                                            s.stalled_input = s.stalled_input.max(
                                                bev.input().len()
                                                    + bev
                                                        .underlying()
                                                        .map_or(0, |u| u.input().len()),
                                            );
                                        })
                                        .await;
                                }
                                let _ = handle.with(|bev| bev.enable(Dir::READ)).await;
                            });
                        }
                    })
                    .on_event(move |bev, what| {
                        let mut seen = s2.lock().unwrap();
                        if what.contains(Events::ERROR) {
                            seen.error = Some(format!("{:?}", bev.error()));
                        } else if what.contains(Events::EOF) {
                            seen.eof = true;
                        }
                        bev.close();
                    }),
            ),
        );
        let (mut r, mut w) = client.split();
        let write = async {
            for piece in wire.chunks(64 << 10) {
                w.write_all(piece).await.unwrap();
            }
            w.shutdown().await.unwrap();
        };
        let read = async {
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).await.unwrap();
            rest
        };
        let (_, rest) = tokio::join!(write, read);
        assert!(rest.is_empty());
        let _ = server.await.unwrap();
        sampler.await.unwrap();
        let seen = seen.lock().unwrap();
        eprintln!(
            "bomb of {} compressed bytes: peak input {} (bound {DEFAULT_MAX_INPUT}), peak compressed \
             input below {}, during the stall {}",
            wire.len(),
            seen.peak_input,
            seen.peak_under,
            seen.stalled_input
        );
        assert_eq!(seen.error, None);
        assert!(seen.eof, "{seen:?}");
        assert_eq!(seen.delivered, (BOMB_MIB * MIB) as u64, "{seen:?}");
        assert!(!seen.nonzero);
        // Bounded: the user's input never above the default input bound, the compressed bytes
        // below it never above one bound plus a read, the stall no worse.
        assert!(seen.peak_input <= DEFAULT_MAX_INPUT, "{seen:?}");
        assert!(seen.peak_under <= DEFAULT_MAX_INPUT + 64 * 1024, "{seen:?}");
        assert!(seen.stall_started && seen.stalled_input > 0, "{seen:?}");
        assert!(
            seen.stalled_input <= DEFAULT_MAX_INPUT + 2 * MIB,
            "{seen:?}"
        );
    })
    .await
    .unwrap();
}

/// 4 MiB of zeros (compressing about 1000:1) through a naive echo server with deflate/inflate
/// filters, from a client with the same stack: echoed byte-exact, no ratio limit in the way.
#[tokio::test]
async fn four_mib_of_zeros_echo_through_a_deflate_inflate_stack() {
    timeout(T, async {
        let data = vec![0u8; 4 * MIB];
        let (client_tcp, server_tcp) = common::tcp_pair().await;
        let mut bev = BufferEvent::filter(
            BufferEvent::socket(server_tcp, Options::CLOSE_ON_FREE),
            Decompressor::new(Format::Zlib),
            Compressor::new(Format::Zlib, Compression::default()),
            Options::CLOSE_ON_FREE,
        );
        bev.enable(Dir::READ | Dir::WRITE);
        let failure = Arc::new(Mutex::new(None));
        let f = failure.clone();
        let server = tokio::spawn(
            bev.run(
                Callbacks::new()
                    .on_read(|bev| {
                        let mut all = EvBuffer::new();
                        bev.read_buffer(&mut all).unwrap();
                        bev.write_buffer(&mut all).unwrap();
                        bev.flush(bufferevent::FlushMode::Flush).unwrap();
                    })
                    .on_event(move |bev, what| {
                        if what.contains(Events::ERROR) {
                            *f.lock().unwrap() = Some(format!("{what:?}: {:?}", bev.error()));
                            bev.close();
                        } else if what.contains(Events::EOF) {
                            bev.close_gracefully();
                        }
                    }),
            ),
        );
        let client = FilteredStream::new(
            client_tcp,
            Decompressor::new(Format::Zlib),
            Compressor::new(Format::Zlib, Compression::default()),
        );
        let echo = common::send_and_read_to_end(client, &data).await;
        let _ = server.await.unwrap();
        assert_eq!(*failure.lock().unwrap(), None);
        assert!(
            echo == data,
            "{} of {} bytes echoed",
            echo.len(),
            data.len()
        );
    })
    .await
    .unwrap();
}

/// A total-size limit the application set ends the connection with an ERROR event whose
/// error says which limit, where, and how much; everything up to the limit was delivered.
#[tokio::test]
async fn an_explicit_limit_is_an_error_event_with_the_limit_and_the_numbers() {
    timeout(T, async {
        let wire = zeros_bomb(16);
        let (mut client, server_tcp) = common::tcp_pair().await;
        let bev = inflating_server(
            server_tcp,
            DecompressLimits::default().max_output(MIB as u64),
        );
        let seen = Arc::new(Mutex::new((0usize, None::<(Events, bufferevent::Error)>)));
        let (s1, s2) = (seen.clone(), seen.clone());
        let server = tokio::spawn(
            bev.run(
                Callbacks::new()
                    .on_read(move |bev| {
                        let n = bev.input().len();
                        bev.input_mut().drain(n).unwrap();
                        s1.lock().unwrap().0 += n;
                    })
                    .on_event(move |bev, what| {
                        // The bytes up to the limit are in the input when the error comes.
                        let mut seen = s2.lock().unwrap();
                        let n = bev.input().len();
                        bev.input_mut().drain(n).unwrap();
                        seen.0 += n;
                        if let Some(e) = bev.take_error() {
                            seen.1 = Some((what, e));
                        }
                        bev.close();
                    }),
            ),
        );
        let _ = client.write_all(&wire).await; // the server may close before taking it all
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
        let _ = server.await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.0, MIB, "delivered up to the limit");
        let (what, err) = seen.1.as_ref().expect("an ERROR event with its error");
        assert!(what.contains(Events::ERROR | Events::READING), "{what:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("zlib decompression stopped at compressed byte ")
                && msg.contains(
                    ": 1048577 bytes decompressed exceed the maximum output of 1048576 bytes \
                     (DecompressLimits::max_output)"
                ),
            "{msg}"
        );
        // The structured error is there for programs.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut found = None;
        while let Some(s) = source {
            if let Some(bufferevent_filters::Error::DecompressionLimit {
                limit,
                output,
                input,
                ..
            }) = s.downcast_ref::<bufferevent_filters::Error>()
            {
                found = Some((*limit, *output, *input));
            }
            source = s.source();
        }
        let (limit, output, input) = found.expect("bufferevent_filters::Error in the source chain");
        assert_eq!(limit, DecompressLimit::MaxOutput(MIB as u64));
        assert_eq!(output, MIB as u64 + 1);
        assert!(input > 0 && input < wire.len() as u64, "{input}");
    })
    .await
    .unwrap();
}
