//! Runs any tokio-util `Decoder` + `Encoder` pair as a filter: bytes in are decoded into items,
//! each item is encoded into bytes out.
//!
//! This lets the codec ecosystem (`LinesCodec`, `LengthDelimitedCodec`, user codecs) plug into
//! a bufferevent, e.g. to re-frame length-delimited messages as lines.

use std::marker::PhantomData;

use bufferevent::{Filter, FilterError, FilterStatus, FlushMode};
use bytes::BytesMut;
use evbuffer::EvBuffer;
use tokio_util::codec::{Decoder, Encoder};

use crate::util::{budget, status};
use crate::Error;

/// A filter that decodes its input with `D` and encodes every item with `E`.
///
/// * Input moves into an internal `BytesMut` (at most `max_buffer` bytes; default 8 MiB) that
///   the decoder reads; a decoder that has not produced an item when that buffer is full is an
///   error, so a codec without its own limit still cannot buffer without bound.
/// * NORMAL and FLUSH decode every whole item; FINISHED then calls `decode_eof`, whose error
///   (for tokio-util's codecs: "bytes remaining on stream") becomes the filter's.
/// * With a `dst_limit`, items are encoded until the limit is reached.
///
/// ```
/// use bufferevent::{Filter, FlushMode};
/// use evbuffer::EvBuffer;
/// use bufferevent_filters::CodecFilter;
/// use tokio_util::codec::{LengthDelimitedCodec, LinesCodec};
///
/// // Length-delimited frames in, one line per frame out.
/// let mut f = CodecFilter::with_map(
///     LengthDelimitedCodec::builder().length_field_length(2).new_codec(),
///     |frame: bytes::BytesMut| String::from_utf8_lossy(&frame).into_owned(),
///     LinesCodec::new(),
/// );
/// let (mut src, mut dst) = (EvBuffer::from(&b"\x00\x02hi\x00\x03you"[..]), EvBuffer::new());
/// f.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, b"hi\nyou\n"[..]);
/// ```
///
/// libevent: none (tokio-util's codecs as a `bufferevent_filter_cb`).
#[derive(Debug)]
pub struct CodecFilter<D, E> {
    decoder: D,
    encoder: E,
    buf: BytesMut,
    out: BytesMut,
    max_buffer: usize,
}

impl<D, E> CodecFilter<D, E>
where
    D: Decoder,
    E: Encoder<D::Item>,
{
    /// Default bound on the decoder's input buffer: 8 MiB.
    ///
    /// libevent: none (see [`CodecFilter`]).
    pub const DEFAULT_MAX_BUFFER: usize = 8 << 20;

    /// Decodes with `decoder`, encodes each item with `encoder`.
    ///
    /// libevent: none (see [`CodecFilter`]).
    pub fn new(decoder: D, encoder: E) -> Self {
        CodecFilter {
            decoder,
            encoder,
            buf: BytesMut::new(),
            out: BytesMut::new(),
            max_buffer: Self::DEFAULT_MAX_BUFFER,
        }
    }
    /// Sets the bound on the decoder's input buffer.
    ///
    /// libevent: none (see [`CodecFilter`]).
    pub fn max_buffer(mut self, max: usize) -> Self {
        self.max_buffer = max.max(1);
        self
    }
}

impl<D, F, E> CodecFilter<D, MapItem<F, E, D::Item>>
where
    D: Decoder,
{
    /// Decodes with `decoder`, converts each item with `map`, encodes the result with `encoder`.
    ///
    /// libevent: none (see [`CodecFilter`]).
    pub fn with_map<T>(decoder: D, map: F, encoder: E) -> Self
    where
        F: FnMut(D::Item) -> T,
        E: Encoder<T>,
    {
        CodecFilter {
            decoder,
            encoder: MapItem {
                map,
                encoder,
                _item: PhantomData,
            },
            buf: BytesMut::new(),
            out: BytesMut::new(),
            max_buffer: 8 << 20,
        }
    }
}

/// An encoder applying a function to each item before encoding it ([`CodecFilter::with_map`]).
///
/// libevent: none (see [`CodecFilter`]).
pub struct MapItem<F, E, I> {
    map: F,
    encoder: E,
    _item: PhantomData<fn(I)>,
}

impl<F, E, I> std::fmt::Debug for MapItem<F, E, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapItem").finish_non_exhaustive()
    }
}

