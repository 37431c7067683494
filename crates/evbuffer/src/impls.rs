//! Standard trait implementations for [`EvBuffer`]: `bytes::Buf` /
//! `BufMut`, `std::io::{Read, BufRead, Write}`, `fmt::Write`, `Extend`,
//! `From`, `Debug`, `PartialEq`.
//!
//! Traits whose methods cannot return an error respect freezing by showing a
//! frozen end as empty / full: a frozen front makes `Buf::remaining` 0, a
//! frozen back makes `BufMut::remaining_mut` 0; `Extend` on a frozen back
//! drops nothing silently — it logs the refused bytes with `tracing::warn!`.

use std::fmt;
use std::io::{self, IoSlice};

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::buffer::{Access, EvBuffer};
use crate::chunk::Chunk;
use crate::error::{Error, Result};

impl EvBuffer {
    /// Appends formatted text (`evbuffer_add_printf` / `evbuffer_add_vprintf`)
    /// and returns the number of bytes added:
    /// `buf.add_fmt(format_args!("{} {}", a, b))`. `write!(buf, ..)` works too
    /// (through `fmt::Write` / `io::Write`).
    pub fn add_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<usize> {
        self.check("add_fmt", Access::Add(0))?;
        let before = self.len();
        if let Some(s) = args.as_str() {
            self.add(s.as_bytes())?;
        } else {
            fmt::write(self, args).map_err(|_| Error::FrozenBack)?;
        }
        Ok(self.len() - before)
    }
}

impl Buf for EvBuffer {
    /// Bytes left to read; 0 while the front is frozen.
    fn remaining(&self) -> usize {
        if self.frozen_front {
            0
        } else {
            self.len()
        }
    }

    fn chunk(&self) -> &[u8] {
        if self.frozen_front {
            return &[];
        }
        self.q.chunks().front().map_or(&[][..], Chunk::as_slice)
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        if self.frozen_front {
            return 0;
        }
        self.fill_iovecs(self.len(), dst)
    }

    /// Drains `min(cnt, remaining)` bytes.
    fn advance(&mut self, cnt: usize) {
        let n = cnt.min(self.remaining());
        if n > 0 {
            let orig = self.len();
            self.drain_internal(n);
            self.notify(orig, 0, n);
        }
    }

    /// Takes the first `len` bytes without copying when they lie in one
    /// chunk ([`EvBuffer::split_to`]); clamped to what is available.
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        let n = len.min(self.remaining());
        match self.split_to(n) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "Buf::copy_to_bytes failed; returning no bytes");
                Bytes::new()
            }
        }
    }
}

// SAFETY: `chunk_mut` returns the tail chunk's spare capacity (creating a tail
// chunk with spare capacity if needed); `advance_mut` extends the tail by at
// most that much, the caller having initialised those bytes (the trait's
// contract).
unsafe impl BufMut for EvBuffer {
    /// Room left to write; 0 while the back is frozen.
    fn remaining_mut(&self) -> usize {
        if self.frozen_back {
            0
        } else {
            isize::MAX as usize - self.len()
        }
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        if self.frozen_back || cnt == 0 {
            return;
        }
        let orig = self.len();
        let spare = self.tail_capacity();
        let added = if spare > 0 {
            let cnt = cnt.min(spare);
            // SAFETY: the caller initialised the first `cnt` bytes of what
            // `chunk_mut` returns now — the tail's spare capacity — (trait
            // contract); clamped to its size.
            unsafe { self.q.commit_tail(cnt) };
            cnt
        } else if let Some(mut b) = self.bufmut_next.take() {
            let cnt = cnt.min(b.capacity() - b.len());
            // SAFETY: as above; `chunk_mut` returned this allocation's spare
            // capacity because the tail had none.
            unsafe { b.set_len(b.len() + cnt) };
            if cnt > 0 {
                self.push_chunk(Chunk::Mut(b));
            } else {
                self.bufmut_next = Some(b);
            }
            cnt
        } else {
            0
        };
        self.notify(orig, added, 0);
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.frozen_back {
            return UninitSlice::new(&mut []);
        }
        if self.tail_capacity() == 0 {
            // The next chunk is kept aside until something is written into
            // it, so that the buffer never holds an empty chunk.
            if self.bufmut_next.is_none() {
                self.bufmut_next = Some(self.alloc_chunk(1));
            }
            if let Some(b) = self.bufmut_next.as_mut() {
                return UninitSlice::uninit(b.spare_capacity_mut());
            }
        }
        UninitSlice::uninit(self.q.tail_spare_mut())
    }

