//! The benchmark workloads (benches/workloads/, `docs/workloads.md` B1-B8)
//! give the checksum their definition does, on `EvBuffer`, on `BytesMut` and
//! on libevent's evbuffer (when the build found libevent), at a few rounds
//! each; and the independent computation gives the documented figures at the
//! full counts.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use workloads::{expected, setup, Id, Side};

#[test]
fn independent_checksums_match_workloads_md() {
    for id in Id::ALL {
        assert_eq!(
            expected::checksum(id, id.full_rounds()),
            id.documented_checksum(),
            "{id}"
        );
    }
}

fn check_side(side: Side) {
    for id in Id::ALL {
        // One state for all calls: the stream goes on across them.
        let Some(mut w) = setup(side, id) else {
            assert_eq!((side, id), (Side::BytesMut, Id::B4), "side available");
            continue;
        };
        let mut total = 0u64;
        let mut done = 0u64;
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
}

#[test]
fn evbuffer_side_checksums() {
    check_side(Side::Evbuffer);
}

#[test]
fn bytesmut_side_checksums() {
    check_side(Side::BytesMut);
}

#[cfg(has_libevent)]
#[test]
fn libevent_side_checksums() {
    check_side(Side::Libevent);
}

#[cfg(has_libevent)]
#[test]
fn libevent_b4_extent_count_is_known() {
    let lev = workloads::libevent::Lev::new(Id::B4);
    assert!(lev.b4_extents().expect("B4") > 0);
    assert_eq!(workloads::libevent::Lev::new(Id::B1).b4_extents(), None);
}
