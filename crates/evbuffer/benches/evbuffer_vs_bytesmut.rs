//! `cargo bench -p evbuffer`: the buffer workloads B1-B8 of
//! `docs/workloads.md` on [`evbuffer::EvBuffer`] and, as the comparison, on
//! the plain contiguous `bytes::BytesMut` a Rust program would use instead
//! (same operations, same checksums; B4 has no `BytesMut` version). One
//! criterion group per workload, with the functions `evbuffer` and
//! `bytesmut`, so that the ratio comes out of one run.
//!
//! One criterion iteration is one round of the workload. Times are the
//! thread's CPU time on Linux (other processes on a shared machine do not
//! inflate it), the wall clock elsewhere. libevent's side needs the C shim
//! and lives in the workspace root's bench (`cargo bench --bench
//! evbuffer_workloads`); the full-count three-way table comes from
//! `cargo run --release --example evbuffer_workloads -- --compare all`.
//!
//! ```text
//! cargo bench -p evbuffer                 # all workloads, both sides
//! cargo bench -p evbuffer -- B5           # one workload
//! ```

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use workloads::{bytesmut, evbuf, thread_cpu_ns, Id, Workload};

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
    for id in Id::ALL {
        let mut group = c.benchmark_group(format!("{id}_{}", id.title()));
        let sides: [(&str, Option<Box<dyn Workload>>); 2] = [
            ("evbuffer", Some(evbuf::setup(id))),
            ("bytesmut", bytesmut::setup(id)),
        ];
        for (name, w) in sides {
            let Some(mut w) = w else {
                continue;
            };
            group.bench_function(name, |b| b.iter(|| black_box(w.run(1))));
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
