//! File segments: a region of an open file added to a buffer without reading
//! it (libevent's `evbuffer_file_segment` and `evbuffer_add_file`).
//!
//! A [`FileSegment`] owns the file and names a byte range of it; adding (part
//! of) it to a buffer adds a file chunk that holds only the segment, an offset
//! and a length. The bytes are read with positioned reads (`pread`) when they
//! are needed:
//!
//! * operations that take `&mut self` and consume bytes (`remove`, `pullup`,
//!   `split_to`, `write_to`, ...) read just the prefix they need (at most
//!   [`LOAD_STEP`] bytes past it) and report a failed read as
//!   [`crate::Error::FileRead`] before changing anything;
//! * on Linux, [`EvBuffer::write_to_fd`](crate::EvBuffer::write_to_fd) sends
//!   unread file chunks with `sendfile(2)`, so their bytes never enter user
//!   space;
//! * operations that take `&self` (`peek`, `copy_out`, `search`, comparisons)
//!   read the whole chunk once and keep it. If that read fails, they see the
//!   buffer as ending where the unreadable chunk begins (`copy_out` returns
//!   `Error::FileRead`); nothing is made up.
//!
//! The segment's cleanup callback runs once, when the segment and every buffer
//! chunk that refers to it are gone (statement 37): it is the `Drop` of the
//! shared segment.

use std::fmt;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::{Access, EvBuffer};
use crate::chunk::Chunk;
use crate::error::{Error, Result};

/// How many bytes past what an operation needs are read from a file chunk at
/// once (so that consuming a file piece by piece does not read it piece by
/// piece).
///
/// libevent: segments are mmapped or read whole.
pub const LOAD_STEP: usize = 64 * 1024;

type Cleanup = Box<dyn FnOnce() + Send>;

struct SegmentInner {
    file: File,
    offset: u64,
    len: u64,
    cleanup: Mutex<Vec<Cleanup>>,
}

impl Drop for SegmentInner {
    fn drop(&mut self) {
        let cbs = match self.cleanup.get_mut() {
            Ok(v) => std::mem::take(v),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        for cb in cbs {
            cb();
        }
    }
}

/// A byte range of an open file that can be added to buffers without being
/// read into memory (libevent's `struct evbuffer_file_segment`).
///
/// Cloning is cheap (a reference count). The file is closed, and the cleanup
/// callbacks run, when the last clone and the last buffer chunk referring to
/// it are dropped (`evbuffer_file_segment_free` plus the last reference).
///
/// ```
/// use std::io::Write;
/// use evbuffer::{EvBuffer, FileSegment};
///
/// let mut f = tempfile();
/// f.write_all(b"0123456789").unwrap();
/// let seg = FileSegment::new(f, 2, Some(6)).unwrap(); // bytes "234567"
/// let mut buf = EvBuffer::new();
/// buf.add_file_segment(&seg, 1, 3).unwrap();          // "345"
/// assert_eq!(buf.len(), 3);
/// let mut out = [0u8; 3];
/// buf.remove(&mut out).unwrap();
/// assert_eq!(&out, b"345");
/// # fn tempfile() -> std::fs::File {
/// #     let p = std::env::temp_dir().join(format!("evbuffer-doc-{}", std::process::id()));
/// #     let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
/// #     std::fs::remove_file(&p).ok();
/// #     f
/// # }
/// ```
#[derive(Clone)]
pub struct FileSegment {
    inner: Arc<SegmentInner>,
}

impl fmt::Debug for FileSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSegment")
            .field("offset", &self.inner.offset)
            .field("len", &self.inner.len)
            .finish()
    }
}

