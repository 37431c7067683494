//! One link of the chain: a [`Chunk`] is a run of bytes held by the buffer.
//!
//! libevent's `struct evbuffer_chain` carries flags for "immutable",
//! "reference", "multicast", "sendfile" and "pinned" storage; here the kind
//! of storage is an enum and the reference counting is `bytes`' own:
//!
//! * [`Chunk::Mut`]: a `BytesMut` this buffer may still write into (its
//!   spare capacity). Only the **last** chunk of a buffer is ever `Mut`;
//!   when another chunk is pushed behind it, it is frozen first. That keeps
//!   "where do appends go" trivial and lets other buffers share every chunk
//!   but the tail without copying.
//! * [`Chunk::Frozen`]: an immutable `Bytes`: copied data that is no longer the
//!   tail, a caller's `Bytes`, or a reference to foreign memory. Never written
//!   to (libevent's immutable chains).
//! * [`Chunk::Piece`]: an immutable `Bytes` split off another chunk or shared
//!   with another buffer. Its allocation is (or was) shared, so when it is
//!   emptied it is dropped, without asking `bytes` whether the memory could
//!   be reused: that check nearly always fails for pieces, and costs a
//!   virtual call per drained piece.
//! * [`Chunk::File`]: a range of a file, read only when its bytes are needed.
//!
//! A buffer never holds an empty chunk.

use bytes::{Buf, Bytes, BytesMut};

use crate::file::FileChunk;

/// A run of bytes in an [`EvBuffer`](crate::EvBuffer).
pub(crate) enum Chunk {
    /// Writable tail: data plus spare capacity.
    Mut(BytesMut),
    /// Immutable bytes, possibly shared.
    Frozen(Bytes),
    /// Immutable bytes split off or shared from another chunk: never reused
    /// as a spare.
    Piece(Bytes),
    /// A region of a file, loaded lazily. Boxed: file chunks are rare, and
    /// unboxed they would make every chunk 64 bytes instead of 40, which
    /// every push, pop and scan of the queue pays for.
    File(Box<FileChunk>),
}

impl Chunk {
    /// Number of bytes of data in the chunk.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Chunk::Mut(b) => b.len(),
            Chunk::Frozen(b) | Chunk::Piece(b) => b.len(),
            Chunk::File(f) => f.len(),
        }
    }

    /// The chunk's bytes. A file chunk is read (once, whole) on first use; if
    /// that read fails the slice is empty, which every reader of chunks
    /// treats as "the readable data ends here" (see [`crate::file`]).
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Mut(b) => b,
            Chunk::Frozen(b) | Chunk::Piece(b) => b,
            Chunk::File(f) => f.slice(),
        }
    }

    /// Whether this is a file chunk whose bytes have not been read.
    #[inline]
    pub(crate) fn is_file(&self) -> bool {
        matches!(self, Chunk::File(_))
    }

    /// Drops the first `n` bytes (`n <= len`).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        match self {
            Chunk::Mut(b) => b.advance(n),
            Chunk::Frozen(b) | Chunk::Piece(b) => b.advance(n),
            Chunk::File(f) => f.advance(n),
        }
    }

    /// Splits off the first `n` bytes (`0 < n < len`) as an immutable
    /// [`Chunk::Piece`], by reference: no byte is copied.
    #[inline]
    pub(crate) fn split_to(&mut self, n: usize) -> Chunk {
        debug_assert!(n < self.len());
        match self {
            Chunk::Mut(b) => Chunk::Piece(b.split_to(n).freeze()),
            Chunk::Frozen(b) | Chunk::Piece(b) => Chunk::Piece(b.split_to(n)),
            Chunk::File(f) => Chunk::File(Box::new(f.split_to(n))),
        }
    }

    /// Makes a writable chunk immutable (a no-op for the others).
    #[inline]
    pub(crate) fn freeze(self) -> Chunk {
        match self {
            Chunk::Mut(b) => Chunk::Frozen(b.freeze()),
            other => other,
        }
    }

    /// A view of this chunk for another buffer (`evbuffer_add_buffer_reference`):
    /// shared without copying, except a writable chunk, whose bytes are
    /// copied because its owner keeps appending into the same allocation.
    pub(crate) fn share(&self) -> Chunk {
        match self {
            Chunk::Mut(b) => Chunk::Frozen(Bytes::copy_from_slice(b)),
            Chunk::Frozen(b) | Chunk::Piece(b) => Chunk::Piece(b.clone()),
            Chunk::File(f) => Chunk::File(f.clone()),
        }
    }

    /// Spare capacity of a writable chunk, 0 for the others.
    #[inline]
    pub(crate) fn spare(&self) -> usize {
        match self {
            Chunk::Mut(b) => b.capacity() - b.len(),
            _ => 0,
        }
    }

    /// The allocation behind an emptied chunk, if it can be reused for
    /// writing (nothing else refers to it). Pieces are not even asked.
    #[inline]
    pub(crate) fn into_reusable(self) -> Option<BytesMut> {
        match self {
            Chunk::Mut(b) => Some(b),
            Chunk::Frozen(b) => b.try_into_mut().ok(),
            Chunk::Piece(_) | Chunk::File(_) => None,
        }
    }

    /// Short name of the storage kind, for `Debug`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Chunk::Mut(_) => "mut",
            Chunk::Frozen(_) => "frozen",
            Chunk::Piece(_) => "piece",
            Chunk::File(_) => "file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_five_words() {
        assert_eq!(std::mem::size_of::<Chunk>(), 40);
    }

    #[test]
    fn split_and_advance_share_memory() {
        let mut b = BytesMut::with_capacity(16);
        b.extend_from_slice(b"hello world");
        let base = b.as_ptr();
        let mut c = Chunk::Mut(b);
        assert_eq!(c.spare(), 5);
        let head = c.split_to(5);
        assert_eq!(head.as_slice(), b"hello");
        assert_eq!(head.as_slice().as_ptr(), base);
        c.advance(1);
        assert_eq!(c.as_slice(), b"world");
        assert_eq!(c.kind(), "mut");
        let f = c.freeze();
        assert_eq!(f.kind(), "frozen");
        assert_eq!(f.spare(), 0);
        let shared = f.share();
        assert_eq!(shared.as_slice().as_ptr(), f.as_slice().as_ptr());
    }

    #[test]
    fn reusable_only_when_unique() {
        let b = Bytes::from(vec![1u8; 64]);
        let other = b.clone();
        assert!(Chunk::Frozen(b).into_reusable().is_none());
        let mut c = Chunk::Frozen(other);
        c.advance(64);
        let m = c.into_reusable().expect("unique");
        assert_eq!(m.len(), 0);
        let st = Chunk::Frozen(Bytes::from_static(b"abc"));
        assert!(st.into_reusable().is_none());
    }
}
