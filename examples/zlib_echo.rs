//! A compressed echo: the server inflates what it reads and deflates what it writes back, with
//! zlib filters on every connection's bufferevent; the client streams a file (or generated
//! data) through the compressed connection and checks the echo byte for byte.
//!
//! ```text
//! $ cargo run --example zlib_echo -- server --port 0
//! listening on port 40123
//! $ cargo run --example zlib_echo -- client --port 40123 --bytes 10000000
//! ok: 10000000 bytes echoed byte-exact; 1234567 compressed bytes sent, 1234890 received
//! ```
//!
//! Both sides use `bufferevent_filters::zlib` on a filter bufferevent over a socket bufferevent, driven by
//! libevent-style callbacks: the client writes more whenever its output drains (`on_write`),
//! flushes (`BEV_FLUSH`, a zlib sync flush) once everything is written, and closes gracefully
//! (`BEV_FINISHED`: the stream trailer) once the whole echo is back. When the connection ends
//! on an error (a limit, corrupt data, a reset) the client prints the error and exits 1.
//!
//! The server's read callback is the obvious echo (write everything read); the bufferevent
//! keeps that bounded against a client that never reads. The server accepts through
//! `listener` (back-off on `EMFILE`, `--max-connections`), closes a connection after
//! `--timeout` seconds without input and drops a client that leaves its echo unread for
//! `--write-timeout` seconds (0: never, for both).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};
use evstack::bufferevent::{BufferEvent, Callbacks, Dir, Events, FlushMode, Options};
use evstack::evbuffer::EvBuffer;
use evstack::filters::zlib::{Compression, Compressor, Decompressor, Format};
use evstack::filters::{ByteCounter, Chain, Counting};
use evstack::listener::{Connection, Listener, Options as ListenOptions};
use evstack::seed;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(
    name = "zlib_echo",
    version,
    about = "Echo over a zlib-compressed connection"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// Container format on the wire.
    #[arg(long, value_enum, default_value_t = Wire::Zlib, global = true)]
    format: Wire,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve echo connections until killed.
    Server {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Port (0: a free one, printed on the first line).
        #[arg(long, default_value_t = 5002)]
        port: u16,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// Send data through the server and check the echo.
    Client {
        /// Server host address.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Server port.
        #[arg(long, default_value_t = 5002)]
        port: u16,
        /// File to send (default: generated text).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Bytes of generated text to send when no file is given.
        #[arg(long, default_value_t = 4 << 20)]
        bytes: usize,
    },
}

/// The server's bounds on each connection and on the number of connections.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Bounds {
    /// Seconds without input before a connection is closed (0: never).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Seconds a client may leave its echo unread before it is dropped (0: never).
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Most connections served at once; accepting pauses at the cap.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Wire {
    Deflate,
    Zlib,
    Gzip,
}

impl From<Wire> for Format {
    fn from(w: Wire) -> Format {
        match w {
            Wire::Deflate => Format::Deflate,
            Wire::Zlib => Format::Zlib,
            Wire::Gzip => Format::Gzip,
        }
    }
}

/// A zlib filter bufferevent over a socket, counting compressed bytes each way.
fn compressed<S>(tcp: S, format: Format) -> (BufferEvent, ByteCounter, ByteCounter)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (rx, tx) = (Counting::new(), Counting::new());
    let (rxc, txc) = (rx.counter(), tx.counter());
    let sock = BufferEvent::socket(tcp, Options::CLOSE_ON_FREE);
    let mut bev = BufferEvent::filter(
        sock,
        Chain::new().then(rx).then(Decompressor::new(format)),
        Chain::new()
            .then(Compressor::new(format, Compression::default()))
            .then(tx),
        Options::CLOSE_ON_FREE,
    );
    bev.enable(Dir::READ | Dir::WRITE);
    (bev, rxc, txc)
}

/// Serves echo connections until the process is killed; the first stdout line is
/// `listening on port N`.
fn server(bind: std::net::IpAddr, port: u16, format: Format, bounds: Bounds) -> ExitCode {
    let opts = ListenOptions::new()
        .reuse_addr(true)
        .max_connections(bounds.max_connections);
    let bound = Listener::bind(SocketAddr::new(bind, port), &opts);
    seed::serve_forever("zlib_echo server", bound, 1, |l| {
        l.spawn(move |conn| serve_connection(conn, format, bounds))
    })
}

