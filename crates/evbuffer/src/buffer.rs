//! The [`EvBuffer`] itself: its representation, adding, removing and moving.
//!
//! The bytes live in a [`ChunkQueue`](crate::queue::ChunkQueue), which alone
//! changes the chunks, the length and the generation (its module lists the
//! invariants); emptied allocations go to the [`Spares`] recycler. The
//! operations here check what the caller asked for ([`EvBuffer::check`]),
//! call the queue's mutators and run the change callbacks. Everything else
//! (peek, reserve, search, lines, callbacks, I/O) is an `impl EvBuffer` block
//! in its own module.

use std::mem;

use bytes::{Bytes, BytesMut};

use crate::callbacks::Callbacks;
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::policy::ChunkPolicy;
use crate::queue::ChunkQueue;
use crate::spare::Spares;

/// libevent's `struct evbuffer`: a queue of byte chunks that moves data
/// between buffers without copying it.
///
/// * Adding copies into the spare capacity of the tail chunk ([`add`](Self::add))
///   or takes ownership of memory without copying ([`add_bytes`](Self::add_bytes),
///   [`add_reference`](Self::add_reference)).
/// * Moving between buffers moves chunks ([`append`](Self::append),
///   [`remove_into`](Self::remove_into), [`prepend_buffer`](Self::prepend_buffer));
///   only a boundary chunk is split, by reference.
/// * Reading looks at the chunks in place ([`peek`](Self::peek),
///   [`search`](Self::search)) or takes bytes out ([`remove`](Self::remove),
///   [`read_line`](Self::read_line), [`split_to`](Self::split_to)).
/// * I/O reads into reserved space and writes with `writev`
///   ([`read_from`](Self::read_from), [`write_to`](Self::write_to)).
///
/// ```
/// use evbuffer::{EvBuffer, Eol};
///
/// let mut input = EvBuffer::new();
/// input.add(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
/// let line = input.read_line(Eol::CrlfStrict).unwrap().unwrap();
/// assert_eq!(&line[..], b"GET / HTTP/1.0");
///
/// let mut output = EvBuffer::new();
/// output.append(&mut input).unwrap();          // moves chunks, copies nothing
/// assert!(input.is_empty());
/// assert_eq!(output, &b"Host: x\r\n\r\n"[..]);
/// ```
pub struct EvBuffer {
    /// The data: chunks, length and generation (see [`ChunkQueue`]).
    pub(crate) q: ChunkQueue,
    pub(crate) policy: ChunkPolicy,
    /// Emptied allocations kept for reuse (see [`ChunkPolicy`]).
    pub(crate) spares: Spares,
    pub(crate) frozen_front: bool,
    pub(crate) frozen_back: bool,
    /// Change callbacks; `None` (the common case) costs one branch per change.
    pub(crate) cbs: Option<Box<Callbacks>>,
    /// The allocation `BufMut::chunk_mut` handed out when the tail had no
    /// room; it becomes the tail once something is written into it.
    pub(crate) bufmut_next: Option<BytesMut>,
}

/// What an operation is about to do, for [`EvBuffer::check`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    /// Take bytes from the front.
    Take,
    /// Add this many bytes at the back.
    Add(usize),
    /// Put this many bytes before the front.
    Prepend(usize),
}

impl Default for EvBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl EvBuffer {
    /// An empty buffer with the default [`ChunkPolicy`] (`evbuffer_new`).
    /// Allocates nothing until data arrives.
    pub fn new() -> Self {
        Self::with_chunk_policy(ChunkPolicy::new())
    }

    /// An empty buffer whose chunks are sized by `policy`.
    ///
    /// libevent: `evbuffer_new`; libevent's chunk sizing is fixed.
    pub fn with_chunk_policy(policy: ChunkPolicy) -> Self {
        EvBuffer {
            q: ChunkQueue::new(),
            policy,
            spares: Spares::default(),
            frozen_front: false,
            frozen_back: false,
            cbs: None,
            bufmut_next: None,
        }
    }

    /// The chunk policy in force.
    ///
    /// libevent: no equivalent (fixed sizing).
    pub fn chunk_policy(&self) -> ChunkPolicy {
        self.policy
    }

    /// Number of bytes stored (`evbuffer_get_length`).
    #[inline]
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether the buffer holds no bytes.
    ///
    /// libevent: `evbuffer_get_length(buf) == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Number of chunks (libevent's chains) holding the data; equals
    /// `extent_count(..)` (`evbuffer_peek(buf, -1, NULL, NULL, 0)`).
    #[inline]
    pub fn chunk_count(&self) -> usize {
        self.q.chunks().len()
    }

