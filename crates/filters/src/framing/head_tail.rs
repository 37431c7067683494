//! Head/tail framing: the seed's filter server wraps each reply in `|--- HEAD ---|` and
//! `|--- END ---|\n`; its first server uses `================\n` on both sides.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use bytes::Bytes;
use evbuffer::EvBuffer;

use crate::util::{budget, status};
use crate::Error;

/// Wraps what each call finds in the source in a head and a tail marker.
///
/// Every call frames everything available (up to `dst_limit`) as one frame, whatever the flush
/// mode; an empty source produces nothing (no empty frames). Replaces the seed's `filter_out`
/// (a `bufferevent_filter_cb`) without its 1,023-byte truncation or NUL-terminated copy.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::framing::HeadTailEncoder;
///
/// let mut f = HeadTailEncoder::seed();
/// let (mut src, mut dst) = (EvBuffer::from(&b"get information: 10 bytes!"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n"[..]);
/// assert_eq!(dst.len(), 54); // the seed transcript's 54 bytes
/// ```
#[derive(Debug, Clone)]
pub struct HeadTailEncoder {
    head: Bytes,
    tail: Bytes,
}

impl HeadTailEncoder {
    /// Frames with the given markers.
    ///
    /// libevent: the seed's `filter_out` callback, with any markers.
    pub fn new(head: impl Into<Bytes>, tail: impl Into<Bytes>) -> Self {
        HeadTailEncoder {
            head: head.into(),
            tail: tail.into(),
        }
    }
    /// The seed's filter server (port 15000): `|--- HEAD ---|` … `|--- END ---|\n`.
    ///
    /// libevent: the seed's `filter_out` callback.
    pub fn seed() -> Self {
        Self::new(&b"|--- HEAD ---|"[..], &b"|--- END ---|\n"[..])
    }
    /// The seed's first filter server (port 5001): `================\n` on both sides.
    ///
    /// libevent: the seed's first filter server's output callback.
    pub fn rule() -> Self {
        Self::new(&b"================\n"[..], &b"================\n"[..])
    }
}

impl Filter for HeadTailEncoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        if src.is_empty() {
            return Ok(FilterStatus::NeedMore);
        }
        let overhead = self.head.len() + self.tail.len();
        // At least one byte per frame so that progress is always made; the frame may then
        // exceed the limit by the markers' length.
        let n = src.len().min(budget(limit).saturating_sub(overhead).max(1));
        dst.add_bytes(self.head.clone()).map_err(Error::from)?;
        src.remove_into(dst, n).map_err(Error::from)?;
        dst.add_bytes(self.tail.clone()).map_err(Error::from)?;
        Ok(status(n + overhead))
    }
}

/// Takes head/tail frames apart: checks the head marker, finds the tail marker, emits the
/// payload between them.
///
/// The payload must not contain the tail marker (the seed's format is not binary-safe: the
/// first tail marker ends the frame). Bytes before a head marker are an error, a frame whose
/// tail has not appeared within `max_frame` payload bytes is an error, and a partial frame at
/// FINISHED is an error; a partial frame otherwise waits in the source (`NeedMore`).
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::framing::HeadTailDecoder;
///
/// let mut f = HeadTailDecoder::seed(1024);
/// let mut src = EvBuffer::from(&b"|--- HEAD ---|hi|--- END ---|\n|--- HEAD ---|th"[..]);
/// let mut dst = EvBuffer::new();
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"hi"[..]);
/// assert_eq!(src.len(), 16); // the partial frame waits
/// ```
///
/// libevent: none (the seed's client prints frames as they come).
#[derive(Debug, Clone)]
pub struct HeadTailDecoder {
    head: Bytes,
    tail: Bytes,
    max_frame: usize,
    /// Payload bytes of the current frame already searched for the tail (no tail in them,
    /// except possibly a tail prefix at their end).
    scanned: usize,
    /// Offset of the current frame in the input stream (for error messages).
    offset: u64,
}

