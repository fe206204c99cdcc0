//! Steps that follow a call: its result, qualification, CRM operations, handoff or
//! follow-up, delivery bookkeeping and the owner's acknowledgement.

use super::*;
use crate::engine::MessageStatus;
use crate::policy::{Assignment, Policy};

pub(in crate::engine) fn delivered(
    engine: &Engine,
    outbox_id: u64,
    item: &OutboxItem,
    delivery: Delivery,
) -> Result<(), EngineError> {
    match (delivery, &item.effect) {
        (Delivery::CallEnded(report), Effect::Dial { attempt, .. }) => {
            let mut draft = engine.draft(&item.case_id)?;
            draft.consume(outbox_id);
            call_ended(engine, draft, *attempt, report)
        }
        (Delivery::CallPlaced { provider_id }, Effect::Dial { attempt, .. }) => {
            let mut draft = engine.draft(&item.case_id)?;
            draft.consume(outbox_id);
            super::reconcile::placed(engine, draft, *attempt, provider_id)
        }
        (delivery, Effect::CallLookup { attempt, .. }) => {
            let mut draft = engine.draft(&item.case_id)?;
            draft.consume(outbox_id);
            super::reconcile::looked_up(engine, draft, *attempt, delivery)
        }
        _ => {
            let mut draft = engine.draft(&item.case_id)?;
            draft.consume(outbox_id);
            draft.event(Event::Delivered {
                key: item.key.clone(),
            });
            draft.commit(engine.store())?;
            Ok(())
        }
    }
}

/// The name a case's fallback message goes by in its outbox key (`{case}/fallback-sms`).
pub(in crate::engine) const FALLBACK_SMS: &str = "fallback-sms";

/// The SMS provider's report on a case's fallback message: a final status is journalled,
/// once per provider event; the case's course does not change (it closed when the
/// message was queued), but its journal now says whether the caller got it.
pub(in crate::engine) fn message_status(
    engine: &Engine,
    mut draft: Draft,
    key: &str,
    status: &str,
    error_code: Option<String>,
    event_id: &str,
) -> Result<MessageStatus, EngineError> {
    let queued = (engine.store.journal(&draft.case.id)?.iter())
        .any(|e| matches!(e.event, Event::FallbackQueued { .. }));
    if !queued {
        return Err(EngineError::UnknownCase(key.to_string()));
    }
    if !crate::engine::FINAL_MESSAGE_STATUSES.contains(&status) {
        return Ok(MessageStatus::NotFinal);
    }
    let tenant = draft.case.tenant.clone();
    if engine.store.seen_inbound(&tenant, event_id)? {
        return Ok(MessageStatus::Duplicate);
    }
    draft.step_mut().inbound = Some(InboundEvent {
        tenant,
        id: event_id.to_string(),
        at_ms: draft.now,
    });
    draft.event(Event::MessageStatus {
        key: key.to_string(),
        status: status.to_string(),
        error_code,
    });
    let case = draft.case.id.clone();
    draft.commit(engine.store())?;
    Ok(MessageStatus::Recorded(case))
}

/// The case's tenant no longer serves (it was deleted): `what` (a due timer, an outbox
/// effect) is dropped and the case closed, both journalled, so nothing more is done or
/// sent for it and no retry waits on it.
pub(in crate::engine) fn tenant_removed(
    engine: &Engine,
    case_id: &str,
    outbox_id: Option<u64>,
    what: &str,
) -> Result<(), EngineError> {
    let mut draft = engine.draft(case_id)?;
    if let Some(id) = outbox_id {
        draft.consume(id);
    }
    draft.event(Event::Guard {
        rule: "tenant-removed".into(),
        detail: format!("{what} dropped: the tenant no longer serves"),
    });
    if matches!(draft.case.state, CaseState::Closed { .. }) {
        draft.timer(None);
    } else {
        draft.close("tenant removed");
    }
    draft.commit(engine.store())?;
    Ok(())
}

