//! What the examples' `main` functions share: logging to stdout (the
//! originals print to stdout) and the runtime that stands for libevent's
//! `event_base`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs a `tracing-subscriber` fmt layer writing to stdout: at `info`
/// by default, or as `RUST_LOG` says; nothing at all with `quiet`. Colours
/// only on a terminal. Does nothing if a subscriber is already installed.
pub fn init_logging(quiet: bool) {
    let filter = if quiet {
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
}

/// The runtime a seed program runs on (its `event_base`): with `threads`
/// = 1 a single-threaded one, as the seed's one event loop; otherwise a
/// multi-threaded one with that many workers (0: one per core).
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b
    };
    b.enable_all().build()
}

/// An option given in whole seconds, where `0` means "never" (the examples'
/// `--timeout` / `--write-timeout`).
pub fn secs(s: u64) -> Option<std::time::Duration> {
    (s > 0).then(|| std::time::Duration::from_secs(s))
}

/// The `main` the seed's servers share once their options are parsed: bind
/// (a failure is reported on stderr under the program's `name`), start the
/// runtime with `threads`, print `listening on port N` as the first stdout
/// line, then `serve` until the process is stopped.
pub fn serve_forever<H>(
    name: &str,
    bound: Result<listener::Listener, listener::Error>,
    threads: usize,
    serve: impl FnOnce(listener::Listener) -> H,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().as_inet().map_or(0, |a| a.port());
    let rt = match runtime(threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on port {port}");
    rt.block_on(async {
        // Keep the server's handle alive: dropping it stops accepting.
        let _server = serve(listener);
        std::future::pending::<ExitCode>().await
    })
}
