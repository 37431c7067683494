//! The chunk queue: the one place that changes a buffer's chunks, its length
//! and its generation.
//!
//! [`EvBuffer`](crate::EvBuffer) is a queue of chunks plus policy, freezing,
//! callbacks and spare allocations. Every operation that adds, removes or
//! moves bytes does it through the few mutators of [`ChunkQueue`]; everything
//! else only reads the chunks. The invariants below are therefore kept here,
//! in one file, instead of by hand in every operation:
//!
//! 1. **No empty chunk.** Every chunk holds at least one byte, so "the front
//!    chunk" always has data and the chunk count is the extent count.
//! 2. **Only the tail is writable.** A [`Chunk::Mut`] is always the last
//!    chunk; a chunk pushed behind it freezes it first. Appends go into the
//!    tail's spare capacity, and every other chunk can be shared by
//!    reference without copying.
//! 3. **`len` is the sum of the chunk lengths**, kept up to date by every
//!    mutator, so that the length is O(1).
//! 4. **`gen` changes with every front change**: whenever bytes leave the
//!    front, bytes are put before the front, or chunks are replaced or
//!    inserted (which moves chunk indices), the generation is bumped. A
//!    [`Ptr`](crate::Ptr) caches a chunk index and offset together with the
//!    generation it was made at, and uses the cache only while the
//!    generation is unchanged. Appending at the back moves nothing and keeps
//!    the generation.
//! 5. **`files` is set whenever a file chunk may be held**, so that while it
//!    is clear the operations that need bytes in memory skip looking for
//!    file chunks.
//!
//! [`ChunkQueue::check_invariants`] checks all of them (O(chunks)); the unit
//! tests, the property test against a model and the fuzz target call it
//! after every operation.

use std::collections::VecDeque;
use std::mem::{self, MaybeUninit};

use bytes::{Bytes, BytesMut};

use crate::chunk::Chunk;
use crate::error::Result;
use crate::file::LOAD_STEP;
use crate::policy::ChunkPolicy;

/// The chunks of a buffer, front first, with their total length and the
/// generation that [`Ptr`](crate::Ptr)s are checked against. See the module
/// documentation for the invariants its mutators keep.
pub(crate) struct ChunkQueue {
    chunks: VecDeque<Chunk>,
    len: usize,
    gen: u64,
    files: bool,
}

impl ChunkQueue {
    /// An empty queue with a generation no other buffer uses.
    pub(crate) fn new() -> Self {
        ChunkQueue {
            chunks: VecDeque::new(),
            len: 0,
            gen: crate::ptr::fresh_gen(),
            files: false,
        }
    }

    // ----- reading ------------------------------------------------------------

    /// Total bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held (then no chunk is held either).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The generation (see the module documentation).
    #[inline]
    pub(crate) fn gen(&self) -> u64 {
        self.gen
    }

    /// The chunks, front first, for reading.
    #[inline]
    pub(crate) fn chunks(&self) -> &VecDeque<Chunk> {
        &self.chunks
    }

    /// The first chunk.
    #[inline]
    pub(crate) fn front(&self) -> Option<&Chunk> {
        self.chunks.front()
    }

    /// Whether a file chunk may be held (false: certainly none).
    #[inline]
    pub(crate) fn may_hold_files(&self) -> bool {
        self.files
    }

    /// Spare capacity of the writable tail chunk (0 if there is none).
    #[inline]
    pub(crate) fn tail_spare(&self) -> usize {
        self.chunks.back().map_or(0, Chunk::spare)
    }

    /// Whether bytes could be added without exceeding `isize::MAX` in all.
    #[inline]
    pub(crate) fn fits(&self, n: usize) -> bool {
        n <= isize::MAX as usize - self.len
    }

    // ----- adding at the back -------------------------------------------------

    /// Pushes a non-empty chunk at the back, freezing the tail first.
    #[inline]
    pub(crate) fn push(&mut self, c: Chunk) {
        debug_assert!(c.len() > 0, "no empty chunk");
        self.files |= c.is_file();
        self.len += c.len();
        self.freeze_tail();
        self.chunks.push_back(c);
    }

