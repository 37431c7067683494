//! Runs the buffer workloads B1-B8 of `docs/workloads.md` once each, at
//! their full round counts, on `evbuffer::EvBuffer` (or with `--libevent` on
//! libevent's own evbuffer, with `--bytesmut` on a plain `bytes::BytesMut`),
//! and prints one line per workload:
//!
//! ```text
//! $ cargo run --release --example evbuffer_workloads -- B4
//! B4 checksum=1024000000000 ns=312345678
//! ```
//!
//! The checksum is checked against the one computed from the workload's
//! definition alone; a mismatch is an error (exit status 1). `--compare`
//! instead runs each workload on every side (evbuffer, libevent, BytesMut),
//! interleaved, `--repeat` times, and prints a markdown table of the best
//! times and the ratios evbuffer / libevent and evbuffer / BytesMut (below 1
//! means evbuffer is faster) with their geometric means.
//! The times there are the thread's CPU time, which other processes on a
//! busy machine do not inflate; the wall-clock ratio is shown beside it.
//!
//! glibc's allocator is first put in its long-running steady state, for
//! every side alike (`--glibc-trim` leaves it at its defaults): heap trimming
//! off and large blocks from the heap (see `steady_allocator` in the
//! workloads module). Otherwise libevent's B2 returns its chains' memory to
//! the kernel at every drain and faults it back in, 40 times slower, and
//! `BytesMut`'s B2 maps and unmaps its 1 MiB buffer every round: effects of
//! the process's allocation history rather than of the buffers.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;
use workloads::{expected, setup, steady_allocator, thread_cpu_ns, Id, Side, HAS_LIBEVENT};

#[derive(Parser, Debug)]
#[command(about = "Runs the evbuffer workloads (docs/workloads.md, B1-B8)")]
struct Args {
    /// Workloads to run: B1 ... B8, or `all`.
    #[arg(required = true, value_name = "WORKLOAD")]
    workloads: Vec<String>,
    /// Run on libevent's evbuffer (the C shim) instead of this crate.
    #[arg(long, conflicts_with_all = ["compare", "bytesmut"])]
    libevent: bool,
    /// Run on one contiguous `bytes::BytesMut` per buffer instead (no B4).
    #[arg(long, conflicts_with = "compare")]
    bytesmut: bool,
    /// Run every side, interleaved, and print a ratio table instead.
    #[arg(long)]
    compare: bool,
    /// With --compare: runs per side (the best one counts).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Rounds per run instead of the documented count (the checksum is then
    /// checked against the independent computation only).
    #[arg(long)]
    rounds: Option<u64>,
    /// Leave glibc's allocator tunables at their defaults (see the module docs).
    #[arg(long)]
    glibc_trim: bool,
}

/// One timed run.
struct Run {
    checksum: u64,
    /// Wall-clock nanoseconds.
    ns: u128,
    /// CPU time of this thread in nanoseconds.
    cpu_ns: u128,
}

/// Sets up (not timed), runs `rounds` rounds (timed) and checks the checksum.
fn run_once(side: Side, id: Id, rounds: u64) -> Result<Run, String> {
    let mut w = setup(side, id).ok_or_else(|| match side {
        Side::Libevent => "this build has no libevent side (pkg-config did not find libevent \
                           at build time; install libevent-dev and rebuild)"
            .to_string(),
        _ => format!("{id} has no {side} version (B4 peeks at a chained buffer's extents)"),
    })?;
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    let checksum = w.run(rounds);
    let ns = start.elapsed().as_nanos();
    let cpu_ns = thread_cpu_ns() - cpu;
    drop(w);
    let want = expected::checksum(id, rounds);
    if checksum != want {
        return Err(format!(
            "{id} on {side}: checksum {checksum}, expected {want}"
        ));
    }
    Ok(Run {
        checksum,
        ns,
        cpu_ns,
    })
}

