//! A TLS echo: the server decrypts what it reads and encrypts what it writes back with the
//! `bufferevent_filters::tls` filters (rustls) on every connection's bufferevent; the client sends data
//! through a TLS bufferevent and checks the echo byte for byte.
//!
//! ```text
//! $ cargo run --example tls_echo -- server --port 0 --cert-out /tmp/echo-ca.pem
//! listening on port 40124
//! certificate for localhost written to /tmp/echo-ca.pem
//! $ cargo run --example tls_echo -- client --port 40124 --ca /tmp/echo-ca.pem --bytes 1000000
//! ok: 1000000 bytes echoed byte-exact over TLSv1_3 (ALPN echo/1)
//! ```
//!
//! Without `--cert`/`--key` the server makes a self-signed certificate for `localhost` at
//! start with rcgen, for a P-256 key (`--key-type p256`, the default) or an RSA 2048 key
//! (`--key-type rsa2048`; ring, rcgen's backend here, cannot generate RSA keys, so that key
//! comes from `openssl genpkey`). The server reports `CONNECTED` when a handshake completes
//! and closes with `close_notify` when the client has finished (libevent's OpenSSL
//! bufferevent sends none).
//!
//! The server's read callback is the obvious echo (write everything read); the bufferevent
//! keeps that bounded against a client that never reads. It accepts through `listener`
//! (back-off on `EMFILE`, `--max-connections`), closes a connection whose handshake is not
//! done within `--handshake-timeout` seconds (a truncated or garbage ClientHello), after
//! `--timeout` seconds without input, and when the client leaves its echo unread for
//! `--write-timeout` seconds (0: never, for each).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};
use evstack::bufferevent::{BufferEvent, Callbacks, Dir, Events, Options};
use evstack::evbuffer::EvBuffer;
use evstack::filters::tls::rustls::pki_types::pem::PemObject;
use evstack::filters::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use evstack::filters::tls::rustls::RootCertStore;
use evstack::filters::tls::{self, TlsPair};
use evstack::listener::{Connection, Listener, Options as ListenOptions};
use evstack::seed;
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(
    name = "tls_echo",
    version,
    about = "Echo over TLS (rustls) bufferevent filters"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve echo connections until killed.
    Server {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Port (0: a free one, printed on the first line).
        #[arg(long, default_value_t = 5003)]
        port: u16,
        /// Certificate chain (PEM); default: a self-signed one made at start.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Private key (PEM) for `--cert`.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Where to write the generated certificate for clients to trust.
        #[arg(long, default_value = "tls_echo_ca.pem")]
        cert_out: PathBuf,
        /// Key of the generated certificate.
        #[arg(long, value_enum, default_value_t = KeyType::P256)]
        key_type: KeyType,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// Send data through the server and check the echo.
    Client {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Server port.
        #[arg(long, default_value_t = 5003)]
        port: u16,
        /// CA certificate(s) to trust (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// Name to verify the server's certificate against (sent as SNI).
        #[arg(long, default_value = "localhost")]
        name: String,
        /// Bytes of generated data to send.
        #[arg(long, default_value_t = 1 << 20)]
        bytes: usize,
    },
}

/// The key of the certificate the server generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyType {
    /// ECDSA on P-256 with SHA-256.
    P256,
    /// RSA 2048 (PKCS#1 v1.5 signature on the certificate, SHA-256).
    Rsa2048,
}

/// The server's bounds on each connection and on the number of connections.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Bounds {
    /// Seconds a client has to complete the TLS handshake (0: no limit).
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds without input before a connection is closed (0: never).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Seconds a client may leave its echo unread before it is dropped (0: never).
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Most connections served at once; accepting pauses at the cap.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
}

const ALPN: &[u8] = b"echo/1";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A new key of `kind`: P-256 from rcgen, RSA 2048 from `openssl genpkey`.
fn make_key(kind: KeyType) -> Result<rcgen::KeyPair, BoxError> {
    match kind {
        KeyType::P256 => Ok(rcgen::KeyPair::generate()?),
        KeyType::Rsa2048 => {
            let out = std::process::Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run openssl to make an RSA key: {e}"))?;
            if !out.status.success() {
                return Err(format!("openssl genpkey failed ({})", out.status).into());
            }
            let pem = String::from_utf8(out.stdout)?;
            Ok(rcgen::KeyPair::from_pem(&pem)?)
        }
    }
}

fn load_or_make_cert(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: &PathBuf,
    key_type: KeyType,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BoxError> {
    if let (Some(c), Some(k)) = (cert, key) {
        let chain = CertificateDer::pem_file_iter(&c)?.collect::<Result<Vec<_>, _>>()?;
        return Ok((chain, PrivateKeyDer::from_pem_file(&k)?));
    }
    let key = make_key(key_type)?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let cert = params.self_signed(&key)?;
    std::fs::write(cert_out, cert.pem())?;
    println!(
        "certificate for localhost ({key_type:?} key) written to {}",
        cert_out.display()
    );
    Ok((
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    ))
}

/// The server's settings, from the command line.
struct ServerArgs {
    bind: IpAddr,
    port: u16,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: PathBuf,
    key_type: KeyType,
    bounds: Bounds,
}

/// Serves echo connections until the process is killed; the first stdout line is
/// `listening on port N`, the second where the generated certificate was written.
fn server(a: ServerArgs) -> ExitCode {
    let bounds = a.bounds;
    let opts = ListenOptions::new()
        .reuse_addr(true)
        .max_connections(bounds.max_connections);
    let bound = Listener::bind(SocketAddr::new(a.bind, a.port), &opts);
    seed::serve_forever("tls_echo server", bound, 1, |l| {
        // After the port line, as before: scripts wait for the certificate file.
        let config = match load_or_make_cert(a.cert, a.key, &a.cert_out, a.key_type)
            .and_then(|(chain, key)| Ok(tls::server_config(chain, key, &[ALPN])?))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("tls_echo server: {e}");
                std::process::exit(1);
            }
        };
        l.spawn(move |conn| serve_connection(conn, config.clone(), bounds))
    })
}

