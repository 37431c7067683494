//! A TLS echo: the server decrypts what it reads and encrypts what it writes back with the
//! `filters::tls` filters (rustls) on every connection's bufferevent; the client sends data
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
//! start. The server reports `CONNECTED` when a handshake completes and closes with
//! `close_notify` when the client has finished (libevent's OpenSSL bufferevent, statement 83,
//! sends none).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand};
use evstack::bufferevent::{BufferEvent, Callbacks, Dir, Events, Options};
use evstack::evbuffer::EvBuffer;
use evstack::filters::tls::rustls::pki_types::pem::PemObject;
use evstack::filters::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use evstack::filters::tls::rustls::RootCertStore;
use evstack::filters::tls::{self, TlsPair};
use tokio::net::{TcpListener, TcpStream};

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

const ALPN: &[u8] = b"echo/1";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn load_or_make_cert(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: &PathBuf,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BoxError> {
    if let (Some(c), Some(k)) = (cert, key) {
        let chain = CertificateDer::pem_file_iter(&c)?.collect::<Result<Vec<_>, _>>()?;
        return Ok((chain, PrivateKeyDer::from_pem_file(&k)?));
    }
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    std::fs::write(cert_out, ck.cert.pem())?;
    println!(
        "certificate for localhost written to {}",
        cert_out.display()
    );
    Ok((
        vec![ck.cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
    ))
}

async fn server(
    bind: IpAddr,
    port: u16,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: PathBuf,
) -> Result<(), BoxError> {
    let listener = TcpListener::bind((bind, port)).await?;
    println!("listening on port {}", listener.local_addr()?.port());
    let (chain, key) = load_or_make_cert(cert, key, &cert_out)?;
    let config = tls::server_config(chain, key, &[ALPN])?;
    loop {
        let (tcp, peer) = listener.accept().await?;
        let pair = TlsPair::server(config.clone())?;
        let session = pair.session();
        let mut bev = pair.into_bufferevent(
            BufferEvent::socket(tcp, Options::CLOSE_ON_FREE),
            Options::empty(),
        );
        bev.enable(Dir::READ | Dir::WRITE);
        tokio::spawn(bev.run(
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
                    if what.contains(Events::ERROR) {
                        tracing::warn!(%peer, error = ?bev.error(), "connection failed");
                        bev.close();
                    } else if what.contains(Events::EOF) {
                        tracing::info!(%peer, "client finished");
                        bev.close_gracefully(); // close_notify, then FIN
                    }
                }),
        ));
    }
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
        .try_init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let r = match args.cmd {
        Cmd::Server {
            bind,
            port,
            cert,
            key,
            cert_out,
        } => rt
            .block_on(server(bind, port, cert, key, cert_out))
            .map(|()| String::new()),
        Cmd::Client {
            host,
            port,
            ca,
            name,
            bytes,
        } => rt.block_on(client(SocketAddr::new(host, port), ca, name, bytes)),
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
