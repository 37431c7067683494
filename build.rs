//! Builds the C shim that runs the benchmark workloads (B1-B8 of
//! docs/workloads.md) on libevent's own evbuffer, so that the
//! benches and the `evbuffer_workloads` example can time both sides in one
//! run.
//!
//! When pkg-config finds libevent (Debian: `apt-get install libevent-dev
//! pkg-config`), the shim is compiled and `cfg(has_libevent)` is set. When it
//! does not, the build still succeeds: the libevent side is skipped and a
//! warning says so. The shim and libevent are linked into the benches,
//! examples and tests only, never into the facade library itself.

use std::path::PathBuf;

const SHIM: &str = "benches/c/evbuffer_workloads.c";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_libevent)");
    println!("cargo::rerun-if-changed={SHIM}");
    println!("cargo::rerun-if-changed=build.rs");

    let lib = match pkg_config::Config::new()
        .atleast_version("2.1")
        .cargo_metadata(false)
        .probe("libevent")
    {
        Ok(lib) => lib,
        Err(e) => {
            println!(
                "cargo::warning=libevent not found by pkg-config ({}); the libevent side of \
                 the evbuffer benchmarks is skipped (install libevent-dev to compare)",
                first_line(&e.to_string())
            );
            return;
        }
    };

    let mut build = cc::Build::new();
    build
        .file(SHIM)
        .includes(&lib.include_paths)
        .warnings(true)
        .cargo_metadata(false);
    if let Err(e) = build.try_compile("evbuffer_workloads") {
        println!(
            "cargo::warning=could not compile {SHIM} ({}); the libevent side of the evbuffer \
             benchmarks is skipped",
            first_line(&e.to_string())
        );
        return;
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let archive = out.join("libevbuffer_workloads.a");
    // Only the targets that call the shim link it (and libevent): the facade
    // library and its users stay free of a C dependency.
    for kind in ["benches", "examples", "tests"] {
        println!("cargo::rustc-link-arg-{kind}={}", archive.display());
        for dir in &lib.link_paths {
            println!("cargo::rustc-link-arg-{kind}=-L{}", dir.display());
        }
        for name in &lib.libs {
            println!("cargo::rustc-link-arg-{kind}=-l{name}");
        }
    }
    println!("cargo::rustc-cfg=has_libevent");
}

/// The line of an error that says why: pkg-config's "Package 'libevent'
/// was not found" if present, else the first non-empty line.
fn first_line(s: &str) -> &str {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    s.lines()
        .map(str::trim)
        .find(|l| l.contains("not found") || l.starts_with("No package"))
        .or_else(|| lines.next())
        .unwrap_or("no reason given")
}
