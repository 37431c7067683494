//! The decompressing side: bounded by backpressure, so a decompression bomb costs no more
//! memory than the consumer's buffer, and limited in total only when the user asks.

use std::fmt;

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;
use flate2::{Decompress, FlushDecompress, Status};

use super::{Format, CHUNK};
use crate::util::{budget, status};
use crate::Error;

/// Opt-in bounds on what a [`Decompressor`] produces over a stream's life.
///
/// Memory needs none of them: a decompressor inflates only as much as its destination has
/// room for (the `limit` of [`Filter::process`], which a bufferevent derives from its input
/// bound) and resumes when the consumer drains, so a gigabyte of zeros compressed to a
/// megabyte is delivered through a bounded buffer, as any other data. These limits are for
/// applications that want to refuse a stream by its size or its expansion: crossing one
/// ends the stream with [`Error::DecompressionLimit`], which names the limit and the numbers.
///
/// The default has no limit.
///
/// ```
/// use bufferevent_filters::zlib::DecompressLimits;
///
/// let limits = DecompressLimits::default().max_output(64 << 20);
/// assert_eq!(limits.max_output, Some(64 << 20));
/// assert_eq!(limits.max_ratio, None);
/// ```
///
/// libevent: none (its zlib test filter inflates without bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecompressLimits {
    /// Total decompressed bytes allowed over the stream's life (`None`: unbounded).
    pub max_output: Option<u64>,
    /// Largest allowed ratio of decompressed to compressed bytes (`None`: unbounded).
    pub max_ratio: Option<u64>,
    /// The ratio is only enforced once this many bytes have been decompressed, so that small,
    /// highly compressible messages pass.
    pub ratio_grace: u64,
}

impl DecompressLimits {
    /// No limit (the default): memory is still bounded by backpressure.
    ///
    /// libevent: none (see [`DecompressLimits`]).
    pub fn unlimited() -> Self {
        Self::default()
    }
    /// Refuses a stream that decompresses to more than `bytes` in total.
    ///
    /// libevent: none (see [`DecompressLimits`]).
    pub fn max_output(mut self, bytes: u64) -> Self {
        self.max_output = Some(bytes);
        self
    }
    /// Refuses a stream whose decompressed size exceeds `ratio` times its compressed size,
    /// once more than `grace` bytes have been decompressed.
    ///
    /// libevent: none (see [`DecompressLimits`]).
    pub fn max_ratio(mut self, ratio: u64, grace: u64) -> Self {
        self.max_ratio = Some(ratio);
        self.ratio_grace = grace;
        self
    }
}

/// Which of the [`DecompressLimits`] a stream crossed, with its setting; carried by
/// [`Error::DecompressionLimit`].
///
/// libevent: none (see [`DecompressLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecompressLimit {
    /// [`DecompressLimits::max_output`]: at most this many bytes in total.
    MaxOutput(u64),
    /// [`DecompressLimits::max_ratio`]: at most `ratio` times the compressed size, once more
    /// than `grace` bytes have been decompressed.
    MaxRatio {
        /// The largest allowed ratio.
        ratio: u64,
        /// Bytes decompressed before the ratio is enforced.
        grace: u64,
    },
}

impl fmt::Display for DecompressLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressLimit::MaxOutput(max) => write!(
                f,
                "the maximum output of {max} bytes (DecompressLimits::max_output)"
            ),
            DecompressLimit::MaxRatio { ratio, grace } => write!(
                f,
                "the maximum expansion of {ratio}:1 after the first {grace} bytes \
                 (DecompressLimits::max_ratio)"
            ),
        }
    }
}

