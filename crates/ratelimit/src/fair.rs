//! How one direction of a group's bucket is shared among its members.
//!
//! libevent gives every member `bucket / number of members` (raised to
//! `min_share`) on every read, counting idle members too, and relies on a
//! random start order for fairness (pain point #14). That wastes the share
//! of idle members and favours whoever asks first within a tick. This
//! module replaces it with a deficit round robin over the members that
//! actually want to transfer, one round per group tick:
//!
//! * **Who contends.** A member contends from the moment it joins or asks
//!   for an allowance until it stays silent for a whole tick (or leaves).
//! * **Round start** (the first operation in a new tick): the bucket is
//!   refilled and all of it is divided among the contenders by water
//!   filling over their *deficits* (what each is owed relative to the
//!   others), so a member served less before is served more now. Each
//!   contender with a positive deficit gets a *quota* of its deficit
//!   rounded up, at least `min_share`. When the bucket cannot cover every
//!   quota (many members, `min_share` above the per-member share), the
//!   members owed most are served first and the others next round; the
//!   last one served may overdraw the bucket by less than `min_share`
//!   (paid back from the next refill, so the long-run rate is exact and no
//!   token is lost to rounding).
//! * **During the round** a member may transfer its quota; transfers are
//!   charged to its deficit. A member that transfers less than it was
//!   allowed (its peer had less, its own bucket ran dry) *releases* the
//!   rest of its quota: the released tokens are shared equally by the other
//!   contenders, through a per-round level, in O(1). What it released stays
//!   owed to it (a partial read is often a momentarily empty socket), so
//!   the next round makes up for it, within the bound below.
//! * **Memory is bounded.** Unused quota is forfeited at the end of the
//!   round (no banking while slow), and deficits are clamped to twice the
//!   per-member share of a tick (or `min_share`), so no member can starve
//!   the others by having been behind for long.
//!
//! Work per operation is `O(log members)`; the round start is
//! `O(members log members)`.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{debug, trace};

use crate::bucket::to_i64;
use crate::{Direction, RateLimitConfig, TokenBucket};

/// A member's key inside its group.
pub(crate) type MemberId = u64;

/// Deficits are kept in fixed point: 1 token = `FRAC`, so that splitting
/// the bucket among members loses nothing to rounding.
const FRAC: i128 = 1 << 20;

/// One member's state in one direction.
#[derive(Debug)]
struct Slot {
    /// Tokens (fixed point) the member is owed (> 0) or overdrew (< 0),
    /// relative to the other members.
    deficit: i128,
    /// Bytes it may still transfer this round.
    quota: i64,
    /// The share of released quota (fixed point, compared with
    /// `Lane::level`) it has taken or was not entitled to.
    taken: i128,
    /// Whether it currently wants to transfer.
    contending: bool,
    /// The last round it counts as contending without asking again.
    active_until: u64,
}

/// The answer to "how much may this member transfer now".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Bytes it may transfer now (0 = wait).
    pub(crate) bytes: u64,
    /// When to ask again if `bytes` is 0.
    pub(crate) retry_at: Option<Instant>,
}

/// One direction of a group: its bucket and the fair-share scheduler.
#[derive(Debug)]
pub(crate) struct Lane {
    bucket: TokenBucket,
    slots: BTreeMap<MemberId, Slot>,
    /// Number of slots with `contending`.
    contending: usize,
    /// The tick index of the current round, once processed.
    round: Option<u64>,
    /// Released quota per contender this round (fixed point): member `i`
    /// may take `level - taken_i` on top of its quota.
    level: i128,
    /// Tokens anyone may take, first come (a round nobody contended for).
    open: i64,
    /// No grants until a refill brings the bucket to `min_share`
    /// (statement 77), or a manual credit makes it positive.
    suspended: bool,
    direction: Direction,
}

impl Lane {
    pub(crate) fn new(cfg: &RateLimitConfig, direction: Direction, now: Instant) -> Self {
        Lane {
            bucket: TokenBucket::for_direction(cfg, direction, now),
            slots: BTreeMap::new(),
            contending: 0,
            round: None,
            level: 0,
            open: 0,
            suspended: false,
            direction,
        }
    }

