//! Positions in a buffer (libevent's `struct evbuffer_ptr`).
//!
//! A [`Ptr`] is a byte offset from the front of a buffer. It also remembers
//! which chunk that byte lives in, so that continuing a search from a `Ptr`
//! does not walk the chunk list again; that cache is used only while the
//! buffer has not been changed at the front (libevent leaves a ptr undefined
//! after any change; here it keeps meaning its offset).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::buffer::{Access, EvBuffer};
use crate::error::{Error, Result};

/// A position in an [`EvBuffer`] (libevent's `struct evbuffer_ptr`).
///
/// Made by [`EvBuffer::ptr_at`] (`evbuffer_ptr_set(.., EVBUFFER_PTR_SET)`),
/// moved by [`EvBuffer::ptr_advance`] (`EVBUFFER_PTR_ADD`), returned by the
/// searches. Compared and ordered by [`position`](Ptr::position).
#[derive(Debug, Clone, Copy)]
pub struct Ptr {
    pos: usize,
    /// Cached chunk index and offset, valid while the buffer's `gen` is `gen`.
    ci: usize,
    off: usize,
    gen: u64,
}

impl Ptr {
    /// The byte offset from the front of the buffer (libevent's `ptr.pos`).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl PartialEq for Ptr {
    fn eq(&self, other: &Self) -> bool {
        self.pos == other.pos
    }
}
impl Eq for Ptr {}
impl PartialOrd for Ptr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ptr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pos.cmp(&other.pos)
    }
}
impl Hash for Ptr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pos.hash(state)
    }
}

/// Start values for each buffer's `gen`, far apart, so that a `Ptr` of one
/// buffer never passes for a current one of another.
pub(crate) fn fresh_gen() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, AtomicOrdering::Relaxed) << 32
}

impl EvBuffer {
    /// A `Ptr` at `pos` located in chunk `ci` at offset `off` (normalised
    /// form: `off < len(ci)`, or `ci == chunk_count` at the end).
    pub(crate) fn make_ptr(&self, pos: usize, ci: usize, off: usize) -> Ptr {
        // Store the end as "end of the last chunk" so appends keep it valid.
        let (ci, off) = if ci >= self.q.chunks().len() {
            match self.q.chunks().back() {
                Some(c) => (self.q.chunks().len() - 1, c.len()),
                None => (0, 0),
            }
        } else {
            (ci, off)
        };
        Ptr {
            pos,
            ci,
            off,
            gen: self.q.gen(),
        }
    }

    /// Chunk index and offset of `p` in normalised form; `p.pos <= len`.
    pub(crate) fn resolve(&self, p: &Ptr) -> (usize, usize) {
        if p.gen == self.q.gen() {
            if let Some(c) = self.q.chunks().get(p.ci) {
                let l = c.len();
                if p.off < l {
                    return (p.ci, p.off);
                }
                if p.off == l {
                    return (p.ci + 1, 0);
                }
            } else if self.q.chunks().is_empty() && p.pos == 0 {
                return (0, 0);
            }
        }
        self.locate(p.pos)
    }

    /// A position `pos` bytes from the front (`evbuffer_ptr_set` with
    /// `EVBUFFER_PTR_SET`). `pos == len` (one past the end) is valid; beyond it
    /// is [`Error::BadPosition`] (statement 30).
    pub fn ptr_at(&self, pos: usize) -> Result<Ptr> {
        if pos > self.len() {
            return Err(Error::BadPosition {
                pos,
                len: self.len(),
            });
        }
        let (ci, off) = self.locate(pos);
        Ok(self.make_ptr(pos, ci, off))
    }

