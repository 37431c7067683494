//! The seed's evbuffer demonstration 2.2, "adding data to an evbuffer
//! directly" (`evbuffer_reserve_space` / `evbuffer_commit_space`), on
//! `evbuffer::EvBuffer`.
//!
//! 128 bytes are reserved as at most two regions; each region gets 127
//! `'1'`s and a NUL written straight into the buffer's memory, and what was
//! written is committed. A peek then shows the committed bytes in place: the
//! extent's address is the reserved region's, nothing was copied.
//!
//! ```text
//! $ cargo run --example evbuffer_reserve
//! len: 1024
//! vec_outs[0]:0x5581a0c1d2b0 128
//! vec_outs[1]:0 0
//! buffer len: 128
//! data:1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111
//! ```
//!
//! One difference from the C program: it commits its regions with their
//! full reserved length (976 bytes with libevent's chunk sizes) although it
//! wrote only 128 of them, so 848 bytes of uninitialised memory end up in
//! the buffer. Here `commit` accepts only bytes that were written (more is
//! `Error::InvalidCommit`), so the demo commits the 128 it wrote.

use evbuffer::EvBuffer;
use std::io::IoSlice;

fn main() -> Result<(), evbuffer::Error> {
    let mut buffer = EvBuffer::new();

    let add_space = 128; // append 128 bytes
    let mut reservation = buffer.reserve(add_space, 2)?;
    let n = reservation.region_count();
    assert!(n > 0, "can't get the space");

    let mut written = [0usize; 2];
    let mut first_region = std::ptr::null();
    for (i, w) in written.iter_mut().enumerate().take(n) {
        println!("len: {}", reservation.region_len(i));
        let len = reservation.region_len(i).min(add_space);
        let region = reservation.region_mut(i);
        if i == 0 {
            first_region = region.as_ptr();
        }
        // '1' into all but the last byte, which is a NUL (a C string).
        region[..len - 1].fill(b'1');
        region[len - 1] = 0;
        *w = len;
    }
    reservation.commit_regions(&written[..n])?;

    let mut vec_outs = [IoSlice::new(&[]); 2];
    let needed = buffer.peek_io_slices(.., &mut vec_outs);
    let filled = needed.min(vec_outs.len());
    for (i, v) in vec_outs.iter().enumerate() {
        if i < filled {
            println!("vec_outs[{i}]:{:p} {}", v.as_ptr(), v.len());
        } else {
            println!("vec_outs[{i}]:0 0");
        }
    }
    println!("buffer len: {}", buffer.len());
    assert_eq!(vec_outs[0].as_ptr(), first_region, "committed in place");

    // Like printing the C string: up to the NUL.
    let data = &vec_outs[0][..];
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    println!("data:{}", String::from_utf8_lossy(&data[..end]));
    Ok(())
}
