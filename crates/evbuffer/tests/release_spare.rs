//! `EvBuffer::release_spare` leaves an empty buffer holding no heap memory:
//! whatever the buffer was used for (copies, moves, reservations left
//! uncommitted, `expand`, `BufMut` writes, appenders, lines), once it is
//! drained and `release_spare` is called, every byte it allocated has been
//! freed. A connection that goes idle relies on this.
//!
//! Measured with a counting global allocator: the bytes allocated minus the
//! bytes freed by this thread (each test runs on its own thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BufMut;
use evbuffer::{Bytes, ChunkPolicy, Eol, EvBuffer};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting only reads the layout's size.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Runs `use_it` on a fresh buffer, drains it, releases the spares, and
/// checks that the buffer, still alive, holds no heap memory.
fn holds_nothing_after_release(policy: ChunkPolicy, use_it: impl FnOnce(&mut EvBuffer)) {
    let before = live();
    let mut buf = EvBuffer::with_chunk_policy(policy);
    assert_eq!(live(), before, "a new buffer allocates nothing");
    use_it(&mut buf);
    buf.clear();
    assert!(buf.is_empty());
    buf.release_spare();
    assert_eq!(
        live() - before,
        0,
        "bytes still held by an empty buffer after release_spare"
    );
    drop(buf);
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn after_copies_and_removes() {
    holds_nothing_after_release(ChunkPolicy::new(), |b| {
        let mut out = [0u8; 4096];
        for _ in 0..3 {
            for piece in data(200_000).chunks(64) {
                b.add(piece).unwrap();
            }
            while b.remove(&mut out).unwrap() > 0 {}
        }
        b.add(&data(10_000)).unwrap();
    });
}

#[test]
fn after_reservations_expand_and_bufmut() {
    holds_nothing_after_release(ChunkPolicy::new(), |b| {
        // An uncommitted reservation keeps its new chunk as a spare.
        drop(b.reserve(50_000, 1).unwrap());
        let mut r = b.reserve(3000, 2).unwrap();
        r.put_slice(&data(3000));
        r.commit_written().unwrap();
        // `expand` keeps an allocation for the next add.
        b.expand(40_000).unwrap();
        // `BufMut::chunk_mut` sets an allocation aside when the tail is full.
        b.drain(b.len()).unwrap();
        let _ = BufMut::chunk_mut(b);
        b.put_slice(b"written");
    });
}

#[test]
fn after_moves_lines_and_appenders() {
    holds_nothing_after_release(ChunkPolicy::new(), |b| {
        let mut other = EvBuffer::new();
        for round in 0..3 {
            other.add(&data(100_000 + round)).unwrap();
            b.append(&mut other).unwrap(); // exchanges spares too
            b.drain(b.len()).unwrap();
        }
        other.release_spare();
        drop(other);
        {
            let mut w = b.appender().unwrap();
            for _ in 0..2000 {
                w.add(b"line of text\r\n").unwrap();
            }
        }
        let mut n = 0;
        b.drain_lines(Eol::Crlf, |_| n += 1).unwrap();
        assert_eq!(n, 2000);
        b.add_bytes(Bytes::from(data(5000))).unwrap();
        let _ = b.split_to(1000).unwrap();
        let _ = b.pullup(3000).unwrap();
    });
}

#[test]
fn without_keeping_spares_too() {
    holds_nothing_after_release(ChunkPolicy::new().with_keep_spare(false), |b| {
        drop(b.reserve(10_000, 1).unwrap());
        b.add(&data(70_000)).unwrap();
    });
}
