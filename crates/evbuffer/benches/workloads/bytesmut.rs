//! The workloads on one contiguous [`bytes::BytesMut`] per buffer, written as
//! a Rust program would write them without this crate: copies with
//! `extend_from_slice`, moves and removals with `split`/`split_to` (by
//! reference), searches with `memchr`, lines found with `memchr` and read as
//! slices of the contiguous bytes. Same data and checksums as the other sides.
//!
//! B4 (peek at the extents of a chained buffer) has no contiguous
//! counterpart and is left out.

use super::{b6_data, sum_bytes, Id, LineStream, Stream, Workload};
use bytes::{Buf, BufMut, BytesMut};
use memchr::{memchr, memmem};
use std::hint::black_box;

/// Sets `id` up on `BytesMut` (not timed); `None` for B4.
pub(crate) fn setup(id: Id) -> Option<Box<dyn Workload>> {
    Some(match id {
        Id::B1 => Box::new(B1(Two::new())),
        Id::B2 => Box::new(B2(Two::new())),
        Id::B3 => Box::new(B3(Two::new())),
        Id::B4 => return None,
        Id::B5 => Box::new(B5 {
            buf: BytesMut::new(),
            s: LineStream::new(),
        }),
        Id::B6 => Box::new(B6::new()),
        Id::B7 => Box::new(B7(Two::new())),
        Id::B8 => Box::new(B8(Two::new())),
    })
}

/// Two buffers and a stream.
struct Two {
    a: BytesMut,
    b: BytesMut,
    s: Stream,
}

impl Two {
    fn new() -> Two {
        Two {
            a: BytesMut::new(),
            b: BytesMut::new(),
            s: Stream::new(),
        }
    }
}

/// B1: append 1,024 x 64 B, then copy out 4,096 B at a time.
struct B1(Two);

impl Workload for B1 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut out = [0u8; 4096];
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..1024 {
                a.extend_from_slice(s.next(64));
            }
            while !a.is_empty() {
                let n = a.len().min(out.len());
                a.copy_to_slice(&mut out[..n]);
                sum = sum.wrapping_add(sum_bytes(&out[..n]));
            }
        }
        sum
    }
}

/// B2: A gets 256 x 4,096 B, is moved into B by reference
/// (`split` + `unsplit`), B is cleared.
struct B2(Two);

impl Workload for B2 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, b, s } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                a.extend_from_slice(s.next(4096));
            }
            b.unsplit(a.split());
            sum += b.len() as u64;
            b.clear();
        }
        sum
    }
}

/// B3: 256 times reserve 4,096 B and write the pattern straight into the
/// spare capacity (`BufMut::put_slice`); sum every byte; clear.
struct B3(Two);

impl Workload for B3 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a: buf, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                buf.reserve(4096);
                buf.put_slice(s.next(4096));
            }
            sum = sum.wrapping_add(sum_bytes(buf));
            buf.clear();
        }
        sum
    }
}

/// B5: append the round's pieces, then find each LF with `memchr`, take the
/// line as a slice (without an optional CR before the LF) and advance past
/// all of them once.
struct B5 {
    buf: BytesMut,
    s: LineStream,
}

impl Workload for B5 {
    fn run(&mut self, rounds: u64) -> u64 {
        let (mut lines, mut sum) = (0u64, 0u64);
        for _ in 0..rounds {
            let buf = &mut self.buf;
            self.s.round(|piece| buf.extend_from_slice(piece));
            let mut used = 0;
            while let Some(i) = memchr(b'\n', &buf[used..]) {
                let line = &buf[used..used + i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                lines += 1;
                sum = sum.wrapping_add(sum_bytes(line));
                used += i + 1;
            }
            buf.advance(used);
        }
        lines.wrapping_mul(1_000_000_000_000).wrapping_add(sum)
    }
}

/// B6: `memchr::memmem::find` over the contiguous megabyte.
struct B6 {
    buf: BytesMut,
    needle: [u8; 16],
}

impl B6 {
    fn new() -> B6 {
        let (data, needle) = b6_data();
        let mut buf = BytesMut::new();
        for piece in data.chunks(4096) {
            buf.extend_from_slice(piece);
        }
        B6 { buf, needle }
    }
}

impl Workload for B6 {
    fn run(&mut self, rounds: u64) -> u64 {
        let mut sum = 0u64;
        for _ in 0..rounds {
            let p = memmem::find(black_box(&self.buf[..]), &self.needle).expect("needle found");
            sum += p as u64;
        }
        sum
    }
}

/// B7: append 64 x 64 B; the first 4,096 bytes are already contiguous; read
/// the first byte, advance 4,096.
struct B7(Two);

impl Workload for B7 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..64 {
                a.extend_from_slice(s.next(64));
            }
            sum += u64::from(a[..4096][0]);
            a.advance(4096);
        }
        sum
    }
}

/// B8: A gets 256 x 4,096 B, then 1,000 B at a time are split off by
/// reference (`split_to`, no copy) and dropped until A is empty.
struct B8(Two);

impl Workload for B8 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                a.extend_from_slice(s.next(4096));
            }
            while !a.is_empty() {
                let piece = a.split_to(a.len().min(1000));
                sum += piece.len() as u64;
                drop(piece);
            }
        }
        sum
    }
}
