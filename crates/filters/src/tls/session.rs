//! The connection state the input and output halves share.

use std::sync::{Arc, Mutex, MutexGuard};

use rustls::pki_types::CertificateDer;
use rustls::{Connection, ProtocolVersion, SupportedCipherSuite};

/// State shared by [`TlsInput`](super::TlsInput) and [`TlsOutput`](super::TlsOutput).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) conn: Connection,
    pub(crate) allow_dirty_shutdown: bool,
    /// The peer's close_notify has been received.
    pub(crate) peer_closed: bool,
    /// Our close_notify has been queued.
    pub(crate) close_sent: bool,
    /// FINISHED came during the handshake: close_notify follows the buffered data once the
    /// handshake completes.
    pub(crate) close_pending: bool,
    /// Plaintext was handed to rustls during the handshake (rustls holds it until then).
    pub(crate) early_plaintext: bool,
    /// rustls reported a fatal error.
    pub(crate) failed: bool,
}

/// A cloneable handle on one TLS connection's state, for inspection
/// (libevent's `bufferevent_openssl_get_ssl`).
///
/// ```no_run
/// # fn f(pair: &bufferevent_filters::tls::TlsPair) {
/// let session = pair.session();
/// if !session.is_handshaking() {
///     println!("ALPN: {:?}", session.alpn_protocol());
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TlsSession(Arc<Mutex<Shared>>);

impl TlsSession {
    pub(crate) fn new(conn: Connection) -> Self {
        TlsSession(Arc::new(Mutex::new(Shared {
            conn,
            allow_dirty_shutdown: false,
            peer_closed: false,
            close_sent: false,
            close_pending: false,
            early_plaintext: false,
            failed: false,
        })))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave rustls's state half-updated in a way
        // that matters more than the panic itself; keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True until the handshake has completed.
    ///
    /// libevent: `!SSL_is_init_finished(bufferevent_openssl_get_ssl(bev))`.
    pub fn is_handshaking(&self) -> bool {
        self.lock().conn.is_handshaking()
    }
    /// The ALPN protocol agreed with the peer, if any.
    ///
    /// libevent: `SSL_get0_alpn_selected` on `bufferevent_openssl_get_ssl(bev)`.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.lock().conn.alpn_protocol().map(<[u8]>::to_vec)
    }
    /// The peer's certificate chain (end entity first), once known.
    ///
    /// libevent: `SSL_get_peer_cert_chain` on `bufferevent_openssl_get_ssl(bev)`.
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.lock()
            .conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
    }
    /// The negotiated TLS version, once known.
    ///
    /// libevent: `SSL_version` on `bufferevent_openssl_get_ssl(bev)`.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.lock().conn.protocol_version()
    }
    /// The negotiated cipher suite, once known.
    ///
    /// libevent: `SSL_get_current_cipher` on `bufferevent_openssl_get_ssl(bev)`.
    pub fn negotiated_cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.lock().conn.negotiated_cipher_suite()
    }
    /// On a server: the SNI host name the client asked for, if any.
    ///
    /// libevent: `SSL_get_servername` on `bufferevent_openssl_get_ssl(bev)`.
    pub fn sni_hostname(&self) -> Option<String> {
        match &self.lock().conn {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        }
    }
    /// True once the peer's `close_notify` has been received.
    ///
    /// libevent: `SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN`.
    pub fn peer_closed(&self) -> bool {
        self.lock().peer_closed
    }
    /// Runs `f` with the rustls connection (for anything not covered above).
    ///
    /// libevent: `bufferevent_openssl_get_ssl`.
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.lock().conn)
    }
}
