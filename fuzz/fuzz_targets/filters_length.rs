//! Fuzzes the length-prefixed frame decoder: arbitrary bytes, arbitrary split points and
//! limits must give the same result as one whole call (or an error in both), never a panic;
//! encode-then-decode must give the payload back; and the decoder as a tokio-util `Decoder`,
//! fed the same splits, must give the same payloads (or an error).
#![no_main]

#[path = "filters_common.rs"]
mod common;

use bufferevent_filters::framing::{Endian, LengthDecoder, LengthEncoder, LengthPrefix, Width};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u16, Vec<u8>, Vec<u8>)| {
    let (shape, max, sizes, data) = input;
    let width = [Width::One, Width::Two, Width::Four, Width::Eight][(shape & 3) as usize];
    let endian = if shape & 4 == 0 { Endian::Big } else { Endian::Little };
    let fmt = LengthPrefix::new(width).endian(endian).max_frame(max as usize);
    let limit = if shape & 8 == 0 { None } else { Some((shape >> 4) as usize + 1) };

    let whole = common::run(&mut LengthDecoder::new(fmt), &data, &[], None, false);
    let split = common::run(&mut LengthDecoder::new(fmt), &data, &sizes, limit, shape & 16 != 0);
    assert_eq!(whole, split, "split changed the result");
    let decoded = common::decode(&mut LengthDecoder::new(fmt), &data, &sizes, b"");
    assert_eq!(whole, decoded, "the Decoder differs from the filter");

    let wire = common::run(&mut LengthEncoder::new(fmt), &data, &sizes, limit, false).unwrap();
    let back = common::run(&mut LengthDecoder::new(fmt), &wire, &sizes, None, false).unwrap();
    assert_eq!(back, data);
});
