//! Test helpers: drive a filter the way a bufferevent does (one persistent source buffer that
//! new data is appended to, one destination) and check split invariance.

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

/// Everything in `buf` as a `Vec`.
pub(crate) fn contents(buf: &EvBuffer) -> Vec<u8> {
    let mut v = Vec::with_capacity(buf.len());
    for e in buf.peek(..) {
        v.extend_from_slice(e);
    }
    v
}

/// Appends each chunk to the source and calls the filter with `mode` (no limit); then calls it
/// once more with `final_mode` if given. Returns everything the filter wrote.
pub(crate) fn run_chunks<F: Filter + ?Sized>(
    f: &mut F,
    chunks: &[&[u8]],
    mode: FlushMode,
    final_mode: Option<FlushMode>,
) -> Result<Vec<u8>, FilterError> {
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    for c in chunks {
        src.add(c).unwrap();
        f.process(&mut src, &mut dst, None, mode)?;
    }
    if let Some(m) = final_mode {
        f.process(&mut src, &mut dst, None, m)?;
    }
    Ok(contents(&dst))
}

/// Calls the filter with `limit` until it stops making progress, the whole input present from
/// the start; then once with FINISHED and no limit. Checks that no call overshoots the limit by
/// more than `slack` bytes and returns everything written.
pub(crate) fn run_limited<F: Filter + ?Sized>(
    f: &mut F,
    input: &[u8],
    limit: usize,
    slack: usize,
) -> Result<Vec<u8>, FilterError> {
    let mut src = EvBuffer::from(input);
    let mut dst = EvBuffer::new();
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        let before = src.len();
        let st = f.process(&mut src, &mut dst, Some(limit), FlushMode::Normal)?;
        assert!(
            dst.len() <= limit + slack,
            "call wrote {} > {limit} + {slack}",
            dst.len()
        );
        let progressed = !dst.is_empty() || src.len() != before;
        out.extend(contents(&dst));
        dst.clear();
        if !progressed && st == FilterStatus::NeedMore {
            break;
        }
    }
    f.process(&mut src, &mut dst, None, FlushMode::Finished)?;
    out.extend(contents(&dst));
    Ok(out)
}

/// Checks that `make()`'s filter turns `input` into `expected` whatever the split:
/// for per-call modes NORMAL and FLUSH (followed by a FINISHED call), the input whole, split at
/// every byte boundary, and fed byte by byte; and the whole input in one FINISHED call.
pub(crate) fn check_all_splits<F: Filter>(make: impl Fn() -> F, input: &[u8], expected: &[u8]) {
    let fin = Some(FlushMode::Finished);
    for mode in [FlushMode::Normal, FlushMode::Flush] {
        let out = run_chunks(&mut make(), &[input], mode, fin).unwrap();
        assert_eq!(out, expected, "whole input, mode {mode:?}");
        for i in 0..=input.len() {
            let out = run_chunks(&mut make(), &[&input[..i], &input[i..]], mode, fin).unwrap();
            assert_eq!(out, expected, "split at {i}, mode {mode:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let out = run_chunks(&mut make(), &bytes, mode, fin).unwrap();
        assert_eq!(out, expected, "byte by byte, mode {mode:?}");
    }
    let out = run_chunks(&mut make(), &[input], FlushMode::Finished, None).unwrap();
    assert_eq!(out, expected, "one FINISHED call");
}

/// A small deterministic pseudo-random generator for test data (xorshift64*).
pub(crate) fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}
