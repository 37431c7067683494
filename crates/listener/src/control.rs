//! [`Control`]: pausing and resuming a listener from anywhere.
//!
//! libevent's `evconnlistener_disable`/`_enable` remove and re-add the
//! listening socket's read event; the socket stays open and new clients wait
//! in the kernel's backlog. The same happens here: a paused accept loop does
//! not call `accept`. The flag lives in a `tokio::sync::watch` channel so the
//! loop wakes as soon as it changes, from any thread.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable handle that pauses and resumes one listener's accepting.
///
/// Replaces libevent's `evconnlistener_disable` / `evconnlistener_enable`.
/// Pausing keeps the socket open: clients that connect meanwhile complete the
/// TCP handshake in the kernel and are accepted after [`resume`](Self::resume).
#[derive(Clone)]
pub struct Control {
    tx: Arc<watch::Sender<bool>>,
}

impl Control {
    pub(crate) fn new(paused: bool) -> Self {
        Control {
            tx: Arc::new(watch::Sender::new(paused)),
        }
    }

    /// Stops accepting (libevent's `evconnlistener_disable`). A connection
    /// already being handed out is still delivered.
    pub fn pause(&self) {
        self.tx.send_replace(true);
    }

    /// Starts accepting again (libevent's `evconnlistener_enable`).
    pub fn resume(&self) {
        self.tx.send_replace(false);
    }

    /// Whether the listener is paused.
    pub fn is_paused(&self) -> bool {
        *self.tx.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("paused", &self.is_paused())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_changes() {
        let c = Control::new(false);
        let mut rx = c.subscribe();
        let other = c.clone();
        other.pause();
        assert!(c.is_paused());
        rx.wait_for(|p| *p).await.unwrap();
        c.resume();
        rx.wait_for(|p| !*p).await.unwrap();
        assert!(!other.is_paused());
    }
}
