//! TLS filters through `FilteredStream` over real loopback TCP, against tokio-rustls and
//! against OpenSSL's command line (`openssl s_server` / `s_client`), with certificates made at
//! test time.
#![cfg(feature = "tls")]

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bufferevent_filters::tls::{client_config, server_config, TlsInput, TlsOutput, TlsPair};
use bufferevent_filters::{FilterEvent, FilteredStream};
use common::{pseudo_random, test_cert};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(30);

type Tls = FilteredStream<TcpStream, TlsInput, TlsOutput>;

fn tls_stream(tcp: TcpStream, pair: TlsPair) -> Tls {
    let (i, o) = pair.split();
    FilteredStream::new(tcp, i, o)
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

fn rustls_server_config(c: &common::TestCert, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    server_config(c.chain.clone(), c.key.clone_key(), alpn).unwrap()
}

#[tokio::test]
async fn our_client_against_tokio_rustls_server_megabytes_both_ways() {
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        let (l, addr) = listener().await;
        let acceptor = tokio_rustls::TlsAcceptor::from(rustls_server_config(&cert, &[b"echo/1"]));
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            // Echo until close_notify.
            let mut buf = vec![0; 32 * 1024];
            loop {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await.unwrap();
            }
            tls.shutdown().await.unwrap();
        });
        let config = client_config(cert.roots(), &[b"h2", b"echo/1"]).unwrap();
        let pair = TlsPair::client_for(config, "localhost").unwrap();
        let session = pair.session();
        let mut s = tls_stream(TcpStream::connect(addr).await.unwrap(), pair);
        s.handshake().await.unwrap();
        assert_eq!(session.alpn_protocol().as_deref(), Some(&b"echo/1"[..]));
        let data = pseudo_random(1, 3 << 20);
        let (mut r, mut w) = tokio::io::split(s);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(100_000) {
                w.write_all(chunk).await.unwrap();
            }
            w.shutdown().await.unwrap(); // close_notify
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(
            got == data,
            "echo differs ({} of {} bytes)",
            got.len(),
            data.len()
        );
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn tokio_rustls_client_against_our_server() {
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        let (l, addr) = listener().await;
        let scfg = rustls_server_config(&cert, &[b"echo/1"]);
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let pair = TlsPair::server(scfg).unwrap();
            let session = pair.session();
            let mut s = tls_stream(tcp, pair);
            s.handshake().await.unwrap();
            assert_eq!(session.sni_hostname().as_deref(), Some("localhost"));
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap(); // ends at close_notify
            assert_eq!(s.take_event(), Some(FilterEvent::Eof));
            s.write_all(&all).await.unwrap();
            s.shutdown().await.unwrap();
            all.len()
        });
        let mut ccfg = rustls::ClientConfig::builder_with_provider(
            bufferevent_filters::tls::crypto_provider(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(cert.roots())
        .with_no_client_auth();
        ccfg.alpn_protocols = vec![b"echo/1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(ccfg));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let data = pseudo_random(2, 2 << 20);
        tls.write_all(&data).await.unwrap();
        // Half-close the TLS write side: close_notify, keep reading.
        tls.shutdown().await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert!(got == data);
        assert_eq!(server.await.unwrap(), data.len());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dirty_shutdown_is_an_error_unless_allowed() {
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        for allow in [false, true] {
            let (l, addr) = listener().await;
            let acceptor = tokio_rustls::TlsAcceptor::from(rustls_server_config(&cert, &[]));
            let server = tokio::spawn(async move {
                let (tcp, _) = l.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                tls.write_all(b"bye").await.unwrap();
                tls.flush().await.unwrap();
                // Close TCP without close_notify.
                let (tcp, _) = tls.into_inner();
                drop(tcp);
            });
            let pair = TlsPair::client_for(client_config(cert.roots(), &[]).unwrap(), "localhost")
                .unwrap()
                .allow_dirty_shutdown(allow);
            let mut s = tls_stream(TcpStream::connect(addr).await.unwrap(), pair);
            let mut got = Vec::new();
            let r = s.read_to_end(&mut got).await;
            server.await.unwrap();
            assert_eq!(got, b"bye");
            if allow {
                r.unwrap();
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                assert!(e.to_string().contains("without close_notify"), "{e}");
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn certificate_error_reaches_the_caller_with_its_reason() {
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        let other = test_cert(&["localhost"]);
        let (l, addr) = listener().await;
        let acceptor = tokio_rustls::TlsAcceptor::from(rustls_server_config(&cert, &[]));
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            acceptor
                .accept(tcp)
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string()
        });
        let pair =
            TlsPair::client_for(client_config(other.roots(), &[]).unwrap(), "localhost").unwrap();
        let mut s = tls_stream(TcpStream::connect(addr).await.unwrap(), pair);
        let e = s.handshake().await.unwrap_err();
        assert!(e.to_string().contains("invalid peer certificate"), "{e}");
        drop(s);
        // The alert went out: the server sees why.
        let server_err = server.await.unwrap();
        assert!(server_err.to_lowercase().contains("alert"), "{server_err}");
    })
    .await
    .unwrap();
}

/// Writes the certificate and key as PEM files in a fresh temporary directory.
fn pem_files(cert: &common::TestCert) -> (std::path::PathBuf, std::path::PathBuf, TempDir) {
    let dir = TempDir::new();
    let c = dir.0.join("cert.pem");
    let k = dir.0.join("key.pem");
    std::fs::write(&c, &cert.cert_pem).unwrap();
    std::fs::write(&k, &cert.key_pem).unwrap();
    (c, k, dir)
}

struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "filters-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn our_client_against_openssl_s_server() {
    if !cpeers::have_command(&["openssl", "version"], "openssl") {
        return;
    }
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        let (c, k, _dir) = pem_files(&cert);
        let port = free_port();
        // -rev: s_server answers each line reversed; -naccept 1: exits after one client.
        let child = tokio::process::Command::new("openssl")
            .args([
                "s_server", "-quiet", "-naccept", "1", "-rev", "-alpn", "echo/1", "-accept",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&c)
            .arg("-key")
            .arg(&k)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl s_server");
        let _guard = child;
        // Wait for it to listen.
        let tcp = loop {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(t) => break t,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let pair = TlsPair::client_for(
            client_config(cert.roots(), &[b"echo/1"]).unwrap(),
            "localhost",
        )
        .unwrap();
        let session = pair.session();
        let mut s = tls_stream(tcp, pair);
        s.handshake().await.unwrap();
        assert_eq!(session.alpn_protocol().as_deref(), Some(&b"echo/1"[..]));
        s.write_all(b"hello openssl\n").await.unwrap();
        s.flush().await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).await.unwrap();
        assert_eq!(line, "lssnepo olleh\n");
        s.shutdown().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn openssl_s_client_against_our_server() {
    if !cpeers::have_command(&["openssl", "version"], "openssl") {
        return;
    }
    timeout(T, async {
        let cert = test_cert(&["localhost"]);
        let (c, _k, _dir) = pem_files(&cert);
        let (l, addr) = listener().await;
        let scfg = rustls_server_config(&cert, &[]);
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut s = tls_stream(
                tcp,
                TlsPair::server(scfg).unwrap().allow_dirty_shutdown(true),
            );
            s.handshake().await.unwrap();
            let mut line = String::new();
            BufReader::new(&mut s).read_line(&mut line).await.unwrap();
            s.write_all(format!("got: {line}").as_bytes())
                .await
                .unwrap();
            s.shutdown().await.unwrap(); // close_notify: s_client exits
            line
        });
        let mut child = tokio::process::Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-verify_return_error",
                "-servername",
                "localhost",
                "-verify_hostname",
                "localhost",
                "-connect",
            ])
            .arg(addr.to_string())
            .arg("-CAfile")
            .arg(&c)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl s_client");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello from openssl\n").await.unwrap();
        let mut out = Vec::new();
        let mut stdout = child.stdout.take().unwrap();
        (&mut stdout)
            .take(1 << 20)
            .read_to_end(&mut out)
            .await
            .unwrap();
        drop(stdin);
        let status = child.wait().await.unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        assert_eq!(server.await.unwrap(), "hello from openssl\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "got: hello from openssl\n",
            "stderr: {err} status {status}"
        );
    })
    .await
    .unwrap();
}

