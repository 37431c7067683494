//! Moving bytes between a buffer and blocking `std::io` readers and writers
//! (libevent's `evbuffer_read` and `evbuffer_write_atmost`).
//!
//! * [`EvBuffer::read_from`] reads into reserved space (the tail's spare
//!   capacity plus a new chunk, with `read_vectored`), at most `max` bytes per
//!   call. libevent reads at most 4096 bytes per call whatever it is asked
//!   (statement 36); the bound here is the caller's.
//! * [`EvBuffer::write_to`] writes up to `max` bytes across up to
//!   [`MAX_IOVECS`] chunks with one `write_vectored` and drains what was
//!   written.
//! * [`EvBuffer::write_to_fd`] (Linux) does the same on a raw descriptor and
//!   sends file chunks with `sendfile(2)`.
//!
//! `std::io::Read` takes initialised memory, so `read_from` zero-fills the
//! region it reads into; the tokio path (`poll_read_from`) reads into
//! uninitialised memory through `ReadBuf` and does not.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};

use crate::buffer::{Access, EvBuffer};

/// Most iovecs passed to one `writev` (libevent uses `NUM_WRITE_IOVEC` = 128;
/// with 64 KiB chunks 64 of them is 4 MiB).
pub const MAX_IOVECS: usize = 64;

impl EvBuffer {
    /// Reads once from `r` into the end of the buffer, at most `max` bytes
    /// (`evbuffer_read`). Returns the number of bytes read; 0 means end of
    /// stream (or `max == 0`).
    ///
    /// Fails with the reader's error (nothing added), or with
    /// [`Error::FrozenBack`](crate::Error::FrozenBack) (as an `io::Error`) if the back is frozen.
    ///
    /// ```
    /// use evbuffer::EvBuffer;
    ///
    /// let mut buf = EvBuffer::new();
    /// let mut src: &[u8] = b"some bytes";
    /// assert_eq!(buf.read_from(&mut src, 4).unwrap(), 4);
    /// assert_eq!(buf.read_from(&mut src, 1 << 16).unwrap(), 6);
    /// assert_eq!(buf.read_from(&mut src, 1 << 16).unwrap(), 0);
    /// assert_eq!(buf, &b"some bytes"[..]);
    /// ```
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        self.check("read_from", Access::Add(0))?;
        if max == 0 {
            return Ok(0);
        }
        let mut res = self.reserve(max, 2)?;
        let l0 = res.region_len(0).min(max);
        let l1 = res.region_len(1).min(max - l0);
        let n = {
            let (a, b) = res.regions_mut();
            let mut iov = [IoSliceMut::new(&mut a[..l0]), IoSliceMut::new(&mut b[..l1])];
            let count = if l1 > 0 { 2 } else { 1 };
            loop {
                match r.read_vectored(&mut iov[..count]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            }
        };
        let n = n.min(l0 + l1);
        res.commit(n)?;
        Ok(n)
    }