    /// Adds a member, presumed to want to transfer during the current
    /// round (so that members joining together share the first round
    /// instead of the first to ask taking it all).
    pub(crate) fn join(&mut self, id: MemberId, now: Instant) {
        let tick = self.bucket.tick_index(now);
        let slot = Slot {
            deficit: 0,
            quota: 0,
            taken: self.level,
            contending: true,
            active_until: tick,
        };
        if let Some(old) = self.slots.insert(id, slot) {
            // ids are never reused; keep the count right regardless
            if old.contending {
                self.contending = self.contending.saturating_sub(1);
            }
        }
        self.contending += 1;
    }

    /// Removes a member; its unused quota goes to the others.
    pub(crate) fn leave(&mut self, id: MemberId) {
        self.release(id);
        if let Some(slot) = self.slots.remove(&id) {
            if slot.contending {
                self.contending = self.contending.saturating_sub(1);
            }
        }
    }

    /// Member `id` wants to transfer: what it may transfer now.
    pub(crate) fn grant(&mut self, id: MemberId, now: Instant, min_share: i64) -> Grant {
        self.process_round(now, min_share);
        let round = self.round.unwrap_or(0);
        let level = self.level;
        let Some(slot) = self.slots.get_mut(&id) else {
            return Grant {
                bytes: 0,
                retry_at: None,
            };
        };
        slot.active_until = slot.active_until.max(round.saturating_add(1));
        if !slot.contending {
            slot.contending = true;
            slot.deficit = slot.deficit.min(0);
            slot.taken = level;
            self.contending += 1;
        }
        let bytes = self.allowance(id, min_share);
        Grant {
            bytes: u64::try_from(bytes).unwrap_or(0),
            retry_at: if bytes > 0 {
                None
            } else {
                self.retry_at(now, min_share)
            },
        }
    }

    /// When member `id`, which was refused, should ask again; `None` if it
    /// would be granted something now. Does not mark it as contending.
    pub(crate) fn wakeup(&mut self, id: MemberId, now: Instant, min_share: i64) -> Option<Instant> {
        self.process_round(now, min_share);
        if !self.slots.contains_key(&id) || self.allowance(id, min_share) > 0 {
            return None;
        }
        self.retry_at(now, min_share)
    }

    /// Member `id` transferred `n` bytes. `release`: it transferred less
    /// than it was allowed (or its own limit holds it back), so the rest of
    /// its quota goes to the other contenders.
    pub(crate) fn consume(
        &mut self,
        id: MemberId,
        n: u64,
        release: bool,
        now: Instant,
        min_share: i64,
    ) {
        self.process_round(now, min_share);
        self.bucket.consume(n);
        let round = self.round.unwrap_or(0);
        let level = self.level;
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let n = to_i64(n);
        let from_quota = n.min(slot.quota.max(0));
        slot.quota -= from_quota;
        let mut rest = n - from_quota;
        // then the member's share of released quota: free, it was unclaimed
        let extra = i64::try_from(((level - slot.taken) / FRAC).max(0)).unwrap_or(i64::MAX);
        let from_extra = rest.min(extra);
        slot.taken = slot.taken.saturating_add(i128::from(from_extra) * FRAC);
        rest -= from_extra;
        // then what nobody contended for: free as well
        let from_open = rest.min(self.open.max(0));
        self.open -= from_open;
        rest -= from_open;
        // what came out of its quota, or beyond every allowance, is charged
        let charged = i128::from(from_quota) + i128::from(rest);
        slot.deficit = slot.deficit.saturating_sub(charged.saturating_mul(FRAC));
        slot.active_until = slot.active_until.max(round.saturating_add(1));
        if release {
            self.release(id);
        }
    }

    /// Gives the rest of `id`'s quota to the other contenders for this
    /// round; it keeps contending (next round it gets a quota).
    fn release(&mut self, id: MemberId) {
        let others = self.contending.saturating_sub(usize::from(
            self.slots.get(&id).is_some_and(|s| s.contending),
        ));
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        // what it leaves unused stays owed to it (its deficit is kept, within
        // the usual bound): a partial read is often only a momentarily empty
        // socket, and next round makes up for it
        let quota = std::mem::take(&mut slot.quota).max(0);
        if quota == 0 {
            return;
        }
        if others == 0 {
            self.open = self.open.saturating_add(quota);
            return;
        }
        let per = i128::from(quota) * FRAC / others as i128;
        self.level = self.level.saturating_add(per);
        // the releaser does not get a share of its own quota back
        slot.taken = slot.taken.saturating_add(per);
    }