/// A call attempt ended: `draft` (of the call's case, carrying whatever bookkeeping the
/// caller's step adds) records the attempt and the case moves on.
pub(in crate::engine) fn call_ended(
    engine: &Engine,
    mut draft: Draft,
    attempt: u32,
    mut report: CallReport,
) -> Result<(), EngineError> {
    let dialing = matches!(draft.case.state, CaseState::Dialing { .. });
    let made = draft.case.attempts.len() as u32 + u32::from(dialing);
    if !(1..=made).contains(&attempt) {
        return Err(EngineError::UnknownAttempt {
            case: draft.case.id.clone(),
            attempt,
        });
    }
    if draft.case.state != (CaseState::Dialing { attempt }) {
        // A replayed, late or out-of-order report: journalled, and nothing else changes
        // but the outbox bookkeeping. One that says what the attempt's own report said
        // is a provider repeating itself (Retell's `call_analyzed` after `call_ended`).
        let outcome = serde_json::to_string(&report.outcome).unwrap_or_default();
        let recorded = draft.case.attempts.get(attempt as usize - 1);
        let (rule, detail) = if recorded.is_some_and(|a| a.outcome == report.outcome) {
            let detail = format!("call #{attempt} was reported again ({outcome}); ignored");
            ("repeated-report", detail)
        } else {
            let detail = format!(
                "a report for call #{attempt} ({outcome}) came after the attempt ended; ignored"
            );
            ("late-report", detail)
        };
        draft.event(Event::Guard {
            rule: rule.into(),
            detail,
        });
        draft.commit(engine.store())?;
        return Ok(());
    }
    // A report overdue timer, if one was set, is done with.
    draft.timer(None);
    let asking = draft.case.asking.take();
    let (answers, unanswered) = super::answers::typed(
        asking.as_ref(),
        attempt,
        std::mem::take(&mut report.answers),
    );
    report.answers = answers;
    let tenant = engine.tenant(&draft.case.tenant)?;
    let keep_conversation = tenant.policy.retention.keeps(Text::Conversation);
    draft.case.attempts.push(Attempt {
        at_unix_ms: draft.now,
        outcome: report.outcome.clone(),
    });
    draft.event(Event::CallResult {
        attempt,
        outcome: report.outcome.clone(),
        answers: if keep_conversation {
            report.answers.clone()
        } else {
            vec![]
        },
        transcript: report.transcript.clone().filter(|_| keep_conversation),
        unanswered,
    });
    if report.outcome == AttemptOutcome::Voicemail && asking.is_some_and(|a| a.voicemail) {
        draft.event(Event::VoicemailLeft { attempt });
    }
    if report.opt_out {
        let entry = engine.suppression_id(&draft.case.tenant, &draft.case.caller);
        draft.opt_out(entry);
        draft.event(Event::OptedOut);
        draft.close("caller opted out");
    } else if report.outcome == AttemptOutcome::Connected {
        qualify_and_route(engine, &tenant, &mut draft, &report)?;
    } else {
        plan_next(engine, &tenant, &mut draft);
    }
    draft.commit(engine.store())?;
    Ok(())
}

/// A connected call: the qualify plugin turns the answers into decision fields, the host
/// checks them against the policy, the crm plugin maps them to CRM operations, and the
/// case goes to a human owner or the follow-up queue. Any failure on the way ends in human
/// review.
fn qualify_and_route(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
    report: &CallReport,
) -> Result<(), EngineError> {
    let Some(disposition) = evaluate(engine, tenant, draft, report) else {
        return Ok(());
    };
    if let Err(reason) = check_disposition(&tenant.policy, &disposition) {
        human_review(draft, &reason);
        return Ok(());
    }
    if !queue_crm(engine, tenant, draft, &disposition, report) {
        return Ok(());
    }
    if goes_to_a_human(&tenant.policy, &disposition) {
        hand_off(engine, tenant, draft, &disposition, report)
    } else {
        follow_up(&tenant.policy, draft, &disposition);
        Ok(())
    }
}

