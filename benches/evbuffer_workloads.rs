//! Criterion benches for the reference buffer workloads B1-B8 of
//! `shared/bench/WORKLOADS.md`: one group per workload, with the functions
//! `evbuffer` (this project's `EvBuffer`) and `libevent` (libevent's own
//! evbuffer through the C shim in `benches/c/`, when the build found
//! libevent), so that the ratio comes out of one run.
//!
//! One criterion iteration is one round of the workload (a full run at the
//! WORKLOADS.md counts takes around a second per side, too long for
//! criterion); `cargo run --release --example evbuffer_workloads` runs the
//! full counts. Setup (B4's and B6's buffers) is outside the timing.
//!
//! ```text
//! cargo bench --bench evbuffer_workloads            # all, a few minutes
//! cargo bench --bench evbuffer_workloads -- B4      # one workload
//! ```

#[path = "workloads/mod.rs"]
mod workloads;

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use workloads::{setup, Id, Side};

fn bench(c: &mut Criterion) {
    if !workloads::HAS_LIBEVENT {
        eprintln!("note: built without libevent (pkg-config did not find it): evbuffer side only");
    }
    for id in Id::ALL {
        let mut group = c.benchmark_group(format!("{id}_{}", id.title()));
        for side in [Side::Evbuffer, Side::Libevent] {
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
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
