//! The encoder: a [`ProxyHeader`] as v1 or v2 bytes ([`encode`]), and
//! [`ProxyEncoder`], the output filter that puts them in front of
//! everything a client (or a proxy written with this stack) sends.

use std::net::SocketAddr;

use bufferevent::{Filter, FilterResult, FilterStatus, FlushMode};
use evbuffer::EvBuffer;

use super::v1::V1_MAX_LEN;
use super::v2::{SIGNATURE, V2_PREFIX_LEN};
use super::{Addresses, Command, ProxyHeader, Transport, Version};

/// Why a [`ProxyHeader`] cannot be written in its version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Source and destination are not the same IP family.
    #[error("source {from} and destination {destination} are not the same address family")]
    MixedFamilies {
        /// The source address.
        from: SocketAddr,
        /// The destination address.
        destination: SocketAddr,
    },
    /// v1 only carries TCP over IPv4 or IPv6 (or `UNKNOWN`).
    #[error("a v1 header cannot carry {0}")]
    NotInV1(&'static str),
    /// A Unix path longer than the 108 bytes v2 has room for.
    #[error("a Unix path of {len} bytes does not fit the 108 bytes of a v2 header")]
    UnixPathTooLong {
        /// The path's length.
        len: usize,
    },
    /// The addresses and TLVs exceed the 65,535 bytes of the length field.
    #[error("the v2 block would be {len} bytes; the length field holds at most 65535")]
    TooLong {
        /// The block's length.
        len: usize,
    },
}

/// `header` on the wire, in `header.version`.
///
/// A `LOCAL` header or one without IP addresses is written in v1 as
/// `PROXY UNKNOWN\r\n`.
///
/// ```
/// use bufferevent_filters::proxy::{encode, ProxyHeader, Version};
/// let h = ProxyHeader::proxy("192.0.2.1:56324".parse()?, "198.51.100.7:443".parse()?);
/// assert_eq!(
///     encode(&h.clone().with_version(Version::V1))?,
///     b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
/// );
/// assert_eq!(encode(&h)?.len(), 16 + 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    match header.version {
        Version::V1 => encode_v1(header),
        Version::V2 => encode_v2(header),
    }
}

fn encode_v1(h: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    if !h.tlvs.is_empty() {
        return Err(EncodeError::NotInV1("TLVs"));
    }
    let line = match (&h.command, &h.addresses) {
        (Command::Local, _) | (_, Addresses::Unspec) => "PROXY UNKNOWN\r\n".to_owned(),
        (_, Addresses::Unix { .. }) => return Err(EncodeError::NotInV1("Unix addresses")),
        (
            Command::Proxy,
            Addresses::Inet {
                source,
                destination,
            },
        ) => {
            if h.transport == Transport::Datagram {
                return Err(EncodeError::NotInV1("datagram transport"));
            }
            let proto = match (source, destination) {
                (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
                (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
                _ => {
                    return Err(EncodeError::MixedFamilies {
                        from: *source,
                        destination: *destination,
                    })
                }
            };
            format!(
                "PROXY {proto} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
        }
    };
    debug_assert!(line.len() <= V1_MAX_LEN);
    Ok(line.into_bytes())
}

fn encode_v2(h: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    let mut block = Vec::new();
    let family = match &h.addresses {
        Addresses::Unspec => 0u8,
        Addresses::Inet {
            source,
            destination,
        } => match (source, destination) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                block.extend_from_slice(&s.ip().octets());
                block.extend_from_slice(&d.ip().octets());
                block.extend_from_slice(&s.port().to_be_bytes());
                block.extend_from_slice(&d.port().to_be_bytes());
                1
            }
            (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                block.extend_from_slice(&s.ip().octets());
                block.extend_from_slice(&d.ip().octets());
                block.extend_from_slice(&s.port().to_be_bytes());
                block.extend_from_slice(&d.port().to_be_bytes());
                2
            }
            _ => {
                return Err(EncodeError::MixedFamilies {
                    from: *source,
                    destination: *destination,
                })
            }
        },
        Addresses::Unix {
            source,
            destination,
        } => {
            for path in [source, destination] {
                if path.len() > 108 {
                    return Err(EncodeError::UnixPathTooLong { len: path.len() });
                }
                let at = block.len();
                block.extend_from_slice(path);
                block.resize(at + 108, 0);
            }
            3
        }
    };
    for t in &h.tlvs {
        let n = u16::try_from(t.value.len())
            .map_err(|_| EncodeError::TooLong { len: t.value.len() })?;
        block.push(t.kind);
        block.extend_from_slice(&n.to_be_bytes());
        block.extend_from_slice(&t.value);
    }
    let len = u16::try_from(block.len()).map_err(|_| EncodeError::TooLong { len: block.len() })?;
    let command = match h.command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    };
    let transport = match h.transport {
        Transport::Unspec => 0,
        Transport::Stream => 1,
        Transport::Datagram => 2,
    };
    let mut out = Vec::with_capacity(V2_PREFIX_LEN + block.len());
    out.extend_from_slice(&SIGNATURE);
    out.push(command);
    out.push(family << 4 | transport);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&block);
    Ok(out)
}

