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
//! and prints a table of the best times and their ratio (evbuffer / libevent;
//! below 1 means faster than libevent) with the geometric mean.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;
use workloads::{expected, setup, Id, Side, HAS_LIBEVENT};

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
}

/// One timed run: (checksum, nanoseconds). Setup is not timed.
fn run_once(side: Side, id: Id, rounds: u64) -> Result<(u64, u128), String> {
    let mut w = setup(side, id).ok_or_else(|| {
        "this build has no libevent side (pkg-config did not find libevent at build time; \
         install libevent-dev and rebuild)"
            .to_string()
    })?;
    let start = Instant::now();
    let sum = w.run(rounds);
    let ns = start.elapsed().as_nanos();
    drop(w);
    let want = expected::checksum(id, rounds);
    if sum != want {
        return Err(format!("{id} on {side}: checksum {sum}, expected {want}"));
    }
    Ok((sum, ns))
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
    println!("| workload | rounds | evbuffer ms | libevent ms | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let mut log_sum = 0.0f64;
    for &id in ids {
        let rounds = rounds.unwrap_or(id.full_rounds());
        let (mut ours, mut theirs) = (u128::MAX, u128::MAX);
        for _ in 0..repeat {
            ours = ours.min(run_once(Side::Evbuffer, id, rounds)?.1);
            theirs = theirs.min(run_once(Side::Libevent, id, rounds)?.1);
        }
        let ratio = ours as f64 / theirs as f64;
        log_sum += ratio.ln();
        println!(
            "| {id} {} | {rounds} | {:.1} | {:.1} | {ratio:.2} |",
            id.title(),
            ours as f64 / 1e6,
            theirs as f64 / 1e6
        );
    }
    let geomean = (log_sum / ids.len() as f64).exp();
    println!("| geometric mean | | | | {geomean:.2} |");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
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
            let (sum, ns) = run_once(side, id, rounds)?;
            if args.rounds.is_none() && sum != id.documented_checksum() {
                return Err(format!(
                    "{id}: checksum {sum}, WORKLOADS.md says {}",
                    id.documented_checksum()
                ));
            }
            println!("{id} checksum={sum} ns={ns}");
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
