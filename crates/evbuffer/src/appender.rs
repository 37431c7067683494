//! Many small adds in one go: [`EvBuffer::appender`] and [`Appender`].
//!
//! [`EvBuffer::add`] is libevent's `evbuffer_add`: each call checks the
//! frozen back and the length bound, finds the tail chunk, updates the
//! length and runs the change callbacks. For a few large adds that is
//! nothing, but a loop of many small ones (a serializer writing fields, a
//! protocol writing short records) pays it on every call, which a plain
//! `BytesMut` does not. An [`Appender`] does that bookkeeping once: it checks
//! the back when it is made, holds the writable tail chunk itself so that an
//! add is one capacity check and one copy, and puts the tail back, updates
//! the length and runs the callbacks once when it is dropped.
//!
//! An appender is also a [`bytes::BufMut`], with a
//! [`reserve`](Appender::reserve) like `BytesMut`'s, so that an encoder can
//! write straight into the buffer's tail chunk: `reserve(n)` then
//! `put_slice` is libevent's reserve / write / commit for one region, with
//! nothing to commit (what is written is added).
//!
//! libevent has no equivalent; its callbacks run after every add, an
//! appender's once, with the total, when it is dropped.

use bytes::buf::UninitSlice;
use bytes::{BufMut, BytesMut};

use crate::buffer::{Access, EvBuffer};
use crate::chunk::Chunk;
use crate::error::{Error, Result};

/// Appends many small pieces to an [`EvBuffer`] with the per-add bookkeeping
/// done once (the per-add checks, length update and callbacks). Made by
/// [`EvBuffer::appender`]; the bytes become part of the buffer, and the
/// change callbacks run once, when it is dropped. (Leaking it with
/// `mem::forget` loses the bytes of the tail chunk it holds; the buffer stays
/// consistent.)
///
/// ```
/// use evbuffer::EvBuffer;
///
/// let mut buf = EvBuffer::new();
/// {
///     let mut w = buf.appender().unwrap();
///     for i in 0..100u8 {
///         w.add(&[i; 8]).unwrap();
///     }
///     assert_eq!(w.len(), 800);
/// }
/// assert_eq!(buf.len(), 800);
/// ```
pub struct Appender<'a> {
    buf: &'a mut EvBuffer,
    /// The writable tail, taken out of the queue while the appender lives
    /// (its bytes are not counted in the queue's length meanwhile, so that
    /// the queue stays consistent even if the appender is leaked).
    tail: BytesMut,
    /// The buffer's length when the appender was made, for the callbacks.
    orig: usize,
    /// Bytes added so far is this plus `tail.len()` (wrapping): the common
    /// add then updates one length, the tail's, not two. Starts at minus the
    /// length the tail had when it was taken.
    added_before_tail: usize,
}

impl std::fmt::Debug for Appender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("added", &self.len())
            .field("tail_room", &(self.tail.capacity() - self.tail.len()))
            .finish()
    }
}

impl EvBuffer {
    /// An [`Appender`] for many small adds with the bookkeeping done once.
    ///
    /// Fails with [`Error::FrozenBack`] if the back is frozen.
    ///
    /// libevent: a run of `evbuffer_add` calls; libevent runs the callbacks
    /// after each, the appender once when it is dropped.
    #[inline]
    pub fn appender(&mut self) -> Result<Appender<'_>> {
        self.check("appender", Access::Add(0))?;
        let orig = self.len();
        let (tail, before) = match self.q.take_tail() {
            Some(t) => {
                let l = t.len();
                (t, l)
            }
            // No writable tail: start in the largest spare allocation, if any.
            None => (self.spares.take(1).unwrap_or_default(), 0),
        };
        Ok(Appender {
            buf: self,
            tail,
            orig,
            added_before_tail: 0usize.wrapping_sub(before),
        })
    }
}