    /// Manual decrement of the group bucket (libevent's
    /// `bufferevent_rate_limit_group_decrement_read`): suspends every member
    /// when it takes the bucket to 0 or below, resumes them when a credit
    /// makes it positive.
    pub(crate) fn decrement(&mut self, n: i64, now: Instant, min_share: i64) {
        self.process_round(now, min_share);
        let old = self.bucket.current();
        self.bucket.decrement(n);
        let new = self.bucket.current();
        self.open = self.open.saturating_sub(n).clamp(0, new.max(0));
        if old > 0 && new <= 0 {
            debug!(direction = %self.direction, tokens = new, "group suspended by a manual decrement");
            self.suspended = true;
        } else if old <= 0 && new > 0 && self.suspended {
            debug!(direction = %self.direction, tokens = new, "group resumed by a manual credit");
            self.suspended = false;
        }
    }

    /// The group's tokens now (refilled).
    pub(crate) fn tokens(&mut self, now: Instant, min_share: i64) -> i64 {
        self.process_round(now, min_share);
        self.bucket.current()
    }

    /// A new configuration: clip the bucket, start a fresh round.
    pub(crate) fn reconfigure(&mut self, cfg: &RateLimitConfig, now: Instant) {
        self.bucket.reconfigure(cfg, self.direction, now);
        self.round = None;
    }

    /// Number of members currently contending.
    #[cfg(test)]
    pub(crate) fn contending(&self) -> usize {
        self.contending
    }

    /// What `grant` would give `id` now, without side effects.
    fn allowance(&self, id: MemberId, min_share: i64) -> i64 {
        if self.suspended {
            return 0;
        }
        let Some(slot) = self.slots.get(&id) else {
            return 0;
        };
        let share = i64::try_from(((self.level - slot.taken) / FRAC).max(0)).unwrap_or(i64::MAX);
        let extra = share
            .saturating_add(self.open.max(0))
            .min(self.bucket.current().max(0));
        if slot.quota > 0 {
            // the tail of a quota is raised to min_share: no tiny transfers
            return slot.quota.saturating_add(extra).max(min_share);
        }
        if extra >= min_share {
            extra
        } else {
            0
        }
    }

    /// When a refused member may be granted something: the next round, or
    /// for a suspended group the tick its bucket reaches `min_share`.
    fn retry_at(&self, now: Instant, min_share: i64) -> Option<Instant> {
        let next_tick = self.bucket.next_tick_at(now);
        if self.suspended {
            match self.bucket.instant_reaching(min_share, now) {
                Some(t) if t > now => return Some(t),
                _ => {}
            }
        }
        next_tick
    }

