//! Rate-limit groups under a simulated clock: the group rate holds, the
//! members that want data share it fairly, idle members do not dilute it,
//! min_share is honoured, members come and go (statements 76-80, pain
//! point #14).

mod common;

use std::time::{Duration, Instant};

use common::{assert_within, jain, run, Sim};
use ev_token_bucket::{RateLimitConfig, RateLimitGroup, RateLimiter};

const TICK: Duration = Duration::from_millis(100);
const TEN_S: Duration = Duration::from_secs(10);

fn group(rate: u64, burst: u64, t0: Instant) -> RateLimitGroup {
    RateLimitGroup::new(
        &RateLimitConfig::symmetric(rate, burst, Some(TICK)).unwrap(),
        t0,
    )
}

fn member(g: &RateLimitGroup, now: Instant) -> RateLimiter {
    let mut lim = RateLimiter::new();
    lim.set_group(Some(g), now);
    lim
}

fn reads(sims: &[Sim]) -> Vec<f64> {
    sims.iter().map(|s| s.read as f64).collect()
}

/// Group total within 1%, each member within 10% of an equal share,
/// Jain's index at least 0.98.
fn assert_fair(sims: &[Sim], expected_total: f64) {
    let xs = reads(sims);
    let total: f64 = xs.iter().sum();
    assert_within(total, expected_total, 0.01, "group total");
    let fair = expected_total / xs.len() as f64;
    for (i, x) in xs.iter().enumerate() {
        assert_within(*x, fair, 0.10, &format!("member {i}"));
    }
    let j = jain(&xs);
    assert!(j >= 0.98, "Jain index {j}");
}

#[test]
fn s79_group_of_32_holds_the_group_rate_and_shares_fairly() {
    // 640 kB/s for the group: 2 kB per member per tick
    let t0 = Instant::now();
    let g = group(64_000, 64_000, t0);
    let mut sims: Vec<Sim> = (0..32).map(|_| Sim::greedy(member(&g, t0))).collect();
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    assert_fair(&sims, 6_400_000.0);
    assert_eq!(g.totals().0, 6_400_000);
}

#[test]
fn s76_group_of_32_with_min_share_above_the_per_member_share() {
    // 10 kB/s for 32 members: 31.25 B per member per tick, below the
    // default min_share of 64, so members take turns in 64-byte reads
    let t0 = Instant::now();
    let g = group(1000, 1000, t0);
    assert_eq!(g.min_share(), 64);
    let mut sims: Vec<Sim> = (0..32).map(|_| Sim::greedy(member(&g, t0))).collect();
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    assert_fair(&sims, 100_000.0);
    for (i, s) in sims.iter().enumerate() {
        assert!(
            s.min_grant.is_some_and(|m| m >= 64),
            "member {i} was granted {:?}",
            s.min_grant
        );
    }
}

#[test]
fn s76_min_share_is_honoured_and_tiny_reads_never_happen() {
    let t0 = Instant::now();
    let g = group(10_000, 10_000, t0);
    g.set_min_share(1000).unwrap();
    let mut sims: Vec<Sim> = (0..50).map(|_| Sim::greedy(member(&g, t0))).collect();
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    for (i, s) in sims.iter().enumerate() {
        assert!(
            s.min_grant.is_some_and(|m| m >= 1000),
            "member {i}: {:?}",
            s.min_grant
        );
    }
    // 200 B per member per tick, in reads of 1000 B: still fair and exact
    assert_fair(&sims, 1_000_000.0);
}

#[test]
fn pain14_idle_members_do_not_dilute_the_share() {
    let t0 = Instant::now();
    let g = group(64_000, 64_000, t0);
    let mut sims: Vec<Sim> = (0..32).map(|_| Sim::greedy(member(&g, t0))).collect();
    // everyone reads for 2 s, then 24 of them stop wanting data
    let t1 = run(&mut sims, t0, TICK, t0, t0 + Duration::from_secs(2));
    for s in sims.iter_mut().skip(8) {
        s.wants = false;
    }
    for s in sims.iter_mut() {
        s.reset();
    }
    run(&mut sims, t0, TICK, t1, t0 + TEN_S);
    // the 8 still reading share the whole group rate, except for the one
    // tick in which the others still counted as contending
    let active = &sims[..8];
    assert_fair(active, 80.0 * 64_000.0 - 48_000.0);
    let got: u64 = active.iter().map(|s| s.read).sum();
    // libevent would give each 1/32 of the bucket per read
    assert!(got > 5_000_000, "active members got only {got}");
    assert!(sims[8..].iter().all(|s| s.read == 0));
}

#[test]
fn pain14_members_joined_but_never_reading_do_not_dilute() {
    let t0 = Instant::now();
    let g = group(64_000, 64_000, t0);
    let mut sims: Vec<Sim> = (0..32).map(|_| Sim::greedy(member(&g, t0))).collect();
    for s in sims.iter_mut().skip(4) {
        s.wants = false;
    }
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    // only the first tick is split 32 ways
    assert_fair(&sims[..4], 6_400_000.0 - 28.0 * 2000.0);
}

#[test]
fn slow_members_leave_their_unused_share_to_the_others() {
    let t0 = Instant::now();
    let g = group(40_000, 40_000, t0);
    let mut sims: Vec<Sim> = (0..4).map(|_| Sim::greedy(member(&g, t0))).collect();
    // member 0's peer sends only 1 kB per tick
    sims[0].arrival_per_tick = Some(1000);
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    assert_within(sims[0].read as f64, 100_000.0, 0.02, "slow member");
    // the 3 greedy members share the remaining 39 kB per tick
    assert_fair(&sims[1..], 3_900_000.0);
}

