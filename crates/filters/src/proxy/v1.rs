//! The v1 (text) header parser: `PROXY TCP4|TCP6|UNKNOWN ...\r\n`, at most
//! 107 bytes.
//!
//! Pure and incremental: given the bytes received so far it answers
//! "complete, N bytes long", "need more" or an error naming the byte, so the
//! filter never consumes a byte past the line's `\r\n`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Addresses, Command, ProxyError, ProxyHeader, Transport, Version};

/// The v1 signature, with the space that follows it.
pub(crate) const SIGNATURE: &[u8] = b"PROXY ";

/// The longest v1 line, `\r\n` included (the specification's bound:
/// `PROXY UNKNOWN` + two full IPv6 addresses and ports).
pub const V1_MAX_LEN: usize = 107;

/// Parses a v1 header at the start of `buf`: `Ok(Some((header, len)))` when
/// the line is complete (`len` includes `\r\n`), `Ok(None)` when more bytes
/// are needed.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    for (i, (&b, &e)) in buf.iter().zip(SIGNATURE).enumerate() {
        if b != e {
            return Err(ProxyError::BadSignature {
                offset: i,
                found: b,
                expected: e,
                version: Version::V1,
            });
        }
    }
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    // Reject a stray CR or LF (or any control byte) as soon as it arrives.
    let mut end = None;
    for (i, &b) in window.iter().enumerate().skip(SIGNATURE.len()) {
        match b {
            b'\r' => match window.get(i + 1) {
                Some(b'\n') => {
                    end = Some(i);
                    break;
                }
                Some(_) => {
                    return Err(syntax(i, "CR not followed by LF"));
                }
                None => break,
            },
            b'\n' => return Err(syntax(i, "LF without CR")),
            0x20..=0x7e => {}
            _ => return Err(syntax(i, "byte outside printable ASCII")),
        }
    }
    let Some(cr) = end else {
        return if buf.len() >= V1_MAX_LEN {
            Err(ProxyError::V1TooLong { max: V1_MAX_LEN })
        } else {
            Ok(None)
        };
    };
    let header = parse_line(&buf[..cr])?;
    Ok(Some((header, cr + 2)))
}

fn syntax(offset: usize, reason: &'static str) -> ProxyError {
    ProxyError::V1Syntax { offset, reason }
}

/// Splits the line (without `\r\n`) on single spaces, keeping offsets.
fn fields(line: &[u8]) -> Result<Vec<(usize, &[u8])>, ProxyError> {
    let mut out = Vec::with_capacity(6);
    let mut start = 0;
    for (i, &b) in line.iter().enumerate() {
        if b == b' ' {
            if i == start {
                return Err(syntax(i, "empty field (two spaces, or a trailing space)"));
            }
            out.push((start, &line[start..i]));
            start = i + 1;
        }
    }
    if start == line.len() {
        return Err(syntax(
            start,
            "empty field (two spaces, or a trailing space)",
        ));
    }
    out.push((start, &line[start..]));
    Ok(out)
}

fn parse_line(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    // UNKNOWN: whatever follows is ignored, as the specification says.
    let rest = &line[SIGNATURE.len()..];
    if rest == b"UNKNOWN" || rest.starts_with(b"UNKNOWN ") {
        return Ok(ProxyHeader {
            version: Version::V1,
            command: Command::Proxy,
            transport: Transport::Unspec,
            addresses: Addresses::Unspec,
            tlvs: Vec::new(),
        });
    }
    let f = fields(line)?;
    let (proto_at, proto) = f[1];
    let v6 = match proto {
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(syntax(proto_at, "protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    if f.len() != 6 {
        let at = f.get(6).map_or(line.len(), |&(at, _)| at);
        return Err(syntax(
            at,
            "expected exactly: source address, destination address, source port, destination port",
        ));
    }
    let src = ip(f[2], v6)?;
    let dst = ip(f[3], v6)?;
    let sport = port(f[4])?;
    let dport = port(f[5])?;
    Ok(ProxyHeader {
        version: Version::V1,
        command: Command::Proxy,
        transport: Transport::Stream,
        addresses: Addresses::Inet {
            source: SocketAddr::new(src, sport),
            destination: SocketAddr::new(dst, dport),
        },
        tlvs: Vec::new(),
    })
}

fn ip((at, text): (usize, &[u8]), v6: bool) -> Result<IpAddr, ProxyError> {
    let text = std::str::from_utf8(text).map_err(|_| syntax(at, "address is not ASCII"))?;
    if v6 {
        text.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| syntax(at, "not an IPv6 address"))
    } else {
        text.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| syntax(at, "not an IPv4 address in dotted decimal"))
    }
}

