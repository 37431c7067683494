//! The workloads on [`evbuffer::EvBuffer`]: the same operations as
//! libevent's C shim (the workspace root's `benches/c/`) runs on libevent's
//! evbuffer, written with the calls a Rust user of this crate would use.
//! Where the crate has a call that saves bookkeeping the libevent-shaped one
//! must do per operation, the workload uses it and says so: an `Appender`
//! for runs of small adds (B1, B7) and for reserving and writing in place
//! (B3), `drain_lines` for reading every line (B5), `split_to` for taking
//! bytes out by reference (B8).

use super::{b6_data, sum_bytes, Id, LineStream, Stream, Workload};
use bytes::BufMut;
use evbuffer::{Eol, EvBuffer};
use std::hint::black_box;

/// Sets `id` up on `EvBuffer` (not timed).
pub(crate) fn setup(id: Id) -> Box<dyn Workload> {
    match id {
        Id::B1 => Box::new(B1(Two::new())),
        Id::B2 => Box::new(B2(Two::new())),
        Id::B3 => Box::new(B3(Two::new())),
        Id::B4 => Box::new(B4::new()),
        Id::B5 => Box::new(B5::new()),
        Id::B6 => Box::new(B6::new()),
        Id::B7 => Box::new(B7(Two::new())),
        Id::B8 => Box::new(B8(Two::new())),
    }
}

/// Two buffers and a stream: the state of most workloads.
struct Two {
    a: EvBuffer,
    b: EvBuffer,
    s: Stream,
}

impl Two {
    fn new() -> Two {
        Two {
            a: EvBuffer::new(),
            b: EvBuffer::new(),
            s: Stream::new(),
        }
    }
}

/// B1 small-add-drain: add 1,024 x 64 B (through an `Appender`), remove
/// 4,096 B at a time.
struct B1(Two);

impl Workload for B1 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut out = [0u8; 4096];
        let mut sum = 0u64;
        for _ in 0..rounds {
            // 1,024 `add`s, with the per-add bookkeeping (frozen check,
            // length, callbacks) done once for all of them.
            {
                // Dropped in place at the end of the block (the adds become
                // part of the buffer then).
                let mut w = a.appender().expect("appender");
                for _ in 0..1024 {
                    w.add(s.next(64)).expect("add");
                }
            }
            loop {
                let n = a.remove(&mut out).expect("remove");
                if n == 0 {
                    break;
                }
                sum = sum.wrapping_add(sum_bytes(&out[..n]));
            }
        }
        sum
    }
}

/// B2 move-chains: A gets 256 x 4,096 B, is moved into B, B is drained.
struct B2(Two);

impl Workload for B2 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, b, s } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                a.add(s.next(4096)).expect("add");
            }
            b.append(a).expect("append");
            let len = b.len();
            sum += len as u64;
            b.drain(len).expect("drain");
        }
        sum
    }
}

/// B3 reserve-commit: 256 reservations of 4,096 B in the tail chunk filled
/// with the stream in place, one peek summing every byte, drain.
struct B3(Two);

impl Workload for B3 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a: buf, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            // Reserve 4,096 bytes in the tail chunk and write them in place
            // (`BufMut::put_slice`), as the `BytesMut` side does; what is
            // written is added, nothing to commit. (`EvBuffer::reserve` with
            // two regions and `commit_written` is the libevent-shaped way.)
            {
                // Dropped in place at the end of the block (the adds become
                // part of the buffer then).
                let mut w = buf.appender().expect("appender");
                for _ in 0..256 {
                    w.reserve(4096).expect("reserve");
                    w.put_slice(s.next(4096));
                }
            }
            for e in buf.peek(..) {
                sum = sum.wrapping_add(sum_bytes(e));
            }
            buf.drain(buf.len()).expect("drain");
        }
        sum
    }
}

/// B4 peek: 1,024 x 1,000 B added once; each round walks every extent of
/// the whole buffer (the slices `evbuffer_peek(buf, -1, NULL, vecs, n)`
/// hands out) and sums their lengths.
struct B4 {
    buf: EvBuffer,
}

