//! TLS bufferevents: the filters installed on a filter bufferevent, and the shortcut over a
//! connected stream (libevent's `bufferevent_openssl_filter_new` and
//! `bufferevent_openssl_socket_new`).

use std::sync::Arc;

use bufferevent::{BufferEvent, Options};
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};

use super::TlsPair;
use crate::Error;

impl TlsPair {
    /// A filter bufferevent doing TLS over `underlying` (a socket, another filter, a pair):
    /// `bufferevent_openssl_filter_new`. `CONNECTED` is reported when the handshake completes;
    /// errors carry rustls's reason; a graceful close sends `close_notify`.
    pub fn into_bufferevent(self, underlying: BufferEvent, options: Options) -> BufferEvent {
        BufferEvent::filter(
            underlying,
            self.input,
            self.output,
            options | Options::CLOSE_ON_FREE,
        )
    }
}

/// A TLS client bufferevent straight over a connected stream (`bufferevent_openssl_socket_new`
/// with `BUFFEREVENT_SSL_CONNECTING`); `server_name` is verified and sent as SNI.
///
/// ```no_run
/// # async fn f(roots: rustls::RootCertStore) -> Result<(), Box<dyn std::error::Error>> {
/// use bufferevent::{Dir, Options};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:8443").await?;
/// let config = bufferevent_filters::tls::client_config(roots, &[b"http/1.1"])?;
/// let mut bev = bufferevent_filters::tls::client_bufferevent(tcp, config, "localhost", Options::empty())?;
/// bev.enable(Dir::READ | Dir::WRITE);
/// bev.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
/// let mut reply = Vec::new();
/// bev.read_to_end(&mut reply).await?;
/// # Ok(()) }
/// ```
pub fn client_bufferevent<S>(
    stream: S,
    config: Arc<ClientConfig>,
    server_name: &str,
    options: Options,
) -> Result<BufferEvent, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let pair = TlsPair::client_for(config, server_name)?;
    Ok(pair.into_bufferevent(BufferEvent::socket(stream, Options::CLOSE_ON_FREE), options))
}

/// A TLS server bufferevent straight over an accepted stream (`bufferevent_openssl_socket_new`
/// with `BUFFEREVENT_SSL_ACCEPTING`).
pub fn server_bufferevent<S>(
    stream: S,
    config: Arc<ServerConfig>,
    options: Options,
) -> Result<BufferEvent, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let pair = TlsPair::server(config)?;
    Ok(pair.into_bufferevent(BufferEvent::socket(stream, Options::CLOSE_ON_FREE), options))
}
