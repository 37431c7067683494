//! The compressing side.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;
use flate2::{Compression, FlushCompress, Status};

use super::engine::{Deflater, ZlibCode};
use super::{Format, CHUNK};
use crate::util::{budget, status};
use crate::Error;

/// Compresses its input as one deflate, zlib or gzip stream.
///
/// * NORMAL (`Z_NO_FLUSH`): all available input is consumed; output appears when zlib has a
///   block ready, so small writes may produce nothing yet.
/// * FLUSH (`Z_SYNC_FLUSH`): additionally everything consumed so far is output, ending on a
///   byte boundary, so the peer can decompress all of it now.
/// * FINISHED (`Z_FINISH`): the stream is ended with its trailer. Data written afterwards is an
///   error.
///
/// [`Compressor::auto_flush`] makes NORMAL behave as FLUSH.
///
/// Levels mean what they mean in C zlib (and so in libevent's zlib filters): the same match
/// search with the same parameters, on zlib-rs. zlib-rs's own levels 3 to 6 use a faster
/// search that compresses some data (records repeating far apart) three times worse.
///
/// With a `dst_limit`, output stops at the limit; the unfinished flush or finish is remembered
/// and completed by the next call whatever its mode, and [`Filter::wants_write`] says so.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::zlib::{Compression, Compressor, Decompressor, Format};
///
/// let mut z = Compressor::new(Format::Gzip, Compression::default());
/// let mut unz = Decompressor::new(Format::Gzip);
/// let (mut plain, mut wire, mut out) = (EvBuffer::from(&b"hello hello hello"[..]), EvBuffer::new(), EvBuffer::new());
/// z.process(&mut plain, &mut wire, None, FlushMode::Finished).unwrap();
/// unz.process(&mut wire, &mut out, None, FlushMode::Finished).unwrap();
/// assert_eq!(out, b"hello hello hello"[..]);
/// ```
///
/// libevent: the deflating output filter of its regression test (`test/regress_zlib.c`), which this replaces.
pub struct Compressor {
    format: Format,
    /// The zlib stream, or why it could not be set up (reported by the first call).
    z: Result<Deflater, ZlibCode>,
    /// A flush or finish that ran out of `dst_limit` and must be completed.
    pending: Option<FlushCompress>,
    finished: bool,
    /// NORMAL behaves as FLUSH.
    auto_flush: bool,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("format", &self.format)
            .field("total_in", &self.total_in())
            .field("total_out", &self.total_out())
            .field("finished", &self.finished)
            .finish()
    }
}

