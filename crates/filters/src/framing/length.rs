//! Length-prefixed frames: a 1, 2, 4 or 8-byte big- or little-endian length, then that many
//! bytes.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use crate::util::{budget, status};
use crate::Error;

/// Size of the length field.
///
/// libevent: none (a length field read by hand with `evbuffer_copyout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// One byte (frames up to 255 bytes).
    One = 1,
    /// Two bytes (frames up to 65,535 bytes).
    Two = 2,
    /// Four bytes.
    Four = 4,
    /// Eight bytes.
    Eight = 8,
}

/// Byte order of the length field.
///
/// libevent: none (`ntohs`/`ntohl` on a field read by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Most significant byte first (network order).
    Big,
    /// Least significant byte first.
    Little,
}

/// The shape of a length-prefixed frame, shared by [`LengthEncoder`] and [`LengthDecoder`].
///
/// The length counts the payload only (not the length field). `max_frame` bounds the payload;
/// it is clamped to what the width can express.
///
/// libevent: none (length-prefixed frames parsed by hand with `evbuffer_copyout` and `evbuffer_remove_buffer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthPrefix {
    width: Width,
    endian: Endian,
    pub(super) max_frame: usize,
}

impl LengthPrefix {
    /// Default maximum payload: 8 MiB (clamped to the width).
    ///
    /// libevent: none (see [`LengthPrefix`]).
    pub const DEFAULT_MAX_FRAME: usize = 8 << 20;

    /// A big-endian prefix of `width` bytes, frames up to [`Self::DEFAULT_MAX_FRAME`].
    ///
    /// libevent: none (see [`LengthPrefix`]).
    pub fn new(width: Width) -> Self {
        LengthPrefix {
            width,
            endian: Endian::Big,
            max_frame: 0,
        }
        .max_frame(Self::DEFAULT_MAX_FRAME)
    }
    /// Sets the byte order.
    ///
    /// libevent: none (see [`LengthPrefix`]).
    pub fn endian(mut self, endian: Endian) -> Self {
        self.endian = endian;
        self
    }
    /// Sets the maximum payload length (clamped to 1 ..= what the width can express).
    ///
    /// libevent: none (see [`LengthPrefix`]).
    pub fn max_frame(mut self, max: usize) -> Self {
        let max = max.max(1);
        let width_max = match self.width {
            Width::Eight => u64::MAX,
            w => (1u64 << (8 * w as u32)) - 1,
        };
        self.max_frame = (max as u64).min(width_max) as usize;
        self
    }
    /// The maximum payload length in force.
    ///
    /// libevent: none (see [`LengthPrefix`]).
    pub fn max_frame_len(&self) -> usize {
        self.max_frame
    }
    pub(super) fn header_len(&self) -> usize {
        self.width as usize
    }
    pub(super) fn encode(&self, len: usize) -> ([u8; 8], usize) {
        let w = self.header_len();
        let mut out = [0u8; 8];
        match self.endian {
            Endian::Big => out[..w].copy_from_slice(&(len as u64).to_be_bytes()[8 - w..]),
            Endian::Little => out[..w].copy_from_slice(&(len as u64).to_le_bytes()[..w]),
        }
        (out, w)
    }
    pub(super) fn decode(&self, field: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        match self.endian {
            Endian::Big => {
                b[8 - field.len()..].copy_from_slice(field);
                u64::from_be_bytes(b)
            }
            Endian::Little => {
                b[..field.len()].copy_from_slice(field);
                u64::from_le_bytes(b)
            }
        }
    }
}

/// Prefixes what each call finds in the source with its length, as one or more frames of at
/// most `max_frame` bytes.
///
/// All flush modes behave alike; an empty source produces nothing (the encoder never emits an
/// empty frame). With a `dst_limit`, frames are produced until the limit is reached (at least
/// one frame of at least one byte per call).
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Width};
///
/// let fmt = LengthPrefix::new(Width::Two).max_frame(1024);
/// let (mut enc, mut dec) = (LengthEncoder::new(fmt), LengthDecoder::new(fmt));
/// let (mut plain, mut wire, mut out) = (EvBuffer::from(&b"hello"[..]), EvBuffer::new(), EvBuffer::new());
/// enc.process(&mut plain, &mut wire, None, FlushMode::Normal).unwrap();
/// assert_eq!(wire, b"\x00\x05hello"[..]);
/// dec.process(&mut wire, &mut out, None, FlushMode::Normal).unwrap();
/// assert_eq!(out, b"hello"[..]);
/// ```
///
/// libevent: an output `bufferevent_filter_cb` writing the length with `evbuffer_add` before `evbuffer_add_buffer`.
#[derive(Debug, Clone)]
pub struct LengthEncoder {
    pub(super) format: LengthPrefix,
}

