//! The loop's steps. Each function runs plugin calls, applies the host's guarantees, and
//! commits one [`Draft`]. Callers hold the engine lock.

use super::tenant::Decider;
use super::{Draft, Engine, EngineError, Ingested, SignalIn, SmsReply, Tenant};
use crate::connectors::{CallReport, Delivery};
use crate::policy::{FailureDefault, Text};
use crate::records::{
    Asking, CaseRecord, CaseState, Effect, Event, IgnoredSignal, OutboxItem, ShadowDecision, Timer,
    TimerKind,
};
use crate::store::{CallerCases, InboundEvent, Step};
use redial_runtime::{Decision, Plugin, PluginError, Slot};
use redial_sdk::*;
use serde::Serialize;

const MINUTE_MS: i64 = 60_000;

/// A plugin call the loop makes: the slot it goes to, and the name the journal files its
/// decision under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Trigger,
    Cadence,
    Script,
    Evaluate,
    Crm,
}

impl Call {
    fn slot(self) -> Slot {
        match self {
            Call::Trigger => Slot::Trigger,
            Call::Cadence => Slot::Cadence,
            Call::Script | Call::Evaluate => Slot::Qualify,
            Call::Crm => Slot::Crm,
        }
    }

    /// The name in journal events ("qualify.script").
    fn name(self) -> &'static str {
        match self {
            Call::Trigger => "trigger",
            Call::Cadence => "cadence",
            Call::Script => "qualify.script",
            Call::Evaluate => "qualify.evaluate",
            Call::Crm => "crm",
        }
    }

    /// What the host does instead when the policy says `retry-later`; `None` where a
    /// failed decision cannot be retried (the call it was about is over).
    fn retry(self) -> Option<&'static str> {
        match self {
            Call::Trigger => Some("recover with default priority"),
            Call::Cadence => Some("reconsider later"),
            Call::Script => Some("retry the call later"),
            Call::Evaluate | Call::Crm => None,
        }
    }
}

/// What one plugin call gave the loop.
struct Consulted<'t, T> {
    /// The decision, or why it failed.
    result: Result<T, PluginError>,
    /// The plugin that decided (or failed): the live one or a split trial's candidate.
    plugin: &'t Plugin,
    /// The journal's record of the decision, when one was made.
    decision: Option<Event>,
    /// What a shadow candidate decided on the same input.
    shadow: Option<ShadowDecision>,
}

impl<T> Consulted<'_, T> {
    /// Journals the decision and the shadow's beside it.
    fn journal(&mut self, draft: &mut Draft) {
        if let Some(event) = self.decision.take() {
            draft.event(event);
        }
        if let Some(shadow) = self.shadow.take() {
            draft.event(Event::Shadow { shadow });
        }
    }
}

/// Makes one of the loop's plugin calls for `caller`'s case: by the plugin that decides
/// for this caller ([`Tenant::decider`]: the live one, or a split trial's candidate),
/// through its breaker. With a candidate in shadow, the candidate decides on the same
/// input through its own breaker, and what it decided is set beside the live decision
/// (no effect). `keep` gives a decision as the journal keeps it (redacted as retention
/// says).
fn consult<'t, I: Clone, T>(
    engine: &Engine,
    tenant: &'t Tenant,
    call: Call,
    caller: &str,
    input: I,
    run: impl Fn(&Plugin, I) -> Result<Decision<T>, PluginError>,
    keep: impl Fn(&T) -> serde_json::Value,
) -> Consulted<'t, T> {
    let slot = call.slot();
    let decider = tenant.decider(slot, caller);
    let shadow = tenant
        .shadow(slot)
        .map(|on_trial| (on_trial, input.clone()));
    let plugin = decider.plugin;
    let decision = match guarded(engine, call, &decider, || run(plugin, input)) {
        Ok(decision) => decision,
        Err(err) => {
            return Consulted {
                result: Err(err),
                plugin,
                decision: None,
                shadow: None,
            };
        }
    };
    let kept = keep(&decision.value);
    let shadow = shadow.map(|(on_trial, input)| {
        let candidate = Decider {
            plugin: &on_trial.plugin,
            breaker: &on_trial.breaker,
            candidate: true,
        };
        let shadowed = guarded(engine, call, &candidate, || run(candidate.plugin, input));
        let (decision, error, cost_us) = match shadowed {
            Ok(d) => (
                Some(keep(&d.value)),
                None,
                d.cost.total().as_micros() as u64,
            ),
            Err(e) => (None, Some(failure_text(tenant, &e)), 0),
        };
        ShadowDecision {
            call: call.name().into(),
            plugin: on_trial.plugin.id.hash.clone(),
            changed: (decision.as_ref())
                .map(|d| super::replay::differences(call.name(), &kept, d))
                .unwrap_or_default(),
            decision,
            error,
            cost_us,
        }
    });
    Consulted {
        decision: Some(Event::Decision {
            slot: call.name().into(),
            plugin: plugin.id.hash.clone(),
            contract: plugin.version.clone(),
            decision: kept,
            cost_us: decision.cost.total().as_micros() as u64,
        }),
        shadow,
        plugin,
        result: Ok(decision.value),
    }
}