impl Appender<'_> {
    /// Appends a copy of `data` (`evbuffer_add`): into the spare capacity of
    /// the tail chunk, or a new chunk sized by the buffer's
    /// [`ChunkPolicy`](crate::ChunkPolicy) when it is full.
    ///
    /// Fails with [`Error::OutOfRange`] if the buffer would exceed
    /// `isize::MAX` bytes.
    #[inline]
    pub fn add(&mut self, data: &[u8]) -> Result<()> {
        if data.len() <= self.tail.capacity() - self.tail.len() {
            self.tail.extend_from_slice(data);
            return Ok(());
        }
        self.add_slow(data)
    }

    /// Makes sure at least `n` more bytes fit in the tail chunk, in one
    /// region: when they do not, the tail is handed to the buffer as it is
    /// and a new chunk (sized by the [`ChunkPolicy`](crate::ChunkPolicy), at
    /// least `n`) becomes the tail. Like `BytesMut::reserve`; the region is
    /// [`BufMut::chunk_mut`].
    ///
    /// Fails with [`Error::OutOfRange`] if the buffer would exceed
    /// `isize::MAX` bytes.
    ///
    /// libevent: `evbuffer_reserve_space(buf, n, vec, 1)`.
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<()> {
        if n <= self.tail.capacity() - self.tail.len() {
            return Ok(());
        }
        self.new_tail(n)
    }

    /// Hands the tail (if it holds bytes) to the queue and starts a new one
    /// with room for `n` bytes.
    #[cold]
    fn new_tail(&mut self, n: usize) -> Result<()> {
        let held = self.buf.len() + self.tail.len();
        if n > isize::MAX as usize - held {
            return Err(Error::out_of_range("Appender::reserve", n, held));
        }
        let full = std::mem::take(&mut self.tail);
        self.added_before_tail = self.added_before_tail.wrapping_add(full.len());
        if !full.is_empty() {
            self.buf.q.push(Chunk::Mut(full));
        } else if full.capacity() > 0 {
            self.buf.recycle(full);
        }
        self.tail = self.buf.alloc_chunk(n);
        Ok(())
    }

    /// `add` when the tail cannot take all of `data`: fill it, hand it to
    /// the queue, continue in a new chunk.
    #[cold]
    fn add_slow(&mut self, data: &[u8]) -> Result<()> {
        let held = self.buf.len() + self.tail.len();
        if data.len() > isize::MAX as usize - held {
            return Err(Error::out_of_range("Appender::add", data.len(), held));
        }
        let room = self.tail.capacity() - self.tail.len();
        let (now, rest) = data.split_at(room);
        self.tail.extend_from_slice(now);
        let full = std::mem::take(&mut self.tail);
        self.added_before_tail = self.added_before_tail.wrapping_add(full.len());
        if !full.is_empty() {
            self.buf.q.push(Chunk::Mut(full));
        } else if full.capacity() > 0 {
            self.buf.recycle(full);
        }
        self.tail = self.buf.alloc_chunk(rest.len());
        self.tail.extend_from_slice(rest);
        Ok(())
    }

    /// Bytes added through this appender so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.added_before_tail.wrapping_add(self.tail.len())
    }

    /// Whether nothing was added yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// SAFETY: `chunk_mut` returns the tail chunk's spare capacity (a new tail