    /// Makes the tail chunk immutable (before something is pushed behind it,
    /// or to test how chunk boundaries are handled).
    #[inline]
    pub(crate) fn freeze_tail(&mut self) {
        if let Some(last @ Chunk::Mut(_)) = self.chunks.back_mut() {
            let m = mem::replace(last, Chunk::Frozen(Bytes::new()));
            *last = m.freeze();
        }
    }

    /// Copies all of `data` into the tail's spare capacity if it fits there;
    /// `false` (nothing copied) otherwise.
    #[inline]
    pub(crate) fn try_extend_tail(&mut self, data: &[u8]) -> bool {
        match self.chunks.back_mut() {
            Some(Chunk::Mut(tail)) if data.len() <= tail.capacity() - tail.len() => {
                tail.extend_from_slice(data);
                self.len += data.len();
                true
            }
            _ => false,
        }
    }

    /// Copies as much of `data` as fits into the tail's spare capacity and
    /// returns how much that was.
    pub(crate) fn extend_tail(&mut self, data: &[u8]) -> usize {
        let Some(Chunk::Mut(tail)) = self.chunks.back_mut() else {
            return 0;
        };
        let k = data.len().min(tail.capacity() - tail.len());
        tail.extend_from_slice(&data[..k]);
        self.len += k;
        k
    }