/// One echo connection on a task of its own, with a watchdog closing it if the handshake is
/// not done in time; its slot under the connection cap is freed when it ends.
fn serve_connection(conn: Connection, config: Arc<tls::rustls::ServerConfig>, bounds: Bounds) {
    let (stream, peer, permit) = conn.into_parts();
    let pair = match TlsPair::server(config) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot start a TLS session");
            return;
        }
    };
    let session = pair.session();
    let mut bev = pair.into_bufferevent(
        BufferEvent::socket(stream, Options::CLOSE_ON_FREE),
        Options::empty(),
    );
    bev.set_timeouts(seed::secs(bounds.timeout), seed::secs(bounds.write_timeout));
    bev.enable(Dir::READ | Dir::WRITE);
    if let Some(limit) = seed::secs(bounds.handshake_timeout) {
        let (handle, session, peer) = (bev.handle(), session.clone(), peer.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(limit) => {
                    if session.is_handshaking() {
                        tracing::info!(%peer, after = ?limit, "handshake timeout: connection closed");
                        let _ = handle.close().await;
                    }
                }
                () = handle.closed() => {}
            }
        });
    }
    tokio::spawn(async move {
        let _ = bev.run(
            Callbacks::new()
                .on_read(|bev| {
                    let mut all = EvBuffer::new();
                    if bev.read_buffer(&mut all).is_ok() {
                        let _ = bev.write_buffer(&mut all);
                    }
                })
                .on_event(move |bev, what| {
                    if what.contains(Events::CONNECTED) {
                        tracing::info!(%peer, sni = ?session.sni_hostname(), version = ?session.protocol_version(), "handshake complete");
                    }
                    if !seed::close_on_timeout_or_error(bev, what, &peer) && what.contains(Events::EOF) {
                        tracing::info!(%peer, "client finished");
                        bev.close_gracefully(); // close_notify, then FIN
                    }
                }),
        )
        .await;
        drop(permit);
    });
}

struct Progress {
    data: Vec<u8>,
    sent: usize,
    echo: Vec<u8>,
    failure: Option<String>,
}

async fn client(
    addr: SocketAddr,
    ca: PathBuf,
    name: String,
    bytes: usize,
) -> Result<String, BoxError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca)? {
        roots.add(cert?)?;
    }
    let config = tls::client_config(roots, &[ALPN])?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let pair = TlsPair::client_for(config, &name)?;
    let session = pair.session();
    let mut bev = pair.into_bufferevent(
        BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
        Options::empty(),
    );
    bev.enable(Dir::READ | Dir::WRITE);
    bev.set_watermark(Dir::WRITE, 64 * 1024, 0)?;
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let state = Arc::new(Mutex::new(Progress {
        data,
        sent: 0,
        echo: Vec::with_capacity(bytes),
        failure: None,
    }));
    let feed = |bev: &mut BufferEvent, st: &mut Progress| {
        if st.sent < st.data.len() {
            let end = (st.sent + 256 * 1024).min(st.data.len());
            match bev.write(&st.data[st.sent..end]) {
                Ok(()) => st.sent = end,
                Err(e) => {
                    st.failure = Some(e.to_string());
                    bev.close();
                }
            }
        }
    };
    let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
    let _ = bev
        .run(
            Callbacks::new()
                .on_write(move |bev| feed(bev, &mut s1.lock().unwrap()))
                .on_read(move |bev| {
                    let mut st = s2.lock().unwrap();
                    let mut buf = vec![0; bev.input().len()];
                    let n = bev.read(&mut buf);
                    st.echo.extend_from_slice(&buf[..n]);
                    if st.echo.len() >= st.data.len() {
                        bev.close_gracefully(); // close_notify
                    }
                })
                .on_event(move |bev, what| {
                    let mut st = s3.lock().unwrap();
                    if what.contains(Events::CONNECTED) {
                        // Start writing once the handshake is done.
                        feed(bev, &mut st);
                    }
                    if what.intersects(Events::ERROR | Events::EOF) {
                        if st.echo.len() < st.data.len() {
                            st.failure = Some(match bev.error() {
                                Some(e) => format!("connection failed: {e}"),
                                None => format!("connection ended early ({what:?})"),
                            });
                        }
                        bev.close();
                    }
                }),
        )
        .await;
    let st = state.lock().unwrap();
    if let Some(f) = &st.failure {
        return Err(f.clone().into());
    }
    if st.echo != st.data {
        return Err(format!(
            "echo differs: {} bytes back for {} sent",
            st.echo.len(),
            st.data.len()
        )
        .into());
    }
    Ok(format!(
        "ok: {} bytes echoed byte-exact over {} (ALPN {})",
        bytes,
        session
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default()
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let r = match args.cmd {
        Cmd::Server {
            bind,
            port,
            cert,
            key,
            cert_out,
            key_type,
            bounds,
        } => {
            return server(ServerArgs {
                bind,
                port,
                cert,
                key,
                cert_out,
                key_type,
                bounds,
            })
        }
        Cmd::Client {
            host,
            port,
            ca,
            name,
            bytes,
        } => match seed::runtime(1) {
            Ok(rt) => rt.block_on(client(SocketAddr::new(host, port), ca, name, bytes)),
            Err(e) => Err(format!("cannot start the runtime: {e}").into()),
        },
    };
    match r {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tls_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
