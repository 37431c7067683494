//! Lines: passes only whole lines, each re-terminated with a chosen terminator; the line
//! version of `evbuffer_readln` as a filter.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use bytes::Bytes;
use evbuffer::{Eol, EvBuffer};

use crate::util::{budget, status};
use crate::Error;

/// Passes whole lines, recognised with one of evbuffer's end-of-line styles
/// (`EVBUFFER_EOL_ANY`, `_CRLF`, `_CRLF_STRICT`, `_LF`, `_NUL`), each followed by a fixed
/// terminator (by default `\n`). Use it as an input filter to deliver only whole lines
/// to the read callback, or as an output filter to normalise line ends on the wire.
///
/// * NORMAL and FLUSH: every whole line is passed; a partial line waits in the source
///   (`NeedMore`). (A partial line cannot be flushed without ending it.)
/// * FINISHED: a final unterminated line is passed too, with the terminator added.
/// * A line with more than `max_line` bytes (terminator excluded) is an error, detected once
///   `max_line + 2` bytes without an end of line are buffered.
///
/// [`Eol::Any`] treats any run of CR and LF as one end of line, as `evbuffer_readln` does; here
/// the run may continue into later input (a run split across two reads is still one end of
/// line), so `Any` never yields an empty line except before a stream's first end of line.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::{EvBuffer, Eol};
/// use bufferevent_filters::framing::Lines;
///
/// let mut f = Lines::new(Eol::Crlf, 1024).terminator(&b"\r\n"[..]);
/// let (mut src, mut dst) = (EvBuffer::from(&b"one\ntwo\r\nthr"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"one\r\ntwo\r\n"[..]);
/// assert_eq!(src, b"thr"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct Lines {
    pub(super) eol: Eol,
    pub(super) max_line: usize,
    pub(super) terminator: Bytes,
    /// `Eol::Any` only: the last line ended with a CR/LF run that may continue.
    pub(super) in_run: bool,
    /// Lines passed so far (for error messages).
    pub(super) line_no: u64,
    /// Bytes at the front of the source already searched without finding an end of line
    /// (less one: a CR there may begin a CR LF).
    pub(super) scanned: usize,
}

impl Lines {
    /// Whole lines ending with `eol`, at most `max_line` bytes each, re-terminated with `\n`.
    ///
    /// libevent: `evbuffer_readln(buf, .., EVBUFFER_EOL_*)` in a `bufferevent_filter_cb`.
    pub fn new(eol: Eol, max_line: usize) -> Self {
        Lines {
            eol,
            max_line,
            terminator: Bytes::from_static(b"\n"),
            in_run: false,
            line_no: 0,
            scanned: 0,
        }
    }
    /// Sets the terminator written after each line (may be empty).
    ///
    /// libevent: none (see [`Lines`]).
    pub fn terminator(mut self, terminator: impl Into<Bytes>) -> Self {
        self.terminator = terminator.into();
        self
    }

    /// Finds the first end of line in `src`: `(line_len, terminator_len)`. Searches the
    /// buffer in place (`evbuffer_search_eol`), from where the last unsuccessful search
    /// stopped: no bytes are copied, and a line arriving in many pieces is scanned once.
    fn find(&self, src: &EvBuffer) -> Result<Option<(usize, usize)>, Error> {
        let from = src.ptr_at(self.scanned.min(src.len()))?;
        Ok(src
            .search_eol(Some(&from), self.eol)
            .map(|(at, len)| (at.position(), len)))
    }

    /// Drops the rest of a CR/LF run that began in an earlier call (`Eol::Any`).
    fn skip_run(&mut self, src: &mut EvBuffer) -> Result<(), Error> {
        while self.in_run && !src.is_empty() {
            let first = src.peek(..).next().unwrap_or(&[]);
            let n = first
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            let whole = n == first.len();
            src.drain(n)?;
            if !whole {
                self.in_run = false;
            }
        }
        Ok(())
    }
}

