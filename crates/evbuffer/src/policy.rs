//! How big new chunks are: the [`ChunkPolicy`].
//!
//! libevent allocates a new chain whenever the tail cannot take the bytes
//! being added, doubling the chain size up to 4 KiB (`EVBUFFER_CHAIN_MAX_AUTO_SIZE`).
//! A buffer of a few megabytes therefore holds hundreds of chains, and every
//! peek, search and `writev` walks all of them. This crate sizes chunks on
//! purpose instead, and writes the rule down here:
//!
//! * Small adds never get a chunk of their own: they are copied into the spare
//!   capacity of the tail chunk; a new chunk is allocated only when the tail is
//!   full (or immutable).
//! * A new chunk's capacity grows with the buffer: it is the number of bytes
//!   already buffered, rounded up to a power of two, clamped to
//!   [`min_chunk`](ChunkPolicy::min_chunk)..=[`max_chunk`](ChunkPolicy::max_chunk)
//!   (defaults 1 KiB and 64 KiB), and at least the bytes being added. So a
//!   small buffer stays small (at most about half of its allocation is unused),
//!   and a large one is made of 64 KiB chunks: few extents per peek and few
//!   iovecs per `writev`, while every chunk stays below the allocator's mmap
//!   threshold.
//! * A single add of at least `max_chunk` bytes gets a chunk of exactly its
//!   own size.
//! * When a chunk is emptied by draining, its allocation is kept as a *spare*
//!   (up to [`MAX_SPARES`](ChunkPolicy::MAX_SPARES) of them, if nothing else
//!   refers to the memory) and reused for the next chunk, so a buffer that is
//!   filled and emptied over and over allocates nothing after the first round.
//!   [`EvBuffer::release_spare`](crate::EvBuffer::release_spare) gives them back;
//!   [`with_keep_spare(false)`](ChunkPolicy::with_keep_spare) turns this off.
//!   When [`append`](crate::EvBuffer::append) moves a whole buffer into an
//!   empty one, the two exchange their spares along with their chunks: the
//!   emptied source is the buffer that gets written into next, so a
//!   fill / move / drain cycle reuses the drained allocations too.
//! * Appending a whole small buffer (at most
//!   [`coalesce_below`](ChunkPolicy::coalesce_below) bytes, default 512, held in
//!   one writable chunk) copies its bytes into the tail's spare capacity instead
//!   of moving its chunk, so that many tiny appends do not fragment the buffer.