    /// Moves `p` forward by `n` bytes (`evbuffer_ptr_set` with
    /// `EVBUFFER_PTR_ADD`). Moving past one-past-the-end is
    /// [`Error::BadPosition`] and leaves `p` unchanged.
    pub fn ptr_advance(&self, p: &mut Ptr, n: usize) -> Result<()> {
        let pos = p.pos.checked_add(n).filter(|&x| x <= self.len());
        let Some(pos) = pos else {
            return Err(Error::BadPosition {
                pos: p.pos.saturating_add(n),
                len: self.len(),
            });
        };
        if p.pos > self.len() {
            return Err(Error::BadPosition {
                pos: p.pos,
                len: self.len(),
            });
        }
        let (mut ci, mut off) = self.resolve(p);
        let mut left = n;
        while left > 0 {
            let Some(c) = self.q.chunks().get(ci) else {
                break;
            };
            let room = c.len() - off;
            if left < room {
                off += left;
                left = 0;
            } else {
                left -= room;
                ci += 1;
                off = 0;
            }
        }
        *p = self.make_ptr(pos, ci, off);
        Ok(())
    }

    /// Copies up to `out.len()` bytes starting at `at` into `out` without
    /// draining; returns the count (`evbuffer_copyout_from`, statement 15).
    ///
    /// Errors: [`Error::BadPosition`] if `at` is past the end;
    /// [`Error::FrozenFront`] if the front is frozen (as `copy_out`).
    pub fn copy_out_from(&self, at: &Ptr, out: &mut [u8]) -> Result<usize> {
        self.check("copy_out_from", Access::Take)?;
        if at.pos > self.len() {
            return Err(Error::BadPosition {
                pos: at.pos,
                len: self.len(),
            });
        }
        let (ci, off) = self.resolve(at);
        self.copy_out_at(at.pos, ci, off, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Bytes, Error, EvBuffer};

    #[test]
    fn set_advance_compare() {
        let mut b = EvBuffer::new();
        let p0 = b.ptr_at(0).unwrap();
        assert_eq!(p0.position(), 0);
        assert!(matches!(
            b.ptr_at(1),
            Err(Error::BadPosition { pos: 1, len: 0 })
        ));
        b.add_bytes(Bytes::from_static(b"hello")).unwrap();
        b.add_bytes(Bytes::from_static(b" world")).unwrap();
        let mut p = b.ptr_at(3).unwrap();
        b.ptr_advance(&mut p, 4).unwrap();
        assert_eq!(p.position(), 7);
        let mut out = [0u8; 10];
        assert_eq!(b.copy_out_from(&p, &mut out).unwrap(), 4);
        assert_eq!(&out[..4], b"orld");
        assert!(b.ptr_advance(&mut p, 5).is_err());
        assert_eq!(p.position(), 7, "unchanged on error");
        b.ptr_advance(&mut p, 4).unwrap();
        assert_eq!(p.position(), 11);
        assert!(p > p0);
        assert_eq!(b.copy_out_from(&p, &mut out).unwrap(), 0);
        // Still valid after an append, and after a drain (by position).
        let end = b.ptr_at(11).unwrap();
        b.add(b"!!").unwrap();
        assert_eq!(b.copy_out_from(&end, &mut out).unwrap(), 2);
        let q = b.ptr_at(6).unwrap();
        b.drain(1).unwrap();
        assert_eq!(b.copy_out_from(&q, &mut out).unwrap(), 6);
        assert_eq!(&out[..6], b"orld!!");
        let far = b.ptr_at(12).unwrap();
        b.drain(5).unwrap();
        assert!(matches!(
            b.copy_out_from(&far, &mut out),
            Err(Error::BadPosition { .. })
        ));
    }

    #[test]
    fn ptr_from_another_buffer_means_its_position() {
        let mut a = EvBuffer::new();
        a.add_bytes(Bytes::from_static(b"abc")).unwrap();
        a.add_bytes(Bytes::from_static(b"def")).unwrap();
        let mut b = EvBuffer::new();
        b.add(b"uvwxyz").unwrap();
        let p = a.ptr_at(4).unwrap();
        let mut out = [0u8; 2];
        b.copy_out_from(&p, &mut out).unwrap();
        assert_eq!(&out, b"yz");
    }
}
