//! TLS filters on rustls's sans-IO connection: libevent's `bufferevent_openssl_filter_new`
//! over any bufferevent (socket, filter, pair), or over any tokio stream with
//! [`FilteredStream`](crate::FilteredStream).
//!
//! A TLS connection has one state shared by both directions, so [`TlsPair`] is an input
//! filter ([`TlsInput`]: ciphertext in, plaintext out) and an output filter ([`TlsOutput`]:
//! plaintext in, ciphertext out) sharing one [`rustls::Connection`], plus a [`TlsSession`]
//! handle for inspecting it (ALPN, peer certificates, SNI...).
//!
//! What the filters do, against libevent's OpenSSL bufferevent (statements 81-85):
//!
//! * The handshake is driven by the filters: records rustls wants to send (handshake
//!   messages, alerts, `close_notify`) come out of the output filter even when the user wrote
//!   nothing — [`Filter::wants_write`](bufferevent::Filter::wants_write) tells the bufferevent
//!   to call it. The input filter reports [`FilterEvent::Connected`](crate::FilterEvent::Connected)
//!   once the handshake is complete (`BEV_EVENT_CONNECTED`, once: rustls does not
//!   renegotiate).
//! * Certificate and protocol errors are `Err` with rustls's reason (libevent only has
//!   `bufferevent_get_openssl_error`).
//! * FINISHED on the output filter sends `close_notify` (libevent's free sends none: #943,
//!   statement 83).
//! * FINISHED on the input filter (the underlying reached EOF) without a prior `close_notify`
//!   is an [`Error::DirtyShutdown`](crate::Error::DirtyShutdown) by default, a plain end of
//!   stream when [`TlsPair::allow_dirty_shutdown`] is set (statement 81). A received
//!   `close_notify` is reported as [`FilterEvent::Eof`](crate::FilterEvent::Eof).
//! * All plaintext rustls has decrypted is handed to `dst` in the same call, so nothing
//!   readable ever hides inside the filter (libevent's #690, where data pending inside
//!   OpenSSL stalled reads under watermarks); ciphertext is only fed to rustls while the
//!   `dst_limit` has room, so one call exceeds it by at most the records decrypted in its last
//!   step (statement 84's "up to one record").
//! * While the peer is silent (a server delaying its handshake) the filters are not called:
//!   the bufferevent waits for the socket, it does not poll (statement 85; a test counts 11
//!   filter calls for a one-second delay, libevent's test allows 100 reads and writes).

mod config;
mod input;
mod output;
mod session;

mod client;
mod server;
mod shortcut;

pub use config::{client_config, crypto_provider, server_config};
pub use input::TlsInput;
pub use output::TlsOutput;
pub use rustls;
pub use session::TlsSession;
pub use shortcut::{client_bufferevent, server_bufferevent};

/// The two halves of one TLS connection, ready to be given to a filter bufferevent (or to a
/// [`FilteredStream`](crate::FilteredStream)): [`TlsPair::input`] as the input filter and
/// [`TlsPair::output`] as the output filter.
///
/// Build one with [`TlsPair::client`] or [`TlsPair::server`].
///
/// libevent: the `SSL *` given to `bufferevent_openssl_filter_new`.
#[derive(Debug)]
pub struct TlsPair {
    /// The input filter: ciphertext from the underlying in, plaintext to the user out.
    pub input: TlsInput,
    /// The output filter: plaintext from the user in, ciphertext to the underlying out.
    pub output: TlsOutput,
}

impl TlsPair {
    fn from_connection(conn: rustls::Connection) -> Self {
        let session = TlsSession::new(conn);
        TlsPair {
            input: TlsInput::new(session.clone()),
            output: TlsOutput::new(session),
        }
    }

    /// Treats an end of the underlying stream without `close_notify` as a clean end of stream
    /// instead of an error (libevent's `bufferevent_openssl_set_allow_dirty_shutdown`). An end
    /// during the handshake is always an error.
    pub fn allow_dirty_shutdown(self, allow: bool) -> Self {
        self.input.session().lock().allow_dirty_shutdown = allow;
        self
    }

    /// A handle on the shared connection state.
    ///
    /// libevent: `bufferevent_openssl_get_ssl`.
    pub fn session(&self) -> TlsSession {
        self.input.session().clone()
    }

    /// The two filters, input first.
    ///
    /// libevent: none (its TLS bufferevent is one object).
    pub fn split(self) -> (TlsInput, TlsOutput) {
        (self.input, self.output)
    }
}

#[cfg(test)]
mod tests;
