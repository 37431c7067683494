//! Why a C peer could not be built ([`BuildError`]) or started ([`PeerError`]).
//! The messages say what to install, since the usual cause is a machine
//! without `libevent-dev`, `pkg-config` or a C compiler.

use std::io;
use std::path::PathBuf;

/// Why [`build`](crate::build) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No C program of that name is carried by this crate.
    #[error("no C peer named {name:?} (known: {known})")]
    UnknownProgram {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// `pkg-config` itself could not be run.
    #[error(
        "cannot run pkg-config ({source}); install it: apt-get install pkg-config libevent-dev"
    )]
    PkgConfigMissing {
        /// What the OS said.
        source: io::Error,
    },
    /// `pkg-config` ran but does not know a library the program needs
    /// (libevent, or zlib/OpenSSL for the zlib and TLS echo servers).
    #[error("needs {modules} (apt-get install {install}); pkg-config: {stderr}")]
    PackagesMissing {
        /// The pkg-config modules asked for.
        modules: String,
        /// The Debian packages that provide them.
        install: String,
        /// What pkg-config printed.
        stderr: String,
    },
    /// The C compiler could not be run.
    #[error(
        "cannot run the C compiler {cc:?} ({source}); install one (apt-get install gcc) or set CC"
    )]
    CompilerMissing {
        /// The compiler command (from `$CC`, or `cc`).
        cc: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The compiler ran and failed.
    #[error("compiling {name} failed ({status}):\n{stderr}")]
    CompileFailed {
        /// The program.
        name: String,
        /// The compiler's exit status.
        status: std::process::ExitStatus,
        /// What the compiler printed (at most 8 KiB).
        stderr: String,
    },
    /// Reading or writing in the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

impl BuildError {
    /// True when the cause is a tool or library missing from the machine
    /// (as opposed to a broken source or a full disk): tests skip on it.
    pub fn is_missing_tool(&self) -> bool {
        matches!(
            self,
            BuildError::PkgConfigMissing { .. }
                | BuildError::PackagesMissing { .. }
                | BuildError::CompilerMissing { .. }
        )
    }
}

/// Why a [`Peer`](crate::Peer) could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The program could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The program could not be started.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A server did not print `listening on port N` in time.
    #[error("{name} did not print its port within {secs} s; its stdout so far: {stdout:?}")]
    NoPort {
        /// The program.
        name: String,
        /// How long it was waited for.
        secs: u64,
        /// Its output so far.
        stdout: String,
    },
}
