//! Each workload's checksum computed from its definition alone, without any
//! buffer, for any round count: what every side is checked against, so that
//! no side can skip work and all sides do the same work.

use super::Id;

const PERIOD: u64 = 251;
const MIB: u64 = 1 << 20;

/// The checksum `rounds` rounds of `id` must give.
pub(crate) fn checksum(id: Id, rounds: u64) -> u64 {
    match id {
        // 1,024 x 64 B per round, all removed and summed.
        Id::B1 => stream_sum(rounds * 1024 * 64),
        // B's length after each move: 256 x 4,096 B.
        Id::B2 | Id::B8 => rounds * MIB,
        // 256 x 4,096 B per round, all summed through peek.
        Id::B3 => stream_sum(rounds * MIB),
        // 1,024 x 1,000 B peeked per round.
        Id::B4 => rounds * 1_024_000,
        Id::B5 => b5(rounds),
        // The needle is the last 16 bytes of 1 MiB.
        Id::B6 => rounds * (MIB - 16),
        // Round r pulls up stream bytes [4096 r, 4096 r + 4096).
        Id::B7 => (0..rounds).map(|r| (r * 4096) % PERIOD).sum(),
    }
}

/// The sum of stream bytes 0..n, where byte i is i % 251.
pub(crate) fn stream_sum(n: u64) -> u64 {
    let (q, r) = (n / PERIOD, n % PERIOD);
    q * (PERIOD * (PERIOD - 1) / 2) + r * r.saturating_sub(1) / 2
}

/// Byte i of B5's stream.
pub(crate) fn b5_byte(i: u64) -> u8 {
    match i % 30 {
        28 => b'\r',
        29 => b'\n',
        _ => (i % PERIOD) as u8,
    }
}

/// Bytes B5 adds per round.
pub(crate) const B5_ROUND_BYTES: u64 = 4_194_300;

/// B5: lines x 10^12 + the sum of the lines' bytes. With CRLF end-of-line
/// handling every LF ends a line, and the end of line is that LF plus the
/// CR just before it if there is one; every other byte belongs to a line.
/// The stream has period lcm(30, 251) = 7,530, so the counts over n bytes
/// are whole periods plus a prefix of one.
fn b5(rounds: u64) -> u64 {
    const P: u64 = 30 * PERIOD;
    let n = rounds * B5_ROUND_BYTES;
    let (q, r) = (n / P, n % P);
    let (mut lines, mut sum, mut prefix_lines, mut prefix_sum) = (0u64, 0u64, 0u64, 0u64);
    for p in 0..P {
        if p == r {
            (prefix_lines, prefix_sum) = (lines, sum);
        }
        let b = b5_byte(p);
        if b == b'\n' {
            lines += 1;
        } else if !(b == b'\r' && b5_byte(p + 1) == b'\n') {
            sum += u64::from(b);
        }
    }
    let lines = q * lines + prefix_lines;
    let sum = q * sum + prefix_sum;
    lines.wrapping_mul(1_000_000_000_000).wrapping_add(sum)
}
