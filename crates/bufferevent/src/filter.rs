//! The [`Filter`] trait: a transformation between two evbuffers.
//!
//! This is libevent's `bufferevent_filter_cb`. A filter bufferevent
//! ([`BufferEvent::filter`](crate::BufferEvent::filter)) calls its *input*
//! filter to move bytes from the underlying bufferevent's input into its own
//! input, and its *output* filter to move bytes from its own output into the
//! underlying bufferevent's output. Concrete filters (zlib, TLS, framing...)
//! live in the `bufferevent_filters` crate; this crate only defines the contract and the
//! pass-through filter that libevent spells `NULL`.

use evbuffer::EvBuffer;

use crate::{FilterError, FlushMode};

/// What a successful [`Filter::process`] call reports
/// (libevent's `enum bufferevent_filter_result` minus `BEV_ERROR`, which is
/// the `Err` side of [`FilterResult`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterStatus {
    /// The filter wrote something to `dst`, or consumed input
    /// (`BEV_OK`). The bufferevent keeps calling while this is returned and
    /// both there is source data and room in the destination.
    Ok,
    /// The filter needs more source data before it can produce anything
    /// (`BEV_NEED_MORE`). The bufferevent stops calling until more data
    /// arrives (or the mode changes).
    NeedMore,
}

/// The result of one [`Filter::process`] call: `Ok(FilterStatus)` for
/// `BEV_OK`/`BEV_NEED_MORE`, `Err(FilterError)` for `BEV_ERROR`.
pub type FilterResult = Result<FilterStatus, FilterError>;

/// A data transformation between two evbuffers (libevent's
/// `bufferevent_filter_cb`, with the `ctx` argument replaced by `self`
/// and `free_context` replaced by `Drop`).
///
/// `process(src, dst, limit, mode)`:
///
/// * `src`: the bytes to transform; the filter drains what it consumed.
/// * `dst`: where transformed bytes go.
/// * `limit`: `None` means unlimited (libevent's `dst_limit == -1`);
///   `Some(n)` asks the filter to add at most about `n` bytes to `dst`
///   (it comes from a read or write high watermark). It is advisory, as in
///   libevent, but a filter that ignores it makes memory use its own
///   responsibility. The input filter always gets `Some`: without a read
///   high watermark, the room below the default input bound
///   ([`DEFAULT_MAX_INPUT`](crate::DEFAULT_MAX_INPUT) or
///   [`set_max_input`](crate::BufferEvent::set_max_input)) where libevent
///   passes -1 (statement 56), so that what a peer sends cannot grow the
///   input without bound; its one `Finished` call at end of file gets
///   `None`. The output filter always gets `Some` too: the room below the
///   underlying's write high watermark (or its default output bound), for
///   `Flush` and `Finished` as well (libevent passes -1 there); with no
///   room it is not called. A filter that stops at the limit keeps what it
///   could not write and says so with [`wants_write`](Filter::wants_write);
///   it is called again as the underlying drains. A `Flush` held back by
///   the limit is passed again on every later call until one leaves `src`
///   empty; `Finished` is passed once, after `Normal` calls have consumed
///   `src` (or at once when the filter makes no progress on it by itself,
///   as a TLS filter during its handshake).
/// * `mode`: [`FlushMode::Normal`] for ordinary data, [`FlushMode::Flush`]
///   to push everything out, [`FlushMode::Finished`] when no more data will
///   come (emit trailers). The output filter sees `Finished` once from
///   `flush(Finished)` or a graceful close, even with an empty `src`; the
///   input filter sees `Finished` once when the underlying transport reached
///   end of file, before the `EOF` event is reported (libevent never does
///   this: a documented improvement).
///
/// Returning `Err` (libevent's `BEV_ERROR`) turns into an
/// [`Events::ERROR`](crate::Events::ERROR) event with the side
/// (`READING` for the input filter, `WRITING` for the output filter) and the
/// error kept for [`BufferEvent::error`](crate::BufferEvent::error); libevent
/// silently ignores it (its issues #107/#172), this crate does not.
///
/// Closures with the same signature are filters too:
///
/// ```
/// use bufferevent::{Filter, FilterStatus, FlushMode};
/// use evbuffer::EvBuffer;
///
/// let mut upper = |src: &mut EvBuffer, dst: &mut EvBuffer, _limit: Option<usize>, _mode: FlushMode| {
///     let mut data = vec![0u8; src.len()];
///     let n = src.remove(&mut data)?;
///     data.truncate(n);
///     data.make_ascii_uppercase();
///     dst.add(&data)?;
///     Ok(FilterStatus::Ok)
/// };
/// let mut src = EvBuffer::from("hello");
/// let mut dst = EvBuffer::new();
/// upper.process(&mut src, &mut dst, None, FlushMode::Normal).unwrap();
/// assert_eq!(dst, &b"HELLO"[..]);
/// ```
pub trait Filter: Send {
    /// Transforms bytes from `src` into `dst`; see the trait docs.
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult;