    /// Starts the round of the tick `now` falls in, once.
    fn process_round(&mut self, now: Instant, min_share: i64) {
        let tick = self.bucket.tick_index(now);
        match self.round {
            Some(r) if tick <= r => return,
            _ => {}
        }
        self.bucket.refill(now);
        let tokens = self.bucket.current();

        // close the previous round: expire the silent, forfeit unused quota
        for slot in self.slots.values_mut() {
            if slot.contending && slot.active_until < tick {
                slot.contending = false;
                self.contending = self.contending.saturating_sub(1);
            }
            if slot.quota > 0 || !slot.contending {
                slot.deficit = slot.deficit.min(0);
            }
            slot.quota = 0;
            slot.taken = 0;
        }
        self.level = 0;
        self.open = 0;
        let n = self.contending;
        let members = n.max(1) as i128;
        let share = (i128::from(self.bucket.rate()) + members - 1) / members;
        let bound = share.max(i128::from(min_share)).saturating_mul(2 * FRAC);
        for slot in self.slots.values_mut() {
            slot.deficit = slot.deficit.clamp(-bound, bound);
        }
        self.round = Some(tick);

        // statement 77: a bucket at or below 0 suspends every member; a
        // refill resumes them once it reaches min_share
        if self.suspended && tokens >= min_share {
            debug!(direction = %self.direction, tokens, "group resumed by a refill");
            self.suspended = false;
        } else if !self.suspended && tokens <= 0 {
            debug!(direction = %self.direction, tokens, "group suspended: bucket empty");
            self.suspended = true;
        }
        if self.suspended {
            return;
        }
        if n == 0 {
            self.open = tokens.max(0);
            return;
        }

        // water filling: raise every contender's deficit by the same amount
        // so that the positive deficits add up to the whole bucket
        let mut order: Vec<(i128, MemberId)> = self
            .slots
            .iter()
            .filter(|(_, s)| s.contending)
            .map(|(&id, s)| (s.deficit, id))
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let target = i128::from(tokens).saturating_mul(FRAC);
        let mut raise = 0i128;
        let mut prefix = 0i128;
        for (k, &(d, _)) in order.iter().enumerate() {
            prefix = prefix.saturating_add(d);
            let candidate = (target.saturating_sub(prefix)) / (k as i128 + 1);
            raise = candidate;
            let next_positive = order
                .get(k + 1)
                .is_some_and(|&(next, _)| next.saturating_add(candidate) > 0);
            if !next_positive {
                break;
            }
        }
        for slot in self.slots.values_mut().filter(|s| s.contending) {
            slot.deficit = slot.deficit.saturating_add(raise);
        }

        // quotas: each positive deficit rounded up, at least min_share,
        // most owed first (the order is unchanged by the common raise)
        let min_share = i128::from(min_share);
        let mut remaining = i128::from(tokens);
        for &(d, id) in &order {
            let d = d.saturating_add(raise);
            if remaining <= 0 || d <= 0 {
                break;
            }
            let want = ((d + FRAC - 1) / FRAC).max(min_share);
            let quota = if want <= remaining {
                want
            } else if remaining >= min_share {
                remaining
            } else {
                min_share
            };
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.quota = i64::try_from(quota).unwrap_or(i64::MAX);
            }
            remaining -= quota;
        }
        self.open = i64::try_from(remaining.max(0)).unwrap_or(i64::MAX);
        trace!(
            direction = %self.direction,
            tick,
            tokens,
            contending = n,
            open = self.open,
            "group round"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TICK: Duration = Duration::from_millis(100);

    fn lane(rate: u64, burst: u64, members: u64) -> (Lane, Instant) {
        let t0 = Instant::now();
        let cfg = RateLimitConfig::symmetric(rate, burst, Some(TICK)).unwrap();
        let mut l = Lane::new(&cfg, Direction::Read, t0);
        for id in 0..members {
            l.join(id, t0);
        }
        (l, t0)
    }

    #[test]
    fn members_joining_together_share_the_first_round() {
        let (mut l, t0) = lane(1000, 1000, 4);
        for id in 0..4 {
            assert_eq!(l.grant(id, t0, 1).bytes, 250);
            l.consume(id, 250, false, t0, 1);
        }
        let g = l.grant(0, t0, 1);
        assert_eq!(g.bytes, 0);
        assert_eq!(g.retry_at, Some(t0 + TICK));
    }

    #[test]
    fn released_quota_is_shared_by_the_other_contenders() {
        let (mut l, t0) = lane(1200, 1200, 3);
        assert_eq!(l.grant(0, t0, 1).bytes, 400);
        l.consume(0, 100, true, t0, 1);
        // member 0 still contends (next round it gets a quota again)
        assert_eq!(l.contending(), 3);
        // its 300 unused bytes: 150 more for each of the others
        assert_eq!(l.grant(1, t0, 1).bytes, 550);
        l.consume(1, 550, false, t0, 1);
        assert_eq!(l.grant(1, t0, 1).bytes, 0);
        assert_eq!(l.grant(2, t0, 1).bytes, 550);
        // not for the member that released it
        assert_eq!(l.grant(0, t0, 1).bytes, 0);
    }

    #[test]
    fn silent_members_expire_after_a_tick() {
        let (mut l, t0) = lane(1000, 1000, 4);
        // only member 0 ever asks
        l.grant(0, t0, 1);
        l.consume(0, 250, false, t0, 1);
        l.grant(0, t0 + TICK, 1);
        assert_eq!(l.contending(), 1);
        assert_eq!(l.grant(0, t0 + TICK * 2, 1).bytes, 1000);
    }

    #[test]
    fn quotas_rotate_when_min_share_exceeds_the_per_member_share() {
        // 4 members, 100 per tick, min_share 50: two members per tick
        let (mut l, t0) = lane(100, 100, 4);
        let mut got = [0u64; 4];
        for k in 0..40 {
            let now = t0 + TICK * k;
            for id in 0..4 {
                let g = l.grant(id, now, 50).bytes;
                assert!(g == 0 || g >= 50, "grant {g} below min_share");
                l.consume(id, g, false, now, 50);
                got[id as usize] += g;
            }
        }
        assert_eq!(got.iter().sum::<u64>(), 4000);
        for g in got {
            assert_eq!(g, 1000);
        }
    }
}
