//! [`Drain`]: a graceful shutdown that lets connections finish.
//!
//! libevent has no notion of it: a libevent server that wants to stop
//! without dropping work disables its listener and counts its connections
//! by hand. Here a [`Drain`] hands a [`DrainGuard`] to every connection
//! ([`Drain::track`]); [`Drain::start`] pauses the listeners attached to it
//! and tells every guard to finish what it was sent and close;
//! [`Drain::finish`] waits until all guards are gone or a deadline passes,
//! then tells the rest to stop at once ([`DrainState::Cut`]) and reports
//! how many connections finished and how many were cut.
//!
//! It knows nothing of bufferevents: what "finished" means (every request
//! read has been answered and flushed) is the connection's business; it
//! only watches its guard's state.

use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::sync::watch;

use crate::Control;

/// How long cut connections get to close after the deadline before
/// [`Drain::finish`] reports anyway.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// Where a drain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DrainState {
    /// Serving normally.
    Running,
    /// Finish what was sent, close when idle; accept nothing new.
    Draining,
    /// The deadline passed: close now.
    Cut,
}

/// What a finished drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections that closed by themselves while draining.
    pub drained: usize,
    /// Connections still open at the deadline, told to close at once.
    pub cut: usize,
    /// Cut connections that had not closed a second later
    /// (a connection ignoring its guard).
    pub stuck: usize,
    /// From [`Drain::start`] to the report.
    pub elapsed: Duration,
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections drained, {} cut at the deadline, in {:.3} s",
            self.drained,
            self.cut,
            self.elapsed.as_secs_f64()
        )?;
        if self.stuck > 0 {
            write!(f, " ({} did not close when cut)", self.stuck)?;
        }
        Ok(())
    }
}

impl DrainState {
    fn to_u8(self) -> u8 {
        match self {
            DrainState::Running => 0,
            DrainState::Draining => 1,
            DrainState::Cut => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => DrainState::Running,
            1 => DrainState::Draining,
            _ => DrainState::Cut,
        }
    }
}

struct Inner {
    /// For [`Drain::started`] and [`Drain::state`]; guards read `fast`.
    state: watch::Sender<DrainState>,
    /// The state as a number, read by every guard poll without a lock.
    fast: AtomicU8,
    /// Each guard's waker, woken when the state changes: a guard's poll
    /// costs two loads and a waker check, not a lock, however often its
    /// connection's task is woken for its own I/O.
    wakers: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
    next_id: AtomicU64,
    live: watch::Sender<usize>,
    drained: AtomicUsize,
    started: Mutex<Option<Instant>>,
    controls: Mutex<Vec<Control>>,
}

