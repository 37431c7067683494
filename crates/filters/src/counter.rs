//! A pass-through filter that counts the bytes going through it.
//!
//! libevent's NULL filter passes bytes unchanged (statement 55); the seed's client adds a
//! filter that prints how many bytes it saw. [`Counting`] does both: bytes move without copy
//! and a shared [`ByteCounter`] handle reads the running total from anywhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use crate::util::{budget, status};

/// A shared, cloneable count of bytes (all clones see the same number).
///
/// libevent: none (a counter kept by hand in a `bufferevent_filter_cb`'s `ctx`).
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// A counter at zero.
    ///
    /// libevent: none (see [`ByteCounter`]).
    pub fn new() -> Self {
        Self::default()
    }
    /// Bytes counted so far.
    ///
    /// libevent: none (see [`ByteCounter`]).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets the count back to zero and returns what it was.
    ///
    /// libevent: none (see [`ByteCounter`]).
    pub fn reset(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Passes bytes through unchanged (zero copy) and counts them in a [`ByteCounter`].
///
/// Equivalent to passing a NULL filter callback to `bufferevent_filter_new`, plus counting.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::Counting;
///
/// let mut f = Counting::new();
/// let seen = f.counter();
/// let (mut src, mut dst) = (EvBuffer::from(&b"54 bytes? no, 9"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(seen.get(), 15);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Counting {
    counter: ByteCounter,
}

impl Counting {
    /// A pass-through with a fresh counter.
    ///
    /// libevent: a `NULL` (pass-through) filter that counts.
    pub fn new() -> Self {
        Self::default()
    }
    /// A pass-through adding to an existing counter (e.g. one shared by many connections).
    ///
    /// libevent: a `NULL` (pass-through) filter that counts.
    pub fn with_counter(counter: ByteCounter) -> Self {
        Counting { counter }
    }
    /// A handle on this filter's counter.
    ///
    /// libevent: none (see [`ByteCounter`]).
    pub fn counter(&self) -> ByteCounter {
        self.counter.clone()
    }
}

impl Filter for Counting {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let n = src
            .remove_into(dst, budget(limit))
            .map_err(crate::Error::from)?;
        self.counter.add(n);
        Ok(status(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn passes_through_and_counts() {
        let input: Vec<u8> = (0..200u8).collect();
        check_all_splits(Counting::new, &input, &input);
        let mut f = Counting::new();
        let c = f.counter();
        let out = run_chunks(
            &mut f,
            &[b"abc", b"", b"de"],
            FlushMode::Flush,
            Some(FlushMode::Finished),
        )
        .unwrap();
        assert_eq!(out, b"abcde");
        assert_eq!(c.get(), 5);
        assert_eq!(c.reset(), 5);
        assert_eq!(f.counter().get(), 0);
    }

    #[test]
    fn limit_leaves_the_rest() {
        let mut f = Counting::new();
        let mut src = EvBuffer::from(&b"0123456789"[..]);
        let mut dst = EvBuffer::new();
        f.process(&mut src, &mut dst, Some(3), FlushMode::Normal)
            .unwrap();
        assert_eq!((src.len(), dst.len(), f.counter().get()), (7, 3, 3));
    }
}
