//! Helpers shared by the integration tests: bounded child processes and deterministic data.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A child process killed (and reaped) when dropped, so a failing test never leaks one.
pub(crate) struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` with `input` on stdin and returns its stdout; fails if it takes longer than
/// `timeout`, exits non-zero, or prints more than `max_out` bytes.
pub(crate) fn run_bounded(
    mut cmd: Command,
    input: &[u8],
    timeout: Duration,
    max_out: usize,
) -> Vec<u8> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().expect("spawn child process"));
    let mut stdin = child.0.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(max_out as u64 + 1).read_to_end(&mut out);
        out
    });
    let mut stderr = child.0.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < timeout,
            "child process took longer than {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    let out = reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(
        status.success(),
        "child failed: {status}: {}",
        String::from_utf8_lossy(&err)
    );
    assert!(
        out.len() <= max_out,
        "child printed more than {max_out} bytes"
    );
    out
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub(crate) fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Compressible text-like data: words from a small vocabulary.
pub(crate) fn text(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 8] = [
        b"bufferevent ",
        b"evbuffer ",
        b"filter ",
        b"zlib ",
        b"tls ",
        b"libevent\n",
        b"tokio ",
        b"rust ",
    ];
    let r = pseudo_random(seed, len);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(WORDS[(r[i % r.len()] % 8) as usize]);
        i += 1;
    }
    out.truncate(len);
    out
}

/// A self-signed certificate for `names`, made at test time.
#[cfg(feature = "tls")]
pub(crate) struct TestCert {
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

#[cfg(feature = "tls")]
pub(crate) fn test_cert(names: &[&str]) -> TestCert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    TestCert {
        chain: vec![ck.cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            ck.signing_key.serialize_der(),
        )),
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
    }
}

#[cfg(feature = "tls")]
impl TestCert {
    pub(crate) fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.chain[0].clone()).unwrap();
        r
    }
}

/// A connected pair of loopback TCP streams.
pub(crate) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
    (a.unwrap(), b.unwrap().0)
}

/// Writes `send` to `s` (in 64 KiB pieces) and shuts its write side down, while reading `s` to
/// the end; returns what was read.
pub(crate) async fn send_and_read_to_end<S: AsyncRead + AsyncWrite>(s: S, send: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(s);
    let write = async move {
        for chunk in send.chunks(64 * 1024) {
            w.write_all(chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    };
    let read = async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    };
    tokio::join!(write, read).1
}

/// Sends `data_ab` from `a` to `b` and `data_ba` back at the same time
/// ([`send_and_read_to_end`] on both). Returns what `b` and what `a` received.
pub(crate) async fn exchange<A, B>(
    a: A,
    b: B,
    data_ab: Vec<u8>,
    data_ba: Vec<u8>,
) -> (Vec<u8>, Vec<u8>)
where
    A: AsyncRead + AsyncWrite + Send + 'static,
    B: AsyncRead + AsyncWrite + Send + 'static,
{
    let ha = tokio::spawn(async move { send_and_read_to_end(a, &data_ab).await });
    let hb = tokio::spawn(async move { send_and_read_to_end(b, &data_ba).await });
    let (got_a, got_b) = (ha.await.unwrap(), hb.await.unwrap());
    (got_b, got_a)
}
