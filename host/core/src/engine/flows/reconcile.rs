//! Stuck calls. A provider that places a call reports on it later by webhook; when that
//! report is lost (a webhook that never came, a provider incident), the attempt would stay
//! `dialing` for ever. So a placed call gets a timer (`callback.report_timeout_minutes`);
//! when it fires the provider is asked (an outbox lookup, delivered like any side effect)
//! and the attempt ends with what it says, or as failed ("no report") so the cadence
//! decides. A report that arrives after that is journalled and changes nothing.

use super::*;
use crate::records::JournalEntry;
use outcome::call_ended;

/// The journal rule a lookup is filed under (they are counted by it).
const RULE: &str = "stuck-call";

/// The journal rule for "the provider says it is still running".
const RUNNING: &str = "stuck-call-running";

/// Lookups of a call before it counts as failed while the provider says it is still running.
const MAX_LOOKUPS: usize = 4;

/// The provider placed the call: journalled with its id, and, while the report is not in
/// yet, a timer set for when it is overdue.
pub(in crate::engine) fn placed(
    engine: &Engine,
    mut draft: Draft,
    attempt: u32,
    provider_id: String,
) -> Result<(), EngineError> {
    draft.event(Event::CallPlaced {
        attempt,
        provider_id,
    });
    if draft.case.state == (CaseState::Dialing { attempt }) {
        let tenant = engine.tenant(&draft.case.tenant)?;
        arm(&tenant, &mut draft);
    }
    draft.commit(engine.store())?;
    Ok(())
}

fn arm(tenant: &Tenant, draft: &mut Draft) {
    let wait = i64::from(tenant.policy.callback.report_timeout_minutes) * MINUTE_MS;
    draft.timer(Some(Timer {
        due_ms: draft.now + wait,
        kind: TimerKind::ReportDue,
    }));
}

/// The report is overdue: the provider is asked what became of the call.
pub(in crate::engine) fn report_overdue(
    engine: &Engine,
    tenant: &Tenant,
    draft: &mut Draft,
) -> Result<(), EngineError> {
    let CaseState::Dialing { attempt } = draft.case.state else {
        return Ok(());
    };
    let journal = engine.store.journal(&draft.case.id)?;
    let placed = journal.iter().rev().find_map(|e| match &e.event {
        Event::CallPlaced {
            attempt: a,
            provider_id,
        } if *a == attempt => Some(provider_id.clone()),
        _ => None,
    });
    let Some(provider_id) = placed else {
        return Ok(());
    };
    let asked = lookups(&journal, attempt);
    draft.event(Event::Guard {
        rule: RULE.into(),
        detail: format!(
            "no report for call #{attempt} after {} min; asking the provider",
            tenant.policy.callback.report_timeout_minutes * (asked as u32 + 1)
        ),
    });
    draft.effect(
        &format!("lookup/{attempt}/{}", asked + 1),
        Effect::CallLookup {
            attempt,
            provider_id,
        },
    );
    Ok(())
}

/// Lookups asked for `attempt` so far.
fn lookups(journal: &[JournalEntry], attempt: u32) -> usize {
    journal
        .iter()
        .rev()
        .take_while(|e| !matches!(e.event, Event::CallPlaced { attempt: a, .. } if a == attempt))
        .filter(|e| matches!(&e.event, Event::Guard { rule, .. } if rule == RULE))
        .count()
}

/// What the provider said of the call: ended (its report ends the attempt), still running
/// (asked again after another timeout, up to [`MAX_LOOKUPS`] times), or unknown to it
/// (the attempt fails with "no report").
pub(in crate::engine) fn looked_up(
    engine: &Engine,
    mut draft: Draft,
    attempt: u32,
    delivery: Delivery,
) -> Result<(), EngineError> {
    if draft.case.state != (CaseState::Dialing { attempt }) {
        // The webhook came meanwhile: it decided.
        draft.event(Event::Guard {
            rule: "late-report".into(),
            detail: format!(
                "the provider's answer about call #{attempt} came after its report; ignored"
            ),
        });
        draft.commit(engine.store())?;
        return Ok(());
    }
    match delivery {
        Delivery::CallEnded(report) => call_ended(engine, draft, attempt, report),
        Delivery::CallRunning
            if lookups(&engine.store.journal(&draft.case.id)?, attempt) < MAX_LOOKUPS =>
        {
            let tenant = engine.tenant(&draft.case.tenant)?;
            draft.event(Event::Guard {
                rule: RUNNING.into(),
                detail: format!("call #{attempt} is still running, says the provider"),
            });
            arm(&tenant, &mut draft);
            draft.commit(engine.store())?;
            Ok(())
        }
        _ => call_ended(
            engine,
            draft,
            attempt,
            no_report("no report from the provider"),
        ),
    }
}

fn no_report(why: &str) -> CallReport {
    CallReport {
        outcome: AttemptOutcome::Failed(why.into()),
        answers: vec![],
        transcript: None,
        opt_out: false,
    }
}
