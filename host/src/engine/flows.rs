//! The loop's steps. Each function runs plugin calls, applies the host's guarantees, and
//! commits one [`Draft`]. Callers hold the engine lock.

use super::{Draft, Engine, EngineError, Ingested, SignalIn, SmsReply, Tenant};
use crate::connectors::{CallReport, Delivery};
use crate::policy::{FailureDefault, Retention};
use crate::runtime::{Decision, Plugin, PluginError, Slot};
use crate::store::{
    CaseRecord, CaseState, Effect, Event, IgnoredSignal, OutboxItem, Step, Timer, TimerKind,
};
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
    tracing::warn!(slot, plugin = %plugin.id, cause = %err, fallback, "plugin failed; safe default applied");
    Event::PluginFailed {
        slot: slot.into(),
        plugin: plugin.id.hash.clone(),
        error: format!("{}: {err}", err.kind()),
        fallback: fallback.into(),
    }
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

pub(super) fn ingest(e: &Engine, t: &Tenant, s: SignalIn) -> Result<Ingested, EngineError> {
    let policy = &t.policy;
    let now = e.clock.now_ms();
    if let Some(id) = &s.event_id
        && e.store.seen_inbound(&policy.tenant, id)?
    {
        return Ok(Ingested::Duplicate);
    }
    let inbound = s.event_id.clone().map(|id| (policy.tenant.clone(), id));
    let mut counters = e.store.counters(&policy.tenant)?;
    counters.signals += 1;
    let signal = Signal {
        kind: s.kind,
        caller: s.caller.clone(),
        line: s.line,
        at: t.local.moment(s.at_ms),
        context: s.context,
    };

    if let Some(case_id) = e.store.open_case(&policy.tenant, &s.caller)? {
        let mut d = e.draft(&case_id)?;
        merge_context(&mut d.case.signal.context, &signal.context);
        d.case.signals += 1;
        d.event(Event::Signal {
            kind: s.kind,
            joined: true,
        });
        d.step_mut().counters = Some((policy.tenant.clone(), counters));
        d.step_mut().inbound = inbound;
        d.commit(&e.store)?;
        return Ok(Ingested::Joined(case_id));
    }

    let ignore = |reason: String, counters| -> Result<Ingested, EngineError> {
        let record = IgnoredSignal {
            at_ms: now,
            caller: s.caller.clone(),
            kind: s.kind,
            reason: reason.clone(),
        };
        e.store.commit(&Step {
            ignored: Some((policy.tenant.clone(), record)),
            counters: Some((policy.tenant.clone(), counters)),
            clock_ms: Some(now),
            inbound: inbound.clone(),
            ..Step::default()
        })?;
        Ok(Ingested::Ignored(reason))
    };
    if !policy.triggers.contains(&s.kind) {
        return ignore(
            "signal kind is not a trigger in the policy".into(),
            counters,
        );
    }
    if policy.do_not_call.contains(&s.caller) {
        return ignore("caller is on the do-not-call list".into(), counters);
    }
    if e.store.opted_out(&policy.tenant, &s.caller)? {
        return ignore("caller opted out".into(), counters);
    }

    let prior = e.store.prior_cases(&policy.tenant, &s.caller)?;
    let history = CallerHistory {
        open_case: false,
        prior_cases: prior.len() as u32,
        last_outcome: prior.last().map(|c| c.state.name().to_string()),
        opted_out: false,
    };
    let (plugin, config) = t.plugin(Slot::Trigger);
    let input = TriggerInput {
        signal: signal.clone(),
        history,
        config: config.into(),
    };
    let (priority, known, first_events, review) = match e.runtime.trigger(plugin, input) {
        Ok(d) => {
            let event = decision_event("trigger", plugin, &d);
            match d.value {
                TriggerDecision::Ignore(reason) => {
                    return ignore(format!("trigger: {reason}"), counters);
                }
                TriggerDecision::Recover(r) => (r.priority, r.known, vec![event], None),
            }
        }
        Err(err) => match policy.on_plugin_failure {
            FailureDefault::RetryLater => (
                50,
                vec![],
                vec![failed_event(
                    "trigger",
                    plugin,
                    &err,
                    "recover with default priority",
                )],
                None,
            ),
            FailureDefault::HumanReview => (
                50,
                vec![],
                vec![failed_event("trigger", plugin, &err, "human review")],
                Some(err.kind()),
            ),
        },
    };

    counters.cases += 1;
    let id = format!("{}-{:05}", policy.tenant, counters.cases);
    let mut signal = signal;
    merge_context(&mut signal.context, &known);
    let case = CaseRecord {
        id,
        tenant: policy.tenant.clone(),
        caller: s.caller.clone(),
        opened_ms: now,
        signal,
        signals: 1,
        priority,
        attempts: vec![],
        state: CaseState::Waiting,
        timer: None,
        disposition: None,
        first_dial_ms: None,
        crm_operations: 0,
        journal_len: 0,
        plugin_failures: 0,
    };
    let mut d = Draft::new(case, now);
    d.event(Event::Signal {
        kind: s.kind,
        joined: false,
    });
    for ev in first_events {
        d.event(ev);
    }
    d.step_mut().counters = Some((policy.tenant.clone(), counters));
    d.step_mut().inbound = inbound;
    match review {
        Some(kind) => human_review(&mut d, &format!("trigger plugin failed ({kind})")),
        None => plan_next(e, t, &mut d),
    }
    let case = d.commit(&e.store)?;
    Ok(Ingested::Opened(case.id))
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

/// Asks the cadence for the next step and applies it within the host's guarantees.
fn plan_next(e: &Engine, t: &Tenant, d: &mut Draft) {
    let (plugin, config) = t.plugin(Slot::Cadence);
    let input = CadenceInput {
        case: view(t, &d.case, d.now),
        config: config.into(),
    };
    match e.runtime.cadence(plugin, input) {
        Ok(decision) => {
            d.event(decision_event("cadence", plugin, &decision));
            match decision.value {
                CadenceDecision::CallAfter(secs) => {
                    let mut secs = secs;
                    let promise = t.policy.callback.first_call_within_secs;
                    if d.case.attempts.is_empty() && secs > promise {
                        d.event(Event::Guard {
                            rule: "first-call-promise".into(),
                            detail: format!("first call moved from +{secs}s to +{promise}s"),
                        });
                        secs = promise;
                    }
                    schedule(t, d, d.now + i64::from(secs) * 1000);
                }
                CadenceDecision::CallAt(at) => schedule(t, d, at.max(d.now)),
                CadenceDecision::Fallback(f) => fallback(d, f.message, f.link),
                CadenceDecision::GiveUp(reason) => d.close(&format!("gave up: {reason}")),
            }
        }
        Err(err) => match retry_or_review(t, d) {
            FailureDefault::RetryLater => {
                let due = d.now + i64::from(t.policy.retry_later_minutes) * MINUTE_MS;
                d.event(failed_event("cadence", plugin, &err, "reconsider later"));
                d.state(CaseState::Waiting);
                d.timer(Some(Timer {
                    due_ms: due,
                    kind: TimerKind::Reconsider,
                }));
            }
            FailureDefault::HumanReview => {
                d.event(failed_event("cadence", plugin, &err, "human review"));
                human_review(d, &format!("cadence plugin failed ({})", err.kind()));
            }
        },
    }
}

/// Schedules the next attempt, enforcing the attempt cap and the calling window.
fn schedule(t: &Tenant, d: &mut Draft, due: i64) {
    let cap = t.policy.callback.max_attempts;
    if d.case.attempts.len() as u32 >= cap {
        d.event(Event::Guard {
            rule: "attempt-cap".into(),
            detail: format!("{cap} attempts made; no further call"),
        });
        let line = t.policy.callback.fallback_line.clone();
        return fallback(d, line, t.policy.callback.booking_link.clone());
    }
    let allowed = t
        .policy
        .calling_window
        .next_allowed(callee_tz(t, &d.case), due);
    if allowed != due {
        d.event(Event::Guard {
            rule: "calling-window".into(),
            detail: format!(
                "call at {} moved to {} (window {}–{} local)",
                crate::report::local(t, due),
                crate::report::local(t, allowed),
                t.policy.calling_window.start,
                t.policy.calling_window.end
            ),
        });
    }
    d.state(CaseState::Waiting);
    d.timer(Some(Timer {
        due_ms: allowed,
        kind: TimerKind::NextAttempt,
    }));
    d.event(Event::Scheduled { due_ms: allowed });
}

fn fallback(d: &mut Draft, message: String, link: Option<String>) {
    let body = match &link {
        Some(l) => format!("{message} {l}"),
        None => message.clone(),
    };
    let to = d.case.caller.clone();
    d.effect("fallback-sms", Effect::Sms { to, body });
    d.event(Event::FallbackQueued { message });
    d.close("fallback sent");
}

pub(super) fn fire_timer(e: &Engine, case_id: &str, timer: Timer) -> Result<(), EngineError> {
    let mut d = e.draft(case_id)?;
    if d.case.timer != Some(timer) {
        // A stale index entry (the case moved on): drop it.
        d.step_mut().previous_timer = Some(timer);
        d.commit(&e.store)?;
        return Ok(());
    }
    let t = e.tenant(&d.case.tenant)?;
    d.timer(None);
    match timer.kind {
        TimerKind::NextAttempt => dial(e, &t, &mut d)?,
        TimerKind::Reconsider => plan_next(e, &t, &mut d),
        TimerKind::SlaDeadline => {
            if let CaseState::HandedOff {
                owner,
                acknowledged: false,
                sla_deadline_ms,
                ..
            } = d.case.state.clone()
            {
                let to = t.policy.handoff.escalate_to.clone();
                d.effect(
                    "escalation",
                    Effect::Escalation {
                        to: to.clone(),
                        owner: owner.clone(),
                    },
                );
                d.state(CaseState::HandedOff {
                    owner,
                    sla_deadline_ms,
                    acknowledged: false,
                    breached: true,
                });
                d.event(Event::SlaBreached { escalated_to: to });
            }
        }
    }
    d.commit(&e.store)?;
    Ok(())
}

fn dial(e: &Engine, t: &Tenant, d: &mut Draft) -> Result<(), EngineError> {
    let policy = &t.policy;
    if policy.do_not_call.contains(&d.case.caller)
        || e.store.opted_out(&policy.tenant, &d.case.caller)?
    {
        d.event(Event::Guard {
            rule: "do-not-call".into(),
            detail: "caller may not be called".into(),
        });
        d.close("do not call");
        return Ok(());
    }
    let attempt = d.case.attempts.len() as u32 + 1;
    let (plugin, config) = t.plugin(Slot::Qualify);
    let input = ScriptInput {
        case: view(t, &d.case, d.now),
        config: config.into(),
    };
    let mut script = match e.runtime.script(plugin, input) {
        Ok(decision) => {
            d.event(decision_event("qualify.script", plugin, &decision));
            decision.value
        }
        Err(err) => {
            match retry_or_review(t, d) {
                FailureDefault::RetryLater => {
                    d.event(failed_event(
                        "qualify.script",
                        plugin,
                        &err,
                        "retry the call later",
                    ));
                    let due = d.now + i64::from(policy.retry_later_minutes) * MINUTE_MS;
                    schedule(t, d, due);
                }
                FailureDefault::HumanReview => {
                    d.event(failed_event("qualify.script", plugin, &err, "human review"));
                    human_review(d, &format!("qualify plugin failed ({})", err.kind()));
                }
            }
            return Ok(());
        }
    };
    let cap = usize::from(policy.max_questions);
    if script.questions.len() > cap {
        d.event(Event::Guard {
            rule: "question-cap".into(),
            detail: format!("{} questions cut to {cap}", script.questions.len()),
        });
        script.questions.truncate(cap);
    }
    let (to, from, known) = (
        d.case.caller.clone(),
        d.case.signal.line.clone(),
        d.case.signal.context.clone(),
    );
    let key = d.effect(
        &format!("dial/{attempt}"),
        Effect::Dial {
            attempt,
            to,
            from,
            script,
            known,
        },
    );
    d.case.first_dial_ms.get_or_insert(d.now);
    d.state(CaseState::Dialing { attempt });
    d.event(Event::DialRequested { attempt, key });
    Ok(())
}

pub(super) fn delivered(
    e: &Engine,
    outbox_id: u64,
    item: &OutboxItem,
    delivery: Delivery,
) -> Result<(), EngineError> {
    match (delivery, &item.effect) {
        (Delivery::CallEnded(report), Effect::Dial { attempt, .. }) => {
            call_ended(e, &item.case_id, *attempt, report, Some(outbox_id))
        }
        _ => {
            let mut d = e.draft(&item.case_id)?;
            d.consume(outbox_id);
            d.event(Event::Delivered {
                key: item.key.clone(),
            });
            d.commit(&e.store)?;
            Ok(())
        }
    }
}

pub(super) fn call_ended(
    e: &Engine,
    case_id: &str,
    attempt: u32,
    report: CallReport,
    outbox_id: Option<u64>,
) -> Result<(), EngineError> {
    let mut d = e.draft(case_id)?;
    if let Some(id) = outbox_id {
        d.consume(id);
    }
    if d.case.state != (CaseState::Dialing { attempt }) {
        // A replayed or late report: nothing changes but the outbox bookkeeping.
        d.commit(&e.store)?;
        return Ok(());
    }
    let t = e.tenant(&d.case.tenant)?;
    let full = t.policy.retention == Retention::Full;
    d.case.attempts.push(Attempt {
        at_unix_ms: d.now,
        outcome: report.outcome.clone(),
    });
    d.event(Event::CallResult {
        attempt,
        outcome: report.outcome.clone(),
        answers: if full { report.answers.clone() } else { vec![] },
        transcript: if full {
            report.transcript.clone()
        } else {
            None
        },
    });
    if report.opt_out {
        d.opt_out();
        d.event(Event::OptedOut);
        d.close("caller opted out");
    } else if report.outcome == AttemptOutcome::Connected {
        qualify_and_route(e, &t, &mut d, report)?;
    } else {
        plan_next(e, &t, &mut d);
    }
    d.commit(&e.store)?;
    Ok(())
}

/// Removes what the retention mode forbids from keeping at rest.
fn redact(disposition: &Disposition, retention: Retention) -> Disposition {
    let mut d = disposition.clone();
    if retention == Retention::Zero {
        d.summary = String::new();
        for q in [
            &mut d.qualification.buying_role,
            &mut d.qualification.timeline,
            &mut d.qualification.existing_system,
            &mut d.qualification.budget_range,
        ] {
            q.value = None;
        }
    }
    d
}

fn confirmed(d: &Disposition, field: &str) -> bool {
    let q = &d.qualification;
    match field {
        "buying-role" => q.buying_role.confirmed,
        "timeline" => q.timeline.confirmed,
        "existing-system" => q.existing_system.confirmed,
        "budget-range" => q.budget_range.confirmed,
        _ => false,
    }
}

fn qualify_and_route(
    e: &Engine,
    t: &Tenant,
    d: &mut Draft,
    report: CallReport,
) -> Result<(), EngineError> {
    let policy = &t.policy;
    let (plugin, config) = t.plugin(Slot::Qualify);
    let input = EvaluateInput {
        case: view(t, &d.case, d.now),
        answers: report.answers.clone(),
        transcript: report.transcript.clone(),
        config: config.into(),
    };
    let disposition = match e.runtime.evaluate(plugin, input, &t.custom_codes) {
        Ok(decision) => {
            let mut ev = decision_event("qualify.evaluate", plugin, &decision);
            if let Event::Decision { decision: v, .. } = &mut ev {
                *v = serde_json::to_value(redact(&decision.value, policy.retention)).unwrap();
            }
            d.event(ev);
            decision.value
        }
        Err(err) => {
            d.event(failed_event(
                "qualify.evaluate",
                plugin,
                &err,
                "human review",
            ));
            human_review(d, &format!("qualify plugin failed ({})", err.kind()));
            return Ok(());
        }
    };
    let at_rest = redact(&disposition, policy.retention);
    d.case.disposition = Some(at_rest.clone());
    d.event(Event::Disposition {
        disposition: at_rest.clone(),
    });

    let code = disposition.reason_code.name();
    if !policy.disposition.reason_codes.iter().any(|c| c == code) {
        human_review(
            d,
            &format!("reason code {code:?} is not allowed by the policy"),
        );
        return Ok(());
    }
    let missing: Vec<&str> = policy
        .disposition
        .mandatory
        .iter()
        .map(String::as_str)
        .filter(|f| !confirmed(&disposition, f))
        .collect();
    if !missing.is_empty() {
        human_review(
            d,
            &format!("mandatory fields not confirmed: {}", missing.join(", ")),
        );
        return Ok(());
    }

    // Under zero retention the CRM plugin never sees answer text, so none can reach the
    // outbox at rest.
    let zero = policy.retention == Retention::Zero;
    let (plugin, config) = t.plugin(Slot::Crm);
    let input = CrmInput {
        case: view(t, &d.case, d.now),
        disposition: if zero {
            at_rest.clone()
        } else {
            disposition.clone()
        },
        answers: if zero { vec![] } else { report.answers.clone() },
        config: config.into(),
    };
    match e.runtime.crm(plugin, input) {
        Ok(decision) => {
            d.event(decision_event("crm", plugin, &decision));
            let n = decision.value.len() as u32;
            for op in decision.value {
                let suffix = format!("crm/{}", op.id);
                d.effect(&suffix, Effect::Crm { operation: op });
            }
            d.case.crm_operations = n;
            d.event(Event::CrmQueued { operations: n });
        }
        Err(err) => {
            d.event(failed_event("crm", plugin, &err, "human review"));
            human_review(d, &format!("crm plugin failed ({})", err.kind()));
            return Ok(());
        }
    }

    let handoff = &policy.handoff;
    let to_human = disposition.next_action == NextAction::SellerCallback
        || disposition.urgency == Urgency::SameDay
        || disposition.intent_score >= handoff.min_intent;
    if to_human {
        let mut counters = match d.step_mut().counters.take() {
            Some((_, c)) => c,
            None => e.store.counters(&policy.tenant)?,
        };
        let owner = match handoff.assignment {
            crate::policy::Assignment::RoundRobin => {
                let i = counters.next_owner as usize % handoff.owners.len();
                counters.next_owner += 1;
                handoff.owners[i].clone()
            }
            crate::policy::Assignment::FirstOwner => handoff.owners[0].clone(),
        };
        d.step_mut().counters = Some((policy.tenant.clone(), counters));
        let sla_deadline_ms = d.now + i64::from(handoff.sla_minutes) * MINUTE_MS;
        let packet = serde_json::json!({
            "case": d.case.id,
            "business": policy.name,
            "caller": d.case.caller,
            "disposition": at_rest,
            "context": if zero { vec![] } else { d.case.signal.context.clone() },
            "answers": if policy.retention == Retention::Full { report.answers.clone() } else { vec![] },
            "sla_deadline_ms": sla_deadline_ms,
        });
        d.effect(
            "handoff",
            Effect::HandoffNotice {
                owner: owner.clone(),
                packet,
            },
        );
        d.state(CaseState::HandedOff {
            owner: owner.clone(),
            sla_deadline_ms,
            acknowledged: false,
            breached: false,
        });
        d.timer(Some(Timer {
            due_ms: sla_deadline_ms,
            kind: TimerKind::SlaDeadline,
        }));
        d.event(Event::HandedOff {
            owner,
            sla_deadline_ms,
        });
    } else {
        let next_step = match disposition.next_action {
            NextAction::MaterialSend => "send material",
            NextAction::BookingLink => "send booking link",
            _ => "automated follow-up sequence",
        };
        let due_ms = d.now + i64::from(policy.follow_up.due_hours) * 60 * MINUTE_MS;
        d.state(CaseState::FollowUp {
            next_step: next_step.into(),
            due_ms,
        });
        d.event(Event::FollowUp {
            next_step: next_step.into(),
            due_ms,
        });
    }
    Ok(())
}

pub(super) fn acknowledge(e: &Engine, case_id: &str) -> Result<bool, EngineError> {
    let mut d = e.draft(case_id)?;
    let CaseState::HandedOff {
        owner,
        sla_deadline_ms,
        acknowledged: false,
        breached,
    } = d.case.state.clone()
    else {
        return Ok(false);
    };
    d.state(CaseState::HandedOff {
        owner,
        sla_deadline_ms,
        acknowledged: true,
        breached,
    });
    d.timer(None);
    d.event(Event::Acknowledged);
    d.commit(&e.store)?;
    Ok(true)
}

/// Standard SMS opt-out keywords (the carriers' and Twilio's list).
const STOP_WORDS: [&str; 8] = [
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
];

/// Whether a reply is an opt-out keyword.
pub fn is_stop_word(text: &str) -> bool {
    let word = text
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_lowercase();
    STOP_WORDS.contains(&word.as_str())
}

pub(super) fn sms_reply(
    e: &Engine,
    t: &Tenant,
    caller: &str,
    text: &str,
    event_id: &str,
) -> Result<SmsReply, EngineError> {
    let tenant = &t.policy.tenant;
    if e.store.seen_inbound(tenant, event_id)? {
        return Ok(SmsReply::Duplicate);
    }
    let inbound = Some((tenant.clone(), event_id.to_string()));
    let case_id = match e.store.open_case(tenant, caller)? {
        Some(id) => Some(id),
        None => e
            .store
            .cases(Some(tenant))?
            .into_iter()
            .rfind(|c| c.caller == caller)
            .map(|c| c.id),
    };
    let Some(case_id) = case_id else {
        let opt_out = is_stop_word(text).then(|| (tenant.clone(), caller.to_string()));
        let stop = opt_out.is_some();
        e.store.commit(&Step {
            opt_out,
            inbound,
            clock_ms: Some(e.clock.now_ms()),
            ..Step::default()
        })?;
        return Ok(if stop {
            SmsReply::OptedOut(None)
        } else {
            SmsReply::NoCase
        });
    };
    let mut d = e.draft(&case_id)?;
    d.step_mut().inbound = inbound;
    if is_stop_word(text) {
        d.opt_out();
        d.event(Event::OptedOut);
        if d.case.state.is_open() {
            d.close("caller opted out by SMS");
        }
        d.commit(&e.store)?;
        return Ok(SmsReply::OptedOut(Some(case_id)));
    }
    let keep = t.policy.retention != Retention::Zero;
    if keep {
        merge_context(&mut d.case.signal.context, &[Field::new("sms-reply", text)]);
    }
    d.event(Event::Reply {
        text: keep.then(|| text.to_string()),
    });
    d.commit(&e.store)?;
    Ok(SmsReply::Joined(case_id))
}
