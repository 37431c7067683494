//! Cases mirroring what libevent's `test/regress_buffer.c` checks, one test
//! per libevent test (named after it), plus the statements of
//! `docs/libevent-semantics.md` (items 1-37) they pin. Written from the facts those
//! tests establish, not from their code.
//!
//! Where this crate deliberately differs (peek returns exactly the asked
//! range; small appends are coalesced unless the policy says otherwise), the
//! test says so and checks our documented behaviour.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use evbuffer::{Bytes, CbInfo, ChunkPolicy, End, Eol, Error, EvBuffer, FileSegment};

/// libevent's chain-per-add_buffer layout: no coalescing of small appends.
fn libevent_like() -> EvBuffer {
    EvBuffer::with_chunk_policy(ChunkPolicy::new().with_coalesce_below(0))
}

fn line(b: &mut EvBuffer, eol: Eol) -> Option<String> {
    b.read_line(eol)
        .unwrap()
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
}

fn temp_file(data: &[u8]) -> std::fs::File {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "evbuffer-regress-{}-{}",
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

/// A cleanup owner that counts its drops.
struct Counted(&'static [u8], Arc<AtomicUsize>);
impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        self.0
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn test_evbuffer() {
    let mut evb = EvBuffer::new();
    let mut two = EvBuffer::new();
    evb.add_fmt(format_args!("{}/{}", "hello", 1)).unwrap();
    assert_eq!(evb.len(), 7);
    evb.append(&mut two).unwrap(); // empty source: nothing changes
    evb.drain("hello/".len()).unwrap();
    assert_eq!(evb, "1");
    two.add_fmt(format_args!("{}", "/hello")).unwrap();
    evb.append(&mut two).unwrap();
    assert_eq!(two.len(), 0);
    assert_eq!(evb, "1/hello");

    let zeros = [0u8; 512];
    evb.add(&zeros).unwrap();
    assert_eq!(evb.len(), 7 + 512);
    let p = evb.pullup(7 + 512).unwrap();
    assert_eq!(&p[..7], b"1/hello");
    assert_eq!(&p[7..], &zeros[..]);
    evb.prepend(b"something").unwrap();
    evb.prepend(b"else").unwrap();
    assert_eq!(evb.pullup(4 + 9 + 7).unwrap(), b"elsesomething1/hello");
    evb.drain(usize::MAX).unwrap();
    two.drain(usize::MAX).unwrap();

    for _ in 0..3 {
        two.add(&zeros).unwrap();
        evb.append(&mut two).unwrap();
    }
    assert_eq!(two.len(), 0);
    assert_eq!(evb.len(), 3 * 512);

    // Statement 18: remove_buffer moves 2.5 x 512 and leaves 256.
    let moved = evb.remove_into(&mut two, 1280).unwrap();
    assert_eq!(moved, 1280);
    assert_eq!(two.len(), 1280);
    assert_eq!(evb.len(), 256);
    assert_eq!(evb.pullup_all().unwrap(), &zeros[..256]);
    assert_eq!(&two.pullup_all().unwrap()[..512], &zeros[..]);

    // One-region reserve and commit, three times (statement 6).
    for _ in 0..3 {
        let mut r = evb.reserve(10_000, 1).unwrap();
        assert_eq!(r.region_count(), 1);
        assert!(r.region_len(0) >= 10_000);
        for (j, b) in r.region_mut(0)[..10_000].iter_mut().enumerate() {
            *b = j as u8;
        }
        r.commit(10_000).unwrap();
        assert!(evb.len() >= 10_000);
        evb.drain(5000).unwrap();
    }
}

#[test]
fn test_evbuffer_remove_buffer_with_empty() {
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    src.add_reference(&b"ab"[..]).unwrap();
    src.add_reference(&b"cd"[..]).unwrap();
    dst.add(b"xy").unwrap();
    dst.add_reference(&b""[..]).unwrap(); // an empty reference adds no chunk
    assert_eq!(dst.chunk_count(), 1);
    assert_eq!(src.remove_into(&mut dst, 3).unwrap(), 3);
    assert_eq!(dst, "xyabc");
    assert_eq!(src, "d");
}

#[test]
fn test_evbuffer_remove_buffer_adjust_last_with_datap() {
    // Moving whole and partial chunks, then adding to both buffers again,
    // keeps both consistent.
    let mut src = libevent_like();
    let mut dst = libevent_like();
    for p in [&b"aaaa"[..], b"bbbb", b"cccc"] {
        src.add_bytes(Bytes::copy_from_slice(p)).unwrap();
    }
    assert_eq!(src.remove_into(&mut dst, 6).unwrap(), 6);
    dst.add(b"+").unwrap();
    src.add(b"-").unwrap();
    assert_eq!(dst, "aaaabb+");
    assert_eq!(src, "bbcccc-");
}

#[test]
fn test_evbuffer_reserve2() {
    // Statements 6, 8, 9: two-region reservations over the tail.
    let mut buf = EvBuffer::new();
    let mut r = buf.reserve(1024, 2).unwrap();
    assert_eq!(
        r.region_count(),
        1,
        "the first chunk is necessarily one region"
    );
    assert!(r.region_len(0) >= 1024);
    let first = r.region_uninit(0).as_ptr();
    let total0 = r.region_len(0);
    r.region_mut(0)[..512].fill(b'X');
    r.commit(512).unwrap();
    assert_eq!(buf.len(), 512);

    let mut r = buf.reserve(32, 2).unwrap();
    assert_eq!(r.region_count(), 1);
    assert_eq!(r.region_uninit(0).as_ptr(), first.wrapping_add(512));
    assert_eq!(r.region_len(0), total0 - 512);
    r.region_mut(0)[..8].fill(b'Y');
    r.commit(8).unwrap();
    assert_eq!(buf.len(), 520);
    let remaining = total0 - 520;

    // A split request; commit one byte of the first region only.
    let mut r = buf.reserve(remaining + 64, 2).unwrap();
    assert_eq!(r.region_count(), 2);
    assert_eq!(r.region_len(0), remaining);
    assert!(r.region_len(1) >= 64);
    let second = r.region_uninit(1).as_ptr();
    r.region_mut(0)[0] = b'Z';
    r.commit(1).unwrap();
    assert_eq!(buf.len(), 521);

    // Again: the same memory comes back (statement 8); use some of both.
    let mut r = buf.reserve(remaining - 1 + 64, 2).unwrap();
    assert_eq!(r.region_count(), 2);
    assert_eq!(r.region_uninit(0).as_ptr(), first.wrapping_add(521));
    assert_eq!(r.region_uninit(1).as_ptr(), second);
    r.region_mut(0)[..400].fill(b'W');
    r.region_mut(1)[..60].fill(b'x');
    r.commit_regions(&[400, 60]).unwrap();
    assert_eq!(buf.len(), 981);

    let ext: Vec<&[u8]> = buf.peek(..).collect();
    assert_eq!(ext.len(), 2);
    assert_eq!(ext[0].len(), 921);
    assert_eq!(ext[1].len(), 60);
    assert!(ext[0][..512].iter().all(|&b| b == b'X'));
    assert!(ext[0][512..520].iter().all(|&b| b == b'Y'));
    assert_eq!(ext[0][520], b'Z');
    assert!(ext[0][521..].iter().all(|&b| b == b'W'));
    assert!(ext[1].iter().all(|&b| b == b'x'));
}

#[test]
fn test_evbuffer_reserve_many() {
    // Statement 7: any count from 1 to max_regions; here never more than 2.
    let mut buf = EvBuffer::new();
    let r = buf.reserve(128, 2).unwrap();
    assert_eq!(r.region_count(), 1);
    let sz = r.region_len(0);
    drop(r);
    let r = buf.reserve(sz + 128, 2).unwrap();
    assert_eq!(
        r.region_count(),
        1,
        "an empty buffer has no tail: one new chunk"
    );
    assert!(r.len() >= sz + 128);
    drop(r);
    buf.add(b"X").unwrap();
    let spare = buf.tail_capacity();
    let r = buf.reserve(spare + 128, 3).unwrap();
    assert_eq!(r.region_count(), 2);
    assert!(r.len() >= spare + 128);
    drop(r);
    let r = buf.reserve(spare + 128, 1).unwrap();
    assert_eq!(r.region_count(), 1);
    assert!(r.region_len(0) >= spare + 128);
}

#[test]
fn test_evbuffer_reserve_with_empty() {
    // Statement 9: committing nothing adds nothing.
    let mut buf = EvBuffer::new();
    buf.add(b"abc").unwrap();
    let r = buf.reserve(100, 2).unwrap();
    r.commit_regions(&[]).unwrap();
    let r = buf.reserve(100, 2).unwrap();
    r.commit(0).unwrap();
    assert_eq!(buf, "abc");
    // Statement 10: a length past the reservation is refused.
    let r = buf.reserve(10, 1).unwrap();
    let n = r.len() + 1;
    assert!(matches!(r.commit(n), Err(Error::InvalidCommit { .. })));
    // Statement 11: zero regions is refused.
    assert!(matches!(
        buf.reserve(10, 0),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(buf, "abc");
}

#[test]
fn test_evbuffer_expand() {
    let mut buf = EvBuffer::new();
    buf.expand(20_000).unwrap();
    assert_eq!(buf.len(), 0);
    buf.add(&[b'X'; 20_000]).unwrap();
    assert_eq!(
        buf.chunk_count(),
        1,
        "expand made room for 20000 contiguous bytes"
    );
    // A no-op when there is room.
    let mut b2 = EvBuffer::new();
    b2.add(&[1; 1024]).unwrap();
    let cap = b2.tail_capacity();
    b2.expand(cap).unwrap();
    assert_eq!(b2.tail_capacity(), cap);
    // add, expand, pull-up (used to crash libevent).
    let data = [b'X'; 4096];
    let mut b3 = EvBuffer::new();
    for _ in 0..3 {
        b3.add(&data).unwrap();
    }
    b3.expand(1024).unwrap();
    assert_eq!(b3.pullup_all().unwrap().len(), 3 * 4096);
}

#[test]
fn test_evbuffer_add1() {
    let mut buf = EvBuffer::new();
    buf.add(b"1").unwrap();
    buf.expand(2048).unwrap();
    buf.add(b"2").unwrap();
    buf.add_fmt(format_args!("3")).unwrap();
    assert_eq!(buf.len(), 3);
    assert_eq!(buf.pullup_all().unwrap(), b"123");
}

#[test]
fn test_evbuffer_add2() {
    let data = vec![b'P'; 1000];
    let mut buf = EvBuffer::new();
    buf.add(&data).unwrap();
    buf.expand(100).unwrap();
    buf.add(b"2").unwrap();
    buf.add_fmt(format_args!("3")).unwrap();
    let s = buf.pullup_all().unwrap();
    assert_eq!(s.len(), 1002);
    assert_eq!(&s[999..], b"P23");
}

#[test]
fn test_evbuffer_reference() {
    let hits = Arc::new(AtomicUsize::new(0));
    let data: &'static [u8] = b"this is what we add as read-only memory.";
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    src.add_reference(Counted(data, hits.clone())).unwrap();
    let mut r = dst.reserve(data.len(), 1).unwrap();
    // Statement 20: prepending never writes into the referenced memory.
    assert_eq!(src.remove(&mut r.region_mut(0)[..10]).unwrap(), 10);
    src.prepend(b"aaaaa").unwrap();
    src.drain(5).unwrap();
    assert_eq!(
        src.remove(&mut r.region_mut(0)[10..data.len()]).unwrap(),
        data.len() - 10
    );
    r.commit(data.len()).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(dst.pullup(data.len()).unwrap(), data);
    assert_eq!(data, b"this is what we add as read-only memory.");
}

#[test]
fn test_evbuffer_reference2() {
    let mut buf = EvBuffer::new();
    buf.add(&[b'P'; 1000]).unwrap();
    buf.expand(100).unwrap();
    buf.add_reference(&b"2"[..]).unwrap();
    buf.add_fmt(format_args!("3")).unwrap();
    let s = buf.pullup_all().unwrap();
    assert_eq!(&s[s.len() - 3..], b"P23");
}

#[test]
fn test_evbuffer_add_reference() {
    // Statement 21: the cleanup runs once, when the last byte is drained or
    // the buffer is dropped; moving with append does not run it.
    let hits = Arc::new(AtomicUsize::new(0));
    let chunk1: &'static [u8] = b"If you have found the answer to such a problem";
    let chunk2: &'static [u8] = b"you ought to write it up for publication";
    let mut buf1 = EvBuffer::new();
    buf1.add_reference(Counted(chunk1, hits.clone())).unwrap();
    buf1.add(b", ").unwrap();
    buf1.add_reference(Counted(chunk2, hits.clone())).unwrap();
    assert_eq!(buf1.len(), chunk1.len() + chunk2.len() + 2);
    let mut tmp = [0u8; 16];
    assert_eq!(buf1.remove(&mut tmp[..6]).unwrap(), 6);
    assert_eq!(&tmp[..6], b"If you");
    assert_eq!(buf1.remove(&mut tmp[..5]).unwrap(), 5);
    assert_eq!(&tmp[..5], b" have");
    buf1.prepend(b"I have ").unwrap();
    assert_eq!(&chunk1[..6], b"If you");
    buf1.drain(7).unwrap();
    buf1.drain(chunk1.len() - 11 - 1).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(buf1.remove(&mut tmp[..1]).unwrap(), 1);
    assert_eq!(tmp[0], b'm');
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    buf1.drain(6).unwrap();
    let mut buf2 = EvBuffer::new();
    buf2.add(b"I ").unwrap();
    buf2.append(&mut buf1).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(buf2.remove(&mut tmp).unwrap(), 16);
    assert_eq!(&tmp, b"I ought to write");
    buf2.drain(buf2.len()).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    buf1.add(b"You shake and shake the ").unwrap();
    buf1.add_reference(Counted(b"ketchup bottle", hits.clone()))
        .unwrap();
    buf1.add(b". Nothing comes and then a lot'll.").unwrap();
    drop(buf1);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // A failed add (frozen back) never runs the cleanup.
    let mut frozen = EvBuffer::new();
    frozen.freeze(End::Back);
    let (e, owner) = frozen
        .try_add_reference(Counted(b"x", hits.clone()))
        .unwrap_err();
    assert!(matches!(e, Error::FrozenBack));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    drop(owner);
}

#[test]
fn test_evbuffer_empty_reference_prepend() {
    let mut buf = EvBuffer::new();
    buf.add_reference(&b""[..]).unwrap();
    assert_eq!(buf.chunk_count(), 0);
    buf.prepend(b"foo").unwrap();
    assert_eq!(buf, "foo");
    assert_eq!(buf.chunk_count(), 1);
    let mut buf2 = EvBuffer::new();
    buf2.add_reference(&b""[..]).unwrap();
    buf2.prepend_buffer(&mut buf).unwrap();
    assert_eq!(buf2, "foo");
    assert!(buf.is_empty());
}

#[cfg(unix)]
#[test]
fn test_evbuffer_add_file() {
    // Statement 37's segment, written to a socket (sendfile on Linux) and read back.
    let data = b"this is what we add as file system data.";
    let mut src = EvBuffer::new();
    src.add_file(temp_file(data), 0, data.len() as u64).unwrap();
    assert_eq!(src.len(), data.len());
    #[cfg_attr(target_os = "linux", allow(unused_mut))]
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut written = 0;
    while !src.is_empty() {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            written += src.write_to_fd(a.as_fd(), 4096).unwrap();
        }
        #[cfg(not(target_os = "linux"))]
        {
            written += src.write_to(&mut a, 4096).unwrap();
        }
    }
    assert_eq!(written, data.len());
    drop(a);
    assert_eq!(src.read_from(&mut b, data.len()).unwrap(), data.len());
    assert_eq!(src.pullup(data.len()).unwrap(), data);
    // Through the plain std path too.
    let mut src = EvBuffer::new();
    src.add_file(temp_file(data), 5, 10).unwrap();
    let mut out = Vec::new();
    while src.write_to(&mut out, 3).unwrap() > 0 {}
    assert_eq!(out, &data[5..15]);
}

#[test]
fn test_evbuffer_file_segment_add_cleanup_cb() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seg = FileSegment::new(temp_file(b"file segment data"), 0, None).unwrap();
    let h = hits.clone();
    seg.add_cleanup(move || {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let mut buf = EvBuffer::new();
    buf.add_file_segment(&seg, 5, 7).unwrap();
    assert!(matches!(
        buf.add_file_segment(&seg, 10, 8),
        Err(Error::FileRange {
            offset: 10,
            len: 8,
            segment_len: 17
        })
    ));
    drop(seg); // evbuffer_file_segment_free
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(buf, "segment");
    drop(buf); // the last reference
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn test_evbuffer_readln() {
    let mut evb = EvBuffer::new();
    // EOL_ANY (statement 23).
    evb.add(b"complex silly newline\r\n\n\r\n\n\rmore\0\n")
        .unwrap();
    evb.add(b"\0").unwrap();
    assert_eq!(line(&mut evb, Eol::Any).unwrap(), "complex silly newline");
    let l = evb.read_line(Eol::Any).unwrap().unwrap();
    assert_eq!(&l[..], b"more\0");
    assert_eq!(evb.len(), 1);
    evb.drain(1).unwrap();
    evb.add(b"\nno newline").unwrap();
    assert_eq!(line(&mut evb, Eol::Any).unwrap(), "");
    assert_eq!(line(&mut evb, Eol::Any), None);
    evb.drain(evb.len()).unwrap();

    // EOL_CRLF (statement 24).
    evb.add(b"Line with\rin the middle\nLine with good crlf\r\n\nfinal\n")
        .unwrap();
    assert_eq!(
        line(&mut evb, Eol::Crlf).unwrap(),
        "Line with\rin the middle"
    );
    assert_eq!(line(&mut evb, Eol::Crlf).unwrap(), "Line with good crlf");
    assert_eq!(line(&mut evb, Eol::Crlf).unwrap(), "");
    assert_eq!(line(&mut evb, Eol::Crlf).unwrap(), "final");
    evb.add(b"x").unwrap();
    assert_eq!(line(&mut evb, Eol::Crlf), None);

    // EOL_CRLF_STRICT (statement 25).
    evb.add(b" and a bad crlf\nand a good one\r\n\r\nMore\r")
        .unwrap();
    assert_eq!(
        line(&mut evb, Eol::CrlfStrict).unwrap(),
        "x and a bad crlf\nand a good one"
    );
    assert_eq!(line(&mut evb, Eol::CrlfStrict).unwrap(), "");
    assert_eq!(line(&mut evb, Eol::CrlfStrict), None);
    evb.add(b"\n").unwrap();
    assert_eq!(line(&mut evb, Eol::CrlfStrict).unwrap(), "More");
    assert!(evb.is_empty());
    evb.add(b"An internal CR\r is not an eol\r\nNor is a lack of one")
        .unwrap();
    assert_eq!(
        line(&mut evb, Eol::CrlfStrict).unwrap(),
        "An internal CR\r is not an eol"
    );
    assert_eq!(line(&mut evb, Eol::CrlfStrict), None);
    evb.add(b"\r\n").unwrap();
    assert_eq!(
        line(&mut evb, Eol::CrlfStrict).unwrap(),
        "Nor is a lack of one"
    );
    assert!(evb.is_empty());

    // EOL_LF (statement 26).
    evb.add(b"An\rand a nl\n\nText").unwrap();
    assert_eq!(line(&mut evb, Eol::Lf).unwrap(), "An\rand a nl");
    assert_eq!(line(&mut evb, Eol::Lf).unwrap(), "");
    assert_eq!(line(&mut evb, Eol::Lf), None);
    evb.add(b"\n").unwrap();
    assert_eq!(line(&mut evb, Eol::Lf).unwrap(), "Text");

    // CRLF_STRICT across chunk boundaries (CR and LF in different chunks).
    let mut evb = libevent_like();
    let mut tmp = libevent_like();
    for piece in [
        &b" and a bad crlf\nand a good one\r"[..],
        b"\n\r",
        b"\nMore\r",
    ] {
        tmp.add(piece).unwrap();
        evb.append(&mut tmp).unwrap();
    }
    assert_eq!(evb.chunk_count(), 3);
    assert_eq!(
        line(&mut evb, Eol::CrlfStrict).unwrap(),
        " and a bad crlf\nand a good one"
    );
    assert_eq!(line(&mut evb, Eol::CrlfStrict).unwrap(), "");
    assert_eq!(line(&mut evb, Eol::CrlfStrict), None);
    evb.add(b"\n").unwrap();
    assert_eq!(line(&mut evb, Eol::CrlfStrict).unwrap(), "More");
    assert!(evb.is_empty());

    // No line: nothing consumed (statement 27); the next call gets it.
    tmp.add(b"one line\ntwo line\nblue line").unwrap();
    evb.append(&mut tmp).unwrap();
    assert_eq!(line(&mut evb, Eol::Lf).unwrap(), "one line");
    assert_eq!(line(&mut evb, Eol::Lf).unwrap(), "two line");
    assert_eq!(line(&mut evb, Eol::Lf), None);
    assert_eq!(evb, "blue line");

    // EOL_NUL: a NUL-terminated line may contain LF.
    evb.add(b"\nmore\0rest").unwrap();
    assert_eq!(line(&mut evb, Eol::Nul).unwrap(), "blue line\nmore");
    assert_eq!(evb, "rest");
}

#[test]
fn test_evbuffer_search_eol() {
    // Statement 28.
    let buf = EvBuffer::from("string! \r\n\r\nx\n");
    let (p1, n) = buf.search_eol(None, Eol::Crlf).unwrap();
    assert_eq!((p1.position(), n), (8, 2));
    let (p2, n) = buf.search_eol(Some(&p1), Eol::Crlf).unwrap();
    assert_eq!((p2.position(), n), (8, 2));
    let mut p1 = p1;
    buf.ptr_advance(&mut p1, 1).unwrap();
    let (p2, n) = buf.search_eol(Some(&p1), Eol::Crlf).unwrap();
    assert_eq!((p2.position(), n), (9, 1));
    let (p2, n) = buf.search_eol(Some(&p1), Eol::CrlfStrict).unwrap();
    assert_eq!((p2.position(), n), (10, 2));
    let (p1, n) = buf.search_eol(None, Eol::Lf).unwrap();
    assert_eq!((p1.position(), n), (9, 1));
    let (p2, n) = buf.search_eol(Some(&p1), Eol::Lf).unwrap();
    assert_eq!((p2.position(), n), (9, 1));
    let mut p1 = p1;
    buf.ptr_advance(&mut p1, 1).unwrap();
    let (p2, n) = buf.search_eol(Some(&p1), Eol::Lf).unwrap();
    assert_eq!((p2.position(), n), (11, 1));
    // Started at the end: nothing.
    let end = buf.ptr_at(buf.len()).unwrap();
    assert!(buf.search_eol(Some(&end), Eol::Any).is_none());
}

#[test]
fn test_evbuffer_iterative() {
    // Statement 35: after ~100 000 small formatted adds, less than 1/8 of
    // the allocation is wasted. Only the tail chunk has unused capacity
    // (every other chunk was filled before the next one was started).
    let abc = "abcdefghijklmnopqrstvuwxyzabcdefghijklmnopqrstvuwxyzabcdefghijklmnopqrstvuwxyzabcdefghijklmnopqrstvuwxyz";
    let mut buf = EvBuffer::new();
    let mut sum = 0;
    for _ in 0..1000 {
        for j in 1..abc.len() {
            buf.add_fmt(format_args!("{:>j$.j$}", abc, j = j)).unwrap();
            sum += j;
        }
    }
    assert_eq!(buf.len(), sum);
    let allocated = buf.len() + buf.tail_capacity();
    assert!((buf.tail_capacity() as f64) / (allocated as f64) < 0.125);
    let ext: Vec<usize> = buf.peek(..).map(<[u8]>::len).collect();
    assert_eq!(ext.len(), buf.chunk_count());
    assert!(ext[..ext.len() - 1]
        .iter()
        .all(|&l| l >= ChunkPolicy::DEFAULT_MIN_CHUNK));
    assert!(buf.chunk_count() <= sum / ChunkPolicy::DEFAULT_MAX_CHUNK + 16);
}

#[test]
fn test_evbuffer_find() {
    // A search never matches past the end of the data.
    let mut buf = EvBuffer::new();
    buf.add(b"1234567890\r\n").unwrap();
    buf.drain(12).unwrap();
    buf.add(b"1234567890\r").unwrap();
    assert!(buf.search(b"\r\n", None).is_none());
    buf.drain(11).unwrap();
    let mut test3 = [b'a'; 256];
    test3[255] = b'x';
    buf.add(&test3).unwrap();
    assert!(buf.search(b"xy", None).is_none());
    assert_eq!(buf.search(b"ax", None).unwrap().position(), 254);
}

#[test]
fn test_evbuffer_ptr_set() {
    // Statement 30.
    let mut buf = EvBuffer::new();
    for (n, v) in [(5000, 1u8), (4000, 2), (3000, 3)] {
        let mut r = buf.reserve(n, 1).unwrap();
        r.region_mut(0)[..n].fill(v);
        r.commit(n).unwrap();
    }
    assert_eq!(buf.len(), 12_000);
    assert!(matches!(
        buf.ptr_at(13_000),
        Err(Error::BadPosition {
            pos: 13_000,
            len: 12_000
        })
    ));
    let mut pos = buf.ptr_at(0).unwrap();
    assert_eq!(pos.position(), 0);
    assert!(buf.ptr_advance(&mut pos, 13_000).is_err());
    let mut pos = buf.ptr_at(0).unwrap();
    buf.ptr_advance(&mut pos, 10_000).unwrap();
    assert_eq!(pos.position(), 10_000);
    buf.ptr_advance(&mut pos, 1000).unwrap();
    assert_eq!(pos.position(), 11_000);
    let mut out = [0u8; 1];
    buf.copy_out_from(&pos, &mut out).unwrap();
    assert_eq!(out[0], 3);
    buf.ptr_advance(&mut pos, 1000).unwrap();
    assert_eq!(pos.position(), 12_000, "one past the end is valid");
    assert!(buf.ptr_advance(&mut pos, 1).is_err());
    // SET 0 on an empty buffer succeeds.
    assert_eq!(EvBuffer::new().ptr_at(0).unwrap().position(), 0);
}

#[test]
fn test_evbuffer_search() {
    // Statement 29.
    let mut buf = libevent_like();
    let mut tmp = libevent_like();
    for s in ["hello", "foo", "cat", "attack"] {
        tmp.add(s.as_bytes()).unwrap();
        buf.append(&mut tmp).unwrap();
    }
    assert_eq!(buf.chunk_count(), 4);
    assert_eq!(buf.search(b"attack", None).unwrap().position(), 11);
    assert!(buf.search(b"attacker", None).is_none());
    let pos = buf.search(b"oc", None).unwrap();
    assert_eq!(pos.position(), 7);
    let pos = buf.search(b"cat", Some(&pos)).unwrap();
    assert_eq!(pos.position(), 8);
    assert!(buf.search(b"tacking", Some(&pos)).is_none());
    let mut pos = buf.ptr_at(5).unwrap();
    assert_eq!(buf.search(b"foo", Some(&pos)).unwrap().position(), 5);
    buf.ptr_advance(&mut pos, 2).unwrap();
    assert_eq!(buf.search(b"tat", Some(&pos)).unwrap().position(), 10);
    let end = buf.ptr_at(12).unwrap();
    assert_eq!(
        buf.search_range(b"foo", None, Some(&end))
            .unwrap()
            .position(),
        5
    );
    assert_eq!(
        buf.search_range(b"foocata", None, Some(&end))
            .unwrap()
            .position(),
        5
    );
    assert!(buf.search_range(b"foocatat", None, Some(&end)).is_none());
    assert!(buf.search_range(b"ack", None, Some(&end)).is_none());
}

/// A callback that logs "old->new; " like libevent's `log_change_callback`.
fn logger(buf: &mut EvBuffer) -> (evbuffer::CallbackId, Arc<Mutex<String>>) {
    let log = Arc::new(Mutex::new(String::new()));
    let l = log.clone();
    let id = buf.add_cb(move |i: &CbInfo| {
        let new = i.orig_size + i.n_added - i.n_deleted;
        l.lock()
            .unwrap()
            .push_str(&format!("{}->{}; ", i.orig_size, new));
    });
    (id, log)
}

#[test]
fn test_evbuffer_callbacks() {
    // Statements 31 and 33.
    let mut buf = EvBuffer::new();
    let (cb1, out1) = logger(&mut buf);
    let (cb2, out2) = logger(&mut buf);
    buf.add_fmt(format_args!("The {} magic words are spotty pudding", 2))
        .unwrap();
    buf.set_cb_enabled(cb2, false).unwrap();
    buf.drain(10).unwrap();
    buf.prepend(b"Hello").unwrap();
    buf.set_cb_enabled(cb2, true).unwrap();
    buf.add_reference(&b"Goodbye"[..]).unwrap();
    buf.remove_cb(cb1).unwrap();
    buf.drain(buf.len()).unwrap();
    assert!(matches!(buf.remove_cb(cb1), Err(Error::UnknownCallback)));
    buf.add(b"X").unwrap();
    buf.remove_cb(cb2).unwrap();
    assert_eq!(*out1.lock().unwrap(), "0->36; 36->26; 26->31; 31->38; ");
    assert_eq!(*out2.lock().unwrap(), "0->36; 31->38; 38->0; 0->1; ");

    // evbuffer_setcb: drop every callback, install a self-draining one.
    let (_c1, out1) = logger(&mut buf);
    buf.clear_cbs();
    buf.drain(buf.len()).unwrap();
    buf.add_cb_with_buffer(|b, info| {
        if info.n_added > info.n_deleted {
            let _ = b.drain(b.len());
        }
    });
    buf.add_fmt(format_args!("This should get drained right away."))
        .unwrap();
    assert_eq!(buf.len(), 0);
    assert_eq!(*out1.lock().unwrap(), "");
    buf.clear_cbs();
    buf.add_fmt(format_args!("This will not.")).unwrap();
    assert_eq!(buf.pullup_all().unwrap(), b"This will not.");
}

#[test]
fn test_evbuffer_defer_callbacks() {
    // Statement 32: several changes, one invocation with summed counts.
    let mut buf = EvBuffer::new();
    buf.add(b"0123456789").unwrap();
    let (_id, log) = logger(&mut buf);
    buf.set_deferred_callbacks(true);
    buf.add(b"abc").unwrap();
    buf.drain(5).unwrap();
    buf.add(b"defg").unwrap();
    assert_eq!(*log.lock().unwrap(), "");
    assert!(buf.run_deferred_callbacks());
    assert_eq!(*log.lock().unwrap(), "10->12; ");
    assert!(!buf.run_deferred_callbacks());
}

#[test]
fn test_evbuffer_prepend() {
    // Statement 19.
    let mut buf1 = EvBuffer::new();
    buf1.prepend(b"This string has 29 characters").unwrap();
    buf1.prepend(b"Short.").unwrap();
    buf1.drain(6 + 11).unwrap();
    buf1.prepend(b"it").unwrap();
    assert_eq!(&buf1.pullup(6).unwrap()[..6], b"it has");
    buf1.prepend(b"It is no longer true to say ").unwrap();
    let mut tmp = [0u8; 127];
    let n = buf1.remove(&mut tmp).unwrap();
    assert_eq!(
        &tmp[..n],
        b"It is no longer true to say it has 29 characters"
    );

    let mut buf2 = EvBuffer::new();
    buf1.add_fmt(format_args!("Here is string {}. ", 999))
        .unwrap();
    buf2.prepend_buffer(&mut buf1).unwrap();
    buf1.add_fmt(format_args!("Here is string {}. ", 1000))
        .unwrap();
    buf2.prepend_buffer(&mut buf1).unwrap();
    assert!(buf1.is_empty());
    let n = buf2.remove(&mut tmp).unwrap();
    assert_eq!(&tmp[..n], b"Here is string 1000. Here is string 999. ");
}

/// The very fragmented buffer of libevent's peek test: 16 chunks of
/// "Contents of chunk [i]\n".
fn fragmented() -> EvBuffer {
    let mut buf = libevent_like();
    let mut tmp = libevent_like();
    for i in 0..16 {
        tmp.add_fmt(format_args!("Contents of chunk [{i}]\n"))
            .unwrap();
        buf.append(&mut tmp).unwrap();
    }
    buf
}

#[test]
fn test_evbuffer_peek() {
    let buf = fragmented();
    // Statement 1.
    assert_eq!(buf.extent_count(..), 16);
    let ext: Vec<&[u8]> = buf.peek(..).collect();
    assert_eq!(ext.len(), 16);
    assert_eq!(ext[0], b"Contents of chunk [0]\n");
    assert_eq!(ext[3], b"Contents of chunk [3]\n");
    assert_eq!(ext[12], b"Contents of chunk [12]\n");
    assert_eq!(ext[15], b"Contents of chunk [15]\n");
    // Just one extent's worth.
    let mut v = [std::io::IoSlice::new(&[]); 20];
    assert_eq!(buf.peek_io_slices(..22, &mut v[..1]), 1);
    assert_eq!(&*v[0], b"Contents of chunk [0]\n");
    // Statement 2: 40 bytes need 2 extents, 100 bytes need 5.
    assert_eq!(buf.extent_count(..40), 2);
    assert_eq!(buf.extent_count(..100), 5);
    // Statement 3: too few slots: the count needed is still returned.
    let mut one = [std::io::IoSlice::new(&[]); 1];
    assert_eq!(buf.peek_io_slices(..60, &mut one), 3);
    assert_eq!(&*one[0], b"Contents of chunk [0]\n");
    // More than the buffer has: everything, 16 extents.
    assert_eq!(buf.peek_io_slices(..65_536, &mut v), 16);
    // An empty buffer: 0.
    let empty = EvBuffer::new();
    assert_eq!(empty.peek_io_slices(.., &mut v), 0);
    assert_eq!(empty.extent_count(..50), 0);
    // Statements 4 and 5: from offset 30, 50 bytes. libevent returns 3 whole
    // extents (the last past the range); here the extents cover exactly the
    // range: the same 3 extents, the last one cut.
    let ext: Vec<&[u8]> = buf.peek(30..80).collect();
    assert_eq!(ext.len(), 3);
    assert_eq!(ext[0], b" of chunk [1]\n");
    assert_eq!(ext[1], b"Contents of chunk [2]\n");
    assert_eq!(ext[2], b"Contents of chunk [3]\n"[..14].as_ref());
    assert_eq!(ext.iter().map(|e| e.len()).sum::<usize>(), 50);
    // Advanced to the start of another chunk.
    let mut p = buf.ptr_at(30).unwrap();
    buf.ptr_advance(&mut p, 14).unwrap();
    let ext: Vec<&[u8]> = buf.peek(p.position()..p.position() + 44).collect();
    assert_eq!(
        ext,
        [&b"Contents of chunk [2]\n"[..], b"Contents of chunk [3]\n"]
    );
}

#[test]
fn test_evbuffer_peek_first_gt() {
    // Statement 5: a start inside a chunk gives a first extent starting
    // exactly there; a start at the end gives nothing.
    let mut buf = libevent_like();
    let mut tmp = libevent_like();
    tmp.add(b"Contents of chunk [0]\n").unwrap();
    buf.append(&mut tmp).unwrap();
    tmp.add(b"Contents of chunk [1]\n").unwrap();
    buf.append(&mut tmp).unwrap();
    let mut p = buf.ptr_at(0).unwrap();
    buf.ptr_advance(&mut p, 5).unwrap();
    let first = buf.peek(p.position()..).next().unwrap();
    assert_eq!(first, b"nts of chunk [0]\n");
    let end = buf.len();
    assert_eq!(buf.peek(end..).count(), 0);
    assert_eq!(buf.extent_count(end..), 0);
    assert_eq!(buf.extent_count(end + 100..), 0);
}

fn freeze_case(start: bool) {
    let string: &[u8] = b"I've known the wind by water banks to shake\n\
The late leaves down, which frozen where they fell\n\
And held in ice as dancers in a spell\n\
Fluttered all winter long into a lake...";
    let mut buf = EvBuffer::new();
    let mut other = EvBuffer::new();
    other.add(b"other").unwrap();
    buf.add(string).unwrap();
    buf.freeze(if start { End::Front } else { End::Back });
    let orig = buf.len();

    // Statement 12: the back.
    let back_ok = start;
    assert_eq!(buf.add(b"").is_ok(), back_ok);
    assert_eq!(buf.reserve(10, 1).is_ok(), back_ok);
    assert_eq!(buf.add_reference(&string[..5]).is_ok(), back_ok);
    assert_eq!(
        buf.add_fmt(format_args!("Hello {}", "world")).is_ok(),
        back_ok
    );
    assert_eq!(buf.add_bytes(Bytes::from_static(b"b")).is_ok(), back_ok);
    assert_eq!(buf.append(&mut other).is_ok(), back_ok);
    assert_eq!(buf.add_file(temp_file(b"f"), 0, 1).is_ok(), back_ok);
    let mut src: &[u8] = b"read";
    assert_eq!(buf.read_from(&mut src, 4).is_ok(), back_ok);
    if !start {
        assert_eq!(buf.len(), orig, "a frozen back changes nothing");
        assert_eq!(other, "other");
    }

    // Statement 13: the front.
    let orig = buf.len();
    let front_ok = !start;
    let mut c = [0u8; 1];
    assert_eq!(buf.remove(&mut c).is_ok(), front_ok);
    assert_eq!(buf.drain(3).is_ok(), front_ok);
    assert_eq!(buf.prepend(b"dummy").is_ok(), front_ok);
    assert_eq!(buf.read_line(Eol::Lf).is_ok(), front_ok);
    assert_eq!(buf.copy_out(&mut c).is_ok(), front_ok);
    let mut sink = EvBuffer::new();
    assert_eq!(buf.remove_into(&mut sink, 1).is_ok(), front_ok);
    let mut pre = EvBuffer::from("p");
    assert_eq!(buf.prepend_buffer(&mut pre).is_ok(), front_ok);
    let mut w = Vec::new();
    assert_eq!(buf.write_to(&mut w, 10).is_ok(), front_ok);
    assert_eq!(buf.split_to(1).is_ok(), front_ok);
    if start {
        assert_eq!(buf.len(), orig, "a frozen front changes nothing");
        // Moving out of a buffer whose front is frozen fails too.
        let mut dst = EvBuffer::new();
        assert!(matches!(dst.append(&mut buf), Err(Error::FrozenFront)));
        assert_eq!(buf.len(), orig);
    }
}

#[test]
fn test_evbuffer_freeze_start() {
    freeze_case(true);
}

#[test]
fn test_evbuffer_freeze_end() {
    freeze_case(false);
}

#[test]
fn test_evbuffer_copyout() {
    // Statement 15.
    let mut buf = libevent_like();
    let mut tmp = libevent_like();
    let data: Vec<u8> = (0..206u32).map(|i| b'a' + (i % 26) as u8).collect();
    for piece in data.chunks(31) {
        tmp.add(piece).unwrap();
        buf.append(&mut tmp).unwrap();
    }
    assert_eq!(buf.len(), 206);
    let mut out = [0u8; 999];
    assert_eq!(buf.copy_out(&mut out[..50]).unwrap(), 50);
    assert_eq!(&out[..50], &data[..50]);
    assert_eq!(buf.copy_out(&mut out).unwrap(), 206);
    assert_eq!(buf.len(), 206, "copy_out drains nothing");
    let p = buf.ptr_at(15).unwrap();
    assert_eq!(buf.copy_out_from(&p, &mut out).unwrap(), 191);
    assert_eq!(&out[..191], &data[15..]);
    assert_eq!(buf.remove(&mut out[..100]).unwrap(), 100);
    assert_eq!(&out[..100], &data[..100]);
    assert_eq!(buf.len(), 106);
    assert_eq!(buf.remove(&mut out).unwrap(), 106);
    assert_eq!(buf.remove(&mut out).unwrap(), 0);
}

#[test]
fn test_evbuffer_pullup_with_empty() {
    // Statement 16.
    let mut buf = EvBuffer::new();
    assert_eq!(buf.pullup_all().unwrap(), b"");
    assert_eq!(buf.pullup(0).unwrap(), b"");
    assert!(matches!(
        buf.pullup(1),
        Err(Error::OutOfRange {
            op: "pullup",
            requested: 1,
            len: 0
        })
    ));
    buf.add_reference(&b""[..]).unwrap();
    buf.add(b"hello").unwrap();
    assert_eq!(buf.pullup_all().unwrap(), b"hello");
    assert!(buf.pullup(6).is_err());
}

#[test]
fn test_evbuffer_add_iovec() {
    // Statement 34.
    let mut buf = EvBuffer::new();
    let parts: [&[u8]; 4] = [
        b"Guilt resembles a sword with two edges.",
        b"",
        b"Draw it out",
        b" and you cut yourself.",
    ];
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert_eq!(buf.add_slices(&parts).unwrap(), total);
    assert_eq!(buf.pullup_all().unwrap(), parts.concat());
    // io::Write::write_vectored does the same.
    let mut b2 = EvBuffer::new();
    let io: Vec<std::io::IoSlice<'_>> = parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
    assert_eq!(b2.write_vectored(&io).unwrap(), total);
    assert_eq!(b2, buf);
}

#[test]
fn test_evbuffer_multicast() {
    // Statement 22.
    let mut src = EvBuffer::new();
    src.add_bytes(Bytes::from_static(b"shared chunk; "))
        .unwrap();
    src.add(b"tail chunk").unwrap();
    let mut d1 = EvBuffer::new();
    let mut d2 = EvBuffer::new();
    d1.add_buffer_reference(&src).unwrap();
    d2.add_buffer_reference(&src).unwrap();
    assert_eq!(d1, src);
    assert_eq!(d2, src);
    // The immutable chunk is the same memory in all three.
    let p = src.peek(..).next().unwrap().as_ptr();
    assert_eq!(d1.peek(..).next().unwrap().as_ptr(), p);
    assert_eq!(d2.peek(..).next().unwrap().as_ptr(), p);
    // Statement 20: a prepend allocates instead of touching shared memory.
    d1.prepend(b">").unwrap();
    assert_eq!(d1, ">shared chunk; tail chunk");
    assert_eq!(d2, "shared chunk; tail chunk");
    drop(src);
    assert_eq!(d2.to_vec(), b"shared chunk; tail chunk");
}

#[test]
fn test_evbuffer_multicast_drain() {
    let mut src = EvBuffer::new();
    src.add_bytes(Bytes::from_static(b"0123456789")).unwrap();
    let mut dst = EvBuffer::new();
    dst.add_buffer_reference(&src).unwrap();
    dst.drain(4).unwrap();
    assert_eq!(src, "0123456789");
    src.drain(8).unwrap();
    assert_eq!(dst, "456789");
    assert_eq!(src, "89");
}

#[test]
fn test_evbuffer_read_caps() {
    // Statement 36: libevent reads at most 4096 bytes per call; here the
    // caller's bound applies, and 0 is end of stream.
    let data = vec![7u8; 100_000];
    let mut src: &[u8] = &data;
    let mut buf = EvBuffer::new();
    assert_eq!(buf.read_from(&mut src, 50_000).unwrap(), 50_000);
    assert_eq!(buf.read_from(&mut src, 1 << 20).unwrap(), 50_000);
    assert_eq!(buf.read_from(&mut src, 1 << 20).unwrap(), 0);
    let mut sink = Vec::new();
    assert_eq!(buf.write_to(&mut sink, 60_000).unwrap(), 60_000);
    let mut rest = Vec::new();
    buf.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len(), 40_000);
}

#[test]
fn test_evbuffer_drain_past_end() {
    // Statement 14.
    let mut buf = EvBuffer::from("abc");
    buf.drain(10).unwrap();
    assert!(buf.is_empty());
    // Statement 17: appending a buffer moves everything, order kept.
    let mut a = EvBuffer::from("head-");
    let mut b = EvBuffer::from("tail");
    a.append(&mut b).unwrap();
    assert_eq!(a, "head-tail");
    assert!(b.is_empty());
}
