//! Change callbacks (libevent's `evbuffer_add_cb` and `struct evbuffer_cb_info`).
//!
//! A callback learns, after each call that changed the buffer, the length
//! before the call and how many bytes it added and deleted (statement 31).
//! Callbacks are removable by handle and can be suspended; a suspended
//! callback misses the changes made meanwhile. In *deferred* mode (libevent's
//! `evbuffer_defer_callbacks`) changes are summed and reported in one call per
//! callback when [`EvBuffer::run_deferred_callbacks`] is called (statement 32);
//! the owner of the buffer (e.g. a bufferevent's event loop turn) decides when.
//!
//! With no callback registered the bookkeeping is one predictable branch per
//! change.

use std::fmt;

use crate::buffer::EvBuffer;
use crate::error::{Error, Result};

/// What one change did to a buffer (libevent's `struct evbuffer_cb_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CbInfo {
    /// Length of the buffer before the change(s).
    pub orig_size: usize,
    /// Bytes added.
    pub n_added: usize,
    /// Bytes deleted.
    pub n_deleted: usize,
}

/// Handle of a registered change callback (libevent's `struct evbuffer_cb_entry *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

type InfoFn = Box<dyn FnMut(&CbInfo) + Send>;
type BufFn = Box<dyn FnMut(&mut EvBuffer, &CbInfo) + Send>;

enum CbFn {
    Info(InfoFn),
    Buf(BufFn),
}

struct Entry {
    id: u64,
    enabled: bool,
    /// `None` while the callback itself is running (no self-recursion).
    f: Option<CbFn>,
}

/// The callback list of one buffer.
#[derive(Default)]
pub(crate) struct Callbacks {
    entries: Vec<Entry>,
    next_id: u64,
    deferred: bool,
    pending: Option<CbInfo>,
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("count", &self.entries.len())
            .field("deferred", &self.deferred)
            .finish()
    }
}

impl EvBuffer {
    /// Reports a change to the callbacks, if any.
    #[inline(always)]
    pub(crate) fn notify(&mut self, orig_size: usize, n_added: usize, n_deleted: usize) {
        if self.cbs.is_some() {
            self.notify_slow(CbInfo {
                orig_size,
                n_added,
                n_deleted,
            });
        }
    }

    #[inline(never)]
    fn notify_slow(&mut self, info: CbInfo) {
        if info.n_added == 0 && info.n_deleted == 0 {
            return;
        }
        let Some(cbs) = self.cbs.as_mut() else {
            return;
        };
        if cbs.deferred {
            match &mut cbs.pending {
                Some(p) => {
                    p.n_added += info.n_added;
                    p.n_deleted += info.n_deleted;
                }
                None => cbs.pending = Some(info),
            }
            return;
        }
        self.run_callbacks(&info);
    }

    fn run_callbacks(&mut self, info: &CbInfo) {
        let mut i = 0;
        loop {
            let Some(cbs) = self.cbs.as_mut() else {
                return;
            };
            let Some(e) = cbs.entries.get_mut(i) else {
                return;
            };
            let id = e.id;
            let f = if e.enabled { e.f.take() } else { None };
            if let Some(mut f) = f {
                match &mut f {
                    CbFn::Info(g) => g(info),
                    CbFn::Buf(g) => g(self, info),
                }
                // Put it back where it is now (callbacks may have added or
                // removed entries meanwhile).
                if let Some(cbs) = self.cbs.as_mut() {
                    if let Some(pos) = cbs.entries.iter().position(|e| e.id == id) {
                        cbs.entries[pos].f = Some(f);
                        i = pos;
                    }
                }
            }
            i += 1;
        }
    }

    fn register(&mut self, f: CbFn) -> CallbackId {
        let cbs = self.cbs.get_or_insert_with(Default::default);
        let id = cbs.next_id;
        cbs.next_id += 1;
        cbs.entries.push(Entry {
            id,
            enabled: true,
            f: Some(f),
        });
        CallbackId(id)
    }

