//! The buffer workloads B1-B8 of `docs/workloads.md` on three sides: this
//! project's [`evbuffer::EvBuffer`], the plain contiguous `bytes::BytesMut`
//! (both from the evbuffer crate's own bench code,
//! `crates/evbuffer/benches/workloads/`), and libevent's evbuffer through the
//! C shim in `benches/c/` (when the build found libevent).
//!
//! One module, shared by `benches/evbuffer_workloads.rs`,
//! `examples/evbuffer_workloads.rs` and `tests/evbuffer_workloads.rs` through
//! `#[path]`, so that the bench, the example and the test run the very same
//! code.
#![allow(dead_code)] // each includer uses a different part

#[path = "../../crates/evbuffer/benches/workloads/mod.rs"]
mod shared;

#[cfg(has_libevent)]
pub(crate) mod libevent;

#[allow(unused_imports)] // each includer uses a different part
pub(crate) use shared::{expected, steady_allocator, thread_cpu_ns, Id, Workload};

use std::fmt;

/// Which implementation runs a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// `evbuffer::EvBuffer`
    Evbuffer,
    /// libevent's evbuffer through the C shim
    Libevent,
    /// one contiguous `bytes::BytesMut` per buffer
    BytesMut,
}

impl Side {
    /// Every side, in table order.
    pub(crate) const ALL: [Side; 3] = [Side::Evbuffer, Side::Libevent, Side::BytesMut];
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Evbuffer => "evbuffer",
            Side::Libevent => "libevent",
            Side::BytesMut => "bytesmut",
        })
    }
}

/// Whether this build has the libevent side.
pub(crate) const HAS_LIBEVENT: bool = cfg!(has_libevent);

/// Sets a workload up on one side (not timed). `None` for the libevent side
/// when the build did not find libevent, and for B4 on `BytesMut`.
pub(crate) fn setup(side: Side, id: Id) -> Option<Box<dyn Workload>> {
    match side {
        Side::Evbuffer => Some(shared::evbuf::setup(id)),
        Side::BytesMut => shared::bytesmut::setup(id),
        #[cfg(has_libevent)]
        Side::Libevent => Some(libevent::setup(id)),
        #[cfg(not(has_libevent))]
        Side::Libevent => None,
    }
}
