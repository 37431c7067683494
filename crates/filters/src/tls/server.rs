//! The server side: `bufferevent_openssl_filter_new(..., BUFFEREVENT_SSL_ACCEPTING, ...)`.

use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use super::TlsPair;
use crate::Error;

impl TlsPair {
    /// A TLS server using `config` (certificate, ALPN protocols, client authentication).
    ///
    /// The server waits for the ClientHello; the SNI name the client sent is available from
    /// [`TlsSession::sni_hostname`](super::TlsSession::sni_hostname) once it has arrived.
    ///
    /// libevent: `bufferevent_openssl_filter_new(.., ssl, BUFFEREVENT_SSL_ACCEPTING, ..)`.
    pub fn server(config: Arc<ServerConfig>) -> Result<Self, Error> {
        let conn = ServerConnection::new(config)?;
        Ok(Self::from_connection(conn.into()))
    }
}
