//! Searching (libevent's `evbuffer_search` and `evbuffer_search_range`).
//!
//! Each chunk is searched in place with `memchr::memmem` (SIMD); a match that
//! straddles chunks is found by searching a small window made of the last
//! `needle.len() - 1` bytes of one chunk and the first bytes of the next
//! ones. No chunk is copied or pulled up (statement 29).
//!
//! memchr's searcher first scans for two bytes of the needle at their
//! distance (a SIMD "packed pair" prefilter) and verifies each candidate. By
//! default it picks the two bytes its static frequency table calls rarest.
//! Here the pair always includes the needle's **last** byte (the other one is
//! memchr's rarest): in binary or periodic data the two "rarest" bytes can
//! sit at the needle's distance in every period, so that nearly every
//! candidate fails later, and data that repeats a needle's beginning (headers,
//! boundaries, records) differs from it at the end, which is why
//! Boyer-Moore-Horspool looks at the last byte first. On text the pair makes
//! no measurable difference; on `i % 251` data (the B6 workload) the search
//! runs about 25% fewer instructions.

use memchr::arch::all::packedpair::{HeuristicFrequencyRank, Pair};
use memchr::memmem;

use crate::buffer::EvBuffer;
use crate::ptr::Ptr;

/// Window for matches that straddle chunks: on the stack for short needles.
/// (Lives in one stack frame only, so the size difference does not matter.)
#[allow(clippy::large_enum_variant)]
enum Window {
    Stack([u8; 256], usize),
    Heap(Vec<u8>),
}

impl Window {
    fn new(cap: usize) -> Self {
        if cap <= 256 {
            Window::Stack([0; 256], 0)
        } else {
            Window::Heap(Vec::with_capacity(cap))
        }
    }
    fn clear(&mut self) {
        match self {
            Window::Stack(_, n) => *n = 0,
            Window::Heap(v) => v.clear(),
        }
    }
    fn push(&mut self, s: &[u8]) {
        match self {
            Window::Stack(a, n) => {
                a[*n..*n + s.len()].copy_from_slice(s);
                *n += s.len();
            }
            Window::Heap(v) => v.extend_from_slice(s),
        }
    }
    fn as_slice(&self) -> &[u8] {
        match self {
            Window::Stack(a, n) => &a[..*n],
            Window::Heap(v) => v,
        }
    }
}

/// Ranks the needle's last byte rarest, then memchr's own choice of the two
/// rarest bytes, so that the prefilter pair is (last byte, memchr's rarest).
struct LastByteFirst {
    last: u8,
    rare: [u8; 2],
}

impl HeuristicFrequencyRank for LastByteFirst {
    fn rank(&self, byte: u8) -> u8 {
        if byte == self.last {
            0
        } else if byte == self.rare[0] {
            1
        } else if byte == self.rare[1] {
            2
        } else {
            255
        }
    }
}

/// memchr's substring searcher for `needle`, with a prefilter pair that
/// includes its last byte (see the module docs).
fn finder(needle: &[u8]) -> memmem::Finder<'_> {
    match (Pair::new(needle), needle.last()) {
        (Some(p), Some(&last)) => {
            let ranker = LastByteFirst {
                last,
                rare: [
                    needle[usize::from(p.index1())],
                    needle[usize::from(p.index2())],
                ],
            };
            memmem::FinderBuilder::new().build_forward_with_ranker(ranker, needle)
        }
        _ => memmem::Finder::new(needle),
    }
}

impl EvBuffer {
    /// Finds the first occurrence of `needle` at or after `from` (the front if
    /// `None`) and returns its position (`evbuffer_search`); `None` if absent.
    /// An empty needle matches at `from`.
    ///
    /// ```
    /// use evbuffer::{Bytes, EvBuffer};
    ///
    /// let mut buf = EvBuffer::new();
    /// for part in ["hello", "foo", "cat", "attack"] {
    ///     buf.add_bytes(Bytes::from_static(part.as_bytes())).unwrap();
    /// }
    /// let p = buf.search(b"attack", None).unwrap();
    /// assert_eq!(p.position(), 11);
    /// let q = buf.search(b"o", Some(&buf.ptr_at(5).unwrap())).unwrap();
    /// assert_eq!(q.position(), 6);
    /// ```
    pub fn search(&self, needle: &[u8], from: Option<&Ptr>) -> Option<Ptr> {
        self.search_range(needle, from, None)
    }