/// A decision as the journal keeps it when nothing in it needs redacting.
fn as_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("decisions serialize")
}

/// Calls a plugin through its circuit breaker: a suspended plugin is not called and the
/// decision fails at once (the caller applies the safe default).
fn guarded<T>(
    engine: &Engine,
    call: Call,
    decider: &Decider,
    run: impl FnOnce() -> Result<Decision<T>, PluginError>,
) -> Result<Decision<T>, PluginError> {
    let slot = call.slot();
    let now = engine.clock.now_ms();
    let (plugin, breaker) = (decider.plugin, decider.breaker);
    if let Err(failures) = breaker.admit(now) {
        return Err(PluginError::Suspended {
            plugin: plugin.id.to_string(),
            slot,
            failures,
        });
    }
    let result = run();
    if breaker.record(result.is_ok(), now) {
        tracing::warn!(
            slot = slot.name(),
            plugin = %plugin.id,
            candidate = decider.candidate,
            failures_in_a_row = super::breaker::TRIP_AFTER,
            cool_down_s = super::breaker::COOL_DOWN_MS / 1000,
            "plugin suspended: its decisions take the safe default until the cool-down ends, then one call tries it again"
        );
    }
    result
}

/// The case as the plugins see it.
fn view(tenant: &Tenant, case: &CaseRecord, now: i64) -> CaseView {
    CaseView {
        case_id: case.id.clone(),
        signal: case.signal.clone(),
        attempts: case.attempts.clone(),
        now: tenant.local.moment(now),
    }
}

/// The callee's zone: a `timezone` context field, else the tenant's.
fn callee_tz(tenant: &Tenant, case: &CaseRecord) -> chrono_tz::Tz {
    case.signal
        .context
        .iter()
        .find(|f| f.key == "timezone")
        .and_then(|f| f.value.parse().ok())
        .unwrap_or_else(|| tenant.policy.tz())
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

/// The safe default after a failed decision: the one place the policy's
/// `on_plugin_failure` is applied. Journals the failure and what the host does instead,
/// and moves the case to human review unless the policy asks for a retry, the call allows
/// one ([`Call::retry`]) and the case has retries left. Returns whether the caller should
/// retry, in its own way.
fn safe_default(
    tenant: &Tenant,
    draft: &mut Draft,
    call: Call,
    plugin: &Plugin,
    err: &PluginError,
) -> bool {
    // A failure of a step the case may go through again counts against its retries; the
    // trigger's (the case's first decision) does not.
    let retries_left = match call {
        Call::Cadence | Call::Script => {
            draft.case.plugin_failures += 1;
            draft.case.plugin_failures <= MAX_RETRIES
        }
        Call::Trigger | Call::Evaluate | Call::Crm => true,
    };
    let retry = call
        .retry()
        .filter(|_| retries_left && tenant.policy.on_plugin_failure == FailureDefault::RetryLater);
    let fallback = retry.unwrap_or("human review");
    let error = failure_text(tenant, err);
    // A suspended plugin's skipped calls were announced when its breaker tripped.
    if matches!(err, PluginError::Suspended { .. }) {
        tracing::debug!(call = call.name(), plugin = %plugin.id, fallback, "plugin suspended; safe default applied");
    } else {
        tracing::warn!(call = call.name(), plugin = %plugin.id, cause = %error, fallback, "plugin failed; safe default applied");
    }
    draft.event(Event::PluginFailed {
        slot: call.name().into(),
        plugin: plugin.id.hash.clone(),
        contract: plugin.version.clone(),
        error,
        fallback: fallback.into(),
    });
    if retry.is_none() {
        let slot = call.slot().name();
        human_review(draft, &format!("{slot} plugin failed ({})", err.kind()));
    }
    retry.is_some()
}

/// A plugin failure as it may be kept: its message may quote what the caller said, so it
/// is kept (and logged) only where retention keeps the conversation; otherwise its kind.
fn failure_text(tenant: &Tenant, err: &PluginError) -> String {
    if tenant.policy.retention.keeps(Text::Conversation) {
        format!("{}: {err}", err.kind())
    } else {
        format!(
            "{}: (message not kept under this tenant's retention)",
            err.kind()
        )
    }
}

/// When a step retried under `on_plugin_failure = "retry-later"` comes round again.
fn retry_later(tenant: &Tenant, draft: &Draft) -> i64 {
    draft.now + i64::from(tenant.policy.retry_later_minutes) * MINUTE_MS
}

fn human_review(draft: &mut Draft, reason: &str) {
    draft.timer(None);
    draft.state(CaseState::HumanReview {
        reason: reason.into(),
    });
    draft.event(Event::HumanReview {
        reason: reason.into(),
    });
}

mod answers;
mod callback;
mod dead_letter;
mod intake;
mod outcome;
mod reconcile;

pub(super) use callback::fire_timer;
use callback::*;
pub(super) use dead_letter::{discard, expire, retry, set_aside};
pub(super) use intake::{ingest, sms_reply};
pub(super) use outcome::{
    FALLBACK_SMS, acknowledge, call_ended, delivered, message_status, tenant_removed,
};
