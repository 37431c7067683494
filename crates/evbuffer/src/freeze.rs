//! Freezing either end of a buffer (libevent's `evbuffer_freeze`).
//!
//! A bufferevent freezes the back of its input and the front of its output so
//! that user code cannot add where the transport adds or remove where it
//! removes. Which operations each freeze refuses is listed on [`End`]; they
//! fail with [`Error::FrozenFront`](crate::Error::FrozenFront) or
//! [`Error::FrozenBack`](crate::Error::FrozenBack) and change nothing.

use crate::buffer::EvBuffer;

/// One end of a buffer (libevent's `at_front` argument of `evbuffer_freeze`).
///
/// * `Front` frozen (statement 13): `remove`, `drain`, `prepend`,
///   `prepend_bytes`, `read_line`, `split_to`, `copy_out`, `copy_out_from`,
///   `remove_into` from it, `append`/`prepend_buffer` taking from it,
///   `prepend_buffer` into it, `write_to` all fail.
/// * `Back` frozen (statement 12): `add` (even of 0 bytes), `add_bytes`,
///   `add_reference`, `add_buffer_reference`, formatted adds, `reserve`,
///   `append`/`remove_into` into it, `add_file_segment`, `read_from` all fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The front: where bytes are removed.
    Front,
    /// The back: where bytes are added.
    Back,
}

impl EvBuffer {
    /// Freezes one end (`evbuffer_freeze`).
    pub fn freeze(&mut self, end: End) {
        match end {
            End::Front => self.frozen_front = true,
            End::Back => self.frozen_back = true,
        }
    }

    /// Unfreezes one end (`evbuffer_unfreeze`).
    pub fn unfreeze(&mut self, end: End) {
        match end {
            End::Front => self.frozen_front = false,
            End::Back => self.frozen_back = false,
        }
    }

    /// Whether an end is frozen.
    ///
    /// libevent: the private `freeze_start` / `freeze_end` flags.
    pub fn is_frozen(&self, end: End) -> bool {
        match end {
            End::Front => self.frozen_front,
            End::Back => self.frozen_back,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn freeze_and_unfreeze() {
        let mut b = EvBuffer::new();
        b.freeze(End::Back);
        assert!(b.is_frozen(End::Back) && !b.is_frozen(End::Front));
        assert!(matches!(b.add(b""), Err(Error::FrozenBack)));
        b.unfreeze(End::Back);
        b.add(b"x").unwrap();
        b.freeze(End::Front);
        assert!(matches!(b.drain(1), Err(Error::FrozenFront)));
        b.clear();
        assert_eq!(b.len(), 1);
        b.unfreeze(End::Front);
        b.clear();
        assert!(b.is_empty());
    }
}
