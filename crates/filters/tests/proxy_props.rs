//! Property tests of the PROXY decoder (the fuzz target's invariants, run
//! on every `cargo test`): for valid headers with their bytes mutated and
//! arbitrary payloads, fed in arbitrary pieces, the input filter agrees
//! with the pure decoder, never fails on a valid header, never consumes a
//! payload byte, and a decoded header re-encodes to an equal one.

use bufferevent::{Filter, FlushMode};
use bufferevent_filters::proxy::{decode, encode, tlv, Accept, ProxyDecoder, ProxyHeader, Version};
use evbuffer::EvBuffer;
use proptest::prelude::*;

fn header(
    v6: bool,
    ports: (u16, u16),
    tlvs: Vec<(u8, Vec<u8>)>,
    v1: bool,
    local: bool,
) -> ProxyHeader {
    let (s, d) = if v6 {
        ("[2001:db8::1]", "[2001:db8::2]")
    } else {
        ("192.0.2.1", "198.51.100.2")
    };
    let mut h = if local {
        ProxyHeader::local()
    } else {
        ProxyHeader::proxy(
            format!("{s}:{}", ports.0).parse().unwrap(),
            format!("{d}:{}", ports.1).parse().unwrap(),
        )
    };
    if v1 {
        h = h.with_version(Version::V1);
    } else {
        for (k, v) in tlvs {
            h = h.with_tlv(k, v);
        }
    }
    h
}

/// Feeds `data` in pieces of `sizes` (then 64) through a decoder.
fn feed(
    accept: Accept,
    max: usize,
    data: &[u8],
    sizes: &[usize],
) -> (bool, Vec<u8>, Option<ProxyHeader>) {
    let (f, info) = ProxyDecoder::new(accept);
    let mut f = f.max_v2_len(max);
    let (mut src, mut dst) = (EvBuffer::new(), EvBuffer::new());
    let mut fed = 0;
    let mut failed = false;
    let mut pieces = sizes.iter().copied().chain(std::iter::repeat(64));
    while fed < data.len() && !failed {
        let n = pieces.next().unwrap().clamp(1, data.len() - fed);
        src.add(&data[fed..fed + n]).unwrap();
        fed += n;
        failed = f
            .process(&mut src, &mut dst, None, FlushMode::Normal)
            .is_err();
    }
    let mut out = vec![0; dst.len()];
    dst.copy_out(&mut out).unwrap();
    (failed, out, info.get().cloned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_headers_in_any_pieces(
        v6 in any::<bool>(), v1 in any::<bool>(), local in any::<bool>(),
        ports in any::<(u16, u16)>(),
        tlvs in prop::collection::vec((prop_oneof![Just(tlv::ALPN), Just(tlv::AUTHORITY), Just(tlv::NOOP), any::<u8>()], prop::collection::vec(any::<u8>(), 0..40)), 0..4),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        sizes in prop::collection::vec(1usize..20, 0..20),
    ) {
        let h = header(v6, ports, tlvs, v1, local);
        let mut wire = encode(&h).unwrap();
        wire.extend_from_slice(&payload);
        let (failed, out, got) = feed(Accept::Any, 4096, &wire, &sizes);
        prop_assert!(!failed);
        prop_assert_eq!(out, payload);
        let got = got.unwrap();
        if v1 && local {
            prop_assert_eq!(got.source(), None);
        } else if local {
            // LOCAL: the receiver discards the whole block, TLVs included.
            prop_assert_eq!(got, ProxyHeader::local());
        } else if v1 {
            prop_assert_eq!(got.source(), h.source());
            prop_assert_eq!(got.destination(), h.destination());
        } else {
            prop_assert_eq!(got, h);
        }
    }

    #[test]
    fn mutated_headers_agree_with_the_pure_decoder(
        v6 in any::<bool>(), v1 in any::<bool>(),
        ports in any::<(u16, u16)>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        payload in prop::collection::vec(any::<u8>(), 0..50),
        sizes in prop::collection::vec(1usize..20, 0..20),
        accept in prop_oneof![Just(Accept::V1), Just(Accept::V2), Just(Accept::Any)],
        max in 0usize..100,
    ) {
        let mut wire = encode(&header(v6, ports, vec![(tlv::NOOP, vec![0; 8])], v1, false)).unwrap();
        for (at, b) in flips {
            let i = at.index(wire.len());
            wire[i] = b;
        }
        wire.extend_from_slice(&payload);
        let whole = decode(&wire, accept, max);
        let (failed, out, got) = feed(accept, max, &wire, &sizes);
        match whole {
            Ok(Some((h, len))) => {
                prop_assert!(!failed);
                prop_assert_eq!(&out[..], &wire[len..]);
                prop_assert_eq!(got.as_ref(), Some(&h));
                if let Ok(again) = encode(&h) {
                    let (back, n) = decode(&again, Accept::Any, 65535).unwrap().unwrap();
                    prop_assert_eq!(n, again.len());
                    prop_assert_eq!(back.source(), h.source());
                }
            }
            Ok(None) => prop_assert!(!failed && out.is_empty() && got.is_none()),
            Err(_) => prop_assert!(failed && out.is_empty() && got.is_none()),
        }
    }
}
