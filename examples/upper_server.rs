//! The seed's first filter server: port 5001; an input filter that
//! upper-cases, an output filter that frames what is written with
//! `================\n` lines; every read is echoed back through both.
//!
//! ```text
//! $ cargo run --example upper_server &
//! listening on port 5001
//! $ printf 'hello, libevent 5001!\n' | nc -q1 127.0.0.1 5001
//! ================
//! HELLO, LIBEVENT 5001!
//! ================
//! ```
//!
//! Unlike the seed, which never closes a connection, it closes on the
//! client's end of file and after `--timeout` seconds without input.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use evstack::seed::{self, upper_server};

/// The seed's first filter server (upper-case in, `====` frames out).
#[derive(Debug, Parser)]
#[command(name = "upper_server", version)]
struct Args {
    /// Port to listen on (0: a free one; the first stdout line tells it).
    #[arg(long, default_value_t = seed::UPPER_SERVER_PORT)]
    port: u16,
    /// Address to bind (the seed binds INADDR_ANY).
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Seconds without input before a connection is closed (0: never, as
    /// the seed).
    #[arg(long, default_value_t = 60)]
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
    let opts = upper_server::options().max_connections(args.max_connections);
    let bound = upper_server::bind(SocketAddr::new(args.bind, args.port), &opts);
    let config = upper_server::Config {
        idle_timeout: seed::secs(args.timeout),
        write_timeout: seed::secs(args.write_timeout),
    };
    seed::serve_forever("upper_server", bound, args.threads, |l| {
        upper_server::serve(l, config)
    })
}
