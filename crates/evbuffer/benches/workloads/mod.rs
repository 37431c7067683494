//! The buffer workloads B1-B8 of `docs/workloads.md`, on this crate's
//! [`evbuffer::EvBuffer`] ([`evbuf`]) and on the plain contiguous
//! [`bytes::BytesMut`] a Rust program would use instead ([`bytesmut`]).
//!
//! Shared by this crate's criterion bench (`cargo bench -p evbuffer`) and
//! through `#[path]` by the workspace root's bench, example and test, which
//! add libevent's own evbuffer as a third side. Every workload is a state
//! (built by an untimed setup) plus a `run(rounds)` that is the timed part and
//! returns its checksum; the data stream (byte i is `i % 251`) goes on across
//! calls, as the definitions say.
#![allow(dead_code)] // each includer uses a different part

pub(crate) mod bytesmut;
pub(crate) mod evbuf;
pub(crate) mod expected;

use std::fmt;

/// One of the buffer workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Id {
    /// small-add-drain
    B1,
    /// move-chains
    B2,
    /// reserve-commit
    B3,
    /// peek
    B4,
    /// readln-crlf
    B5,
    /// search
    B6,
    /// pullup
    B7,
    /// remove-buffer
    B8,
}

impl Id {
    /// Every workload, in order.
    pub(crate) const ALL: [Id; 8] = [
        Id::B1,
        Id::B2,
        Id::B3,
        Id::B4,
        Id::B5,
        Id::B6,
        Id::B7,
        Id::B8,
    ];

    /// The round count `docs/workloads.md` gives (one full run).
    pub(crate) fn full_rounds(self) -> u64 {
        match self {
            Id::B1 => 25_000,
            Id::B2 | Id::B3 | Id::B8 => 1_000,
            Id::B4 | Id::B7 => 1_000_000,
            Id::B5 => 100,
            Id::B6 => 10_000,
        }
    }

    /// The checksum `docs/workloads.md` gives for a full run (libevent
    /// 2.1.12's).
    pub(crate) fn documented_checksum(self) -> u64 {
        match self {
            Id::B1 => 204_799_998_795,
            Id::B2 => 1_048_576_000,
            Id::B3 => 131_071_992_621,
            Id::B4 => 1_024_000_000_000,
            Id::B5 => 15_540_634_048_917_899_931,
            Id::B6 => 10_485_600_000,
            Id::B7 => 125_000_070,
            Id::B8 => 1_048_576_000,
        }
    }