impl LengthEncoder {
    /// An encoder for `format`.
    ///
    /// libevent: none (see [`LengthEncoder`]).
    pub fn new(format: LengthPrefix) -> Self {
        LengthEncoder { format }
    }
}

impl Filter for LengthEncoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let hdr = self.format.header_len();
        let max = self.format.max_frame;
        let mut added = 0;
        while !src.is_empty() && (added == 0 || added < budget) {
            let room = budget.saturating_sub(added + hdr).max(1);
            let n = src.len().min(max).min(room);
            let (field, w) = self.format.encode(n);
            dst.add(&field[..w]).map_err(Error::from)?;
            src.remove_into(dst, n).map_err(Error::from)?;
            added += w + n;
        }
        Ok(status(added))
    }
}

/// Strips length prefixes: emits each whole frame's payload once all of it has arrived.
///
/// A partial frame waits in the source (`NeedMore`) and is never copied; a length over
/// `max_frame` is an error as soon as the length field has arrived; a partial frame at FINISHED
/// is an error. With a `dst_limit` whole frames are emitted until the limit is reached, so one
/// call may exceed it by less than one frame.
///
/// libevent: an input `bufferevent_filter_cb` using `evbuffer_copyout` and `evbuffer_remove_buffer`, returning `BEV_NEED_MORE` on a partial frame.
#[derive(Debug, Clone)]
pub struct LengthDecoder {
    pub(super) format: LengthPrefix,
    pub(super) offset: u64,
}

impl LengthDecoder {
    /// A decoder for `format`.
    ///
    /// libevent: none (see [`LengthDecoder`]).
    pub fn new(format: LengthPrefix) -> Self {
        LengthDecoder { format, offset: 0 }
    }
}

