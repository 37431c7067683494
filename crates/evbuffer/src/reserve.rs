//! Writing straight into the buffer's memory (libevent's
//! `evbuffer_reserve_space` / `evbuffer_commit_space`).
//!
//! [`EvBuffer::reserve`] hands out the tail chunk's spare capacity and, when
//! that is not enough, a new chunk, as up to `max_regions` regions totalling
//! at least the asked size. The caller writes into them and commits any
//! amount up to what was reserved; bytes not committed are not added, and
//! an uncommitted new chunk is kept for the next reservation (two
//! reservations without a commit get the same memory, statement 8). The
//! [`Reservation`] borrows the buffer mutably, so nothing else can change it
//! meanwhile: the borrow checker is libevent's "don't touch the buffer
//! between reserve and commit" rule.
//!
//! The regions are uninitialised memory. Three ways to fill them:
//! * safe and simplest: [`Reservation::region_mut`] (zero-fills once, then
//!   gives `&mut [u8]`), then [`commit`](Reservation::commit);
//! * safe and without zero-filling: the [`bytes::BufMut`] impl
//!   (`put_slice`, ...), then [`commit_written`](Reservation::commit_written);
//! * unsafe, for readers that fill uninitialised memory:
//!   [`region_uninit`](Reservation::region_uninit) and
//!   [`assume_init`](Reservation::assume_init).

use std::mem::MaybeUninit;

use bytes::buf::UninitSlice;
use bytes::{BufMut, BytesMut};

use crate::buffer::{Access, EvBuffer};
use crate::chunk::Chunk;
use crate::error::{Error, Result};

/// Space reserved at the end of an [`EvBuffer`], to be written and committed
/// (libevent's `struct evbuffer_iovec` array between `evbuffer_reserve_space`
/// and `evbuffer_commit_space`).
///
/// Dropping it commits nothing.
///
/// ```
/// use evbuffer::EvBuffer;
///
/// let mut buf = EvBuffer::new();
/// let mut r = buf.reserve(100, 2).unwrap();
/// assert!(r.len() >= 100);
/// r.region_mut(0)[..5].copy_from_slice(b"hello");
/// r.commit(5).unwrap();
/// assert_eq!(buf, &b"hello"[..]);
/// ```
pub struct Reservation<'a> {
    buf: &'a mut EvBuffer,
    /// Region 0 is the tail's spare capacity when set.
    use_tail: bool,
    /// A new chunk (its spare capacity is the last region), pushed on commit.
    fresh: Option<BytesMut>,
    /// Length of each region (0 for a region that does not exist), fixed
    /// when the reservation is made: nothing else can change the buffer
    /// while it is outstanding.
    lens: [usize; 2],
    /// Initialised prefix of each region.
    init: [usize; 2],
    /// Bytes written through `BufMut` (a cursor over the regions in order).
    written: usize,
}

impl std::fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("regions", &self.region_count())
            .field("len", &self.len())
            .field("written", &self.written)
            .finish()
    }
}

impl EvBuffer {
    /// Reserves at least `n` writable bytes at the end, as at most
    /// `max_regions` regions (`evbuffer_reserve_space`, statements 6-11).
    ///
    /// With `max_regions == 1` the one region holds at least `n` bytes
    /// (the tail's spare capacity if it is big enough, else a new chunk). With
    /// two or more, the tail's spare capacity comes first and a new chunk
    /// supplies the rest: at most 2 regions are ever needed. A region may be
    /// larger than asked. `n == 0` hands out the tail's spare capacity, if any.
    ///
    /// Errors: [`Error::InvalidArgument`] for `max_regions == 0`,
    /// [`Error::FrozenBack`] if the back is frozen.
    #[inline]
    pub fn reserve(&mut self, n: usize, max_regions: usize) -> Result<Reservation<'_>> {
        if max_regions == 0 {
            return Err(Error::InvalidArgument {
                op: "reserve",
                why: "max_regions must be at least 1",
            });
        }
        self.check("reserve", Access::Add(n))?;
        let spare = self.tail_capacity();
        let (use_tail, fresh_need) = if spare >= n && (spare > 0 || n == 0) {
            (spare > 0, 0)
        } else if max_regions >= 2 && spare > 0 {
            (true, n - spare)
        } else {
            (false, n)
        };
        let fresh = if fresh_need > 0 {
            Some(self.alloc_chunk(fresh_need))
        } else {
            None
        };
        let fresh_len = fresh.as_ref().map_or(0, |b| b.capacity() - b.len());
        let lens = if use_tail {
            [spare, fresh_len]
        } else {
            [fresh_len, 0]
        };
        Ok(Reservation {
            buf: self,
            use_tail,
            fresh,
            lens,
            init: [0; 2],
            written: 0,
        })
    }
}

