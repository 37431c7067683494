//! # evbuffer
//!
//! libevent's `struct evbuffer` in Rust: a queue of byte chunks
//! ([`bytes::Bytes`] / [`bytes::BytesMut`] / file ranges) that moves data
//! without copying it.
//!
//! * **Adding** copies small writes into the spare capacity of the tail chunk
//!   (chunk sizes follow a documented [`ChunkPolicy`]; an [`Appender`] does
//!   the per-add bookkeeping once for a run of small adds) or takes memory
//!   without copying ([`EvBuffer::add_bytes`], [`EvBuffer::add_reference`],
//!   [`EvBuffer::add_file_segment`]).
//! * **Moving** between buffers moves chunks ([`EvBuffer::append`],
//!   [`EvBuffer::remove_into`], [`EvBuffer::prepend_buffer`]); only a boundary
//!   chunk is split, by reference.
//! * **Reading in place**: [`EvBuffer::peek`] yields slices into the chunks,
//!   [`EvBuffer::search`] and [`EvBuffer::read_line`] scan them with `memchr`;
//!   [`EvBuffer::drain_lines`] hands out every complete line as a borrowed
//!   slice in one pass.
//! * **Writing in place**: [`EvBuffer::reserve`] hands out the tail's spare
//!   capacity (plus a new chunk) to write into and commit.
//! * **I/O**: [`EvBuffer::read_from`] / [`EvBuffer::write_to`] (vectored, with a
//!   caller-chosen bound per call) for `std::io`, and `poll_read_from` /
//!   `poll_write_to` for tokio with the `tokio` feature.
//! * Change callbacks ([`EvBuffer::add_cb`]), freezing either end
//!   ([`EvBuffer::freeze`]), positions ([`Ptr`]).
//!
//! Every libevent call has a recognisable home; each item's documentation
//! names the libevent function it replaces. Where libevent 2.1.12 behaves
//! oddly the difference is documented on the item (e.g. `peek` returns exactly
//! the asked range, `read_from` is not capped at 4 KiB).
//!
//! ```
//! use evbuffer::{EvBuffer, Eol};
//!
//! // A protocol reader: bytes arrive in pieces, lines come out whole.
//! let mut input = EvBuffer::new();
//! input.add(b"HELO exa").unwrap();
//! assert_eq!(input.read_line(Eol::CrlfStrict).unwrap(), None);
//! input.add(b"mple.org\r\nDATA\r\n").unwrap();
//! assert_eq!(input.read_line(Eol::CrlfStrict).unwrap().unwrap(), "HELO example.org");
//!
//! // Zero-copy: move what is left to an output buffer, look at it in place.
//! let mut output = EvBuffer::new();
//! output.append(&mut input).unwrap();
//! let total: usize = output.peek(..).map(<[u8]>::len).sum();
//! assert_eq!(total, 6);
//!
//! // Write straight into the buffer's memory.
//! let mut r = output.reserve(4, 1).unwrap();
//! r.region_mut(0)[..4].copy_from_slice(b"QUIT");
//! r.commit(4).unwrap();
//! assert_eq!(output, &b"DATA\r\nQUIT"[..]);
//! ```
//!
//! ## Modules
//!
//! The crate is laid out like `bytes`' `src/buf/`: one concept per file.
//! `queue` holds the chunk queue, the one type that changes the chunks, the
//! length and the generation (its docs list the invariants it keeps);
//! `spare` the recycler of emptied allocations; `buffer` the [`EvBuffer`]
//! operations (add, remove, move) on top of them; [`policy`] chunk sizing;
//! `chunk` the storage kinds; `appender` runs of small adds; `peek`,
//! `reserve`, `ptr`, `search`, `line`, `callbacks`, `freeze`,
//! [`file`](mod@file) (file segments), `io` (std), `tokio_io` (feature
//! `tokio`), `impls` (trait implementations).
//!
//! ## Fuzzing and benchmarking the evbuffer crate
//!
//! The buffer workloads B1-B8 (defined in the repository's
//! `docs/workloads.md`) run on [`EvBuffer`] and on a plain contiguous
//! [`BytesMut`] with the same checksums:
//!
//! ```text
//! cargo bench -p evbuffer                   # criterion, evbuffer vs BytesMut, one group per workload
//! cargo run --release --example evbuffer_workloads -- --compare --repeat 5 all
//!                                           # from the workspace root: full counts, evbuffer vs
//!                                           # libevent (needs libevent-dev) vs BytesMut
//! ```
//!
//! The fuzz target `evbuffer_ops` (in the repository's `fuzz/`) applies
//! random operation sequences to a buffer and to a `VecDeque<u8>` model and
//! panics on any difference (the same operations as the property test in
//! `tests/model.rs`). cargo-fuzz needs nightly features; `RUSTC_BOOTSTRAP=1`
//! lets the stable toolchain build it:
//!
//! ```text
//! cargo install cargo-fuzz --locked
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run evbuffer_ops
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O evbuffer_ops -- -max_total_time=60   # a bounded run
//! ```
//!
//! "Statement N" in this crate's documentation and `sN_` in test names refer
//! to item N of `docs/libevent-semantics.md` in the project's repository:
//! libevent 2.1.12's behaviour, as this project pins it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]

mod appender;
mod buffer;
mod callbacks;
mod chunk;
mod error;
pub mod file;
mod freeze;
mod impls;
mod io;
mod line;
mod peek;
pub mod policy;
mod ptr;
mod queue;
mod reserve;
mod search;
mod spare;
#[cfg(feature = "tokio")]
mod tokio_io;

pub use appender::Appender;
pub use buffer::EvBuffer;
pub use bytes::{Bytes, BytesMut};
pub use callbacks::{CallbackId, CbInfo};
pub use error::{Error, Result};
pub use file::FileSegment;
pub use freeze::End;
pub use io::MAX_IOVECS;
pub use line::Eol;
pub use peek::Extents;
pub use policy::ChunkPolicy;
pub use ptr::Ptr;
pub use reserve::Reservation;

/// `EvBuffer` is handed between tasks and threads (callbacks are `Send`).
#[allow(dead_code)]
fn assert_send() {
    fn is_send<T: Send>() {}
    is_send::<EvBuffer>();
}
