//! An upper-casing echo server on `Workers` (one SO_REUSEPORT listener per
//! thread), with a connection cap, EMFILE back-off, an idle timeout and a
//! write timeout.
//!
//! ```sh
//! cargo run -p listener --example upper_echo            # serve, talk to itself once, exit
//! cargo run -p listener --example upper_echo -- --serve 127.0.0.1:5001   # serve until Ctrl-C
//! ```
//!
//! Every bound has a flag: `--max-connections` (accepting pauses at the
//! cap), `--timeout` (seconds without input before a connection is closed),
//! `--write-timeout` (seconds a client may leave its echo unread before it
//! is dropped); 0 turns a timeout off. Each connection holds one 4 KiB
//! buffer and writes its echo before it reads again, so a client that sends
//! and never reads costs that buffer and the socket's own buffers, until
//! the write timeout drops it. When the process runs out of descriptors
//! the listeners back off (10 ms doubling to 1 s) instead of spinning, and
//! accept again once descriptors are free.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use evconnlistener::{Options, Workers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upper-casing echo server (libevent's evconnlistener, on tokio).
#[derive(Debug, Parser)]
#[command(name = "upper_echo")]
struct Args {
    /// Serve until killed (without it: serve, talk to itself once, exit).
    #[arg(long)]
    serve: bool,
    /// Address to listen on (port 0: a free one; the first stdout line
    /// tells it: `listening on ADDR`).
    #[arg(default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Listener threads, each with its own SO_REUSEPORT socket.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Most connections served at once, per thread.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds without input before a connection is closed (0: never).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Seconds a client may leave its echo unread before it is dropped
    /// (0: never).
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// No line per connection.
    #[arg(long, short)]
    quiet: bool,
}

/// `Some(s seconds)`, or `None` for 0.
fn secs(s: u64) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s))
}

/// Runs `fut`, for at most `limit` if there is one; `None` when time ran out.
async fn bounded<F: std::future::Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (idle, write) = (secs(args.timeout), secs(args.write_timeout));
    let quiet = args.quiet;

    let opts = Options::new()
        .backlog(64)
        .max_connections(args.max_connections);
    let pool = Workers::new(args.addr, opts)
        .threads(args.threads)
        .on_error(|e| eprintln!("accept error: {e}"))
        .start(move |mut conn, worker| {
            if !quiet {
                println!("worker {worker}: connection from {}", conn.peer_addr());
            }
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match bounded(idle, conn.read(&mut buf)).await {
                        Some(Ok(n @ 1..)) => n,
                        Some(_) => break, // end of file or error
                        None => {
                            if !quiet {
                                println!("worker {worker}: idle timeout");
                            }
                            break;
                        }
                    };
                    buf[..n].make_ascii_uppercase();
                    match bounded(write, conn.write_all(&buf[..n])).await {
                        Some(Ok(())) => {}
                        Some(Err(_)) => break,
                        None => {
                            if !quiet {
                                println!("worker {worker}: write timeout");
                            }
                            break;
                        }
                    }
                }
            });
        })?;
    println!("listening on {}", pool.local_addr());

    if args.serve {
        loop {
            std::thread::park();
        }
    }

    let mut client = std::net::TcpStream::connect(pool.local_addr())?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    client.write_all(b"hello, evconnlistener\n")?;
    let mut reply = [0u8; 22];
    client.read_exact(&mut reply)?;
    print!("reply: {}", String::from_utf8_lossy(&reply));
    pool.shutdown();
    Ok(())
}