impl FileSegment {
    /// Makes a segment of `file` starting at `offset`, `len` bytes long, or up
    /// to the end of the file when `len` is `None`
    /// (`evbuffer_file_segment_new(fd, offset, length, 0)`).
    ///
    /// With `len == None` the file's current size is read with `metadata`;
    /// an offset past the end gives an empty segment.
    pub fn new(file: File, offset: u64, len: Option<u64>) -> io::Result<Self> {
        let len = match len {
            Some(l) => l,
            None => file.metadata()?.len().saturating_sub(offset),
        };
        offset.checked_add(len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file segment of {len} bytes at offset {offset} overflows u64"),
            )
        })?;
        Ok(FileSegment {
            inner: Arc::new(SegmentInner {
                file,
                offset,
                len,
                cleanup: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The segment's length in bytes.
    ///
    /// libevent: the `length` of `evbuffer_file_segment_new`.
    pub fn len(&self) -> u64 {
        self.inner.len
    }

    /// Whether the segment is empty.
    ///
    /// libevent: a segment of `length` 0.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The segment's start offset in the file.
    ///
    /// libevent: the `offset` of `evbuffer_file_segment_new`.
    pub fn offset(&self) -> u64 {
        self.inner.offset
    }

    /// The underlying file.
    ///
    /// libevent: the `fd` of `evbuffer_file_segment_new`.
    pub fn file(&self) -> &File {
        &self.inner.file
    }

    /// Registers `f` to run once, after this segment's last clone and the last
    /// buffer chunk that refers to it are dropped
    /// (`evbuffer_file_segment_add_cleanup_cb`).
    pub fn add_cleanup<F: FnOnce() + Send + 'static>(&self, f: F) {
        match self.inner.cleanup.lock() {
            Ok(mut v) => v.push(Box::new(f)),
            Err(poisoned) => poisoned.into_inner().push(Box::new(f)),
        }
    }
}

/// Reads exactly `buf.len()` bytes at absolute offset `pos` of `file`.
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, pos)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.seek_read(&mut buf[done..], pos + done as u64) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buf, pos);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// A file chunk: `len` bytes of the segment at absolute file offset `pos`.
pub(crate) struct FileChunk {
    seg: Arc<SegmentInner>,
    pos: u64,
    len: usize,
    /// The bytes, once read for a `&self` operation; `None` if the read failed.
    loaded: OnceLock<Option<Bytes>>,
}

impl Clone for FileChunk {
    fn clone(&self) -> Self {
        let loaded = OnceLock::new();
        if let Some(v) = self.loaded.get() {
            let _ = loaded.set(v.clone());
        }
        FileChunk {
            seg: self.seg.clone(),
            pos: self.pos,
            len: self.len,
            loaded,
        }
    }
}

impl FileChunk {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The absolute file offset of the first byte.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The file this chunk reads from.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn file(&self) -> &File {
        &self.seg.file
    }

    /// Whether the bytes were already read (for a `&self` operation).
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// Reads the first `n` bytes from the file.
    pub(crate) fn read_prefix(&self, n: usize) -> Result<Bytes> {
        if let Some(Some(b)) = self.loaded.get() {
            return Ok(b.slice(..n));
        }
        let mut v = BytesMut::zeroed(n);
        read_exact_at(&self.seg.file, &mut v, self.pos).map_err(|source| Error::FileRead {
            offset: self.pos,
            len: n,
            source,
        })?;
        Ok(v.freeze())
    }

    /// The whole chunk's bytes, read on first use; empty if unreadable.
    pub(crate) fn slice(&self) -> &[u8] {
        let v = self.loaded.get_or_init(|| match self.read_prefix(self.len) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!(error = %e, "file segment unreadable; the buffer's readable data ends before it");
                None
            }
        });
        match v {
            Some(b) => b,
            None => &[],
        }
    }

    /// The error a `&self` reader reports when [`slice`](Self::slice) came back short.
    pub(crate) fn unreadable_error(&self) -> Error {
        Error::FileRead {
            offset: self.pos,
            len: self.len,
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file segment could not be read",
            ),
        }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n as u64;
        self.len -= n;
        if let Some(Some(b)) = self.loaded.get_mut() {
            b.advance(n);
        }
    }

    pub(crate) fn split_to(&mut self, n: usize) -> FileChunk {
        let loaded = OnceLock::new();
        if let Some(v) = self.loaded.get_mut() {
            let head = v.as_mut().map(|b| b.split_to(n));
            let _ = loaded.set(head);
        }
        let head = FileChunk {
            seg: self.seg.clone(),
            pos: self.pos,
            len: n,
            loaded,
        };
        self.pos += n as u64;
        self.len -= n;
        head
    }
}

impl EvBuffer {
    /// Adds `len` bytes of `seg`, starting `offset` bytes into the segment,
    /// without reading them (`evbuffer_add_file_segment`).
    ///
    /// Errors: [`Error::FileRange`] if `offset + len` reaches past the segment
    /// (statement 37); [`Error::FrozenBack`] if the back is frozen. Adding 0
    /// bytes adds nothing.
    pub fn add_file_segment(&mut self, seg: &FileSegment, offset: u64, len: u64) -> Result<()> {
        self.check("add_file_segment", Access::Add(0))?;
        let seg_len = seg.inner.len;
        let range_err = Error::FileRange {
            offset,
            len,
            segment_len: seg_len,
        };
        match offset.checked_add(len) {
            Some(end) if end <= seg_len => {}
            _ => return Err(range_err),
        }
        if len == 0 {
            return Ok(());
        }
        let Ok(n) = usize::try_from(len) else {
            return Err(range_err);
        };
        if !self.q.fits(n) {
            return Err(range_err);
        }
        let orig = self.len();
        self.q.push(Chunk::File(Box::new(FileChunk {
            seg: seg.inner.clone(),
            pos: seg.inner.offset + offset,
            len: n,
            loaded: OnceLock::new(),
        })));
        self.notify(orig, n, 0);
        Ok(())
    }

