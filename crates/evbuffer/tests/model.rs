//! Model-based property test: random sequences of every operation, run on an
//! `EvBuffer` (with a random small chunk policy) and on a plain
//! `VecDeque<u8>`, must agree on contents, lengths, returned values and
//! errors; after every step the peeked extents must concatenate to the
//! model's bytes. The operations and the checking live in `model_ops/`,
//! shared with the fuzz target.

mod model_ops;

use model_ops::{EolKind, Harness, Op};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    // Bytes from a small alphabet rich in line terminators, so that lines
    // and searches hit often.
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![b'a', b'b', b'c']),
            1 => Just(b'\r'),
            1 => Just(b'\n'),
            1 => Just(0u8),
            1 => any::<u8>(),
        ],
        0..max,
    )
}

fn eol() -> impl Strategy<Value = EolKind> {
    prop_oneof![
        Just(EolKind::Any),
        Just(EolKind::Crlf),
        Just(EolKind::CrlfStrict),
        Just(EolKind::Lf),
        Just(EolKind::Nul),
    ]
}

fn small() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..40, 0u16..600, any::<u16>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => data(300).prop_map(Op::Add),
        2 => data(100).prop_map(Op::AddBytes),
        2 => data(100).prop_map(Op::AddReference),
        1 => prop::collection::vec(data(40), 0..4).prop_map(Op::AddSlices),
        1 => any::<u32>().prop_map(Op::AddFmt),
        2 => data(60).prop_map(Op::Prepend),
        1 => data(60).prop_map(Op::PrependBytes),
        3 => small().prop_map(Op::Drain),
        3 => small().prop_map(Op::Remove),
        1 => small().prop_map(Op::CopyOut),
        1 => (small(), small()).prop_map(|(at, n)| Op::CopyOutFrom { at, n }),
        2 => small().prop_map(Op::Pullup),
        2 => small().prop_map(Op::SplitTo),
        2 => small().prop_map(Op::RemoveInto),
        1 => small().prop_map(Op::RemoveIntoFromSide),
        2 => Just(Op::AppendSide),
        1 => Just(Op::AppendToSide),
        1 => Just(Op::PrependSide),
        3 => data(200).prop_map(Op::SideAdd),
        1 => small().prop_map(Op::SideDrain),
        1 => Just(Op::AddBufferReference),
        3 => (small(), any::<u8>(), any::<u16>(), any::<u8>())
            .prop_map(|(n, regions, commit, how)| Op::Reserve { n, regions, commit, how }),
        4 => eol().prop_map(Op::ReadLine),
        2 => eol().prop_map(Op::DrainLines),
        2 => prop::collection::vec(data(80), 0..6).prop_map(Op::Appender),
        2 => (data(4), small()).prop_map(|(needle, from)| Op::Search { needle, from }),
        1 => (data(4), small(), small()).prop_map(|(needle, from, end)| Op::SearchRange { needle, from, end }),
        3 => (small(), any::<u8>(), small()).prop_map(|(at, len, from)| Op::SearchExisting { at, len, from }),
        2 => (small(), eol()).prop_map(|(from, eol)| Op::SearchEol { from, eol }),
        1 => (small(), small()).prop_map(|(at, n)| Op::PtrAdvance { at, n }),
        2 => (small(), small()).prop_map(|(start, len)| Op::Peek { start, len }),
        1 => (small(), small(), any::<u8>()).prop_map(|(start, len, slots)| Op::PeekIoSlices { start, len, slots }),
        2 => (data(300), small()).prop_map(|(data, max)| Op::ReadFrom { data, max }),
        2 => (small(), small()).prop_map(|(max, cap)| Op::WriteTo { max, cap }),
        1 => data(50).prop_map(Op::BufPut),
        1 => small().prop_map(Op::BufGet),
        1 => Just(Op::BufChunk),
        1 => any::<bool>().prop_map(|front| Op::Freeze { front }),
        2 => any::<bool>().prop_map(|front| Op::Unfreeze { front }),
        1 => Just(Op::Clear),
        1 => small().prop_map(Op::Expand),
        1 => (data(200), any::<u8>(), small()).prop_map(|(data, off, len)| Op::AddFile { data, off, len }),
    ]
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=n for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn evbuffer_matches_vecdeque_model(seed in any::<u32>(), ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness::new(seed, true);
        for op in &ops {
            h.apply(op);
        }
    }
}

#[test]
fn default_policy_long_run() {
    // The default policy (1 KiB..64 KiB chunks) with bigger data.
    let mut h = Harness::with_policy(evbuffer::ChunkPolicy::new(), false);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let ops = prop::collection::vec(op(), 2000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    for op in &ops {
        h.apply(op);
    }
}
