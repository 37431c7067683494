//! Signals a filter gives whoever drives it, beyond what `Filter::process` returns.
//!
//! libevent's filter callback can only say `BEV_OK`, `BEV_NEED_MORE` or `BEV_ERROR`; that is
//! not enough for TLS, whose output side must send handshake records although the user wrote
//! nothing, and whose input side knows when the handshake completed (`BEV_EVENT_CONNECTED`)
//! or the peer closed cleanly. libevent solves this by making TLS a bufferevent of its own;
//! here [`FilterHooks`] carries the two signals, so TLS stays a pair of ordinary filters.
//! [`FilteredStream`](crate::FilteredStream) and [`Chain`](crate::Chain) honour the hooks; a
//! filter bufferevent honours them once the `bufferevent` crate calls them (requested; see the
//! crate README).

use bufferevent::{Filter, FilterResult, FlushMode};
use evbuffer::EvBuffer;

/// An event a filter asks its driver to report to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterEvent {
    /// A handshake completed (`BEV_EVENT_CONNECTED`; statement 82: once per handshake).
    Connected,
    /// The stream ended cleanly inside the filter (a TLS `close_notify` was received):
    /// `BEV_EVENT_EOF` once the input already delivered has been read.
    Eof,
}

/// Optional signals of a filter; every method has a do-nothing default, so a filter opts in
/// with an empty `impl FilterHooks for MyFilter {}`.
pub trait FilterHooks {
    /// True when calling this (output) filter with an empty source would add bytes to its
    /// destination: TLS records (handshake, alerts, `close_notify`), or a flush that stopped
    /// at `dst_limit`. The driver then calls the filter even though the user wrote nothing.
    fn wants_write(&self) -> bool {
        false
    }
    /// The next event this filter asks to report, taken once. Drivers ask after each call.
    fn take_event(&mut self) -> Option<FilterEvent> {
        None
    }
}

/// A [`Filter`] with its [`FilterHooks`]: what [`Chain`](crate::Chain) and
/// [`FilteredStream`](crate::FilteredStream) accept. Implemented for every type that is both.
pub trait HookedFilter: Filter + FilterHooks {}

impl<T: Filter + FilterHooks + ?Sized> HookedFilter for T {}

/// Wraps a filter that has no hooks (e.g. a closure or `bufferevent::PassThrough`) so that it
/// can go where a [`HookedFilter`] is expected.
///
/// ```
/// use bufferevent::{FilterStatus, FlushMode};
/// use evbuffer::EvBuffer;
/// use filters::{Chain, NoHooks};
///
/// let reverse_each_call = |src: &mut EvBuffer, dst: &mut EvBuffer, _: Option<usize>, _: FlushMode| {
///     let mut v = vec![0; src.len()];
///     src.remove(&mut v)?;
///     v.reverse();
///     dst.add(&v)?;
///     Ok(FilterStatus::Ok)
/// };
/// let chain = Chain::new().then(NoHooks(reverse_each_call));
/// # let _ = chain;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks<F>(pub F);

impl<F: Filter> Filter for NoHooks<F> {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        self.0.process(src, dst, limit, mode)
    }
}

impl<F> FilterHooks for NoHooks<F> {}

impl FilterHooks for bufferevent::PassThrough {}
