//! The decompressing side, bounded against decompression bombs.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;
use flate2::{Decompress, FlushDecompress, Status};

use super::{Format, CHUNK};
use crate::util::{budget, status};
use crate::Error;

/// Bounds on what a [`Decompressor`] will produce.
///
/// A decompression bomb (a small input expanding to gigabytes) becomes an error once a bound
/// is crossed, before the excess is added to the destination buffer.
///
/// libevent: none (its zlib test filter inflates without bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecompressLimits {
    /// Total decompressed bytes allowed over the stream's life (`None`: unbounded).
    pub max_output: Option<u64>,
    /// Largest allowed ratio of decompressed to compressed bytes (`None`: unbounded).
    pub max_ratio: Option<u64>,
    /// The ratio is only enforced once this many bytes have been decompressed, so that small,
    /// highly compressible messages pass.
    pub ratio_grace: u64,
}

impl Default for DecompressLimits {
    /// No size bound; a ratio of at most 256:1 once 1 MiB has been decompressed.
    fn default() -> Self {
        DecompressLimits {
            max_output: None,
            max_ratio: Some(256),
            ratio_grace: 1 << 20,
        }
    }
}

impl DecompressLimits {
    /// No bounds at all (only for trusted peers).
    ///
    /// libevent: none (see [`DecompressLimits`]).
    pub fn unlimited() -> Self {
        DecompressLimits {
            max_output: None,
            max_ratio: None,
            ratio_grace: 0,
        }
    }
}

/// Decompresses a deflate, zlib or gzip stream.
///
/// * NORMAL and FLUSH decompress everything available (a FLUSH has nothing more to force).
/// * FINISHED additionally checks that the stream is complete: a stream that was started but
///   not ended is an error (truncated). An input that never had a byte is not an error.
/// * After the end of a zlib or deflate stream, further bytes are an error; after the end of a
///   gzip member, a further member follows (RFC 1952 concatenation, as `gzip -d` does).
/// * With a `dst_limit`, decompression stops at the limit and the rest of the input waits in
///   the source; output zlib already owes for consumed input is still delivered when the source
///   is empty (a few hundred bytes at most), so nothing can stall inside the filter.
/// * [`DecompressLimits`] bound the total output and the expansion ratio.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use filters::zlib::{Compression, Compressor, DecompressLimits, Decompressor, Format};
///
/// // 10 MB of zeros compress to about 10 KB; refuse more than 1 MB of output.
/// let mut z = Compressor::new(Format::Zlib, Compression::best());
/// let (mut plain, mut wire) = (EvBuffer::from(vec![0u8; 10_000_000]), EvBuffer::new());
/// z.process(&mut plain, &mut wire, None, FlushMode::Finished).unwrap();
/// let limits = DecompressLimits { max_output: Some(1 << 20), ..DecompressLimits::default() };
/// let mut unz = Decompressor::with_limits(Format::Zlib, limits);
/// let err = unz.process(&mut wire, &mut EvBuffer::new(), None, FlushMode::Normal).unwrap_err();
/// assert!(err.to_string().contains("maximum output of 1048576 bytes"));
/// ```
///
/// libevent: the inflating input filter of its regression test (`test/regress_zlib.c`), which this replaces.
pub struct Decompressor {
    format: Format,
    z: Decompress,
    limits: DecompressLimits,
    /// The current stream (or gzip member) has ended.
    done: bool,
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
    /// A decompressor for `format` with [`DecompressLimits::default`].
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
        let format = self.format.name();
        if let Some(max) = self.limits.max_output {
            if self.total_out > max {
                return Err(Error::DecompressionLimit {
                    format,
                    output: self.total_out,
                    input: self.total_in,
                    limit: format!("the maximum output of {max} bytes"),
                });
            }
        }
        if let Some(ratio) = self.limits.max_ratio {
            if self.total_out > self.limits.ratio_grace
                && self.total_out > self.total_in.saturating_mul(ratio)
            {
                return Err(Error::DecompressionLimit {
                    format,
                    output: self.total_out,
                    input: self.total_in,
                    limit: format!("the maximum ratio of {ratio}:1"),
                });
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
        // Whether the last call filled its output (zlib may owe more for consumed input).
        let mut owed = false;
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
            }
            let input = src.peek(..).next().unwrap_or(&[]);
            if added >= budget && !(owed && input.is_empty()) {
                break;
            }
            let mut space =
                CHUNK
                    .min(budget.saturating_sub(added))
                    .max(if owed { CHUNK } else { 0 });
            if space == 0 {
                break;
            }
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
                return Err(e.into());
            }
            if produced > 0 {
                dst.add(&self.scratch[..produced])?;
                added += produced;
            }
            owed = produced == space;
            if st == Status::StreamEnd {
                self.done = true;
                owed = false;
                continue;
            }
            if consumed == 0 && produced == 0 {
                break;
            }
        }
        if mode == FlushMode::Finished && src.is_empty() && !self.done && self.total_in > 0 {
            return Err(Error::Truncated {
                what: self.what(),
                buffered: 0,
            }
            .into());
        }
        Ok(status(added))
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
    fn bombs_are_refused_without_buffering_them() {
        let zeros = vec![0u8; 4 << 20];
        for format in FORMATS {
            let wire = compress(format, &zeros);
            assert!(wire.len() < 100_000);
            // Ratio (default 256:1 after 1 MiB).
            let mut d = Decompressor::new(format);
            let mut dst = EvBuffer::new();
            let e = d
                .process(
                    &mut EvBuffer::from(&wire[..]),
                    &mut dst,
                    None,
                    FlushMode::Normal,
                )
                .unwrap_err();
            assert!(e.to_string().contains("maximum ratio of 256:1"), "{e}");
            assert!(dst.len() <= (1 << 20) + 2 * CHUNK, "{} buffered", dst.len());
            // Size.
            let limits = DecompressLimits {
                max_output: Some(100_000),
                ..DecompressLimits::unlimited()
            };
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
            assert!(e.to_string().contains("100001 bytes out"), "{e}");
            assert_eq!(dst.len(), 100_000);
            // Exactly at the maximum is fine.
            let limits = DecompressLimits {
                max_output: Some(zeros.len() as u64),
                ..DecompressLimits::unlimited()
            };
            let mut d = Decompressor::with_limits(format, limits);
            let mut dst = EvBuffer::new();
            d.process(
                &mut EvBuffer::from(&wire[..]),
                &mut dst,
                None,
                FlushMode::Finished,
            )
            .unwrap();
            assert_eq!(dst.len(), zeros.len());
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