/// Asks the qualify plugin for the decision fields and records them as retention allows;
/// `None` when it failed (the case is then in human review).
fn evaluate(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
    report: &CallReport,
) -> Option<Disposition> {
    let retention = tenant.policy.retention;
    let config = tenant.config(Slot::Qualify);
    let input = EvaluateInput {
        case: view(tenant, &draft.case, draft.now),
        answers: report.answers.clone(),
        transcript: report.transcript.clone(),
        config: config.into(),
    };
    let mut evaluated = consult(
        engine,
        tenant,
        Call::Evaluate,
        &draft.case.caller,
        input,
        |plugin, input| engine.runtime.evaluate(plugin, input, &tenant.custom_codes),
        |disposition| as_json(&retention.redact(disposition)),
    );
    evaluated.journal(draft);
    let disposition = match evaluated.result {
        Ok(disposition) => disposition,
        Err(err) => {
            safe_default(tenant, draft, Call::Evaluate, evaluated.plugin, &err);
            return None;
        }
    };
    let at_rest = retention.redact(&disposition);
    draft.case.disposition = Some(at_rest.clone());
    draft.event(Event::Disposition {
        disposition: at_rest,
    });
    Some(disposition)
}

/// The policy's rules for a disposition: an allowed reason code, and every mandatory field
/// confirmed. The error is the reason for human review.
fn check_disposition(policy: &Policy, disposition: &Disposition) -> Result<(), String> {
    let code = disposition.reason_code.name();
    if !policy.disposition.reason_codes.iter().any(|c| c == code) {
        return Err(format!("reason code {code:?} is not allowed by the policy"));
    }
    let missing: Vec<&str> = policy
        .disposition
        .mandatory
        .iter()
        .map(String::as_str)
        .filter(|field| !confirmed(disposition, field))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "mandatory fields not confirmed: {}",
            missing.join(", ")
        ))
    }
}

/// Whether the customer confirmed a qualification field (by its policy name).
fn confirmed(disposition: &Disposition, field: &str) -> bool {
    let q = &disposition.qualification;
    match field {
        "buying-role" => q.buying_role.confirmed,
        "timeline" => q.timeline.confirmed,
        "existing-system" => q.existing_system.confirmed,
        "budget-range" => q.budget_range.confirmed,
        _ => false,
    }
}

/// Asks the crm plugin for CRM operations and queues each for delivery; `false` when it
/// failed (the case is then in human review). The plugin sees notes only where retention
/// keeps them, so none can reach the outbox at rest otherwise.
fn queue_crm(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
    disposition: &Disposition,
    report: &CallReport,
) -> bool {
    let retention = tenant.policy.retention;
    let keep_notes = retention.keeps(Text::Notes);
    let config = tenant.config(Slot::Crm);
    let input = CrmInput {
        case: view(tenant, &draft.case, draft.now),
        disposition: retention.redact(disposition),
        answers: if keep_notes {
            report.answers.clone()
        } else {
            vec![]
        },
        config: config.into(),
    };
    let mut planned = consult(
        engine,
        tenant,
        Call::Crm,
        &draft.case.caller,
        input,
        |plugin, input| engine.runtime.crm(plugin, input),
        as_json,
    );
    planned.journal(draft);
    match planned.result {
        Ok(operations_planned) => {
            let operations = operations_planned.len() as u32;
            for operation in operations_planned {
                let suffix = format!("crm/{}", operation.id);
                draft.effect(&suffix, Effect::Crm { operation });
            }
            draft.case.crm_operations = operations;
            draft.event(Event::CrmQueued { operations });
            true
        }
        Err(err) => {
            safe_default(tenant, draft, Call::Crm, planned.plugin, &err);
            false
        }
    }
}