    /// For an output filter: true when a call with an empty `src` would
    /// add bytes to `dst` (TLS handshake records, alerts, `close_notify`,
    /// or output held back by `limit`). The filter bufferevent then calls it
    /// although the user wrote nothing (libevent cannot: it makes TLS a
    /// bufferevent of its own). Asked after the filter bufferevent is
    /// created and after every call of either filter. Default `false`.
    ///
    /// For an input filter: true when it holds input of its own that a call
    /// with an empty `src` would turn into bytes in `dst` (input held back
    /// by `limit`, as in a chain of filters). The filter bufferevent then
    /// calls it again once the user drained its input, although the
    /// underlying's input is empty (statement 57).
    fn wants_write(&self) -> bool {
        false
    }

    /// An event this filter asks to report, taken once; asked of both
    /// filters after each call. Default: none. (libevent: none; its OpenSSL
    /// bufferevent calls `bufferevent_run_eventcb_` itself.)
    fn take_event(&mut self) -> Option<FilterEvent> {
        None
    }
}

/// An event a filter raises through [`Filter::take_event`].
///
/// libevent: none for filters; its OpenSSL bufferevent raises `BEV_EVENT_CONNECTED` and `BEV_EVENT_EOF` itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterEvent {
    /// A handshake completed: reported as [`Events::CONNECTED`](crate::Events::CONNECTED)
    /// (`BEV_EVENT_CONNECTED`).
    ///
    /// A filter bufferevent also forwards the `CONNECTED` of an underlying
    /// that was still connecting (libevent's filters do too), so a TLS
    /// filter stacked on a connecting socket reports `CONNECTED` twice: once
    /// for TCP, once for the handshake. To see only the handshake, stack it
    /// after [`BufferEvent::connected`](crate::BufferEvent::connected).
    Connected,
    /// The stream ended cleanly inside the filter (a TLS `close_notify`):
    /// reported as `EOF|READING` after the input produced so far.
    Eof,
}

impl<F> Filter for F
where
    F: FnMut(&mut EvBuffer, &mut EvBuffer, Option<usize>, FlushMode) -> FilterResult + Send,
{
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        mode: FlushMode,
    ) -> FilterResult {
        self(src, dst, limit, mode)
    }
}

/// The identity filter: moves bytes unchanged, without copying them
/// (libevent's `NULL` filter argument to `bufferevent_filter_new`).
///
/// It honours `limit`: with `Some(n)` it moves at most `n` bytes.
///
/// ```
/// use bufferevent::{Filter, FlushMode, PassThrough};
/// use evbuffer::EvBuffer;
///
/// let mut src = EvBuffer::from("0123456789");
/// let mut dst = EvBuffer::new();
/// PassThrough.process(&mut src, &mut dst, Some(4), FlushMode::Normal).unwrap();
/// assert_eq!(dst, &b"0123"[..]);
/// assert_eq!(src.len(), 6);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough;

impl Filter for PassThrough {
    fn process(
        &mut self,
        src: &mut EvBuffer,
        dst: &mut EvBuffer,
        limit: Option<usize>,
        _mode: FlushMode,
    ) -> FilterResult {
        let n = limit.unwrap_or(usize::MAX).min(src.len());
        src.remove_into(dst, n)?;
        Ok(FilterStatus::Ok)
    }
}