impl HeadTailDecoder {
    /// Decodes frames with the given markers and at most `max_frame` payload bytes each.
    ///
    /// # Panics
    /// If `head` or `tail` is empty (a frame could not be delimited).
    ///
    /// libevent: none (see [`HeadTailDecoder`]).
    pub fn new(head: impl Into<Bytes>, tail: impl Into<Bytes>, max_frame: usize) -> Self {
        let (head, tail) = (head.into(), tail.into());
        assert!(
            !head.is_empty() && !tail.is_empty(),
            "head and tail markers must not be empty"
        );
        HeadTailDecoder {
            head,
            tail,
            max_frame,
            scanned: 0,
            offset: 0,
        }
    }
    /// Decodes the seed's `|--- HEAD ---|` … `|--- END ---|\n` frames.
    ///
    /// libevent: none (see [`HeadTailDecoder`]).
    pub fn seed(max_frame: usize) -> Self {
        Self::new(&b"|--- HEAD ---|"[..], &b"|--- END ---|\n"[..], max_frame)
    }
    /// Decodes the seed's first server's `================\n` frames.
    ///
    /// libevent: none (see [`HeadTailDecoder`]).
    pub fn rule(max_frame: usize) -> Self {
        Self::new(
            &b"================\n"[..],
            &b"================\n"[..],
            max_frame,
        )
    }

    /// Looks for one whole frame at the start of `src`: `Ok(Some(payload_len))` when it is
    /// there, `Ok(None)` when more input is needed.
    ///
    /// The tail is searched for in place (`evbuffer_search_range`), from where the last
    /// unsuccessful search stopped: a frame arriving in many pieces is neither copied
    /// together nor scanned again.
    fn frame_len(&mut self, src: &mut EvBuffer) -> Result<Option<usize>, Error> {
        let (h, t) = (self.head.len(), self.tail.len());
        let have = src.len();
        let head_part = have.min(h);
        if src.pullup(head_part)? != &self.head[..head_part] {
            return Err(Error::BadFrame {
                what: "head/tail decoder",
                offset: self.offset,
                reason: format!(
                    "expected the head marker {:?}",
                    String::from_utf8_lossy(&self.head)
                ),
            });
        }
        if have < h {
            return Ok(None);
        }
        // The payload and its tail lie within `max_frame + t` bytes after the head.
        let window = have.min(h.saturating_add(self.max_frame).saturating_add(t));
        let body = window - h;
        let from = src.ptr_at(h + self.scanned.min(body))?;
        let end = src.ptr_at(window)?;
        if let Some(at) = src.search_range(&self.tail, Some(&from), Some(&end)) {
            return Ok(Some(at.position() - h));
        }
        // Keep a possible tail prefix at the end for the next search.
        self.scanned = body.saturating_sub(t - 1);
        if body >= self.max_frame.saturating_add(t) {
            return Err(Error::FrameTooLarge {
                what: "head/tail decoder",
                len: body as u64,
                max: self.max_frame,
            });
        }
        Ok(None)
    }
}