    fn put_slice(&mut self, src: &[u8]) {
        if let Err(e) = self.add(src) {
            tracing::warn!(error = %e, refused = src.len(), "BufMut::put_slice refused");
        }
    }
}

impl io::Read for EvBuffer {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.remove(out)?)
    }
}

impl io::BufRead for EvBuffer {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.check("fill_buf", Access::Take)?;
        if self.q.chunks().front().is_some_and(Chunk::is_file) {
            self.materialize_front(1)?;
        }
        Ok(self.q.chunks().front().map_or(&[][..], Chunk::as_slice))
    }

    fn consume(&mut self, amt: usize) {
        Buf::advance(self, amt);
    }
}

impl io::Write for EvBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.add(data)?;
        Ok(data.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total = bufs.iter().fold(0usize, |a, b| a.saturating_add(b.len()));
        self.check("write_vectored", Access::Add(total))?;
        let mut n = 0;
        for b in bufs {
            self.add(b)?;
            n += b.len();
        }
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        Ok(self.add(data)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for EvBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.add(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl Extend<u8> for EvBuffer {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        let mut tmp = [0u8; 256];
        let mut n = 0;
        for b in iter {
            tmp[n] = b;
            n += 1;
            if n == tmp.len() {
                self.extend_add(&tmp);
                n = 0;
            }
        }
        self.extend_add(&tmp[..n]);
    }
}

impl<'a> Extend<&'a u8> for EvBuffer {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied())
    }
}

impl Extend<Bytes> for EvBuffer {
    fn extend<I: IntoIterator<Item = Bytes>>(&mut self, iter: I) {
        for b in iter {
            if let Err(e) = self.add_bytes(b) {
                tracing::warn!(error = %e, "Extend<Bytes> refused bytes");
            }
        }
    }
}

impl EvBuffer {
    fn extend_add(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Err(e) = self.add(data) {
            tracing::warn!(error = %e, refused = data.len(), "Extend refused bytes");
        }
    }
}

impl FromIterator<u8> for EvBuffer {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut b = EvBuffer::new();
        b.extend(iter);
        b
    }
}

impl From<Bytes> for EvBuffer {
    /// Wraps the bytes without copying.
    fn from(data: Bytes) -> Self {
        let mut b = EvBuffer::new();
        if !data.is_empty() {
            b.q.push(Chunk::Frozen(data));
        }
        b
    }
}

impl From<BytesMut> for EvBuffer {
    /// Takes the bytes (and their spare capacity) without copying.
    fn from(data: BytesMut) -> Self {
        let mut b = EvBuffer::new();
        if !data.is_empty() {
            b.q.push(Chunk::Mut(data));
        }
        b
    }
}

impl From<Vec<u8>> for EvBuffer {
    /// Takes the vector (and its spare capacity) without copying.
    fn from(v: Vec<u8>) -> Self {
        match Bytes::from(v).try_into_mut() {
            Ok(m) => EvBuffer::from(m),
            Err(b) => EvBuffer::from(b),
        }
    }
}

impl From<&[u8]> for EvBuffer {
    fn from(data: &[u8]) -> Self {
        let mut b = EvBuffer::new();
        b.append_copy(data);
        b
    }
}

impl From<&str> for EvBuffer {
    fn from(s: &str) -> Self {
        EvBuffer::from(s.as_bytes())
    }
}

impl From<String> for EvBuffer {
    fn from(s: String) -> Self {
        EvBuffer::from(s.into_bytes())
    }
}

