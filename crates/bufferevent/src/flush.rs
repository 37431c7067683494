//! Flush modes: how hard a flush pushes data through a filter stack.
//!
//! This module exists because the mode is shared vocabulary between the
//! [`Filter`](crate::Filter) trait (a filter is told the mode on every call)
//! and [`BufferEvent::flush`](crate::BufferEvent::flush).

use std::fmt;

/// How much a filter or a flush should push out (libevent's
/// `enum bufferevent_flush_mode`).
///
/// | libevent | here |
/// |---|---|
/// | `BEV_NORMAL` | [`FlushMode::Normal`] |
/// | `BEV_FLUSH` | [`FlushMode::Flush`] |
/// | `BEV_FINISHED` | [`FlushMode::Finished`] |
///
/// ```
/// use bufferevent::FlushMode;
/// assert!(FlushMode::Finished.is_forced());
/// assert!(!FlushMode::Normal.is_forced());
/// assert_eq!(FlushMode::default(), FlushMode::Normal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlushMode {
    /// Ordinary processing: a filter may keep data back to produce better
    /// output later, and watermarks apply (`BEV_NORMAL`).
    #[default]
    Normal,
    /// Push out everything written so far, ignoring watermarks, but more
    /// data may follow (`BEV_FLUSH`; zlib's `Z_SYNC_FLUSH`).
    Flush,
    /// No more data will follow in this direction: emit any trailer, and
    /// (on the output side) shut the transport's write side down once the
    /// output has drained (`BEV_FINISHED`; zlib's `Z_FINISH`, a TLS
    /// `close_notify`). On the input side a filter sees this mode once when
    /// the underlying transport reached end of file.
    Finished,
}

impl FlushMode {
    /// Whether this mode overrides watermarks and enabled flags (true for
    /// [`Flush`](FlushMode::Flush) and [`Finished`](FlushMode::Finished)).
    ///
    /// libevent: the `mode != BEV_NORMAL` tests of its flush code.
    pub fn is_forced(self) -> bool {
        !matches!(self, FlushMode::Normal)
    }
}

impl fmt::Display for FlushMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlushMode::Normal => "BEV_NORMAL",
            FlushMode::Flush => "BEV_FLUSH",
            FlushMode::Finished => "BEV_FINISHED",
        })
    }
}