    /// Length of the first chunk: how many bytes `pullup` can return without
    /// copying (`evbuffer_get_contiguous_space`).
    #[inline]
    pub fn contiguous_len(&self) -> usize {
        self.q.front().map_or(0, Chunk::len)
    }

    /// Spare capacity of the tail chunk: how many bytes can be added without
    /// allocating.
    ///
    /// libevent: the room `evbuffer_expand` guarantees.
    #[inline]
    pub fn tail_capacity(&self) -> usize {
        self.q.tail_spare()
    }

    /// Frees every allocation the buffer holds without holding data: the
    /// emptied chunk allocations kept for reuse (see [`ChunkPolicy`]), the
    /// one a `BufMut::chunk_mut` call set aside, and, when the buffer is
    /// empty, the chunk array itself. An empty buffer then holds no heap
    /// memory at all, e.g. for a connection that goes idle.
    ///
    /// libevent: no equivalent (libevent frees chains as they empty).
    pub fn release_spare(&mut self) {
        self.spares.clear();
        self.bufmut_next = None;
        self.q.shrink();
    }

    /// Checks the chunk queue's invariants (no empty chunk, only the tail
    /// writable, the length equal to the sum of the chunk lengths, the file
    /// flag set whenever a file chunk is held), panicking with what is
    /// wrong. O(chunks); for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        self.q.check_invariants();
    }

    // ----- internal helpers -------------------------------------------------

    /// The checks every operation opens with, in libevent's order: the end it
    /// works on must not be frozen ([`Error::FrozenFront`] /
    /// [`Error::FrozenBack`]), and bytes it adds must keep the length within
    /// `isize::MAX` ([`Error::OutOfRange`] naming `op`). An operation that
    /// then finds nothing to do (0 bytes) returns at once.
    #[inline]
    pub(crate) fn check(&self, op: &'static str, access: Access) -> Result<()> {
        let n = match access {
            Access::Take if self.frozen_front => return Err(Error::FrozenFront),
            Access::Take => return Ok(()),
            Access::Add(_) if self.frozen_back => return Err(Error::FrozenBack),
            Access::Prepend(_) if self.frozen_front => return Err(Error::FrozenFront),
            Access::Add(n) | Access::Prepend(n) => n,
        };
        if self.q.fits(n) {
            Ok(())
        } else {
            Err(Error::out_of_range(op, n, self.len()))
        }
    }

    /// Pushes a chunk at the back (see [`ChunkQueue::push`]).
    #[inline]
    pub(crate) fn push_chunk(&mut self, c: Chunk) {
        self.q.push(c);
    }

    /// A writable allocation able to take `needed` bytes: a spare if one is
    /// big enough (the largest), else a new one sized by the policy.
    #[inline]
    pub(crate) fn alloc_chunk(&mut self, needed: usize) -> BytesMut {
        match self.spares.take(needed) {
            Some(b) => b,
            None => BytesMut::with_capacity(self.policy.next_capacity(self.len(), needed)),
        }
    }

    /// Gives back an allocation for reuse (an uncommitted reservation's).
    pub(crate) fn recycle(&mut self, buf: BytesMut) {
        self.spares.offer(buf, &self.policy);
    }

    /// Copies `data` to the end: into the tail's spare capacity, then (if
    /// needed) into one new chunk. No checks, no callbacks.
    #[inline]
    pub(crate) fn append_copy(&mut self, data: &[u8]) {
        if !self.q.try_extend_tail(data) {
            self.append_copy_slow(data);
        }
    }

    /// `append_copy` when the tail cannot take all of `data`: fill it, then
    /// one new chunk.
    #[cold]
    fn append_copy_slow(&mut self, data: &[u8]) {
        let k = self.q.extend_tail(data);
        let rest = &data[k..];
        if !rest.is_empty() {
            let mut c = self.alloc_chunk(rest.len());
            c.extend_from_slice(rest);
            self.q.push(Chunk::Mut(c));
        }
    }

    /// Removes the first `n <= len` bytes, recycling emptied chunks. No
    /// checks, no callbacks.
    #[inline]
    pub(crate) fn drain_internal(&mut self, n: usize) {
        let (spares, policy) = (&mut self.spares, &self.policy);
        self.q.advance(n, |c| spares.offer_chunk(c, policy));
    }

    /// Reads file chunks among the first `n` bytes into memory (see
    /// [`ChunkQueue::load_files`]); one branch when there are none.
    #[inline]
    pub(crate) fn materialize_front(&mut self, n: usize) -> Result<()> {
        if !self.q.may_hold_files() {
            debug_assert!(!self.q.chunks().iter().any(Chunk::is_file));
            return Ok(());
        }
        self.q.load_files(n)
    }

    // ----- adding -----------------------------------------------------------

    /// Appends a copy of `data` (`evbuffer_add`).
    ///
    /// Small adds fill the tail chunk's spare capacity; see [`ChunkPolicy`].
    /// Fails with [`Error::FrozenBack`] if the back is frozen, even for an
    /// empty `data` (statement 12).
    #[inline]
    pub fn add(&mut self, data: &[u8]) -> Result<()> {
        self.check("add", Access::Add(data.len()))?;
        let orig = self.len();
        self.append_copy(data);
        self.notify(orig, data.len(), 0);
        Ok(())
    }

    /// Appends each slice in order, returning the total added
    /// (`evbuffer_add_iovec`, statement 34).
    pub fn add_slices(&mut self, slices: &[&[u8]]) -> Result<usize> {
        let total = slices.iter().fold(0usize, |a, s| a.saturating_add(s.len()));
        self.check("add_slices", Access::Add(total))?;
        let orig = self.len();
        for s in slices {
            self.append_copy(s);
        }
        self.notify(orig, total, 0);
        Ok(total)
    }

    /// Appends `data` without copying it: the `Bytes` becomes a chunk
    /// (the zero-copy half of `evbuffer_add_reference`).
    ///
    /// An empty `data` adds nothing. Data of at most
    /// [`ChunkPolicy::coalesce_below`] bytes that fits in the tail's spare
    /// capacity is copied there instead, so that many tiny `Bytes` do not
    /// fragment the buffer.
    pub fn add_bytes(&mut self, data: Bytes) -> Result<()> {
        let n = data.len();
        self.check("add_bytes", Access::Add(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        if n <= self.policy.coalesce_below() && self.tail_capacity() >= n {
            self.append_copy(&data);
        } else {
            self.q.push(Chunk::Frozen(data));
        }
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Appends the bytes of `owner` without copying them; `owner` is dropped
    /// (its `Drop` is the cleanup) once the last of these bytes has left every
    /// buffer (`evbuffer_add_reference` with a cleanup function).
    ///
    /// Moving the bytes to another buffer does not drop the owner
    /// (statement 21). An empty `owner` adds nothing and is dropped at once.
    /// If the back is frozen the owner is dropped and
    /// [`Error::FrozenBack`] returned — libevent never runs the cleanup of a
    /// failed add; use [`try_add_reference`](Self::try_add_reference) to get
    /// the owner back instead.
    pub fn add_reference<T: AsRef<[u8]> + Send + 'static>(&mut self, owner: T) -> Result<()> {
        self.try_add_reference(owner).map_err(|(e, _owner)| e)
    }

    /// Like [`add_reference`](Self::add_reference), but on failure hands the
    /// owner back undropped, so its cleanup does not run (libevent's exact
    /// behaviour for a failed add).
    pub fn try_add_reference<T: AsRef<[u8]> + Send + 'static>(
        &mut self,
        owner: T,
    ) -> std::result::Result<(), (Error, T)> {
        let n = owner.as_ref().len();
        if let Err(e) = self.check("add_reference", Access::Add(n)) {
            return Err((e, owner));
        }
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        self.q.push(Chunk::Frozen(Bytes::from_owner(owner)));
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Appends a view of all of `src`'s bytes without moving them
    /// (`evbuffer_add_buffer_reference`): afterwards draining either buffer
    /// does not affect the other, and `src` may be dropped first.
    ///
    /// Every chunk is shared by reference except `src`'s writable tail chunk,
    /// whose bytes (at most one chunk) are copied, because `src` keeps
    /// appending into that allocation. libevent refuses a source that already
    /// holds shared chains; here any source works (statement 22's `-1` cases
    /// do not arise: `dst == src` cannot be expressed).
    pub fn add_buffer_reference(&mut self, src: &EvBuffer) -> Result<()> {
        let n = src.len();
        self.check("add_buffer_reference", Access::Add(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        for c in src.q.chunks() {
            self.q.push(c.share());
        }
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Puts a copy of `data` before the current contents (`evbuffer_prepend`).
    ///
    /// Never writes into shared or referenced memory (statement 20): the bytes
    /// go into a new chunk, or — when the only chunk is a small writable one —
    /// into a new chunk together with a copy of it.
    pub fn prepend(&mut self, data: &[u8]) -> Result<()> {
        let n = data.len();
        self.check("prepend", Access::Prepend(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        self.q.prepend_copy(data, &self.policy);
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Puts `data` before the current contents without copying it.
    ///
    /// libevent: `evbuffer_prepend` without the copy.
    pub fn prepend_bytes(&mut self, data: Bytes) -> Result<()> {
        let n = data.len();
        self.check("prepend_bytes", Access::Prepend(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        self.q.push_front(Chunk::Frozen(data));
        self.notify(orig, n, 0);
        Ok(())
    }

    // ----- moving between buffers --------------------------------------------

    /// Moves all of `src`'s bytes to the end of `self`; `src` becomes empty
    /// (`evbuffer_add_buffer`). Chunks move; no byte is copied, except that a
    /// whole `src` of at most [`ChunkPolicy::coalesce_below`] bytes in one
    /// writable chunk is copied into `self`'s tail when it fits there.
    ///
    /// Errors: [`Error::FrozenFront`] if `src`'s front is frozen,
    /// [`Error::FrozenBack`] if `self`'s back is frozen.
    pub fn append(&mut self, src: &mut EvBuffer) -> Result<()> {
        src.check("append", Access::Take)?;
        let n = src.len();
        self.check("append", Access::Add(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        let small_tail = match src.q.chunks().front() {
            Some(Chunk::Mut(b)) if src.q.chunks().len() == 1 => Some(b),
            _ => None,
        };
        match small_tail {
            Some(b) if n <= self.policy.coalesce_below() && self.tail_capacity() >= n => {
                self.q.extend_tail(b);
                src.drain_internal(n);
            }
            _ => {
                if self.q.is_empty() {
                    // The buffers exchange their spare allocations along with
                    // the chunks: `src`, now empty, is the one that gets
                    // written into next, while `self` has bytes to hand out.
                    mem::swap(&mut self.spares, &mut src.spares);
                }
                self.q.append(&mut src.q);
            }
        }
        src.notify(n, 0, n);
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Moves all of `src`'s bytes to the front of `self`
    /// (`evbuffer_prepend_buffer`, statement 19). Chunks move; nothing is copied.
    ///
    /// Errors: [`Error::FrozenFront`] if either buffer's front is frozen.
    pub fn prepend_buffer(&mut self, src: &mut EvBuffer) -> Result<()> {
        src.check("prepend_buffer", Access::Take)?;
        let n = src.len();
        self.check("prepend_buffer", Access::Prepend(n))?;
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        self.q.prepend(&mut src.q);
        src.notify(n, 0, n);
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Moves the first `min(n, len)` bytes to the end of `dst` and returns how
    /// many moved (`evbuffer_remove_buffer`, statement 18). Whole chunks move;
    /// only the boundary chunk is split, by reference.
    ///
    /// Errors: [`Error::FrozenFront`] if `self`'s front is frozen,
    /// [`Error::FrozenBack`] if `dst`'s back is frozen.
    #[inline]
    pub fn remove_into(&mut self, dst: &mut EvBuffer, n: usize) -> Result<usize> {
        self.check("remove_into", Access::Take)?;
        let n = n.min(self.len());
        dst.check("remove_into", Access::Add(n))?;
        if n == 0 {
            return Ok(0);
        }
        if n == self.len() {
            dst.append(self)?;
            return Ok(n);
        }
        let orig = self.len();
        let dst_orig = dst.len();
        let q = &mut dst.q;
        self.q.take_front(n, |c| q.push(c));
        self.notify(orig, 0, n);
        dst.notify(dst_orig, n, 0);
        Ok(n)
    }

    // ----- removing ----------------------------------------------------------

    /// Copies the first `min(out.len(), len)` bytes into `out` and drains
    /// them; returns the count (`evbuffer_remove`, statement 15).
    #[inline]
    pub fn remove(&mut self, out: &mut [u8]) -> Result<usize> {
        self.check("remove", Access::Take)?;
        let n = out.len().min(self.len());
        if n == 0 {
            return Ok(0);
        }
        let orig = self.len();
        self.materialize_front(n)?;
        let (spares, policy) = (&mut self.spares, &self.policy);
        self.q
            .remove_copy(&mut out[..n], |c| spares.offer_chunk(c, policy));
        self.notify(orig, 0, n);
        Ok(n)
    }

    /// Copies the first `min(out.len(), len)` bytes into `out` without
    /// draining them (`evbuffer_copyout`, statement 15).
    ///
    /// Like libevent 2.1.12 this fails with [`Error::FrozenFront`] when the
    /// front is frozen (statement 13).
    pub fn copy_out(&self, out: &mut [u8]) -> Result<usize> {
        self.check("copy_out", Access::Take)?;
        self.copy_out_at(0, 0, 0, out)
    }

    /// Copies starting in chunk `ci` at offset `off` (absolute position
    /// `pos`) into `out`.
    pub(crate) fn copy_out_at(
        &self,
        pos: usize,
        ci: usize,
        off: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        let n = out.len().min(self.len() - pos);
        let mut done = 0;
        let mut off = off;
        for c in self.q.chunks().range(ci..) {
            if done == n {
                break;
            }
            let s = c.as_slice();
            if s.len() < c.len() {
                if let Chunk::File(f) = c {
                    return Err(f.unreadable_error());
                }
            }
            let s = &s[off.min(s.len())..];
            off = 0;
            let k = s.len().min(n - done);
            out[done..done + k].copy_from_slice(&s[..k]);
            done += k;
        }
        Ok(done)
    }

    /// Removes the first `min(n, len)` bytes (`evbuffer_drain`); draining more
    /// than the length empties the buffer (statement 14).
    #[inline]
    pub fn drain(&mut self, n: usize) -> Result<()> {
        self.check("drain", Access::Take)?;
        let n = n.min(self.len());
        if n == 0 {
            return Ok(());
        }
        let orig = self.len();
        self.drain_internal(n);
        self.notify(orig, 0, n);
        Ok(())
    }

    /// Removes everything. Does nothing if the front is frozen (use
    /// [`drain`](Self::drain) to get the error).
    ///
    /// libevent: `evbuffer_drain(buf, evbuffer_get_length(buf))`.
    pub fn clear(&mut self) {
        if self.frozen_front {
            tracing::debug!(
                len = self.len(),
                "clear() on a buffer with a frozen front: nothing removed"
            );
            return;
        }
        let n = self.len();
        if n == 0 {
            return;
        }
        self.drain_internal(n);
        self.notify(n, 0, n);
    }

    /// Makes the first `n` bytes contiguous and returns them
    /// (`evbuffer_pullup`).
    ///
    /// Free when they already lie in one chunk (see
    /// [`contiguous_len`](Self::contiguous_len)); otherwise they are copied
    /// into one new chunk. `n == 0` gives an empty slice; `n > len` is
    /// [`Error::OutOfRange`] (libevent: `NULL`); use
    /// [`pullup_all`](Self::pullup_all) for libevent's `pullup(-1)`.
    #[inline]
    pub fn pullup(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.len() {
            return Err(Error::out_of_range("pullup", n, self.len()));
        }
        // The common case first: the bytes lie in the front chunk, in memory.
        if n <= self.contiguous_len() && !self.q.front().is_some_and(Chunk::is_file) {
            return Ok(self.q.front().map_or(&[][..], |c| &c.as_slice()[..n]));
        }
        self.pullup_slow(n)
    }

    #[cold]
    fn pullup_slow(&mut self, n: usize) -> Result<&[u8]> {
        self.materialize_front(n)?;
        if self.contiguous_len() < n {
            let nb = if n == self.len() {
                self.alloc_chunk(n)
            } else {
                BytesMut::with_capacity(n)
            };
            let (spares, policy) = (&mut self.spares, &self.policy);
            self.q
                .coalesce_front(n, nb, |c| spares.offer_chunk(c, policy));
        }
        Ok(self.q.front().map_or(&[][..], |c| &c.as_slice()[..n]))
    }

    /// Makes all bytes contiguous and returns them (`evbuffer_pullup(buf, -1)`).
    pub fn pullup_all(&mut self) -> Result<&[u8]> {
        self.pullup(self.len())
    }

    /// Removes the first `n` bytes and returns them as `Bytes`: no copy when
    /// they lie in one chunk, one copy otherwise. `n > len` is
    /// [`Error::OutOfRange`].
    ///
    /// libevent: `evbuffer_remove` into a new allocation, without the copy.
    #[inline]
    pub fn split_to(&mut self, n: usize) -> Result<Bytes> {
        self.check("split_to", Access::Take)?;
        if n > self.len() {
            return Err(Error::out_of_range("split_to", n, self.len()));
        }
        if n == 0 {
            return Ok(Bytes::new());
        }
        let orig = self.len();
        let out = match self.q.take_front_bytes(n) {
            Some(b) => b,
            None => self.split_front_slow(n)?,
        };
        self.notify(orig, 0, n);
        Ok(out)
    }

    /// Removes and returns the first `n` bytes (`0 < n <= len`): by
    /// reference when they lie in the front chunk, else copied once. Reads
    /// file chunks first. No checks, no callbacks.
    #[inline]
    pub(crate) fn split_front_internal(&mut self, n: usize) -> Result<Bytes> {
        match self.q.take_front_bytes(n) {
            Some(b) => Ok(b),
            None => self.split_front_slow(n),
        }
    }

    /// `split_front_internal` for bytes in a file chunk or spread over
    /// several chunks.
    #[cold]
    fn split_front_slow(&mut self, n: usize) -> Result<Bytes> {
        self.materialize_front(n)?;
        if let Some(b) = self.q.take_front_bytes(n) {
            return Ok(b);
        }
        let mut nb = BytesMut::with_capacity(n);
        let mut left = n;
        for c in self.q.chunks() {
            if left == 0 {
                break;
            }
            let s = c.as_slice();
            let k = s.len().min(left);
            nb.extend_from_slice(&s[..k]);
            left -= k;
        }
        self.drain_internal(n);
        Ok(nb.freeze())
    }

    /// All bytes, copied into a `Vec` (for tests and debugging).
    ///
    /// libevent: `evbuffer_copyout` of everything.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for c in self.q.chunks() {
            let s = c.as_slice();
            v.extend_from_slice(s);
            if s.len() < c.len() {
                break;
            }
        }
        v
    }

    /// Makes sure at least `n` bytes can be added without allocating
    /// (`evbuffer_expand`).
    pub fn expand(&mut self, n: usize) -> Result<()> {
        self.check("expand", Access::Add(n))?;
        if self.tail_capacity() >= n {
            return Ok(());
        }
        // The next add or reservation takes this allocation (it is the
        // largest spare that fits).
        let c = self.alloc_chunk(n);
        self.spares.keep(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, start: usize) -> Vec<u8> {
        (start..start + n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn new_is_empty_and_allocates_nothing() {
        let b = EvBuffer::new();
        assert!(b.is_empty());
        assert_eq!(b.len(), 0);
        assert_eq!(b.chunk_count(), 0);
        assert_eq!(b.tail_capacity(), 0);
    }

    #[test]
    fn small_adds_fill_the_tail() {
        let mut b = EvBuffer::new();
        for _ in 0..16 {
            b.add(&[7u8; 64]).unwrap();
        }
        assert_eq!(b.len(), 1024);
        assert_eq!(b.chunk_count(), 1, "16 x 64 B fit one 1 KiB chunk");
        b.add(b"x").unwrap();
        assert_eq!(b.chunk_count(), 2);
    }

    #[test]
    fn big_add_gets_its_own_chunk() {
        let mut b = EvBuffer::new();
        let big = pattern(200_000, 0);
        b.add(&big).unwrap();
        assert_eq!(b.chunk_count(), 1);
        assert_eq!(b.to_vec(), big);
    }

    #[test]
    fn add_drain_remove_roundtrip() {
        let mut b = EvBuffer::new();
        let data = pattern(10_000, 0);
        for piece in data.chunks(97) {
            b.add(piece).unwrap();
        }
        assert_eq!(b.len(), 10_000);
        b.drain(100).unwrap();
        let mut out = vec![0u8; 500];
        assert_eq!(b.remove(&mut out).unwrap(), 500);
        assert_eq!(out, &data[100..600]);
        let mut out2 = vec![0u8; 20_000];
        assert_eq!(b.copy_out(&mut out2).unwrap(), 9_400);
        assert_eq!(&out2[..9_400], &data[600..]);
        assert_eq!(b.len(), 9_400);
        b.drain(usize::MAX).unwrap();
        assert!(b.is_empty());
        assert_eq!(b.chunk_count(), 0);
        assert_eq!(b.remove(&mut out).unwrap(), 0);
    }

    #[test]
    fn drained_chunks_are_reused() {
        let mut b = EvBuffer::new();
        let mut out = [0u8; 4096];
        // Warm up, then check the allocation is the same across rounds.
        for _ in 0..3 {
            for _ in 0..1024 {
                b.add(&[1u8; 64]).unwrap();
            }
            while b.remove(&mut out).unwrap() > 0 {}
        }
        b.add(&[1u8; 64]).unwrap();
        let p1 = b.peek(..).next().unwrap().as_ptr();
        while b.remove(&mut out).unwrap() > 0 {}
        b.add(&[1u8; 64]).unwrap();
        let p2 = b.peek(..).next().unwrap().as_ptr();
        assert_eq!(p1, p2);
        b.release_spare();
        assert!(b.spares.is_empty());
    }

    #[test]
    fn append_moves_chunks() {
        let mut a = EvBuffer::new();
        let mut b = EvBuffer::new();
        a.add(&pattern(5000, 0)).unwrap();
        let p = a.peek(..).next().unwrap().as_ptr();
        b.append(&mut a).unwrap();
        assert!(a.is_empty());
        assert_eq!(b.len(), 5000);
        assert_eq!(b.peek(..).next().unwrap().as_ptr(), p, "no copy");
        // Appending into a non-empty buffer keeps order.
        a.add(&pattern(3000, 5000)).unwrap();
        b.append(&mut a).unwrap();
        assert_eq!(b.to_vec(), pattern(8000, 0));
        // Small whole buffers are coalesced into the tail.
        let mut c = EvBuffer::new();
        c.add(b"abc").unwrap();
        c.add(&[0; 10]).unwrap();
        let chunks = c.chunk_count();
        let mut d = EvBuffer::new();
        d.add(b"xyz").unwrap();
        c.append(&mut d).unwrap();
        assert_eq!(c.chunk_count(), chunks);
        assert_eq!(c.len(), 16);
        // Appending an empty buffer is a no-op.
        c.append(&mut d).unwrap();
        assert_eq!(c.len(), 16);
    }

    #[test]
    fn append_into_an_empty_buffer_hands_over_the_spares() {
        // A fill / move / drain cycle: `b`'s drained allocations go back to
        // `a`, which writes into them instead of allocating.
        let held = |x: &EvBuffer| x.spares.iter().map(|s| s.as_ptr()).collect::<Vec<_>>();
        let mut a = EvBuffer::new();
        let mut b = EvBuffer::new();
        for round in 0..4 {
            let offered = held(&a);
            // `b` drains after the exchange, so its allocations reach `a`
            // one round later.
            assert_eq!(offered.is_empty(), round < 2);
            a.add(&pattern(4096, round)).unwrap();
            let p = a.peek(..).next().unwrap().as_ptr();
            assert_eq!(offered.contains(&p), round >= 2, "round {round}");
            a.add(&pattern(100_000, round)).unwrap();
            b.append(&mut a).unwrap();
            assert!(a.is_empty());
            b.drain(b.len()).unwrap();
        }
        // The exchange itself: `b` (drained, holding spares) and `a`.
        assert!(b.spares.iter().next().is_some());
        let (before_a, before_b) = (held(&a), held(&b));
        a.add(b"y").unwrap();
        b.append(&mut a).unwrap();
        assert_eq!(held(&a), before_b);
        assert!(held(&b).iter().all(|p| before_a.contains(p)));
        // Appending into a non-empty buffer moves no spares.
        let mut c = EvBuffer::new();
        c.add(b"x").unwrap();
        let before = held(&a);
        a.add(b"z").unwrap();
        c.append(&mut a).unwrap();
        assert_eq!(held(&a), before);
    }

    #[test]
    fn remove_into_splits_only_the_boundary() {
        let mut a = EvBuffer::new();
        for i in 0..3 {
            a.add_bytes(Bytes::from(pattern(512, i * 512))).unwrap();
        }
        let mut b = EvBuffer::new();
        assert_eq!(a.remove_into(&mut b, 1280).unwrap(), 1280);
        assert_eq!(a.len(), 256);
        assert_eq!(b.len(), 1280);
        assert_eq!(b.chunk_count(), 3);
        assert_eq!(b.to_vec(), pattern(1280, 0));
        assert_eq!(a.to_vec(), pattern(256, 1280));
        assert_eq!(a.remove_into(&mut b, 10_000).unwrap(), 256);
        assert_eq!(b.to_vec(), pattern(1536, 0));
        assert_eq!(a.remove_into(&mut b, 5).unwrap(), 0);
    }

    #[test]
    fn drained_pieces_are_not_offered_as_spares() {
        let mut a = EvBuffer::new();
        a.add(&pattern(8192, 0)).unwrap();
        let mut b = EvBuffer::new();
        assert_eq!(a.remove_into(&mut b, 1000).unwrap(), 1000);
        assert_eq!(b.q.front().map(Chunk::kind), Some("piece"));
        b.drain(1000).unwrap();
        assert!(b.spares.is_empty());
        // The rest of the allocation, moved whole and drained as the last
        // reference to it, is kept.
        assert_eq!(a.remove_into(&mut b, usize::MAX).unwrap(), 7192);
        assert_eq!(b.to_vec(), pattern(7192, 1000));
        b.drain(7192).unwrap();
        assert!(b.spares.iter().next().is_some());
        // A shared view is a piece too.
        let mut c = EvBuffer::new();
        c.add_bytes(Bytes::from(pattern(2000, 0))).unwrap();
        let mut d = EvBuffer::new();
        d.add_buffer_reference(&c).unwrap();
        assert_eq!(d.q.front().map(Chunk::kind), Some("piece"));
    }

    #[test]
    fn prepend_and_prepend_buffer() {
        let mut b = EvBuffer::new();
        b.add(b"world").unwrap();
        b.prepend(b"hello ").unwrap();
        assert_eq!(b, &b"hello world"[..]);
        assert_eq!(b.chunk_count(), 1, "small writable front is merged");
        b.add(b"!").unwrap();
        let mut s = EvBuffer::new();
        s.add(b">> ").unwrap();
        b.prepend_buffer(&mut s).unwrap();
        assert!(s.is_empty());
        assert_eq!(b, &b">> hello world!"[..]);
        b.prepend_bytes(Bytes::from_static(b"[")).unwrap();
        assert_eq!(b, &b"[>> hello world!"[..]);
        b.prepend(b"").unwrap();
        // A big front chunk gets a new chunk in front of it.
        let mut c = EvBuffer::new();
        c.add(&pattern(4000, 0)).unwrap();
        c.prepend(b"ab").unwrap();
        assert_eq!(c.chunk_count(), 2);
        assert_eq!(&c.to_vec()[..3], &[b'a', b'b', 0]);
    }

    #[test]
    fn pullup_and_split_to() {
        let mut b = EvBuffer::new();
        for i in 0..4 {
            b.add_bytes(Bytes::from(pattern(100, i * 100))).unwrap();
        }
        assert_eq!(b.chunk_count(), 4);
        assert_eq!(b.pullup(50).unwrap(), &pattern(50, 0)[..]);
        assert_eq!(b.chunk_count(), 4, "already contiguous: free");
        assert_eq!(b.pullup(250).unwrap(), &pattern(250, 0)[..]);
        assert_eq!(
            b.chunk_count(),
            3,
            "250 pulled up, then 50 and 100 untouched"
        );
        assert!(matches!(
            b.pullup(401),
            Err(Error::OutOfRange {
                requested: 401,
                len: 400,
                ..
            })
        ));
        assert_eq!(b.pullup(0).unwrap(), b"");
        assert_eq!(b.pullup_all().unwrap(), &pattern(400, 0)[..]);
        assert_eq!(b.chunk_count(), 1);
        let x = b.split_to(10).unwrap();
        assert_eq!(&x[..], &pattern(10, 0)[..]);
        assert!(b.split_to(1000).is_err());
        let y = b.split_to(390).unwrap();
        assert_eq!(&y[..], &pattern(390, 10)[..]);
        assert!(b.is_empty());
        assert_eq!(b.split_to(0).unwrap().len(), 0);
        let mut e = EvBuffer::new();
        assert_eq!(e.pullup_all().unwrap(), b"");
    }

    #[test]
    fn split_across_chunks_copies_once() {
        let mut b = EvBuffer::new();
        b.add_bytes(Bytes::from_static(b"abc")).unwrap();
        b.add_bytes(Bytes::from_static(b"defg")).unwrap();
        // coalesce_below copies tiny Bytes into the tail only when it has room.
        let x = b.split_to(5).unwrap();
        assert_eq!(&x[..], b"abcde");
        assert_eq!(b, &b"fg"[..]);
    }

    #[test]
    fn add_reference_cleanup_runs_once_when_drained() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Owner(Vec<u8>, Arc<AtomicUsize>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for Owner {
            fn drop(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let hits = Arc::new(AtomicUsize::new(0));
        let mut a = EvBuffer::new();
        a.add_reference(Owner(b"referenced".to_vec(), hits.clone()))
            .unwrap();
        let mut b = EvBuffer::new();
        b.append(&mut a).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 0, "moving does not clean up");
        b.drain(9).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        b.drain(1).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        a.freeze(crate::End::Back);
        let (e, owner) = a
            .try_add_reference(Owner(b"x".to_vec(), hits.clone()))
            .unwrap_err();
        assert!(matches!(e, Error::FrozenBack));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "failed add does not clean up"
        );
        drop(owner);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn add_buffer_reference_is_independent() {
        let mut src = EvBuffer::new();
        src.add_bytes(Bytes::from(pattern(3000, 0))).unwrap();
        src.add(b"tail").unwrap();
        let mut dst = EvBuffer::new();
        dst.add(b">").unwrap();
        dst.add_buffer_reference(&src).unwrap();
        assert_eq!(src.len(), 3004);
        assert_eq!(dst.len(), 3005);
        src.drain(100).unwrap();
        src.add(b"more").unwrap();
        assert_eq!(&dst.to_vec()[1..], &src_bytes_before(&pattern(3000, 0))[..]);
        drop(src);
        dst.drain(3001).unwrap();
        assert_eq!(dst, &b"tail"[..]);

        fn src_bytes_before(p: &[u8]) -> Vec<u8> {
            let mut v = p.to_vec();
            v.extend_from_slice(b"tail");
            v
        }
    }

    #[test]
    fn add_slices_and_expand() {
        let mut b = EvBuffer::new();
        assert_eq!(b.add_slices(&[b"ab", b"", b"cde"]).unwrap(), 5);
        assert_eq!(b, &b"abcde"[..]);
        let mut c = EvBuffer::new();
        c.expand(10_000).unwrap();
        c.add(&[1; 10_000]).unwrap();
        assert_eq!(c.chunk_count(), 1);
        assert_eq!(c.contiguous_len(), 10_000);
    }
}