impl Filter for LengthDecoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let hdr = self.format.header_len();
        let mut added = 0;
        while added < budget && src.len() >= hdr {
            let mut field = [0u8; 8];
            src.copy_out(&mut field[..hdr]).map_err(Error::from)?;
            let len = self.format.decode(&field[..hdr]);
            if len > self.format.max_frame as u64 {
                return Err(Error::FrameTooLarge {
                    what: "length decoder",
                    len,
                    max: self.format.max_frame,
                }
                .into());
            }
            let len = len as usize;
            if src.len() - hdr < len {
                break;
            }
            src.drain(hdr).map_err(Error::from)?;
            src.remove_into(dst, len).map_err(Error::from)?;
            self.offset += (hdr + len) as u64;
            added += len;
        }
        if mode == FlushMode::Finished && !src.is_empty() && added < budget {
            return Err(Error::Truncated {
                what: "length decoder",
                buffered: src.len(),
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

    fn formats() -> Vec<LengthPrefix> {
        let mut v = Vec::new();
        for w in [Width::One, Width::Two, Width::Four, Width::Eight] {
            for e in [Endian::Big, Endian::Little] {
                v.push(LengthPrefix::new(w).endian(e).max_frame(100));
            }
        }
        v
    }

    #[test]
    fn header_bytes() {
        let f = LengthPrefix::new(Width::Four).endian(Endian::Little);
        let out = run_chunks(
            &mut LengthEncoder::new(f),
            &[b"abc"],
            FlushMode::Normal,
            None,
        )
        .unwrap();
        assert_eq!(out, b"\x03\0\0\0abc");
        let f = LengthPrefix::new(Width::Eight);
        let out = run_chunks(
            &mut LengthEncoder::new(f),
            &[b"abc"],
            FlushMode::Normal,
            None,
        )
        .unwrap();
        assert_eq!(out, b"\0\0\0\0\0\0\0\x03abc");
        assert_eq!(LengthPrefix::new(Width::One).max_frame_len(), 255);
        assert_eq!(
            LengthPrefix::new(Width::Two)
                .max_frame(1 << 30)
                .max_frame_len(),
            65535
        );
    }

    #[test]
    fn decoder_all_splits_all_formats() {
        let payload = pseudo_random(3, 250);
        for fmt in formats() {
            // Frames of 0, 1, 100 (max) and the rest; zero-length frames are legal.
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for chunk in [
                &payload[..0],
                &payload[..1],
                &payload[1..101],
                &payload[101..150],
            ] {
                let (field, w) = fmt.encode(chunk.len());
                wire.extend_from_slice(&field[..w]);
                wire.extend_from_slice(chunk);
                expected.extend_from_slice(chunk);
            }
            check_all_splits(|| LengthDecoder::new(fmt), &wire, &expected);
        }
    }

    #[test]
    fn encoder_splits_big_writes_and_roundtrips() {
        let payload = pseudo_random(5, 777);
        for fmt in formats() {
            for mode in [FlushMode::Normal, FlushMode::Flush, FlushMode::Finished] {
                let wire = run_chunks(
                    &mut LengthEncoder::new(fmt),
                    &[&payload[..300], &payload[300..]],
                    mode,
                    None,
                )
                .unwrap();
                // 777 bytes as 100-byte frames: 8 frames each for 300 and 477 bytes -> 3+5 frames.
                assert_eq!(wire.len(), 777 + 8 * fmt.header_len());
                let out = run_chunks(
                    &mut LengthDecoder::new(fmt),
                    &[&wire],
                    FlushMode::Normal,
                    Some(FlushMode::Finished),
                )
                .unwrap();
                assert_eq!(out, payload);
            }
        }
        // Empty source: nothing, NeedMore.
        let mut e = LengthEncoder::new(LengthPrefix::new(Width::Two));
        let st = e
            .process(
                &mut EvBuffer::new(),
                &mut EvBuffer::new(),
                None,
                FlushMode::Finished,
            )
            .unwrap();
        assert_eq!(st, FilterStatus::NeedMore);
    }

    #[test]
    fn encoder_roundtrips_at_every_split_in_every_mode() {
        let payload = pseudo_random(6, 230);
        for fmt in formats() {
            for mode in [FlushMode::Normal, FlushMode::Flush, FlushMode::Finished] {
                for i in 0..=payload.len() {
                    let parts = [&payload[..i], &payload[i..]];
                    let wire =
                        run_chunks(&mut LengthEncoder::new(fmt), &parts, mode, None).unwrap();
                    // each call frames what it found, in frames of at most 100 bytes
                    let frames: usize = parts.iter().map(|p| p.len().div_ceil(100)).sum();
                    assert_eq!(wire.len(), payload.len() + frames * fmt.header_len());
                    let out = run_chunks(
                        &mut LengthDecoder::new(fmt),
                        &[&wire],
                        mode,
                        Some(FlushMode::Finished),
                    )
                    .unwrap();
                    assert_eq!(out, payload, "{fmt:?} {mode:?} split at {i}");
                }
            }
        }
    }

    #[test]
    fn limits() {
        let fmt = LengthPrefix::new(Width::One).max_frame(10);
        let payload = pseudo_random(9, 95);
        // Encoder under a small limit: frames stay within limit + header.
        let wire = run_limited(&mut LengthEncoder::new(fmt), &payload, 6, 1).unwrap();
        let out = run_limited(&mut LengthDecoder::new(fmt), &wire, 4, 10).unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn errors() {
        let fmt = LengthPrefix::new(Width::Four).max_frame(1000);
        // Oversized frame refused as soon as the header is complete, byte by byte.
        let mut d = LengthDecoder::new(fmt);
        let mut src = EvBuffer::new();
        let mut dst = EvBuffer::new();
        for (i, b) in b"\x00\x00\x03\xe9".iter().enumerate() {
            src.add(&[*b]).unwrap();
            let r = d.process(&mut src, &mut dst, None, FlushMode::Normal);
            if i < 3 {
                assert_eq!(r.unwrap(), FilterStatus::NeedMore);
            } else {
                let e = r.unwrap_err();
                assert!(
                    e.to_string()
                        .contains("frame of 1001 bytes exceeds the maximum of 1000"),
                    "{e}"
                );
            }
        }
        // A 2^64-1 length in 8 bytes.
        let e = run_chunks(
            &mut LengthDecoder::new(LengthPrefix::new(Width::Eight)),
            &[&[0xff; 8]],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("18446744073709551615"), "{e}");
        // Truncated at FINISHED: in the header and in the payload.
        for wire in [&b"\x00\x00"[..], b"\x00\x00\x00\x05abc"] {
            let e = run_chunks(
                &mut LengthDecoder::new(fmt),
                &[wire],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap_err();
            assert!(e.to_string().contains("ended inside a frame"), "{e}");
        }
    }
}
