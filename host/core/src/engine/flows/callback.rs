//! Steps that plan and place callbacks: cadence, calling window, attempt cap, dialing,
//! fallback messages, and the timers that drive them.

use super::*;

/// Asks the cadence for the next step and applies it within the host's guarantees.
pub(in crate::engine) fn plan_next(e: &Engine, t: &Tenant, d: &mut Draft) {
    let (plugin, config) = t.plugin(Slot::Cadence);
    let input = CadenceInput {
        case: view(t, &d.case, d.now),
        config: config.into(),
    };
    match guarded(e, t, Slot::Cadence, || e.runtime.cadence(plugin, input)) {
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
pub(in crate::engine) fn schedule(t: &Tenant, d: &mut Draft, due: i64) {
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
                t.policy.local_time(due),
                t.policy.local_time(allowed),
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

pub(in crate::engine) fn fallback(d: &mut Draft, message: String, link: Option<String>) {
    let body = match &link {
        Some(l) => format!("{message} {l}"),
        None => message.clone(),
    };
    let to = d.case.caller.clone();
    d.effect("fallback-sms", Effect::Sms { to, body });
    d.event(Event::FallbackQueued { message });
    d.close("fallback sent");
}

pub(in crate::engine) fn fire_timer(
    e: &Engine,
    case_id: &str,
    timer: Timer,
) -> Result<(), EngineError> {
    let mut d = e.draft(case_id)?;
    if d.case.timer != Some(timer) {
        // A stale index entry (the case moved on): drop it.
        d.step_mut().previous_timer = Some(timer);
        d.commit(e.store())?;
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
    d.commit(e.store())?;
    Ok(())
}

pub(in crate::engine) fn dial(e: &Engine, t: &Tenant, d: &mut Draft) -> Result<(), EngineError> {
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
    let mut script = match guarded(e, t, Slot::Qualify, || e.runtime.script(plugin, input)) {
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
