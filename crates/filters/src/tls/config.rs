//! Building rustls configurations with the ring provider passed explicitly (no process-wide
//! default provider is installed or needed).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

/// The ring crypto provider this crate uses.
///
/// libevent: none (OpenSSL's own library initialisation).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `roots`, offering `alpn` protocols (may be empty), with
/// SNI on and rustls's safe default protocol versions.
///
/// For client certificates or other options, build a [`ClientConfig`] with
/// `ClientConfig::builder_with_provider(crypto_provider())` directly.
///
/// libevent: none (an `SSL_CTX` made with OpenSSL's own calls).
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A server configuration presenting `cert_chain` with `key`, accepting `alpn` protocols (may
/// be empty; when not empty, a client offering none of them is refused by rustls).
///
/// libevent: none (an `SSL_CTX` made with OpenSSL's own calls).
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
