//! The v2 (binary) header parser: a 12-byte signature, version/command,
//! family/transport, a big-endian length, then addresses and TLVs.
//!
//! Pure and incremental like the v1 parser. The length field is checked
//! against the decoder's bound as soon as its two bytes are in, so a peer
//! cannot make the decoder wait for (or buffer) 64 KiB it does not accept.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Addresses, Command, ProxyError, ProxyHeader, Tlv, Transport, Version};

/// The v2 signature.
pub(crate) const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part: signature, version/command, family/transport, length.
pub const V2_PREFIX_LEN: usize = 16;

/// Address block sizes by family.
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
const UNIX_LEN: usize = 216;
const UNIX_PATH: usize = 108;

fn syntax(offset: usize, reason: &'static str) -> ProxyError {
    ProxyError::V2Syntax { offset, reason }
}

/// Parses a v2 header at the start of `buf`, refusing a length field over
/// `max_len`: `Ok(Some((header, 16 + length)))` when complete, `Ok(None)`
/// when more bytes are needed.
pub(crate) fn parse(
    buf: &[u8],
    max_len: usize,
) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    for (i, (&b, &e)) in buf.iter().zip(&SIGNATURE).enumerate() {
        if b != e {
            return Err(ProxyError::BadSignature {
                offset: i,
                found: b,
                expected: e,
                version: Version::V2,
            });
        }
    }
    let command = match buf.get(12) {
        None => return Ok(None),
        Some(&b) if b >> 4 != 2 => return Err(syntax(12, "version nibble is not 2")),
        Some(&0x20) => Command::Local,
        Some(&0x21) => Command::Proxy,
        Some(_) => return Err(syntax(12, "command is neither LOCAL (0) nor PROXY (1)")),
    };
    let (family, transport) = match buf.get(13) {
        None => return Ok(None),
        Some(&b) => {
            let transport = match b & 0x0f {
                0 => Transport::Unspec,
                1 => Transport::Stream,
                2 => Transport::Datagram,
                _ => return Err(syntax(13, "transport is not UNSPEC, STREAM or DGRAM")),
            };
            if b >> 4 > 3 {
                return Err(syntax(13, "family is not UNSPEC, INET, INET6 or UNIX"));
            }
            (b >> 4, transport)
        }
    };
    let Some(len) = buf.get(14..16) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if len > max_len {
        return Err(ProxyError::V2TooLong { len, max: max_len });
    }
    let total = V2_PREFIX_LEN + len;
    let Some(block) = buf.get(V2_PREFIX_LEN..total) else {
        return Ok(None);
    };
    if command == Command::Local {
        // The receiver discards the block, family included.
        return Ok(Some((ProxyHeader::local(), total)));
    }
    let addr_len = match family {
        1 => INET_LEN,
        2 => INET6_LEN,
        3 => UNIX_LEN,
        _ => 0,
    };
    if len < addr_len {
        return Err(syntax(
            14,
            "length is shorter than the family's address block",
        ));
    }
    let a = &block[..addr_len];
    let addresses = match family {
        1 => {
            let ip = |o: usize| Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]);
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Addresses::Inet {
                source: SocketAddr::new(ip(0).into(), port(8)),
                destination: SocketAddr::new(ip(4).into(), port(10)),
            }
        }
        2 => {
            let ip = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[o..o + 16]);
                Ipv6Addr::from(b)
            };
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Addresses::Inet {
                source: SocketAddr::new(ip(0).into(), port(32)),
                destination: SocketAddr::new(ip(16).into(), port(34)),
            }
        }
        3 => Addresses::Unix {
            source: a[..UNIX_PATH].to_vec(),
            destination: a[UNIX_PATH..].to_vec(),
        },
        _ => Addresses::Unspec,
    };
    let tlvs = parse_tlvs(&block[addr_len..], V2_PREFIX_LEN + addr_len)?;
    Ok(Some((
        ProxyHeader {
            version: Version::V2,
            command,
            transport,
            addresses,
            tlvs,
        },
        total,
    )))
}