/// The chunk sizing rule of an [`EvBuffer`](crate::EvBuffer) (libevent has a
/// fixed rule: `MIN_BUFFER_SIZE` and `EVBUFFER_CHAIN_MAX_AUTO_SIZE`).
///
/// See the [module documentation](crate::policy) for the rule itself.
///
/// ```
/// use evbuffer::{ChunkPolicy, EvBuffer};
///
/// let policy = ChunkPolicy::new().with_min_chunk(4096).with_max_chunk(256 * 1024);
/// let mut buf = EvBuffer::with_chunk_policy(policy);
/// buf.add(b"hello").unwrap();
/// assert_eq!(buf.chunk_count(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPolicy {
    min_chunk: usize,
    max_chunk: usize,
    keep_spare: bool,
    coalesce_below: usize,
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkPolicy {
    /// Default smallest capacity of a new chunk: 1 KiB (libevent's `MIN_BUFFER_SIZE`).
    pub const DEFAULT_MIN_CHUNK: usize = 1024;
    /// Default largest capacity of an automatically sized chunk: 64 KiB.
    ///
    /// libevent: `EVBUFFER_CHAIN_MAX_AUTO_SIZE` (4 KiB).
    pub const DEFAULT_MAX_CHUNK: usize = 64 * 1024;
    /// Default threshold under which a whole appended buffer is copied.
    ///
    /// libevent: no equivalent (one chain per `evbuffer_add_buffer`).
    pub const DEFAULT_COALESCE_BELOW: usize = 512;
    /// The most emptied chunk allocations a buffer keeps for reuse.
    ///
    /// libevent: no equivalent (chains are freed when empty).
    pub const MAX_SPARES: usize = 2;

    /// The default policy: chunks of 1 KiB growing to 64 KiB, spares kept,
    /// small appends coalesced below 512 bytes.
    ///
    /// libevent: the fixed `MIN_BUFFER_SIZE` / `EVBUFFER_CHAIN_MAX_AUTO_SIZE` rule.
    pub const fn new() -> Self {
        ChunkPolicy {
            min_chunk: Self::DEFAULT_MIN_CHUNK,
            max_chunk: Self::DEFAULT_MAX_CHUNK,
            keep_spare: true,
            coalesce_below: Self::DEFAULT_COALESCE_BELOW,
        }
    }

    /// Sets the smallest capacity of a new chunk (at least 1; raises
    /// `max_chunk` if needed).
    ///
    /// libevent: `MIN_BUFFER_SIZE`, fixed.
    pub fn with_min_chunk(mut self, n: usize) -> Self {
        self.min_chunk = n.max(1);
        self.max_chunk = self.max_chunk.max(self.min_chunk);
        self
    }

    /// Sets the largest capacity of an automatically sized chunk (lowers
    /// `min_chunk` if needed). A single add larger than this still gets a
    /// chunk of its own size.
    ///
    /// libevent: `EVBUFFER_CHAIN_MAX_AUTO_SIZE`, fixed.
    pub fn with_max_chunk(mut self, n: usize) -> Self {
        self.max_chunk = n.max(1);
        self.min_chunk = self.min_chunk.min(self.max_chunk);
        self
    }

    /// Whether emptied chunk allocations are kept for reuse (default true).
    ///
    /// libevent: no equivalent.
    pub fn with_keep_spare(mut self, keep: bool) -> Self {
        self.keep_spare = keep;
        self
    }

    /// Appending a whole buffer of at most this many bytes held in one
    /// writable chunk copies the bytes instead of moving the chunk (default
    /// 512; 0 turns it off).
    ///
    /// libevent: no equivalent.
    pub fn with_coalesce_below(mut self, n: usize) -> Self {
        self.coalesce_below = n;
        self
    }

    /// The smallest capacity of a new chunk.
    ///
    /// libevent: `MIN_BUFFER_SIZE`.
    pub fn min_chunk(&self) -> usize {
        self.min_chunk
    }

    /// The largest capacity of an automatically sized chunk.
    ///
    /// libevent: `EVBUFFER_CHAIN_MAX_AUTO_SIZE`.
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// Whether emptied chunk allocations are kept for reuse.
    ///
    /// libevent: no equivalent.
    pub fn keep_spare(&self) -> bool {
        self.keep_spare
    }

    /// The coalescing threshold for appended buffers.
    ///
    /// libevent: no equivalent.
    pub fn coalesce_below(&self) -> usize {
        self.coalesce_below
    }

    /// Capacity for a new chunk that must take `needed` bytes when `buffered`
    /// bytes are already in the buffer.
    #[inline]
    pub(crate) fn next_capacity(&self, buffered: usize, needed: usize) -> usize {
        if needed >= self.max_chunk {
            return needed;
        }
        let grown = buffered
            .checked_next_power_of_two()
            .unwrap_or(self.max_chunk)
            .clamp(self.min_chunk, self.max_chunk);
        grown.max(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_the_buffer_and_clamps() {
        let p = ChunkPolicy::new();
        assert_eq!(p.next_capacity(0, 1), 1024);
        assert_eq!(p.next_capacity(1500, 10), 2048);
        assert_eq!(p.next_capacity(10 << 20, 10), 64 * 1024);
        assert_eq!(p.next_capacity(0, 5000), 5000);
        assert_eq!(p.next_capacity(0, 1 << 20), 1 << 20);
        assert_eq!(p.next_capacity(usize::MAX, 1), 64 * 1024);
    }

    #[test]
    fn setters_keep_min_below_max() {
        let p = ChunkPolicy::new().with_max_chunk(100);
        assert_eq!((p.min_chunk(), p.max_chunk()), (100, 100));
        let p = ChunkPolicy::new().with_min_chunk(1 << 20);
        assert_eq!((p.min_chunk(), p.max_chunk()), (1 << 20, 1 << 20));
        let p = ChunkPolicy::new().with_min_chunk(0);
        assert_eq!(p.min_chunk(), 1);
        assert!(!p.with_keep_spare(false).keep_spare());
        assert_eq!(p.with_coalesce_below(0).coalesce_below(), 0);
    }
}