    /// The workload's short name.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Id::B1 => "small-add-drain",
            Id::B2 => "move-chains",
            Id::B3 => "reserve-commit",
            Id::B4 => "peek",
            Id::B5 => "readln-crlf",
            Id::B6 => "search",
            Id::B7 => "pullup",
            Id::B8 => "remove-buffer",
        }
    }

    /// Parses `B4` / `b4`.
    pub(crate) fn parse(s: &str) -> Option<Id> {
        Id::ALL
            .into_iter()
            .find(|id| id.to_string().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A workload's state: `run` is the timed part.
pub(crate) trait Workload {
    /// Runs `rounds` rounds and returns their checksum contribution
    /// (wrapping).
    fn run(&mut self, rounds: u64) -> u64;
}

const PERIOD: usize = 251;
const MAX_PIECE: usize = 4096;
const MIB: usize = 1 << 20;

/// The byte stream `i % 251`: any piece of up to 4,096 bytes is one slice of
/// `pat`, so producing data costs nothing (as in libevent's C shim).
pub(crate) struct Stream {
    pat: Vec<u8>,
    off: usize,
}

impl Stream {
    /// The stream from byte 0.
    pub(crate) fn new() -> Stream {
        Stream {
            pat: (0..PERIOD + MAX_PIECE)
                .map(|i| (i % PERIOD) as u8)
                .collect(),
            off: 0,
        }
    }

    /// The next `n <= 4096` bytes.
    #[inline]
    pub(crate) fn next(&mut self, n: usize) -> &[u8] {
        let at = self.off;
        // `n` is a constant at every call site, so `n % PERIOD` is folded:
        // no division in the loop-carried chain (the C shim does the same).
        self.off += n % PERIOD;
        if self.off >= PERIOD {
            self.off -= PERIOD;
        }
        &self.pat[at..at + n]
    }
}

/// B5's line stream (period lcm(30, 251) = 7,530): the pieces one round
/// adds, in order.
pub(crate) struct LineStream {
    pat: Vec<u8>,
    off: usize,
}

/// B5's stream period, lcm(30, 251).
const LPERIOD: usize = 30 * PERIOD;

impl LineStream {
    /// The stream from byte 0.
    pub(crate) fn new() -> LineStream {
        LineStream {
            pat: (0..LPERIOD + MAX_PIECE)
                .map(|i| expected::b5_byte(i as u64))
                .collect(),
            off: 0,
        }
    }

    /// Calls `add` with each 4,096-byte piece of one round (the last one
    /// shorter), in order.
    #[inline]
    pub(crate) fn round(&mut self, mut add: impl FnMut(&[u8])) {
        let mut left = expected::B5_ROUND_BYTES as usize;
        while left > 0 {
            let n = left.min(MAX_PIECE);
            add(&self.pat[self.off..self.off + n]);
            self.off = (self.off + n) % LPERIOD;
            left -= n;
        }
    }
}

/// B6's haystack (1 MiB of `i % 251`, last byte 0xFF) and needle (its last
/// 16 bytes).
pub(crate) fn b6_data() -> (Vec<u8>, [u8; 16]) {
    let mut data: Vec<u8> = (0..MIB).map(|i| (i % PERIOD) as u8).collect();
    data[MIB - 1] = 0xFF;
    let needle = data[MIB - 16..].try_into().expect("16 bytes");
    (data, needle)
}

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`,
/// user and system time) on Linux; the wall clock elsewhere. The benches
/// time with it rather than the wall clock: on a shared machine other
/// processes inflate wall time by whatever share of the CPU they take, but
/// not this.
pub(crate) fn thread_cpu_ns() -> u128 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos()
    }
}

/// Puts glibc's malloc in the steady state it reaches by itself in a long
/// running process, so that every side is timed with the allocator alike,
/// whatever ran before in the process:
///
/// * heap trimming off (`M_TRIM_THRESHOLD`): otherwise whether libevent's B2
///   returns its 1 MiB of chains to the kernel each round and faults it back
///   in next round (40x slower) depends on the process's allocation history;
/// * large blocks from the heap, not from `mmap` (`M_MMAP_THRESHOLD` at
///   32 MiB, the value glibc's own adaptive threshold rises to after large
///   blocks are freed; setting the trim threshold turns that adaptation
///   off): otherwise the `BytesMut` side of B2, which lets go of its 1 MiB
///   buffer and grows a new one every round, would pay an `mmap`, 256 page
///   faults and a `munmap` per round for it.
pub(crate) fn steady_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets tunables of glibc's allocator; called before
    // any workload runs.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// The byte sum of the checksums (B1, B3, B5). libevent's C shim uses the
/// same algorithm: on x86_64, SSE2's `PSADBW` sums 16 bytes per instruction
/// (the plain widening loop both compilers make otherwise took most of B3's
/// time on every side, hiding the buffers' own cost).
#[inline]
pub(crate) fn sum_bytes(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86_64 baseline, so every x86_64 CPU has
    // the feature `sad_sum` is compiled for.
    return unsafe { sad_sum(bytes) };
    #[cfg(not(target_arch = "x86_64"))]
    plain_sum(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn sad_sum(bytes: &[u8]) -> u64 {
    use std::arch::x86_64::{
        _mm_add_epi64, _mm_cvtsi128_si64, _mm_sad_epu8, _mm_set_epi64x, _mm_setzero_si128,
        _mm_unpackhi_epi64,
    };
    let mut blocks = bytes.chunks_exact(16);
    let zero = _mm_setzero_si128();
    let mut acc = _mm_setzero_si128();
    for b in &mut blocks {
        let lo = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let hi = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_set_epi64x(hi, lo), zero));
    }
    let lanes =
        _mm_cvtsi128_si64(acc) as u64 + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)) as u64;
    lanes + plain_sum(blocks.remainder())
}

#[inline]
fn plain_sum(bytes: &[u8]) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}
