//! Small helpers shared by the filters (crate-private).

use bufferevent::FilterStatus;
use evbuffer::EvBuffer;

/// libevent's `dst_limit`: `None` (-1) is unlimited.
pub(crate) fn budget(limit: Option<usize>) -> usize {
    limit.unwrap_or(usize::MAX)
}

/// The status every filter here returns: `Ok` when it added bytes to `dst`, `NeedMore` otherwise
/// (libevent's `BEV_OK` / `BEV_NEED_MORE`).
pub(crate) fn status(added: usize) -> FilterStatus {
    if added > 0 {
        FilterStatus::Ok
    } else {
        FilterStatus::NeedMore
    }
}

/// Length of the first contiguous extent of `buf` (0 when empty).
pub(crate) fn first_extent_len(buf: &EvBuffer) -> usize {
    buf.peek(..).next().map_or(0, <[u8]>::len)
}
