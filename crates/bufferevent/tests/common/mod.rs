//! Helpers shared by the integration tests: real loopback sockets, data
//! patterns that catch reordering, and time bounds.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// `n` bytes that differ from any shifted copy of themselves.
pub(crate) fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8) ^ (i >> 17)) as u8)
        .collect()
}

/// Asserts `got` is `pattern(n)`, naming the first differing offset.
pub(crate) fn check_pattern(got: &[u8], n: usize) {
    let want = pattern(n);
    assert_eq!(got.len(), want.len(), "length");
    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
        panic!("byte {i} differs: got {} want {}", got[i], want[i]);
    }
}

/// A connected pair of loopback TCP streams.
pub(crate) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    (c.unwrap(), s.unwrap().0)
}

/// Runs `f`, failing the test if it takes longer than `secs` seconds.
pub(crate) async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step timed out")
}
