//! What the examples' `main` functions share: logging to stdout (the
//! originals print to stdout) and the runtime that stands for libevent's
//! `event_base`.

use std::io::{IsTerminal, Write};

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
    bound: Result<evconnlistener::Listener, evconnlistener::Error>,
    threads: usize,
    serve: impl FnOnce(evconnlistener::Listener) -> H,
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

/// The listening socket: the one inherited through socket activation
/// (`LISTEN_PID`/`LISTEN_FDS`, as systemd or a predecessor process passes
/// it) if there is one, otherwise a new one bound to `addr`. The flag says
/// which.
pub(crate) fn bind_or_inherit(
    addr: std::net::SocketAddr,
    opts: &evconnlistener::Options,
) -> Result<(evconnlistener::Listener, bool), evconnlistener::Error> {
    let mut inherited = evconnlistener::Listener::activated(opts)?.into_iter();
    match inherited.next() {
        Some(l) => {
            if inherited.len() > 0 {
                tracing::warn!(
                    extra = inherited.len(),
                    "more than one inherited socket: serving the first"
                );
            }
            Ok((l, true))
        }
        None => Ok((evconnlistener::Listener::bind(addr, opts)?, false)),
    }
}

/// How long a successor started on SIGHUP must stay up before this process
/// drains (a successor that fails at once leaves this one serving).
const HANDOFF_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The signals a draining server obeys: SIGTERM and SIGINT stop it, SIGHUP
/// hands its socket to a successor first.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Starts this program again (same `argv`) with `socket` as its inherited
/// listener, and checks that it is still running a moment later; returns
/// its process id.
async fn hand_over(socket: &std::os::fd::OwnedFd) -> Result<u32, String> {
    let mut args = std::env::args_os();
    let program = args.next().ok_or("no program name in argv")?;
    let mut cmd = evconnlistener::activation::successor_command(&program, args, socket)
        .map_err(|e| format!("cannot prepare the successor: {e}"))?;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    tokio::time::sleep(HANDOFF_CHECK).await;
    match child.try_wait() {
        Ok(Some(status)) => Err(format!("the successor exited at once: {status}")),
        _ => Ok(child.id()),
    }
}

/// Like [`serve_forever`], but the server stops gracefully: on SIGTERM or
/// SIGINT (or when something else starts the drain given to `serve`) it
/// stops accepting, lets every connection finish (see
/// [`Drain`](evconnlistener::Drain)), cuts what is left after `deadline`, prints
/// `drained: ...` with the counts as its last stdout line, and exits.
///
/// On SIGHUP it first starts its successor (the same program and
/// arguments) on the same listening socket, as socket activation passes it,
/// and drains once the successor is up: a restart that refuses no
/// connection.
pub(crate) fn serve_until_drained(
    name: &str,
    bound: Result<(evconnlistener::Listener, bool), evconnlistener::Error>,
    threads: usize,
    deadline: Option<std::time::Duration>,
    serve: impl FnOnce(
        evconnlistener::Listener,
        evconnlistener::Drain,
    ) -> evconnlistener::ListenerHandle,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let (listener, inherited) = match bound {
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
        if inherited {
            tracing::info!(port, "serving an inherited listening socket");
        }
        // Kept for a successor: the socket itself goes to the accept loop.
        let handoff = listener.try_clone_fd();
        let drain = evconnlistener::Drain::new();
        let server = serve(listener, drain.clone());
        match Signals::new() {
            Ok(mut sig) => loop {
                tokio::select! {
                    _ = sig.term.recv() => tracing::info!(signal = "SIGTERM", ?deadline, "draining"),
                    _ = sig.int.recv() => tracing::info!(signal = "SIGINT", ?deadline, "draining"),
                    () = drain.started() => tracing::info!(?deadline, "draining"),
                    _ = sig.hup.recv() => {
                        let started = match &handoff {
                            Ok(fd) => hand_over(fd).await,
                            Err(e) => Err(format!("no copy of the listening socket: {e}")),
                        };
                        match started {
                            Ok(pid) => tracing::info!(
                                signal = "SIGHUP",
                                successor = pid,
                                "successor serving the same socket; draining"
                            ),
                            Err(e) => {
                                tracing::error!(error = %e, "SIGHUP: restart failed; still serving");
                                continue;
                            }
                        }
                    }
                }
                break;
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot watch for signals: stop only by SIGKILL");
                drain.started().await;
            }
        }
        drain.start();
        // Accepting is paused; close this process's copy of the socket. A
        // socket shared with a successor stays open there, and its queued
        // connections are the successor's.
        server.close().await;
        let report = drain.finish(deadline).await;
        // Not println!: a supervisor that closed our stdout gets no panic.
        let _ = writeln!(std::io::stdout().lock(), "drained: {report}");
        ExitCode::SUCCESS
    })
}
