//! The workloads on libevent's own evbuffer, through the C shim
//! `benches/c/evbuffer_workloads.c` (compiled by build.rs when pkg-config
//! finds libevent). Each workload there is `lev_bN_new` (setup, not timed),
//! `lev_bN_run(state, rounds)` and `lev_bN_free`.

use super::{Id, Workload};
use std::ffi::c_void;

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type RunFn = unsafe extern "C" fn(*mut c_void, u64) -> u64;
type FreeFn = unsafe extern "C" fn(*mut c_void);

macro_rules! shim {
    ($($new:ident $run:ident $free:ident;)*) => {
        extern "C" {
            $(
                fn $new() -> *mut c_void;
                fn $run(state: *mut c_void, rounds: u64) -> u64;
                fn $free(state: *mut c_void);
            )*
        }
    };
}

shim! {
    lev_b1_new lev_b1_run lev_b1_free;
    lev_b2_new lev_b2_run lev_b2_free;
    lev_b3_new lev_b3_run lev_b3_free;
    lev_b4_new lev_b4_run lev_b4_free;
    lev_b5_new lev_b5_run lev_b5_free;
    lev_b6_new lev_b6_run lev_b6_free;
    lev_b7_new lev_b7_run lev_b7_free;
    lev_b8_new lev_b8_run lev_b8_free;
}

extern "C" {
    fn lev_b4_extents(state: *mut c_void) -> i32;
}

/// A workload's state inside the shim; freed on drop.
pub(crate) struct Lev {
    state: *mut c_void,
    run: RunFn,
    free: FreeFn,
    id: Id,
}

/// Sets `id` up on libevent (not timed).
pub(crate) fn setup(id: Id) -> Box<dyn Workload> {
    Box::new(Lev::new(id))
}

impl Lev {
    /// Runs the shim's setup for `id`.
    pub(crate) fn new(id: Id) -> Lev {
        let (new, run, free): (NewFn, RunFn, FreeFn) = match id {
            Id::B1 => (lev_b1_new, lev_b1_run, lev_b1_free),
            Id::B2 => (lev_b2_new, lev_b2_run, lev_b2_free),
            Id::B3 => (lev_b3_new, lev_b3_run, lev_b3_free),
            Id::B4 => (lev_b4_new, lev_b4_run, lev_b4_free),
            Id::B5 => (lev_b5_new, lev_b5_run, lev_b5_free),
            Id::B6 => (lev_b6_new, lev_b6_run, lev_b6_free),
            Id::B7 => (lev_b7_new, lev_b7_run, lev_b7_free),
            Id::B8 => (lev_b8_new, lev_b8_run, lev_b8_free),
        };
        // SAFETY: the shim's constructors take no arguments and return a
        // fresh state (they abort rather than return null).
        let state = unsafe { new() };
        Lev {
            state,
            run,
            free,
            id,
        }
    }

    /// How many extents libevent's B4 buffer has (`None` for other workloads).
    pub(crate) fn b4_extents(&self) -> Option<usize> {
        // SAFETY: `state` came from lev_b4_new when id is B4, and is live.
        (self.id == Id::B4).then(|| unsafe { lev_b4_extents(self.state) } as usize)
    }
}

impl Workload for Lev {
    fn run(&mut self, rounds: u64) -> u64 {
        // SAFETY: `state` came from the matching constructor, is live until
        // drop, and `&mut self` keeps it from being used twice at once.
        unsafe { (self.run)(self.state, rounds) }
    }
}

impl Drop for Lev {
    fn drop(&mut self) {
        // SAFETY: `state` came from the matching constructor and is freed
        // exactly once, here.
        unsafe { (self.free)(self.state) }
    }
}
