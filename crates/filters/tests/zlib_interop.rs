//! Our deflate/zlib/gzip streams against C zlib (Python's `zlib` module, which links the
//! system's C zlib), in both directions.
#![cfg(feature = "zlib")]

mod common;

use std::process::Command;
use std::time::Duration;

use bufferevent::{Filter, FlushMode};
use bufferevent_filters::zlib::{Compression, Compressor, DecompressLimits, Decompressor, Format};
use common::{run_bounded, text};
use evbuffer::EvBuffer;

const FORMATS: [(Format, i32); 3] = [
    (Format::Deflate, -15),
    (Format::Zlib, 15),
    (Format::Gzip, 31),
];

fn contents(buf: &EvBuffer) -> Vec<u8> {
    buf.peek(..).flat_map(|e| e.iter().copied()).collect()
}

/// Runs Python code reading stdin and writing stdout, bounded to 60 s and 64 MiB of output.
fn python(code: &str, input: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(code);
    run_bounded(cmd, input, Duration::from_secs(60), 64 << 20)
}

/// Our compressor, fed in pieces, with a sync flush in the middle and FINISHED at the end.
fn ours_compress(format: Format, data: &[u8]) -> Vec<u8> {
    let mut z = Compressor::new(format, Compression::default());
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    for (i, piece) in data.chunks(70_001).enumerate() {
        src.add(piece).unwrap();
        let mode = if i % 3 == 1 {
            FlushMode::Flush
        } else {
            FlushMode::Normal
        };
        z.process(&mut src, &mut dst, None, mode).unwrap();
    }
    z.process(&mut src, &mut dst, None, FlushMode::Finished)
        .unwrap();
    contents(&dst)
}

fn ours_decompress(format: Format, wire: &[u8]) -> Vec<u8> {
    let mut d = Decompressor::with_limits(format, DecompressLimits::unlimited());
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    for piece in wire.chunks(4093) {
        src.add(piece).unwrap();
        d.process(&mut src, &mut dst, None, FlushMode::Normal)
            .unwrap();
    }
    d.process(&mut src, &mut dst, None, FlushMode::Finished)
        .unwrap();
    assert!(d.is_done());
    contents(&dst)
}

#[test]
fn c_zlib_inflates_our_streams() {
    if !cpeers::have_command(&["python3", "-c", "import zlib"], "python3") {
        return;
    }
    let data = text(1, 1_000_000);
    for (format, wbits) in FORMATS {
        let wire = ours_compress(format, &data);
        assert!(wire.len() < data.len() / 2, "{format:?} did not compress");
        let code = format!(
            "import sys,zlib\nd=zlib.decompressobj({wbits})\nout=d.decompress(sys.stdin.buffer.read())\nassert d.eof and not d.unused_data, 'stream not complete'\nsys.stdout.buffer.write(out)"
        );
        assert_eq!(python(&code, &wire), data, "{format:?}");
    }
}

#[test]
fn we_inflate_c_zlib_streams() {
    if !cpeers::have_command(&["python3", "-c", "import zlib"], "python3") {
        return;
    }
    let data = text(2, 1_000_000);
    for (format, wbits) in FORMATS {
        // C zlib with a Z_SYNC_FLUSH in the middle, and level 9.
        let code = format!(
            "import sys,zlib\nb=sys.stdin.buffer.read()\nc=zlib.compressobj(9,zlib.DEFLATED,{wbits})\nsys.stdout.buffer.write(c.compress(b[:300000])+c.flush(zlib.Z_SYNC_FLUSH)+c.compress(b[300000:])+c.flush())"
        );
        let wire = python(&code, &data);
        assert_eq!(ours_decompress(format, &wire), data, "{format:?}");
    }
}

#[test]
fn c_zlib_sees_everything_after_our_sync_flush() {
    if !cpeers::have_command(&["python3", "-c", "import zlib"], "python3") {
        return;
    }
    // After a FLUSH, C zlib can decompress all data written so far, without the trailer.
    let data = text(3, 50_000);
    for (format, wbits) in FORMATS {
        let mut z = Compressor::new(format, Compression::default());
        let mut src = EvBuffer::from(&data[..]);
        let mut dst = EvBuffer::new();
        z.process(&mut src, &mut dst, None, FlushMode::Flush)
            .unwrap();
        let code = format!(
            "import sys,zlib\nd=zlib.decompressobj({wbits})\nsys.stdout.buffer.write(d.decompress(sys.stdin.buffer.read()))"
        );
        assert_eq!(python(&code, &contents(&dst)), data, "{format:?}");
    }
}
