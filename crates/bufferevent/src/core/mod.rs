//! The sans-IO core: everything a bufferevent decides, nothing it does.
//!
//! Like quinn-proto or rustls, the rules live in plain data and methods
//! ([`state::Core`]) that take the current time as a parameter; the backends
//! and faces move bytes and run callbacks around it. This is what makes the
//! libevent statements testable one by one without sockets.

pub(crate) mod events;
pub(crate) mod limit;
pub(crate) mod state;
pub(crate) mod stats;
pub(crate) mod timeout;
pub(crate) mod watermark;

#[cfg(test)]
mod tests;

pub use events::{Dir, Events};
pub use limit::{Limiter, Quota};
pub use stats::{Ending, Stats};
pub use watermark::{Watermark, DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT, DEFAULT_READ_SIZE};
