//! Criterion benches for the buffer workloads B1-B8 of `docs/workloads.md`:
//! one group per workload, with the functions `evbuffer` (this project's
//! `EvBuffer`), `libevent` (libevent's own evbuffer through the C shim in
//! `benches/c/`, when the build found libevent) and `bytesmut` (one plain
//! contiguous `bytes::BytesMut` per buffer; not for B4), so that the ratios
//! come out of one run. `cargo bench -p evbuffer` runs the evbuffer and
//! `BytesMut` sides alone, without the C shim.
//!
//! One criterion iteration is one round of the workload (a full run at the
//! documented counts takes around a second per side, too long for
//! criterion); `cargo run --release --example evbuffer_workloads` runs the
//! full counts. Setup (B4's and B6's buffers) is outside the timing.
//!
//! Times are the thread's CPU time (user + system), not wall time, so that
//! other processes on a shared machine do not inflate them; and glibc's heap
//! trimming is off for both sides (see `workloads::steady_allocator`).
//!
//! ```text
//! cargo bench --bench evbuffer_workloads            # all, a few minutes
//! cargo bench --bench evbuffer_workloads -- B4      # one workload
//! ```

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use workloads::{setup, thread_cpu_ns, Id, Side};

/// Criterion measurement: the thread's CPU time, shown like wall time.
struct CpuTime(WallTime);

impl Measurement for CpuTime {
    type Intermediate = u128;
    type Value = Duration;

    fn start(&self) -> u128 {
        thread_cpu_ns()
    }
    fn end(&self, start: u128) -> Duration {
        let ns = thread_cpu_ns().saturating_sub(start);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn bench(c: &mut Criterion<CpuTime>) {
    workloads::steady_allocator();
    if !workloads::HAS_LIBEVENT {
        eprintln!("note: built without libevent (pkg-config did not find it): evbuffer side only");
    }
    for id in Id::ALL {
        let mut group = c.benchmark_group(format!("{id}_{}", id.title()));
        for side in Side::ALL {
            let Some(mut w) = setup(side, id) else {
                continue;
            };
            group.bench_function(side.to_string(), |b| b.iter(|| black_box(w.run(1))));
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(CpuTime(WallTime))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