/// High intent goes to a person: a seller callback, same-day urgency, or an intent score
/// at or above the policy's threshold.
fn goes_to_a_human(policy: &Policy, disposition: &Disposition) -> bool {
    disposition.next_action == NextAction::SellerCallback
        || disposition.urgency == Urgency::SameDay
        || disposition.intent_score >= policy.handoff.min_intent
}

/// Hands the case to an owner: the handoff notice, the SLA timer, and the owner chosen by
/// the policy's assignment (its round-robin position lives in the tenant's counters).
fn hand_off(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
    disposition: &Disposition,
    report: &CallReport,
) -> Result<(), EngineError> {
    let policy = &tenant.policy;
    let handoff = &policy.handoff;
    let mut counters = match draft.step_mut().counters.take() {
        Some((_, counters)) => counters,
        None => engine.store.counters(&policy.tenant)?,
    };
    let owner = match handoff.assignment {
        Assignment::RoundRobin => {
            let i = counters.next_owner as usize % handoff.owners.len();
            counters.next_owner += 1;
            handoff.owners[i].clone()
        }
        Assignment::FirstOwner => handoff.owners[0].clone(),
    };
    draft.step_mut().counters = Some((policy.tenant.clone(), counters));
    let sla_deadline_ms = draft.now + i64::from(handoff.sla_minutes) * MINUTE_MS;
    let packet = handoff_packet(policy, draft, disposition, report, sla_deadline_ms);
    draft.effect(
        "handoff",
        Effect::HandoffNotice {
            owner: owner.clone(),
            packet,
        },
    );
    draft.state(CaseState::HandedOff {
        owner: owner.clone(),
        sla_deadline_ms,
        acknowledged: false,
        breached: false,
    });
    draft.timer(Some(Timer {
        due_ms: sla_deadline_ms,
        kind: TimerKind::SlaDeadline,
    }));
    draft.event(Event::HandedOff {
        owner,
        sla_deadline_ms,
    });
    Ok(())
}

/// What the owner receives: the decision fields and, as retention allows, what the
/// customer said, so they never have to ask again.
fn handoff_packet(
    policy: &Policy,
    draft: &Draft,
    disposition: &Disposition,
    report: &CallReport,
    sla_deadline_ms: i64,
) -> serde_json::Value {
    let retention = policy.retention;
    let context = if retention.keeps(Text::Notes) {
        draft.case.signal.context.clone()
    } else {
        vec![]
    };
    let answers = if retention.keeps(Text::Conversation) {
        report.answers.clone()
    } else {
        vec![]
    };
    serde_json::json!({
        "case": draft.case.id,
        "business": policy.name,
        "caller": draft.case.caller,
        "disposition": retention.redact(disposition),
        "context": context,
        "answers": answers,
        "sla_deadline_ms": sla_deadline_ms,
    })
}

/// Lower intent goes to the follow-up automation queue.
fn follow_up(policy: &Policy, draft: &mut Draft, disposition: &Disposition) {
    let next_step = match disposition.next_action {
        NextAction::MaterialSend => "send material",
        NextAction::BookingLink => "send booking link",
        _ => "automated follow-up sequence",
    };
    let due_ms = draft.now + i64::from(policy.follow_up.due_hours) * 60 * MINUTE_MS;
    draft.state(CaseState::FollowUp {
        next_step: next_step.into(),
        due_ms,
    });
    draft.event(Event::FollowUp {
        next_step: next_step.into(),
        due_ms,
    });
}

pub(in crate::engine) fn acknowledge(engine: &Engine, case_id: &str) -> Result<bool, EngineError> {
    let mut draft = engine.draft(case_id)?;
    let CaseState::HandedOff {
        owner,
        sla_deadline_ms,
        acknowledged: false,
        breached,
    } = draft.case.state.clone()
    else {
        return Ok(false);
    };
    draft.state(CaseState::HandedOff {
        owner,
        sla_deadline_ms,
        acknowledged: true,
        breached,
    });
    draft.timer(None);
    draft.event(Event::Acknowledged);
    draft.commit(engine.store())?;
    Ok(true)
}
