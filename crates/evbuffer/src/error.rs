//! Errors returned by [`EvBuffer`](crate::EvBuffer) operations.
//!
//! libevent reports every failure as `-1` (or `NULL`); here each failure is a
//! variant that says which operation failed and why, so that a caller (or a
//! log line) can tell a frozen end from a length past the end.

use std::io;

/// `Result` with [`Error`] as the error type.
///
/// libevent: functions return -1 or `NULL` instead.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in an [`EvBuffer`](crate::EvBuffer) operation (libevent's
/// `-1` / `NULL` returns).
///
/// No operation panics on bad input: lengths past the end, positions past the
/// end, frozen ends and bad commits all come back as one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The front of the buffer is frozen (`evbuffer_freeze(buf, 1)`): removing,
    /// draining, prepending, reading lines, copying out and writing are refused.
    #[error("the front of the buffer is frozen: removing, draining, prepending and copying out are refused")]
    FrozenFront,
    /// The back of the buffer is frozen (`evbuffer_freeze(buf, 0)`): adding,
    /// reserving, committing and reading into it are refused.
    #[error("the back of the buffer is frozen: adding, reserving and reading into it are refused")]
    FrozenBack,
    /// A length reaches past the end of the buffer.
    #[error("{op} of {requested} bytes from a buffer of {len}")]
    OutOfRange {
        /// The operation, e.g. `"pullup"`.
        op: &'static str,
        /// The length asked for.
        requested: usize,
        /// The buffer's length at the time.
        len: usize,
    },
    /// A position lies past the end of the buffer (`evbuffer_ptr_set` failing).
    #[error("position {pos} is past the end of a buffer of {len} bytes")]
    BadPosition {
        /// The position asked for.
        pos: usize,
        /// The buffer's length at the time.
        len: usize,
    },
    /// A commit of more bytes than were reserved or initialised
    /// (`evbuffer_commit_space` returning -1).
    #[error("commit of {requested} bytes exceeds the {available} bytes {what}")]
    InvalidCommit {
        /// The number of bytes asked to commit.
        requested: usize,
        /// The number of bytes that could be committed.
        available: usize,
        /// Why that is the limit: `"reserved"` or `"written (initialised)"`.
        what: &'static str,
    },
    /// An argument makes no sense (e.g. a reservation of zero regions).
    #[error("{op}: {why}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong with the argument.
        why: &'static str,
    },
    /// The callback handle is not (or no longer) registered on this buffer
    /// (`evbuffer_remove_cb_entry` returning -1).
    #[error("callback is not registered on this buffer")]
    UnknownCallback,
    /// A file segment range reaches past the end of the segment
    /// (`evbuffer_add_file_segment` returning -1).
    #[error("file range of {len} bytes at offset {offset} reaches past the end of a segment of {segment_len} bytes")]
    FileRange {
        /// Offset inside the segment.
        offset: u64,
        /// Length asked for.
        len: u64,
        /// The segment's length.
        segment_len: u64,
    },
    /// Reading the bytes of a file segment failed.
    #[error("reading {len} bytes of a file segment at file offset {offset}: {source}")]
    FileRead {
        /// Absolute offset in the file.
        offset: u64,
        /// Number of bytes that were to be read.
        len: usize,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn out_of_range(op: &'static str, requested: usize, len: usize) -> Self {
        Error::OutOfRange { op, requested, len }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::FileRead { source, .. } => source.kind(),
            Error::OutOfRange { .. } | Error::BadPosition { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_and_where() {
        let e = Error::out_of_range("pullup", 10, 4);
        assert_eq!(e.to_string(), "pullup of 10 bytes from a buffer of 4");
        let e = Error::BadPosition { pos: 9, len: 3 };
        assert_eq!(
            e.to_string(),
            "position 9 is past the end of a buffer of 3 bytes"
        );
        let io: io::Error = Error::FrozenBack.into();
        assert_eq!(io.kind(), io::ErrorKind::Other);
        assert!(io.to_string().contains("back of the buffer is frozen"));
    }
}