    /// Like [`search`](Self::search), but a match must end at or before `end`
    /// (`evbuffer_search_range`, statement 29).
    pub fn search_range(
        &self,
        needle: &[u8],
        from: Option<&Ptr>,
        end: Option<&Ptr>,
    ) -> Option<Ptr> {
        let start = from.map_or(0, Ptr::position);
        let stop = end.map_or(self.len(), |p| p.position().min(self.len()));
        if start > self.len() || start > stop {
            return None;
        }
        let (ci, off) = match from {
            Some(p) => self.resolve(p),
            None => (0, 0),
        };
        let m = needle.len();
        if m == 0 {
            return Some(self.make_ptr(start, ci, off));
        }
        if stop - start < m {
            return None;
        }
        let finder = finder(needle);
        let mut window: Option<Window> = None;
        let mut base = start - off; // absolute position of chunk i's first byte
        let mut lo = off;
        let mut i = ci;
        while let Some(c) = self.q.chunks().get(i) {
            if base >= stop {
                break;
            }
            let s = c.as_slice();
            if s.len() < c.len() {
                return None; // unreadable file chunk: the data ends here
            }
            let clen = s.len();
            let hi = clen.min(stop - base);
            if hi >= lo + m {
                if let Some(k) = finder.find(&s[lo..hi]) {
                    return Some(self.make_ptr(base + lo + k, i, lo + k));
                }
            }
            // A match starting in this chunk and ending in a later one.
            if m > 1 && hi == clen && base + clen < stop {
                let wstart = lo.max(clen.saturating_sub(m - 1));
                if wstart < clen {
                    let w = window.get_or_insert_with(|| Window::new(2 * m));
                    w.clear();
                    w.push(&s[wstart..]);
                    let head = clen - wstart;
                    let mut need = (m - 1).min(stop - base - clen);
                    for next in self.q.chunks().range(i + 1..) {
                        if need == 0 {
                            break;
                        }
                        let ns = next.as_slice();
                        let k = ns.len().min(need);
                        w.push(&ns[..k]);
                        need -= k;
                        if ns.len() < next.len() {
                            break;
                        }
                    }
                    if let Some(k) = finder.find(w.as_slice()) {
                        if k < head {
                            return Some(self.make_ptr(base + wstart + k, i, wstart + k));
                        }
                    }
                }
            }
            base += clen;
            lo = 0;
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::{Bytes, EvBuffer};

    fn chunked(parts: &[&[u8]]) -> EvBuffer {
        let mut b = EvBuffer::new();
        for p in parts {
            b.add_bytes(Bytes::copy_from_slice(p)).unwrap();
            b.q.freeze_tail();
        }
        b
    }

    #[test]
    fn finds_across_many_small_chunks() {
        let b = chunked(&[b"ab", b"c", b"d", b"efg", b"abcdefg"]);
        assert_eq!(b.chunk_count(), 5);
        assert_eq!(b.search(b"bcdef", None).unwrap().position(), 1);
        let from = b.ptr_at(2).unwrap();
        assert_eq!(b.search(b"bcdef", Some(&from)).unwrap().position(), 8);
        assert!(b.search(b"gh", None).is_none());
        assert_eq!(b.search(b"", Some(&from)).unwrap().position(), 2);
        let end = b.ptr_at(12).unwrap();
        assert!(b.search_range(b"bcdef", Some(&from), Some(&end)).is_none());
        let end = b.ptr_at(13).unwrap();
        assert_eq!(
            b.search_range(b"bcdef", Some(&from), Some(&end))
                .unwrap()
                .position(),
            8
        );
        // A needle longer than the stack window.
        let long: Vec<u8> = (0..400u32).map(|i| (i % 7) as u8 + b'a').collect();
        let mut parts: Vec<&[u8]> = vec![b"zz"];
        parts.extend(long.chunks(33));
        let b = chunked(&parts);
        assert_eq!(b.search(&long, None).unwrap().position(), 2);
    }

    #[test]
    fn agrees_with_a_naive_search() {
        let text = b"GET /index.html HTTP/1.1\r\nHost: example\r\nContent-Length: 12\r\n\r\n\
            Content-Length: 4096\r\nthe chunk, the chunks, the chunk!\r\n\r\n"
            .repeat(3);
        let periodic: Vec<u8> = (0..3000usize).map(|i| (i % 251) as u8).collect();
        let mut marked = periodic.clone();
        marked[2999] = 0xFF;
        let same = vec![b'a'; 700];
        let needles: &[&[u8]] = &[
            b"\r\n\r\n",
            b"Content-Length: 4096",
            b"the chunk!",
            b"chunk",
            b"aa",
            b"a",
            b"ab",
            b"\x00\x01\x02",
            b"\xFA\x00",
            &marked[2984..],
            &periodic[10..30],
            &periodic[0..300],
            b"not there",
        ];
        for hay in [&text[..], &periodic, &marked, &same] {
            for piece in [1, 7, 64, 4096] {
                let parts: Vec<&[u8]> = hay.chunks(piece).collect();
                let b = chunked(&parts);
                for &n in needles {
                    let naive = |from: usize| {
                        hay[from..]
                            .windows(n.len())
                            .position(|w| w == n)
                            .map(|k| k + from)
                    };
                    assert_eq!(
                        b.search(n, None).map(|p| p.position()),
                        naive(0),
                        "needle {n:?} piece {piece}"
                    );
                    let from = b.ptr_at(hay.len() / 3).unwrap();
                    assert_eq!(
                        b.search(n, Some(&from)).map(|p| p.position()),
                        naive(hay.len() / 3),
                        "needle {n:?} piece {piece} from a third"
                    );
                }
            }
        }
    }

    #[test]
    fn start_past_end_or_after_stop() {
        let b = chunked(&[b"abc"]);
        let end = b.ptr_at(3).unwrap();
        assert!(b.search(b"a", Some(&end)).is_none());
        let one = b.ptr_at(1).unwrap();
        assert!(b.search_range(b"b", Some(&end), Some(&one)).is_none());
    }
}
