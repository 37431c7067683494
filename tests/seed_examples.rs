//! The example binaries themselves (`filter_server`, `filter_client`,
//! `upper_server`) against the C originals: command line, the
//! `listening on port N` line, logs, stdout and exit status.
//!
//! Cargo gives tests no path to example binaries, but `cargo test` builds
//! the examples next to the test binaries (`target/<profile>/examples/`)
//! before running any test. A run that did not build them (`cargo test
//! --test seed_examples`) skips these tests with a note; the same logic is
//! tested in process by `seed_interop.rs` either way.

#[path = "seed_support/mod.rs"]
mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cpeers::Peer;
use support::*;

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

/// Starts one of our server examples on 127.0.0.1 and a free port.
fn start_ours(name: &str, extra: &[&str]) -> Option<(Peer, u16)> {
    let exe = example(name)?;
    let mut args = vec!["--port", "0", "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    let server = Peer::spawn(&exe, &args).unwrap();
    let out = server
        .wait_for_stdout(LONG, |s| {
            s.lines()
                .next()
                .is_some_and(|l| l.starts_with("listening on port "))
                && s.contains('\n')
        })
        .unwrap_or_else(|s| panic!("{name} printed no port line: {s:?}"));
    let port = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("listening on port "))
        .and_then(|p| p.trim().parse().ok())
        .expect("a port number");
    Some((server, port))
}

/// A child process killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `exe args` to completion (bounded by [`LONG`]); returns the exit
/// code, stdout and stderr (each capped at 64 KiB).
fn run_to_end(exe: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut g = Guard(child);
    let mut out = g.0.stdout.take().unwrap();
    let mut err = g.0.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = (&mut out).take(64 * 1024).read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = (&mut err).take(64 * 1024).read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{} did not exit", exe.display());
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    (status.code(), out, err)
}

#[test]
fn c_client_against_our_filter_server_binary() {
    let Some((server, port)) = start_ours("filter_server", &[]) else {
        return;
    };
    let Some(mut client) = Peer::run_or_skip("filter_client", &[&port.to_string()]) else {
        return;
    };
    let status = client.wait_exit(LONG).unwrap().expect("the C client exits");
    assert!(status.success(), "{status}");
    assert_eq!(
        client
            .wait_for_stdout(LONG, |s| s.ends_with("\n\n"))
            .as_deref(),
        Ok("Connect to server successfully.\n\
            byte sizes: 54\n\
            from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|\n\n")
    );
    // It logged the connection, the read (upper-cased, NUL shown) and the
    // close, saying it was the client's end of file, not a timeout.
    let log = server
        .wait_for_stdout(LONG, |s| s.contains("connection closed"))
        .unwrap();
    assert!(log.contains("new connection"), "{log}");
    assert!(
        log.contains(r#"read bytes=10 data="TEMP.DATA\x00""#),
        "{log}"
    );
    assert!(log.contains("end of file from the client"), "{log}");
    assert!(!log.contains("timeout"), "{log}");
}

#[test]
fn our_filter_server_binary_quiet_prints_only_its_port() {
    let Some((server, port)) = start_ours("filter_server", &["--quiet"]) else {
        return;
    };
    assert_eq!(exchange(port, b"temp.data\0", 54).len(), 54);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.stdout(), format!("listening on port {port}\n"));
}

#[test]
fn our_filter_client_binary_against_the_c_server() {
    let Some(exe) = example("filter_client") else {
        return;
    };
    let Some((server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let (code, out, err) = run_to_end(&exe, &["--port", &port.to_string()]);
    assert_eq!(code, Some(0), "stderr: {err}");
    // The same stdout as the C client's.
    assert_eq!(
        out,
        "Connect to server successfully.\n\
         byte sizes: 54\n\
         from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|\n\n"
    );
    let log = server
        .wait_for_stdout(LONG, |s| s.contains("Connection closed."))
        .unwrap();
    assert!(log.contains(": TEMP.DATA\n"), "{log}");
}

#[test]
fn our_filter_client_binary_without_a_server_fails_with_the_reason() {
    let Some(exe) = example("filter_client") else {
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (code, out, err) = run_to_end(&exe, &["--port", &port.to_string()]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(
        err.starts_with("filter_client: ") && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn our_upper_server_binary_against_the_c_one() {
    let Some((_ours, port)) = start_ours("upper_server", &[]) else {
        return;
    };
    let Some((_c, c_port)) = Peer::start_server_or_skip("upper_server") else {
        return;
    };
    let request = b"hello, libevent 5001!\n";
    let from_c = exchange(c_port, request, 56);
    assert_eq!(
        from_c,
        b"================\nHELLO, LIBEVENT 5001!\n================\n".as_slice()
    );
    assert_eq!(exchange(port, request, 56), from_c);
}

#[test]
fn our_filter_server_binary_echo_flag() {
    let Some((_server, port)) = start_ours("filter_server", &["--echo", "--quiet"]) else {
        return;
    };
    assert_eq!(
        exchange(port, b"hello Idle\n", 14 + 11 + 14),
        b"|--- HEAD ---|HELLO IDLE\n|--- END ---|\n".as_slice()
    );
}