/// Decompresses a deflate, zlib or gzip stream.
///
/// * NORMAL and FLUSH decompress what is available, up to `limit` (a FLUSH has nothing more
///   to force).
/// * FINISHED additionally checks that the stream is complete: a stream that was started but
///   not ended is an error (truncated). An input that never had a byte is not an error.
/// * After the end of a zlib or deflate stream, further bytes are an error; after the end of a
///   gzip member, a further member follows (RFC 1952 concatenation, as `gzip -d` does).
/// * Backpressure: with a `limit`, a call adds at most `limit` bytes to `dst`; the rest of
///   the input waits in the source, and output zlib already owes for input it consumed waits
///   inside zlib (at most its 32 KiB window), which [`Filter::wants_write`] reports so that a
///   bufferevent calls again once its consumer drained. A bomb is thereby as harmless as any
///   large stream: it is delivered at the consumer's pace through bounded buffers.
/// * [`DecompressLimits`] (none by default) refuse a stream by total size or expansion ratio:
///   the call that crosses one adds the output up to the limit to `dst`, then returns
///   [`Error::DecompressionLimit`] (on a bufferevent: those bytes are in the input when the
///   `ERROR` event reports the error).
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::zlib::{Compression, Compressor, DecompressLimits, Decompressor, Format};
///
/// // 10 MB of zeros compress to about 10 KB.
/// let mut z = Compressor::new(Format::Zlib, Compression::best());
/// let (mut plain, mut wire) = (EvBuffer::from(vec![0u8; 10_000_000]), EvBuffer::new());
/// z.process(&mut plain, &mut wire, None, FlushMode::Finished).unwrap();
/// let compressed: Vec<u8> = wire.peek(..).flatten().copied().collect();
///
/// // Backpressure: a consumer with room for 64 KiB gets 64 KiB; the rest waits.
/// let mut unz = Decompressor::new(Format::Zlib);
/// let mut out = EvBuffer::new();
/// unz.process(&mut wire, &mut out, Some(64 << 10), FlushMode::Normal).unwrap();
/// assert_eq!(out.len(), 64 << 10);
/// assert!(!wire.is_empty());
///
/// // An explicit limit: refuse more than 1 MiB of output, and say so.
/// let limits = DecompressLimits::default().max_output(1 << 20);
/// let mut unz = Decompressor::with_limits(Format::Zlib, limits);
/// let mut wire = EvBuffer::from(compressed);
/// let err = unz.process(&mut wire, &mut EvBuffer::new(), None, FlushMode::Normal).unwrap_err();
/// assert!(err.to_string().contains("the maximum output of 1048576 bytes"), "{err}");
/// ```
///
/// libevent: the inflating input filter of its regression test (`test/regress_zlib.c`), which this replaces.
pub struct Decompressor {
    format: Format,
    z: Decompress,
    limits: DecompressLimits,
    /// The current stream (or gzip member) has ended.
    done: bool,
    /// The last zlib call filled its output: zlib may owe output for input it consumed.
    owed: bool,
    total_in: u64,
    total_out: u64,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("format", &self.format)
            .field("total_in", &self.total_in)
            .field("total_out", &self.total_out)
            .field("done", &self.done)
            .field("owed", &self.owed)
            .finish()
    }
}

fn new_state(format: Format) -> Decompress {
    match format {
        Format::Deflate => Decompress::new(false),
        Format::Zlib => Decompress::new(true),
        Format::Gzip => Decompress::new_gzip(15),
    }
}

impl Decompressor {
    /// A decompressor for `format` with no total limit ([`DecompressLimits::default`]).
    ///
    /// libevent: `inflateInit2` in the `ctx` of its zlib test filter.
    pub fn new(format: Format) -> Self {
        Self::with_limits(format, DecompressLimits::default())
    }
    /// A decompressor for `format` with the given limits.
    ///
    /// libevent: none (see [`DecompressLimits`]).
    pub fn with_limits(format: Format, limits: DecompressLimits) -> Self {
        Decompressor {
            format,
            z: new_state(format),
            limits,
            done: false,
            owed: false,
            total_in: 0,
            total_out: 0,
            scratch: vec![0; CHUNK],
        }
    }
    /// Compressed bytes consumed so far.
    ///
    /// libevent: zlib's `z_stream.total_in`.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }
    /// Decompressed bytes produced so far.
    ///
    /// libevent: zlib's `z_stream.total_out`.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }
    /// True when the input seen so far ends exactly at the end of a stream (or gzip member).
    ///
    /// libevent: none (zlib's `Z_STREAM_END` from `inflate`).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn what(&self) -> &'static str {
        match self.format {
            Format::Deflate => "deflate decompressor",
            Format::Zlib => "zlib decompressor",
            Format::Gzip => "gzip decompressor",
        }
    }

    fn check_limits(&self) -> Result<(), Error> {
        let crossed = |limit| Error::DecompressionLimit {
            format: self.format.name(),
            output: self.total_out,
            input: self.total_in,
            limit,
        };
        if let Some(max) = self.limits.max_output {
            if self.total_out > max {
                return Err(crossed(DecompressLimit::MaxOutput(max)));
            }
        }
        if let Some(ratio) = self.limits.max_ratio {
            let grace = self.limits.ratio_grace;
            if self.total_out > grace && self.total_out > self.total_in.saturating_mul(ratio) {
                return Err(crossed(DecompressLimit::MaxRatio { ratio, grace }));
            }
        }
        Ok(())
    }
}

