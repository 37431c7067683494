//! Fuzzes the PROXY protocol decoder: any bytes, any version set and bound,
//! fed whole or split into arbitrary pieces through the input filter, never
//! panic; the filter agrees with the pure decoder, never consumes past the
//! header, and a decoded header re-encodes to something that decodes the same.
#![no_main]

use bufferevent::{Filter, FlushMode};
use evbuffer::EvBuffer;
use bufferevent_filters::proxy::{decode, encode, Accept, ProxyDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u16, Vec<u8>, Vec<u8>)| {
    let (shape, max, sizes, data) = input;
    let accept = [Accept::V1, Accept::V2, Accept::Any][(shape % 3) as usize];
    let max = usize::from(max);
    let whole = decode(&data, accept, max.min(65535));

    let (f, info) = ProxyDecoder::new(accept);
    let mut f = f.max_v2_len(max);
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    let mut fed = 0;
    let mut failed = false;
    let mut pieces = sizes.iter().map(|&s| usize::from(s) + 1).chain(std::iter::repeat(64));
    while fed < data.len() && !failed {
        let n = pieces.next().unwrap().min(data.len() - fed);
        src.add(&data[fed..fed + n]).unwrap();
        fed += n;
        failed = f.process(&mut src, &mut dst, None, FlushMode::Normal).is_err();
    }
    match whole {
        Ok(Some((h, len))) => {
            assert!(!failed);
            assert_eq!(info.get(), Some(&h));
            assert_eq!(dst.len(), data.len() - len, "payload length");
            if let Ok(wire) = encode(&h) {
                let (again, n) = decode(&wire, accept, 65535).unwrap().unwrap();
                assert_eq!(n, wire.len());
                assert_eq!(again.source(), h.source());
            }
        }
        Ok(None) => assert!(!failed && dst.is_empty() && info.get().is_none()),
        Err(_) => assert!(failed && dst.is_empty() && info.get().is_none()),
    }
});
