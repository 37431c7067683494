//! Lines (libevent's `evbuffer_readln`, `evbuffer_search_eol` and
//! `enum evbuffer_eol_style`).
//!
//! The end-of-line styles behave exactly as libevent's (statements 23-28):
//!
//! | style | a line ends at | terminator consumed |
//! |---|---|---|
//! | [`Eol::Any`] | the first CR or LF | the whole following run of CR and LF bytes, so empty lines vanish; a trailing lone CR ends a line |
//! | [`Eol::Crlf`] | the first LF | the LF and one CR right before it, if any; a lone CR is data |
//! | [`Eol::CrlfStrict`] | the first CR LF pair (possibly split across chunks) | both bytes; a bare LF is data |
//! | [`Eol::Lf`] | the first LF | the LF |
//! | [`Eol::Nul`] | the first NUL byte | the NUL (the line may contain LF) |
//!
//! Scanning uses `memchr` over each chunk in place.

use bytes::Bytes;
use memchr::{memchr, memchr2};

use crate::buffer::EvBuffer;
use crate::error::{Error, Result};
use crate::ptr::Ptr;

/// End-of-line style (libevent's `enum evbuffer_eol_style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eol {
    /// `EVBUFFER_EOL_ANY`: any run of CR and LF bytes.
    Any,
    /// `EVBUFFER_EOL_CRLF`: LF, optionally preceded by CR.
    Crlf,
    /// `EVBUFFER_EOL_CRLF_STRICT`: exactly CR LF.
    CrlfStrict,
    /// `EVBUFFER_EOL_LF`: LF.
    Lf,
    /// `EVBUFFER_EOL_NUL`: a NUL byte.
    Nul,
}

/// A found end of line: absolute position, chunk index, offset, length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EolAt {
    pub(crate) pos: usize,
    pub(crate) ci: usize,
    pub(crate) off: usize,
    pub(crate) len: usize,
}

impl EvBuffer {
    /// Length of the run of CR/LF bytes starting at `(ci, off)`.
    fn crlf_run(&self, ci: usize, off: usize) -> usize {
        let mut n = 0;
        let mut off = off;
        for c in self.chunks.range(ci..) {
            let s = c.as_slice();
            let tail = &s[off.min(s.len())..];
            off = 0;
            let k = tail
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            n += k;
            if k < tail.len() || s.len() < c.len() {
                break;
            }
        }
        n
    }

    /// Finds the first end of line at or after `start` (in chunk `ci` at
    /// offset `off`).
    pub(crate) fn find_eol(&self, start: usize, ci: usize, off: usize, eol: Eol) -> Option<EolAt> {
        let mut base = start - off;
        let mut lo = off;
        // Last byte before position `base + lo` (for CRLF), if at or after `start`.
        let mut prev: Option<u8> = None;
        let mut i = ci;
        while let Some(c) = self.chunks.get(i) {
            let s = c.as_slice();
            if s.len() < c.len() {
                return None; // unreadable file chunk: the data ends here
            }
            let mut from = lo;
            while from < s.len() {
                let hay = &s[from..];
                let hit = match eol {
                    Eol::Any => memchr2(b'\r', b'\n', hay),
                    Eol::Crlf | Eol::CrlfStrict | Eol::Lf => memchr(b'\n', hay),
                    Eol::Nul => memchr(0, hay),
                };
                let Some(k) = hit else {
                    break;
                };
                let at = from + k;
                let found = |pos: usize, ci: usize, off: usize, len: usize| {
                    Some(EolAt { pos, ci, off, len })
                };
                match eol {
                    Eol::Lf | Eol::Nul => return found(base + at, i, at, 1),
                    Eol::Any => return found(base + at, i, at, self.crlf_run(i, at)),
                    Eol::Crlf | Eol::CrlfStrict => {
                        let cr_before = if at > lo {
                            s[at - 1] == b'\r'
                        } else {
                            prev == Some(b'\r')
                        };
                        if cr_before {
                            // The CR is at base + at - 1.
                            return if at > 0 {
                                found(base + at - 1, i, at - 1, 2)
                            } else {
                                let pc = i - 1;
                                let plen = self.chunks[pc].len();
                                found(base - 1, pc, plen - 1, 2)
                            };
                        }
                        if eol == Eol::Crlf {
                            return found(base + at, i, at, 1);
                        }
                        from = at + 1;
                    }
                }
            }
            if s.len() > lo {
                prev = s.last().copied();
            }
            base += s.len();
            lo = 0;
            i += 1;
        }
        None
    }

    /// Finds the first end of line at or after `from` (the front if `None`)
    /// and returns its position and length (`evbuffer_search_eol`,
    /// statement 28). `None` if there is none, including when `from` is at
    /// the end.
    ///
    /// ```
    /// use evbuffer::{EvBuffer, Eol};
    ///
    /// let mut buf = EvBuffer::from(&b"string! \r\n\r\nx\n"[..]);
    /// let (p, n) = buf.search_eol(None, Eol::Crlf).unwrap();
    /// assert_eq!((p.position(), n), (8, 2));
    /// let (p, n) = buf.search_eol(Some(&buf.ptr_at(9).unwrap()), Eol::Crlf).unwrap();
    /// assert_eq!((p.position(), n), (9, 1));
    /// ```
    pub fn search_eol(&self, from: Option<&Ptr>, eol: Eol) -> Option<(Ptr, usize)> {
        let (start, ci, off) = match from {
            Some(p) if p.position() > self.len => return None,
            Some(p) => {
                let (ci, off) = self.resolve(p);
                (p.position(), ci, off)
            }
            None => (0, 0, 0),
        };
        let e = self.find_eol(start, ci, off, eol)?;
        Some((self.make_ptr(e.pos, e.ci, e.off), e.len))
    }