impl fmt::Debug for EvBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Head<'a>(&'a EvBuffer);
        impl fmt::Debug for Head<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The first 64 bytes, without reading file chunks for it.
                let mut first = [0u8; 64];
                let mut n = 0;
                let mut unread_file = false;
                for c in self.0.q.chunks() {
                    if n == first.len() {
                        break;
                    }
                    if let Chunk::File(fc) = c {
                        if !fc.is_loaded() {
                            unread_file = true;
                            break;
                        }
                    }
                    let s = c.as_slice();
                    let k = s.len().min(first.len() - n);
                    first[n..n + k].copy_from_slice(&s[..k]);
                    n += k;
                }
                write!(f, "b\"{}\"", first[..n].escape_ascii())?;
                if unread_file {
                    f.write_str("<file>")?;
                }
                if self.0.len() > n {
                    f.write_str("...")?;
                }
                Ok(())
            }
        }
        struct Kinds<'a>(&'a EvBuffer);
        impl fmt::Debug for Kinds<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(
                        self.0
                            .q
                            .chunks()
                            .iter()
                            .take(16)
                            .map(|c| format!("{}:{}", c.kind(), c.len())),
                    )
                    .finish()
            }
        }
        f.debug_struct("EvBuffer")
            .field("len", &self.len())
            .field("chunks", &Kinds(self))
            .field("data", &Head(self))
            .field("frozen_front", &self.frozen_front)
            .field("frozen_back", &self.frozen_back)
            .finish()
    }
}

impl EvBuffer {
    /// Whether the contents equal `other` (compared chunk by chunk, no copy).
    fn eq_bytes(&self, other: &[u8]) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut rest = other;
        for s in self.peek(..) {
            let (a, b) = rest.split_at(s.len());
            if a != s {
                return false;
            }
            rest = b;
        }
        rest.is_empty()
    }
}

impl PartialEq<[u8]> for EvBuffer {
    fn eq(&self, other: &[u8]) -> bool {
        self.eq_bytes(other)
    }
}

impl PartialEq<&[u8]> for EvBuffer {
    fn eq(&self, other: &&[u8]) -> bool {
        self.eq_bytes(other)
    }
}

impl<const N: usize> PartialEq<[u8; N]> for EvBuffer {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.eq_bytes(other)
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for EvBuffer {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.eq_bytes(*other)
    }
}

impl PartialEq<Vec<u8>> for EvBuffer {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.eq_bytes(other)
    }
}

impl PartialEq<str> for EvBuffer {
    fn eq(&self, other: &str) -> bool {
        self.eq_bytes(other.as_bytes())
    }
}

impl PartialEq<&str> for EvBuffer {
    fn eq(&self, other: &&str) -> bool {
        self.eq_bytes(other.as_bytes())
    }
}

impl PartialEq for EvBuffer {
    /// Compares contents (not chunk layout, policy or freezing).
    fn eq(&self, other: &EvBuffer) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut a = self.peek(..);
        let mut b = other.peek(..);
        let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
        loop {
            if x.is_empty() {
                x = a.next().unwrap_or(&[]);
            }
            if y.is_empty() {
                y = b.next().unwrap_or(&[]);
            }
            if x.is_empty() || y.is_empty() {
                return x.is_empty() && y.is_empty();
            }
            let k = x.len().min(y.len());
            if x[..k] != y[..k] {
                return false;
            }
            x = &x[k..];
            y = &y[k..];
        }
    }
}

