//! The PROXY protocol (HAProxy's, versions 1 and 2): how a load balancer
//! tells the server behind it who the client really is.
//!
//! A TCP load balancer hands the server a connection whose peer is the load
//! balancer. With `send-proxy` (v1, a text line) or `send-proxy-v2` (a
//! binary block with optional TLVs) it first writes a header naming the
//! original client and destination. [`ProxyDecoder`] is the input filter
//! that takes that header off the connection (strictly: anything else is an
//! error naming the byte) and publishes it through [`ProxyInfo`];
//! [`encode`] and [`ProxyEncoder`] write one, for clients and proxies built
//! on this stack.
//!
//! libevent has nothing for it; servers on it parse the line by hand.
//!
//! ```
//! use bufferevent::{Filter, FlushMode};
//! use evbuffer::EvBuffer;
//! use bufferevent_filters::proxy::{Accept, ProxyDecoder, ProxyEncoder, ProxyHeader};
//!
//! // A proxy's output...
//! let h = ProxyHeader::proxy("192.0.2.1:56324".parse()?, "198.51.100.7:443".parse()?);
//! let mut enc = ProxyEncoder::new(&h)?;
//! let mut wire = EvBuffer::new();
//! enc.process(&mut EvBuffer::from(&b"request"[..]), &mut wire, None, FlushMode::Normal)?;
//! // ...is the server's input.
//! let (mut dec, info) = ProxyDecoder::new(Accept::V2);
//! let mut app = EvBuffer::new();
//! dec.process(&mut wire, &mut app, None, FlushMode::Normal)?;
//! assert_eq!(app, &b"request"[..]);
//! assert_eq!(info.source(), h.source());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decoder;
mod detect;
mod encode;
mod error;
mod header;
mod v1;
mod v2;

pub use decoder::{ProxyDecoder, ProxyInfo};
pub use detect::{decode, Accept, DEFAULT_MAX_V2_LEN};
pub use encode::{encode, EncodeError, ProxyEncoder};
pub use error::ProxyError;
pub use header::{tlv, Addresses, Command, ProxyHeader, Tlv, Transport, Version};
pub use v1::V1_MAX_LEN;
pub use v2::V2_PREFIX_LEN;
