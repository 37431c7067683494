//! tokio_filter_echo: the plain tokio program a Rust user would write instead
//! of `filter_server --echo`, the third side of the network benchmarks N1,
//! N1-scale and N5 (`benches/network.sh`).
//!
//! It does what the seed's filter echo does (upper-case what was read, answer
//! it framed as `|--- HEAD ---|` + payload + `|--- END ---|\n`), written the
//! idiomatic way, with no evstack code and no tuning:
//!
//! - one current-thread runtime (as `filter_server --threads 1`);
//! - a task per connection;
//! - `tokio_util::codec::Framed` with a codec whose `decode` takes all the
//!   bytes available and upper-cases them, and whose `encode` writes the
//!   markers around the payload;
//! - `framed.send(frame)` per frame, so every reply is flushed on its own;
//! - a read timeout (default 60 s, as the other servers) as
//!   `tokio::time::timeout` around `framed.next()`; no write timeout;
//! - `TCP_NODELAY` on every accepted socket, as a request/response server
//!   usually sets it. `Framed` reads into the free room of its 8 KiB buffer,
//!   so a 100-byte message that meets the buffer's end is read in two pieces
//!   and answered with two frames; without `TCP_NODELAY` the second frame
//!   waits for the first one's ACK, which the client delays by 40 ms (a
//!   client waiting for its whole reply sends nothing to carry it). The C and
//!   evstack servers read a message whole (libevent sizes its read with
//!   `FIONREAD`; evbuffer reserves a fresh chunk), so they never hit that.
//!
//! ```text
//! $ cargo run --release --example tokio_filter_echo -- --port 0
//! listening on port 40125
//! ```
//!
//! It is registered in the root `Cargo.toml` as an `[[example]]` with an
//! explicit path, so `cargo build --release --example tokio_filter_echo`
//! builds it next to the other benchmark servers.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// The seed's frame markers.
const HEAD: &[u8] = b"|--- HEAD ---|";
const END: &[u8] = b"|--- END ---|\n";

#[derive(Debug, Parser)]
#[command(
    name = "tokio_filter_echo",
    version,
    about = "The filter echo (upper-case, HEAD/END frames) as a plain tokio + Framed program"
)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port (0: a free one, printed as "listening on port N").
    #[arg(long, default_value_t = 15000)]
    port: u16,
    /// Read timeout in seconds: a connection that sends nothing for this
    /// long is closed (0: none).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Decodes whatever has arrived as one upper-cased frame; encodes a reply
/// between the markers.
#[derive(Debug, Default, Clone, Copy)]
struct FilterCodec;

impl Decoder for FilterCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Self::Error> {
        if src.is_empty() {
            return Ok(None);
        }
        let mut data = src.split();
        data.make_ascii_uppercase();
        Ok(Some(data))
    }
}

impl Encoder<BytesMut> for FilterCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: BytesMut, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.reserve(HEAD.len() + item.len() + END.len());
        dst.put_slice(HEAD);
        dst.put_slice(&item);
        dst.put_slice(END);
        Ok(())
    }
}

/// Echoes one connection until end of file, an error or the read timeout.
async fn serve(stream: TcpStream, timeout: Option<Duration>) -> std::io::Result<()> {
    let mut framed = Framed::new(stream, FilterCodec);
    loop {
        let next = match timeout {
            Some(t) => match tokio::time::timeout(t, framed.next()).await {
                Ok(next) => next,
                Err(_) => return Ok(()), // read timeout: close
            },
            None => framed.next().await,
        };
        match next {
            Some(frame) => framed.send(frame?).await?,
            None => return Ok(()),
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(args.bind, args.port)).await?;
    println!("listening on port {}", listener.local_addr()?.port());
    let timeout = (args.timeout > 0).then(|| Duration::from_secs(args.timeout));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: keep serving the others.
            Err(e) => {
                eprintln!("tokio_filter_echo: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("tokio_filter_echo: TCP_NODELAY: {e}");
        }
        tokio::spawn(async move {
            if let Err(e) = serve(stream, timeout).await {
                eprintln!("tokio_filter_echo: connection: {e}");
            }
        });
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio_filter_echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_filter_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_everything_and_upper_cases_it() {
        let mut src = BytesMut::from(&b"hello, World"[..]);
        let frame = FilterCodec.decode(&mut src).unwrap().unwrap();
        assert_eq!(&frame[..], b"HELLO, WORLD");
        assert!(src.is_empty());
        assert!(FilterCodec.decode(&mut src).unwrap().is_none());
    }

    #[test]
    fn encode_frames_the_payload() {
        let mut dst = BytesMut::new();
        FilterCodec
            .encode(BytesMut::from(&b"ABC"[..]), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"|--- HEAD ---|ABC|--- END ---|\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn echoes_framed_upper_case_over_loopback() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve(s, Some(Duration::from_secs(5))).await
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let want = b"|--- HEAD ---|PING|--- END ---|\n";
        let mut got = vec![0u8; want.len()];
        tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], want);
        drop(c);
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
