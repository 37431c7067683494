//! # filters
//!
//! Reusable bufferevent filters: the callbacks a libevent user would otherwise write by hand
//! for `bufferevent_filter_new`, each a [`Filter`] honouring the three flush modes
//! (`BEV_NORMAL`, `BEV_FLUSH`, `BEV_FINISHED`) and the `dst_limit`, each bounded against
//! hostile input.
//!
//! * Byte transforms: [`AsciiCase`], [`Map`], and the counting pass-through [`Counting`].
//! * Framing ([`framing`]): the seed's head/tail frames, length-prefixed frames and lines.
//! * Compression (module `zlib`, feature `zlib`): deflate, zlib and gzip, both directions.
//! * TLS (module `tls`, feature `tls`): client and server on rustls's sans-IO connection.
//! * Composition: [`Chain`] runs filters in sequence; [`CodecFilter`] runs any tokio-util
//!   `Decoder`/`Encoder` pair as a filter.
//! * [`FilteredStream`] applies an input and an output filter to any tokio
//!   `AsyncRead + AsyncWrite`, for programs that do not use bufferevents at all.
//!
//! Conventions shared by every filter here: a call returns [`FilterStatus::Ok`] when it added
//! bytes to `dst` and [`FilterStatus::NeedMore`] when it added none; bad input is an `Err`
//! carrying a [`bufferevent_filters::Error`](Error) that says what and where (libevent's `BEV_ERROR`, which
//! gives no reason). Decoders never hold more than one frame's worth of input and refuse frames
//! over their configured maximum.
//!
//! ```
//! use bufferevent::{Filter, FlushMode};
//! use evbuffer::EvBuffer;
//! use bufferevent_filters::framing::HeadTailEncoder;
//! use bufferevent_filters::{AsciiCase, Chain};
//!
//! // The seed's filter server, as one filter: upper-case, then frame.
//! let mut f = Chain::new().then(AsciiCase::upper()).then(HeadTailEncoder::seed());
//! let (mut src, mut dst) = (EvBuffer::from(&b"get information: 10 bytes!"[..]), EvBuffer::new());
//! f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
//! assert_eq!(dst, b"|--- HEAD ---|GET INFORMATION: 10 BYTES!|--- END ---|\n"[..]);
//! ```
//!
//! "Statement N" in this crate's documentation and `sN_` in test names refer
//! to item N of `docs/libevent-semantics.md` in the project's repository:
//! libevent 2.1.12's behaviour, as this project pins it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

mod case;
mod chain;
mod codec;
mod counter;
mod error;
pub mod framing;
mod map;
pub mod proxy;
mod stream;
mod util;

#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "zlib")]
pub mod zlib;

#[cfg(test)]
mod testutil;

pub use bufferevent::{Filter, FilterError, FilterEvent, FilterStatus, FlushMode};
pub use case::{AsciiCase, Case};
pub use chain::Chain;
pub use codec::CodecFilter;
pub use counter::{ByteCounter, Counting};
pub use error::{Error, Result};
pub use map::Map;
pub use stream::FilteredStream;
