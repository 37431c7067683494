//! Byte-for-byte transforms: a function or closure applied to every byte.
//!
//! The seed's first filter server upper-cases its input with a hand-written callback; [`Map`]
//! is that callback made reusable. Bytes move chunk by chunk: a chunk the buffer holds uniquely
//! is transformed in place (no copy).

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use bytes::BytesMut;
use evbuffer::EvBuffer;

use crate::util::{budget, first_extent_len, status};

/// A filter applying a function to every byte (a `bufferevent_filter_cb` that maps bytes).
///
/// All three flush modes behave alike: every available byte (up to `dst_limit`) is mapped and
/// moved.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::Map;
///
/// let mut rot13 = Map::new(|b: u8| match b {
///     b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
///     _ => b,
/// });
/// let (mut src, mut dst) = (EvBuffer::from(&b"hello"[..]), EvBuffer::new());
/// rot13.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"uryyb"[..]);
/// ```
pub struct Map<F> {
    f: F,
}

impl<F: FnMut(u8) -> u8 + Send> Map<F> {
    /// A filter calling `f` on every byte.
    ///
    /// libevent: a `bufferevent_filter_cb` rewriting each byte.
    pub fn new(f: F) -> Self {
        Map { f }
    }
}

impl<F> std::fmt::Debug for Map<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map").finish_non_exhaustive()
    }
}

impl<F: FnMut(u8) -> u8 + Send> Filter for Map<F> {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let f = &mut self.f;
        transform(src, dst, limit, |chunk| {
            for b in chunk {
                *b = f(*b);
            }
        })
    }
}

/// Moves up to `limit` bytes from `src` to `dst`, calling `f` on each chunk in place.
pub(crate) fn transform(
    src: &mut EvBuffer,
    dst: &mut EvBuffer,
    limit: Option<usize>,
    mut f: impl FnMut(&mut [u8]),
) -> Result<FilterStatus, FilterError> {
    let mut left = budget(limit).min(src.len());
    let mut added = 0;
    while left > 0 {
        let n = first_extent_len(src).min(left);
        let chunk = src.split_to(n).map_err(crate::Error::from)?;
        let mut chunk = chunk
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        f(&mut chunk);
        dst.add_bytes(chunk.freeze()).map_err(crate::Error::from)?;
        left -= n;
        added += n;
    }
    Ok(status(added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn maps_every_byte_in_all_modes_and_splits() {
        let input: Vec<u8> = (0..=255u8).collect();
        let expected: Vec<u8> = input.iter().map(|b| b.wrapping_add(1)).collect();
        check_all_splits(|| Map::new(|b: u8| b.wrapping_add(1)), &input, &expected);
    }

    #[test]
    fn respects_limit() {
        let mut m = Map::new(|b| b);
        let mut src = EvBuffer::from(&b"0123456789"[..]);
        let mut dst = EvBuffer::new();
        assert_eq!(
            m.process(&mut src, &mut dst, Some(4), FlushMode::Normal)
                .unwrap(),
            FilterStatus::Ok
        );
        assert_eq!(dst, b"0123"[..]);
        assert_eq!(src.len(), 6);
        assert_eq!(
            m.process(&mut src, &mut dst, Some(0), FlushMode::Normal)
                .unwrap(),
            FilterStatus::NeedMore
        );
        assert_eq!(
            m.process(&mut EvBuffer::new(), &mut dst, None, FlushMode::Finished)
                .unwrap(),
            FilterStatus::NeedMore
        );
    }
}
