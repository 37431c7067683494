//! Fuzzes the head/tail frame decoder (the seed's framing): arbitrary markers, maximum frame
//! sizes, bytes, split points and limits must give the same result as one whole call (or an
//! error in both), never a panic; and encode-then-decode must give the payload back when the
//! payload cannot contain the tail marker.
#![no_main]

#[path = "filters_common.rs"]
mod common;

use bufferevent_filters::framing::{HeadTailDecoder, HeadTailEncoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u8, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (shape, max, head, tail, sizes, data) = input;
    let (head, tail) = (&head[..head.len().min(16)], &tail[..tail.len().min(16)]);
    if head.is_empty() || tail.is_empty() {
        return; // markers must not be empty (a configuration error, refused by `new`)
    }
    let limit = if shape & 8 == 0 { None } else { Some((shape >> 4) as usize + 1) };
    let mk = || HeadTailDecoder::new(head.to_vec(), tail.to_vec(), max as usize);

    let whole = common::run(&mut mk(), &data, &[], None, false);
    let split = common::run(&mut mk(), &data, &sizes, limit, shape & 16 != 0);
    assert_eq!(whole, split, "split changed the result");

    // Round trip: payload bytes that never form the tail marker (one byte not in it).
    if let Some(fill) = (0..=255u8).find(|b| !tail.contains(b)) {
        let payload: Vec<u8> = data.iter().map(|&b| if tail.contains(&b) { fill } else { b }).collect();
        let mut enc = HeadTailEncoder::new(head.to_vec(), tail.to_vec());
        let wire = common::run(&mut enc, &payload, &sizes, None, false).unwrap();
        let back = common::run(&mut mk(), &wire, &[], None, false);
        if payload.len() <= max as usize {
            assert_eq!(back.as_deref(), Some(&payload[..]));
        }
    }
});