    /// Adds `len` bytes of `file` starting at `offset` without reading them
    /// (`evbuffer_add_file`); the file is closed when the bytes are gone.
    pub fn add_file(&mut self, file: File, offset: u64, len: u64) -> Result<()> {
        self.check("add_file", Access::Add(0))?;
        let seg = FileSegment::new(file, offset, Some(len)).map_err(|source| Error::FileRead {
            offset,
            len: usize::try_from(len).unwrap_or(usize::MAX),
            source,
        })?;
        self.add_file_segment(&seg, 0, len)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) fn temp_file(data: &[u8]) -> File {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "evbuffer-file-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).ok();
        f.write_all(data).unwrap();
        f
    }

    #[test]
    fn segment_range_checks() {
        let seg = FileSegment::new(temp_file(b"0123456789"), 2, None).unwrap();
        assert_eq!(seg.len(), 8);
        let mut b = EvBuffer::new();
        assert!(matches!(
            b.add_file_segment(&seg, 5, 4),
            Err(Error::FileRange {
                offset: 5,
                len: 4,
                segment_len: 8
            })
        ));
        assert!(b.add_file_segment(&seg, u64::MAX, 4).is_err());
        b.add_file_segment(&seg, 0, 0).unwrap();
        assert_eq!(b.chunk_count(), 0);
        b.add_file_segment(&seg, 4, 4).unwrap();
        assert_eq!(b, &b"6789"[..]);
    }

    #[test]
    fn lazily_read_and_partially_consumed() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let seg = FileSegment::new(temp_file(&data), 0, None).unwrap();
        let mut b = EvBuffer::new();
        b.add(b"head").unwrap();
        b.add_file_segment(&seg, 10, 150_000).unwrap();
        b.add(b"tail").unwrap();
        assert_eq!(b.len(), 4 + 150_000 + 4);
        let mut out = [0u8; 10];
        b.remove(&mut out).unwrap();
        assert_eq!(&out[..4], b"head");
        assert_eq!(&out[4..], &data[10..16]);
        // Only the needed prefix (plus LOAD_STEP) was read.
        assert!(b.chunk_count() >= 3);
        let rest = b.to_vec();
        assert_eq!(&rest[..150_000 - 6], &data[16..150_010]);
        assert_eq!(&rest[150_000 - 6..], b"tail");
    }

    #[test]
    fn cleanup_runs_after_segment_and_last_reference() {
        let hits = Arc::new(AtomicUsize::new(0));
        let seg = FileSegment::new(temp_file(b"abcdef"), 0, None).unwrap();
        let h = hits.clone();
        seg.add_cleanup(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let mut a = EvBuffer::new();
        a.add_file_segment(&seg, 0, 6).unwrap();
        let mut b = EvBuffer::new();
        b.add_buffer_reference(&a).unwrap();
        drop(seg);
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        a.drain(6).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert_eq!(b, &b"abcdef"[..]);
        drop(b);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn truncated_file_is_reported_not_invented() {
        let f = temp_file(b"short");
        let seg = FileSegment::new(f, 0, Some(100)).unwrap();
        let mut b = EvBuffer::new();
        b.add(b"ok").unwrap();
        b.add_file_segment(&seg, 0, 100).unwrap();
        let mut out = [0u8; 50];
        assert!(matches!(b.remove(&mut out), Err(Error::FileRead { .. })));
        assert_eq!(b.len(), 102, "nothing consumed on a failed read");
        assert!(matches!(b.copy_out(&mut out), Err(Error::FileRead { .. })));
        let seen: usize = b.peek(..).map(|s| s.len()).sum();
        assert_eq!(seen, 2, "peek stops before the unreadable chunk");
    }

    #[test]
    fn debug_does_not_read_files() {
        let seg = FileSegment::new(temp_file(b"0123456789"), 0, None).unwrap();
        let mut b = EvBuffer::new();
        b.add(b"hi").unwrap();
        b.add_file_segment(&seg, 0, 10).unwrap();
        let s = format!("{b:?}");
        assert!(s.contains("b\"hi\"<file>..."), "{s}");
        b.drain(2).unwrap();
        let _ = b.to_vec(); // reads it (for a `&self` operation)
        let s = format!("{b:?}");
        assert!(s.contains("b\"0123456789\""), "{s}");
    }
}
