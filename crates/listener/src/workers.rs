//! [`Workers`]: N threads, each with its own current-thread tokio runtime
//! and its own `SO_REUSEPORT` listener on the same address.
//!
//! libevent runs one loop per `event_base`; to use every core, libevent
//! programs start one base per thread, each with its own listener bound with
//! `LEV_OPT_REUSEABLE_PORT`, and the kernel spreads new connections over the
//! sockets by a hash of the 4-tuple. This module does exactly that. Each
//! worker calls the accept callback on its own thread, inside its runtime, so
//! `tokio::spawn` in the callback keeps the connection on that core.
//!
//! All sockets are bound before any thread starts, so binding errors come
//! back from [`Workers::start`] and port 0 works: the first socket gets the
//! kernel's port and the others bind the same one.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use futures::StreamExt;
use tokio::sync::watch;

use crate::accept::ErrorCallback;
use crate::{AcceptError, Connection, Control, Error, Listener, Options};

/// A pool of accepting threads sharing one address through `SO_REUSEPORT`.
///
/// No single libevent call: it replaces one `event_base` + `evconnlistener`
/// (with `LEV_OPT_REUSEABLE_PORT`) per thread.
///
/// ```
/// use evconnlistener::{Options, Workers};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// let pool = Workers::new("127.0.0.1:0".parse()?, Options::new())
///     .threads(2)
///     .start(move |_conn, _worker| {
///         counter.fetch_add(1, Ordering::SeqCst);
///     })?;
/// let addr = pool.local_addr();
/// let _client = std::net::TcpStream::connect(addr)?;
/// while seen.load(Ordering::SeqCst) == 0 {
///     std::thread::sleep(std::time::Duration::from_millis(5));
/// }
/// pool.shutdown(); // closes every socket and joins the threads
/// # Ok(())
/// # }
/// ```
pub struct Workers {
    addr: SocketAddr,
    opts: Options,
    threads: usize,
    on_error: Option<ErrorCallback>,
}

impl Workers {
    /// A pool for `addr` with `opts` (`SO_REUSEPORT` is turned on) and one
    /// thread per available core.
    pub fn new(addr: SocketAddr, opts: Options) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Workers {
            addr,
            opts: opts.reuse_port(true),
            threads,
            on_error: None,
        }
    }

    /// The number of worker threads (and sockets).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// The error callback every worker's listener uses
    /// (`evconnlistener_set_error_cb`).
    pub fn on_error(mut self, cb: impl Fn(&AcceptError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(cb));
        self
    }

    /// Binds every socket, then starts the threads. `on_accept` gets each
    /// connection and the index of the worker that accepted it, on that
    /// worker's thread and runtime.
    pub fn start<F>(self, on_accept: F) -> Result<WorkersHandle, Error>
    where
        F: Fn(Connection, usize) + Send + Sync + 'static,
    {
        if self.threads == 0 {
            return Err(Error::NoWorkers);
        }
        let first = Listener::bind(self.addr, &self.opts)?;
        let addr = first
            .local_addr()
            .as_inet()
            .expect("bound to an IP address");
        let mut listeners = vec![first];
        for _ in 1..self.threads {
            listeners.push(Listener::bind(addr, &self.opts)?);
        }

        let on_accept = Arc::new(on_accept);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut controls = Vec::with_capacity(listeners.len());
        let mut joins = Vec::with_capacity(listeners.len());
        for (index, mut listener) in listeners.into_iter().enumerate() {
            listener.set_error_callback_arc(self.on_error.clone());
            controls.push(listener.control());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| Error::Worker { index, source })?;
            let on_accept = Arc::clone(&on_accept);
            let mut stop = stop_rx.clone();
            let join = std::thread::Builder::new()
                .name(format!("listener-worker-{index}"))
                .spawn(move || {
                    rt.block_on(async move {
                        let mut incoming = listener.incoming();
                        loop {
                            tokio::select! {
                                _ = stop.wait_for(|s| *s) => break,
                                item = incoming.next() => match item {
                                    Some(Ok(conn)) => on_accept(conn, index),
                                    // Fatal: already reported to the error callback.
                                    Some(Err(_)) | None => break,
                                },
                            }
                        }
                    });
                    tracing::debug!(worker = index, "worker stopped");
                })
                .map_err(|source| Error::Worker { index, source });
            match join {
                Ok(j) => joins.push(j),
                Err(e) => {
                    // Stop the ones already running before reporting.
                    let _ = stop_tx.send(true);
                    for j in joins {
                        let _ = j.join();
                    }
                    return Err(e);
                }
            }
        }
        tracing::debug!(%addr, workers = joins.len(), "workers started");
        Ok(WorkersHandle {
            addr,
            controls,
            stop: stop_tx,
            joins,
        })
    }
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers")
            .field("addr", &self.addr)
            .field("threads", &self.threads)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Running [`Workers`]. Dropping it (or [`shutdown`](Self::shutdown)) stops
/// every worker, closes every socket and joins the threads; tasks the
/// callback spawned on a worker's runtime are dropped with it.
pub struct WorkersHandle {
    addr: SocketAddr,
    controls: Vec<Control>,
    stop: watch::Sender<bool>,
    joins: Vec<JoinHandle<()>>,
}

impl WorkersHandle {
    /// The address every worker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.controls.len()
    }

    /// Always `false`: a pool has at least one worker.
    pub fn is_empty(&self) -> bool {
        self.controls.is_empty()
    }

    /// Worker `index`'s pause/resume handle.
    pub fn control(&self, index: usize) -> Option<Control> {
        self.controls.get(index).cloned()
    }

    /// Pauses every worker (`evconnlistener_disable` on each). Connections
    /// the kernel hashes to a paused socket wait in its backlog.
    pub fn pause(&self) {
        self.controls.iter().for_each(Control::pause);
    }

    /// Resumes every worker (`evconnlistener_enable` on each).
    pub fn resume(&self) {
        self.controls.iter().for_each(Control::resume);
    }

    /// Stops the workers and waits for their threads to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        for j in self.joins.drain(..) {
            if j.join().is_err() {
                tracing::error!("a listener worker thread panicked");
            }
        }
    }
}

impl Drop for WorkersHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl fmt::Debug for WorkersHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkersHandle")
            .field("addr", &self.addr)
            .field("workers", &self.controls.len())
            .finish_non_exhaustive()
    }
}
