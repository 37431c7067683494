//! The compression engine: zlib-rs through its zlib-compatible C API, tuned so that a level
//! searches for matches exactly as C zlib's level does.
//!
//! Why not flate2's `Compress`: zlib-rs, following zlib-ng, replaced C zlib's lazy match search
//! at levels 3 to 6 with a faster "medium" search that does not index the positions inside long
//! matches, so it misses repeats at far distances. On data made of 128-byte records repeating
//! 32 KiB apart (the zlib echo benchmark's) its level 6 compresses 40:1 where C zlib's level 6
//! (libevent's, every C peer's) compresses 131:1, and an echo server sent three times the bytes
//! libevent's sends. Going one level up is no fix: zlib-rs's level 7 searches twice as long as
//! C zlib's level 6 and costs about twice its CPU on text. flate2 does not expose
//! `deflateTune`, zlib's knob for exactly this, so this module calls zlib-rs's `deflateInit2_`,
//! `deflateTune`, `deflate` and `deflateEnd` itself: each level gets C zlib's algorithm (fast
//! search for 1 to 3, lazy search for 4 to 9) and C zlib's parameters (good, lazy, nice and
//! chain lengths from its `configuration_table`). The result compresses like C zlib at every
//! level, in about C zlib's time or less.
//!
//! This is the crate's only `unsafe` code: raw calls into zlib-rs's C API on a heap-pinned
//! `z_stream`, each with its safety argument, tested by the compressor's tests and by C zlib
//! (python3) inflating the output in `tests/zlib_interop.rs`.
#![allow(unsafe_code)]

use std::ffi::c_int;

use flate2::{Compression, FlushCompress, Status};
use libz_rs_sys as z;

use super::Format;

/// zlib's return codes used here (zlib.h).
const Z_OK: c_int = 0;
const Z_STREAM_END: c_int = 1;
const Z_BUF_ERROR: c_int = -5;
const Z_DEFLATED: c_int = 8;
const Z_DEFAULT_STRATEGY: c_int = 0;

/// C zlib's `configuration_table` (deflate.c): for each level, the zlib-rs level whose search
/// algorithm C zlib uses at that level (2: fast, 7: lazy; 0: stored), and C zlib's good, lazy,
/// nice and chain lengths.
const TABLE: [(c_int, [c_int; 4]); 10] = [
    (0, [0, 0, 0, 0]),
    (2, [4, 4, 8, 4]),
    (2, [4, 5, 16, 8]),
    (2, [4, 6, 32, 32]),
    (7, [4, 4, 16, 16]),
    (7, [8, 16, 32, 32]),
    (7, [8, 16, 128, 128]),
    (7, [8, 32, 128, 256]),
    (8, [32, 128, 258, 1024]),
    (9, [32, 258, 258, 4096]),
];

/// A deflate stream (raw, zlib or gzip) on zlib-rs with C zlib's level semantics.
pub(crate) struct Deflater {
    /// Boxed: zlib's state keeps a pointer back to its `z_stream` and checks it on every call,
    /// so the stream must not move after `deflateInit2_`.
    strm: Box<z::z_stream>,
}

// SAFETY: the `z_stream` and the state it points to are owned by this value alone (allocated
// by `deflateInit2_`, freed by `deflateEnd` in `Drop`); the raw input/output pointers are set
// just before each `deflate` call and never used after it returns, so moving the owner to
// another thread between calls is sound (zlib streams are not tied to a thread).
unsafe impl Send for Deflater {}

/// zlib refused an operation: its return code (`Z_STREAM_ERROR`, `Z_MEM_ERROR`...), carried
/// by [`Error::Compress`](crate::Error::Compress).
///
/// libevent: none (its zlib test filter returns `BEV_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZlibCode(
    /// zlib's return code.
    pub i32,
);

impl std::fmt::Display for ZlibCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.0 {
            -2 => "stream error",
            -3 => "data error",
            -4 => "out of memory",
            -6 => "version error",
            _ => "error",
        };
        write!(f, "zlib {what} (code {})", self.0)
    }
}

impl std::error::Error for ZlibCode {}

impl Deflater {
    /// A stream producing `format` at C zlib's `level` (0 to 9; higher is taken as 9).
    pub(crate) fn new(format: Format, level: Compression) -> Result<Self, ZlibCode> {
        let (engine_level, [good, lazy, nice, chain]) = TABLE[(level.level() as usize).min(9)];
        let window_bits = match format {
            Format::Deflate => -15,
            Format::Zlib => 15,
            Format::Gzip => 31,
        };
        let mut strm = Box::new(z::z_stream::default());
        // SAFETY: `strm` is a valid, default-initialised `z_stream` (null allocators: zlib-rs
        // uses its own) at a stable heap address; the version and size are the library's own.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *strm,
                engine_level,
                Z_DEFLATED,
                window_bits,
                8,
                Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        if rc != Z_OK {
            return Err(ZlibCode(rc));
        }
        let mut deflater = Deflater { strm };
        if engine_level != 0 {
            // SAFETY: the stream was initialised by `deflateInit2_` above and is not in use.
            let rc = unsafe { z::deflateTune(&mut *deflater.strm, good, lazy, nice, chain) };
            if rc != Z_OK {
                return Err(ZlibCode(rc));
            }
        }
        Ok(deflater)
    }

