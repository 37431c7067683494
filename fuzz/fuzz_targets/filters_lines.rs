//! Fuzzes the line filter: every end-of-line style and maximum, arbitrary splits and limits
//! give the same output as one whole call (or an error in both), never a panic; and the same
//! type as a tokio-util `Decoder`, fed the same splits, gives the same lines (or an error).
#![no_main]

#[path = "filters_common.rs"]
mod common;

use evbuffer::Eol;
use bufferevent_filters::framing::Lines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u8, Vec<u8>, Vec<u8>)| {
    let (shape, max, sizes, data) = input;
    let eol = [Eol::Any, Eol::Crlf, Eol::CrlfStrict, Eol::Lf, Eol::Nul][(shape % 5) as usize];
    let limit = if shape & 8 == 0 { None } else { Some((shape >> 4) as usize + 1) };
    let mk = || Lines::new(eol, max as usize).terminator(&b"|"[..]);
    let whole = common::run(&mut mk(), &data, &[], None, false);
    let split = common::run(&mut mk(), &data, &sizes, limit, shape & 16 != 0);
    assert_eq!(whole, split, "split changed the result");

    let decoded = common::decode(&mut Lines::new(eol, max as usize), &data, &sizes, b"|");
    assert_eq!(whole, decoded, "the Decoder differs from the filter");
});
