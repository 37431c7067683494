//! The framing filters as tokio-util codecs on plain tokio streams over loopback TCP: lines one
//! way, length-prefixed frames the other, with `Framed`, `FramedRead` and `FramedWrite`; a
//! bound crossed by the peer ends the stream with the filters' error.

mod common;

use std::time::Duration;

use bufferevent_filters::framing::{LengthDecoder, LengthEncoder, LengthPrefix, Lines, Width};
use bytes::Bytes;
use evbuffer::Eol;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, FramedRead, FramedWrite};

const T: Duration = Duration::from_secs(60);

/// Client: lines out (CR LF), length frames in. Server: lines in, each answered with one
/// length frame holding the upper-cased line.
#[tokio::test]
async fn lines_one_way_length_frames_the_other_over_tcp() {
    tokio::time::timeout(T, async {
        let (client, server) = common::tcp_pair().await;
        let fmt = LengthPrefix::new(Width::Two).max_frame(4096);
        let server = tokio::spawn(async move {
            let (r, w) = server.into_split();
            let mut lines = FramedRead::new(r, Lines::new(Eol::Crlf, 4096));
            let mut frames = FramedWrite::new(w, LengthEncoder::new(fmt));
            let mut n = 0;
            while let Some(line) = lines.next().await {
                let mut line = line.unwrap();
                line.make_ascii_uppercase();
                frames.send(line.freeze()).await.unwrap();
                n += 1;
            }
            n
        });
        let (r, w) = client.into_split();
        let mut out = FramedWrite::new(w, Lines::new(Eol::Crlf, 4096).terminator(&b"\r\n"[..]));
        let mut back = FramedRead::new(r, LengthDecoder::new(fmt));
        let sent: Vec<Vec<u8>> = (0..2000)
            .map(|i| {
                let len = (i * 7) % 300;
                common::text(i as u64, len)
                    .iter()
                    .map(|&b| if b == b'\n' { b' ' } else { b })
                    .collect()
            })
            .collect();
        let writer = async {
            for line in &sent {
                out.feed(Bytes::copy_from_slice(line)).await.unwrap();
            }
            out.flush().await.unwrap();
            out.get_mut().shutdown().await.unwrap();
        };
        let reader = async {
            let mut got = Vec::new();
            while let Some(frame) = back.next().await {
                got.push(frame.unwrap().to_vec());
            }
            got
        };
        let ((), got) = tokio::join!(writer, reader);
        assert_eq!(server.await.unwrap(), sent.len());
        assert_eq!(got.len(), sent.len());
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(g, &s.to_ascii_uppercase());
        }
    })
    .await
    .unwrap();
}

/// `Framed` (both directions one codec) with length frames, and a peer announcing a frame over
/// the maximum: the stream yields the filters' error, naming the sizes.
#[tokio::test]
async fn framed_length_codec_and_an_oversized_frame() {
    tokio::time::timeout(T, async {
        let (client, server) = common::tcp_pair().await;
        let fmt = LengthPrefix::new(Width::Four).max_frame(1000);
        let server = tokio::spawn(async move {
            let mut f = Framed::new(server, LengthDecoder::new(fmt));
            let mut echoed = 0;
            let err = loop {
                match f.next().await {
                    Some(Ok(frame)) => {
                        let mut raw = Framed::new(f.get_mut(), LengthEncoder::new(fmt));
                        raw.send(frame.freeze()).await.unwrap();
                        echoed += 1;
                    }
                    Some(Err(e)) => break e,
                    None => panic!("stream ended without the error"),
                }
            };
            (echoed, err)
        });
        let mut c = Framed::new(client, LengthEncoder::new(fmt));
        c.send(Bytes::from_static(b"first")).await.unwrap();
        c.send(Bytes::from(vec![7u8; 1000])).await.unwrap();
        // Read the two echoes with a decoder on the same stream.
        let mut r = Framed::new(c.get_mut(), LengthDecoder::new(fmt));
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"first");
        assert_eq!(r.next().await.unwrap().unwrap().len(), 1000);
        // A frame the codec refuses to send is refused locally too.
        let e = c.send(Bytes::from(vec![0u8; 1001])).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("1001 bytes exceeds the maximum of 1000"),
            "{e}"
        );
        // A peer that announces 70,000 bytes.
        c.get_mut()
            .write_all(&70_000u32.to_be_bytes())
            .await
            .unwrap();
        let (echoed, err) = server.await.unwrap();
        assert_eq!(echoed, 2);
        assert_eq!(
            err.to_string(),
            "length decoder: frame of 70000 bytes exceeds the maximum of 1000 bytes"
        );
    })
    .await
    .unwrap();
}
