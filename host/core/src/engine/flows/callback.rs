//! Steps that plan and place callbacks: cadence, calling window, attempt cap, dialing,
//! fallback messages, and the timers that drive them.

use super::*;

/// Asks the cadence for the next step and applies it within the host's guarantees.
pub(in crate::engine) fn plan_next(engine: &Engine, tenant: &Tenant, draft: &mut Draft) {
    let config = tenant.config(Slot::Cadence);
    let input = CadenceInput {
        case: view(tenant, &draft.case, draft.now),
        config: config.into(),
    };
    let mut cadence = consult(
        engine,
        tenant,
        Call::Cadence,
        &draft.case.caller,
        input,
        |plugin, input| engine.runtime.cadence(plugin, input),
        as_json,
    );
    cadence.journal(draft);
    match cadence.result {
        Ok(decision) => match decision {
            CadenceDecision::CallAfter(secs) => {
                let mut secs = secs;
                let promise = tenant.policy.callback.first_call_within_secs;
                if draft.case.attempts.is_empty() && secs > promise {
                    draft.event(Event::Guard {
                        rule: "first-call-promise".into(),
                        detail: format!("first call moved from +{secs}s to +{promise}s"),
                    });
                    secs = promise;
                }
                schedule(tenant, draft, draft.now + i64::from(secs) * 1000);
            }
            CadenceDecision::CallAt(at) => schedule(tenant, draft, at.max(draft.now)),
            CadenceDecision::Fallback(f) => fallback(draft, f.message, f.link),
            CadenceDecision::GiveUp(reason) => draft.close(&format!("gave up: {reason}")),
        },
        Err(err) => {
            if safe_default(tenant, draft, Call::Cadence, cadence.plugin, &err) {
                draft.state(CaseState::Waiting);
                draft.timer(Some(Timer {
                    due_ms: retry_later(tenant, draft),
                    kind: TimerKind::Reconsider,
                }));
            }
        }
    }
}

/// Schedules the next attempt, enforcing the attempt cap and the calling window.
pub(in crate::engine) fn schedule(tenant: &Tenant, draft: &mut Draft, due: i64) {
    let cap = tenant.policy.callback.max_attempts;
    if draft.case.attempts.len() as u32 >= cap {
        draft.event(Event::Guard {
            rule: "attempt-cap".into(),
            detail: format!("{cap} attempts made; no further call"),
        });
        let line = tenant.policy.callback.fallback_line.clone();
        return fallback(draft, line, tenant.policy.callback.booking_link.clone());
    }
    let allowed = tenant
        .policy
        .calling_window
        .next_allowed(callee_tz(tenant, &draft.case), due);
    if allowed != due {
        draft.event(Event::Guard {
            rule: "calling-window".into(),
            detail: format!(
                "call at {} moved to {} (window {}–{} local)",
                tenant.policy.local_time(due),
                tenant.policy.local_time(allowed),
                tenant.policy.calling_window.start,
                tenant.policy.calling_window.end
            ),
        });
    }
    draft.state(CaseState::Waiting);
    draft.timer(Some(Timer {
        due_ms: allowed,
        kind: TimerKind::NextAttempt,
    }));
    draft.event(Event::Scheduled { due_ms: allowed });
}

/// How often a dial waiting for a line tries again. Rounds are aligned to this, so every
/// waiting case of a tenant tries in the same round, in order of urgency.
const LINE_POLL_MS: i64 = 15_000;

/// Every line is busy: the case waits for the next round, within the calling window.
/// Journalled when it starts waiting, not at every round.
fn wait_for_line(tenant: &Tenant, draft: &mut Draft, in_progress: u64, cap: u32) {
    let waiting = draft
        .step_mut()
        .previous_timer
        .is_some_and(|t| t.kind == TimerKind::LineWait);
    if !waiting {
        draft.event(Event::Guard {
            rule: "concurrent-calls".into(),
            detail: format!(
                "{in_progress} calls in progress, the voice account's cap is {cap}: waiting for a line"
            ),
        });
    }
    // Within a round, the most urgent case goes first.
    let round = (draft.now / LINE_POLL_MS + 1) * LINE_POLL_MS;
    let due = round + i64::from(u8::MAX - draft.case.priority);
    let allowed = tenant
        .policy
        .calling_window
        .next_allowed(callee_tz(tenant, &draft.case), due);
    draft.state(CaseState::Waiting);
    draft.timer(Some(Timer {
        due_ms: allowed,
        kind: TimerKind::LineWait,
    }));
}

