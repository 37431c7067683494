//! Backends: what moves bytes between a bufferevent's buffers and the world.
//!
//! libevent has one `struct bufferevent_ops` per kind (socket, filter,
//! pair, SSL); here that is the [`Backend`] trait. A backend never decides
//! policy: it asks the [`Core`](crate::core::state::Core) how much it may
//! move, moves it, and reports what happened. Each direction is polled on
//! its own (`poll_read` / `poll_write`), so that a bufferevent split into a
//! reading and a writing task registers each task's waker with the right
//! readiness.

use std::task::Context;
use std::time::Instant;

use crate::core::state::{Core, HalfState};
use crate::{BufferEvent, Dir, Error, FlushMode, Handle};

pub(crate) mod filter;
pub(crate) mod pair;
pub(crate) mod socket;

/// What kind of bufferevent this is (for `Debug` and porting checks like
/// statement 53).
///
/// libevent: the `type` name of its `struct bufferevent_ops` (`"socket"`, `"filter"`, `"pair"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Over a socket or any `AsyncRead + AsyncWrite`
    /// (`bufferevent_socket_new`).
    Socket,
    /// A filter over another bufferevent (`bufferevent_filter_new`).
    Filter,
    /// One end of an in-memory pair (`bufferevent_pair_new`).
    Pair,
}

/// The I/O side of a bufferevent.
pub(crate) trait Backend: Send {
    /// Which kind this is.
    fn kind(&self) -> Kind;

    /// Moves bytes from the transport into `core.input` as far as
    /// `core.read_budget()` allows, reporting reads, EOF and errors to the
    /// core. Registers `cx` for the next readiness when it stops. Returns
    /// whether anything changed.
    fn poll_read(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool;

    /// Moves bytes from `core.output` to the transport as far as
    /// `core.write_budget()` allows, and shuts the write side down when the
    /// core asks for it. Returns whether anything changed.
    fn poll_write(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool;

    /// The user appended to `core.output` (a filter runs its output filter
    /// here, synchronously, as libevent does: statement 58).
    fn after_write(&mut self, _core: &mut Core, _now: Instant) {}

    /// `bufferevent_flush(EV_WRITE, mode)` for the parts below the core.
    /// Returns whether a filter call returned `Ok` (statement 63), or for
    /// other kinds whether anything will be pushed.
    fn flush(&mut self, core: &mut Core, mode: FlushMode, now: Instant) -> Result<bool, Error>;

    /// Output still held below this bufferevent (in an underlying one).
    fn lower_output_pending(&self) -> bool {
        false
    }

    /// The output backlog below this bufferevent: the bytes in the outputs
    /// of every bufferevent under it (a filter's underlying, and further
    /// down), and whether any of those is at its own bound.
    fn lower_backlog(&self) -> (usize, bool) {
        (0, false)
    }

    /// Bytes the transport at the bottom of the stack has written (for a
    /// socket or a pair, its own count; a filter asks its underlying).
    fn wire_written(&self, core: &Core) -> u64 {
        core.total_written()
    }

    /// The directions in which a bufferevent below this one is suspended
    /// by its rate limit (a filter's underlying, or further down).
    fn lower_suspended(&self) -> Dir {
        Dir::empty()
    }

    /// Whether the write side is finished all the way down: shut down (or
    /// failed) here and in every bufferevent below.
    fn write_finished(&self, core: &Core) -> bool {
        core.write_half() != HalfState::Open
    }

    /// Reading or writing was enabled or disabled (a pair publishes its
    /// room to the partner).
    fn on_enable_change(&mut self, _core: &mut Core) {}

    /// The bufferevent below, for filters (`bufferevent_get_underlying`).
    fn underlying(&self) -> Option<&BufferEvent> {
        None
    }

    /// The bufferevent below, mutably.
    fn underlying_mut(&mut self) -> Option<&mut BufferEvent> {
        None
    }

    /// Gives the bufferevent below back.
    fn into_underlying(self: Box<Self>) -> Option<BufferEvent> {
        None
    }

    /// A handle on the other end of a pair (`bufferevent_pair_get_partner`).
    fn partner(&self) -> Option<Handle> {
        None
    }

    /// Whether the transport can still change state by itself (a connect
    /// in progress, a partner that may still write).
    fn may_progress(&self) -> bool {
        false
    }

    /// The bufferevent is being dropped (a pair hands its pending output
    /// to the partner).
    fn on_free(&mut self, _core: &mut Core) {}
}

/// What a bufferevent holds after its backend was taken away
/// ([`BufferEvent::into_underlying`]): nothing moves any more.
pub(crate) struct Gone;

impl Backend for Gone {
    fn kind(&self) -> Kind {
        Kind::Filter
    }

    fn poll_read(&mut self, _core: &mut Core, _cx: &mut Context<'_>, _now: Instant) -> bool {
        false
    }

    fn poll_write(&mut self, _core: &mut Core, _cx: &mut Context<'_>, _now: Instant) -> bool {
        false
    }

    fn flush(&mut self, _core: &mut Core, _mode: FlushMode, _now: Instant) -> Result<bool, Error> {
        Ok(false)
    }
}