impl Filter for Decompressor {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let mut added = 0;
        loop {
            if self.done {
                if src.is_empty() {
                    break;
                }
                if self.format != Format::Gzip {
                    return Err(Error::TrailingData {
                        format: self.format.name(),
                        extra: src.len(),
                    }
                    .into());
                }
                self.z = new_state(self.format);
                self.done = false;
                self.owed = false;
            }
            let input = src.peek(..).next().unwrap_or(&[]);
            if added >= budget || (input.is_empty() && !self.owed) {
                break;
            }
            let mut space = CHUNK.min(budget - added);
            if let Some(max) = self.limits.max_output {
                // One byte past the maximum is enough to know it is crossed.
                space = space.min(
                    max.saturating_sub(self.total_out)
                        .saturating_add(1)
                        .min(CHUNK as u64) as usize,
                );
            }
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let st = self
                .z
                .decompress(input, &mut self.scratch[..space], FlushDecompress::None)
                .map_err(|source| Error::Decompress {
                    format: self.format.name(),
                    offset: self.total_in,
                    source,
                })?;
            let consumed = (self.z.total_in() - in0) as usize;
            let produced = (self.z.total_out() - out0) as usize;
            src.drain(consumed)?;
            self.total_in += consumed as u64;
            self.total_out += produced as u64;
            if let Err(e) = self.check_limits() {
                // Deliver what is within the maximum output, then refuse the rest.
                let over = self
                    .limits
                    .max_output
                    .map_or(0, |m| self.total_out.saturating_sub(m));
                let within = produced.saturating_sub(over as usize);
                if over > 0 && within > 0 {
                    dst.add(&self.scratch[..within])?;
                }
                self.owed = false;
                return Err(e.into());
            }
            if produced > 0 {
                dst.add(&self.scratch[..produced])?;
                added += produced;
            }
            self.owed = produced == space;
            if st == Status::StreamEnd {
                self.done = true;
                self.owed = false;
                continue;
            }
            if consumed == 0 && produced == 0 {
                break;
            }
        }
        if mode == FlushMode::Finished
            && src.is_empty()
            && !self.owed
            && !self.done
            && self.total_in > 0
        {
            return Err(Error::Truncated {
                what: self.what(),
                buffered: 0,
            }
            .into());
        }
        Ok(status(added))
    }

    /// True while zlib may owe output for input it already consumed (a call stopped by
    /// `limit` with its output full): a call with an empty source delivers it.
    fn wants_write(&self) -> bool {
        self.owed && !self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::zlib::{Compression, Compressor};

    const FORMATS: [Format; 3] = [Format::Deflate, Format::Zlib, Format::Gzip];

    fn compress(format: Format, data: &[u8]) -> Vec<u8> {
        let mut z = Compressor::new(format, Compression::default());
        run_chunks(&mut z, &[data], FlushMode::Finished, None).unwrap()
    }

    #[test]
    fn all_splits_all_modes() {
        let data: Vec<u8> = (0..400u32)
            .map(|i| b"the quick brown fox "[(i % 20) as usize])
            .collect();
        for format in FORMATS {
            let wire = compress(format, &data);
            check_all_splits(|| Decompressor::new(format), &wire, &data);
        }
    }

    #[test]
    fn gzip_members_concatenate() {
        let mut wire = compress(Format::Gzip, b"one ");
        wire.extend(compress(Format::Gzip, b"two"));
        check_all_splits(|| Decompressor::new(Format::Gzip), &wire, b"one two");
    }

    #[test]
    fn trailing_data_after_zlib_and_deflate_end() {
        for format in [Format::Deflate, Format::Zlib] {
            let mut wire = compress(format, b"abc");
            wire.extend_from_slice(b"junk");
            let e = run_chunks(
                &mut Decompressor::new(format),
                &[&wire],
                FlushMode::Normal,
                None,
            )
            .unwrap_err();
            assert!(e.to_string().contains("4 bytes after the end"), "{e}");
        }
    }

    #[test]
    fn truncated_and_corrupt() {
        for format in FORMATS {
            let wire = compress(format, &pseudo_random(1, 1000));
            let cut = &wire[..wire.len() - 3];
            let e = run_chunks(
                &mut Decompressor::new(format),
                &[cut],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap_err();
            assert!(
                e.to_string().contains("ended inside a frame"),
                "{format:?}: {e}"
            );
            // Without FINISHED a truncated stream just waits.
            run_chunks(
                &mut Decompressor::new(format),
                &[cut],
                FlushMode::Flush,
                None,
            )
            .unwrap();
            // Corruption: a bad header, or garbage.
            let e = run_chunks(
                &mut Decompressor::new(format),
                &[b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"],
                FlushMode::Normal,
                None,
            )
            .unwrap_err();
            assert!(
                e.to_string().contains("corrupt at compressed byte 0"),
                "{format:?}: {e}"
            );
            // An empty input is not an error at FINISHED.
            run_chunks(
                &mut Decompressor::new(format),
                &[],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
        }
    }

    #[test]
    fn compressible_data_passes_by_default_at_the_consumers_pace() {
        let zeros = vec![0u8; 4 << 20];
        for format in FORMATS {
            let wire = compress(format, &zeros);
            assert!(wire.len() < 100_000);
            // No limit by default: all 4 MiB come out of one unlimited call.
            let out = run_chunks(
                &mut Decompressor::new(format),
                &[&wire],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
            assert!(out == zeros, "{format:?}: {} bytes", out.len());
            // Backpressure: each call adds at most the room it is given; what zlib owes for
            // consumed input is reported by wants_write and delivered with an empty source.
            // The input arrives a byte at a time and each call has room for 100 bytes: one
            // byte of zeros' deflate stream is worth more than that, so zlib consumes its
            // whole input and still owes output.
            let small = compress(format, &zeros[..256 << 10]);
            let mut d = Decompressor::new(format);
            let mut pieces = small.chunks(1);
            let mut src = EvBuffer::new();
            let mut dst = EvBuffer::new();
            let mut total = 0;
            let mut owed_with_empty_src = false;
            for _ in 0..1_000_000 {
                if src.is_empty() && !d.wants_write() {
                    match pieces.next() {
                        Some(p) => src.add(p).unwrap(),
                        None => break,
                    }
                }
                owed_with_empty_src |= src.is_empty() && d.wants_write();
                d.process(&mut src, &mut dst, Some(100), FlushMode::Normal)
                    .unwrap();
                assert!(dst.len() <= 100, "{} bytes in one call", dst.len());
                assert!(contents(&dst).iter().all(|&b| b == 0));
                total += dst.len();
                dst.clear();
            }
            assert_eq!(total, 256 << 10, "{format:?}");
            assert!(
                owed_with_empty_src,
                "{format:?}: zlib never held owed output"
            );
            d.process(&mut src, &mut dst, None, FlushMode::Finished)
                .unwrap();
            assert!(dst.is_empty() && d.is_done());
        }
    }

    #[test]
    fn opt_in_limits_refuse_with_the_limit_and_the_numbers() {
        let zeros = vec![0u8; 4 << 20];
        for format in FORMATS {
            let wire = compress(format, &zeros);
            // Size: everything up to the maximum is delivered, then the error.
            let limits = DecompressLimits::default().max_output(100_000);
            let mut d = Decompressor::with_limits(format, limits);
            let mut dst = EvBuffer::new();
            let e = d
                .process(
                    &mut EvBuffer::from(&wire[..]),
                    &mut dst,
                    None,
                    FlushMode::Normal,
                )
                .unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("limit exceeded: {} decompression stopped at compressed byte ", format.name()))
                    && msg.contains(": 100001 bytes decompressed exceed the maximum output of 100000 bytes (DecompressLimits::max_output)"),
                "{msg}"
            );
            assert_eq!(dst.len(), 100_000);
            let inner = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<Error>())
                .expect("the filters::Error is kept as the source");
            match inner {
                Error::DecompressionLimit {
                    limit,
                    output,
                    input,
                    ..
                } => {
                    assert_eq!(*limit, DecompressLimit::MaxOutput(100_000));
                    assert_eq!(*output, 100_001);
                    assert!(*input > 0 && *input < wire.len() as u64);
                }
                other => panic!("{other:?}"),
            }
            // Exactly at the maximum is fine.
            let limits = DecompressLimits::default().max_output(zeros.len() as u64);
            let out = run_chunks(
                &mut Decompressor::with_limits(format, limits),
                &[&wire],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
            assert_eq!(out.len(), zeros.len());
            // Ratio, after its grace.
            let limits = DecompressLimits::default().max_ratio(256, 1 << 20);
            let mut d = Decompressor::with_limits(format, limits);
            let mut dst = EvBuffer::new();
            let e = d
                .process(
                    &mut EvBuffer::from(&wire[..]),
                    &mut dst,
                    None,
                    FlushMode::Normal,
                )
                .unwrap_err();
            assert!(
                e.to_string().contains(
                    "exceed the maximum expansion of 256:1 after the first 1048576 bytes"
                ),
                "{e}"
            );
            assert!(dst.len() <= (1 << 20) + CHUNK, "{} buffered", dst.len());
        }
    }

    #[test]
    fn dst_limit() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        for format in FORMATS {
            let wire = compress(format, &data);
            let mut d = Decompressor::with_limits(format, DecompressLimits::unlimited());
            let out = run_limited(&mut d, &wire, 1000, 1000).unwrap();
            assert_eq!(out, data);
        }
    }
}
