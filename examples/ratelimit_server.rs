//! A rate-limited download server: every connection gets an endless (or
//! `--bytes`-long) stream of the byte pattern `i % 251`, written through a
//! socket bufferevent limited per connection (`--rate`, libevent's
//! `bufferevent_set_rate_limit`) and/or as a group of all connections
//! (`--group-rate`, libevent's rate-limit groups). Rates are bytes per
//! second, bursts bytes.
//!
//! ```text
//! $ cargo run --release --example ratelimit_server -- --port 0 --rate 200000 --group-rate 1000000 &
//! listening on port 41234
//! $ curl -s --max-time 3 telnet://127.0.0.1:41234 | wc -c    # about 3 s x 200 kB/s
//! 600000
//! ```
//!
//! The first stdout line is `listening on port N` (with `--port 0`, the
//! port the system chose). What clients send is discarded; a client's close
//! ends its connection. A client that stops reading is dropped after
//! `--write-timeout` seconds, one that sends nothing after `--timeout`
//! seconds if given; `--max-connections` caps the connections, and running
//! out of descriptors makes the listener back off rather than exit.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use evstack::ratelimit_server::{self, Config, DEFAULT_PORT};
use tracing_subscriber::EnvFilter;

/// A download server whose connections are rate limited, alone and as a
/// group.
#[derive(Debug, Parser)]
#[command(name = "ratelimit_server", version)]
struct Args {
    /// Port to listen on (0: a free one; the first stdout line tells it).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Per-connection limit, bytes per second (none if not given).
    #[arg(long)]
    rate: Option<u64>,
    /// Per-connection burst, bytes (default: one tick's worth of --rate).
    #[arg(long, requires = "rate")]
    burst: Option<u64>,
    /// Limit shared by all connections, bytes per second (none if not given).
    #[arg(long)]
    group_rate: Option<u64>,
    /// The group's burst, bytes (default: one tick's worth of --group-rate).
    #[arg(long, requires = "group_rate")]
    group_burst: Option<u64>,
    /// Tick of the token buckets, milliseconds (at least 1).
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Smallest share of the group a connection gets at once, bytes
    /// (libevent's min_share, default 64).
    #[arg(long, requires = "group_rate")]
    min_share: Option<u64>,
    /// Bytes to send per connection, then close (default: until the client
    /// closes).
    #[arg(long)]
    bytes: Option<u64>,
    /// Seconds a client may send nothing before it is dropped (0: never,
    /// the default: a downloader need not send anything).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Seconds a client may leave its stream unread before it is dropped
    /// (0: never).
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Most connections served at once; accepting pauses at the cap.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// No log output.
    #[arg(long, short)]
    quiet: bool,
}

impl Args {
    fn config(&self) -> Config {
        Config {
            rate: self.rate,
            burst: self.burst,
            group_rate: self.group_rate,
            group_burst: self.group_burst,
            tick: Duration::from_millis(self.tick_ms),
            min_share: self.min_share,
            bytes: self.bytes,
            read_timeout: evstack::seed::secs(self.timeout),
            write_timeout: evstack::seed::secs(self.write_timeout),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = if args.quiet {
        EnvFilter::new("off")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .try_init();

    let config = args.config();
    // refuse a bad configuration before binding
    if let Err(e) = config.connection_limit().and_then(|_| config.group_limit()) {
        eprintln!("ratelimit_server: {e}");
        return ExitCode::FAILURE;
    }
    let opts = evstack::listener::Options::new()
        .reuse_addr(true)
        .max_connections(args.max_connections);
    let listener = match ratelimit_server::bind(SocketAddr::new(args.bind, args.port), &opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ratelimit_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().as_inet().map_or(0, |a| a.port());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ratelimit_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on port {port}");
    rt.block_on(async {
        match ratelimit_server::serve(listener, &config) {
            Ok(_server) => std::future::pending::<ExitCode>().await,
            Err(e) => {
                eprintln!("ratelimit_server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
