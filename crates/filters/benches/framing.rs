//! The evbuffer-native framing filters against tokio-util's codecs run through
//! [`CodecFilter`], in one run, on the same input driven the way a bufferevent drives an input
//! or output filter (bytes appended to a persistent source, one `process` call per read or
//! write, the destination drained after each call):
//!
//! * `lines/decode`: 10,000 lines of 1 to 200 bytes of text, arriving in 16 KiB reads;
//!   [`Lines`] (`Eol::Lf`) against `LinesCodec` in and out (tokio-util's line framing; it
//!   also checks UTF-8) and `AnyDelimiterCodec` in (no UTF-8 check; its encoder takes `str`, so a
//!   two-line encoder writes each item and `\n`).
//! * `length/decode`: 10,000 frames of 1 to 200 bytes behind a 4-byte big-endian length,
//!   arriving in 16 KiB reads; [`LengthDecoder`] against `LengthDelimitedCodec` in and
//!   `BytesCodec` out.
//! * `length/encode`: 10,000 writes of 1 to 200 bytes, each framed; [`LengthEncoder`] against
//!   `BytesCodec` in and `LengthDelimitedCodec` out.
//!
//! Both sides produce the same bytes (checked before timing).
//!
//! ```text
//! cargo bench -p filters --bench framing
//! ```

use std::hint::black_box;
use std::time::Duration;

use bufferevent::{Filter, FlushMode};
use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Lines, Width};
use bufferevent_filters::CodecFilter;
use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evbuffer::{Eol, EvBuffer};
use tokio_util::codec::{AnyDelimiterCodec, BytesCodec, Encoder, LengthDelimitedCodec, LinesCodec};

const MESSAGES: usize = 10_000;
const READ: usize = 16 * 1024;

/// Writes each item followed by `\n` (`AnyDelimiterCodec`'s encoder takes `str` items).
struct NewlineAfter;

impl Encoder<Bytes> for NewlineAfter {
    type Error = std::io::Error;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.reserve(item.len() + 1);
        dst.put_slice(&item);
        dst.put_u8(b'\n');
        Ok(())
    }
}

fn sizes() -> impl Iterator<Item = usize> {
    (0..MESSAGES).map(|i| 1 + (i * 7919) % 200)
}

fn text(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|j| b"abcdefghijklmnopqrstuvwxyz .,"[(j * 31 + seed * 17) % 29])
        .collect()
}

/// Feeds `wire` in `step`-byte pieces through `f`, draining the output; returns its length.
fn run(f: &mut dyn Filter, pieces: &[&[u8]]) -> usize {
    let (mut src, mut dst) = (EvBuffer::new(), EvBuffer::new());
    let mut out = 0;
    for p in pieces {
        src.add(p).unwrap();
        f.process(&mut src, &mut dst, None, FlushMode::Normal)
            .unwrap();
        out += dst.len();
        dst.clear();
    }
    out
}

fn output(f: &mut dyn Filter, pieces: &[&[u8]]) -> Vec<u8> {
    let (mut src, mut dst) = (EvBuffer::new(), EvBuffer::new());
    for p in pieces {
        src.add(p).unwrap();
        f.process(&mut src, &mut dst, None, FlushMode::Normal)
            .unwrap();
    }
    dst.peek(..).flatten().copied().collect()
}

fn bench(c: &mut Criterion) {
    // Lines.
    let mut lines = Vec::new();
    for (i, n) in sizes().enumerate() {
        lines.extend(text(n, i));
        lines.push(b'\n');
    }
    let pieces: Vec<&[u8]> = lines.chunks(READ).collect();
    let max = 64 * 1024;
    let ours = || Lines::new(Eol::Lf, max);
    let codec = || {
        CodecFilter::new(
            LinesCodec::new_with_max_length(max),
            LinesCodec::new_with_max_length(max),
        )
    };
    let any = || {
        CodecFilter::new(
            AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), max),
            NewlineAfter,
        )
    };
    assert_eq!(output(&mut ours(), &pieces), lines);
    assert_eq!(output(&mut codec(), &pieces), lines);
    assert_eq!(output(&mut any(), &pieces), lines);
    let mut g = c.benchmark_group("lines/decode");
    g.throughput(Throughput::Bytes(lines.len() as u64));
    g.bench_function("bufferevent_filters::Lines", |b| {
        b.iter(|| black_box(run(&mut ours(), &pieces)))
    });
    g.bench_function("tokio-util LinesCodec", |b| {
        b.iter(|| black_box(run(&mut codec(), &pieces)))
    });
    g.bench_function("tokio-util AnyDelimiterCodec", |b| {
        b.iter(|| black_box(run(&mut any(), &pieces)))
    });
    g.finish();

    // Length-prefixed frames.
    let fmt = LengthPrefix::new(Width::Four).max_frame(max);
    let payloads: Vec<Vec<u8>> = sizes().enumerate().map(|(i, n)| text(n, i)).collect();
    let mut wire = Vec::new();
    let mut plain = Vec::new();
    for p in &payloads {
        wire.extend_from_slice(&(p.len() as u32).to_be_bytes());
        wire.extend_from_slice(p);
        plain.extend_from_slice(p);
    }
    let pieces: Vec<&[u8]> = wire.chunks(READ).collect();
    let ours = || LengthDecoder::new(fmt);
    let codec = || {
        CodecFilter::new(
            LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(max)
                .new_codec(),
            BytesCodec::new(),
        )
    };
    assert_eq!(output(&mut ours(), &pieces), plain);
    assert_eq!(output(&mut codec(), &pieces), plain);
    let mut g = c.benchmark_group("length/decode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("bufferevent_filters::LengthDecoder", |b| {
        b.iter(|| black_box(run(&mut ours(), &pieces)))
    });
    g.bench_function("tokio-util LengthDelimitedCodec", |b| {
        b.iter(|| black_box(run(&mut codec(), &pieces)))
    });
    g.finish();

    let writes: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let ours = || LengthEncoder::new(fmt);
    let codec = || {
        CodecFilter::with_map(
            BytesCodec::new(),
            BytesMut::freeze,
            LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(max)
                .new_codec(),
        )
    };
    assert_eq!(output(&mut ours(), &writes), wire);
    assert_eq!(output(&mut codec(), &writes), wire);
    let mut g = c.benchmark_group("length/encode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("bufferevent_filters::LengthEncoder", |b| {
        b.iter(|| black_box(run(&mut ours(), &writes)))
    });
    g.bench_function("tokio-util LengthDelimitedCodec", |b| {
        b.iter(|| black_box(run(&mut codec(), &writes)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