/// One echo connection on a task of its own; its slot under the connection cap is freed
/// when it ends.
fn serve_connection(conn: Connection, format: Format, bounds: Bounds) {
    let (stream, peer, permit) = conn.into_parts();
    tracing::info!(%peer, "new connection");
    let (mut bev, rx, tx) = compressed(stream, format);
    bev.set_timeouts(seed::secs(bounds.timeout), seed::secs(bounds.write_timeout));
    tokio::spawn(async move {
        let _ = bev.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut all = EvBuffer::new();
                    if bev.read_buffer(&mut all).is_ok() && bev.write_buffer(&mut all).is_ok() {
                        // A sync flush: the client can decode the echo now.
                        let _ = bev.flush(FlushMode::Flush);
                    }
                })
                .on_event(move |bev, what| {
                    if !seed::close_on_timeout_or_error(bev, what, &peer) && what.contains(Events::EOF) {
                        tracing::info!(%peer, received = rx.get(), sent = tx.get(), "client finished");
                        bev.close_gracefully();
                    }
                }),
        )
        .await;
        drop(permit);
    });
}

struct Progress {
    data: Vec<u8>,
    sent: usize,
    echo: Vec<u8>,
    failure: Option<String>,
}

async fn client(addr: SocketAddr, data: Vec<u8>, format: Format) -> Result<String, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut bev, rx, tx) = compressed(tcp, format);
    let total = data.len();
    let state = Arc::new(Mutex::new(Progress {
        data,
        sent: 0,
        echo: Vec::with_capacity(total),
        failure: None,
    }));
    // Write in 256 KiB pieces, more each time the output drains (libevent's write callback).
    bev.set_watermark(Dir::WRITE, 64 * 1024, 0)
        .map_err(|e| e.to_string())?;
    let feed = |bev: &mut BufferEvent, st: &mut Progress| {
        if st.sent < st.data.len() {
            let end = (st.sent + 256 * 1024).min(st.data.len());
            if let Err(e) = bev.write(&st.data[st.sent..end]) {
                st.failure = Some(e.to_string());
                bev.close();
                return;
            }
            st.sent = end;
            if st.sent == st.data.len() {
                let _ = bev.flush(FlushMode::Flush);
            }
        }
    };
    feed(&mut bev, &mut state.lock().unwrap());
    let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
    let _ = bev.run(
        Callbacks::new()
            .on_write(move |bev| feed(bev, &mut s1.lock().unwrap()))
            .on_read(move |bev| {
                let mut st = s2.lock().unwrap();
                let mut buf = vec![0; bev.input().len()];
                let n = bev.read(&mut buf);
                st.echo.extend_from_slice(&buf[..n]);
                if st.echo.len() >= st.data.len() {
                    bev.close_gracefully(); // BEV_FINISHED: the zlib trailer, then FIN
                }
            })
            .on_event(move |bev, what| {
                if what.intersects(Events::ERROR | Events::EOF | Events::TIMEOUT) {
                    let mut st = s3.lock().unwrap();
                    if st.echo.len() < st.data.len() && st.failure.is_none() {
                        let (got, want) = (st.echo.len(), st.data.len());
                        st.failure = Some(match bev.error() {
                            Some(e) => {
                                format!("connection failed after {got} of {want} bytes echoed: {e}")
                            }
                            None if what.contains(Events::EOF) => format!(
                                "the server closed the connection after {got} of {want} bytes echoed"
                            ),
                            None => format!(
                                "connection ended ({what:?}) after {got} of {want} bytes echoed"
                            ),
                        });
                    }
                    bev.close();
                }
            }),
    )
    .await;
    let st = state.lock().unwrap();
    if let Some(f) = &st.failure {
        return Err(f.clone());
    }
    if st.echo != st.data {
        return Err(format!(
            "echo differs: {} bytes back for {} sent",
            st.echo.len(),
            st.data.len()
        ));
    }
    Ok(format!(
        "ok: {} bytes echoed byte-exact; {} compressed bytes sent, {} received",
        total,
        tx.get(),
        rx.get()
    ))
}

/// Generated, compressible text.
fn text(len: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "bufferevent ",
        "evbuffer ",
        "filter ",
        "zlib ",
        "deflate ",
        "libevent\n",
        "tokio ",
        "rust ",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % 8) as usize].as_bytes());
    }
    out.truncate(len);
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let format = Format::from(args.format);
    match args.cmd {
        Cmd::Server { bind, port, bounds } => server(bind, port, format, bounds),
        Cmd::Client {
            host,
            port,
            file,
            bytes,
        } => {
            let data = match file {
                Some(p) => match std::fs::read(&p) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("zlib_echo client: cannot read {}: {e}", p.display());
                        return ExitCode::FAILURE;
                    }
                },
                None => text(bytes),
            };
            let rt = match seed::runtime(1) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("zlib_echo client: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(client(SocketAddr::new(host, port), data, format)) {
                Ok(msg) => {
                    println!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zlib_echo client: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
