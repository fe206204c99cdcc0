//! The loop's steps. Each function runs plugin calls, applies the host's guarantees, and
//! commits one [`Draft`]. Callers hold the engine lock.

use super::{Draft, Engine, EngineError, Ingested, SignalIn, SmsReply, Tenant};
use crate::connectors::{CallReport, Delivery};
use crate::policy::{FailureDefault, Retention};
use crate::records::{
    CaseRecord, CaseState, Effect, Event, IgnoredSignal, OutboxItem, Timer, TimerKind,
};
use crate::store::{CallerCases, Step};
use redial_runtime::{Decision, Plugin, PluginError, Slot};
use redial_sdk::*;
use serde::Serialize;

const MINUTE_MS: i64 = 60_000;

fn decision_event<T: Serialize>(slot: &str, plugin: &Plugin, d: &Decision<T>) -> Event {
    Event::Decision {
        slot: slot.into(),
        plugin: plugin.id.hash.clone(),
        decision: serde_json::to_value(&d.value).expect("decisions serialize"),
        cost_us: d.cost.total().as_micros() as u64,
    }
}

fn failed_event(slot: &str, plugin: &Plugin, err: &PluginError, fallback: &str) -> Event {
    // A suspended plugin's skipped calls were announced when its breaker tripped.
    if matches!(err, PluginError::Suspended { .. }) {
        tracing::debug!(slot, plugin = %plugin.id, fallback, "plugin suspended; safe default applied");
    } else {
        tracing::warn!(slot, plugin = %plugin.id, cause = %err, fallback, "plugin failed; safe default applied");
    }
    Event::PluginFailed {
        slot: slot.into(),
        plugin: plugin.id.hash.clone(),
        error: format!("{}: {err}", err.kind()),
        fallback: fallback.into(),
    }
}

/// Calls a tenant's plugin through the slot's circuit breaker: a suspended plugin is not
/// called and the decision fails at once (the caller applies the safe default).
fn guarded<T>(
    e: &Engine,
    t: &Tenant,
    slot: Slot,
    call: impl FnOnce() -> Result<Decision<T>, PluginError>,
) -> Result<Decision<T>, PluginError> {
    let now = e.clock.now_ms();
    let breaker = t.breaker(slot);
    if let Err(failures) = breaker.admit(now) {
        let (plugin, _) = t.plugin(slot);
        return Err(PluginError::Suspended {
            plugin: plugin.id.to_string(),
            slot,
            failures,
        });
    }
    let result = call();
    if breaker.record(result.is_ok(), now) {
        let (plugin, _) = t.plugin(slot);
        tracing::warn!(
            slot = slot.name(),
            plugin = %plugin.id,
            failures_in_a_row = super::breaker::TRIP_AFTER,
            cool_down_s = super::breaker::COOL_DOWN_MS / 1000,
            "plugin suspended: its decisions take the safe default until the cool-down ends, then one call tries it again"
        );
    }
    result
}

/// The case as the plugins see it.
fn view(t: &Tenant, case: &CaseRecord, now: i64) -> CaseView {
    CaseView {
        case_id: case.id.clone(),
        signal: case.signal.clone(),
        attempts: case.attempts.clone(),
        now: t.local.moment(now),
    }
}

/// The callee's zone: a `timezone` context field, else the tenant's.
fn callee_tz(t: &Tenant, case: &CaseRecord) -> chrono_tz::Tz {
    case.signal
        .context
        .iter()
        .find(|f| f.key == "timezone")
        .and_then(|f| f.value.parse().ok())
        .unwrap_or_else(|| t.policy.tz())
}

fn merge_context(into: &mut Vec<Field>, more: &[Field]) {
    for f in more {
        match into.iter_mut().find(|g| g.key == f.key) {
            Some(g) => g.value.clone_from(&f.value),
            None => into.push(f.clone()),
        }
    }
}

/// Consecutive plugin failures after which "retry later" gives way to human review, so a
/// broken plugin cannot keep a case cycling for ever.
const MAX_RETRIES: u32 = 3;

/// Counts a plugin failure and picks the safe default: the policy's, unless retries ran out.
fn retry_or_review(t: &Tenant, d: &mut Draft) -> FailureDefault {
    d.case.plugin_failures += 1;
    match t.policy.on_plugin_failure {
        FailureDefault::RetryLater if d.case.plugin_failures <= MAX_RETRIES => {
            FailureDefault::RetryLater
        }
        _ => FailureDefault::HumanReview,
    }
}

fn human_review(d: &mut Draft, reason: &str) {
    d.timer(None);
    d.state(CaseState::HumanReview {
        reason: reason.into(),
    });
    d.event(Event::HumanReview {
        reason: reason.into(),
    });
}

mod callback;
mod intake;
mod outcome;

pub(super) use callback::fire_timer;
use callback::*;
pub(super) use intake::{ingest, sms_reply};
pub(super) use outcome::{acknowledge, call_ended, delivered};