/// A graceful-shutdown coordinator shared by a server's listeners and
/// connections; cloning shares it.
///
/// No libevent equivalent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use evconnlistener::{Drain, DrainState};
/// use std::time::Duration;
///
/// let drain = Drain::new();
/// let mut guard = drain.track(); // one per connection
/// let conn = tokio::spawn(async move {
///     // ...serve; when told to drain, finish the reply in hand, then close.
///     assert_eq!(guard.changed().await, DrainState::Draining);
///     drop(guard);
/// });
/// let report = drain.finish(Some(Duration::from_secs(5))).await;
/// assert_eq!((report.drained, report.cut), (1, 0));
/// conn.await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// A drain in the [`Running`](DrainState::Running) state.
    pub fn new() -> Self {
        Drain {
            inner: Arc::new(Inner {
                state: watch::Sender::new(DrainState::Running),
                fast: AtomicU8::new(0),
                wakers: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                live: watch::Sender::new(0),
                drained: AtomicUsize::new(0),
                started: Mutex::new(None),
                controls: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Counts a connection until the guard is dropped; the guard tells it
    /// when to drain and when to stop.
    pub fn track(&self) -> DrainGuard {
        self.inner.live.send_modify(|n| *n += 1);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        lock(&self.inner.wakers).insert(id, Arc::clone(&waker));
        DrainGuard {
            inner: Arc::clone(&self.inner),
            id,
            waker,
            last: DrainState::Running,
        }
    }

    /// Pauses this listener's accepting when the drain starts (at once if
    /// it has started).
    pub fn attach(&self, control: Control) {
        if self.state() != DrainState::Running {
            control.pause();
        }
        lock(&self.inner.controls).push(control);
    }

    /// Moves to `to` (only forward) and wakes every guard; whether it moved.
    fn advance(&self, to: DrainState) -> bool {
        let moved = self.inner.state.send_if_modified(|s| {
            if s.to_u8() < to.to_u8() {
                *s = to;
                self.inner.fast.store(to.to_u8(), Ordering::Release);
                true
            } else {
                false
            }
        });
        if moved {
            for w in lock(&self.inner.wakers).values() {
                w.wake();
            }
        }
        moved
    }

    /// Starts draining: attached listeners stop accepting, every guard sees
    /// [`DrainState::Draining`]. Idempotent.
    pub fn start(&self) {
        if self.advance(DrainState::Draining) {
            *lock(&self.inner.started) = Some(Instant::now());
            for c in lock(&self.inner.controls).iter() {
                c.pause();
            }
            tracing::info!(connections = self.live(), "draining");
        }
    }

    /// The current state.
    pub fn state(&self) -> DrainState {
        *self.inner.state.borrow()
    }

    /// Connections tracked now.
    pub fn live(&self) -> usize {
        *self.inner.live.borrow()
    }

    /// Resolves once a drain has started (from [`start`](Self::start),
    /// perhaps on another task, e.g. a signal handler).
    pub async fn started(&self) {
        let mut rx = self.inner.state.subscribe();
        let _ = rx.wait_for(|s| *s != DrainState::Running).await;
    }

    /// Starts the drain if needed, waits until every tracked connection
    /// is gone or `deadline` (from now) passed, then cuts the rest and
    /// reports. `None` waits as long as it takes.
    pub async fn finish(&self, deadline: Option<Duration>) -> DrainReport {
        self.start();
        let mut live = self.inner.live.subscribe();
        let all_gone = async {
            let _ = live.wait_for(|n| *n == 0).await;
        };
        let in_time = match deadline {
            Some(d) => tokio::time::timeout(d, all_gone).await.is_ok(),
            None => {
                all_gone.await;
                true
            }
        };
        let mut cut = 0;
        let mut stuck = 0;
        if !in_time {
            self.advance(DrainState::Cut);
            cut = self.live();
            tracing::warn!(connections = cut, "drain deadline passed: cutting");
            let mut live = self.inner.live.subscribe();
            if tokio::time::timeout(CUT_GRACE, live.wait_for(|n| *n == 0))
                .await
                .is_err()
            {
                stuck = self.live();
            }
        }
        let elapsed = lock(&self.inner.started).map_or(Duration::ZERO, |t| t.elapsed());
        DrainReport {
            drained: self.inner.drained.load(Ordering::Acquire),
            cut,
            stuck,
            elapsed,
        }
    }
}

impl fmt::Debug for Drain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("state", &self.state())
            .field("live", &self.live())
            .finish()
    }
}

/// One tracked connection's view of a [`Drain`]; dropping it tells the
/// drain the connection is gone.
pub struct DrainGuard {
    inner: Arc<Inner>,
    id: u64,
    waker: Arc<AtomicWaker>,
    last: DrainState,
}

impl DrainGuard {
    /// The drain's current state.
    pub fn state(&self) -> DrainState {
        DrainState::from_u8(self.inner.fast.load(Ordering::Acquire))
    }

    /// Waits until the state differs from the one this guard last
    /// returned (at first: [`Running`](DrainState::Running), so a guard made
    /// while draining learns it at once) and returns it. Cancel safe, so it
    /// can sit in a `select!` beside the connection's work. After
    /// [`Cut`](DrainState::Cut) it stays pending.
    pub async fn changed(&mut self) -> DrainState {
        poll_fn(|cx| self.poll_changed(cx)).await
    }

    /// [`changed`](Self::changed) as a poll function, for hand-written
    /// futures and drivers. Cheap: polling it on every wake-up of a busy
    /// connection costs two atomic loads and a waker check.
    pub fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<DrainState> {
        if self.last == DrainState::Cut {
            return Poll::Pending;
        }
        let now = self.state();
        if now != self.last {
            self.last = now;
            return Poll::Ready(now);
        }
        self.waker.register(cx.waker());
        // A change between the load and the registration woke nobody.
        let now = self.state();
        if now != self.last {
            self.last = now;
            return Poll::Ready(now);
        }
        Poll::Pending
    }
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        lock(&self.inner.wakers).remove(&self.id);
        if self.state() == DrainState::Draining {
            self.inner.drained.fetch_add(1, Ordering::AcqRel);
        }
        self.inner.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl fmt::Debug for DrainGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainGuard")
            .field("state", &self.state())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_tracked_finishes_at_once() {
        let d = Drain::new();
        let r = d.finish(Some(Duration::from_secs(5))).await;
        assert_eq!((r.drained, r.cut, r.stuck), (0, 0, 0));
        assert_eq!(d.state(), DrainState::Draining);
    }

    #[tokio::test]
    async fn attached_listeners_pause_on_start() {
        let d = Drain::new();
        let c = Control::new(false);
        d.attach(c.clone());
        assert!(!c.is_paused());
        d.start();
        assert!(c.is_paused());
        let late = Control::new(false);
        d.attach(late.clone());
        assert!(late.is_paused());
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_cuts_the_slow_one() {
        let d = Drain::new();
        let mut quick = d.track();
        let mut slow = d.track();
        let a = tokio::spawn(async move {
            assert_eq!(quick.changed().await, DrainState::Draining);
        });
        let b = tokio::spawn(async move {
            assert_eq!(slow.changed().await, DrainState::Draining);
            // Ignores the drain, obeys the cut.
            assert_eq!(slow.changed().await, DrainState::Cut);
        });
        let r = d.finish(Some(Duration::from_secs(2))).await;
        assert_eq!((r.drained, r.cut, r.stuck), (1, 1, 0));
        assert!(r.to_string().starts_with("1 connections drained, 1 cut"));
        a.await.unwrap();
        b.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_guard_that_ignores_the_cut_is_stuck() {
        let d = Drain::new();
        let g = d.track();
        let r = d.finish(Some(Duration::from_millis(10))).await;
        assert_eq!((r.drained, r.cut, r.stuck), (0, 1, 1));
        drop(g);
        assert_eq!(d.live(), 0);
    }

    #[tokio::test]
    async fn started_wakes_other_tasks() {
        let d = Drain::new();
        let w = tokio::spawn({
            let d = d.clone();
            async move { d.started().await }
        });
        tokio::task::yield_now().await;
        d.start();
        tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .unwrap()
            .unwrap();
    }
}
