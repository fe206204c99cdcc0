//! Steps that follow a call: its result, qualification, CRM operations, handoff or
//! follow-up, delivery bookkeeping and the owner's acknowledgement.

use super::*;

pub(in crate::engine) fn delivered(
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
            d.commit(e.store())?;
            Ok(())
        }
    }
}

pub(in crate::engine) fn call_ended(
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
        d.commit(e.store())?;
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
    d.commit(e.store())?;
    Ok(())
}

/// Removes what the retention mode forbids from keeping at rest.
pub(in crate::engine) fn redact(disposition: &Disposition, retention: Retention) -> Disposition {
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

pub(in crate::engine) fn confirmed(d: &Disposition, field: &str) -> bool {
    let q = &d.qualification;
    match field {
        "buying-role" => q.buying_role.confirmed,
        "timeline" => q.timeline.confirmed,
        "existing-system" => q.existing_system.confirmed,
        "budget-range" => q.budget_range.confirmed,
        _ => false,
    }
}

pub(in crate::engine) fn qualify_and_route(
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
    let disposition = match guarded(e, t, Slot::Qualify, || {
        e.runtime.evaluate(plugin, input, &t.custom_codes)
    }) {
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
    match guarded(e, t, Slot::Crm, || e.runtime.crm(plugin, input)) {
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

pub(in crate::engine) fn acknowledge(e: &Engine, case_id: &str) -> Result<bool, EngineError> {
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
    d.commit(e.store())?;
    Ok(true)
}
