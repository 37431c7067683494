//! The framing filters as tokio-util codecs, for programs on a plain tokio stream
//! (`tokio_util::codec::Framed`, `FramedRead`, `FramedWrite`) that want the same frames, limits
//! and errors as a bufferevent with these filters.
//!
//! * [`LengthDecoder`] decodes one frame's payload per item (`BytesMut`); [`LengthEncoder`]
//!   writes each item (`Bytes`) as one frame (an item over the maximum frame is an error, not split, so that items and
//!   frames stay one to one).
//! * [`Lines`] decodes one line per item (`BytesMut`, without its end of line, recognised with the same
//!   [`Eol`] styles and `max_line` bound as the filter) and encodes each item (`Bytes`, at
//!   most `max_line` bytes) followed by its terminator.
//!
//! Errors are the filters' own [`crate::Error`] (frame too large, line too long, truncated at
//! the end of the stream), which converts from `io::Error` as tokio-util requires.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bufferevent_filters::Error> {
//! use bytes::Bytes;
//! use evbuffer::Eol;
//! use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Lines, Width};
//! use futures::{SinkExt, StreamExt};
//! use tokio_util::codec::{FramedRead, FramedWrite};
//!
//! let (a, b) = tokio::io::duplex(1024);
//! let fmt = LengthPrefix::new(Width::Two);
//! let mut tx = FramedWrite::new(a, LengthEncoder::new(fmt));
//! let mut rx = FramedRead::new(b, LengthDecoder::new(fmt));
//! tx.send(Bytes::from_static(b"hello")).await?;
//! assert_eq!(&rx.next().await.unwrap()?[..], b"hello");
//! # let _ = Lines::new(Eol::Lf, 10);
//! # Ok(()) }
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use evbuffer::Eol;
use tokio_util::codec::{Decoder, Encoder};

use super::{LengthDecoder, LengthEncoder, Lines};
use crate::Error;

