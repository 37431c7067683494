//! The [`EvBuffer`] itself: the chunk queue, adding, removing and moving.
//!
//! Everything else (peek, reserve, search, lines, callbacks, I/O) is an
//! `impl EvBuffer` block in its own module; this one holds the representation
//! and the operations that change it.

use std::collections::VecDeque;
use std::mem;

use bytes::{Bytes, BytesMut};

use crate::callbacks::Callbacks;
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::policy::ChunkPolicy;

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
    /// The data, front first. Never holds an empty chunk; only the last
    /// chunk may be [`Chunk::Mut`].
    pub(crate) chunks: VecDeque<Chunk>,
    /// Total bytes in `chunks`.
    pub(crate) len: usize,
    pub(crate) policy: ChunkPolicy,
    /// Emptied allocations kept for reuse (see [`ChunkPolicy`]).
    pub(crate) spares: [Option<BytesMut>; ChunkPolicy::MAX_SPARES],
    pub(crate) frozen_front: bool,
    pub(crate) frozen_back: bool,
    /// Bumped by every change that moves data relative to the front, so that
    /// a [`Ptr`](crate::Ptr)'s cached chunk index is used only while valid.
    pub(crate) gen: u64,
    /// Whether `chunks` may hold a [`Chunk::File`]: set when one is pushed or
    /// moved in, cleared when a scan finds none. While false, operations
    /// that must have the front in memory skip looking for file chunks.
    pub(crate) files: bool,
    /// Change callbacks; `None` (the common case) costs one branch per change.
    pub(crate) cbs: Option<Box<Callbacks>>,
    /// The allocation `BufMut::chunk_mut` handed out when the tail had no
    /// room; it becomes the tail once something is written into it.
    pub(crate) bufmut_next: Option<BytesMut>,
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
            chunks: VecDeque::new(),
            len: 0,
            policy,
            spares: Default::default(),
            frozen_front: false,
            frozen_back: false,
            gen: crate::ptr::fresh_gen(),
            files: false,
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
        self.len
    }

    /// Whether the buffer holds no bytes.
    ///
    /// libevent: `evbuffer_get_length(buf) == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of chunks (libevent's chains) holding the data; equals
    /// `extent_count(..)` (`evbuffer_peek(buf, -1, NULL, NULL, 0)`).
    #[inline]
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Length of the first chunk: how many bytes `pullup` can return without
    /// copying (`evbuffer_get_contiguous_space`).
    #[inline]
    pub fn contiguous_len(&self) -> usize {
        self.chunks.front().map_or(0, Chunk::len)
    }

    /// Spare capacity of the tail chunk: how many bytes can be added without
    /// allocating.
    ///
    /// libevent: the room `evbuffer_expand` guarantees.
    #[inline]
    pub fn tail_capacity(&self) -> usize {
        self.chunks.back().map_or(0, Chunk::spare)
    }

    /// Drops the allocations kept for reuse (see [`ChunkPolicy`]), e.g. when a
    /// connection goes idle.
    ///
    /// libevent: no equivalent (libevent frees chains as they empty).
    pub fn release_spare(&mut self) {
        self.spares = Default::default();
    }

    // ----- internal helpers -------------------------------------------------

    /// Pushes a chunk at the back, freezing the current tail first so that
    /// only the last chunk is writable.
    #[inline]
    pub(crate) fn push_chunk(&mut self, c: Chunk) {
        debug_assert!(c.len() > 0);
        self.files |= c.is_file();
        self.freeze_tail();
        self.chunks.push_back(c);
    }

    /// Makes the tail chunk immutable (before something is pushed behind it).
    #[inline]
    pub(crate) fn freeze_tail(&mut self) {
        if let Some(last @ Chunk::Mut(_)) = self.chunks.back_mut() {
            let m = mem::replace(last, Chunk::Frozen(Bytes::new()));
            *last = m.freeze();
        }
    }

    /// A writable allocation able to take `needed` bytes: a spare if one is
    /// big enough (the largest), else a new one sized by the policy.
    pub(crate) fn alloc_chunk(&mut self, needed: usize) -> BytesMut {
        let mut best: Option<usize> = None;
        for (i, s) in self.spares.iter().enumerate() {
            if let Some(s) = s {
                let cap = s.capacity();
                if cap >= needed
                    && best
                        .is_none_or(|b| cap > self.spares[b].as_ref().map_or(0, |x| x.capacity()))
                {
                    best = Some(i);
                }
            }
        }
        if let Some(i) = best {
            if let Some(b) = self.spares[i].take() {
                return b;
            }
        }
        BytesMut::with_capacity(self.policy.next_capacity(self.len, needed))
    }

    /// Gives back an allocation for reuse (an emptied chunk, or an
    /// uncommitted reservation).
    pub(crate) fn recycle(&mut self, mut buf: BytesMut) {
        if !self.policy.keep_spare() {
            return;
        }
        buf.clear();
        // Get the full allocation back: try the largest useful size first
        // (bytes gives at least what is asked, the whole buffer if it can).
        let max = self.policy.max_chunk();
        let mut want = max;
        loop {
            if buf.try_reclaim(want) {
                break;
            }
            if want <= self.policy.min_chunk() {
                return;
            }
            want /= 2;
        }
        let cap = buf.capacity();
        if cap < self.policy.min_chunk() || cap > max.max(self.policy.min_chunk()) {
            return;
        }
        // Keep the two largest allocations, and among equals the ones at
        // the highest addresses: with a heap that grows upwards (glibc's
        // brk heap) holding the topmost chunk keeps the allocator from
        // trimming the memory below it back to the OS, only to fault it in
        // again on the next round of a fill-and-drain pattern.
        let rank = |b: &BytesMut| (b.capacity(), b.as_ptr() as usize);
        let new_rank = (cap, buf.as_ptr() as usize);
        let [s0, s1] = &mut self.spares;
        match (s0.as_ref().map(rank), s1.as_ref().map(rank)) {
            (None, _) => *s0 = Some(buf),
            (_, None) => *s1 = Some(buf),
            (Some(r0), Some(r1)) => {
                if r0 <= r1 && new_rank > r0 {
                    *s0 = Some(buf);
                } else if r1 < r0 && new_rank > r1 {
                    *s1 = Some(buf);
                }
            }
        }
    }

    #[inline]
    fn recycle_chunk(&mut self, c: Chunk) {
        if self.policy.keep_spare() {
            if let Some(b) = c.into_reusable() {
                self.recycle(b);
            }
        }
    }

    /// Copies `data` to the end: into the tail's spare capacity, then (if
    /// needed) into one new chunk. No freeze check, no callbacks.
    #[inline]
    pub(crate) fn append_copy(&mut self, data: &[u8]) {
        let mut rest = data;
        if let Some(Chunk::Mut(tail)) = self.chunks.back_mut() {
            let room = tail.capacity() - tail.len();
            if rest.len() <= room {
                tail.extend_from_slice(rest);
                self.len += rest.len();
                return;
            }
            let (now, later) = rest.split_at(room);
            tail.extend_from_slice(now);
            self.len += room;
            rest = later;
        }
        if !rest.is_empty() {
            self.append_copy_new_chunk(rest);
        }
    }

    #[cold]
    fn append_copy_new_chunk(&mut self, data: &[u8]) {
        let mut c = self.alloc_chunk(data.len());
        c.extend_from_slice(data);
        self.len += data.len();
        self.push_chunk(Chunk::Mut(c));
    }

    /// Removes the first `n <= len` bytes. No freeze check, no callbacks.
    #[inline]
    pub(crate) fn drain_internal(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        if n == 0 {
            return;
        }
        self.len -= n;
        self.gen = self.gen.wrapping_add(1);
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let l = front.len();
            if n < l {
                front.advance(n);
                return;
            }
            n -= l;
            if let Some(c) = self.chunks.pop_front() {
                self.recycle_chunk(c);
            }
        }
    }

    /// Takes the first `n` bytes (`0 < n <= len`) as chunks, splitting only
    /// the boundary chunk. Calls `sink` with each chunk. No checks.
    fn take_front_chunks(&mut self, mut n: usize, mut sink: impl FnMut(Chunk)) {
        self.len -= n;
        self.gen = self.gen.wrapping_add(1);
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let l = front.len();
            if n < l {
                sink(front.split_to(n));
                return;
            }
            n -= l;
            if let Some(c) = self.chunks.pop_front() {
                sink(c);
            }
        }
    }

    // ----- adding -----------------------------------------------------------

    /// Appends a copy of `data` (`evbuffer_add`).
    ///
    /// Small adds fill the tail chunk's spare capacity; see [`ChunkPolicy`].
    /// Fails with [`Error::FrozenBack`] if the back is frozen, even for an
    /// empty `data` (statement 12).
    #[inline]
    pub fn add(&mut self, data: &[u8]) -> Result<()> {
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        if data.len() > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("add", data.len(), self.len));
        }
        let orig = self.len;
        self.append_copy(data);
        self.notify(orig, data.len(), 0);
        Ok(())
    }

    /// Appends each slice in order, returning the total added
    /// (`evbuffer_add_iovec`, statement 34).
    pub fn add_slices(&mut self, slices: &[&[u8]]) -> Result<usize> {
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        let total = slices.iter().fold(0usize, |a, s| a.saturating_add(s.len()));
        if total > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("add_slices", total, self.len));
        }
        let orig = self.len;
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
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("add_bytes", n, self.len));
        }
        let orig = self.len;
        if n <= self.policy.coalesce_below() && self.tail_capacity() >= n {
            self.append_copy(&data);
        } else {
            self.push_chunk(Chunk::Frozen(data));
            self.len += n;
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
        if self.frozen_back {
            return Err((Error::FrozenBack, owner));
        }
        let n = owner.as_ref().len();
        if n > isize::MAX as usize - self.len {
            let e = Error::out_of_range("add_reference", n, self.len);
            return Err((e, owner));
        }
        if n == 0 {
            return Ok(());
        }
        let orig = self.len;
        self.push_chunk(Chunk::Frozen(Bytes::from_owner(owner)));
        self.len += n;
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
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        let n = src.len;
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("add_buffer_reference", n, self.len));
        }
        let orig = self.len;
        for c in &src.chunks {
            self.push_chunk(c.share());
        }
        self.len += n;
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Puts a copy of `data` before the current contents (`evbuffer_prepend`).
    ///
    /// Never writes into shared or referenced memory (statement 20): the bytes
    /// go into a new chunk, or — when the first chunk is a small writable one —
    /// into a new chunk together with a copy of it.
    pub fn prepend(&mut self, data: &[u8]) -> Result<()> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("prepend", n, self.len));
        }
        let orig = self.len;
        match self.chunks.front_mut() {
            Some(Chunk::Mut(front)) if front.len() <= self.policy.coalesce_below() => {
                // The only chunk is a small writable one: rebuild it with the
                // prepended bytes in front, keeping it writable.
                let cap = self.policy.next_capacity(self.len + n, n + front.len());
                let mut nb = BytesMut::with_capacity(cap);
                nb.extend_from_slice(data);
                nb.extend_from_slice(front);
                *front = nb;
            }
            _ => {
                self.chunks
                    .push_front(Chunk::Frozen(Bytes::copy_from_slice(data)));
            }
        }
        self.len += n;
        self.gen = self.gen.wrapping_add(1);
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Puts `data` before the current contents without copying it.
    ///
    /// libevent: `evbuffer_prepend` without the copy.
    pub fn prepend_bytes(&mut self, data: Bytes) -> Result<()> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("prepend_bytes", n, self.len));
        }
        let orig = self.len;
        self.chunks.push_front(Chunk::Frozen(data));
        self.len += n;
        self.gen = self.gen.wrapping_add(1);
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
        if src.frozen_front {
            return Err(Error::FrozenFront);
        }
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        let n = src.len;
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("append", n, self.len));
        }
        let orig = self.len;
        let src_orig = src.len;
        if n <= self.policy.coalesce_below()
            && src.chunks.len() == 1
            && matches!(src.chunks.front(), Some(Chunk::Mut(_)))
            && self.tail_capacity() >= n
        {
            if let Some(Chunk::Mut(b)) = src.chunks.front() {
                self.append_copy(b);
            }
            src.drain_internal(n);
        } else if self.chunks.is_empty() {
            // The buffers exchange their queues, and their spare allocations
            // with them: `src`, now empty, is the one that gets written into
            // next, while `self` has bytes to hand out.
            mem::swap(&mut self.chunks, &mut src.chunks);
            mem::swap(&mut self.spares, &mut src.spares);
            self.len = n;
            self.files |= src.files;
            src.files = false;
            src.len = 0;
            src.gen = src.gen.wrapping_add(1);
        } else {
            self.freeze_tail();
            self.chunks.append(&mut src.chunks);
            self.len += n;
            self.files |= src.files;
            src.files = false;
            src.len = 0;
            src.gen = src.gen.wrapping_add(1);
        }
        src.notify(src_orig, 0, n);
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Moves all of `src`'s bytes to the front of `self`
    /// (`evbuffer_prepend_buffer`, statement 19). Chunks move; nothing is copied.
    ///
    /// Errors: [`Error::FrozenFront`] if either buffer's front is frozen.
    pub fn prepend_buffer(&mut self, src: &mut EvBuffer) -> Result<()> {
        if src.frozen_front || self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let n = src.len;
        if n == 0 {
            return Ok(());
        }
        if n > isize::MAX as usize - self.len {
            return Err(Error::out_of_range("prepend_buffer", n, self.len));
        }
        let orig = self.len;
        if !self.chunks.is_empty() {
            src.freeze_tail();
        }
        let mine = mem::take(&mut self.chunks);
        self.chunks = mem::take(&mut src.chunks);
        self.chunks.extend(mine);
        self.files |= src.files;
        src.files = false;
        self.len += n;
        self.gen = self.gen.wrapping_add(1);
        src.len = 0;
        src.gen = src.gen.wrapping_add(1);
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
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        if dst.frozen_back {
            return Err(Error::FrozenBack);
        }
        let n = n.min(self.len);
        if n == 0 {
            return Ok(0);
        }
        if n > isize::MAX as usize - dst.len {
            return Err(Error::out_of_range("remove_into", n, dst.len));
        }
        if n == self.len {
            dst.append(self)?;
            return Ok(n);
        }
        let orig = self.len;
        let dst_orig = dst.len;
        self.take_front_chunks(n, |c| dst.push_chunk(c));
        dst.len += n;
        self.notify(orig, 0, n);
        dst.notify(dst_orig, n, 0);
        Ok(n)
    }

    // ----- removing ----------------------------------------------------------

    /// Copies the first `min(out.len(), len)` bytes into `out` and drains
    /// them; returns the count (`evbuffer_remove`, statement 15).
    #[inline]
    pub fn remove(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let n = out.len().min(self.len);
        if n == 0 {
            return Ok(0);
        }
        let orig = self.len;
        self.materialize_front(n)?;
        let mut done = 0;
        while done < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let s = front.as_slice();
            let k = s.len().min(n - done);
            out[done..done + k].copy_from_slice(&s[..k]);
            done += k;
            if k < front.len() {
                front.advance(k);
            } else if let Some(c) = self.chunks.pop_front() {
                self.recycle_chunk(c);
            }
        }
        self.len -= done;
        self.gen = self.gen.wrapping_add(1);
        self.notify(orig, 0, done);
        Ok(done)
    }

    /// Copies the first `min(out.len(), len)` bytes into `out` without
    /// draining them (`evbuffer_copyout`, statement 15).
    ///
    /// Like libevent 2.1.12 this fails with [`Error::FrozenFront`] when the
    /// front is frozen (statement 13).
    pub fn copy_out(&self, out: &mut [u8]) -> Result<usize> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
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
        let n = out.len().min(self.len - pos);
        let mut done = 0;
        let mut off = off;
        for c in self.chunks.range(ci..) {
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
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        let n = n.min(self.len);
        if n == 0 {
            return Ok(());
        }
        let orig = self.len;
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
                len = self.len,
                "clear() on a buffer with a frozen front: nothing removed"
            );
            return;
        }
        let n = self.len;
        if n == 0 {
            return;
        }
        self.drain_internal(n);
        self.notify(n, 0, n);
    }

    /// Makes the first `n` bytes contiguous and returns them
    /// (`evbuffer_pullup`).
    ///
    /// Free when they already lie in one chunk; otherwise they are copied into
    /// one new chunk. `n == 0` gives an empty slice; `n > len` is
    /// [`Error::OutOfRange`] (libevent: `NULL`); use
    /// [`pullup_all`](Self::pullup_all) for libevent's `pullup(-1)`.
    #[inline]
    pub fn pullup(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.len {
            return Err(Error::out_of_range("pullup", n, self.len));
        }
        if n == 0 {
            return Ok(&[]);
        }
        self.materialize_front(n)?;
        if self.chunks.front().map_or(0, Chunk::len) < n {
            self.coalesce_front(n);
        }
        match self.chunks.front() {
            Some(c) => Ok(&c.as_slice()[..n]),
            None => Ok(&[]),
        }
    }

    /// Makes all bytes contiguous and returns them (`evbuffer_pullup(buf, -1)`).
    pub fn pullup_all(&mut self) -> Result<&[u8]> {
        self.pullup(self.len)
    }

    /// Replaces the chunks holding the first `n` bytes with one chunk.
    fn coalesce_front(&mut self, n: usize) {
        let whole = n == self.len;
        let mut nb = if whole {
            self.alloc_chunk(n)
        } else {
            BytesMut::with_capacity(n)
        };
        let mut left = n;
        for c in &self.chunks {
            if left == 0 {
                break;
            }
            let s = c.as_slice();
            let k = s.len().min(left);
            nb.extend_from_slice(&s[..k]);
            left -= k;
        }
        // Drop the old chunks (recycling their allocations), keep the length.
        let len = self.len;
        self.drain_internal(n);
        self.len = len;
        if whole {
            self.chunks.push_back(Chunk::Mut(nb));
        } else {
            self.chunks.push_front(Chunk::Frozen(nb.freeze()));
        }
    }

    /// Removes the first `n` bytes and returns them as `Bytes`: no copy when
    /// they lie in one chunk, one copy otherwise. `n > len` is
    /// [`Error::OutOfRange`].
    ///
    /// libevent: `evbuffer_remove` into a new allocation, without the copy.
    pub fn split_to(&mut self, n: usize) -> Result<Bytes> {
        if self.frozen_front {
            return Err(Error::FrozenFront);
        }
        if n > self.len {
            return Err(Error::out_of_range("split_to", n, self.len));
        }
        if n == 0 {
            return Ok(Bytes::new());
        }
        let orig = self.len;
        self.materialize_front(n)?;
        let out = self.split_front_internal(n);
        self.notify(orig, 0, n);
        Ok(out)
    }

    /// Removes and returns the first `n` bytes (`0 < n <= len`, already in
    /// memory). No checks, no callbacks.
    #[inline]
    pub(crate) fn split_front_internal(&mut self, n: usize) -> Bytes {
        let front_len = self.chunks.front().map_or(0, Chunk::len);
        if n < front_len {
            self.len -= n;
            self.gen = self.gen.wrapping_add(1);
            if let Some(front) = self.chunks.front_mut() {
                return front.split_to(n).into_bytes();
            }
            return Bytes::new();
        }
        if n == front_len {
            self.len -= n;
            self.gen = self.gen.wrapping_add(1);
            return self
                .chunks
                .pop_front()
                .map_or_else(Bytes::new, Chunk::into_bytes);
        }
        self.split_front_copy(n)
    }

    /// `split_front_internal` for bytes spread over several chunks: one copy.
    #[cold]
    fn split_front_copy(&mut self, n: usize) -> Bytes {
        let mut nb = BytesMut::with_capacity(n);
        let mut left = n;
        for c in &self.chunks {
            if left == 0 {
                break;
            }
            let s = c.as_slice();
            let k = s.len().min(left);
            nb.extend_from_slice(&s[..k]);
            left -= k;
        }
        self.drain_internal(n);
        nb.freeze()
    }

    /// All bytes, copied into a `Vec` (for tests and debugging).
    ///
    /// libevent: `evbuffer_copyout` of everything.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
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
        if self.frozen_back {
            return Err(Error::FrozenBack);
        }
        if self.tail_capacity() >= n {
            return Ok(());
        }
        // The next add or reservation takes this allocation (it is the
        // largest spare that fits).
        let c = self.alloc_chunk(n);
        self.keep_spare(c);
        Ok(())
    }

    /// Keeps `c` as a spare even if the policy says not to (for `expand`,
    /// and an uncommitted reservation's new chunk).
    #[cold]
    pub(crate) fn keep_spare(&mut self, c: BytesMut) {
        if let Some(slot) = self.spares.iter_mut().find(|s| s.is_none()) {
            *slot = Some(c);
        } else {
            self.spares[0] = Some(c);
        }
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
        assert!(b.spares.iter().all(Option::is_none));
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
        let held = |x: &EvBuffer| {
            x.spares
                .iter()
                .flatten()
                .map(|s| s.as_ptr())
                .collect::<Vec<_>>()
        };
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
        assert!(b.spares.iter().any(Option::is_some));
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
        assert_eq!(b.chunks.front().map(Chunk::kind), Some("piece"));
        b.drain(1000).unwrap();
        assert!(b.spares.iter().all(Option::is_none));
        // The rest of the allocation, moved whole and drained as the last
        // reference to it, is kept.
        assert_eq!(a.remove_into(&mut b, usize::MAX).unwrap(), 7192);
        assert_eq!(b.to_vec(), pattern(7192, 1000));
        b.drain(7192).unwrap();
        assert!(b.spares.iter().any(Option::is_some));
        // A shared view is a piece too.
        let mut c = EvBuffer::new();
        c.add_bytes(Bytes::from(pattern(2000, 0))).unwrap();
        let mut d = EvBuffer::new();
        d.add_buffer_reference(&c).unwrap();
        assert_eq!(d.chunks.front().map(Chunk::kind), Some("piece"));
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
