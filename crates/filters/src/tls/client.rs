//! The client side: `bufferevent_openssl_filter_new(..., BUFFEREVENT_SSL_CONNECTING, ...)`.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::TlsPair;
use crate::Error;

impl TlsPair {
    /// A TLS client connecting to `server_name` (checked against the server's certificate and
    /// sent as SNI when `config.enable_sni` is on). ALPN protocols come from
    /// `config.alpn_protocols`.
    ///
    /// The client speaks first: its output filter [`wants_write`](bufferevent::Filter::wants_write)
    /// the ClientHello from the start.
    ///
    /// libevent: `bufferevent_openssl_filter_new(.., ssl, BUFFEREVENT_SSL_CONNECTING, ..)` with `SSL_set_tlsext_host_name`.
    pub fn client(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self, Error> {
        let conn = ClientConnection::new(config, server_name)?;
        Ok(Self::from_connection(conn.into()))
    }

    /// [`TlsPair::client`] with the server name given as a string (a DNS name or an IP address).
    ///
    /// libevent: `bufferevent_openssl_filter_new(.., ssl, BUFFEREVENT_SSL_CONNECTING, ..)` with `SSL_set_tlsext_host_name`.
    pub fn client_for(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, Error> {
        let name =
            ServerName::try_from(server_name.to_owned()).map_err(|e| Error::InvalidConfig {
                reason: format!("invalid TLS server name {server_name:?}: {e}"),
            })?;
        Self::client(config, name)
    }
}
