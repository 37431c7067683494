//! Watermarks and the default bounds used when none are set.
//!
//! libevent's watermarks are advisory knobs with 0 meaning "unlimited".
//! This crate keeps that API (a 0 high watermark reads back as 0) but never
//! lets "unlimited" mean unbounded memory: with no read high watermark the
//! input stops growing at [`DEFAULT_MAX_INPUT`] until the user drains it,
//! and with no write high watermark the callback face stops reading while
//! the output is at [`DEFAULT_MAX_OUTPUT`].
//!
//! So, with no settings at all, what one connection holds is bounded
//! whatever its peer does: the input by the read bound, the output by the
//! write bound plus one read callback's writes, and each filter's buffers by
//! the same bounds of the layer they fill (a filter's `limit` is the room
//! below them).

use crate::{Dir, Error};

/// Input bound used when no read high watermark is set: reading from the
/// transport pauses once this many bytes wait in the input (libevent has no
/// such bound; a peer could fill memory). Raise it with
/// [`BufferEvent::set_max_input`](crate::BufferEvent::set_max_input) or by
/// setting a read high watermark.
pub const DEFAULT_MAX_INPUT: usize = 4 * 1024 * 1024;

/// Output bound used when no write high watermark is set.
///
/// * The callback face ([`BufferEvent::run`](crate::BufferEvent::run))
///   stops reading while the output holds this many bytes or more, and
///   reads again once it is below: a read callback that writes everything
///   it reads, against a peer that sends and never reads, holds at most
///   this plus what one callback wrote (at most one input's worth,
///   [`DEFAULT_MAX_INPUT`]) in its output, and the peer is held back by
///   TCP. (Netty's writability turning `autoRead` off; libevent has no such
///   pause and its output grows as long as the peer sends.)
/// * The async face's `poll_write` and a [`Handle`](crate::Handle)'s
///   queued writes wait while this many bytes are pending.
/// * A filter stops pushing into its underlying output at this size, and
///   its output filter's `limit` is the room below it.
///
/// `write()` itself never fails because of it (libevent statement 44).
/// Raise it with [`BufferEvent::set_max_output`](crate::BufferEvent::set_max_output)
/// or a write high watermark
/// ([`set_watermark`](crate::BufferEvent::set_watermark)).
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;

/// Bytes asked of the transport per read (libevent reads at most 4 KiB per
/// call, its best-known throughput limiter). Change it with
/// [`BufferEvent::set_read_size`](crate::BufferEvent::set_read_size).
pub const DEFAULT_READ_SIZE: usize = 64 * 1024;

/// The low and high watermark of one direction (libevent's
/// `struct event_watermark`, read with `bufferevent_getwatermark`).
/// 0 means unset, as in libevent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Watermark {
    /// Read: the read callback waits until at least this many bytes are in
    /// the input. Write: the write callback runs once the output is at or
    /// below this size. (libevent: `struct event_watermark`'s `low`.)
    pub low: usize,
    /// Read: reading from the transport stops at this input size. Write:
    /// a filter stops pushing into this bufferevent's output at this size,
    /// and the async face and handles wait. (libevent: `struct
    /// event_watermark`'s `high`.)
    pub high: usize,
}

impl Watermark {
    /// The high mark, or `default` if unset.
    pub(crate) fn high_or(&self, default: usize) -> usize {
        if self.high == 0 {
            default
        } else {
            self.high
        }
    }
}

/// Both directions' watermarks.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Watermarks {
    pub(crate) read: Watermark,
    pub(crate) write: Watermark,
}

impl Watermarks {
    /// `bufferevent_setwatermark`: sets every direction in `dir`, keeping
    /// the values as given, except that `low > high > 0` is refused.
    pub(crate) fn set(&mut self, dir: Dir, low: usize, high: usize) -> Result<(), Error> {
        if high != 0 && low > high {
            return Err(Error::InvalidArgument(
                "watermark low is above a non-zero high",
            ));
        }
        let wm = Watermark { low, high };
        if dir.contains(Dir::READ) {
            self.read = wm;
        }
        if dir.contains(Dir::WRITE) {
            self.write = wm;
        }
        Ok(())
    }

    /// `bufferevent_getwatermark`: exactly one direction (statement 39).
    pub(crate) fn get(&self, dir: Dir) -> Result<Watermark, Error> {
        if dir == Dir::READ {
            Ok(self.read)
        } else if dir == Dir::WRITE {
            Ok(self.write)
        } else {
            Err(Error::InvalidArgument(
                "watermark(): pass exactly one of Dir::READ or Dir::WRITE",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s39_watermarks_default_to_zero_and_need_one_direction() {
        let w = Watermarks::default();
        assert_eq!(w.get(Dir::READ).unwrap(), Watermark::default());
        assert_eq!(w.get(Dir::WRITE).unwrap(), Watermark::default());
        assert!(w.get(Dir::BOTH).is_err());
        assert!(w.get(Dir::empty()).is_err());
    }

    #[test]
    fn set_both_directions_and_reject_inverted() {
        let mut w = Watermarks::default();
        w.set(Dir::BOTH, 2, 10).unwrap();
        assert_eq!(w.read, Watermark { low: 2, high: 10 });
        assert_eq!(w.write, Watermark { low: 2, high: 10 });
        assert!(w.set(Dir::READ, 11, 10).is_err());
        w.set(Dir::READ, 11, 0).unwrap();
        assert_eq!(w.read.high_or(7), 7);
    }
}
