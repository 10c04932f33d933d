//! The per-visitor rate limit: a token bucket per visitor key (GCRA, from the
//! `governor` crate), refilled at `limits.visitor_events_per_minute`. The buckets live
//! in a sharded map (governor's `dashmap` feature), so requests of different visitors
//! do not wait on one lock, nor all of them on [`VisitorLimiter::forget_idle`].

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::IngestError;

/// Limits events per visitor key.
pub struct VisitorLimiter {
    limiter: RateLimiter<u64, DefaultKeyedStateStore<u64>, DefaultClock>,
    clock: DefaultClock,
}

impl VisitorLimiter {
    /// `per_minute` events per visitor, with bursts up to the same number; `None` when 0.
    pub fn new(per_minute: u32) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        let clock = DefaultClock::default();
        Some(Self {
            limiter: RateLimiter::new(
                Quota::per_minute(n),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
        })
    }

    /// Takes one event's token, or says when to retry.
    pub fn check(&self, visitor: u64) -> Result<(), IngestError> {
        self.limiter
            .check_key(&visitor)
            .map_err(|not_until| IngestError::RateLimited {
                retry_after_s: not_until.wait_time_from(self.clock.now()).as_secs().max(1),
            })
    }

    /// Forgets visitors whose buckets are full again (call periodically).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_is_refused_and_idle_visitors_are_forgotten() {
        let limiter = VisitorLimiter::new(6_000).unwrap();
        for v in 0..1_000u64 {
            limiter.check(v).unwrap();
        }
        assert_eq!(limiter.limiter.len(), 1_000);
        for _ in 0..6_000 {
            let _ = limiter.check(7);
        }
        assert!(matches!(
            limiter.check(7),
            Err(IngestError::RateLimited { .. })
        ));
        // At 6,000 a minute a bucket refills a token in 10 ms; one use is forgotten then.
        std::thread::sleep(std::time::Duration::from_millis(50));
        limiter.forget_idle();
        assert_eq!(
            limiter.limiter.len(),
            1,
            "only visitor 7's emptied bucket is kept"
        );
    }
}