#[test]
fn s80_members_join_and_leave_mid_run() {
    let t0 = Instant::now();
    let g = group(64_000, 64_000, t0);
    let mut sims: Vec<Sim> = (0..16).map(|_| Sim::greedy(member(&g, t0))).collect();
    let t1 = run(&mut sims, t0, TICK, t0, t0 + Duration::from_secs(4));
    assert_fair(&sims, 2_560_000.0);

    // 16 more join at 4 s
    for s in sims.iter_mut() {
        s.reset();
    }
    for _ in 0..16 {
        sims.push(Sim::greedy(member(&g, t1)));
    }
    assert_eq!(g.member_count(), 32);
    let t2 = run(&mut sims, t0, TICK, t1, t0 + Duration::from_secs(7));
    assert_fair(&sims, 1_920_000.0);

    // 24 leave (dropped) at 7 s, the group handle itself is dropped too
    sims.truncate(8);
    assert_eq!(g.member_count(), 8);
    for s in sims.iter_mut() {
        s.reset();
    }
    drop(g);
    run(&mut sims, t0, TICK, t2, t0 + TEN_S);
    assert_fair(&sims, 1_920_000.0);
}

#[test]
fn per_connection_and_group_limits_combine() {
    // group 40 kB/tick; 4 members capped at 5 kB/tick each by their own
    // limit, 4 uncapped: the uncapped share what the capped leave
    let t0 = Instant::now();
    let g = group(40_000, 40_000, t0);
    let own = RateLimitConfig::shared(5000, 5000, 5000, 5000, Some(TICK)).unwrap();
    let mut sims: Vec<Sim> = (0..8)
        .map(|i| {
            let mut lim = member(&g, t0);
            if i < 4 {
                lim.set_config(Some(own.clone()), t0);
            }
            Sim::greedy(lim)
        })
        .collect();
    run(&mut sims, t0, TICK, t0, t0 + TEN_S);
    for s in &sims[..4] {
        assert_within(s.read as f64, 500_000.0, 0.01, "capped member");
    }
    assert_fair(&sims[4..], 2_000_000.0);
}

#[test]
fn s78_group_totals_and_reset_under_load() {
    let t0 = Instant::now();
    let g = group(10_000, 10_000, t0);
    let mut sims: Vec<Sim> = (0..3).map(|_| Sim::greedy(member(&g, t0))).collect();
    let t1 = run(&mut sims, t0, TICK, t0, t0 + Duration::from_secs(1));
    let sum: u64 = sims.iter().map(|s| s.read).sum();
    assert_eq!(g.totals(), (sum, 0));
    g.reset_totals();
    g.decrement_read(5000, t1);
    assert_eq!(g.totals(), (0, 0));
    run(&mut sims, t0, TICK, t1, t0 + Duration::from_secs(2));
    // the manual decrement took 5000 of this second's 100000
    assert_eq!(g.totals().0, 95_000);
}

#[test]
fn members_on_different_threads_share_one_group() {
    let t0 = Instant::now();
    let g = group(8000, 8000, t0);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut lim = member(&g, t0);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // the threads walk the same simulated ticks in lock step,
                // in whatever order the scheduler runs them within a tick
                let mut got = 0u64;
                for k in 0..50u32 {
                    let now = t0 + TICK * k;
                    barrier.wait();
                    loop {
                        let q = lim.read_quota(usize::MAX, now);
                        if q.bytes == 0 {
                            break;
                        }
                        lim.on_read(q.bytes, now);
                        got += q.bytes as u64;
                    }
                    barrier.wait();
                }
                got
            })
        })
        .collect();
    let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![100_000; 4]);
    assert_eq!(g.totals().0, 400_000);
}

#[test]
fn partial_reads_from_momentarily_empty_sockets_stay_fair() {
    // data arrives every 10 ms, twice as fast as each member's share, and
    // each member reads once per 10 ms whatever has arrived: most reads
    // are partial (less than allowed), as on a real socket
    let t0 = Instant::now();
    let g = group(80_000, 80_000, t0);
    let mut lims: Vec<RateLimiter> = (0..8).map(|_| member(&g, t0)).collect();
    let mut backlog = [0u64; 8];
    let mut got = [0u64; 8];
    let step = Duration::from_millis(10);
    for k in 0..1000u32 {
        let now = t0 + step * k;
        for (i, lim) in lims.iter_mut().enumerate() {
            // uneven arrivals: 1000..3000 bytes per 10 ms, 2000 on average
            backlog[i] += 1000 + ((k as u64 * 7 + i as u64 * 13) % 5) * 500;
            let q = lim.read_quota(usize::MAX, now);
            if q.bytes == 0 {
                continue;
            }
            let n = (q.bytes as u64).min(backlog[i]);
            backlog[i] -= n;
            lim.on_read(n as usize, now);
            got[i] += n;
        }
    }
    let xs: Vec<f64> = got.iter().map(|&x| x as f64).collect();
    let total: f64 = xs.iter().sum();
    assert_within(total, 8_000_000.0, 0.01, "group total");
    for (i, x) in xs.iter().enumerate() {
        assert_within(*x, 1_000_000.0, 0.10, &format!("member {i}"));
    }
    assert!(jain(&xs) >= 0.98, "Jain index {}", jain(&xs));
}
