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
