//! The bench workloads (`benches/workloads/`, `docs/workloads.md` B1-B8) give
//! the checksum their definition does on `EvBuffer` and on `BytesMut`, over a
//! few rounds each, and the independent computation gives the documented
//! figures at the full counts: the bench measures the work it claims to.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use workloads::{bytesmut, evbuf, expected, Id, Workload};

fn check(id: Id, mut w: Box<dyn Workload>, side: &str) {
    // One state for all calls: the stream goes on across them.
    let (mut total, mut done) = (0u64, 0u64);
    for rounds in [0u64, 1, 2] {
        total = total.wrapping_add(w.run(rounds));
        done += rounds;
        assert_eq!(
            total,
            expected::checksum(id, done),
            "{id} on {side} after {done} rounds"
        );
    }
}

#[test]
fn documented_checksums() {
    for id in Id::ALL {
        assert_eq!(
            expected::checksum(id, id.full_rounds()),
            id.documented_checksum(),
            "{id}"
        );
    }
}

#[test]
fn evbuffer_side_checksums() {
    for id in Id::ALL {
        check(id, evbuf::setup(id), "evbuffer");
    }
}

#[test]
fn bytesmut_side_checksums() {
    for id in Id::ALL {
        match bytesmut::setup(id) {
            Some(w) => check(id, w, "bytesmut"),
            None => assert_eq!(id, Id::B4),
        }
    }
}
