//! Per-tenant signal rate limits: one tenant's flood of signals is refused with 429 and a
//! `Retry-After` once it passes its rate, before it costs a plugin call or a store write,
//! so it cannot crowd out the other tenants' signals.

use super::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Signals one tenant may send per second, by default, with bursts of twice that: far
/// above a business's missed calls, far below what would slow the others.
pub const DEFAULT_SIGNAL_RATE: u32 = 50;

/// A signal rate: so many per second, with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalRate {
    /// Sustained signals per second.
    pub per_second: NonZeroU32,
    /// Signals accepted at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl SignalRate {
    /// `per_second`, with bursts of twice that.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        SignalRate {
            per_second,
            burst: per_second.saturating_mul(NonZeroU32::new(2).expect("2 > 0")),
        }
    }
}

impl Default for SignalRate {
    fn default() -> Self {
        SignalRate::per_second(NonZeroU32::new(DEFAULT_SIGNAL_RATE).expect("non-zero"))
    }
}

/// The limiter every signal route asks; `None` inside means no limit.
pub struct SignalLimits {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    rate: Option<SignalRate>,
}

impl SignalLimits {
    /// Limits at `rate` per tenant (`None`: unlimited).
    pub fn new(rate: Option<SignalRate>) -> Self {
        let limiter = rate.map(|r| {
            let quota = Quota::per_second(r.per_second).allow_burst(r.burst);
            RateLimiter::keyed(quota)
        });
        SignalLimits { limiter, rate }
    }

    /// Admits one signal of `tenant`, or refuses it with 429 and when to try again.
    pub fn admit(&self, tenant: &str) -> Result<(), ApiError> {
        let (Some(limiter), Some(rate)) = (&self.limiter, self.rate) else {
            return Ok(());
        };
        limiter.check_key(&tenant.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(
                format!(
                    "more than {} signals a second for this tenant; try again shortly",
                    rate.per_second
                ),
                wait,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_past_its_burst_is_refused_and_the_others_are_not() {
        let rate = SignalRate::per_second(NonZeroU32::new(5).unwrap());
        let limits = SignalLimits::new(Some(rate));
        for _ in 0..10 {
            limits.admit("noisy").unwrap();
        }
        let refused = limits.admit("noisy").unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        limits.admit("quiet").unwrap();
        let unlimited = SignalLimits::new(None);
        for _ in 0..1000 {
            unlimited.admit("any").unwrap();
        }
    }
}
