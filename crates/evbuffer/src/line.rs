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

use crate::buffer::{Access, EvBuffer};
use crate::chunk::Chunk;
use crate::error::Result;
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
        for c in self.q.chunks().range(ci..) {
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
        while let Some(c) = self.q.chunks().get(i) {
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
                                let plen = self.q.chunks()[pc].len();
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

    /// The common case of [`find_eol`](Self::find_eol) from the front: an end
    /// of line inside the first chunk, followed by at least one byte of it
    /// (see [`eol_in_slice`]). `None` means "look with `find_eol`", not "no
    /// line".
    #[inline]
    fn find_eol_in_front(&self, eol: Eol) -> Option<EolAt> {
        let s = match self.q.front()? {
            Chunk::Frozen(b) | Chunk::Piece(b) => &b[..],
            Chunk::Mut(b) => &b[..],
            Chunk::File(_) => return None,
        };
        let (pos, len) = eol_in_slice(s, eol)?;
        Some(EolAt {
            pos,
            ci: 0,
            off: pos,
            len,
        })
    }

    /// Removes every complete line now in the buffer, in one pass, and hands
    /// each to `f` as a borrowed slice without its terminator; returns how
    /// many there were. What follows the last end of line stays.
    ///
    /// The lines are exactly those that repeated
    /// [`read_line`](Self::read_line) calls would return, without a `Bytes`
    /// (a reference count) per line and with one drain at the end: a line
    /// inside one chunk is a slice of it; one that straddles chunks is
    /// assembled in a scratch buffer first. Fails with
    /// [`Error::FrozenFront`](crate::Error::FrozenFront) if the front is
    /// frozen; the change callbacks run once, with the total removed.
    ///
    /// libevent: a loop of `evbuffer_readln` (each line a `malloc`ed copy,
    /// the callbacks after each).
    ///
    /// ```
    /// use evbuffer::{EvBuffer, Eol};
    ///
    /// let mut buf = EvBuffer::from(&b"GET / HTTP/1.0\r\nHost: x\r\nAcc"[..]);
    /// let mut lines = Vec::new();
    /// let n = buf.drain_lines(Eol::Crlf, |l| lines.push(l.to_vec())).unwrap();
    /// assert_eq!(n, 2);
    /// assert_eq!(lines, [&b"GET / HTTP/1.0"[..], b"Host: x"]);
    /// assert_eq!(buf, &b"Acc"[..]);
    /// ```
    pub fn drain_lines(&mut self, eol: Eol, mut f: impl FnMut(&[u8])) -> Result<usize> {
        self.check("drain_lines", Access::Take)?;
        // The start of the next line: chunk, offset in it, and the absolute
        // position of the chunk's start.
        let (mut ci, mut off, mut base) = (0usize, 0usize, 0usize);
        let mut count = 0;
        let mut scratch = Vec::new();
        let chunks = self.q.chunks();
        while let Some(c) = chunks.get(ci) {
            let s = c.as_slice();
            if s.len() < c.len() {
                break; // an unreadable file chunk: the readable data ends here
            }
            // Nearly always: the end of line is inside this chunk with bytes
            // of it after the terminator.
            while let Some((at, len)) = eol_in_slice(&s[off..], eol) {
                f(&s[off..off + at]);
                count += 1;
                off += at + len;
            }
            // The next end of line is in a later chunk, or ends this one.
            let pos = base + off;
            let Some(e) = self.find_eol(pos, ci, off, eol) else {
                break;
            };
            if e.ci == ci {
                f(&s[off..e.off]);
            } else {
                scratch.clear();
                let (mut need, mut from) = (e.pos - pos, off);
                for c in chunks.range(ci..) {
                    if need == 0 {
                        break;
                    }
                    let s = c.as_slice();
                    let k = (s.len() - from).min(need);
                    scratch.extend_from_slice(&s[from..from + k]);
                    need -= k;
                    from = 0;
                }
                f(&scratch);
            }
            count += 1;
            // Continue after the terminator, in the chunk that holds its end.
            (ci, off, base) = (e.ci, e.off + e.len, e.pos - e.off);
            while let Some(c) = chunks.get(ci) {
                if off < c.len() {
                    break;
                }
                off -= c.len();
                base += c.len();
                ci += 1;
            }
        }
        let pos = base + off;
        if pos > 0 {
            let orig = self.len();
            self.drain_internal(pos);
            self.notify(orig, 0, pos);
        }
        Ok(count)
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
            Some(p) if p.position() > self.len() => return None,
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
    /// chunk. Fails with [`Error::FrozenFront`](crate::Error::FrozenFront) if the front is frozen.
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
        self.check("read_line", Access::Take)?;
        let e = match self.find_eol_in_front(eol) {
            Some(e) => e,
            None => match self.find_eol(0, 0, 0, eol) {
                Some(e) => e,
                None => return Ok(None),
            },
        };
        let total = e.pos + e.len;
        let orig = self.len();
        // Nearly always the line and its terminator lie in the front chunk,
        // with bytes left after them: split line + terminator off at once and
        // cut the terminator from the returned view (no copy, no second pass).
        let line = match self.q.take_front_line(e.pos, total) {
            Some(line) => line,
            None => self.take_line_slow(e.pos, e.len)?,
        };
        self.notify(orig, 0, total);
        Ok(Some(line))
    }

    /// `read_line` when the line or its terminator reaches the end of the
    /// front chunk (or lies in a file chunk): take the line, then drain the
    /// terminator.
    #[cold]
    fn take_line_slow(&mut self, pos: usize, eol_len: usize) -> Result<Bytes> {
        self.materialize_front(pos + eol_len)?;
        let line = if pos == 0 {
            Bytes::new()
        } else {
            self.split_front_internal(pos)?
        };
        self.drain_internal(eol_len);
        Ok(line)
    }
}

/// An end of line in `s` that is followed by at least one byte of `s` (so
/// that no run of CR/LF or CR LF pair can continue past `s`): its position
/// and length. `None` means "not decided within `s`", not "no line".
#[inline]
fn eol_in_slice(s: &[u8], eol: Eol) -> Option<(usize, usize)> {
    let found = |pos: usize, len: usize| (pos + len < s.len()).then_some((pos, len));
    match eol {
        Eol::Crlf => {
            let at = memchr(b'\n', s)?;
            if at > 0 && s[at - 1] == b'\r' {
                found(at - 1, 2)
            } else {
                found(at, 1)
            }
        }
        Eol::Lf => found(memchr(b'\n', s)?, 1),
        Eol::Nul => found(memchr(0, s)?, 1),
        Eol::CrlfStrict => {
            let mut from = 0;
            loop {
                let at = from + memchr(b'\n', &s[from..])?;
                if at > 0 && s[at - 1] == b'\r' {
                    return found(at - 1, 2);
                }
                from = at + 1;
            }
        }
        Eol::Any => {
            let at = memchr2(b'\r', b'\n', s)?;
            let run = s[at..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            found(at, run)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn chunked(parts: &[&[u8]]) -> EvBuffer {
        let mut b = EvBuffer::new();
        for p in parts {
            b.add_bytes(Bytes::copy_from_slice(p)).unwrap();
            b.q.freeze_tail();
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
    fn terminator_at_the_end_of_the_front_chunk() {
        // The fast path only takes lines followed by more bytes of the front
        // chunk; these end exactly at its end, or continue in the next one.
        for (eol, parts, want) in [
            (Eol::Crlf, &[&b"ab\r\n"[..], b"cd\n"][..], &["ab", "cd"][..]),
            (Eol::Crlf, &[b"ab\r", b"\ncd\n"], &["ab", "cd"]),
            (Eol::Lf, &[b"ab\n", b"cd\n"], &["ab", "cd"]),
            (Eol::Nul, &[b"ab\0", b"cd\0"], &["ab", "cd"]),
            (Eol::CrlfStrict, &[b"a\nb\r", b"\ncd\r\n"], &["a\nb", "cd"]),
            (Eol::CrlfStrict, &[b"\nb\r\n", b"x"], &["\nb"]),
            (Eol::Any, &[b"ab\r", b"\r\ncd\n"], &["ab", "cd"]),
            (Eol::Any, &[b"ab\r\nx", b"\r"], &["ab", "x"]),
            (Eol::Any, &[b"\n\nab\n\n", b"\ncd\r"], &["", "ab", "cd"]),
        ] {
            let mut b = chunked(parts);
            assert_eq!(lines(&mut b, eol), want, "{eol:?} {parts:?}");
        }
    }

    #[test]
    fn drain_lines_gives_what_read_line_gives() {
        let parts: &[&[u8]] = &[
            b"a\r\nb",
            b"c\r",
            b"\n\nd\re\r\r\n",
            b"\n\0f",
            b"\r",
            b"\n",
            b"tail",
        ];
        for eol in [Eol::Any, Eol::Crlf, Eol::CrlfStrict, Eol::Lf, Eol::Nul] {
            let mut a = chunked(parts);
            let mut b = chunked(parts);
            let want = lines(&mut a, eol);
            let mut got = Vec::new();
            let n = b
                .drain_lines(eol, |l| got.push(String::from_utf8_lossy(l).into_owned()))
                .unwrap();
            assert_eq!((n, &got), (want.len(), &want), "{eol:?}");
            assert_eq!(a.to_vec(), b.to_vec(), "{eol:?}: same rest");
            b.check_invariants();
        }
        let mut b = chunked(parts);
        b.freeze(crate::End::Front);
        assert!(matches!(
            b.drain_lines(Eol::Lf, |_| {}),
            Err(Error::FrozenFront)
        ));
    }

    #[test]
    fn lines_from_a_writable_chunk_keep_it_writable() {
        let mut b = EvBuffer::new();
        b.add(b"one\r\ntwo\nthr").unwrap();
        assert_eq!(b.chunk_count(), 1);
        assert_eq!(b.read_line(Eol::Crlf).unwrap().unwrap(), "one");
        let cap = b.tail_capacity();
        assert!(cap > 0);
        b.add(b"ee\n").unwrap();
        assert_eq!(b.tail_capacity(), cap - 3, "appended in place");
        assert_eq!(lines(&mut b, Eol::Crlf), ["two", "three"]);
        assert!(b.is_empty());
    }

    #[test]
    fn lines_through_a_file_chunk() {
        let mut b = EvBuffer::new();
        b.add(b"head\r\n").unwrap();
        b.add_file(crate::file::tests::temp_file(b"f1\nf2\r\nf"), 0, 8)
            .unwrap();
        b.add(b"3\n").unwrap();
        let mut moved = EvBuffer::new();
        moved.append(&mut b).unwrap();
        assert!(moved.q.may_hold_files() && !b.q.may_hold_files());
        assert_eq!(lines(&mut moved, Eol::Crlf), ["head", "f1", "f2", "f3"]);
        assert!(moved.is_empty());
        moved.add(b"x\n").unwrap();
        let mut out = [0u8; 1];
        moved.remove(&mut out).unwrap();
        assert!(
            !moved.q.may_hold_files(),
            "cleared once a scan saw no file chunk"
        );
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
