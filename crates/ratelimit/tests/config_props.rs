//! Property tests: no configuration, value or instant makes the limiter
//! panic; every invalid configuration is an error (statement 72, pain
//! point #13); what it grants respects statement 74 whatever happened
//! before.

use std::time::{Duration, Instant};

use ev_token_bucket::{
    ConfigError, Direction, RateLimitConfig, RateLimitGroup, RateLimiter, TokenBucket, MAX_RATE,
    MAX_TICK, MIN_TICK,
};
use proptest::prelude::*;

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        1u64..100_000,
        (MAX_RATE - 2)..=(MAX_RATE + 2),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

fn tick() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..3_000_000).prop_map(Duration::from_nanos),
        (1u64..10_000).prop_map(Duration::from_millis),
        Just(MAX_TICK),
        Just(MAX_TICK + Duration::from_nanos(1)),
        Just(Duration::MAX),
    ]
}

fn valid(rate: u64, burst: u64) -> bool {
    rate >= 1 && rate <= burst && burst <= MAX_RATE
}

/// Something done to a limiter and its group, at `at` past the start.
#[derive(Clone, Debug)]
enum Op {
    Quota(Direction, usize),
    Transfer(Direction, usize),
    Decrement(Direction, i64),
    GroupDecrement(Direction, i64),
    MaxSingle(Direction, usize),
    Wakeup,
    SetConfig(bool),
    Regroup(bool),
    MinShare(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let dir = prop_oneof![Just(Direction::Read), Just(Direction::Write)];
    let size = prop_oneof![
        Just(0usize),
        1usize..100_000,
        Just(usize::MAX),
        any::<usize>()
    ];
    let signed = prop_oneof![
        Just(0i64),
        -100_000i64..100_000,
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>()
    ];
    prop_oneof![
        (dir.clone(), size.clone()).prop_map(|(d, n)| Op::Quota(d, n)),
        (dir.clone(), size.clone()).prop_map(|(d, n)| Op::Transfer(d, n)),
        (dir.clone(), signed.clone()).prop_map(|(d, n)| Op::Decrement(d, n)),
        (dir.clone(), signed).prop_map(|(d, n)| Op::GroupDecrement(d, n)),
        (dir, size).prop_map(|(d, n)| Op::MaxSingle(d, n)),
        Just(Op::Wakeup),
        any::<bool>().prop_map(Op::SetConfig),
        any::<bool>().prop_map(Op::Regroup),
        amount().prop_map(Op::MinShare),
    ]
}

fn offset() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..10_000_000).prop_map(Duration::from_micros),
        (0u64..10_000_000).prop_map(Duration::from_secs),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn s72_random_configs_never_panic_and_invalid_ones_are_errors(
        rr in amount(), rb in amount(), wr in amount(), wb in amount(), t in proptest::option::of(tick())
    ) {
        let result = RateLimitConfig::new(rr, rb, wr, wb, t);
        let tick_ok = t.is_none_or(|t| (MIN_TICK..=MAX_TICK).contains(&t));
        let ok = valid(rr, rb) && valid(wr, wb) && tick_ok;
        prop_assert_eq!(result.is_ok(), ok, "{:?}", result);
        if let Err(e) = &result {
            // every refusal explains itself
            prop_assert!(!e.to_string().is_empty());
        }
        if let Some(t) = t.filter(|t| *t < MIN_TICK) {
            if valid(rr, rb) && valid(wr, wb) {
                prop_assert_eq!(result, Err(ConfigError::TickTooShort { tick: t }));
            }
        }
        let bucket = TokenBucket::new(rr, rb, t.unwrap_or(MIN_TICK), Instant::now());
        prop_assert_eq!(bucket.is_ok(), valid(rr, rb) && t.is_none_or(|t| (MIN_TICK..=MAX_TICK).contains(&t)));
    }

    #[test]
    fn s73_bucket_arithmetic_never_panics(
        rate in amount(), burst in amount(), t in tick(),
        steps in proptest::collection::vec((offset(), amount(), any::<i64>(), any::<i64>()), 1..20)
    ) {
        let t0 = Instant::now();
        let Ok(mut b) = TokenBucket::new(rate, burst, t, t0) else { return Ok(()) };
        prop_assert_eq!(b.current(), b.rate());
        for (off, consume, decrement, threshold) in steps {
            let now = t0 + off;
            let before = b.current();
            b.refill(now);
            // a refill never takes a bucket below min(before, burst)
            prop_assert!(b.current() >= before.min(b.burst()));
            b.consume(consume);
            b.decrement(decrement);
            if let Some(at) = b.next_positive_at(now) {
                prop_assert!(at > now);
            }
            if let Some(at) = b.instant_reaching(threshold, now) {
                prop_assert!(at >= now);
            }
            let _ = b.next_tick_at(now);
        }
    }

    #[test]
    fn s74_random_operations_never_panic_and_grants_stay_bounded(
        own in (amount(), amount(), tick()),
        shared in (amount(), amount(), tick()),
        ops in proptest::collection::vec((offset(), op()), 1..40)
    ) {
        let t0 = Instant::now();
        let own = RateLimitConfig::shared(own.0, own.1, own.0, own.1, Some(own.2)).ok();
        let group = RateLimitConfig::new(shared.0, shared.1, shared.0, shared.1, Some(shared.2))
            .ok()
            .map(|cfg| RateLimitGroup::new(&cfg, t0));
        let mut lim = RateLimiter::new();
        let mut other = RateLimiter::new();
        if let Some(g) = &group {
            other.set_group(Some(g), t0);
        }
        for (off, op) in ops {
            let now = t0 + off;
            match op {
                Op::Quota(dir, want) => {
                    let q = lim.quota(dir, want, now);
                    let single = match dir {
                        Direction::Read => lim.max_single_read(),
                        Direction::Write => lim.max_single_write(),
                    };
                    prop_assert!(q.bytes <= want.min(single));
                    if q.bytes == 0 && want > 0 && lim.is_limited() {
                        // suspended, never a zero-byte transfer, with a
                        // retry instant in the future
                        prop_assert!(q.retry_at.is_some_and(|t| t > now), "{:?}", q);
                    }
                    if q.bytes > 0 {
                        prop_assert_eq!(q.retry_at, None);
                    }
                    let _ = other.quota(dir, want, now);
                }
                Op::Transfer(dir, n) => {
                    lim.on_transfer(dir, n, now);
                    other.on_transfer(dir, n / 2, now);
                }
                Op::Decrement(dir, n) => {
                    let r = lim.decrement(dir, n, now);
                    prop_assert_eq!(r.is_ok(), lim.config().is_some());
                }
                Op::GroupDecrement(dir, n) => {
                    if let Some(g) = &group {
                        g.decrement(dir, n, now);
                    }
                }
                Op::MaxSingle(Direction::Read, n) => lim.set_max_single_read(n),
                Op::MaxSingle(Direction::Write, n) => lim.set_max_single_write(n),
                Op::Wakeup => {
                    if let Some(at) = lim.next_wakeup(now) {
                        prop_assert!(at > now);
                    }
                }
                Op::SetConfig(on) => lim.set_config(if on { own.clone() } else { None }, now),
                Op::Regroup(on) => lim.set_group(if on { group.as_ref() } else { None }, now),
                Op::MinShare(m) => {
                    if let Some(g) = &group {
                        prop_assert_eq!(g.set_min_share(m).is_ok(), m <= MAX_RATE);
                        prop_assert!(g.min_share() >= 1);
                    }
                }
            }
            prop_assert!(lim.max_to_read(now) <= lim.max_single_read());
            if let Some(g) = &group {
                let _ = g.read_limit(now);
                let _ = g.totals();
            }
        }
    }
}