/// The output filter that writes a PROXY header once, before the first
/// byte of the connection's output, then passes everything through.
///
/// The header goes out even if the application writes nothing (the
/// bufferevent asks through [`Filter::wants_write`]), as a proxy's must.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::proxy::{ProxyEncoder, ProxyHeader, Version};
///
/// let h = ProxyHeader::proxy("192.0.2.1:56324".parse()?, "198.51.100.7:443".parse()?);
/// let mut f = ProxyEncoder::new(&h.with_version(Version::V1))?;
/// let (mut src, mut dst) = (EvBuffer::from(&b"hi"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal)?;
/// f.process(&mut EvBuffer::from(&b"!"[..]), &mut dst, None, FlushMode::Normal)?;
/// assert_eq!(dst, &b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhi!"[..]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProxyEncoder {
    header: Option<Vec<u8>>,
}

impl ProxyEncoder {
    /// An encoder sending `header` (encoded now, so errors come here).
    pub fn new(header: &ProxyHeader) -> Result<Self, EncodeError> {
        Ok(ProxyEncoder {
            header: Some(encode(header)?),
        })
    }

    /// Whether the header has been written.
    pub fn is_sent(&self) -> bool {
        self.header.is_none()
    }
}

impl Filter for ProxyEncoder {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> FilterResult {
        let mut room = limit.unwrap_or(usize::MAX);
        let mut progress = false;
        if let Some(h) = self.header.take() {
            // The header goes out whole, whatever the limit (it is small).
            dst.add(&h)?;
            room = room.saturating_sub(h.len());
            progress = true;
        }
        let n = room.min(src.len());
        if n > 0 {
            src.remove_into(dst, n)?;
            progress = true;
        }
        Ok(if progress {
            FilterStatus::Ok
        } else {
            FilterStatus::NeedMore
        })
    }

    fn wants_write(&self) -> bool {
        self.header.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{decode, tlv, Accept};

    #[test]
    fn round_trips() {
        let hs = [
            ProxyHeader::proxy("1.2.3.4:5".parse().unwrap(), "6.7.8.9:10".parse().unwrap()),
            ProxyHeader::proxy("[::1]:5".parse().unwrap(), "[::2]:10".parse().unwrap())
                .with_tlv(tlv::ALPN, &b"h2"[..])
                .with_tlv(tlv::UNIQUE_ID, vec![7; 300]),
            ProxyHeader::local(),
            ProxyHeader {
                addresses: Addresses::Unix {
                    source: b"/a".to_vec(),
                    destination: b"/b".to_vec(),
                },
                ..ProxyHeader::proxy("1.2.3.4:5".parse().unwrap(), "6.7.8.9:10".parse().unwrap())
            },
        ];
        for h in hs {
            let wire = encode(&h).unwrap();
            let (back, n) = decode(&wire, Accept::V2, 65535).unwrap().unwrap();
            assert_eq!(n, wire.len());
            match &h.addresses {
                Addresses::Unix { .. } => assert!(matches!(back.addresses, Addresses::Unix { .. })),
                _ => assert_eq!(back, h),
            }
            if h.tlvs.is_empty() && !matches!(h.addresses, Addresses::Unix { .. }) {
                let v1 = encode(&h.clone().with_version(Version::V1)).unwrap();
                let (back, n) = decode(&v1, Accept::V1, 0).unwrap().unwrap();
                assert_eq!(n, v1.len());
                assert_eq!(back.source(), h.source());
            }
        }
    }

    #[test]
    fn refusals() {
        let mixed = ProxyHeader::proxy("1.2.3.4:5".parse().unwrap(), "[::1]:1".parse().unwrap());
        assert!(matches!(
            encode(&mixed),
            Err(EncodeError::MixedFamilies { .. })
        ));
        let tlvs = ProxyHeader::local()
            .with_tlv(1, &b"x"[..])
            .with_version(Version::V1);
        assert_eq!(encode(&tlvs), Err(EncodeError::NotInV1("TLVs")));
        let big = ProxyHeader::local().with_tlv(1, vec![0; 70_000]);
        assert!(matches!(encode(&big), Err(EncodeError::TooLong { .. })));
        assert_eq!(
            encode(&ProxyHeader::local().with_version(Version::V1)).unwrap(),
            b"PROXY UNKNOWN\r\n"
        );
    }

    #[test]
    fn encoder_sends_once_even_without_data() {
        let mut f = ProxyEncoder::new(&ProxyHeader::local()).unwrap();
        assert!(f.wants_write());
        let mut dst = EvBuffer::new();
        assert_eq!(
            f.process(&mut EvBuffer::new(), &mut dst, Some(0), FlushMode::Normal)
                .unwrap(),
            FilterStatus::Ok
        );
        assert_eq!(dst.len(), 16);
        assert!(!f.wants_write() && f.is_sent());
        let mut src = EvBuffer::from(&b"abcdef"[..]);
        f.process(&mut src, &mut dst, Some(4), FlushMode::Normal)
            .unwrap();
        assert_eq!((dst.len(), src.len()), (20, 2));
    }
}