fn port((at, text): (usize, &[u8])) -> Result<u16, ProxyError> {
    if text.len() > 5 || !text.iter().all(u8::is_ascii_digit) {
        return Err(syntax(
            at,
            "port is not a decimal number of at most 5 digits",
        ));
    }
    if text.len() > 1 && text[0] == b'0' {
        return Err(syntax(at, "port has a leading zero"));
    }
    let n = text.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| syntax(at, "port is over 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &[u8]) -> (ProxyHeader, usize) {
        parse(s).unwrap().expect("complete")
    }

    #[test]
    fn specification_examples() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let (h, n) = ok(line);
        assert_eq!(n, 47);
        assert_eq!(h.source(), Some("192.168.0.1:56324".parse().unwrap()));
        assert_eq!(h.destination(), Some("192.168.0.11:443".parse().unwrap()));

        // The rest of the connection is not part of the header.
        assert_eq!(&line[n..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn longest_lines_fit_the_bound() {
        let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(worst.len(), V1_MAX_LEN);
        let (h, n) = ok(worst);
        assert_eq!((h.addresses, n), (Addresses::Unspec, V1_MAX_LEN));
        let tcp6 = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        let (h, n) = ok(tcp6);
        assert_eq!(n, 104);
        assert_eq!(h.source().unwrap().port(), 65535);
        let tcp4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(ok(tcp4).1, 56);
    }

    #[test]
    fn unknown_ignores_the_rest() {
        assert_eq!(ok(b"PROXY UNKNOWN\r\n").1, 15);
        let (h, _) = ok(b"PROXY UNKNOWN whatever 1 2 3\r\n");
        assert_eq!(h.transport, Transport::Unspec);
        assert_eq!(h.source(), None);
    }

    #[test]
    fn every_truncation_needs_more() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
        for n in 0..line.len() {
            assert_eq!(parse(&line[..n]), Ok(None), "prefix of {n} bytes");
        }
    }

    #[test]
    fn errors_name_the_byte() {
        let e = |s: &[u8]| parse(s).unwrap_err();
        assert!(matches!(
            e(b"PROXX"),
            ProxyError::BadSignature {
                offset: 4,
                found: b'X',
                ..
            }
        ));
        assert_eq!(
            e(b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"),
            ProxyError::V1Syntax {
                offset: 6,
                reason: "protocol is not TCP4, TCP6 or UNKNOWN"
            }
        );
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n"),
            ProxyError::V1Syntax { offset: 19, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"),
            ProxyError::V1Syntax { offset: 11, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n"),
            ProxyError::V1Syntax { offset: 27, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n"),
            ProxyError::V1Syntax { offset: 27, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n"),
            ProxyError::V1Syntax { offset: 31, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"),
            ProxyError::V1Syntax { .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n"),
            ProxyError::V1Syntax { offset: 11, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 1.2.3.4\n"),
            ProxyError::V1Syntax {
                offset: 18,
                reason: "LF without CR"
            }
        ));
        assert!(matches!(
            e(b"PROXY TCP4\rx"),
            ProxyError::V1Syntax { offset: 10, .. }
        ));
        assert!(matches!(
            e(b"PROXY \0"),
            ProxyError::V1Syntax { offset: 6, .. }
        ));
        assert!(matches!(
            e(b"PROXY TCP4 01.2.3.4 1.2.3.5 1 2\r\n"),
            ProxyError::V1Syntax { offset: 11, .. }
        ));
    }

    #[test]
    fn no_crlf_within_107_bytes() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN - 1, b'a');
        assert_eq!(parse(&long), Ok(None));
        long.push(b'a');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong { max: V1_MAX_LEN }));
        // A CR in the last allowed byte whose LF would be the 108th.
        long[V1_MAX_LEN - 1] = b'\r';
        long.push(b'\n');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong { max: V1_MAX_LEN }));
    }
}