    /// Registers a callback run after every change with a [`CbInfo`]
    /// (`evbuffer_add_cb`). Returns the handle for
    /// [`remove_cb`](Self::remove_cb) and [`set_cb_enabled`](Self::set_cb_enabled).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use evbuffer::{CbInfo, EvBuffer};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let mut buf = EvBuffer::new();
    /// let s = seen.clone();
    /// buf.add_cb(move |i: &CbInfo| s.lock().unwrap().push(*i));
    /// buf.add(b"hello").unwrap();
    /// buf.drain(2).unwrap();
    /// let seen = seen.lock().unwrap();
    /// assert_eq!(seen[0], CbInfo { orig_size: 0, n_added: 5, n_deleted: 0 });
    /// assert_eq!(seen[1], CbInfo { orig_size: 5, n_added: 0, n_deleted: 2 });
    /// ```
    pub fn add_cb<F: FnMut(&CbInfo) + Send + 'static>(&mut self, f: F) -> CallbackId {
        self.register(CbFn::Info(Box::new(f)))
    }

    /// Registers a callback that also gets the buffer itself, so it can, for
    /// example, drain what was added (libevent's callbacks get the
    /// `struct evbuffer *`). Changes the callback makes are reported to the
    /// other callbacks, not to itself.
    pub fn add_cb_with_buffer<F>(&mut self, f: F) -> CallbackId
    where
        F: FnMut(&mut EvBuffer, &CbInfo) + Send + 'static,
    {
        self.register(CbFn::Buf(Box::new(f)))
    }

    /// Removes a callback (`evbuffer_remove_cb_entry`); an unknown handle is
    /// [`Error::UnknownCallback`] (statement 33).
    pub fn remove_cb(&mut self, id: CallbackId) -> Result<()> {
        let cbs = self.cbs.as_mut().ok_or(Error::UnknownCallback)?;
        let pos = cbs
            .entries
            .iter()
            .position(|e| e.id == id.0)
            .ok_or(Error::UnknownCallback)?;
        cbs.entries.remove(pos);
        if cbs.entries.is_empty() && !cbs.deferred {
            self.cbs = None;
        }
        Ok(())
    }

    /// Enables or suspends a callback (`evbuffer_cb_set_flags` /
    /// `evbuffer_cb_clear_flags` with `EVBUFFER_CB_ENABLED`). A suspended
    /// callback misses changes; after re-enabling it sees only later ones.
    pub fn set_cb_enabled(&mut self, id: CallbackId, on: bool) -> Result<()> {
        let cbs = self.cbs.as_mut().ok_or(Error::UnknownCallback)?;
        let e = cbs
            .entries
            .iter_mut()
            .find(|e| e.id == id.0)
            .ok_or(Error::UnknownCallback)?;
        e.enabled = on;
        Ok(())
    }

    /// Removes every callback (what `evbuffer_setcb` does before installing
    /// its one).
    pub fn clear_cbs(&mut self) {
        self.cbs = None;
    }

    /// Number of registered callbacks.
    ///
    /// libevent: no equivalent.
    pub fn cb_count(&self) -> usize {
        self.cbs.as_ref().map_or(0, |c| c.entries.len())
    }

    /// Switches deferred mode (`evbuffer_defer_callbacks`): changes are summed
    /// (`orig_size` of the first, `n_added`/`n_deleted` added up) and reported
    /// once per callback by [`run_deferred_callbacks`](Self::run_deferred_callbacks).
    /// Switching it off reports what is pending at once.
    pub fn set_deferred_callbacks(&mut self, on: bool) {
        if on {
            self.cbs.get_or_insert_with(Default::default).deferred = true;
        } else if let Some(cbs) = self.cbs.as_mut() {
            cbs.deferred = false;
            self.run_deferred_callbacks();
        }
    }

    /// Whether deferred mode is on.
    ///
    /// libevent: whether `evbuffer_defer_callbacks` is in force.
    pub fn deferred_callbacks(&self) -> bool {
        self.cbs.as_ref().is_some_and(|c| c.deferred)
    }

    /// Runs the callbacks once with the summed pending changes, if any
    /// (the deferred callback libevent schedules on its event loop).
    /// Returns whether there was something to report.
    pub fn run_deferred_callbacks(&mut self) -> bool {
        let Some(info) = self.cbs.as_mut().and_then(|c| c.pending.take()) else {
            return false;
        };
        self.run_callbacks(&info);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder(buf: &mut EvBuffer) -> (CallbackId, Arc<Mutex<Vec<CbInfo>>>) {
        let v = Arc::new(Mutex::new(Vec::new()));
        let v2 = v.clone();
        let id = buf.add_cb(move |i| v2.lock().unwrap().push(*i));
        (id, v)
    }

    #[test]
    fn reports_each_change() {
        let mut b = EvBuffer::new();
        let (id, seen) = recorder(&mut b);
        b.add(b"abcdef").unwrap();
        b.drain(2).unwrap();
        b.add(b"").unwrap();
        let mut o = EvBuffer::new();
        b.remove_into(&mut o, 3).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                CbInfo {
                    orig_size: 0,
                    n_added: 6,
                    n_deleted: 0
                },
                CbInfo {
                    orig_size: 6,
                    n_added: 0,
                    n_deleted: 2
                },
                CbInfo {
                    orig_size: 4,
                    n_added: 0,
                    n_deleted: 3
                },
            ]
        );
        b.set_cb_enabled(id, false).unwrap();
        b.add(b"zz").unwrap();
        b.set_cb_enabled(id, true).unwrap();
        b.add(b"y").unwrap();
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&CbInfo {
                orig_size: 3,
                n_added: 1,
                n_deleted: 0
            })
        );
        b.remove_cb(id).unwrap();
        assert!(matches!(b.remove_cb(id), Err(Error::UnknownCallback)));
        assert!(matches!(
            b.set_cb_enabled(id, true),
            Err(Error::UnknownCallback)
        ));
        assert!(b.cbs.is_none());
    }

    #[test]
    fn deferred_mode_coalesces() {
        let mut b = EvBuffer::new();
        b.add(b"0123456789").unwrap();
        let (_id, seen) = recorder(&mut b);
        b.set_deferred_callbacks(true);
        b.add(b"abc").unwrap();
        b.drain(4).unwrap();
        b.add(b"de").unwrap();
        assert!(seen.lock().unwrap().is_empty());
        assert!(b.run_deferred_callbacks());
        assert!(!b.run_deferred_callbacks());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![CbInfo {
                orig_size: 10,
                n_added: 5,
                n_deleted: 4
            }]
        );
    }

    #[test]
    fn self_draining_callback() {
        let mut b = EvBuffer::new();
        let (_id, seen) = recorder(&mut b);
        b.add_cb_with_buffer(|buf, info| {
            if info.n_added > 0 {
                let _ = buf.drain(buf.len());
            }
        });
        b.add(b"hello").unwrap();
        assert!(b.is_empty());
        // The recorder saw the add, then the callback's drain.
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                CbInfo {
                    orig_size: 0,
                    n_added: 5,
                    n_deleted: 0
                },
                CbInfo {
                    orig_size: 5,
                    n_added: 0,
                    n_deleted: 5
                },
            ]
        );
        assert_eq!(b.cb_count(), 2);
        b.clear_cbs();
        assert_eq!(b.cb_count(), 0);
    }
}