pub(in crate::engine) fn fallback(draft: &mut Draft, message: String, link: Option<String>) {
    let body = match &link {
        Some(l) => format!("{message} {l}"),
        None => message.clone(),
    };
    let to = draft.case.caller.clone();
    draft.effect(FALLBACK_SMS, Effect::Sms { to, body });
    draft.event(Event::FallbackQueued { message });
    draft.close("fallback sent");
}

pub(in crate::engine) fn fire_timer(
    engine: &Engine,
    case_id: &str,
    timer: Timer,
) -> Result<(), EngineError> {
    let mut draft = engine.draft(case_id)?;
    if draft.case.timer != Some(timer) {
        // A stale index entry (the case moved on): drop it.
        draft.step_mut().previous_timer = Some(timer);
        draft.commit(engine.store())?;
        return Ok(());
    }
    let Ok(tenant) = engine.tenant(&draft.case.tenant) else {
        drop(draft);
        return super::tenant_removed(engine, case_id, None, &format!("{:?} timer", timer.kind));
    };
    draft.timer(None);
    match timer.kind {
        TimerKind::NextAttempt | TimerKind::LineWait => dial(engine, &tenant, &mut draft)?,
        TimerKind::Reconsider => plan_next(engine, &tenant, &mut draft),
        TimerKind::ReportDue => reconcile::report_overdue(engine, &tenant, &mut draft)?,
        TimerKind::SlaDeadline => {
            if let CaseState::HandedOff {
                owner,
                acknowledged: false,
                sla_deadline_ms,
                ..
            } = draft.case.state.clone()
            {
                let to = tenant.policy.handoff.escalate_to.clone();
                draft.effect(
                    "escalation",
                    Effect::Escalation {
                        to: to.clone(),
                        owner: owner.clone(),
                    },
                );
                draft.state(CaseState::HandedOff {
                    owner,
                    sla_deadline_ms,
                    acknowledged: false,
                    breached: true,
                });
                draft.event(Event::SlaBreached { escalated_to: to });
            }
        }
    }
    draft.commit(engine.store())?;
    Ok(())
}

pub(in crate::engine) fn dial(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
) -> Result<(), EngineError> {
    let policy = &tenant.policy;
    if policy.do_not_call.contains(&draft.case.caller)
        || engine.opted_out(&policy.tenant, &draft.case.caller)?
    {
        draft.event(Event::Guard {
            rule: "do-not-call".into(),
            detail: "caller may not be called".into(),
        });
        draft.close("do not call");
        return Ok(());
    }
    if let Some(cap) = policy.callback.max_concurrent_calls {
        let counters = engine.store.counters(&policy.tenant)?;
        let in_progress = counters.states.get("dialing").copied().unwrap_or(0);
        if in_progress >= u64::from(cap) {
            wait_for_line(tenant, draft, in_progress, cap);
            return Ok(());
        }
    }
    let attempt = draft.case.attempts.len() as u32 + 1;
    let config = tenant.config(Slot::Qualify);
    let input = ScriptInput {
        case: view(tenant, &draft.case, draft.now),
        config: config.into(),
    };
    let mut asked = consult(
        engine,
        tenant,
        Call::Script,
        &draft.case.caller,
        input,
        |plugin, input| engine.runtime.script(plugin, input),
        as_json,
    );
    asked.journal(draft);
    let mut script = match asked.result {
        Ok(script) => script,
        Err(err) => {
            if safe_default(tenant, draft, Call::Script, asked.plugin, &err) {
                let due = retry_later(tenant, draft);
                schedule(tenant, draft, due);
            }
            return Ok(());
        }
    };
    let cap = usize::from(policy.max_questions);
    if script.questions.len() > cap {
        draft.event(Event::Guard {
            rule: "question-cap".into(),
            detail: format!("{} questions cut to {cap}", script.questions.len()),
        });
        script.questions.truncate(cap);
    }
    let (to, from, known) = (
        draft.case.caller.clone(),
        draft.case.signal.line.clone(),
        draft.case.signal.context.clone(),
    );
    let voicemail = policy.callback.voicemail_for(attempt).map(str::to_string);
    draft.case.asking = Some(Asking {
        attempt,
        fields: script
            .questions
            .iter()
            .map(|q| (q.field_id.clone(), q.kind.clone()))
            .collect(),
        voicemail: voicemail.is_some(),
    });
    let key = draft.effect(
        &format!("dial/{attempt}"),
        Effect::Dial {
            attempt,
            to,
            from,
            script,
            known,
            voicemail,
        },
    );
    draft.case.first_dial_ms.get_or_insert(draft.now);
    draft.state(CaseState::Dialing { attempt });
    draft.event(Event::DialRequested { attempt, key });
    Ok(())
}
