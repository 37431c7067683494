//! Differential fuzzing of `evbuffer::EvBuffer` against a `VecDeque<u8>`
//! model: the input is a chunk-policy seed and a sequence of operations
//! (the same `Op`s as the proptest model test, from
//! `crates/evbuffer/tests/model_ops/`); any difference panics.
#![no_main]

#[path = "../../crates/evbuffer/tests/model_ops/mod.rs"]
mod model_ops;

use libfuzzer_sys::fuzz_target;
use model_ops::{Harness, Op};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    seed: u32,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    // File segments make temporary files: too slow for fuzzing, and covered
    // by the proptest model test.
    let mut h = Harness::new(input.seed, false);
    for op in input.ops.iter().take(256) {
        h.apply(op);
    }
});