fn parse_ids(names: &[String]) -> Result<Vec<Id>, String> {
    let mut ids = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("all") {
            ids.extend(Id::ALL);
        } else {
            ids.push(
                Id::parse(name).ok_or_else(|| {
                    format!("unknown workload {name:?}: expected B1 ... B8 or all")
                })?,
            );
        }
    }
    Ok(ids)
}

/// Best CPU and wall times of one side over the repeats.
#[derive(Clone, Copy)]
struct Best {
    cpu_ns: u128,
    ns: u128,
}

fn geomean(logs: &[f64]) -> String {
    if logs.is_empty() {
        return String::new();
    }
    format!(
        "{:.2}",
        (logs.iter().sum::<f64>() / logs.len() as f64).exp()
    )
}

fn compare(ids: &[Id], rounds: Option<u64>, repeat: u32) -> Result<(), String> {
    if !HAS_LIBEVENT {
        eprintln!("note: this build has no libevent side (install libevent-dev and rebuild)");
    }
    println!(
        "| workload | evbuffer ms | libevent ms | BytesMut ms | vs libevent | vs BytesMut | wall vs libevent | wall vs BytesMut |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut logs: [Vec<f64>; 4] = Default::default();
    for &id in ids {
        let rounds = rounds.unwrap_or(id.full_rounds());
        let mut best: [Option<Best>; 3] = [None; 3];
        // Interleaved: one run of each side, `repeat` times over.
        for _ in 0..repeat {
            for (i, side) in Side::ALL.into_iter().enumerate() {
                if setup(side, id).is_none() {
                    continue;
                }
                let r = run_once(side, id, rounds)?;
                let b = best[i].get_or_insert(Best {
                    cpu_ns: u128::MAX,
                    ns: u128::MAX,
                });
                b.cpu_ns = b.cpu_ns.min(r.cpu_ns);
                b.ns = b.ns.min(r.ns);
            }
        }
        let ms = |b: Option<Best>| {
            b.map_or("—".to_string(), |b| {
                format!("{:.1}", b.cpu_ns as f64 / 1e6)
            })
        };
        let ours = best[0].ok_or("no evbuffer run")?;
        let mut cells = Vec::new();
        for (k, other) in [best[1], best[2]].into_iter().enumerate() {
            match other {
                Some(o) => {
                    let ratio = ours.cpu_ns as f64 / o.cpu_ns as f64;
                    let wall = ours.ns as f64 / o.ns as f64;
                    logs[k].push(ratio.ln());
                    logs[k + 2].push(wall.ln());
                    cells.push((format!("{ratio:.2}"), format!("{wall:.2}")));
                }
                None => cells.push(("—".into(), "—".into())),
            }
        }
        println!(
            "| {id} {} | {} | {} | {} | {} | {} | {} | {} |",
            id.title(),
            ms(best[0]),
            ms(best[1]),
            ms(best[2]),
            cells[0].0,
            cells[1].0,
            cells[0].1,
            cells[1].1,
        );
    }
    println!(
        "| geometric mean | | | | {} | {} | {} | {} |",
        geomean(&logs[0]),
        geomean(&logs[1]),
        geomean(&logs[2]),
        geomean(&logs[3])
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.glibc_trim {
        steady_allocator();
    }
    let result = parse_ids(&args.workloads).and_then(|ids| {
        if args.compare {
            return compare(&ids, args.rounds, args.repeat);
        }
        let side = if args.libevent {
            Side::Libevent
        } else if args.bytesmut {
            Side::BytesMut
        } else {
            Side::Evbuffer
        };
        for id in ids {
            let rounds = args.rounds.unwrap_or(id.full_rounds());
            let Run { checksum, ns, .. } = run_once(side, id, rounds)?;
            if args.rounds.is_none() && checksum != id.documented_checksum() {
                return Err(format!(
                    "{id}: checksum {checksum}, docs/workloads.md says {}",
                    id.documented_checksum()
                ));
            }
            println!("{id} checksum={checksum} ns={ns}");
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
