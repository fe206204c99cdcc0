//! Steps that start from something the caller did: a signal, an SMS reply.

use super::*;

/// The priority of a case whose trigger failed and the policy recovers it anyway.
const DEFAULT_PRIORITY: u8 = 50;

pub(in crate::engine) fn ingest(
    engine: &Engine,
    tenant: &Tenant,
    arrived: SignalIn,
) -> Result<Ingested, EngineError> {
    let policy = &tenant.policy;
    let now = engine.clock.now_ms();
    if let Some(id) = &arrived.event_id
        && engine.store.seen_inbound(&policy.tenant, id)?
    {
        return Ok(Ingested::Duplicate);
    }
    let inbound = arrived.event_id.clone().map(|id| InboundEvent {
        tenant: policy.tenant.clone(),
        id,
        at_ms: now,
    });
    let mut counters = engine.store.counters(&policy.tenant)?;
    counters.signals += 1;
    let signal = Signal {
        kind: arrived.kind,
        caller: arrived.caller.clone(),
        line: arrived.line,
        at: tenant.local.moment(arrived.at_ms),
        context: arrived.context,
    };

    // One read of the caller's cases answers both "is one open?" and the trigger's history.
    let CallerCases {
        open,
        others: prior,
    } = engine.store.caller_cases(&policy.tenant, &arrived.caller)?;
    if let Some(case) = open {
        let case_id = case.id.clone();
        let mut draft = engine.new_draft(case, now);
        merge_context(&mut draft.case.signal.context, &signal.context);
        draft.case.signals += 1;
        draft.event(Event::Signal {
            kind: arrived.kind,
            joined: true,
        });
        draft.step_mut().counters = Some((policy.tenant.clone(), counters));
        draft.step_mut().inbound = inbound;
        draft.commit(engine.store())?;
        return Ok(Ingested::Joined(case_id));
    }

    let ignore = |reason: String, shadow, counters| -> Result<Ingested, EngineError> {
        let record = IgnoredSignal {
            at_ms: now,
            caller: arrived.caller.clone(),
            kind: arrived.kind,
            reason: reason.clone(),
            shadow,
        };
        engine.store.commit(&Step {
            ignored: Some((policy.tenant.clone(), record)),
            counters: Some((policy.tenant.clone(), counters)),
            clock_ms: engine.clock_to_keep(now),
            inbound: inbound.clone(),
            ..Step::default()
        })?;
        Ok(Ingested::Ignored(reason))
    };
    if !policy.triggers.contains(&arrived.kind) {
        return ignore(
            "signal kind is not a trigger in the policy".into(),
            None,
            counters,
        );
    }
    if policy.do_not_call.contains(&arrived.caller) {
        return ignore("caller is on the do-not-call list".into(), None, counters);
    }
    if engine.opted_out(&policy.tenant, &arrived.caller)? {
        return ignore("caller opted out".into(), None, counters);
    }

    let history = CallerHistory {
        open_case: false,
        prior_cases: prior.len() as u32,
        last_outcome: prior.last().map(|c| c.state.name().to_string()),
        opted_out: false,
    };
    let config = tenant.config(Slot::Trigger);
    let input = TriggerInput {
        signal: signal.clone(),
        history,
        config: config.into(),
    };
    // The trigger decides before the case exists; what it decided is journalled in the
    // case it opens, or kept with the signal it ignored.
    let mut trigger = consult(
        engine,
        tenant,
        Call::Trigger,
        &arrived.caller,
        input,
        |plugin, input| engine.runtime.trigger(plugin, input),
        as_json,
    );
    let (priority, known) = match &trigger.result {
        Ok(TriggerDecision::Ignore(reason)) => {
            return ignore(format!("trigger: {reason}"), trigger.shadow, counters);
        }
        Ok(TriggerDecision::Recover(r)) => (r.priority, r.known.clone()),
        Err(_) => (DEFAULT_PRIORITY, vec![]),
    };
    counters.cases += 1;
    let id = format!("{}-{:05}", policy.tenant, counters.cases);
    let mut signal = signal;
    merge_context(&mut signal.context, &known);
    let case = CaseRecord::new(id, policy.tenant.clone(), signal, priority, now);
    let mut draft = engine.new_draft(case, now);
    draft.event(Event::Signal {
        kind: arrived.kind,
        joined: false,
    });
    draft.step_mut().counters = Some((policy.tenant.clone(), counters));
    draft.step_mut().inbound = inbound;
    trigger.journal(&mut draft);
    let proceed = match &trigger.result {
        Ok(_) => true,
        Err(err) => safe_default(tenant, &mut draft, Call::Trigger, trigger.plugin, err),
    };
    if proceed {
        plan_next(engine, tenant, &mut draft);
    }
    // A first call due now is placed in this same step: one commit instead of two, and
    // the dial request is in the outbox the moment the signal is acknowledged.
    if let Some(timer) = draft.case.timer
        && timer.kind == TimerKind::NextAttempt
        && timer.due_ms <= now
    {
        draft.timer(None);
        dial(engine, tenant, &mut draft)?;
    }
    let case = draft.commit(engine.store())?;
    Ok(Ingested::Opened(case.id))
}

/// Standard SMS opt-out keywords (the carriers' and Twilio's list).
pub(in crate::engine) const STOP_WORDS: [&str; 8] = [
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

pub(in crate::engine) fn sms_reply(
    engine: &Engine,
    tenant: &Tenant,
    caller: &str,
    text: &str,
    event_id: &str,
) -> Result<SmsReply, EngineError> {
    let tenant_id = &tenant.policy.tenant;
    if engine.store.seen_inbound(tenant_id, event_id)? {
        return Ok(SmsReply::Duplicate);
    }
    let inbound = Some(InboundEvent {
        tenant: tenant_id.clone(),
        id: event_id.to_string(),
        at_ms: engine.clock.now_ms(),
    });
    let CallerCases { open, mut others } = engine.store.caller_cases(tenant_id, caller)?;
    let Some(case) = open.or_else(|| others.pop()) else {
        let opt_out = is_stop_word(text)
            .then(|| (tenant_id.clone(), engine.suppression_id(tenant_id, caller)));
        let stop = opt_out.is_some();
        engine.store.commit(&Step {
            opt_out,
            inbound,
            clock_ms: engine.clock_to_keep(engine.clock.now_ms()),
            ..Step::default()
        })?;
        return Ok(if stop {
            SmsReply::OptedOut(None)
        } else {
            SmsReply::NoCase
        });
    };
    let case_id = case.id.clone();
    let mut draft = engine.new_draft(case, engine.clock.now_ms());
    draft.step_mut().inbound = inbound;
    if is_stop_word(text) {
        draft.opt_out(engine.suppression_id(tenant_id, caller));
        draft.event(Event::OptedOut);
        if draft.case.state.is_open() {
            draft.close("caller opted out by SMS");
        }
        draft.commit(engine.store())?;
        return Ok(SmsReply::OptedOut(Some(case_id)));
    }
    let keep = tenant.policy.retention.keeps(Text::Notes);
    if keep {
        merge_context(
            &mut draft.case.signal.context,
            &[Field::new("sms-reply", text)],
        );
    }
    draft.event(Event::Reply {
        text: keep.then(|| text.to_string()),
    });
    draft.commit(engine.store())?;
    Ok(SmsReply::Joined(case_id))
}
