//! # cpeers — the seed's programs in C, as test peers
//!
//! The project's examples must put exactly the bytes of the seed's C++
//! programs on the wire. To prove it, the test suite runs real libevent
//! programs against them. This crate carries those programs, written in C
//! from the seed's description (`c/*.c`), compiles them on demand against the
//! system's libevent (`cc` + `pkg-config`, i.e. Debian's `libevent-dev` and
//! `pkg-config` packages), and runs them as child processes that are killed
//! when the test ends.
//!
//! | program | seed | default port |
//! |---|---|---|
//! | `filter_server` | 3.1, the filter server (upper-case in, HEAD/END frames out, 4 s read timeout) | 15000 |
//! | `filter_client` | 3.2, the client (pass-through filters, sends `temp.data\0`) | 15000 |
//! | `upper_server` | the first example (`================\n` frames) | 5001 |
//! | `filter_echo_server` | 3.1 as an echo (`filter_server --echo`), for benchmarks N1, N2, N5 | 15000 |
//! | `zlib_echo_server` | none: zlib inflate/deflate filters, echo, for N3 (needs zlib) | 5002 |
//! | `tls_echo_server` | none: OpenSSL bufferevent, echo, for N4 (needs `libevent_openssl`, `openssl`) | 5003 |
//! | `ratelimit_server` | none: rate-limited download (per connection and group), for N6 | 15001 |
//!
//! Every program takes the port as its first argument. The servers listen on
//! 127.0.0.1; given port 0 they let the kernel choose and print
//! `listening on port N`, which [`Peer::start_server`] reads.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::{Read, Write};
//! let (server, port) = cpeers::Peer::start_server("upper_server")?;
//! let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
//! c.write_all(b"hi\n")?;
//! let mut reply = [0u8; 37];
//! c.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"================\nHI\n================\n");
//! drop(server); // kills and reaps the C program
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod compile;
mod error;
mod peer;
mod tools;

pub use compile::{build, build_in, default_out_dir, source, PROGRAMS};
pub use error::{BuildError, PeerError};
pub use peer::{Peer, MAX_CAPTURE};
pub use tools::{build_or_skip, have_command, skip, tools_required, REQUIRE_ENV};
