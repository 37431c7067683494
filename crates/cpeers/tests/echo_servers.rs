//! The benchmark echo servers (the libevent side of benches/network.sh):
//! `filter_echo_server` frames each read, upper-cased, binary-safe; the
//! zlib and TLS servers compile and print their port; `ratelimit_server`
//! sends the pattern. (Their echo is
//! checked byte for byte by `examples/netload.rs`, which has the zlib and
//! TLS clients.) Needs libevent-dev, zlib1g-dev, libssl-dev, pkg-config and
//! a C compiler.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cpeers::Peer;

const LONG: Duration = Duration::from_secs(10);

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    c.set_read_timeout(Some(LONG)).unwrap();
    c
}

#[test]
fn filter_echo_server_frames_each_read_upper_cased_and_binary_safe() {
    let Some((_server, port)) = Peer::start_server_or_skip("filter_echo_server") else {
        return;
    };
    let mut c = connect(port);
    let msg = b"hello, libevent\0\xff\n\x7fz{`a";
    c.write_all(msg).unwrap();
    let want = b"|--- HEAD ---|HELLO, LIBEVENT\0\xff\n\x7fZ{`A|--- END ---|\n";
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, want);

    // 40,000 bytes: every payload byte comes back upper-cased, in order,
    // in frames of whatever each read got.
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&big).unwrap();
    let mut payload = Vec::new();
    let mut reply = Vec::new();
    while payload.len() < big.len() {
        let mut buf = [0u8; 8192];
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "EOF after {} payload bytes", payload.len());
        reply.extend_from_slice(&buf[..n]);
        while let Some(end) = find(&reply, b"|--- END ---|\n") {
            assert!(
                reply.starts_with(b"|--- HEAD ---|"),
                "frame starts with HEAD"
            );
            payload.extend_from_slice(&reply[14..end]);
            reply.drain(..end + 14);
        }
    }
    assert_eq!(payload, big.to_ascii_uppercase());
    assert!(reply.is_empty());
}

#[test]
fn zlib_and_tls_echo_servers_build_and_listen() {
    let Some((_zlib, port)) = Peer::start_server_or_skip("zlib_echo_server") else {
        return;
    };
    assert_ne!(port, 0);
    let dir = std::env::temp_dir().join(format!("cpeers-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("ca.pem");
    let Some(exe) = cpeers::build_or_skip("tls_echo_server") else {
        return;
    };
    let tls = Peer::spawn(&exe, &["0", pem.to_str().unwrap()]).unwrap();
    let out = tls.wait_for_stdout(LONG, |s| s.contains('\n'));
    assert!(
        out.as_deref()
            .is_ok_and(|s| s.starts_with("listening on port ")),
        "{out:?}"
    );
    let cert = std::fs::read_to_string(&pem).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    drop(tls);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ratelimit_server_sends_the_pattern() {
    let Some((_server, port)) = Peer::start_server_or_skip("ratelimit_server") else {
        return;
    };
    let mut c = connect(port);
    // The buckets start full: one 100 ms tick of 1 MiB/s comes at once.
    let mut got = vec![0u8; 50_000];
    c.read_exact(&mut got).unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
