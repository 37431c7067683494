//! What a PROXY protocol header says: [`ProxyHeader`] and its parts.
//!
//! Both versions of the protocol carry the same information (the v1 text
//! line is a subset of the v2 binary block), so one set of types serves the
//! two parsers, the encoder and the application that reads the addresses.

use std::net::SocketAddr;

/// Which version of the PROXY protocol a header uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The human-readable line (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary block behind the 12-byte signature.
    V2,
}

/// The v2 command: whether the header describes a relayed connection.
///
/// A v1 header is always [`Command::Proxy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `LOCAL`: the proxy opened this connection on its own (a health
    /// check); the receiver uses the real connection's addresses.
    Local,
    /// `PROXY`: the connection is relayed for the client in the addresses.
    Proxy,
}

/// The transport of the relayed connection (v2's low nibble of byte 14;
/// v1 only speaks of TCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or unspecified (`UNSPEC`, v1's `UNKNOWN`).
    Unspec,
    /// A stream (TCP, or a Unix stream socket).
    Stream,
    /// Datagrams (UDP, or a Unix datagram socket).
    Datagram,
}

/// The original endpoints of a relayed connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// No usable addresses: v1 `UNKNOWN`, v2 `AF_UNSPEC`, or a `LOCAL`
    /// command. The receiver uses the real connection's endpoints.
    Unspec,
    /// IPv4 or IPv6 endpoints.
    Inet {
        /// The original client (where the connection came from).
        source: SocketAddr,
        /// The address the client connected to (the proxy's listener).
        destination: SocketAddr,
    },
    /// Unix-domain socket paths (v2 only; 108 bytes each, NUL-padded,
    /// kept as sent).
    Unix {
        /// The source path, as sent.
        source: Vec<u8>,
        /// The destination path, as sent.
        destination: Vec<u8>,
    },
}

/// One v2 type-length-value record after the addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type byte (see the `PP2_TYPE_*` constants in [`tlv`]).
    pub kind: u8,
    /// The value, at most 65,535 bytes.
    pub value: Vec<u8>,
}

/// The `PP2_TYPE_*` values the specification assigns.
pub mod tlv {
    /// Application-Layer Protocol Negotiation (the ALPN the client chose).
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (TLS SNI or HTTP authority).
    pub const AUTHORITY: u8 = 0x02;
    /// CRC32c checksum of the whole header.
    pub const CRC32C: u8 = 0x03;
    /// Padding; the receiver ignores it.
    pub const NOOP: u8 = 0x04;
    /// An opaque connection identifier from the proxy.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS information, with sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// The network namespace the connection was accepted in.
    pub const NETNS: u8 = 0x30;
}

/// A decoded (or to be encoded) PROXY protocol header.
///
/// ```
/// use bufferevent_filters::proxy::{Addresses, ProxyHeader};
/// let h = ProxyHeader::proxy(
///     "192.0.2.1:56324".parse().unwrap(),
///     "198.51.100.7:443".parse().unwrap(),
/// );
/// assert_eq!(h.source(), Some("192.0.2.1:56324".parse().unwrap()));
/// assert!(matches!(h.addresses, Addresses::Inet { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    /// The version it was (or is to be) written in.
    pub version: Version,
    /// `LOCAL` or `PROXY`.
    pub command: Command,
    /// The relayed connection's transport.
    pub transport: Transport,
    /// The original endpoints.
    pub addresses: Addresses,
    /// v2 TLVs in the order sent (empty for v1).
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A v2 `PROXY` header for a TCP connection from `source` to
    /// `destination` (both must be the same family to be encoded).
    pub fn proxy(source: SocketAddr, destination: SocketAddr) -> Self {
        ProxyHeader {
            version: Version::V2,
            command: Command::Proxy,
            transport: Transport::Stream,
            addresses: Addresses::Inet {
                source,
                destination,
            },
            tlvs: Vec::new(),
        }
    }

    /// A v2 `LOCAL` header (a connection the proxy made itself).
    pub fn local() -> Self {
        ProxyHeader {
            version: Version::V2,
            command: Command::Local,
            transport: Transport::Unspec,
            addresses: Addresses::Unspec,
            tlvs: Vec::new(),
        }
    }

    /// The same header in `version`.
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The same header with a TLV appended (v2 only).
    pub fn with_tlv(mut self, kind: u8, value: impl Into<Vec<u8>>) -> Self {
        self.tlvs.push(Tlv {
            kind,
            value: value.into(),
        });
        self
    }

    /// The original client address, for a `PROXY` header with IP addresses.
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { source, .. }) => Some(*source),
            _ => None,
        }
    }

    /// The address the client connected to, for a `PROXY` header with IP
    /// addresses.
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { destination, .. }) => Some(*destination),
            _ => None,
        }
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }
}