impl<'a> Reservation<'a> {
    /// Number of regions (libevent's return value of `evbuffer_reserve_space`).
    #[inline]
    pub fn region_count(&self) -> usize {
        usize::from(self.use_tail) + usize::from(self.fresh.is_some())
    }

    /// Total bytes reserved (the sum of the region lengths).
    ///
    /// libevent: the sum of the `iov_len`s `evbuffer_reserve_space` fills in.
    #[inline]
    pub fn len(&self) -> usize {
        self.lens[0] + self.lens[1]
    }

    /// Whether nothing is reserved.
    ///
    /// libevent: a reservation whose `iov_len`s are all 0.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of region `i` (0 if there is no such region).
    ///
    /// libevent: `vec[i].iov_len` after `evbuffer_reserve_space`.
    #[inline]
    pub fn region_len(&self, i: usize) -> usize {
        self.lens.get(i).copied().unwrap_or(0)
    }

    #[inline]
    fn which(&self, i: usize) -> Option<Which> {
        match (i, self.use_tail, self.fresh.is_some()) {
            (0, true, _) => Some(Which::Tail),
            (0, false, true) | (1, true, true) => Some(Which::Fresh),
            _ => None,
        }
    }

    #[inline]
    fn spare_of(&mut self, w: Which) -> &mut [MaybeUninit<u8>] {
        match w {
            Which::Tail => self.buf.q.tail_spare_mut(),
            Which::Fresh => match self.fresh.as_mut() {
                Some(b) => b.spare_capacity_mut(),
                None => &mut [],
            },
        }
    }

    /// Region `i` as uninitialised memory (empty if there is no such
    /// region). After writing a prefix, declare it with
    /// [`assume_init`](Self::assume_init) before committing it.
    ///
    /// libevent: `vec[i].iov_base` after `evbuffer_reserve_space`.
    #[inline]
    pub fn region_uninit(&mut self, i: usize) -> &mut [MaybeUninit<u8>] {
        match self.which(i) {
            Some(w) => self.spare_of(w),
            None => &mut [],
        }
    }

    /// Declares that the first `n` bytes of region `i` have been written.
    ///
    /// # Safety
    ///
    /// The first `n` bytes of [`region_uninit(i)`](Self::region_uninit) must
    /// have been initialised.
    ///
    /// libevent: setting `vec[i].iov_len` before `evbuffer_commit_space`.
    #[inline]
    pub unsafe fn assume_init(&mut self, i: usize, n: usize) {
        if i < 2 {
            let n = n.min(self.region_len(i));
            self.init[i] = self.init[i].max(n);
        }
    }

    /// Region `i` as `&mut [u8]` (empty if there is no such region); the part
    /// not yet initialised is zero-filled first (once).
    ///
    /// libevent: `vec[i].iov_base`, zero-filled.
    pub fn region_mut(&mut self, i: usize) -> &mut [u8] {
        let Some(w) = self.which(i) else {
            return &mut [];
        };
        let done = self.init[i];
        let region = self.spare_of(w);
        let len = region.len();
        for b in &mut region[done..] {
            b.write(0);
        }
        self.init[i] = len;
        let region = self.spare_of(w);
        // SAFETY: every byte of `region` is initialised: the first `done` by
        // the caller's writes / `assume_init`, the rest just above; and
        // `MaybeUninit<u8>` has the layout of `u8`.
        unsafe { &mut *(region as *mut [MaybeUninit<u8>] as *mut [u8]) }
    }