impl Eq for EvBuffer {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read, Write as _};

    #[test]
    fn buf_reads_across_chunks() {
        let mut b = EvBuffer::new();
        b.add_bytes(Bytes::from_static(b"\x00\x01")).unwrap();
        b.add_bytes(Bytes::from_static(b"\x02\x03rest-of-it"))
            .unwrap();
        assert_eq!(b.get_u32(), 0x00010203);
        let mut iov = [IoSlice::new(&[]); 4];
        assert_eq!(b.chunks_vectored(&mut iov), 1);
        assert_eq!(&*iov[0], b"rest-of-it");
        let head = b.copy_to_bytes(4);
        assert_eq!(&head[..], b"rest");
        b.advance(100);
        assert!(!b.has_remaining());
        b.add(b"x").unwrap();
        b.freeze(crate::End::Front);
        assert_eq!(b.remaining(), 0);
        assert_eq!(b.chunk(), b"");
    }

    #[test]
    fn bufmut_writes_into_the_tail() {
        let mut b = EvBuffer::new();
        b.put_u16(0x4142);
        b.put_slice(b"cd");
        b.put_bytes(b'e', 3);
        assert_eq!(b, &b"ABcdeee"[..]);
        assert_eq!(b.chunk_count(), 1);
        let _ = b.chunk_mut();
        b.put_slice(b"!");
        assert_eq!(b, &b"ABcdeee!"[..]);
        let mut e = EvBuffer::new();
        let _ = e.chunk_mut();
        assert_eq!(e.chunk_count(), 0, "no empty chunk");
        // Fill a whole tail so that the next write goes through a new chunk.
        let room = b.tail_capacity();
        b.put_bytes(b'.', room);
        assert_eq!(b.tail_capacity(), 0);
        b.put_u8(b'#');
        assert_eq!(b.len(), 8 + room + 1);
        assert_eq!(b.chunk_count(), 2);
        e.freeze(crate::End::Back);
        assert_eq!(e.remaining_mut(), 0);
    }

    #[test]
    fn io_traits() {
        let mut b = EvBuffer::new();
        io::Write::write_fmt(&mut b, format_args!("{}-{}", 12, "ab")).unwrap();
        let n = b
            .write_vectored(&[IoSlice::new(b"\nline2"), IoSlice::new(b"\n")])
            .unwrap();
        assert_eq!(n, 7);
        let mut s = String::new();
        BufRead::read_line(&mut b, &mut s).unwrap();
        assert_eq!(s, "12-ab\n");
        assert_eq!(b.fill_buf().unwrap(), b"line2\n");
        b.consume(5);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"\n");
        fmt::Write::write_fmt(&mut b, format_args!("{:>4}", 7)).unwrap();
        assert_eq!(b, "   7");
        assert_eq!(b.add_fmt(format_args!("{}{}", 1, 2)).unwrap(), 2);
        assert_eq!(b.add_fmt(format_args!("lit")).unwrap(), 3);
        b.freeze(crate::End::Back);
        assert!(fmt::Write::write_fmt(&mut b, format_args!("{}", 1)).is_err());
        assert!(b.add_fmt(format_args!("x")).is_err());
        assert!(std::io::Write::write(&mut b, b"x").is_err());
    }

    #[test]
    fn conversions_and_equality() {
        let v = EvBuffer::from(vec![1u8, 2, 3]);
        let b = EvBuffer::from(Bytes::from_static(b"\x01\x02\x03"));
        let s = EvBuffer::from(&[1u8, 2, 3][..]);
        assert_eq!(v, b);
        assert_eq!(b, s);
        assert_eq!(v, [1u8, 2, 3]);
        assert_eq!(v, &[1u8, 2, 3]);
        assert_eq!(v, vec![1u8, 2, 3]);
        assert_ne!(v, &b"\x01\x02"[..]);
        let mut chunked = EvBuffer::new();
        chunked.add_bytes(Bytes::from_static(b"\x01")).unwrap();
        chunked.add_bytes(Bytes::from_static(b"\x02\x03")).unwrap();
        assert_eq!(chunked, v);
        assert_ne!(chunked, EvBuffer::from("abc"));
        assert_eq!(EvBuffer::from(String::from("hi")), "hi");
        assert_eq!(EvBuffer::from(BytesMut::from(&b"m"[..])), "m");
        let mut e: EvBuffer = (0u8..5).collect();
        e.extend([5u8, 6].iter());
        e.extend(std::iter::repeat_n(9u8, 300));
        e.extend([Bytes::from_static(b"z")]);
        assert_eq!(e.len(), 308);
        let dbg = format!("{e:?}");
        assert!(dbg.contains("len: 308"), "{dbg}");
        assert!(dbg.contains("..."), "{dbg}");
        assert_eq!(EvBuffer::from(Vec::new()).chunk_count(), 0);
    }
}