impl B4 {
    fn new() -> B4 {
        let mut s = Stream::new();
        let mut buf = EvBuffer::new();
        for _ in 0..1024 {
            buf.add(s.next(1000)).expect("add");
        }
        // Taken once, as the definition says (the iterator needs no array).
        let _extents = buf.extent_count(..);
        B4 { buf }
    }
}

impl Workload for B4 {
    fn run(&mut self, rounds: u64) -> u64 {
        let mut sum = 0u64;
        for _ in 0..rounds {
            // black_box: the buffer does not change between rounds, and the
            // work must not be hoisted out of the loop.
            for e in black_box(&self.buf).peek(..) {
                sum += e.len() as u64;
            }
        }
        sum
    }
}

/// B5 readln-crlf: 4,194,300 B of 30-byte lines added in 4,096-byte pieces,
/// then every line read with CRLF end-of-line handling (`drain_lines`: the
/// lines as borrowed slices, one drain at the end).
struct B5 {
    buf: EvBuffer,
    s: LineStream,
}

impl B5 {
    fn new() -> B5 {
        B5 {
            buf: EvBuffer::new(),
            s: LineStream::new(),
        }
    }
}

impl Workload for B5 {
    fn run(&mut self, rounds: u64) -> u64 {
        let (mut lines, mut sum) = (0u64, 0u64);
        for _ in 0..rounds {
            let buf = &mut self.buf;
            self.s.round(|piece| buf.add(piece).expect("add"));
            // Every complete line in one pass, each as a borrowed slice.
            lines += buf
                .drain_lines(Eol::Crlf, |line| sum = sum.wrapping_add(sum_bytes(line)))
                .expect("drain_lines") as u64;
        }
        lines.wrapping_mul(1_000_000_000_000).wrapping_add(sum)
    }
}

/// B6 search: 1 MiB (last byte 0xFF) added in 4,096-byte pieces; each round
/// searches for its last 16 bytes from the start.
struct B6 {
    buf: EvBuffer,
    needle: [u8; 16],
}

impl B6 {
    fn new() -> B6 {
        let (data, needle) = b6_data();
        let mut buf = EvBuffer::new();
        for piece in data.chunks(4096) {
            buf.add(piece).expect("add");
        }
        B6 { buf, needle }
    }
}

impl Workload for B6 {
    fn run(&mut self, rounds: u64) -> u64 {
        let mut sum = 0u64;
        for _ in 0..rounds {
            let p = black_box(&self.buf)
                .search(&self.needle, None)
                .expect("needle found");
            sum += p.position() as u64;
        }
        sum
    }
}

/// B7 pullup: add 64 x 64 B (through an `Appender`), pull up 4,096 B, add
/// the first byte, drain.
struct B7(Two);

impl Workload for B7 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            {
                // Dropped in place at the end of the block (the adds become
                // part of the buffer then).
                let mut w = a.appender().expect("appender");
                for _ in 0..64 {
                    w.add(s.next(64)).expect("add");
                }
            }
            // The 4,096 bytes lie in one chunk: the pullup copies nothing.
            sum += u64::from(a.pullup(4096).expect("pullup")[0]);
            a.drain(4096).expect("drain");
        }
        sum
    }
}

/// B8 remove-buffer: A gets 256 x 4,096 B, then 1,000 B at a time leave it
/// by reference and are dropped, until A is empty.
struct B8(Two);

impl Workload for B8 {
    fn run(&mut self, rounds: u64) -> u64 {
        let Two { a, s, .. } = &mut self.0;
        let mut sum = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                a.add(s.next(4096)).expect("add");
            }
            // The moved bytes as one `Bytes` by reference (`split_to`; a copy
            // only when they straddle two chunks), dropped at once: the same
            // as moving them into an empty buffer and draining it, without
            // the second queue.
            while !a.is_empty() {
                let piece = a.split_to(a.len().min(1000)).expect("split_to");
                sum += piece.len() as u64;
                drop(piece);
            }
        }
        sum
    }
}