impl<F, E, I, T> Encoder<I> for MapItem<F, E, I>
where
    F: FnMut(I) -> T,
    E: Encoder<T>,
{
    type Error = E::Error;
    fn encode(&mut self, item: I, dst: &mut BytesMut) -> Result<(), E::Error> {
        self.encoder.encode((self.map)(item), dst)
    }
}

fn codec_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> FilterError {
    Error::Codec(e.into()).into()
}

impl<D, E> CodecFilter<D, E> {
    /// Moves as much of `src` as fits into the decoder's buffer; returns how much moved.
    fn refill(&mut self, src: &mut EvBuffer) -> Result<usize, Error> {
        let n = src
            .len()
            .min(self.max_buffer.saturating_sub(self.buf.len()));
        for e in src.peek(..n) {
            self.buf.extend_from_slice(e);
        }
        src.drain(n)?;
        Ok(n)
    }
}

impl<D, E> Filter for CodecFilter<D, E>
where
    D: Decoder + Send,
    D::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Encoder<D::Item> + Send,
    E::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> Result<FilterStatus, FilterError> {
        let budget = budget(limit);
        let mut added = 0;
        self.refill(src)?;
        while added < budget {
            match self.decoder.decode(&mut self.buf).map_err(codec_error)? {
                Some(item) => {
                    self.encoder
                        .encode(item, &mut self.out)
                        .map_err(codec_error)?;
                    added += self.out.len();
                    dst.add_bytes(self.out.split().freeze())
                        .map_err(Error::from)?;
                }
                None if self.refill(src)? > 0 => {}
                None if self.buf.len() >= self.max_buffer => {
                    return Err(Error::FrameTooLarge {
                        what: "codec filter",
                        len: self.buf.len() as u64,
                        max: self.max_buffer,
                    }
                    .into())
                }
                None => break,
            }
        }
        if mode == FlushMode::Finished && src.is_empty() && added < budget {
            while let Some(item) = self
                .decoder
                .decode_eof(&mut self.buf)
                .map_err(codec_error)?
            {
                self.encoder
                    .encode(item, &mut self.out)
                    .map_err(codec_error)?;
                added += self.out.len();
                dst.add_bytes(self.out.split().freeze())
                    .map_err(Error::from)?;
            }
        }
        Ok(status(added))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use tokio_util::codec::{BytesCodec, LengthDelimitedCodec, LinesCodec};

    fn lines_to_frames() -> CodecFilter<
        LinesCodec,
        MapItem<impl FnMut(String) -> bytes::Bytes + Send, LengthDelimitedCodec, String>,
    > {
        CodecFilter::with_map(
            LinesCodec::new_with_max_length(16),
            |s: String| bytes::Bytes::from(s),
            LengthDelimitedCodec::builder()
                .length_field_length(1)
                .new_codec(),
        )
    }

    #[test]
    fn lines_to_length_frames_all_splits() {
        check_all_splits(
            lines_to_frames,
            b"ab\ncde\r\n\nxyz",
            b"\x02ab\x03cde\x00\x03xyz",
        );
    }

    #[test]
    fn identity_bytes_codec() {
        let data = pseudo_random(2, 100);
        let mut f = CodecFilter::new(BytesCodec::new(), BytesCodec::new());
        let out = run_chunks(
            &mut f,
            &[&data[..50], &data[50..]],
            FlushMode::Normal,
            Some(FlushMode::Finished),
        )
        .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn errors() {
        // The codec's own limit.
        let e = run_chunks(
            &mut lines_to_frames(),
            &[b"0123456789abcdefgh\n"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("codec"), "{e}");
        // Our bound for a codec without one.
        let mut f = CodecFilter::new(LengthDelimitedCodec::new(), BytesCodec::new()).max_buffer(10);
        let e = run_chunks(
            &mut f,
            &[b"\x00\x00\x00\x20", b"0123456789"],
            FlushMode::Normal,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("maximum of 10"), "{e}");
        // decode_eof with a partial frame.
        let mut f = CodecFilter::new(LengthDelimitedCodec::new(), BytesCodec::new());
        let e = run_chunks(
            &mut f,
            &[b"\x00\x00\x00\x05ab"],
            FlushMode::Normal,
            Some(FlushMode::Finished),
        )
        .unwrap_err();
        assert!(e.to_string().contains("remaining"), "{e}");
    }
}
