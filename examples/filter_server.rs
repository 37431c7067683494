//! The seed's filter server: port 15000; an input filter that
//! upper-cases, an output filter that frames each reply as
//! `|--- HEAD ---|` + reply + `|--- END ---|\n`; every read is answered
//! `get information: N bytes!`; 4 s without input close the connection.
//! Logs each connection, read and close to stdout (`--quiet` for none,
//! `RUST_LOG` to choose).
//!
//! ```text
//! $ cargo run --example filter_server
//! listening on port 15000
//! 2025-01-01T12:00:00.000000Z  INFO bufferevent{kind=Filter peer=127.0.0.1:42444}: new connection
//! 2025-01-01T12:00:00.000000Z  INFO bufferevent{kind=Filter peer=127.0.0.1:42444}: read bytes=10 data="TEMP.DATA\x00"
//! 2025-01-01T12:00:00.000000Z  INFO bufferevent{kind=Filter peer=127.0.0.1:42444}: connection closed peer=127.0.0.1:42444 client=- to=- reads=1 bytes_in=10 replies=1 bytes_out=26 pending_out=0 duration_ms=1 reason=end of file from the client
//! ```
//!
//! `--echo` answers with what was read (upper-cased and framed) instead, for
//! benchmarking; `--port 0 --bind 127.0.0.1` is what the tests use. The
//! first stdout line is always `listening on port N`.
//!
//! Behind a load balancer: `--proxy-protocol v2` (or `v1`, `any`) expects
//! a PROXY protocol header on every connection and logs the real client
//! (`client=...` in the close line); SIGTERM drains (stops accepting,
//! finishes every reply, closes, at most `--drain-deadline` seconds) and
//! prints `drained: N connections drained, M cut at the deadline...`; a
//! listening socket passed by socket activation (`LISTEN_FDS`, as systemd
//! or a predecessor passes it) is served instead of binding, which is how a
//! new process takes over the port without refusing a connection. SIGHUP
//! does that by itself: it starts the program again on the same socket,
//! then drains.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bufferevent_filters::proxy::Accept;
use clap::{Parser, ValueEnum};
use evstack::seed::{self, filter_server};

/// Which PROXY protocol header connections start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProxyArg {
    /// No header (the default).
    Off,
    /// The v1 text line (HAProxy `send-proxy`).
    V1,
    /// The v2 binary block (HAProxy `send-proxy-v2`).
    V2,
    /// Either version.
    Any,
}

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
    /// Expect a PROXY protocol header on every connection; a connection
    /// without a valid one is closed.
    #[arg(long, value_enum, default_value_t = ProxyArg::Off)]
    proxy_protocol: ProxyArg,
    /// Seconds a connection has to deliver its whole PROXY header.
    #[arg(long, default_value_t = 5)]
    proxy_timeout: u64,
    /// On SIGTERM/SIGINT, seconds to let connections finish before the
    /// rest are cut (0: no limit).
    #[arg(long, default_value_t = 30)]
    drain_deadline: u64,
    /// Answer each read this many milliseconds late (simulated work).
    #[arg(long, default_value_t = 0)]
    reply_delay_ms: u64,
    /// No log output.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    seed::init_logging(args.quiet);
    let opts = filter_server::options().max_connections(args.max_connections);
    let bound = filter_server::bind_or_inherit(SocketAddr::new(args.bind, args.port), &opts);
    let accept = match args.proxy_protocol {
        ProxyArg::Off => None,
        ProxyArg::V1 => Some(Accept::V1),
        ProxyArg::V2 => Some(Accept::V2),
        ProxyArg::Any => Some(Accept::Any),
    };
    let config = filter_server::Config {
        echo: args.echo,
        read_timeout: seed::secs(args.timeout),
        write_timeout: seed::secs(args.write_timeout),
        proxy: accept.map(|a| filter_server::ProxyProtocol {
            accept: a,
            header_timeout: std::time::Duration::from_secs(args.proxy_timeout.max(1)),
        }),
        reply_delay: (args.reply_delay_ms > 0)
            .then(|| std::time::Duration::from_millis(args.reply_delay_ms)),
        ..Default::default()
    };
    filter_server::run_until_drained(bound, args.threads, seed::secs(args.drain_deadline), config)
}
