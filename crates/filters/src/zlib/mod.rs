//! Compression filters: deflate (raw, RFC 1951), zlib (RFC 1950) and gzip (RFC 1952), both
//! directions, on the pure-Rust zlib-rs (decompression through flate2; compression through
//! zlib-rs's zlib API, tuned so that each level compresses as C zlib's does).
//!
//! libevent's regression suite builds exactly these as hand-written filter callbacks around
//! C zlib (`test/regress_zlib.c`); here they are ready-made. The flush modes map onto zlib's:
//! NORMAL is `Z_NO_FLUSH` (compress what is there, output when zlib decides), FLUSH is
//! `Z_SYNC_FLUSH` (the peer can decode everything written so far), FINISHED is `Z_FINISH`
//! (the stream trailer). Streams interoperate with C zlib both ways.

mod deflate;
mod engine;
mod inflate;

pub use deflate::Compressor;
pub use engine::ZlibCode;
pub use flate2::Compression;
pub use inflate::{DecompressLimit, DecompressLimits, Decompressor};

/// The container around the deflate data.
///
/// libevent: none (zlib's `windowBits` choice in `deflateInit2`/`inflateInit2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Raw deflate, no header or checksum (zlib's `windowBits` -15).
    Deflate,
    /// zlib: 2-byte header, Adler-32 trailer (`windowBits` 15).
    Zlib,
    /// gzip: 10-byte header, CRC-32 and length trailer (`windowBits` 31). Decompression accepts
    /// concatenated members.
    Gzip,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Deflate => "deflate",
            Format::Zlib => "zlib",
            Format::Gzip => "gzip",
        }
    }
}

/// Output is produced in pieces of at most this many bytes per zlib call.
const CHUNK: usize = 32 * 1024;
