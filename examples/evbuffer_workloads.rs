//! Runs the reference buffer workloads B1-B8 of `shared/bench/WORKLOADS.md`
//! once each, at their full round counts, on `evbuffer::EvBuffer` (or with
//! `--libevent` on libevent's own evbuffer), and prints one line per
//! workload:
//!
//! ```text
//! $ cargo run --release --example evbuffer_workloads -- B4
//! B4 checksum=1024000000000 ns=312345678
//! ```
//!
//! The checksum is checked against the one computed from the workload's
//! definition alone; a mismatch is an error (exit status 1). `--compare`
//! instead runs each workload on both sides, alternately, `--repeat` times,
//! and prints a markdown table of the best times and their ratio (evbuffer /
//! libevent; below 1 means faster than libevent) with the geometric mean.
//! The times there are the thread's CPU time, which other processes on a
//! busy machine do not inflate; the wall-clock ratio is shown beside it.
//!
//! glibc's heap trimming is turned off first (`--glibc-trim` leaves it on),
//! for both sides alike: otherwise libevent's B2 returns its chains' memory
//! to the kernel at every drain and faults it back in, 40 times slower, an
//! effect of the process's allocation history rather than of the buffers
//! (in criterion's process it does not happen).

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;
use workloads::{expected, setup, steady_allocator, thread_cpu_ns, Id, Side, HAS_LIBEVENT};

#[derive(Parser, Debug)]
#[command(about = "Runs the evbuffer reference workloads (WORKLOADS.md B1-B8)")]
struct Args {
    /// Workloads to run: B1 ... B8, or `all`.
    #[arg(required = true, value_name = "WORKLOAD")]
    workloads: Vec<String>,
    /// Run on libevent's evbuffer (the C shim) instead of this crate.
    #[arg(long, conflicts_with = "compare")]
    libevent: bool,
    /// Run both sides and print a ratio table instead.
    #[arg(long)]
    compare: bool,
    /// With --compare: runs per side (the best one counts).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Rounds per run instead of WORKLOADS.md's count (the checksum is then
    /// checked against the independent computation only).
    #[arg(long)]
    rounds: Option<u64>,
    /// Leave glibc's heap trimming at its default (see the module docs).
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
    let mut w = setup(side, id).ok_or_else(|| {
        "this build has no libevent side (pkg-config did not find libevent at build time; \
         install libevent-dev and rebuild)"
            .to_string()
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

fn compare(ids: &[Id], rounds: Option<u64>, repeat: u32) -> Result<(), String> {
    if !HAS_LIBEVENT {
        return Err("--compare needs the libevent side, which this build lacks".into());
    }
    println!("| workload | evbuffer ms | libevent ms | ratio | wall ratio |");
    println!("|---|---:|---:|---:|---:|");
    let (mut log_cpu, mut log_wall) = (0.0f64, 0.0f64);
    for &id in ids {
        let rounds = rounds.unwrap_or(id.full_rounds());
        let mut best = [(u128::MAX, u128::MAX); 2];
        for _ in 0..repeat {
            for (i, side) in [Side::Evbuffer, Side::Libevent].into_iter().enumerate() {
                let r = run_once(side, id, rounds)?;
                best[i] = (best[i].0.min(r.cpu_ns), best[i].1.min(r.ns));
            }
        }
        let [(ours, ours_wall), (theirs, theirs_wall)] = best;
        let ratio = ours as f64 / theirs as f64;
        let wall = ours_wall as f64 / theirs_wall as f64;
        log_cpu += ratio.ln();
        log_wall += wall.ln();
        println!(
            "| {id} {} | {:.1} | {:.1} | {ratio:.2} | {wall:.2} |",
            id.title(),
            ours as f64 / 1e6,
            theirs as f64 / 1e6
        );
    }
    let n = ids.len() as f64;
    println!(
        "| geometric mean | | | {:.2} | {:.2} |",
        (log_cpu / n).exp(),
        (log_wall / n).exp()
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
        } else {
            Side::Evbuffer
        };
        for id in ids {
            let rounds = args.rounds.unwrap_or(id.full_rounds());
            let Run { checksum, ns, .. } = run_once(side, id, rounds)?;
            if args.rounds.is_none() && checksum != id.documented_checksum() {
                return Err(format!(
                    "{id}: checksum {checksum}, WORKLOADS.md says {}",
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