// is made when it has none); `advance_mut` adds at most that many bytes to
// the tail, which the caller has initialised (the trait's contract).
unsafe impl BufMut for Appender<'_> {
    /// Room left before the buffer would exceed `isize::MAX` bytes.
    #[inline]
    fn remaining_mut(&self) -> usize {
        isize::MAX as usize - (self.buf.len() + self.tail.len())
    }

    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let cnt = cnt.min(self.tail.capacity() - self.tail.len());
        // SAFETY: the caller initialised the first `cnt` bytes of what
        // `chunk_mut` returned, the tail's spare capacity (trait contract);
        // clamped to its size.
        unsafe { self.tail.advance_mut(cnt) };
    }

    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.tail.capacity() == self.tail.len() && self.new_tail(1).is_err() {
            return UninitSlice::new(&mut []);
        }
        UninitSlice::uninit(self.tail.spare_capacity_mut())
    }

    /// One [`add`](Appender::add). Panics, as `BufMut::put_slice` documents,
    /// if `src` is longer than [`remaining_mut`](BufMut::remaining_mut).
    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        if let Err(e) = self.add(src) {
            panic!("Appender::put_slice: {e}");
        }
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        let added = self.len();
        let tail = std::mem::take(&mut self.tail);
        if !tail.is_empty() {
            self.buf.q.push(Chunk::Mut(tail));
        } else if tail.capacity() > 0 {
            self.buf.spares.keep(tail);
        }
        self.buf.notify(self.orig, added, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::End;

    #[test]
    fn adds_go_where_add_puts_them() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let (mut a, mut b) = (EvBuffer::new(), EvBuffer::new());
        a.add(b"head").unwrap();
        b.add(b"head").unwrap();
        {
            let mut w = a.appender().unwrap();
            for piece in data.chunks(61) {
                w.add(piece).unwrap();
            }
            w.add(b"").unwrap();
            assert_eq!(w.len(), data.len());
        }
        for piece in data.chunks(61) {
            b.add(piece).unwrap();
        }
        a.check_invariants();
        assert_eq!(a.to_vec(), b.to_vec());
        assert_eq!(a.chunk_count(), b.chunk_count(), "same chunk sizing");
        // The tail is writable again afterwards.
        let room = a.tail_capacity();
        a.add(b"x").unwrap();
        assert_eq!(a.tail_capacity(), room.saturating_sub(1));
    }

    #[test]
    fn reserve_and_bufmut_write_into_one_region() {
        let mut buf = EvBuffer::new();
        buf.add(b">").unwrap();
        {
            let mut w = buf.appender().unwrap();
            for i in 0..40u8 {
                w.reserve(1000).unwrap();
                assert!(w.chunk_mut().len() >= 1000);
                w.put_slice(&[i; 1000]);
            }
            w.put_u16(0x4142);
            assert_eq!(w.len(), 40_002);
        }
        buf.check_invariants();
        let v = buf.to_vec();
        assert_eq!(v.len(), 40_003);
        assert_eq!(&v[..2], &[b'>', 0]);
        assert_eq!(&v[v.len() - 3..], &[39, b'A', b'B']);
        // Each 1,000-byte piece lies in one chunk.
        for (i, piece) in v[1..40_001].chunks(1000).enumerate() {
            assert!(piece.iter().all(|&b| b == i as u8));
        }
        let mut pos = 0;
        for e in buf.peek(..) {
            pos += e.len();
            assert!(pos == 1 || (pos - 1) % 1000 == 0 || pos == v.len(), "{pos}");
        }
    }

    #[test]
    fn raw_bufmut_writes_between_adds() {
        // `chunk_mut` + `advance_mut` (as an encoder writing in place would)
        // mixed with adds, across new tails.
        let mut buf = EvBuffer::with_chunk_policy(crate::ChunkPolicy::new().with_max_chunk(1024));
        let mut want = Vec::new();
        {
            let mut w = buf.appender().unwrap();
            for i in 0..300u32 {
                let b = (i % 251) as u8;
                w.add(&[b; 3]).unwrap();
                want.extend_from_slice(&[b; 3]);
                let c = w.chunk_mut();
                let k = c.len().min(5);
                for j in 0..k {
                    c.write_byte(j, b ^ 0xff);
                }
                // SAFETY: the first `k` bytes were written just above.
                unsafe { w.advance_mut(k) };
                want.extend(std::iter::repeat_n(b ^ 0xff, k));
                assert_eq!(w.len(), want.len());
            }
        }
        buf.check_invariants();
        assert_eq!(buf.to_vec(), want);
    }

    #[test]
    fn callbacks_run_once_with_the_total() {
        use std::sync::{Arc, Mutex};
        let mut buf = EvBuffer::new();
        buf.add(b"ab").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        buf.add_cb(move |info| s.lock().unwrap().push((info.orig_size, info.n_added)));
        {
            let mut w = buf.appender().unwrap();
            for _ in 0..10 {
                w.add(b"0123456789").unwrap();
            }
        }
        assert_eq!(*seen.lock().unwrap(), [(2, 100)]);
    }

    #[test]
    fn frozen_back_and_an_unused_appender() {
        let mut buf = EvBuffer::new();
        buf.add(b"x").unwrap();
        drop(buf.appender().unwrap());
        assert_eq!(buf, &b"x"[..]);
        buf.check_invariants();
        buf.freeze(End::Back);
        assert!(matches!(buf.appender(), Err(Error::FrozenBack)));
    }

    #[test]
    fn a_leaked_appender_leaves_a_consistent_buffer() {
        let mut buf = EvBuffer::new();
        buf.add(b"kept").unwrap();
        buf.q.freeze_tail();
        buf.add(b"tail").unwrap();
        let mut w = buf.appender().unwrap();
        w.add(b"lost").unwrap();
        std::mem::forget(w);
        buf.check_invariants();
        assert_eq!(buf, &b"kept"[..]);
    }
}