impl Compressor {
    /// A compressor producing `format` at `level`.
    ///
    /// libevent: `deflateInit2` in the `ctx` of its zlib test filter.
    pub fn new(format: Format, level: Compression) -> Self {
        let z = Deflater::new(format, level);
        Compressor {
            format,
            z,
            pending: None,
            finished: false,
            auto_flush: false,
            scratch: vec![0; CHUNK],
        }
    }
    /// Makes every NORMAL call a FLUSH (`Z_SYNC_FLUSH` after each write), for interactive
    /// protocols, and below a TLS filter, whose handshake records must reach the peer without
    /// waiting for more data. Costs a few bytes per call.
    ///
    /// libevent: calling `bufferevent_flush(bev, EV_WRITE, BEV_FLUSH)` after each write.
    pub fn auto_flush(mut self, on: bool) -> Self {
        self.auto_flush = on;
        self
    }
    /// Uncompressed bytes consumed so far.
    ///
    /// libevent: zlib's `z_stream.total_in`.
    pub fn total_in(&self) -> u64 {
        self.z.as_ref().map_or(0, Deflater::total_in)
    }
    /// Compressed bytes produced so far.
    ///
    /// libevent: zlib's `z_stream.total_out`.
    pub fn total_out(&self) -> u64 {
        self.z.as_ref().map_or(0, Deflater::total_out)
    }
    /// True once the stream trailer has been written.
    ///
    /// libevent: none (zlib's `Z_STREAM_END` from `deflate`).
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

fn rank(f: FlushCompress) -> u8 {
    match f {
        FlushCompress::Finish => 3,
        FlushCompress::Sync | FlushCompress::Full => 2,
        _ => 0,
    }
}

impl Filter for Compressor {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let what = self.format.name();
        if self.finished {
            if !src.is_empty() {
                return Err(Error::WriteAfterFinish {
                    what,
                    len: src.len(),
                }
                .into());
            }
            return Ok(FilterStatus::NeedMore);
        }
        let asked = match mode {
            FlushMode::Normal if !self.auto_flush => FlushCompress::None,
            FlushMode::Normal | FlushMode::Flush => FlushCompress::Sync,
            FlushMode::Finished => FlushCompress::Finish,
        };
        let want = match self.pending {
            Some(p) if rank(p) > rank(asked) => p,
            _ => asked,
        };
        let z = match &mut self.z {
            Ok(z) => z,
            Err(code) => {
                return Err(Error::Compress {
                    format: what,
                    source: *code,
                }
                .into())
            }
        };
        let budget = budget(limit);
        let mut added = 0;
        loop {
            let space = CHUNK.min(budget - added);
            if space == 0 {
                break;
            }
            let input = src.peek(..).next().unwrap_or(&[]);
            let input_len = input.len();
            let last_input = input_len == src.len();
            let flush = if last_input {
                want
            } else {
                FlushCompress::None
            };
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .compress(input, &mut self.scratch[..space], flush)
                .map_err(|source| Error::Compress {
                    format: what,
                    source,
                })?;
            let consumed = (z.total_in() - in0) as usize;
            let produced = (z.total_out() - out0) as usize;
            src.drain(consumed)?;
            if produced > 0 {
                dst.add(&self.scratch[..produced])?;
                added += produced;
            }
            if status == Status::StreamEnd {
                self.finished = true;
                self.pending = None;
                break;
            }
            if consumed == 0 && produced == 0 {
                break; // no progress possible (e.g. a repeated sync flush)
            }
            if !last_input || consumed < input_len {
                continue; // more input to feed
            }
            if produced == space {
                continue; // output was full: zlib may have more
            }
            // All input consumed and zlib stopped short of filling the output: the requested
            // flush (if any) is complete.
            if flush != FlushCompress::Finish {
                self.pending = None;
                break;
            }
        }
        if !self.finished && rank(want) > 0 && (added >= budget || !src.is_empty()) {
            self.pending = Some(want);
        }
        Ok(status(added))
    }