    /// Removes and returns the next line, without its terminator
    /// (`evbuffer_readln`). `Ok(None)` — with nothing consumed — when no
    /// complete line is buffered (statement 27).
    ///
    /// The line is taken from its chunk without copying when it lies in one
    /// chunk. Fails with [`Error::FrozenFront`] if the front is frozen.
    ///
    /// ```
    /// use evbuffer::{EvBuffer, Eol};
    ///
    /// let mut buf = EvBuffer::from(&b"a\r\n\r\nb\rc\n"[..]);
    /// let mut lines = Vec::new();
    /// while let Some(l) = buf.read_line(Eol::Any).unwrap() {
    ///     lines.push(l);
    /// }
    /// assert_eq!(lines, ["a", "b", "c"]);
    /// ```
    #[inline]
    pub fn read_line(&mut self, eol: Eol) -> Result<Option<Bytes>> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let Some(e) = self.find_eol(0, 0, 0, eol) else {
            return Ok(None);
        };
        let total = e.pos + e.len;
        if self.chunks.iter().take(e.ci + 1).any(|c| c.is_file()) {
            self.materialize_front(total)?;
        }
        let orig = self.len;
        let line = if e.pos == 0 {
            Bytes::new()
        } else {
            self.split_front_internal(e.pos)
        };
        self.drain_internal(e.len);
        self.notify(orig, 0, total);
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&[u8]]) -> EvBuffer {
        let mut b = EvBuffer::new();
        for p in parts {
            b.add_bytes(Bytes::copy_from_slice(p)).unwrap();
            b.freeze_tail();
        }
        b
    }

    fn lines(b: &mut EvBuffer, eol: Eol) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = b.read_line(eol).unwrap() {
            v.push(String::from_utf8_lossy(&l).into_owned());
        }
        v
    }

    #[test]
    fn any_consumes_runs() {
        let mut b = chunked(&[b"a\r", b"\n\r", b"\nb\rc\n", b"d\r"]);
        assert_eq!(lines(&mut b, Eol::Any), ["a", "b", "c", "d"]);
        assert!(b.is_empty());
        let mut b = EvBuffer::from(&b"\nx\n"[..]);
        assert_eq!(lines(&mut b, Eol::Any), ["", "x"]);
    }

    #[test]
    fn crlf_accepts_bare_lf_and_keeps_lone_cr() {
        let mut b = chunked(&[b"Line with\rin the middle\r", b"\nbare\n\nx"]);
        assert_eq!(
            lines(&mut b, Eol::Crlf),
            ["Line with\rin the middle", "bare", ""]
        );
        assert_eq!(b, &b"x"[..]);
    }

    #[test]
    fn crlf_strict_needs_the_pair_even_across_chunks() {
        let mut b = chunked(&[b"one\ntwo\r", b"\nMore\r"]);
        assert_eq!(lines(&mut b, Eol::CrlfStrict), ["one\ntwo"]);
        assert_eq!(b, &b"More\r"[..]);
        b.add(b"\n").unwrap();
        assert_eq!(lines(&mut b, Eol::CrlfStrict), ["More"]);
        let mut b = chunked(&[b"a\r", b"b\r", b"\r\n"]);
        assert_eq!(lines(&mut b, Eol::CrlfStrict), ["a\rb\r"]);
    }

    #[test]
    fn lf_and_nul() {
        let mut b = chunked(&[b"x\r\ny", b"\n"]);
        assert_eq!(lines(&mut b, Eol::Lf), ["x\r", "y"]);
        let mut b = chunked(&[b"a\nb\0c", b"\0d"]);
        assert_eq!(lines(&mut b, Eol::Nul), ["a\nb", "c"]);
        assert_eq!(b, &b"d"[..]);
    }

    #[test]
    fn no_line_consumes_nothing() {
        let mut b = chunked(&[b"partial", b" line\r"]);
        for eol in [Eol::Crlf, Eol::CrlfStrict, Eol::Lf, Eol::Nul] {
            assert_eq!(b.read_line(eol).unwrap(), None);
            assert_eq!(b.len(), 13);
        }
        b.freeze(crate::End::Front);
        assert!(matches!(b.read_line(Eol::Any), Err(Error::FrozenFront)));
    }

    #[test]
    fn search_eol_positions() {
        let b = chunked(&[b"string! \r", b"\n\r\nx\n"]);
        let (p, n) = b.search_eol(None, Eol::Crlf).unwrap();
        assert_eq!((p.position(), n), (8, 2));
        let (p, n) = b
            .search_eol(Some(&b.ptr_at(9).unwrap()), Eol::Crlf)
            .unwrap();
        assert_eq!((p.position(), n), (9, 1));
        let (p, n) = b.search_eol(None, Eol::Any).unwrap();
        assert_eq!((p.position(), n), (8, 4));
        assert!(b
            .search_eol(Some(&b.ptr_at(b.len()).unwrap()), Eol::Any)
            .is_none());
        let (p, n) = b
            .search_eol(Some(&b.ptr_at(9).unwrap()), Eol::CrlfStrict)
            .unwrap();
        assert_eq!((p.position(), n), (10, 2));
    }
}
