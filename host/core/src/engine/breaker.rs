//! A circuit breaker per tenant slot: a plugin that fails several calls in a row (a loop
//! hitting the deadline, a trap on every input) is not called again until a cool-down has
//! passed; meanwhile each decision takes the policy's failure default at once. One trial
//! call after the cool-down closes the breaker again if it succeeds.
//!
//! Why: a looping plugin burns its whole deadline (100 ms of CPU) on every call; on a
//! two-core host a few of those per second would slow every other tenant.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

/// Failures in a row that suspend a plugin.
pub const TRIP_AFTER: u32 = 3;
/// How long a suspended plugin is skipped (engine clock).
pub const COOL_DOWN_MS: i64 = 30_000;

/// One slot's breaker. It outlives plugin swaps and policy reloads: a new plugin gets one
/// trial call at once ([`Breaker::allow_trial`]), but a tenant cannot reset the count by
/// uploading its failing plugin again.
#[derive(Debug, Default)]
pub struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicI64,
}

impl Breaker {
    /// `Err(failures)` while the breaker is open; `Ok` when a call may go ahead.
    pub fn admit(&self, now_ms: i64) -> Result<(), u32> {
        let failures = self.failures.load(Ordering::Relaxed);
        if failures >= TRIP_AFTER && now_ms < self.open_until_ms.load(Ordering::Relaxed) {
            return Err(failures);
        }
        Ok(())
    }

    /// Lets the next call through now (a new plugin took the slot) while keeping the count:
    /// if that call fails too, the breaker opens again at once.
    pub fn allow_trial(&self) {
        self.open_until_ms.store(i64::MIN, Ordering::Relaxed);
    }

    /// Records a call's outcome; trips (or re-trips, after a failed trial) on failure.
    /// Returns whether this call opened the breaker, so the suspension is logged once per
    /// cool-down rather than once per skipped call.
    pub fn record(&self, ok: bool, now_ms: i64) -> bool {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            return false;
        }
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= TRIP_AFTER {
            self.open_until_ms
                .store(now_ms + COOL_DOWN_MS, Ordering::Relaxed);
        }
        failures >= TRIP_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plugin_gets_one_trial_and_a_failing_one_is_suspended_again_at_once() {
        let b = Breaker::default();
        for _ in 0..TRIP_AFTER {
            b.record(false, 0);
        }
        assert!(b.admit(1).is_err());
        b.allow_trial();
        assert!(b.admit(1).is_ok(), "the swapped-in plugin is tried");
        assert!(b.record(false, 1), "one more failure suspends it again");
        assert!(b.admit(2).is_err());
        b.allow_trial();
        b.record(true, 3);
        assert!(b.admit(3).is_ok(), "a working plugin closes it");
        assert!(!b.record(false, 3), "and the count starts over");
    }

    #[test]
    fn trips_after_repeated_failures_and_retries_after_the_cool_down() {
        let b = Breaker::default();
        for _ in 0..TRIP_AFTER - 1 {
            assert!(!b.record(false, 0), "a few failures do not trip");
            assert!(b.admit(0).is_ok(), "a few failures do not suspend");
        }
        assert!(b.record(false, 0), "this failure trips the breaker");
        assert_eq!(b.admit(1), Err(TRIP_AFTER));
        assert!(
            b.admit(COOL_DOWN_MS).is_ok(),
            "one trial after the cool-down"
        );
        assert!(b.record(false, COOL_DOWN_MS), "a failed trial re-trips");
        assert!(b.admit(COOL_DOWN_MS + 1).is_err());
        assert!(!b.record(true, 2 * COOL_DOWN_MS + 1));
        assert!(b.admit(2 * COOL_DOWN_MS + 2).is_ok());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::default();
        b.record(false, 0);
        b.record(false, 0);
        b.record(true, 0);
        b.record(false, 0);
        assert!(b.admit(0).is_ok());
    }
}
