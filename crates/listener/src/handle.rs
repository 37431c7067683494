//! [`ListenerHandle`]: a listener running on a tokio task, calling back for
//! each connection, the way an `evconnlistener` runs on its `event_base`.

use std::fmt;

use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::{Addr, Connection, Control, Listener};

/// A listener accepting on a tokio task (from [`Listener::spawn`]).
///
/// Dropping it is libevent's `evconnlistener_free`: the task is aborted and
/// the socket closed (as soon as the runtime drops the task; use
/// [`close`](Self::close) to wait for that).
pub struct ListenerHandle {
    control: Control,
    addr: Addr,
    task: Option<JoinHandle<()>>,
}

impl ListenerHandle {
    pub(crate) fn spawn<F>(listener: Listener, mut on_accept: F) -> Self
    where
        F: FnMut(Connection) + Send + 'static,
    {
        let control = listener.control();
        let addr = listener.local_addr().clone();
        let mut incoming = listener.incoming();
        let task = tokio::spawn(async move {
            // Fatal errors were given to the error callback already.
            while let Some(Ok(conn)) = incoming.next().await {
                on_accept(conn);
            }
        });
        ListenerHandle {
            control,
            addr,
            task: Some(task),
        }
    }

    /// The listening address.
    pub fn local_addr(&self) -> &Addr {
        &self.addr
    }

    /// A cloneable pause/resume handle.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops accepting without closing the socket (`evconnlistener_disable`).
    pub fn pause(&self) {
        self.control.pause();
    }

    /// Accepts again (`evconnlistener_enable`).
    pub fn resume(&self) {
        self.control.resume();
    }

    /// Whether accepting is paused.
    pub fn is_paused(&self) -> bool {
        self.control.is_paused()
    }

    /// Whether the accept task has ended (only after a fatal error).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops accepting and waits until the socket is closed
    /// (`evconnlistener_free`).
    pub async fn close(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for ListenerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerHandle")
            .field("addr", &self.addr)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}
