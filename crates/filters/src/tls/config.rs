//! Building rustls configurations with the crypto provider passed explicitly (no process-wide
//! default provider is installed or needed).
//!
//! The provider is chosen at build time: aws-lc-rs (feature `aws-lc-rs`, the default: rustls's
//! own default provider, whose RSA-2048 and ECDSA P-256 signing, the server's cost per
//! handshake, is markedly faster than ring's) or ring (feature `ring`, used when `aws-lc-rs`
//! is off). aws-lc-rs builds AWS-LC's C code with the system C compiler (gcc or clang; no
//! cmake, nasm or bindgen on Linux x86-64 and aarch64); ring needs a C compiler too.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!(
    "filters: the `tls` feature needs a crypto provider: enable the `aws-lc-rs` (default) or \
     the `ring` feature"
);

/// The crypto provider this crate's configurations use: aws-lc-rs (feature `aws-lc-rs`, the
/// default), else ring (feature `ring`).
///
/// ```
/// let provider = bufferevent_filters::tls::crypto_provider();
/// assert!(!provider.cipher_suites.is_empty());
/// ```
///
/// libevent: none (OpenSSL's own library initialisation).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
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
