//! Drives the loop: delivers the outbox, fires due timers, and moves time on.
//!
//! [`run_simulated`] runs on a [`ManualClock`] and jumps straight to the next due timer,
//! which is how `redial demo` and the tests run days of cadence in milliseconds. The
//! server runs the same two calls in its loop thread on the system clock, delivering
//! through its [`DeliveryLanes`](crate::engine::DeliveryLanes).

use crate::clock::{Clock, ManualClock};
use crate::connectors::Connectors;
use crate::engine::{Engine, EngineError};

/// Runs the loop until nothing is left to do. Each round delivers every outbox item,
/// fires every due timer, then calls `outside(now)`, which may inject work (signals,
/// acknowledgements) and returns when it next wants to run. Time then jumps to the earliest
/// of that and the next timer; the run ends when neither exists and the outbox is empty.
pub fn run_simulated<E>(
    engine: &Engine,
    connectors: &dyn Connectors,
    clock: &ManualClock,
    mut outside: impl FnMut(i64) -> Result<Option<i64>, E>,
) -> Result<(), E>
where
    E: From<EngineError>,
{
    let mut stuck_rounds = 0;
    loop {
        if engine.store().is_shared() {
            engine.claim_tenants()?;
        }
        let now = clock.now_ms();
        let wanted = outside(now)?;
        let delivered = engine.deliver_outbox(connectors)?;
        let fired = engine.fire_due_timers()?;
        let pending = engine.store().outbox_len();
        if pending > 0 {
            // Undeliverable items are retried; give up only after many idle rounds.
            stuck_rounds = if delivered == 0 && fired == 0 {
                stuck_rounds + 1
            } else {
                0
            };
            if stuck_rounds < 1000 {
                continue;
            }
            tracing::warn!(
                pending,
                "outbox items could not be delivered; stopping the simulation"
            );
        }
        let next_timer = engine.store().next_timer_ms().map_err(EngineError::from)?;
        match [wanted, next_timer]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
        {
            Some(next) => clock.advance_to(next),
            None if fired > 0 || delivered > 0 || next_timer.is_some_and(|t| t <= now) => continue,
            None => {
                engine.store().flush().map_err(EngineError::from)?;
                return Ok(());
            }
        }
    }
}
