//! The seed's filter server (section 3.1): port 15000; an input filter that
//! upper-cases, an output filter that frames each reply as
//! `|--- HEAD ---|` + reply + `|--- END ---|\n`; every read is answered
//! `get information: N bytes!`; 4 s without input close the connection.
//! Logs each connection, read and close to stdout (`--quiet` for none,
//! `RUST_LOG` to choose).
//!
//! ```text
//! $ cargo run --example filter_server
//! listening on port 15000
//! 2025-01-01T12:00:00.000000Z  INFO conn{peer=127.0.0.1:42444}: new connection
//! 2025-01-01T12:00:00.000000Z  INFO conn{peer=127.0.0.1:42444}: read bytes=10 data="TEMP.DATA\x00"
//! 2025-01-01T12:00:00.000000Z  INFO conn{peer=127.0.0.1:42444}: connection closed reason="end of file from the client"
//! ```
//!
//! `--echo` answers with what was read (upper-cased and framed) instead, for
//! benchmarking; `--port 0 --bind 127.0.0.1` is what the tests use. The
//! first stdout line is always `listening on port N`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use evstack::seed::{self, filter_server};

/// The seed's filter server (libevent bufferevent filters, re-done on tokio).
#[derive(Debug, Parser)]
#[command(name = "filter_server", version)]
struct Args {
    /// Port to listen on (0: a free one; the first stdout line tells it).
    #[arg(long, default_value_t = seed::FILTER_SERVER_PORT)]
    port: u16,
    /// Address to bind (the seed binds INADDR_ANY).
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Answer with what was read (upper-cased, framed) instead of
    /// `get information: N bytes!`.
    #[arg(long)]
    echo: bool,
    /// Seconds without input before a connection is closed (0: never).
    #[arg(long, default_value_t = 4)]
    timeout: u64,
    /// Seconds a client may leave its replies unread before it is dropped
    /// (0: never).
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Most connections served at once; accepting pauses at the cap.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Runtime threads (1: one event loop, as the seed; 0: one per core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// No log output.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    seed::init_logging(args.quiet);
    let opts = filter_server::options().max_connections(args.max_connections);
    let bound = filter_server::bind(SocketAddr::new(args.bind, args.port), &opts);
    let config = filter_server::Config {
        echo: args.echo,
        read_timeout: seed::secs(args.timeout),
        write_timeout: seed::secs(args.write_timeout),
    };
    seed::serve_forever("filter_server", bound, args.threads, |l| {
        filter_server::serve(l, config)
    })
}
