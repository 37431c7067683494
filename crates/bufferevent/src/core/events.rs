//! Event bits and directions: the values a callback is told and the
//! directions a bufferevent reads and writes in.
//!
//! Both keep libevent's numeric values, so that a porter can compare
//! against a C trace (`0x11` is `EOF|READING` in both).

use bitflags::bitflags;

bitflags! {
    /// What happened, with the side it happened on (libevent's
    /// `BEV_EVENT_*` bits passed to the event callback as `short what`).
    ///
    /// ```
    /// use bufferevent::Events;
    /// let ev = Events::EOF | Events::READING;
    /// assert_eq!(ev.bits(), 0x11);          // as in libevent
    /// assert!(ev.contains(Events::EOF));
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Events: u16 {
        /// The event happened while reading (`BEV_EVENT_READING`).
        const READING = 0x01;
        /// The event happened while writing (`BEV_EVENT_WRITING`).
        const WRITING = 0x02;
        /// End of file reached (`BEV_EVENT_EOF`).
        const EOF = 0x10;
        /// An error; see [`BufferEvent::error`](crate::BufferEvent::error)
        /// (`BEV_EVENT_ERROR`).
        const ERROR = 0x20;
        /// A read or write timeout expired (`BEV_EVENT_TIMEOUT`).
        const TIMEOUT = 0x40;
        /// A connect finished (`BEV_EVENT_CONNECTED`).
        const CONNECTED = 0x80;
    }
}

bitflags! {
    /// A set of directions (libevent's `EV_READ` / `EV_WRITE` as passed to
    /// `bufferevent_enable`, `_disable`, `_get_enabled`, `_setwatermark`).
    ///
    /// ```
    /// use bufferevent::Dir;
    /// assert_eq!(Dir::READ.bits(), 0x02);   // EV_READ
    /// assert_eq!(Dir::WRITE.bits(), 0x04);  // EV_WRITE
    /// assert_eq!(Dir::BOTH, Dir::READ | Dir::WRITE);
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Dir: u8 {
        /// Reading (`EV_READ`).
        const READ = 0x02;
        /// Writing (`EV_WRITE`).
        const WRITE = 0x04;
        /// Both directions (`EV_READ|EV_WRITE`).
        const BOTH = 0x06;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_libevent() {
        assert_eq!(Events::READING.bits(), 0x01);
        assert_eq!(Events::WRITING.bits(), 0x02);
        assert_eq!(Events::EOF.bits(), 0x10);
        assert_eq!(Events::ERROR.bits(), 0x20);
        assert_eq!(Events::TIMEOUT.bits(), 0x40);
        assert_eq!(Events::CONNECTED.bits(), 0x80);
        assert_eq!((Events::EOF | Events::READING).bits(), 0x11);
    }
}
