//! Creation options (libevent's `BEV_OPT_*`).
//!
//! Most of libevent's options exist to patch over C's lack of ownership and
//! of a thread-safe handle; here they are accepted for porting and their
//! meaning is spelled out on each flag.

use bitflags::bitflags;

bitflags! {
    /// Options given when creating a bufferevent (libevent's
    /// `enum bufferevent_options`, `BEV_OPT_*`).
    ///
    /// The default is [`Options::CLOSE_ON_FREE`].
    ///
    /// ```
    /// use bufferevent::Options;
    /// assert_eq!(Options::default(), Options::CLOSE_ON_FREE);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Options: u8 {
        /// Dropping the bufferevent closes what it owns: the socket, or the
        /// underlying bufferevent of a filter (`BEV_OPT_CLOSE_ON_FREE`).
        /// A bufferevent always owns its transport in Rust, so dropping it
        /// always closes; to keep the transport, take it back with
        /// [`BufferEvent::into_underlying`](crate::BufferEvent::into_underlying)
        /// instead of dropping. The flag is the default and is kept so that
        /// ported code reads the same.
        const CLOSE_ON_FREE = 0x01;
        /// `BEV_OPT_THREADSAFE`: accepted and ignored. A bufferevent is owned
        /// by one task; other tasks and threads use a
        /// [`Handle`](crate::Handle), which never holds a lock across a
        /// callback (libevent's deadlocks #200/#1750 cannot happen).
        const THREADSAFE = 0x02;
        /// `BEV_OPT_DEFER_CALLBACKS`: always on. Callbacks never run inside
        /// the call that caused them; the driver runs them afterwards.
        const DEFER_CALLBACKS = 0x04;
        /// `BEV_OPT_UNLOCK_CALLBACKS`: always on, since no lock is ever held
        /// while a callback runs. (libevent refuses it without
        /// `DEFER_CALLBACKS`; here deferral is always on, so it is accepted.)
        const UNLOCK_CALLBACKS = 0x08;
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::CLOSE_ON_FREE
    }
}
