//! Shared by the filters_* fuzz targets: run a decoder over input fed in chunks and compare
//! with the same input fed whole (split invariance), or check it just fails cleanly.
#![allow(dead_code)]

use bufferevent::{Filter, FlushMode};
use evbuffer::EvBuffer;

/// Feeds `data` in pieces whose sizes come from `sizes` (cycled; 0 means 1), calling the filter
/// after each piece (NORMAL, or FLUSH when `flush`), then once with FINISHED. Returns the output
/// or `None` on a filter error. Panics if a call overshoots a limit wildly.
pub fn run(f: &mut dyn Filter, data: &[u8], sizes: &[u8], limit: Option<usize>, flush: bool) -> Option<Vec<u8>> {
    let mut src = EvBuffer::new();
    let mut dst = EvBuffer::new();
    let mut i = 0;
    let mut k = 0;
    let mode = if flush { FlushMode::Flush } else { FlushMode::Normal };
    while i < data.len() {
        let n = sizes.get(k % sizes.len().max(1)).map_or(data.len(), |&s| (s as usize).max(1));
        let end = (i + n).min(data.len());
        src.add(&data[i..end]).unwrap();
        i = end;
        k += 1;
        // Drain as a bufferevent would: call again while it makes progress.
        for _ in 0..10_000 {
            let (a, b) = (src.len(), dst.len());
            f.process(&mut src, &mut dst, limit, mode).ok()?;
            if src.len() == a && dst.len() == b {
                break;
            }
        }
    }
    for _ in 0..10_000 {
        let (a, b) = (src.len(), dst.len());
        f.process(&mut src, &mut dst, limit, mode).ok()?;
        if src.len() == a && dst.len() == b {
            break;
        }
    }
    f.process(&mut src, &mut dst, None, FlushMode::Finished).ok()?;
    Some(dst.peek(..).flat_map(|e| e.iter().copied()).collect())
}

/// Feeds `data` to a tokio-util `Decoder` in the same pieces as [`run`], then `decode_eof`;
/// returns the items joined, each followed by `sep`, or `None` on an error.
pub fn decode<D>(d: &mut D, data: &[u8], sizes: &[u8], sep: &[u8]) -> Option<Vec<u8>>
where
    D: tokio_util::codec::Decoder<Item = bytes::BytesMut>,
{
    let mut buf = bytes::BytesMut::new();
    let mut out = Vec::new();
    let (mut i, mut k) = (0, 0);
    while i < data.len() {
        let n = sizes.get(k % sizes.len().max(1)).map_or(data.len(), |&s| (s as usize).max(1));
        let end = (i + n).min(data.len());
        buf.extend_from_slice(&data[i..end]);
        i = end;
        k += 1;
        while let Some(item) = d.decode(&mut buf).ok()? {
            out.extend_from_slice(&item);
            out.extend_from_slice(sep);
        }
    }
    while let Some(item) = d.decode_eof(&mut buf).ok()? {
        out.extend_from_slice(&item);
        out.extend_from_slice(sep);
        if buf.is_empty() {
            break;
        }
    }
    Some(out)
}
