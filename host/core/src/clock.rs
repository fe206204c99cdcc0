//! Time as the engine sees it. Injectable so tests and `redial demo` run the loop on an
//! accelerated clock while `serve` uses the system clock.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of "now" in unix milliseconds.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now_ms(&self) -> i64;

    /// Whether the store must keep this clock's reading so that a restart resumes from it:
    /// true for a simulated clock, which would otherwise start over; the wall clock needs
    /// no help, and not writing it saves a store write on every step.
    fn resumes_from_store(&self) -> bool {
        false
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told: simulations jump straight to the next timer.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        ManualClock(AtomicI64::new(ms))
    }

    /// Moves forward to `ms` (never backwards).
    pub fn advance_to(&self, ms: i64) {
        self.0.fetch_max(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn resumes_from_store(&self) -> bool {
        true
    }
}
