//! A chain of filters run as one filter: the output of each stage is the input of the next,
//! through intermediate buffers the chain owns.
//!
//! libevent composes filters by stacking filter bufferevents (each with its own buffers and
//! callbacks); a [`Chain`] does the same inside one filter, so one bufferevent can frame,
//! compress and encrypt.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use crate::util::status;
use crate::{Error, FilterEvent};

/// Filters applied in order, as one [`Filter`].
///
/// * The flush mode is passed to every stage, except that FINISHED reaches a stage only once
///   everything upstream of it has been consumed in this call; until then the stage sees
///   FLUSH (so a FINISHED never overtakes data still inside an earlier stage, and the next
///   FINISHED call completes it).
/// * `dst_limit` applies to the last stage; intermediate stages are unlimited, so the
///   intermediate buffers hold at most what one call's input expands to (each stage's own
///   bounds apply).
/// * An empty chain passes bytes through unchanged.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::framing::{LengthEncoder, LengthPrefix, Width};
/// use bufferevent_filters::{AsciiCase, Chain};
///
/// let mut f = Chain::new()
///     .then(AsciiCase::upper())
///     .then(LengthEncoder::new(LengthPrefix::new(Width::One)));
/// let (mut src, mut dst) = (EvBuffer::from(&b"abc"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"\x03ABC"[..]);
/// ```
///
/// libevent: stacking one `bufferevent_filter_new` per filter; here the filters share one bufferevent.
#[derive(Default)]
pub struct Chain {
    stages: Vec<Box<dyn Filter>>,
    /// `bufs[i]` holds stage i's output (stage i + 1's input).
    bufs: Vec<EvBuffer>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("stages", &self.stages.len())
            .field(
                "buffered",
                &self.bufs.iter().map(EvBuffer::len).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Chain {
    /// An empty chain (a pass-through).
    ///
    /// libevent: none (see [`Chain`]).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `filter` as the last stage.
    ///
    /// libevent: another `bufferevent_filter_new` on top.
    pub fn then<F: Filter + 'static>(mut self, filter: F) -> Self {
        self.push(Box::new(filter));
        self
    }
    /// Adds a boxed filter as the last stage.
    ///
    /// libevent: another `bufferevent_filter_new` on top.
    pub fn push(&mut self, filter: Box<dyn Filter>) {
        if !self.stages.is_empty() {
            self.bufs.push(EvBuffer::new());
        }
        self.stages.push(filter);
    }
    /// Number of stages.
    ///
    /// libevent: none (see [`Chain`]).
    pub fn len(&self) -> usize {
        self.stages.len()
    }
    /// True when the chain has no stage.
    ///
    /// libevent: none (see [`Chain`]).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
    /// Bytes waiting between stages.
    ///
    /// libevent: the underlying bufferevents' input lengths in a filter stack.
    pub fn buffered(&self) -> usize {
        self.bufs.iter().map(EvBuffer::len).sum()
    }
}

impl Filter for Chain {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let n = self.stages.len();
        if n == 0 {
            let moved = src
                .remove_into(dst, limit.unwrap_or(usize::MAX))
                .map_err(Error::from)?;
            return Ok(status(moved));
        }
        let before = dst.len();
        let mut upstream_drained = true;
        for i in 0..n {
            let (ins, outs) = self.bufs.split_at_mut(i);
            let input: &mut EvBuffer = if i == 0 { &mut *src } else { &mut ins[i - 1] };
            let output: &mut EvBuffer = if i + 1 == n { &mut *dst } else { &mut outs[0] };
            let stage_mode = match mode {
                FlushMode::Finished if !upstream_drained => FlushMode::Flush,
                m => m,
            };
            let stage_limit = if i + 1 == n { limit } else { None };
            self.stages[i].process(input, output, stage_limit, stage_mode)?;
            upstream_drained &= input.is_empty();
        }
        Ok(status(dst.len().saturating_sub(before)))
    }

    /// True when a stage wants to write or bytes wait between stages.
    fn wants_write(&self) -> bool {
        self.stages.iter().any(|s| s.wants_write()) || self.bufs.iter().any(|b| !b.is_empty())
    }

    /// The first event any stage has.
    fn take_event(&mut self) -> Option<FilterEvent> {
        self.stages.iter_mut().find_map(|s| s.take_event())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Lines, Width};
    use crate::testutil::*;
    use crate::{AsciiCase, Counting};
    use evbuffer::Eol;

    #[test]
    fn empty_chain_passes_through() {
        check_all_splits(Chain::new, b"abc", b"abc");
    }

    #[test]
    fn decode_chain_all_splits() {
        // Lines -> upper -> count: split-invariant as a whole.
        let make = || {
            Chain::new()
                .then(Lines::new(Eol::Crlf, 20))
                .then(AsciiCase::upper())
                .then(Counting::new())
        };
        check_all_splits(make, b"ab\r\ncd\nef", b"AB\nCD\nEF\n");
    }

    #[test]
    fn finished_waits_for_upstream() {
        // Stage 1 (length decoder) under a limit leaves data in the intermediate buffer; the
        // last stage must not see FINISHED before it has it all.
        let fmt = LengthPrefix::new(Width::One);
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.extend_from_slice(b"\x03abc");
        }
        let mut f = Chain::new()
            .then(LengthDecoder::new(fmt))
            .then(Lines::new(Eol::Lf, 100));
        let out = run_limited(&mut f, &wire, 4, 100).unwrap();
        assert_eq!(out, b"abcabcabcabcabc\n");
        let mut enc = Chain::new()
            .then(LengthEncoder::new(fmt))
            .then(LengthDecoder::new(fmt));
        let data = pseudo_random(1, 1000);
        let out = run_limited(&mut enc, &data, 7, 300).unwrap();
        assert_eq!(out, data);
        assert_eq!(enc.buffered(), 0);
    }

    #[test]
    fn errors_propagate() {
        let mut f = Chain::new()
            .then(Counting::new())
            .then(Lines::new(Eol::Lf, 2));
        let e = run_chunks(&mut f, &[b"abcdef"], FlushMode::Normal, None).unwrap_err();
        assert!(e.to_string().contains("no end of line"), "{e}");
    }
}
