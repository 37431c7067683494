//! Looking at the bytes in place (libevent's `evbuffer_peek`).
//!
//! [`EvBuffer::peek`] yields slices into the chunks — no byte is copied —
//! covering exactly the asked range. libevent's peek returns whole chains, so
//! its last extent may run past the requested length (statement 4); here the
//! last slice is cut at the end of the range, which is what callers want
//! anyway. [`EvBuffer::extent_count`] is `evbuffer_peek` with `n_vec = 0`: the
//! number of extents a range needs (statements 1, 2, 5).

use std::collections::vec_deque;
use std::io::IoSlice;
use std::iter::FusedIterator;
use std::ops::{Bound, RangeBounds};

use crate::buffer::EvBuffer;
use crate::chunk::Chunk;

/// Iterator over the extents (contiguous slices, in order) of a range of an
/// [`EvBuffer`]; returned by [`EvBuffer::peek`].
///
/// libevent: the `struct evbuffer_iovec` array `evbuffer_peek` fills.
#[derive(Clone)]
pub struct Extents<'a> {
    iter: vec_deque::Iter<'a, Chunk>,
    skip: usize,
    remaining: usize,
}

impl std::fmt::Debug for Extents<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extents")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<'a> Extents<'a> {
    /// Bytes not yet yielded.
    ///
    /// libevent: no equivalent.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<'a> Iterator for Extents<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let c = self.iter.next()?;
        let s = c.as_slice();
        if s.len() < c.len() {
            // An unreadable file chunk: the readable data ends here.
            self.remaining = 0;
            return None;
        }
        let s = &s[self.skip..];
        self.skip = 0;
        let k = s.len().min(self.remaining);
        self.remaining -= k;
        Some(&s[..k])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.remaining == 0 {
            (0, Some(0))
        } else {
            (1, Some(self.iter.len()))
        }
    }
}

impl FusedIterator for Extents<'_> {}

impl EvBuffer {
    /// Clamps a range to `0..=len`: `(start, end)` with `start <= end <= len`.
    pub(crate) fn clamp_range(&self, range: impl RangeBounds<usize>) -> (usize, usize) {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        };
        let end = end.min(self.len());
        (start.min(end), end)
    }

    /// The chunk holding byte `pos` and the offset in it; `(chunk_count, 0)`
    /// for `pos == len`. `pos` must be `<= len`.
    pub(crate) fn locate(&self, pos: usize) -> (usize, usize) {
        if pos == self.len() {
            return (self.q.chunks().len(), 0);
        }
        let mut left = pos;
        for (i, c) in self.q.chunks().iter().enumerate() {
            let l = c.len();
            if left < l {
                return (i, left);
            }
            left -= l;
        }
        (self.q.chunks().len(), 0)
    }

    /// The extents covering `range` (clamped to the buffer), as slices into
    /// the chunks, without copying (`evbuffer_peek`).
    ///
    /// ```
    /// use evbuffer::{Bytes, EvBuffer};
    ///
    /// let mut buf = EvBuffer::new();
    /// buf.add_bytes(Bytes::from_static(b"hello ")).unwrap();
    /// buf.add_bytes(Bytes::from_static(b"world")).unwrap();
    /// let parts: Vec<&[u8]> = buf.peek(3..8).collect();
    /// assert_eq!(parts, [&b"lo "[..], &b"wo"[..]]);
    /// assert_eq!(buf.extent_count(3..8), 2);
    /// ```
    pub fn peek(&self, range: impl RangeBounds<usize>) -> Extents<'_> {
        let (start, end) = self.clamp_range(range);
        if start == end {
            return Extents {
                iter: self.q.chunks().range(0..0),
                skip: 0,
                remaining: 0,
            };
        }
        let (ci, off) = if start == 0 {
            (0, 0)
        } else {
            self.locate(start)
        };
        Extents {
            iter: self.q.chunks().range(ci..),
            skip: off,
            remaining: end - start,
        }
    }

    /// Fills `out` with the first extents of `range` and returns how many
    /// extents the whole range needs, which may be more than `out.len()`
    /// (statement 3). Ready for `write_vectored`.
    ///
    /// libevent: `evbuffer_peek(buf, len, start_at, vec, n_vec)`.
    pub fn peek_io_slices<'a>(
        &'a self,
        range: impl RangeBounds<usize>,
        out: &mut [IoSlice<'a>],
    ) -> usize {
        let mut n = 0;
        for (i, s) in self.peek(range).enumerate() {
            if let Some(slot) = out.get_mut(i) {
                *slot = IoSlice::new(s);
            }
            n += 1;
        }
        n
    }

    /// How many extents cover `range` (`evbuffer_peek` with `n_vec = 0`):
    /// 0 for an empty range or a start at the end of the buffer.
    pub fn extent_count(&self, range: impl RangeBounds<usize>) -> usize {
        let (start, end) = self.clamp_range(range);
        if start == end {
            return 0;
        }
        if start == 0 && end == self.len() {
            return self.q.chunks().len();
        }
        let (ci, off) = self.locate(start);
        let mut need = end - start + off;
        let mut n = 0;
        for c in self.q.chunks().range(ci..) {
            n += 1;
            let l = c.len();
            if need <= l {
                break;
            }
            need -= l;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use crate::{Bytes, EvBuffer};

    fn chunked(parts: &[&'static [u8]]) -> EvBuffer {
        let mut b = EvBuffer::new();
        for p in parts {
            b.add_bytes(Bytes::from_static(p)).unwrap();
        }
        b
    }

    #[test]
    fn peek_exact_ranges() {
        let b = chunked(&[b"0123456789", b"abcdefghij", b"KLMNOPQRST"]);
        let all: Vec<u8> = b.peek(..).flatten().copied().collect();
        assert_eq!(all, b"0123456789abcdefghijKLMNOPQRST");
        let v: Vec<&[u8]> = b.peek(5..25).collect();
        assert_eq!(v, [&b"56789"[..], b"abcdefghij", b"KLMNO"]);
        assert_eq!(b.extent_count(5..25), 3);
        assert_eq!(b.extent_count(10..20), 1);
        assert_eq!(b.extent_count(10..21), 2);
        assert_eq!(b.extent_count(..), 3);
        assert_eq!(b.extent_count(30..), 0);
        assert_eq!(b.peek(30..).count(), 0);
        assert_eq!(b.peek(25..100).flatten().count(), 5);
        let (lo, hi) = (20, 10);
        assert_eq!(b.peek(lo..hi).count(), 0);
        assert_eq!(b.peek(..=0).collect::<Vec<_>>(), [&b"0"[..]]);
    }

    #[test]
    fn peek_io_slices_reports_needed() {
        let b = chunked(&[b"aa", b"bb", b"cc", b"dd"]);
        let mut v = [std::io::IoSlice::new(&[]); 2];
        assert_eq!(b.peek_io_slices(1..7, &mut v), 4);
        assert_eq!(&*v[0], b"a");
        assert_eq!(&*v[1], b"bb");
        let e = EvBuffer::new();
        assert_eq!(e.peek_io_slices(.., &mut v), 0);
        assert_eq!(e.extent_count(..), 0);
    }
}