impl Filter for HeadTailDecoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let mut added = 0;
        while added < budget && !src.is_empty() {
            let Some(n) = self.frame_len(src)? else { break };
            src.drain(self.head.len()).map_err(Error::from)?;
            src.remove_into(dst, n).map_err(Error::from)?;
            src.drain(self.tail.len()).map_err(Error::from)?;
            self.offset += (self.head.len() + n + self.tail.len()) as u64;
            self.scanned = 0;
            added += n;
        }
        if mode == FlushMode::Finished && !src.is_empty() && added < budget {
            return Err(Error::Truncated {
                what: "head/tail decoder",
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

    #[test]
    fn encoder_frames_each_call() {
        for mode in [FlushMode::Normal, FlushMode::Flush, FlushMode::Finished] {
            let out = run_chunks(
                &mut HeadTailEncoder::seed(),
                &[b"ab", b"", b"c"],
                mode,
                None,
            )
            .unwrap();
            assert_eq!(
                out,
                b"|--- HEAD ---|ab|--- END ---|\n|--- HEAD ---|c|--- END ---|\n"
            );
        }
        let out = run_chunks(
            &mut HeadTailEncoder::rule(),
            &[b"HELLO, LIBEVENT 5001!\n"],
            FlushMode::Normal,
            Some(FlushMode::Finished),
        )
        .unwrap();
        assert_eq!(
            out,
            b"================\nHELLO, LIBEVENT 5001!\n================\n"
        );
        assert_eq!(out.len(), 56);
    }

    #[test]
    fn encoder_limit() {
        let mut f = HeadTailEncoder::new(&b"<"[..], &b">"[..]);
        let mut src = EvBuffer::from(&b"abcdef"[..]);
        let mut dst = EvBuffer::new();
        f.process(&mut src, &mut dst, Some(5), FlushMode::Normal)
            .unwrap();
        assert_eq!(dst, b"<abc>"[..]);
        f.process(&mut src, &mut dst, Some(1), FlushMode::Normal)
            .unwrap();
        assert_eq!(dst, b"<abc><d>"[..]);
    }

    #[test]
    fn decoder_all_splits() {
        let mut wire = Vec::new();
        for payload in [
            &b"get information: 10 bytes!"[..],
            b"x",
            b"|--- END --",
            b"\0\xff",
        ] {
            wire.extend_from_slice(b"|--- HEAD ---|");
            wire.extend_from_slice(payload);
            wire.extend_from_slice(b"|--- END ---|\n");
        }
        check_all_splits(
            || HeadTailDecoder::seed(64),
            &wire,
            b"get information: 10 bytes!x|--- END --\0\xff",
        );
    }

    #[test]
    fn decoder_roundtrip_with_encoder_any_split() {
        let data = pseudo_random(7, 300);
        let data: Vec<u8> = data.into_iter().map(|b| b'a' + b % 26).collect();
        for (i, mode) in (0..=data.len()).flat_map(|i| {
            [FlushMode::Normal, FlushMode::Flush, FlushMode::Finished].map(|m| (i, m))
        }) {
            let wire = run_chunks(
                &mut HeadTailEncoder::seed(),
                &[&data[..i], &data[i..]],
                mode,
                None,
            )
            .unwrap();
            let bytes: Vec<&[u8]> = wire.chunks(7).collect();
            let out = run_chunks(
                &mut HeadTailDecoder::seed(300),
                &bytes,
                FlushMode::Normal,
                Some(FlushMode::Finished),
            )
            .unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn a_frame_arriving_in_pieces_is_searched_in_place() {
        let mut f = HeadTailDecoder::seed(1 << 20);
        let (mut src, mut dst) = (EvBuffer::new(), EvBuffer::new());
        src.add_bytes(Bytes::from_static(b"|--- HEAD ---|"))
            .unwrap();
        for _ in 0..64 {
            src.add_bytes(Bytes::from(vec![b'x'; 4096])).unwrap();
            f.process(&mut src, &mut dst, None, FlushMode::Normal)
                .unwrap();
        }
        assert!(dst.is_empty());
        // not pulled up into one contiguous copy
        assert_eq!(src.chunk_count(), 65);
        src.add_bytes(Bytes::from_static(b"|--- END ---|\n"))
            .unwrap();
        f.process(&mut src, &mut dst, None, FlushMode::Normal)
            .unwrap();
        assert_eq!(dst.len(), 64 * 4096);
        assert!(src.is_empty());
    }

    #[test]
    fn decoder_errors() {
        let e = run_chunks(
            &mut HeadTailDecoder::seed(10),
            &[b"|--- HEX"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("head marker"), "{e}");
        let e = run_chunks(
            &mut HeadTailDecoder::seed(10),
            &[b"junk"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("byte 0"), "{e}");
        // Oversized: detected with at most max + tail bytes buffered, byte by byte too.
        let mut big = b"|--- HEAD ---|".to_vec();
        big.extend(std::iter::repeat_n(b'a', 100));
        let bytes: Vec<&[u8]> = big.chunks(1).collect();
        let mut f = HeadTailDecoder::seed(10);
        let mut src = EvBuffer::new();
        let mut dst = EvBuffer::new();
        let mut failed_at = None;
        for (i, b) in bytes.iter().enumerate() {
            src.add(b).unwrap();
            if let Err(e) = f.process(&mut src, &mut dst, None, FlushMode::Normal) {
                assert!(e.to_string().contains("exceeds the maximum of 10"), "{e}");
                failed_at = Some(i);
                break;
            }
        }
        assert_eq!(failed_at, Some(14 + 10 + 14 - 1));
        // Truncated at FINISHED.
        let e = run_chunks(
            &mut HeadTailDecoder::seed(10),
            &[b"|--- HEAD ---|ab"],
            FlushMode::Normal,
            Some(FlushMode::Finished),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ended inside a frame"), "{e}");
        // A second frame's garbage is reported at its offset.
        let e = run_chunks(
            &mut HeadTailDecoder::rule(10),
            &[b"================\nA================\nX"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("byte 35"), "{e}");
    }
}
