//! Per-party submission rates: a token bucket for each signing party.
//!
//! A party may record `burst` events at once and `per_second` a second after that. The
//! node checks a party's bucket before admitting its event (an empty bucket is refused
//! cheaply, before any signature is checked) but takes tokens only for events that were
//! admitted, signature and all: a forger who names another party as signer spends none
//! of that party's tokens. Time is passed in (Unix milliseconds), so this does no I/O.

use std::collections::HashMap;

use crate::ids::PartyId;

/// How fast one party may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionRate {
    /// Events a second, sustained.
    pub per_second: u32,
    /// Events at once, after a quiet spell.
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_millis: i64,
}

/// Every party's bucket. Only parties that were charged have one; a bucket that has
/// filled up again is dropped by [`PartyBuckets::forget_full`].
#[derive(Debug, Clone)]
pub struct PartyBuckets {
    rate: SubmissionRate,
    buckets: HashMap<PartyId, Bucket>,
}

impl PartyBuckets {
    /// Buckets of `rate` (a zero `per_second` or `burst` would refuse everything; the
    /// caller turns limiting off instead).
    pub fn new(rate: SubmissionRate) -> PartyBuckets {
        PartyBuckets {
            rate,
            buckets: HashMap::new(),
        }
    }

    /// The rate.
    pub fn rate(&self) -> SubmissionRate {
        self.rate
    }

    fn refilled(&self, bucket: Bucket, now_millis: i64) -> f64 {
        // A clock that stepped back refills nothing (and takes nothing back).
        let elapsed = now_millis.saturating_sub(bucket.at_millis).max(0) as f64 / 1000.0;
        (bucket.tokens + elapsed * f64::from(self.rate.per_second)).min(f64::from(self.rate.burst))
    }

    /// Events `party` may record at `now_millis`.
    pub fn available(&self, party: &PartyId, now_millis: i64) -> f64 {
        match self.buckets.get(party) {
            None => f64::from(self.rate.burst),
            Some(bucket) => self.refilled(*bucket, now_millis),
        }
    }

    /// Milliseconds until `party` may record `needed` events (0 if it may now).
    pub fn wait_millis(&self, party: &PartyId, needed: u32, now_millis: i64) -> u64 {
        let missing = f64::from(needed) - self.available(party, now_millis);
        if missing <= 0.0 {
            return 0;
        }
        (missing * 1000.0 / f64::from(self.rate.per_second.max(1))).ceil() as u64
    }

    /// Charges `party` for `n` admitted events (its bucket may go below zero when events
    /// admitted together outran the check; it then waits longer).
    pub fn take(&mut self, party: &PartyId, n: u32, now_millis: i64) {
        let tokens = self.available(party, now_millis) - f64::from(n);
        self.buckets.insert(
            party.clone(),
            Bucket {
                tokens,
                at_millis: now_millis,
            },
        );
    }

    /// Drops the buckets that are full again, so memory holds only parties active
    /// within the last `burst / per_second` seconds.
    pub fn forget_full(&mut self, now_millis: i64) {
        let rate = self.rate;
        let this = &*self;
        let full: Vec<PartyId> = this
            .buckets
            .iter()
            .filter(|(_, bucket)| this.refilled(**bucket, now_millis) >= f64::from(rate.burst))
            .map(|(party, _)| party.clone())
            .collect();
        for party in full {
            self.buckets.remove(&party);
        }
    }

    /// Parties with a bucket.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no party has a bucket.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(n: u8) -> PartyId {
        PartyId::uscc_with_check(&format!("91210112MA{n:07}")).expect("a party id")
    }

    const RATE: SubmissionRate = SubmissionRate {
        per_second: 10,
        burst: 30,
    };

    #[test]
    fn a_new_party_has_a_full_burst_and_refills_at_the_rate() {
        let mut buckets = PartyBuckets::new(RATE);
        let a = party(1);
        assert_eq!(buckets.available(&a, 0), 30.0);
        buckets.take(&a, 30, 0);
        assert_eq!(buckets.available(&a, 0), 0.0);
        assert_eq!(buckets.wait_millis(&a, 1, 0), 100);
        assert_eq!(buckets.available(&a, 500), 5.0);
        assert_eq!(buckets.available(&a, 60_000), 30.0, "never above the burst");
        // Another party is untouched.
        assert_eq!(buckets.available(&party(2), 0), 30.0);
    }

    #[test]
    fn overdrawn_buckets_wait_longer_and_clocks_stepping_back_refill_nothing() {
        let mut buckets = PartyBuckets::new(RATE);
        let a = party(1);
        buckets.take(&a, 35, 1_000);
        assert_eq!(buckets.available(&a, 1_000), -5.0);
        assert_eq!(buckets.wait_millis(&a, 1, 1_000), 600);
        assert_eq!(buckets.available(&a, 900), -5.0);
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut buckets = PartyBuckets::new(RATE);
        buckets.take(&party(1), 30, 0);
        buckets.take(&party(2), 5, 2_900);
        buckets.forget_full(3_000);
        assert_eq!(buckets.len(), 1, "party 1 refilled in 3 s, party 2 not yet");
        buckets.forget_full(3_400);
        assert!(buckets.is_empty());
    }
}
