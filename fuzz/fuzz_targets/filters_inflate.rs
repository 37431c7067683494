//! Fuzzes the decompressors: arbitrary (mostly corrupt) deflate/zlib/gzip input, split and
//! limited arbitrarily, must decode the same as one whole call (or fail in both) within the
//! output bound, never panic or allocate without bound; and compress-then-decompress of the
//! input must give it back.
#![no_main]

#[path = "filters_common.rs"]
mod common;

use bufferevent_filters::zlib::{Compression, Compressor, DecompressLimits, Decompressor, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (shape, sizes, data) = input;
    let format = [Format::Deflate, Format::Zlib, Format::Gzip][(shape % 3) as usize];
    let limits = DecompressLimits { max_output: Some(1 << 20), max_ratio: Some(100), ratio_grace: 64 << 10 };
    let limit = if shape & 8 == 0 { None } else { Some((shape >> 4) as usize * 64 + 1) };
    let whole = common::run(&mut Decompressor::with_limits(format, limits), &data, &[], None, false);
    let split = common::run(&mut Decompressor::with_limits(format, limits), &data, &sizes, limit, false);
    assert_eq!(whole, split, "split changed the result");
    if let Some(out) = &whole {
        assert!(out.len() <= 1 << 20);
    }

    let level = Compression::new((shape >> 4) as u32 % 10);
    let wire = common::run(&mut Compressor::new(format, level), &data, &sizes, None, shape & 16 != 0).unwrap();
    let back = common::run(&mut Decompressor::with_limits(format, DecompressLimits::unlimited()), &wire, &sizes, None, false).unwrap();
    assert_eq!(back, data);
});
