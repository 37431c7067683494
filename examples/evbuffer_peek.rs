//! The seed's evbuffer demonstration 2.1, "looking at data without copying
//! it" (`evbuffer_peek`), on `evbuffer::EvBuffer`.
//!
//! Two 11-byte lines are added by copy; the second fills the spare capacity
//! of the chunk the first one started, so the whole buffer is one extent.
//! Peeking with room for two extents fills one, and the return value says
//! how many the whole range needs (1), as `evbuffer_peek(buf, -1, NULL,
//! vec_out, 2)` does. The extents are slices into the buffer's own memory:
//! nothing is copied.
//!
//! ```text
//! $ cargo run --example evbuffer_peek
//! vec_outs[0]:0x55d0c4b2e9f0 22
//! vec_outs[1]:0 0
//! buffer len: 22
//! evbuffer_peek return: 1
//! 123456789
//! 123456789
//! ```

use evbuffer::EvBuffer;
use std::io::IoSlice;

fn main() -> Result<(), evbuffer::Error> {
    let mut buffer = EvBuffer::new();
    let block_01 = b"123456789\r\n";
    let block_02 = b"123456789\r\n";
    buffer.add(block_01)?;
    buffer.add(block_02)?;

    // evbuffer_peek(buffer, -1, NULL, vec_outs, 2)
    let mut vec_outs = [IoSlice::new(&[]); 2];
    let block_chain_len = buffer.peek_io_slices(.., &mut vec_outs);
    let filled = block_chain_len.min(vec_outs.len());

    for (i, v) in vec_outs.iter().enumerate() {
        if i < filled {
            println!("vec_outs[{i}]:{:p} {}", v.as_ptr(), v.len());
        } else {
            // Not filled: C leaves {NULL, 0} there.
            println!("vec_outs[{i}]:0 0");
        }
    }
    println!("buffer len: {}", buffer.len());
    println!("evbuffer_peek return: {block_chain_len}");
    // With n_vec = 0 libevent only counts: extent_count is that.
    assert_eq!(buffer.extent_count(..), block_chain_len);
    print!("{}", String::from_utf8_lossy(&vec_outs[0]));
    println!();
    Ok(())
}
