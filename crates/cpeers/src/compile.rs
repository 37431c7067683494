//! Compiling a C peer once: `cc` with the flags `pkg-config` gives for
//! libevent, into a file named after a hash of the source and the command,
//! so a changed source or compiler rebuilds and an unchanged one is reused
//! across test binaries and runs.
//!
//! Within a process a mutex serialises builds; across processes (cargo runs
//! test binaries one after another, but a developer may run two) the binary
//! is written under a temporary name and renamed into place, which is atomic.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::BuildError;

/// The programs this crate carries, by name.
pub const PROGRAMS: &[&str] = &[
    "filter_server",
    "filter_client",
    "upper_server",
    "filter_echo_server",
    "zlib_echo_server",
    "tls_echo_server",
    "ratelimit_server",
];

const SOURCES: &[(&str, &str)] = &[
    ("filter_server", include_str!("../c/filter_server.c")),
    ("filter_client", include_str!("../c/filter_client.c")),
    ("upper_server", include_str!("../c/upper_server.c")),
    // The libevent side of the network benchmarks (benches/network.sh).
    (
        "filter_echo_server",
        include_str!("../c/filter_echo_server.c"),
    ),
    ("zlib_echo_server", include_str!("../c/zlib_echo_server.c")),
    ("tls_echo_server", include_str!("../c/tls_echo_server.c")),
    ("ratelimit_server", include_str!("../c/ratelimit_server.c")),
];

/// pkg-config modules a program needs besides libevent's.
const EXTRA_PKGS: &[(&str, &[&str])] = &[
    ("zlib_echo_server", &["zlib"]),
    ("tls_echo_server", &["libevent_openssl", "openssl"]),
];

const CFLAGS: &[&str] = &["-O2", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra"];
const PKG_CONFIG_ARGS: &[&str] = &["--cflags", "--libs", "libevent", "libevent_pthreads"];

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The C source of program `name`.
pub fn source(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Where [`build`] puts binaries: `$CPEERS_OUT_DIR` if set, else a `cpeers`
/// directory in the cargo profile directory of the running executable
/// (`target/debug/cpeers` for tests and examples), else the temp directory.
pub fn default_out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CPEERS_OUT_DIR") {
        return PathBuf::from(dir);
    }
    let profile_dir = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        match dir.file_name()?.to_str()? {
            "deps" | "examples" => dir.parent().map(Path::to_path_buf),
            _ => Some(dir.to_path_buf()),
        }
    });
    profile_dir
        .unwrap_or_else(std::env::temp_dir)
        .join("cpeers")
}

/// Compiles program `name` (one of [`PROGRAMS`]) into [`default_out_dir`]
/// unless an up-to-date binary is there, and returns its path.
pub fn build(name: &str) -> Result<PathBuf, BuildError> {
    build_in(name, &default_out_dir())
}

/// [`build`] into a given directory.
pub fn build_in(name: &str, out_dir: &Path) -> Result<PathBuf, BuildError> {
    let src = source(name).ok_or_else(|| BuildError::UnknownProgram {
        name: name.to_owned(),
        known: PROGRAMS.join(", "),
    })?;
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());

    let pkg_flags = pkg_config_flags(name)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());

    let mut h = DefaultHasher::new();
    (src, &cc, CFLAGS, &pkg_flags).hash(&mut h);
    let stem = format!("{name}-{:016x}", h.finish());
    let exe = out_dir.join(&stem);
    if exe.is_file() {
        return Ok(exe);
    }

    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let c_file = out_dir.join(format!("{stem}.c"));
    std::fs::write(&c_file, src).map_err(io_err(&c_file))?;

    let tmp = out_dir.join(format!("{stem}.tmp{}", std::process::id()));
    let out = Command::new(&cc)
        .args(CFLAGS)
        .arg("-o")
        .arg(&tmp)
        .arg(&c_file)
        .args(&pkg_flags)
        .output()
        .map_err(|source| BuildError::CompilerMissing {
            cc: cc.clone(),
            source,
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(BuildError::CompileFailed {
            name: name.to_owned(),
            status: out.status,
            stderr: lossy_capped(&out.stderr, 8 * 1024),
        });
    }
    std::fs::rename(&tmp, &exe).map_err(io_err(&exe))?;
    Ok(exe)
}

fn pkg_config_flags(name: &str) -> Result<Vec<String>, BuildError> {
    let extra = EXTRA_PKGS.iter().find(|(n, _)| *n == name);
    let out = Command::new("pkg-config")
        .args(PKG_CONFIG_ARGS)
        .args(extra.map_or(&[][..], |(_, pkgs)| *pkgs))
        .output()
        .map_err(|source| BuildError::PkgConfigMissing { source })?;
    if !out.status.success() {
        let extra = extra.map_or(&[][..], |(_, pkgs)| *pkgs);
        let mut modules = vec!["libevent"];
        let mut install = vec!["libevent-dev"];
        for pkg in extra {
            modules.push(pkg);
            install.push(match *pkg {
                "zlib" => "zlib1g-dev",
                "libevent_openssl" => continue,
                "openssl" => "libssl-dev",
                other => other,
            });
        }
        return Err(BuildError::PackagesMissing {
            modules: modules.join(", "),
            install: install.join(" "),
            stderr: pkg_config_reason(&lossy_capped(&out.stderr, 4 * 1024)),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// pkg-config explains a missing module in several lines; keep the names
/// of the missing modules, on one line ("libevent, zlib not found").
fn pkg_config_reason(stderr: &str) -> String {
    let mut missing: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split('\'').nth(1))
        .collect();
    missing.dedup();
    if missing.is_empty() {
        stderr.lines().next().unwrap_or("").trim().to_owned()
    } else {
        format!("{} not found", missing.join(", "))
    }
}

fn lossy_capped(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_has_a_source() {
        for name in PROGRAMS {
            assert!(source(name).unwrap().contains("event2/"), "{name}");
        }
        assert!(source("nope").is_none());
    }

    #[test]
    fn unknown_program_is_a_clear_error() {
        let err = build_in("nope", Path::new("/nonexistent")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("nope") && msg.contains("filter_server"),
            "{msg}"
        );
    }

    #[test]
    fn out_dir_is_under_the_profile_dir() {
        let dir = default_out_dir();
        assert!(dir.ends_with("cpeers"), "{}", dir.display());
    }

    #[test]
    fn pkg_config_reason_is_one_line() {
        let stderr = "Package libevent was not found in the pkg-config search path.\n\
                      Perhaps you should add the directory containing `libevent.pc'\n\
                      to the PKG_CONFIG_PATH environment variable\n\
                      Package 'libevent', required by 'virtual:world', not found\n\
                      Package 'zlib', required by 'virtual:world', not found\n";
        assert_eq!(pkg_config_reason(stderr), "libevent, zlib not found");
        assert_eq!(pkg_config_reason("odd\nmore"), "odd");
        assert_eq!(pkg_config_reason(""), "");
    }

    #[test]
    fn capped_text() {
        assert_eq!(lossy_capped(b"abcdef", 3), "abc");
        assert_eq!(lossy_capped(b"ab", 3), "ab");
    }
}