    /// True while a FLUSH or FINISHED stopped by `dst_limit` is incomplete.
    fn wants_write(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::zlib::{DecompressLimits, Decompressor};
    use crate::Chain;

    const FORMATS: [Format; 3] = [Format::Deflate, Format::Zlib, Format::Gzip];

    fn text(len: usize) -> Vec<u8> {
        pseudo_random(11, len)
            .into_iter()
            .map(|b| b"abcdefgh \n"[(b % 10) as usize])
            .collect()
    }

    fn inflate_all(format: Format, wire: &[u8]) -> Vec<u8> {
        let mut d = Decompressor::with_limits(format, DecompressLimits::unlimited());
        run_chunks(&mut d, &[wire], FlushMode::Normal, None).unwrap()
    }

    #[test]
    fn roundtrip_all_formats_modes_and_splits() {
        let data = text(300);
        for format in FORMATS {
            let make = || {
                Chain::new()
                    .then(Compressor::new(format, Compression::default()))
                    .then(Decompressor::new(format))
            };
            check_all_splits(make, &data, &data);
        }
    }

    #[test]
    fn normal_buffers_flush_syncs_finished_ends() {
        for format in FORMATS {
            let mut z = Compressor::new(format, Compression::default());
            let mut src = EvBuffer::new();
            let mut wire = EvBuffer::new();
            let mut sent = Vec::new();
            for piece in [&b"first "[..], b"second ", b"third"] {
                src.add(piece).unwrap();
                sent.extend_from_slice(piece);
                // NORMAL: consumed, but zlib keeps small input back (at most the header out).
                let before = wire.len();
                z.process(&mut src, &mut wire, None, FlushMode::Normal)
                    .unwrap();
                assert!(src.is_empty());
                let added = wire.len() - before;
                assert!(added <= 10, "{format:?}: {added} bytes after NORMAL");
                // FLUSH: the peer can decode all of it now, and the flush ends on 00 00 ff ff.
                z.process(&mut src, &mut wire, None, FlushMode::Flush)
                    .unwrap();
                let w = contents(&wire);
                assert_eq!(&w[w.len() - 4..], b"\x00\x00\xff\xff");
                assert_eq!(inflate_all(format, &w), sent, "{format:?}");
                // A second FLUSH with nothing new adds nothing.
                let before = wire.len();
                z.process(&mut src, &mut wire, None, FlushMode::Flush)
                    .unwrap();
                assert_eq!(wire.len(), before);
            }
            assert!(!z.is_finished());
            let st = z
                .process(&mut src, &mut wire, None, FlushMode::Finished)
                .unwrap();
            assert_eq!(st, FilterStatus::Ok);
            assert!(z.is_finished() && !z.wants_write());
            let mut d = Decompressor::new(format);
            let out = run_chunks(
                &mut d,
                &[&contents(&wire)],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
            assert_eq!(out, sent);
            assert!(d.is_done());
            // Data after FINISHED is refused; FINISHED again is a no-op.
            let st = z
                .process(&mut EvBuffer::new(), &mut wire, None, FlushMode::Finished)
                .unwrap();
            assert_eq!(st, FilterStatus::NeedMore);
            let e = z
                .process(
                    &mut EvBuffer::from(&b"x"[..]),
                    &mut wire,
                    None,
                    FlushMode::Normal,
                )
                .unwrap_err();
            assert!(
                e.to_string().contains("after the stream was finished"),
                "{e}"
            );
        }
    }

    #[test]
    fn auto_flush_makes_every_call_decodable() {
        for format in FORMATS {
            let mut z = Compressor::new(format, Compression::default()).auto_flush(true);
            let mut src = EvBuffer::new();
            let mut wire = EvBuffer::new();
            let mut sent = Vec::new();
            for piece in [&b"a"[..], b"bc", b"def"] {
                src.add(piece).unwrap();
                sent.extend_from_slice(piece);
                z.process(&mut src, &mut wire, None, FlushMode::Normal)
                    .unwrap();
                assert_eq!(inflate_all(format, &contents(&wire)), sent);
            }
        }
    }

    #[test]
    fn finished_on_empty_stream_writes_a_valid_empty_stream() {
        for format in FORMATS {
            let mut z = Compressor::new(format, Compression::fast());
            let wire =
                run_chunks(&mut z, &[], FlushMode::Normal, Some(FlushMode::Finished)).unwrap();
            assert!(!wire.is_empty());
            assert_eq!(inflate_all(format, &wire), b"");
        }
    }

    #[test]
    fn respects_dst_limit_and_completes_pending_flush() {
        let data = pseudo_random(4, 20_000); // incompressible
        for format in FORMATS {
            let mut z = Compressor::new(format, Compression::default());
            let mut src = EvBuffer::from(&data[..]);
            let mut wire = Vec::new();
            let mut dst = EvBuffer::new();
            // FLUSH under a 1000-byte limit: each call writes at most 1000 bytes, the flush
            // is remembered (wants_write) and completed by NORMAL calls.
            z.process(&mut src, &mut dst, Some(1000), FlushMode::Flush)
                .unwrap();
            assert!(dst.len() <= 1000);
            assert!(z.wants_write());
            let mut calls = 0;
            while z.wants_write() || !src.is_empty() {
                wire.extend(contents(&dst));
                dst.clear();
                z.process(&mut src, &mut dst, Some(1000), FlushMode::Normal)
                    .unwrap();
                assert!(dst.len() <= 1000);
                calls += 1;
                assert!(calls < 100);
            }
            wire.extend(contents(&dst));
            assert_eq!(inflate_all(format, &wire), data, "{format:?}");
            // FINISHED under a limit: also completed later.
            let mut dst = EvBuffer::new();
            let mut z = Compressor::new(format, Compression::default());
            let mut src = EvBuffer::from(&data[..]);
            z.process(&mut src, &mut dst, Some(50), FlushMode::Finished)
                .unwrap();
            assert!(!z.is_finished() && z.wants_write());
            let mut wire = contents(&dst);
            while !z.is_finished() {
                dst.clear();
                z.process(&mut src, &mut dst, Some(50), FlushMode::Normal)
                    .unwrap();
                wire.extend(contents(&dst));
            }
            assert_eq!(inflate_all(format, &wire), data);
        }
    }
}