impl Filter for Lines {
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
            self.skip_run(src)?;
            if added >= budget || src.is_empty() {
                break;
            }
            let (line, term) = match self.find(src)? {
                Some((line, _)) if line > self.max_line => {
                    return Err(Error::LineTooLong {
                        max: self.max_line,
                        seen: line,
                    }
                    .into())
                }
                Some(found) => found,
                None if src.len() > self.max_line.saturating_add(1) => {
                    return Err(Error::LineTooLong {
                        max: self.max_line,
                        seen: src.len(),
                    }
                    .into())
                }
                None if mode == FlushMode::Finished => (src.len(), 0),
                None => {
                    self.scanned = src.len().saturating_sub(1);
                    break;
                }
            };
            self.scanned = 0;
            src.remove_into(dst, line).map_err(Error::from)?;
            src.drain(term).map_err(Error::from)?;
            dst.add_bytes(self.terminator.clone())
                .map_err(Error::from)?;
            // A run reaching the end of the input may go on in the next call.
            self.in_run = self.eol == Eol::Any && term > 0;
            self.line_no += 1;
            added += line + self.terminator.len();
        }
        Ok(status(added))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn styles_all_splits() {
        let input = b"a\nb\r\nc\r\r\nd\0e\n\nf";
        let cases: [(Eol, &[u8]); 5] = [
            (Eol::Lf, b"a|b\r|c\r\r|d\0e||f|"),
            (Eol::Crlf, b"a|b|c\r|d\0e||f|"),
            (Eol::CrlfStrict, b"a\nb|c\r|d\0e\n\nf|"),
            (Eol::Nul, b"a\nb\r\nc\r\r\nd|e\n\nf|"),
            (Eol::Any, b"a|b|c|d\0e|f|"),
        ];
        for (eol, expected) in cases {
            check_all_splits(
                || Lines::new(eol, 100).terminator(&b"|"[..]),
                input,
                expected,
            );
        }
        // Any: a leading run yields one empty line, as evbuffer_readln does.
        check_all_splits(
            || Lines::new(Eol::Any, 100).terminator(&b"|"[..]),
            b"\r\n\nx\r",
            b"|x|",
        );
    }

    #[test]
    fn partial_line_waits_until_finished() {
        for mode in [FlushMode::Normal, FlushMode::Flush] {
            let mut f = Lines::new(Eol::Lf, 10);
            let mut src = EvBuffer::from(&b"abc"[..]);
            let mut dst = EvBuffer::new();
            assert_eq!(
                f.process(&mut src, &mut dst, None, mode).unwrap(),
                FilterStatus::NeedMore
            );
            assert!(dst.is_empty());
            assert_eq!(
                f.process(&mut src, &mut dst, None, FlushMode::Finished)
                    .unwrap(),
                FilterStatus::Ok
            );
            assert_eq!(dst, b"abc\n"[..]);
        }
    }

    #[test]
    fn max_line() {
        // Exactly max is fine, for every style, including a CRLF right after it.
        for eol in [Eol::Crlf, Eol::CrlfStrict, Eol::Any] {
            check_all_splits(|| Lines::new(eol, 4), b"abcd\r\nefgh\r\n", b"abcd\nefgh\n");
        }
        check_all_splits(|| Lines::new(Eol::Lf, 4), b"abcd\nefgh\n", b"abcd\nefgh\n");
        check_all_splits(|| Lines::new(Eol::Nul, 4), b"abcd\0efgh\0", b"abcd\nefgh\n");
        // max + 1 without an end of line fails once max + 2 bytes are buffered.
        let mut f = Lines::new(Eol::Lf, 4);
        let mut src = EvBuffer::new();
        let mut dst = EvBuffer::new();
        for (i, b) in b"abcdefgh".iter().enumerate() {
            src.add(&[*b]).unwrap();
            let r = f.process(&mut src, &mut dst, None, FlushMode::Normal);
            if i < 5 {
                r.unwrap();
            } else {
                let e = r.unwrap_err();
                assert!(
                    e.to_string().contains("no end of line within 4 bytes"),
                    "{e}"
                );
                break;
            }
        }
        // A too-long line that has its end of line is refused too.
        let e = run_chunks(
            &mut Lines::new(Eol::Lf, 4),
            &[b"abcdefgh\n"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("4 bytes"), "{e}");
    }

    #[test]
    fn a_long_line_arriving_in_pieces_is_searched_in_place() {
        for eol in [Eol::Any, Eol::Crlf, Eol::CrlfStrict, Eol::Lf] {
            let mut f = Lines::new(eol, 1 << 20);
            let (mut src, mut dst) = (EvBuffer::new(), EvBuffer::new());
            for _ in 0..64 {
                src.add_bytes(Bytes::from(vec![b'x'; 4096])).unwrap();
                f.process(&mut src, &mut dst, None, FlushMode::Normal)
                    .unwrap();
            }
            assert!(dst.is_empty());
            // not pulled up into one contiguous copy
            assert_eq!(src.chunk_count(), 64, "{eol:?}");
            src.add_bytes(Bytes::from_static(b"\r\n")).unwrap();
            f.process(&mut src, &mut dst, None, FlushMode::Normal)
                .unwrap();
            // the line, its new terminator, and for Lf the CR it keeps
            let cr = usize::from(eol == Eol::Lf);
            assert_eq!(dst.len(), 64 * 4096 + cr + 1, "{eol:?}");
        }
    }

    #[test]
    fn limit() {
        let input = b"aa\nbb\ncc\ndd\n";
        let out = run_limited(&mut Lines::new(Eol::Lf, 10), input, 3, 3).unwrap();
        assert_eq!(out, input);
    }
}
