//! Steps that start from something the caller did: a signal, an SMS reply.

use super::*;

pub(in crate::engine) fn ingest(
    e: &Engine,
    t: &Tenant,
    s: SignalIn,
) -> Result<Ingested, EngineError> {
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

    // One read of the caller's cases answers both "is one open?" and the trigger's history.
    let CallerCases {
        open,
        others: prior,
    } = e.store.caller_cases(&policy.tenant, &s.caller)?;
    if let Some(case) = open {
        let case_id = case.id.clone();
        let mut d = e.new_draft(case, now);
        merge_context(&mut d.case.signal.context, &signal.context);
        d.case.signals += 1;
        d.event(Event::Signal {
            kind: s.kind,
            joined: true,
        });
        d.step_mut().counters = Some((policy.tenant.clone(), counters));
        d.step_mut().inbound = inbound;
        d.commit(e.store())?;
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
            clock_ms: e.clock_to_keep(now),
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
    let (priority, known, first_events, review) =
        match guarded(e, t, Slot::Trigger, || e.runtime.trigger(plugin, input)) {
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
    let case = CaseRecord::new(id, policy.tenant.clone(), signal, priority, now);
    let mut d = e.new_draft(case, now);
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
    // A first call due now is placed in this same step: one commit instead of two, and
    // the dial request is in the outbox the moment the signal is acknowledged.
    if let Some(timer) = d.case.timer
        && timer.kind == TimerKind::NextAttempt
        && timer.due_ms <= now
    {
        d.timer(None);
        dial(e, t, &mut d)?;
    }
    let case = d.commit(e.store())?;
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
    let CallerCases { open, mut others } = e.store.caller_cases(tenant, caller)?;
    let Some(case) = open.or_else(|| others.pop()) else {
        let opt_out = is_stop_word(text).then(|| (tenant.clone(), caller.to_string()));
        let stop = opt_out.is_some();
        e.store.commit(&Step {
            opt_out,
            inbound,
            clock_ms: e.clock_to_keep(e.clock.now_ms()),
            ..Step::default()
        })?;
        return Ok(if stop {
            SmsReply::OptedOut(None)
        } else {
            SmsReply::NoCase
        });
    };
    let case_id = case.id.clone();
    let mut d = e.new_draft(case, e.clock.now_ms());
    d.step_mut().inbound = inbound;
    if is_stop_word(text) {
        d.opt_out();
        d.event(Event::OptedOut);
        if d.case.state.is_open() {
            d.close("caller opted out by SMS");
        }
        d.commit(e.store())?;
        return Ok(SmsReply::OptedOut(Some(case_id)));
    }
    let keep = t.policy.retention != Retention::Zero;
    if keep {
        merge_context(&mut d.case.signal.context, &[Field::new("sms-reply", text)]);
    }
    d.event(Event::Reply {
        text: keep.then(|| text.to_string()),
    });
    d.commit(e.store())?;
    Ok(SmsReply::Joined(case_id))
}
