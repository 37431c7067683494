//! A cap on live connections: [`ConnectionLimit`] and its [`ConnPermit`].
//!
//! libevent has no such cap; servers built on it disable the listener by hand
//! when they have too many clients and enable it again as clients leave.
//! Here the accept loop takes a permit before it calls `accept`, so at the cap
//! it simply stops accepting (new clients wait in the kernel's backlog), and
//! each accepted [`Connection`](crate::Connection) carries its permit: dropping
//! the connection (or the permit taken out of it) frees the slot and wakes the
//! loop. One limit can be shared by several listeners or [`Workers`](crate::Workers).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A cap on the number of live accepted connections, shareable between
/// listeners (cloning shares the same count).
///
/// No libevent equivalent; replaces calling `evconnlistener_disable` at the
/// cap and `evconnlistener_enable` when a connection closes.
///
/// ```
/// let limit = evconnlistener::ConnectionLimit::new(2);
/// assert_eq!((limit.max(), limit.live()), (2, 0));
/// ```
#[derive(Clone)]
pub struct ConnectionLimit {
    sem: Arc<Semaphore>,
    max: usize,
    live: Arc<AtomicUsize>,
}

impl ConnectionLimit {
    /// A cap of `max` live connections (at least 1; capped at tokio's
    /// semaphore maximum).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnectionLimit {
            sem: Arc::new(Semaphore::new(max)),
            max,
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many accepted connections hold a permit now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Takes a free slot if there is one. The accept loop takes it just
    /// before `accept` and turns it into a [`ConnPermit`] once it has a
    /// connection.
    pub(crate) fn try_acquire(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.sem).try_acquire_owned().ok()?;
        Some(Slot {
            permit,
            live: Arc::clone(&self.live),
        })
    }

    /// Waits until a slot is free, without keeping it (another listener
    /// sharing the limit may take it first; the caller then waits again).
    pub(crate) async fn wait_for_free_slot(&self) {
        // The semaphore is never closed, so this only waits.
        let _ = self.sem.acquire().await;
    }

    #[cfg(test)]
    pub(crate) async fn acquire(&self) -> Slot {
        let permit = Arc::clone(&self.sem)
            .acquire_owned()
            .await
            .expect("the limit's semaphore is never closed");
        Slot {
            permit,
            live: Arc::clone(&self.live),
        }
    }
}

impl fmt::Debug for ConnectionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimit")
            .field("max", &self.max)
            .field("live", &self.live())
            .finish()
    }
}

/// A slot reserved by the accept loop, not yet given to a connection.
pub(crate) struct Slot {
    permit: OwnedSemaphorePermit,
    live: Arc<AtomicUsize>,
}

impl Slot {
    /// The slot now belongs to an accepted connection.
    pub(crate) fn into_permit(self) -> ConnPermit {
        self.live.fetch_add(1, Ordering::AcqRel);
        ConnPermit {
            _permit: self.permit,
            live: self.live,
        }
    }
}

/// One slot of a [`ConnectionLimit`], held by an accepted connection; dropping
/// it frees the slot and lets the listener accept again.
#[must_use = "dropping the permit frees the connection's slot at once"]
pub struct ConnPermit {
    _permit: OwnedSemaphorePermit,
    live: Arc<AtomicUsize>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        // Runs before the semaphore permit (a field) is released.
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for ConnPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnPermit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_count_and_free_on_drop() {
        let limit = ConnectionLimit::new(2);
        let a = limit.acquire().await.into_permit();
        let b = limit.acquire().await;
        assert_eq!(limit.live(), 1, "only handed-out slots count as live");
        let b = b.into_permit();
        assert_eq!(limit.live(), 2);
        let shared = limit.clone();
        let waiter = tokio::spawn(async move { shared.acquire().await.into_permit() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        let c = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("slot freed")
            .unwrap();
        assert_eq!(limit.live(), 2);
        drop((b, c));
        assert_eq!(limit.live(), 0);
    }

    #[tokio::test]
    async fn try_acquire_and_wait_for_free_slot() {
        let limit = ConnectionLimit::new(1);
        let a = limit.try_acquire().unwrap();
        assert!(limit.try_acquire().is_none());
        let shared = limit.clone();
        let waiter = tokio::spawn(async move { shared.wait_for_free_slot().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the slot frees")
            .unwrap();
        assert!(limit.try_acquire().is_some(), "waiting kept no slot");
    }

    #[test]
    fn zero_means_one() {
        assert_eq!(ConnectionLimit::new(0).max(), 1);
    }
}