/// The TLVs filling `data` exactly; `base` is `data`'s offset in the
/// connection, for errors.
fn parse_tlvs(mut data: &[u8], base: usize) -> Result<Vec<Tlv>, ProxyError> {
    let mut tlvs = Vec::new();
    let mut at = base;
    while !data.is_empty() {
        if data.len() < 3 {
            return Err(syntax(at, "TLV header cut by the end of the block"));
        }
        let n = usize::from(u16::from_be_bytes([data[1], data[2]]));
        let Some(value) = data.get(3..3 + n) else {
            return Err(syntax(at + 1, "TLV length runs past the end of the block"));
        };
        tlvs.push(Tlv {
            kind: data[0],
            value: value.to_vec(),
        });
        data = &data[3 + n..];
        at += 3 + n;
    }
    Ok(tlvs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::tlv;

    const MAX: usize = 65535;

    fn hdr(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.push(ver_cmd);
        v.push(fam);
        v.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn inet4_body() -> Vec<u8> {
        let mut b = vec![192, 168, 0, 1, 192, 168, 0, 11];
        b.extend_from_slice(&56324u16.to_be_bytes());
        b.extend_from_slice(&443u16.to_be_bytes());
        b
    }

    #[test]
    fn inet4_proxy_then_payload_untouched() {
        let mut wire = hdr(0x21, 0x11, &inet4_body());
        wire.extend_from_slice(b"payload");
        let (h, n) = parse(&wire, MAX).unwrap().unwrap();
        assert_eq!(n, 28);
        assert_eq!(&wire[n..], b"payload");
        assert_eq!(h.command, Command::Proxy);
        assert_eq!(h.transport, Transport::Stream);
        assert_eq!(h.source(), Some("192.168.0.1:56324".parse().unwrap()));
        assert_eq!(h.destination(), Some("192.168.0.11:443".parse().unwrap()));
    }

    #[test]
    fn inet6_and_unix() {
        let mut b = Vec::new();
        b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&[0x12, 0x34, 0x01, 0xbb]);
        let (h, n) = parse(&hdr(0x21, 0x21, &b), MAX).unwrap().unwrap();
        assert_eq!(n, 52);
        assert_eq!(h.source(), Some("[2001:db8::1]:4660".parse().unwrap()));
        assert_eq!(h.destination(), Some("[2001:db8::2]:443".parse().unwrap()));

        let mut u = vec![0u8; 216];
        u[..4].copy_from_slice(b"/src");
        u[108..112].copy_from_slice(b"/dst");
        let (h, n) = parse(&hdr(0x21, 0x31, &u), MAX).unwrap().unwrap();
        assert_eq!(n, 232);
        match &h.addresses {
            Addresses::Unix {
                source,
                destination,
            } => {
                assert!(source.starts_with(b"/src\0"));
                assert!(destination.starts_with(b"/dst\0"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(h.source(), None);
    }

    #[test]
    fn local_discards_the_block() {
        let (h, n) = parse(&hdr(0x20, 0x00, &[]), MAX).unwrap().unwrap();
        assert_eq!((h.command, n), (Command::Local, 16));
        // A LOCAL with an address block (HAProxy's health checks may send
        // one) is skipped whole, whatever the family says.
        let (h, n) = parse(&hdr(0x20, 0x11, &inet4_body()), MAX)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.command, h.addresses, n),
            (Command::Local, Addresses::Unspec, 28)
        );
    }

    #[test]
    fn unspec_proxy_has_no_addresses() {
        let (h, n) = parse(&hdr(0x21, 0x00, &[]), MAX).unwrap().unwrap();
        assert_eq!(
            (h.addresses, h.transport, n),
            (Addresses::Unspec, Transport::Unspec, 16)
        );
        // UNSPEC with TLVs only.
        let (h, _) = parse(&hdr(0x21, 0x00, &[tlv::NOOP, 0, 2, 0, 0]), MAX)
            .unwrap()
            .unwrap();
        assert_eq!(h.tlvs.len(), 1);
    }

    #[test]
    fn tlvs_are_kept_in_order() {
        let mut b = inet4_body();
        b.extend_from_slice(&[tlv::ALPN, 0, 2, b'h', b'2']);
        b.extend_from_slice(&[tlv::AUTHORITY, 0, 11]);
        b.extend_from_slice(b"example.com");
        b.extend_from_slice(&[tlv::NOOP, 0, 0]);
        let (h, n) = parse(&hdr(0x21, 0x11, &b), MAX).unwrap().unwrap();
        assert_eq!(n, 16 + b.len());
        assert_eq!(h.tlv(tlv::ALPN), Some(&b"h2"[..]));
        assert_eq!(h.tlv(tlv::AUTHORITY), Some(&b"example.com"[..]));
        assert_eq!(h.tlvs.iter().map(|t| t.kind).collect::<Vec<_>>(), [1, 2, 4]);
    }

    #[test]
    fn broken_tlvs() {
        let mut b = inet4_body();
        b.extend_from_slice(&[tlv::ALPN, 0]);
        assert_eq!(
            parse(&hdr(0x21, 0x11, &b), MAX),
            Err(ProxyError::V2Syntax {
                offset: 28,
                reason: "TLV header cut by the end of the block"
            })
        );
        let mut b = inet4_body();
        b.extend_from_slice(&[tlv::ALPN, 0, 9, b'h']);
        assert!(matches!(
            parse(&hdr(0x21, 0x11, &b), MAX),
            Err(ProxyError::V2Syntax { offset: 29, .. })
        ));
    }

    #[test]
    fn every_truncation_needs_more() {
        let mut b = inet4_body();
        b.extend_from_slice(&[tlv::UNIQUE_ID, 0, 3, 1, 2, 3]);
        let wire = hdr(0x21, 0x11, &b);
        for n in 0..wire.len() {
            assert_eq!(parse(&wire[..n], MAX), Ok(None), "prefix of {n} bytes");
        }
        assert!(parse(&wire, MAX).unwrap().is_some());
    }

    #[test]
    fn bad_fields() {
        let mut w = hdr(0x21, 0x11, &inet4_body());
        w[3] = b'X';
        assert!(matches!(
            parse(&w, MAX),
            Err(ProxyError::BadSignature {
                offset: 3,
                found: b'X',
                ..
            })
        ));
        assert!(matches!(
            parse(&hdr(0x11, 0x11, &[]), MAX),
            Err(ProxyError::V2Syntax { offset: 12, .. })
        ));
        assert!(matches!(
            parse(&hdr(0x22, 0x11, &[]), MAX),
            Err(ProxyError::V2Syntax { offset: 12, .. })
        ));
        assert!(matches!(
            parse(&hdr(0x21, 0x41, &[]), MAX),
            Err(ProxyError::V2Syntax { offset: 13, .. })
        ));
        assert!(matches!(
            parse(&hdr(0x21, 0x13, &[]), MAX),
            Err(ProxyError::V2Syntax { offset: 13, .. })
        ));
        // INET with a block shorter than 12 bytes.
        assert!(matches!(
            parse(&hdr(0x21, 0x11, &[0; 11]), MAX),
            Err(ProxyError::V2Syntax { offset: 14, .. })
        ));
        // Errors come as soon as the offending byte arrives.
        assert!(parse(&hdr(0x31, 0x11, &[])[..13], MAX).is_err());
    }

    #[test]
    fn oversized_length_is_refused_before_the_body() {
        let w = hdr(0x21, 0x11, &[0; 600]);
        assert_eq!(
            parse(&w[..16], 512),
            Err(ProxyError::V2TooLong { len: 600, max: 512 })
        );
        let mut w = w[..16].to_vec();
        w[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            parse(&w, 4096),
            Err(ProxyError::V2TooLong {
                len: 65535,
                max: 4096
            })
        );
        assert_eq!(parse(&w, 65535), Ok(None));
    }
}