/// An RSA-2048 certificate (made by `openssl req` at test time; rcgen cannot make RSA keys with
/// every provider): our server signs with it (RSA-PSS in TLS 1.3) for OpenSSL's client and for
/// ours.
#[tokio::test]
async fn rsa_2048_certificate_against_openssl_s_client_and_our_client() {
    if !cpeers::have_command(&["openssl", "version"], "openssl") {
        return;
    }
    timeout(T, async {
        let dir = TempDir::new();
        let (c, k) = (dir.0.join("rsa.pem"), dir.0.join("rsa.key"));
        let made = tokio::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&k)
            .arg("-out")
            .arg(&c)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .expect("openssl req");
        assert!(made.success(), "openssl req failed: {made}");
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_file(&c).unwrap();
        let key = PrivateKeyDer::from_pem_file(&k).unwrap();
        let scfg = server_config(vec![cert.clone()], key, &[]).unwrap();
        let (l, addr) = listener().await;
        let server = tokio::spawn(async move {
            let mut lines = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = l.accept().await.unwrap();
                let pair = TlsPair::server(scfg.clone())
                    .unwrap()
                    .allow_dirty_shutdown(true);
                let session = pair.session();
                let mut s = tls_stream(tcp, pair);
                s.handshake().await.unwrap();
                let mut line = String::new();
                BufReader::new(&mut s).read_line(&mut line).await.unwrap();
                s.write_all(format!("got: {line}").as_bytes())
                    .await
                    .unwrap();
                s.shutdown().await.unwrap();
                lines.push((line, session.is_handshaking()));
            }
            lines
        });
        // OpenSSL's client, verifying the chain.
        let mut child = tokio::process::Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-tls1_3"])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .arg("-connect")
            .arg(addr.to_string())
            .arg("-CAfile")
            .arg(&c)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl s_client");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"rsa from openssl\n").await.unwrap();
        let mut out = Vec::new();
        let mut stdout = child.stdout.take().unwrap();
        (&mut stdout)
            .take(1 << 20)
            .read_to_end(&mut out)
            .await
            .unwrap();
        drop(stdin);
        let _ = child.wait().await;
        assert_eq!(String::from_utf8_lossy(&out), "got: rsa from openssl\n");
        // Ours.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let pair = TlsPair::client_for(client_config(roots, &[]).unwrap(), "localhost").unwrap();
        let mut s = tls_stream(TcpStream::connect(addr).await.unwrap(), pair);
        s.write_all(b"rsa from us\n").await.unwrap();
        s.flush().await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).await.unwrap();
        assert_eq!(line, "got: rsa from us\n");
        let lines = server.await.unwrap();
        assert_eq!(lines[0].0, "rsa from openssl\n");
        assert_eq!(lines[1].0, "rsa from us\n");
    })
    .await
    .unwrap();
}
