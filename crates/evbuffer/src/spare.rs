//! The spare-allocation recycler: emptied chunk allocations kept for reuse.
//!
//! A buffer that is filled and emptied over and over (a connection's input
//! and output) would otherwise go through the allocator for every chunk.
//! When a drained chunk's memory is referred to by nothing else, it is kept
//! here (up to [`ChunkPolicy::MAX_SPARES`]) and handed out again for the
//! next chunk. [`EvBuffer::release_spare`](crate::EvBuffer::release_spare)
//! empties it, so that an idle buffer holds no heap memory.
//!
//! libevent has no equivalent: it frees each chain as it empties.

use bytes::BytesMut;

use crate::chunk::Chunk;
use crate::policy::ChunkPolicy;

/// Up to [`ChunkPolicy::MAX_SPARES`] writable allocations, each empty.
#[derive(Default)]
pub(crate) struct Spares {
    slots: [Option<BytesMut>; ChunkPolicy::MAX_SPARES],
}

impl Spares {
    /// Takes the largest kept allocation, if it can hold `needed` bytes.
    #[inline]
    pub(crate) fn take(&mut self, needed: usize) -> Option<BytesMut> {
        let [s0, s1] = &mut self.slots;
        let cap = |s: &Option<BytesMut>| s.as_ref().map_or(0, BytesMut::capacity);
        let slot = if cap(s1) > cap(s0) { s1 } else { s0 };
        if cap(slot) >= needed && slot.is_some() {
            slot.take()
        } else {
            None
        }
    }

    /// Offers an emptied chunk's allocation: kept if nothing else refers to
    /// it and the policy keeps spares. Pieces (split off or shared) are not
    /// even asked.
    #[inline]
    pub(crate) fn offer_chunk(&mut self, c: Chunk, policy: &ChunkPolicy) {
        if policy.keep_spare() {
            if let Some(b) = c.into_reusable() {
                self.offer(b, policy);
            }
        }
    }

    /// Offers an allocation (an emptied chunk's, or an uncommitted
    /// reservation's): kept when the policy keeps spares and its size is
    /// within the policy's chunk sizes, in place of a smaller one.
    pub(crate) fn offer(&mut self, mut buf: BytesMut, policy: &ChunkPolicy) {
        if !policy.keep_spare() {
            return;
        }
        buf.clear();
        let (min, max) = (policy.min_chunk(), policy.max_chunk());
        // Get the whole allocation back: a drained view starts past the
        // allocation's start, and asking for one byte more than the view
        // holds makes `bytes` move it back to the start and hand over all of
        // the allocation (it fails, changing nothing, when the view already
        // is the whole allocation).
        let view = buf.capacity();
        let _whole = buf.try_reclaim(view + 1);
        let cap = buf.capacity();
        if cap < min || cap > max.max(min) {
            return;
        }
        // Keep the two largest allocations, and among equals the ones at
        // the highest addresses: with a heap that grows upwards (glibc's
        // brk heap) holding the topmost chunk keeps the allocator from
        // trimming the memory below it back to the OS, only to fault it in
        // again on the next round of a fill-and-drain pattern.
        let rank = |b: &BytesMut| (b.capacity(), b.as_ptr() as usize);
        let new_rank = (cap, buf.as_ptr() as usize);
        let [s0, s1] = &mut self.slots;
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

    /// Keeps `buf` whatever the policy says (for `expand`, and an
    /// uncommitted reservation's new chunk), in place of the first slot if
    /// both are taken.
    #[cold]
    pub(crate) fn keep(&mut self, buf: BytesMut) {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(buf),
            None => self.slots[0] = Some(buf),
        }
    }

    /// Drops every kept allocation.
    pub(crate) fn clear(&mut self) {
        self.slots = Default::default();
    }

    /// Whether nothing is kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The kept allocations.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &BytesMut> {
        self.slots.iter().flatten()
    }
}
