//! Non-blocking I/O with tokio's `AsyncRead` / `AsyncWrite` (feature `tokio`).
//!
//! The same moves as [`crate::io`], as poll functions a bufferevent's I/O
//! task (or any `Future`) can drive:
//!
//! * [`EvBuffer::poll_read_from`] reads into one reserved region through a
//!   `ReadBuf` over uninitialised memory (tokio's `AsyncRead` has no
//!   vectored read), so nothing is zero-filled; a new chunk that receives
//!   nothing (`Pending`, error) is kept for the next read.
//! * [`EvBuffer::poll_write_to`] writes up to `max` bytes across up to
//!   [`MAX_IOVECS`](crate::io::MAX_IOVECS) chunks with `poll_write_vectored`
//!   and drains what was written.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::buffer::{Access, EvBuffer};
use crate::io::MAX_IOVECS;

impl EvBuffer {
    /// Reads once from `r` into the end of the buffer, at most `max` bytes
    /// (`evbuffer_read` for non-blocking sockets). `Ready(Ok(0))` is end of
    /// stream (or `max == 0`).
    ///
    /// The bytes land in the tail's spare capacity when it can take at least
    /// half of `min(max, max_chunk)`, otherwise in a new chunk sized by the
    /// [`ChunkPolicy`](crate::ChunkPolicy); one read takes at most
    /// `min(max, region)` bytes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use evbuffer::EvBuffer;
    ///
    /// let mut buf = EvBuffer::new();
    /// let mut src: &[u8] = b"hello";
    /// let n = std::future::poll_fn(|cx| buf.poll_read_from(cx, std::pin::Pin::new(&mut src), 1024)).await.unwrap();
    /// assert_eq!(n, 5);
    /// assert_eq!(buf, &b"hello"[..]);
    /// # }
    /// ```
    pub fn poll_read_from<R: AsyncRead + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: Pin<&mut R>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check("poll_read_from", Access::Add(0)) {
            return Poll::Ready(Err(e.into()));
        }
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        let want = max.min(self.policy.max_chunk());
        let spare = self.tail_capacity();
        // Use the tail when it has room for a worthwhile read; else ask for a
        // region of `want` bytes in a new chunk.
        let ask = if spare > 0 && spare >= want / 2 {
            spare.min(want)
        } else {
            want
        };
        let mut res = match self.reserve(ask, 1) {
            Ok(res) => res,
            Err(e) => return Poll::Ready(Err(e.into())),
        };
        let region = res.region_uninit(0);
        let lim = region.len().min(max);
        let region = &mut region[..lim];
        let start = region.as_ptr();
        let mut rb = ReadBuf::uninit(region);
        let polled = r.poll_read(cx, &mut rb);
        let filled = rb.filled();
        let filled_len = filled.len();
        let same_memory = filled.as_ptr() == start.cast::<u8>();
        match polled {
            Poll::Pending => {
                // Nothing arrived: do not keep a read-sized allocation
                // around for an idle connection.
                res.release();
                return Poll::Pending;
            }
            Poll::Ready(Err(e)) => {
                res.release();
                return Poll::Ready(Err(e));
            }
            Poll::Ready(Ok(())) => {}
        }
        if !same_memory {
            return Poll::Ready(Err(io::Error::other(
                "AsyncRead replaced the ReadBuf's memory",
            )));
        }
        let n = filled_len;
        // SAFETY: `ReadBuf` guarantees that its filled part (the first `n`
        // bytes of our region, checked to be the same memory above) is
        // initialised.
        unsafe { res.assume_init(0, n) };
        res.commit(n)?;
        Poll::Ready(Ok(n))
    }

    /// Writes up to `max` bytes from the front to `w` with one
    /// `poll_write_vectored` over up to [`MAX_IOVECS`] chunks and drains what
    /// was written (`evbuffer_write_atmost` for non-blocking sockets).
    /// `Ready(Ok(0))` if the buffer is empty or `max == 0`.
    ///
    /// File chunks are read (only the part being written) first, with a
    /// blocking positioned read.
    pub fn poll_write_to<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: Pin<&mut W>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check("poll_write_to", Access::Take) {
            return Poll::Ready(Err(e.into()));
        }
        let want = max.min(self.len());
        if want == 0 {
            return Poll::Ready(Ok(0));
        }
        if let Err(e) = self.materialize_front(want) {
            return Poll::Ready(Err(e.into()));
        }
        let n = {
            let mut iov = [io::IoSlice::new(&[]); MAX_IOVECS];
            let k = self.fill_iovecs(want, &mut iov);
            if w.is_write_vectored() || k == 1 {
                ready!(w.poll_write_vectored(cx, &iov[..k]))?
            } else {
                ready!(w.poll_write(cx, &iov[0]))?
            }
        };
        let n = n.min(want);
        let orig = self.len();
        self.drain_internal(n);
        self.notify(orig, 0, n);
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::{timeout, Duration};

    #[tokio::test]
    async fn loopback_roundtrip() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let res = timeout(Duration::from_secs(10), async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let d2 = data.clone();
            let server = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut inb = EvBuffer::new();
                loop {
                    let n = poll_fn(|cx| inb.poll_read_from(cx, Pin::new(&mut s), 16 * 1024))
                        .await
                        .unwrap();
                    assert!(n <= 16 * 1024);
                    if n == 0 {
                        break;
                    }
                }
                assert_eq!(inb.to_vec(), d2);
                // Echo it back.
                while !inb.is_empty() {
                    poll_fn(|cx| inb.poll_write_to(cx, Pin::new(&mut s), 100_000))
                        .await
                        .unwrap();
                }
                s.shutdown().await.unwrap();
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut out = EvBuffer::new();
            for p in data.chunks(7000) {
                out.add(p).unwrap();
            }
            while !out.is_empty() {
                poll_fn(|cx| out.poll_write_to(cx, Pin::new(&mut c), 1 << 20))
                    .await
                    .unwrap();
            }
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            server.await.unwrap();
            back
        })
        .await
        .expect("bounded in time");
        assert_eq!(res, data);
    }

    /// A reader that never has data.
    struct Never;
    impl AsyncRead for Never {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    #[test]
    fn pending_read_keeps_no_allocation() {
        let mut b = EvBuffer::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let r = b.poll_read_from(&mut cx, Pin::new(&mut Never), 64 * 1024);
        assert!(r.is_pending());
        assert!(b.spares.is_empty());
        assert_eq!(b.chunk_count(), 0);
    }

    #[tokio::test]
    async fn frozen_ends_fail() {
        let mut b = EvBuffer::new();
        b.freeze(crate::End::Back);
        let mut src: &[u8] = b"x";
        let r = poll_fn(|cx| b.poll_read_from(cx, Pin::new(&mut src), 10)).await;
        assert!(r.is_err());
        b.unfreeze(crate::End::Back);
        b.add(b"y").unwrap();
        b.freeze(crate::End::Front);
        let mut sink = Vec::new();
        let r = poll_fn(|cx| b.poll_write_to(cx, Pin::new(&mut sink), 10)).await;
        assert!(r.is_err());
    }
}