impl Decoder for LengthDecoder {
    type Item = BytesMut;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
        let hdr = self.format.header_len();
        if src.len() < hdr {
            return Ok(None);
        }
        let len = self.format.decode(&src[..hdr]);
        if len > self.format.max_frame as u64 {
            return Err(Error::FrameTooLarge {
                what: "length decoder",
                len,
                max: self.format.max_frame,
            });
        }
        let len = len as usize;
        if src.len() - hdr < len {
            src.reserve(hdr + len - src.len());
            return Ok(None);
        }
        src.advance(hdr);
        self.offset += (hdr + len) as u64;
        Ok(Some(src.split_to(len)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(Error::Truncated {
                what: "length decoder",
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Bytes> for LengthEncoder {
    type Error = Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Error> {
        if item.len() > self.format.max_frame {
            return Err(Error::FrameTooLarge {
                what: "length encoder",
                len: item.len() as u64,
                max: self.format.max_frame,
            });
        }
        let (field, w) = self.format.encode(item.len());
        dst.reserve(w + item.len());
        dst.put_slice(&field[..w]);
        dst.put_slice(&item);
        Ok(())
    }
}

/// The first end of line in `buf` for `eol`: `(line_len, eol_len)`. For [`Eol::Any`] the run
/// of CR and LF may continue past the end of `buf`; the caller handles that.
fn find_eol(buf: &[u8], eol: Eol) -> Option<(usize, usize)> {
    match eol {
        Eol::Lf => memchr::memchr(b'\n', buf).map(|i| (i, 1)),
        Eol::Nul => memchr::memchr(0, buf).map(|i| (i, 1)),
        Eol::Crlf => memchr::memchr(b'\n', buf).map(|i| {
            if i > 0 && buf[i - 1] == b'\r' {
                (i - 1, 2)
            } else {
                (i, 1)
            }
        }),
        Eol::CrlfStrict => {
            let mut from = 0;
            while let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
                let at = from + i;
                if at > 0 && buf[at - 1] == b'\r' {
                    return Some((at - 1, 2));
                }
                from = at + 1;
            }
            None
        }
        Eol::Any => memchr::memchr2(b'\r', b'\n', buf).map(|i| {
            let run = buf[i..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            (i, run)
        }),
    }
}

impl Lines {
    /// Drops the rest of a CR/LF run that ended the previous line (`Eol::Any`).
    fn skip_run_bytes(&mut self, src: &mut BytesMut) {
        if self.in_run {
            let n = src
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            src.advance(n);
            if !src.is_empty() {
                self.in_run = false;
            }
        }
    }
}

impl Decoder for Lines {
    type Item = BytesMut;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
        self.skip_run_bytes(src);
        // Resume the search where the last one stopped (less one byte: a CR there may begin
        // a CR LF), so a line arriving in many pieces is scanned once.
        let from = self.scanned.min(src.len());
        match find_eol(&src[from..], self.eol) {
            Some((at, term)) => {
                let line = from + at;
                if line > self.max_line {
                    return Err(Error::LineTooLong {
                        max: self.max_line,
                        seen: line,
                    });
                }
                self.scanned = 0;
                let out = src.split_to(line);
                src.advance(term);
                self.in_run = self.eol == Eol::Any;
                self.skip_run_bytes(src);
                self.line_no += 1;
                Ok(Some(out))
            }
            None if src.len() > self.max_line.saturating_add(1) => Err(Error::LineTooLong {
                max: self.max_line,
                seen: src.len(),
            }),
            None => {
                self.scanned = src.len().saturating_sub(1);
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
        match self.decode(src)? {
            Some(line) => Ok(Some(line)),
            None if src.is_empty() => Ok(None),
            None => {
                // A final unterminated line, as the filter passes at FINISHED.
                self.scanned = 0;
                self.line_no += 1;
                Ok(Some(src.split()))
            }
        }
    }
}

impl Encoder<Bytes> for Lines {
    type Error = Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Error> {
        if item.len() > self.max_line {
            return Err(Error::LineTooLong {
                max: self.max_line,
                seen: item.len(),
            });
        }
        dst.reserve(item.len() + self.terminator.len());
        dst.put_slice(&item);
        dst.put_slice(&self.terminator);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{LengthPrefix, Width};
    use crate::testutil::*;
    use bufferevent::{Filter, FlushMode};
    use evbuffer::EvBuffer;

    /// Decodes `wire` fed in pieces of `step` bytes, then at the end of the stream.
    fn decode_all<D: Decoder<Item = BytesMut, Error = Error>>(
        d: &mut D,
        wire: &[u8],
        step: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(item) = d.decode(&mut buf)? {
                items.push(item.to_vec());
            }
        }
        while let Some(item) = d.decode_eof(&mut buf)? {
            items.push(item.to_vec());
            if buf.is_empty() {
                break;
            }
        }
        Ok(items)
    }

    #[test]
    fn lines_decode_as_the_filter_does_whatever_the_split() {
        let input = b"a\nb\r\nc\r\r\nd\0e\n\nf";
        for eol in [Eol::Lf, Eol::Crlf, Eol::CrlfStrict, Eol::Nul, Eol::Any] {
            // The filter's output, with '|' after each line, is the reference.
            let filtered = run_chunks(
                &mut Lines::new(eol, 100).terminator(&b"|"[..]),
                &[input],
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
            for step in 1..=input.len() {
                let items = decode_all(&mut Lines::new(eol, 100), input, step).unwrap();
                let joined: Vec<u8> = items.iter().flat_map(|l| [&l[..], b"|"].concat()).collect();
                assert_eq!(joined, filtered, "{eol:?}, pieces of {step}");
            }
        }
    }

    #[test]
    fn lines_bound_and_encode() {
        let e = decode_all(&mut Lines::new(Eol::Lf, 4), b"abcdefgh\n", 3).unwrap_err();
        assert!(
            e.to_string().contains("no end of line within 4 bytes"),
            "{e}"
        );
        let e = decode_all(&mut Lines::new(Eol::Lf, 4), b"abcde\n", 100).unwrap_err();
        assert!(matches!(e, Error::LineTooLong { max: 4, seen: 5 }), "{e}");
        let mut out = BytesMut::new();
        let mut l = Lines::new(Eol::Crlf, 10).terminator(&b"\r\n"[..]);
        l.encode(Bytes::from_static(b"one"), &mut out).unwrap();
        l.encode(Bytes::from_static(b"two"), &mut out).unwrap();
        assert_eq!(&out[..], b"one\r\ntwo\r\n");
        assert!(l
            .encode(Bytes::from_static(b"eleven bytes"), &mut out)
            .is_err());
    }

    #[test]
    fn length_frames_match_the_filters_both_ways() {
        for width in [Width::One, Width::Two, Width::Four, Width::Eight] {
            let fmt = LengthPrefix::new(width).max_frame(200);
            let payloads: Vec<Vec<u8>> = [0usize, 1, 200, 37]
                .iter()
                .map(|&n| pseudo_random(n as u64 + 1, n))
                .collect();
            // Codec encoding == the filter's encoding of each payload as one write.
            let mut wire = BytesMut::new();
            let mut filtered = EvBuffer::new();
            for p in &payloads {
                LengthEncoder::new(fmt)
                    .encode(Bytes::copy_from_slice(p), &mut wire)
                    .unwrap();
                if !p.is_empty() {
                    LengthEncoder::new(fmt)
                        .process(
                            &mut EvBuffer::from(&p[..]),
                            &mut filtered,
                            None,
                            FlushMode::Normal,
                        )
                        .unwrap();
                }
            }
            let nonempty: Vec<u8> = payloads
                .iter()
                .filter(|p| !p.is_empty())
                .flat_map(|p| {
                    let mut b = BytesMut::new();
                    LengthEncoder::new(fmt)
                        .encode(Bytes::copy_from_slice(p), &mut b)
                        .unwrap();
                    b.to_vec()
                })
                .collect();
            assert_eq!(contents(&filtered), nonempty);
            for step in [1, 3, 1000] {
                let items = decode_all(&mut LengthDecoder::new(fmt), &wire, step).unwrap();
                assert_eq!(items, payloads, "{width:?}, pieces of {step}");
            }
            // Over the maximum: refused both ways.
            let e = LengthEncoder::new(fmt)
                .encode(Bytes::from(vec![0u8; 201]), &mut BytesMut::new())
                .unwrap_err();
            assert!(
                e.to_string()
                    .contains("201 bytes exceeds the maximum of 200"),
                "{e}"
            );
            let (field, w) = fmt.encode(201);
            let e = decode_all(&mut LengthDecoder::new(fmt), &field[..w], 1).unwrap_err();
            assert!(matches!(e, Error::FrameTooLarge { len: 201, .. }), "{e}");
            // Truncated at the end of the stream.
            let e =
                decode_all(&mut LengthDecoder::new(fmt), &wire[..wire.len() - 1], 7).unwrap_err();
            assert!(e.to_string().contains("stream ended inside a frame"), "{e}");
        }
    }
}
