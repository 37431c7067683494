//! ASCII case conversion: the seed's filter server upper-cases everything it reads.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use crate::map::transform;

/// Which way [`AsciiCase`] converts.
///
/// libevent: none (the seed's `filter_in` callback upper-cases by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `a`-`z` become `A`-`Z` (C's `toupper` in the "C" locale).
    Upper,
    /// `A`-`Z` become `a`-`z` (C's `tolower`).
    Lower,
}

/// Converts ASCII letters to upper or lower case; other bytes (including non-ASCII) pass unchanged.
///
/// Replaces the seed's `filter_in` (a `bufferevent_filter_cb` calling `toupper` on each byte),
/// without its 1,023-byte truncation. All flush modes behave alike.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::AsciiCase;
///
/// let mut upper = AsciiCase::upper();
/// let (mut src, mut dst) = (EvBuffer::from(&b"temp.data\0"[..]), EvBuffer::new());
/// upper.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"TEMP.DATA\0"[..]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AsciiCase {
    case: Case,
}

impl AsciiCase {
    /// A converter to `case`.
    ///
    /// libevent: a `bufferevent_filter_cb` calling `toupper`/`tolower` per byte (the seed's `filter_in`).
    pub fn new(case: Case) -> Self {
        AsciiCase { case }
    }
    /// Upper-cases ASCII letters.
    ///
    /// libevent: the seed's `filter_in` callback (`toupper`).
    pub fn upper() -> Self {
        Self::new(Case::Upper)
    }
    /// Lower-cases ASCII letters.
    ///
    /// libevent: a `bufferevent_filter_cb` calling `tolower` per byte.
    pub fn lower() -> Self {
        Self::new(Case::Lower)
    }
}

impl Filter for AsciiCase {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        match self.case {
            Case::Upper => transform(src, dst, limit, <[u8]>::make_ascii_uppercase),
            Case::Lower => transform(src, dst, limit, <[u8]>::make_ascii_lowercase),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn upper_and_lower_all_modes_all_splits() {
        let input = b"Hello, libevent 5001!\n\xff\x00zZ";
        check_all_splits(
            AsciiCase::upper,
            input,
            b"HELLO, LIBEVENT 5001!\n\xff\x00ZZ",
        );
        check_all_splits(
            AsciiCase::lower,
            input,
            b"hello, libevent 5001!\n\xff\x00zz",
        );
    }

    #[test]
    fn seed_transcript_bytes() {
        let mut f = AsciiCase::upper();
        let out = run_chunks(&mut f, &[b"temp.data\0"], FlushMode::Normal, None).unwrap();
        assert_eq!(out, b"TEMP.DATA\0");
    }
}
