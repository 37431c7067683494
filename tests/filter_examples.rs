//! The filters' example binaries, run as a user would: `zlib_echo` (every wire format) and
//! `tls_echo` (with the certificate the server makes at start, for a P-256 or an RSA 2048
//! key), server and client subcommands, megabytes echoed byte-exact.
//!
//! Cargo gives tests no path to example binaries, but `cargo test` builds the examples next to
//! the test binaries (`target/<profile>/examples/`) before running any test. A run that did not
//! build them (`cargo test --test filter_examples`) skips these tests with a note.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// `target/<profile>/examples/<name>`, if built.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?; // .../deps/<test> -> profile dir
    let path = profile_dir.join("examples").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is not built (plain `cargo test` builds the examples)",
            path.display()
        );
        None
    }
}

/// A child process killed (and reaped) when dropped, with its stdout lines on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(exe: &PathBuf, args: &[&str]) -> Server {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok).take(1000) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(LONG)
            .expect("the server printed no line in time")
    }

    fn port(&self) -> u16 {
        let line = self.line();
        line.strip_prefix("listening on port ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a port line: {line:?}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client to completion (killed after [`LONG`]); returns its stdout.
fn run_client(exe: &PathBuf, args: &[&str]) -> String {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > LONG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("client {args:?} took longer than {LONG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "client {args:?} failed: {status}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn zlib_echo_server_and_client_in_every_format() {
    let Some(exe) = example("zlib_echo") else {
        return;
    };
    for format in ["deflate", "zlib", "gzip"] {
        let server = Server::start(
            &exe,
            &[
                "--format",
                format,
                "server",
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
            ],
        );
        let port = server.port().to_string();
        let out = run_client(
            &exe,
            &[
                "--format", format, "client", "--port", &port, "--bytes", "1000000",
            ],
        );
        assert!(
            out.contains("ok: 1000000 bytes echoed byte-exact"),
            "{format}: {out:?}"
        );
    }
}

/// Starts `tls_echo server` with a certificate for a `key_type` key, runs the client through
/// it, and returns the client's output and the certificate's text (`openssl x509 -text`, if
/// `openssl` runs).
fn tls_echo_with(exe: &PathBuf, key_type: &str) -> (String, Option<String>) {
    let dir = std::env::temp_dir().join(format!(
        "tls_echo_test_{key_type}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let ca_arg = ca.to_str().unwrap();
    let server = Server::start(
        exe,
        &[
            "server",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--cert-out",
            ca_arg,
            "--key-type",
            key_type,
        ],
    );
    let port = server.port().to_string();
    let written = server.line();
    assert!(written.contains("written to"), "{written:?}");
    let out = run_client(
        exe,
        &[
            "client", "--port", &port, "--ca", ca_arg, "--bytes", "1000000",
        ],
    );
    drop(server);
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", ca_arg])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let _ = std::fs::remove_dir_all(&dir);
    (out, text)
}

#[test]
fn tls_echo_server_and_client_with_a_generated_certificate() {
    let Some(exe) = example("tls_echo") else {
        return;
    };
    let (out, cert) = tls_echo_with(&exe, "p256");
    assert!(
        out.contains("ok: 1000000 bytes echoed byte-exact over TLS"),
        "{out:?}"
    );
    if let Some(cert) = cert {
        assert!(cert.contains("id-ecPublicKey"), "{cert}");
        assert!(
            cert.contains("P-256") || cert.contains("prime256v1"),
            "{cert}"
        );
    }
}

#[test]
fn tls_echo_with_an_rsa_2048_key() {
    let Some(exe) = example("tls_echo") else {
        return;
    };
    // the RSA key comes from `openssl genpkey`
    if !cpeers::have_command(&["openssl", "version"], "openssl") {
        return;
    }
    let (out, cert) = tls_echo_with(&exe, "rsa2048");
    assert!(
        out.contains("ok: 1000000 bytes echoed byte-exact over TLS"),
        "{out:?}"
    );
    let cert = cert.expect("openssl reads the certificate");
    assert!(cert.contains("rsaEncryption"), "{cert}");
    assert!(cert.contains("2048 bit"), "{cert}");
}