    /// The tail's spare capacity, to be written and then committed with
    /// [`commit_tail`](Self::commit_tail) (empty if there is no writable tail).
    #[inline]
    pub(crate) fn tail_spare_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        match self.chunks.back_mut() {
            Some(Chunk::Mut(b)) => b.spare_capacity_mut(),
            _ => &mut [],
        }
    }

    /// Adds the first `n` bytes of the tail's spare capacity to the data.
    ///
    /// # Safety
    ///
    /// Those `n` bytes must have been initialised, and `n` must be at most
    /// [`tail_spare`](Self::tail_spare).
    #[inline]
    pub(crate) unsafe fn commit_tail(&mut self, n: usize) {
        if let Some(Chunk::Mut(b)) = self.chunks.back_mut() {
            debug_assert!(n <= b.capacity() - b.len());
            // SAFETY: the caller initialised these `n` bytes of the spare
            // capacity, and they are within it.
            unsafe { b.set_len(b.len() + n) };
            self.len += n;
        }
    }

    /// Takes the writable tail chunk out of the queue (for an
    /// [`Appender`](crate::Appender), which pushes it back when done); its
    /// bytes leave the length until then.
    #[inline]
    pub(crate) fn take_tail(&mut self) -> Option<BytesMut> {
        if !matches!(self.chunks.back(), Some(Chunk::Mut(_))) {
            return None;
        }
        let Some(Chunk::Mut(b)) = self.chunks.pop_back() else {
            return None;
        };
        self.len -= b.len();
        self.gen = self.gen.wrapping_add(1);
        Some(b)
    }

    /// Moves every chunk of `src` to the back; `src` becomes empty. When this
    /// queue is empty the two exchange their chunk arrays (no chunk is
    /// touched).
    pub(crate) fn append(&mut self, src: &mut ChunkQueue) {
        if src.is_empty() {
            return;
        }
        if self.chunks.is_empty() {
            mem::swap(&mut self.chunks, &mut src.chunks);
        } else {
            self.freeze_tail();
            self.chunks.append(&mut src.chunks);
        }
        self.len += src.len;
        self.files |= src.files;
        src.len = 0;
        src.files = false;
        src.gen = src.gen.wrapping_add(1);
    }

    // ----- adding at the front ------------------------------------------------

    /// Puts a non-empty immutable chunk before the front.
    pub(crate) fn push_front(&mut self, c: Chunk) {
        debug_assert!(c.len() > 0, "no empty chunk");
        debug_assert!(self.chunks.is_empty() || !matches!(c, Chunk::Mut(_)));
        self.files |= c.is_file();
        self.len += c.len();
        self.gen = self.gen.wrapping_add(1);
        self.chunks.push_front(c);
    }

    /// Puts a copy of non-empty `data` before the front: when the only chunk
    /// is a small writable one, it is rebuilt with the bytes in front (and
    /// stays writable); otherwise the bytes get a chunk of their own.
    pub(crate) fn prepend_copy(&mut self, data: &[u8], policy: &ChunkPolicy) {
        debug_assert!(!data.is_empty());
        let total = self.len + data.len();
        if let (1, Some(Chunk::Mut(front))) = (self.chunks.len(), self.chunks.front_mut()) {
            if front.len() <= policy.coalesce_below() {
                let cap = policy.next_capacity(total, data.len() + front.len());
                let mut nb = BytesMut::with_capacity(cap);
                nb.extend_from_slice(data);
                nb.extend_from_slice(front);
                *front = nb;
                self.len = total;
                self.gen = self.gen.wrapping_add(1);
                return;
            }
        }
        self.push_front(Chunk::Frozen(Bytes::copy_from_slice(data)));
    }

    /// Moves every chunk of `src` before the front; `src` becomes empty.
    pub(crate) fn prepend(&mut self, src: &mut ChunkQueue) {
        if src.is_empty() {
            return;
        }
        if !self.chunks.is_empty() {
            src.freeze_tail();
        }
        let mine = mem::take(&mut self.chunks);
        self.chunks = mem::take(&mut src.chunks);
        self.chunks.extend(mine);
        self.len += src.len;
        self.files |= src.files;
        self.gen = self.gen.wrapping_add(1);
        src.len = 0;
        src.files = false;
        src.gen = src.gen.wrapping_add(1);
    }

    // ----- removing from the front --------------------------------------------

    /// Removes the first `n <= len` bytes; each emptied chunk goes to
    /// `spent` (for the spare recycler).
    #[inline]
    pub(crate) fn advance(&mut self, mut n: usize, mut spent: impl FnMut(Chunk)) {
        debug_assert!(n <= self.len);
        if n == 0 {
            return;
        }
        self.len -= n;
        self.gen = self.gen.wrapping_add(1);
        while let Some(front) = self.chunks.front_mut() {
            let l = front.len();
            if n < l {
                front.advance(n);
                return;
            }
            n -= l;
            if let Some(c) = self.chunks.pop_front() {
                spent(c);
            }
            if n == 0 {
                return;
            }
        }
    }

    /// Takes the first `n <= len` bytes as chunks, splitting only the
    /// boundary chunk (by reference), and hands each to `sink` in order.
    #[inline]
    pub(crate) fn take_front(&mut self, mut n: usize, mut sink: impl FnMut(Chunk)) {
        debug_assert!(n <= self.len);
        if n == 0 {
            return;
        }
        self.len -= n;
        self.gen = self.gen.wrapping_add(1);
        while let Some(front) = self.chunks.front_mut() {
            let l = front.len();
            if n < l {
                sink(front.split_to(n));
                return;
            }
            n -= l;
            if let Some(c) = self.chunks.pop_front() {
                sink(c);
            }
            if n == 0 {
                return;
            }
        }
    }

    /// Removes the first `0 < n` bytes as one `Bytes`, without copying, if
    /// they lie in the front chunk and it is in memory; `None` (nothing
    /// changed) otherwise.
    #[inline]
    pub(crate) fn take_front_bytes(&mut self, n: usize) -> Option<Bytes> {
        let out = match self.chunks.front_mut()? {
            Chunk::Frozen(b) | Chunk::Piece(b) if n < b.len() => b.split_to(n),
            Chunk::Mut(b) if n < b.len() => b.split_to(n).freeze(),
            c if n == c.len() && !c.is_file() => match self.chunks.pop_front()? {
                Chunk::Frozen(b) | Chunk::Piece(b) => b,
                Chunk::Mut(b) => b.freeze(),
                Chunk::File(_) => return None,
            },
            _ => return None,
        };
        self.len -= n;
        self.gen = self.gen.wrapping_add(1);
        Some(out)
    }

    /// Removes a line of `line` bytes and its terminator (`total` bytes in
    /// all) from the front and returns the line, without copying, if they
    /// lie in the front chunk with at least one byte after them; `None`
    /// (nothing changed) otherwise.
    #[inline]
    pub(crate) fn take_front_line(&mut self, line: usize, total: usize) -> Option<Bytes> {
        let out = match self.chunks.front_mut()? {
            Chunk::Frozen(b) | Chunk::Piece(b) if total < b.len() => {
                if line == 0 {
                    bytes::Buf::advance(b, total);
                    Bytes::new()
                } else {
                    // `Bytes::split_to` without the call (it is not
                    // `#[inline]`): a clone (one atomic increment) cut to the
                    // line, and the chunk advanced.
                    let mut l = b.clone();
                    l.truncate(line);
                    bytes::Buf::advance(b, total);
                    l
                }
            }
            Chunk::Mut(b) if total < b.len() => {
                let mut l = b.split_to(total).freeze();
                l.truncate(line);
                l
            }
            _ => return None,
        };
        self.len -= total;
        self.gen = self.gen.wrapping_add(1);
        Some(out)
    }

    /// Copies the first `out.len() <= len` bytes into `out` and removes
    /// them, in one pass (they must be in memory); emptied chunks go to
    /// `spent`.
    #[inline]
    pub(crate) fn remove_copy(&mut self, out: &mut [u8], mut spent: impl FnMut(Chunk)) {
        let n = out.len();
        debug_assert!(n <= self.len);
        if n == 0 {
            return;
        }
        let mut done = 0;
        while let Some(front) = self.chunks.front_mut() {
            let s = front.as_slice();
            let k = s.len().min(n - done);
            out[done..done + k].copy_from_slice(&s[..k]);
            done += k;
            if k < front.len() {
                front.advance(k);
                break;
            }
            if let Some(c) = self.chunks.pop_front() {
                spent(c);
            }
            if done == n {
                break;
            }
        }
        debug_assert_eq!(done, n, "bytes not in memory");
        self.len -= done;
        self.gen = self.gen.wrapping_add(1);
    }

    /// Replaces the chunks holding the first `n` bytes (`1 < n <= len`, in
    /// memory) with one chunk made by copying them into `nb` (empty, with
    /// room for `n` bytes). When that is every byte, `nb` stays writable as
    /// the only chunk. The replaced chunks go to `spent`.
    pub(crate) fn coalesce_front(&mut self, n: usize, mut nb: BytesMut, spent: impl FnMut(Chunk)) {
        debug_assert!(n <= self.len && nb.is_empty() && nb.capacity() >= n);
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
        let whole = n == self.len;
        self.advance(n, spent);
        if whole {
            self.len += n;
            self.chunks.push_back(Chunk::Mut(nb));
        } else {
            self.push_front(Chunk::Frozen(nb.freeze()));
        }
    }

    /// Reads every file chunk among the first `n` bytes (plus at most
    /// [`LOAD_STEP`] bytes of the last one) into memory, so that they can be
    /// consumed; fails before changing anything visible. Clears the `files`
    /// flag when the scan covered the whole queue and saw no file chunk.
    pub(crate) fn load_files(&mut self, n: usize) -> Result<()> {
        if !self.files {
            return Ok(());
        }
        let mut covered = 0;
        let mut i = 0;
        let mut seen_file = false;
        while covered < n && i < self.chunks.len() {
            let clen = self.chunks[i].len();
            if let Chunk::File(f) = &mut self.chunks[i] {
                let want = (n - covered).saturating_add(LOAD_STEP).min(clen);
                let bytes = f.read_prefix(want)?;
                if want < clen {
                    f.advance(want);
                    self.chunks.insert(i, Chunk::Frozen(bytes));
                } else {
                    self.chunks[i] = Chunk::Frozen(bytes);
                }
                self.gen = self.gen.wrapping_add(1);
            }
            seen_file |= self.chunks[i].is_file();
            covered += self.chunks[i].len();
            i += 1;
        }
        if !seen_file && i == self.chunks.len() {
            self.files = false;
        }
        Ok(())
    }

    /// Frees the chunk array's own memory when no chunk is held.
    pub(crate) fn shrink(&mut self) {
        if self.chunks.is_empty() {
            self.chunks = VecDeque::new();
        }
    }

    /// Checks every invariant of the module documentation, panicking with
    /// what is wrong. O(chunks): for tests.
    pub(crate) fn check_invariants(&self) {
        let mut sum = 0usize;
        let last = self.chunks.len().wrapping_sub(1);
        for (i, c) in self.chunks.iter().enumerate() {
            assert!(c.len() > 0, "chunk {i} of {} is empty", self.chunks.len());
            assert!(
                i == last || !matches!(c, Chunk::Mut(_)),
                "chunk {i} is writable but not the tail ({} chunks)",
                self.chunks.len()
            );
            assert!(
                self.files || !c.is_file(),
                "chunk {i} is a file chunk but the files flag is clear"
            );
            sum += c.len();
        }
        assert_eq!(self.len, sum, "len is not the sum of the chunk lengths");
    }
}
