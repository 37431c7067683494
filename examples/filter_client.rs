//! The seed's filter client: connects to 127.0.0.1:15000,
//! wraps the connection in pass-through filters once connected (the input
//! one prints how many bytes it sees), sends the 10 bytes `temp.data\0`,
//! prints the framed reply and exits.
//!
//! ```text
//! $ cargo run --example filter_client
//! Connect to server successfully.
//! byte sizes: 54
//! from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|
//!
//! ```
//!
//! It waits for the whole reply (up to `|--- END ---|\n`, at most 64 KiB,
//! `--timeout` seconds), not just the first read as the seed does.
//!
//! Exit status: 0 with the reply printed; 1 with the reason on stderr when
//! connecting fails (`connecting to 127.0.0.1:15000 failed: Connection
//! refused (os error 111)`), takes longer than `--timeout`, or the reply
//! does not come whole. (The seed prints `time out.` for every failure and
//! exits 0.) Set `RUST_LOG=debug` for the library's logs.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use evstack::seed::{self, filter_client, filter_client::Progress};

/// The seed's filter client.
#[derive(Debug, Parser)]
#[command(name = "filter_client", version)]
struct Args {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = seed::FILTER_SERVER_PORT)]
    port: u16,
    /// Seconds allowed for connecting, and for the reply.
    #[arg(long, default_value_t = 4)]
    timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    seed::init_logging(std::env::var_os("RUST_LOG").is_none());
    let timeout = Duration::from_secs(args.timeout.max(1));
    let config = filter_client::Config {
        host: args.host,
        port: args.port,
        connect_timeout: timeout,
        reply_timeout: timeout,
        ..Default::default()
    };
    let rt = match seed::runtime(1) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("filter_client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(filter_client::run(&config, |p| match p {
        Progress::Connected => println!("Connect to server successfully."),
        Progress::Received(n) => println!("byte sizes: {n}"),
        _ => {}
    }));
    match result {
        Ok(reply) => {
            // The reply as bytes, as the seed's `cout << msg << endl`.
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(b"from server: ")
                .and_then(|()| out.write_all(&reply))
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                eprintln!("filter_client: cannot write to stdout: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("filter_client: {e}");
            ExitCode::FAILURE
        }
    }
}