    /// Uncompressed bytes consumed so far.
    #[allow(clippy::unnecessary_cast)] // zlib's `uLong` is 32 bits on some targets
    pub(crate) fn total_in(&self) -> u64 {
        self.strm.total_in as u64
    }

    /// Compressed bytes produced so far.
    #[allow(clippy::unnecessary_cast)] // zlib's `uLong` is 32 bits on some targets
    pub(crate) fn total_out(&self) -> u64 {
        self.strm.total_out as u64
    }

    /// One `deflate` call: consumes from `input`, writes to `output`; the totals say how much.
    /// `Status::BufError` means no progress was possible (zlib's `Z_BUF_ERROR`, not an error).
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        flush: FlushCompress,
    ) -> Result<Status, ZlibCode> {
        let flush = match flush {
            FlushCompress::None => 0,
            FlushCompress::Partial => 1,
            FlushCompress::Sync => 2,
            FlushCompress::Full => 3,
            FlushCompress::Finish => 4,
            _ => 2,
        };
        let input = &input[..input.len().min(u32::MAX as usize)];
        let out_len = output.len().min(u32::MAX as usize);
        self.strm.next_in = input.as_ptr();
        self.strm.avail_in = input.len() as u32;
        self.strm.next_out = output.as_mut_ptr();
        self.strm.avail_out = out_len as u32;
        // SAFETY: the stream is initialised; `next_in`/`avail_in` describe the live shared
        // borrow `input` and `next_out`/`avail_out` the live exclusive borrow `output`, both
        // outliving this call; zlib reads at most `avail_in` and writes at most `avail_out`.
        let rc = unsafe { z::deflate(&mut *self.strm, flush) };
        // The borrows end here: no pointer into them is kept.
        self.strm.next_in = std::ptr::null();
        self.strm.avail_in = 0;
        self.strm.next_out = std::ptr::null_mut();
        self.strm.avail_out = 0;
        match rc {
            Z_OK => Ok(Status::Ok),
            Z_STREAM_END => Ok(Status::StreamEnd),
            Z_BUF_ERROR => Ok(Status::BufError),
            rc => Err(ZlibCode(rc)),
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by `deflateInit2_` and is ended exactly once.
        unsafe {
            z::deflateEnd(&mut *self.strm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n3_data(len: usize) -> Vec<u8> {
        let text = b"bufferevent evbuffer filter zlib deflate libevent\ntokio rust buff";
        let mut d = Vec::with_capacity(len + 128);
        while d.len() < len {
            for _ in 0..64 {
                d.push((d.len() % 251) as u8);
            }
            d.extend_from_slice(&text[..64]);
        }
        d.truncate(len);
        d
    }

    fn deflate_all(level: u32, data: &[u8]) -> Vec<u8> {
        let mut d = Deflater::new(Format::Zlib, Compression::new(level)).unwrap();
        let mut out = vec![0; data.len() + 1024];
        let st = d.compress(data, &mut out, FlushCompress::Finish).unwrap();
        assert_eq!(st, Status::StreamEnd);
        assert_eq!(d.total_in(), data.len() as u64);
        out.truncate(d.total_out() as usize);
        out
    }

    #[test]
    fn every_level_round_trips() {
        let data = n3_data(200_000);
        for level in 0..=9 {
            let wire = deflate_all(level, &data);
            let mut back = Vec::with_capacity(data.len());
            flate2::Decompress::new(true)
                .decompress_vec(&wire, &mut back, flate2::FlushDecompress::Finish)
                .unwrap();
            assert!(back == data, "level {level}");
        }
    }

    #[test]
    fn level_six_finds_far_repeats_as_c_zlib_does() {
        // 128-byte records repeating 32128 bytes apart: C zlib's level 6 compresses about
        // 130:1 (zlib-rs's own level 6, about 40:1).
        let data = n3_data(2 << 20);
        let ratio = data.len() / deflate_all(6, &data).len();
        assert!(ratio >= 120, "level 6 compressed only {ratio}:1");
    }

    #[test]
    fn errors_name_the_code() {
        assert_eq!(ZlibCode(-2).to_string(), "zlib stream error (code -2)");
    }
}