    /// Writes up to `max` bytes from the front to `w` with one
    /// `write_vectored` over up to [`MAX_IOVECS`] chunks, and drains what was
    /// written (`evbuffer_write_atmost`). Returns the count; 0 if the buffer
    /// is empty or `max == 0`.
    ///
    /// File chunks are read (only the part being written) first. Fails with
    /// the writer's error (nothing drained), [`Error::FrozenFront`](crate::Error::FrozenFront) or
    /// [`Error::FileRead`](crate::Error::FileRead) as an `io::Error`.
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W, max: usize) -> io::Result<usize> {
        self.check("write_to", Access::Take)?;
        let want = max.min(self.len());
        if want == 0 {
            return Ok(0);
        }
        self.materialize_front(want)?;
        let n = {
            let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
            let k = self.fill_iovecs(want, &mut iov);
            loop {
                match w.write_vectored(&iov[..k]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            }
        };
        let n = n.min(want);
        let orig = self.len();
        self.drain_internal(n);
        self.notify(orig, 0, n);
        Ok(n)
    }

    /// Fills `iov` with the first chunks, totalling at most `want` bytes;
    /// returns how many slots were used.
    pub(crate) fn fill_iovecs<'a>(&'a self, want: usize, iov: &mut [IoSlice<'a>]) -> usize {
        let mut left = want;
        let mut k = 0;
        for c in self.q.chunks() {
            if left == 0 || k == iov.len() {
                break;
            }
            let s = c.as_slice();
            if s.is_empty() {
                break;
            }
            let t = s.len().min(left);
            iov[k] = IoSlice::new(&s[..t]);
            k += 1;
            left -= t;
        }
        k
    }

    /// Writes up to `max` bytes to the file descriptor `fd` and drains what was
    /// written: unread file chunks at the front go with `sendfile(2)` (their
    /// bytes never enter user space), everything else with `writev`.
    /// Otherwise as [`write_to`](Self::write_to). Linux only.
    ///
    /// libevent: `evbuffer_write_atmost` on a socket, with sendfile for file segments.
    #[cfg(target_os = "linux")]
    pub fn write_to_fd(
        &mut self,
        fd: std::os::fd::BorrowedFd<'_>,
        max: usize,
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;

        self.check("write_to_fd", Access::Take)?;
        let want = max.min(self.len());
        if want == 0 {
            return Ok(0);
        }
        if let Some(crate::chunk::Chunk::File(f)) = self.q.chunks().front() {
            if !f.is_loaded() {
                let count = f.len().min(want);
                let Ok(mut off) = libc::off_t::try_from(f.pos()) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "file offset too large",
                    ));
                };
                let in_fd = f.file().as_raw_fd();
                let n = loop {
                    // SAFETY: both descriptors are open for the duration of
                    // the call (`fd` is borrowed, the file is owned by the
                    // segment we hold), and `off` is a valid `off_t` we own.
                    let r = unsafe { libc::sendfile(fd.as_raw_fd(), in_fd, &mut off, count) };
                    if r >= 0 {
                        break r as usize;
                    }
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                };
                let n = n.min(want);
                let orig = self.len();
                self.drain_internal(n);
                self.notify(orig, 0, n);
                return Ok(n);
            }
        }
        // Stop the writev before the next unread file chunk, so that it is
        // sent with sendfile on the next call.
        let mut upto = 0;
        for c in self.q.chunks() {
            if upto >= want {
                break;
            }
            if let crate::chunk::Chunk::File(f) = c {
                if !f.is_loaded() {
                    break;
                }
            }
            upto += c.len();
        }
        let want = want.min(upto);
        self.materialize_front(want)?;
        let n = {
            let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
            let k = self.fill_iovecs(want, &mut iov);
            loop {
                // SAFETY: every `IoSlice` is ABI-compatible with `iovec` and
                // points into chunks borrowed for the call; `k <= MAX_IOVECS`.
                let r = unsafe {
                    libc::writev(
                        fd.as_raw_fd(),
                        iov.as_ptr().cast::<libc::iovec>(),
                        k as libc::c_int,
                    )
                };
                if r >= 0 {
                    break r as usize;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        };
        let n = n.min(want);
        let orig = self.len();
        self.drain_internal(n);
        self.notify(orig, 0, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::End;

    /// A writer that takes at most `cap` bytes per call and records them.
    struct Trickle {
        cap: usize,
        got: Vec<u8>,
        calls: usize,
        max_iov: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            self.max_iov = self.max_iov.max(bufs.len());
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(self.cap - n);
                self.got.extend_from_slice(&b[..k]);
                n += k;
                if n == self.cap {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_to_is_vectored_and_bounded() {
        let mut b = EvBuffer::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for p in data.chunks(1000) {
            b.add_bytes(bytes::Bytes::copy_from_slice(p)).unwrap();
        }
        let mut w = Trickle {
            cap: 100_000,
            got: Vec::new(),
            calls: 0,
            max_iov: 0,
        };
        assert_eq!(
            b.write_to(&mut w, 1_000_000).unwrap(),
            64_000,
            "64 iovecs of 1000"
        );
        assert_eq!(w.max_iov, MAX_IOVECS);
        assert_eq!(b.write_to(&mut w, 10).unwrap(), 10);
        while b.write_to(&mut w, usize::MAX).unwrap() > 0 {}
        assert_eq!(w.got, data);
        assert!(b.is_empty());
        b.add(b"x").unwrap();
        b.freeze(End::Front);
        assert!(b.write_to(&mut w, 10).is_err());
    }

    #[test]
    fn read_from_is_bounded_and_reports_eof() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut src: &[u8] = &data;
        let mut b = EvBuffer::new();
        assert_eq!(b.read_from(&mut src, 10).unwrap(), 10);
        let mut total = 10;
        loop {
            let n = b.read_from(&mut src, 30_000).unwrap();
            assert!(n <= 30_000);
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, data.len());
        assert_eq!(b.to_vec(), data);
        assert_eq!(b.read_from(&mut src, 0).unwrap(), 0);
        b.freeze(End::Back);
        assert!(b.read_from(&mut src, 10).is_err());
    }

    #[test]
    fn read_from_error_adds_nothing() {
        struct Fail;
        impl Read for Fail {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "boom"))
            }
        }
        let mut b = EvBuffer::new();
        b.add(b"keep").unwrap();
        assert_eq!(
            b.read_from(&mut Fail, 100).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(b, &b"keep"[..]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn write_to_fd_uses_sendfile_for_file_chunks() {
        use std::io::Read as _;
        use std::os::fd::AsFd;
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let seg = crate::FileSegment::new(crate::file::tests::temp_file(&data), 0, None).unwrap();
        let mut b = EvBuffer::new();
        b.add(b"<<").unwrap();
        b.add_file_segment(&seg, 100, 40_000).unwrap();
        b.add(b">>").unwrap();
        let (mut rx, tx) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            rx.read_to_end(&mut v).unwrap();
            v
        });
        while !b.is_empty() {
            b.write_to_fd(tx.as_fd(), 16 * 1024).unwrap();
        }
        drop(tx);
        let got = reader.join().unwrap();
        let mut want = b"<<".to_vec();
        want.extend_from_slice(&data[100..40_100]);
        want.extend_from_slice(b">>");
        assert_eq!(got, want);
    }
}