    /// Both regions as `&mut [u8]` at once (zero-filled where not yet
    /// initialised); the second is empty when there is only one region.
    pub(crate) fn regions_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        self.region_mut(0);
        self.region_mut(1);
        let (r0, r1) = self.regions_uninit();
        // SAFETY: `region_mut` above initialised every byte of both regions
        // (and `tail` is empty when it is not a region); `MaybeUninit<u8>`
        // has the layout of `u8`.
        unsafe {
            (
                &mut *(r0 as *mut [MaybeUninit<u8>] as *mut [u8]),
                &mut *(r1 as *mut [MaybeUninit<u8>] as *mut [u8]),
            )
        }
    }

    /// Both regions as uninitialised memory at once, in order; the second is
    /// empty when there is only one region.
    #[inline]
    fn regions_uninit(&mut self) -> (&mut [MaybeUninit<u8>], &mut [MaybeUninit<u8>]) {
        // Disjoint fields: the tail chunk lives in `buf`, the new chunk in `fresh`.
        let tail: &mut [MaybeUninit<u8>] = if self.use_tail {
            self.buf.q.tail_spare_mut()
        } else {
            &mut []
        };
        let fresh: &mut [MaybeUninit<u8>] = match self.fresh.as_mut() {
            Some(b) => b.spare_capacity_mut(),
            None => &mut [],
        };
        if self.use_tail {
            (tail, fresh)
        } else {
            (fresh, tail)
        }
    }

    /// Records that the `BufMut` cursor moved to `end` (at most `len()`):
    /// every byte before it is initialised.
    #[inline]
    fn written_to(&mut self, end: usize) {
        let l0 = self.lens[0];
        if end <= l0 {
            self.init[0] = self.init[0].max(end);
        } else {
            self.init[0] = l0;
            self.init[1] = self.init[1].max(end - l0);
        }
        self.written = end;
    }

    /// Bytes that may be committed: the initialised prefix of region 0 and,
    /// if region 0 is fully initialised, of region 1.
    #[inline]
    fn committable(&self) -> usize {
        let l0 = self.region_len(0);
        if self.init[0] < l0 {
            self.init[0]
        } else {
            l0 + self.init[1]
        }
    }

    /// Adds the first `n` reserved bytes to the buffer, regions in order
    /// (`evbuffer_commit_space`). Every byte must have been written
    /// ([`region_mut`](Self::region_mut), [`assume_init`](Self::assume_init)
    /// or `BufMut`); `n` past the reservation or past what was written is
    /// [`Error::InvalidCommit`] and adds nothing. `n == 0` adds nothing.
    #[inline]
    pub fn commit(self, n: usize) -> Result<()> {
        let total = self.len();
        if n > total {
            return Err(Error::InvalidCommit {
                requested: n,
                available: total,
                what: "reserved",
            });
        }
        let ok = self.committable();
        if n > ok {
            return Err(Error::InvalidCommit {
                requested: n,
                available: ok,
                what: "written (initialised)",
            });
        }
        let l0 = self.region_len(0);
        let first = n.min(l0);
        self.finish([first, n - first])
    }

    /// Commits exactly `lens[i]` bytes of region `i` (libevent's commit of
    /// iovecs with reduced `iov_len`s: region 0 may be committed partially
    /// and region 1 still be used, statement 9). Each length must be written
    /// and within its region; more lengths than regions is an error.
    pub fn commit_regions(self, lens: &[usize]) -> Result<()> {
        let count = self.region_count();
        if lens.len() > count {
            return Err(Error::InvalidArgument {
                op: "commit_regions",
                why: "more lengths than reserved regions",
            });
        }
        let mut parts = [0usize; 2];
        for (i, &l) in lens.iter().enumerate() {
            let rl = self.region_len(i);
            if l > rl {
                return Err(Error::InvalidCommit {
                    requested: l,
                    available: rl,
                    what: "reserved",
                });
            }
            if l > self.init[i] {
                return Err(Error::InvalidCommit {
                    requested: l,
                    available: self.init[i],
                    what: "written (initialised)",
                });
            }
            parts[i] = l;
        }
        self.finish(parts)
    }

    /// Gives up the reservation, freeing a new chunk it made instead of
    /// keeping it for the next reservation (for reads that found nothing:
    /// an idle connection should not hold a read-sized spare). Only the
    /// tokio reader needs it.
    #[cfg(feature = "tokio")]
    pub(crate) fn release(mut self) {
        self.fresh = None;
    }

    /// Commits what was written through the `BufMut` impl.
    ///
    /// libevent: `evbuffer_commit_space` with what was written.
    #[inline]
    pub fn commit_written(self) -> Result<()> {
        // No checks needed: the cursor never passes the reservation, and
        // every byte before it is initialised (`written_to` records them).
        debug_assert!(self.written <= self.len() && self.written <= self.committable());
        let n = self.written;
        let first = n.min(self.lens[0]);
        self.finish([first, n - first])
    }

    /// Commits `parts[i]` bytes of region `i` (already validated).
    #[inline]
    fn finish(mut self, parts: [usize; 2]) -> Result<()> {
        let orig = self.buf.len();
        let mut added = 0;
        let mut i = 0;
        if self.use_tail {
            let k = parts[0];
            if k > 0 {
                // SAFETY: `k` bytes of the tail's spare capacity were
                // initialised (checked against `init` by the callers) and
                // `k` is within the region, the tail's spare capacity.
                unsafe { self.buf.q.commit_tail(k) };
                added += k;
            }
            i = 1;
        }
        if let Some(mut b) = self.fresh.take() {
            let k = parts[i];
            if k > 0 {
                // SAFETY: as above, for the new chunk's first `k` bytes.
                unsafe { b.set_len(k) };
                added += k;
                self.buf.q.push(Chunk::Mut(b));
            } else {
                self.buf.recycle(b);
            }
        }
        self.buf.notify(orig, added, 0);
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(b) = self.fresh.take() {
            // Keep the memory for the next reservation (statement 8).
            self.buf.spares.keep(b);
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Tail,
    Fresh,
}

// SAFETY: `chunk_mut` returns the uninitialised rest of the current region;
// `advance_mut` moves the cursor by at most that much and records the bytes
// as initialised, as the trait's contract says the caller wrote them.
unsafe impl BufMut for Reservation<'_> {
    #[inline]
    fn remaining_mut(&self) -> usize {
        self.len() - self.written
    }

    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let cnt = cnt.min(self.remaining_mut());
        self.written_to(self.written + cnt);
    }

    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        let l0 = self.region_len(0);
        let (i, off) = if self.written < l0 {
            (0, self.written)
        } else {
            (1, self.written - l0)
        };
        let r = self.region_uninit(i);
        let off = off.min(r.len());
        UninitSlice::uninit(&mut r[off..])
    }

    /// At most two copies (the rest of region 0, then region 1) and one
    /// cursor update, instead of the trait's `chunk_mut`/`advance_mut` loop.
    ///
    /// Panics, as `BufMut::put_slice` documents, if `src` is longer than
    /// [`remaining_mut`](BufMut::remaining_mut).
    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        let rem = self.remaining_mut();
        assert!(
            src.len() <= rem,
            "Reservation::put_slice: {} bytes into {rem} remaining",
            src.len()
        );
        let at = self.written;
        let l0 = self.lens[0];
        let (r0, r1) = self.regions_uninit();
        let (first, second) = if at < l0 {
            let k = src.len().min(l0 - at);
            UninitSlice::uninit(&mut r0[at..at + k]).copy_from_slice(&src[..k]);
            // If anything is left, region 0 is now full and region 1 is
            // written from its start.
            (k, 0)
        } else {
            (0, at - l0)
        };
        let rest = &src[first..];
        if !rest.is_empty() {
            UninitSlice::uninit(&mut r1[second..second + rest.len()]).copy_from_slice(rest);
        }
        self.written_to(at + src.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn reserve_one_region_commit_part() {
        let mut b = EvBuffer::new();
        let mut r = b.reserve(100_000, 1).unwrap();
        assert_eq!(r.region_count(), 1);
        assert!(r.region_len(0) >= 100_000);
        r.region_mut(0)[..3].copy_from_slice(b"abc");
        r.commit(3).unwrap();
        assert_eq!(b, &b"abc"[..]);
    }

    #[test]
    fn uncommitted_adds_nothing_and_same_memory_comes_back() {
        let mut b = EvBuffer::new();
        let p1 = {
            let mut r = b.reserve(5000, 1).unwrap();
            r.region_uninit(0).as_ptr()
        };
        assert_eq!(b.len(), 0);
        let mut r = b.reserve(5000, 1).unwrap();
        assert_eq!(r.region_uninit(0).as_ptr(), p1);
        r.commit(0).unwrap();
        assert!(b.is_empty());
        assert_eq!(b.chunk_count(), 0);
    }

    #[test]
    fn two_regions_tail_then_fresh() {
        let mut b = EvBuffer::new();
        b.add(&[1u8; 1000]).unwrap();
        let spare = b.tail_capacity();
        assert!(spare > 0);
        let mut r = b.reserve(spare + 100, 2).unwrap();
        assert_eq!(r.region_count(), 2);
        assert_eq!(r.region_len(0), spare);
        assert!(r.region_len(1) >= 100);
        let data: Vec<u8> = (0..(spare + 100)).map(|i| i as u8).collect();
        r.put_slice(&data);
        r.commit_written().unwrap();
        assert_eq!(b.len(), 1000 + spare + 100);
        assert_eq!(&b.to_vec()[1000..], &data[..]);
    }

    #[test]
    fn put_slice_in_pieces_crosses_regions() {
        let mut b = EvBuffer::new();
        b.add(&[5u8; 1000]).unwrap();
        let spare = b.tail_capacity();
        let mut r = b.reserve(spare + 300, 2).unwrap();
        assert_eq!(r.region_count(), 2);
        let data: Vec<u8> = (0..(spare + 300)).map(|i| (i % 251) as u8).collect();
        // Pieces that end inside region 0, exactly at its end, and straddle it.
        let cut1 = spare / 2;
        r.put_slice(&data[..cut1]);
        r.put_slice(&data[cut1..spare]);
        assert_eq!(r.remaining_mut(), r.len() - spare);
        r.put_slice(&data[spare..spare + 100]);
        r.put_slice(&data[spare + 100..]);
        r.commit_written().unwrap();
        assert_eq!(&b.to_vec()[1000..], &data[..]);

        // One piece straddling both regions, committed in part.
        let spare = b.tail_capacity();
        let mut r = b.reserve(spare + 10, 2).unwrap();
        r.put_slice(&[7u8; 3]);
        r.put_slice(&vec![8u8; spare]);
        r.commit(spare + 1).unwrap();
        let v = b.to_vec();
        assert_eq!(&v[v.len() - spare - 1..][..4], &[7, 7, 7, 8]);
        assert_eq!(v.last(), Some(&8));
    }

    #[test]
    #[should_panic(expected = "remaining")]
    fn put_slice_past_the_reservation_panics_like_bufmut() {
        let mut b = EvBuffer::with_chunk_policy(crate::ChunkPolicy::new().with_max_chunk(16));
        let mut r = b.reserve(16, 1).unwrap();
        let n = r.len();
        r.put_slice(&vec![0u8; n + 1]);
    }

    #[test]
    fn commit_regions_partial_first() {
        let mut b = EvBuffer::new();
        b.add(&[9u8; 10]).unwrap();
        let spare = b.tail_capacity();
        let mut r = b.reserve(spare + 10, 2).unwrap();
        r.region_mut(0)[..2].copy_from_slice(b"ab");
        r.region_mut(1)[..3].copy_from_slice(b"cde");
        r.commit_regions(&[2, 3]).unwrap();
        assert_eq!(&b.to_vec()[10..], b"abcde");
    }

    #[test]
    fn bad_commits_are_errors() {
        let mut b = EvBuffer::new();
        let r = b.reserve(10, 1).unwrap();
        let total = r.len();
        assert!(matches!(
            r.commit(total + 1),
            Err(Error::InvalidCommit {
                what: "reserved",
                ..
            })
        ));
        let mut r = b.reserve(10, 1).unwrap();
        r.put_slice(b"xy");
        assert!(matches!(
            r.commit(3),
            Err(Error::InvalidCommit { available: 2, .. })
        ));
        let r = b.reserve(10, 1).unwrap();
        assert!(r.commit_regions(&[1, 1]).is_err());
        assert!(b.reserve(10, 0).is_err());
        b.freeze(crate::End::Back);
        assert!(matches!(b.reserve(10, 1), Err(Error::FrozenBack)));
        assert!(b.is_empty());
    }

    #[test]
    fn assume_init_after_raw_write() {
        let mut b = EvBuffer::new();
        let mut r = b.reserve(4, 1).unwrap();
        for (i, slot) in r.region_uninit(0)[..4].iter_mut().enumerate() {
            slot.write(b'a' + i as u8);
        }
        // SAFETY: the first 4 bytes were written just above.
        unsafe { r.assume_init(0, 4) };
        r.commit(4).unwrap();
        assert_eq!(b, &b"abcd"[..]);
    }
}
