//! Dead letters: an outbox item whose delivery kept failing is set aside so it stops
//! taking delivery lanes, and its tenant decides what becomes of it. Each move is one step
//! on the item's case, journalled there.

use super::*;
use crate::records::DeadLetter;
use outcome::call_ended;

/// The journal rule every dead-letter move is filed under.
const RULE: &str = "dead-letter";

/// Moves an item from the outbox to its tenant's dead letters.
pub(in crate::engine) fn set_aside(engine: &Engine, dead: DeadLetter) -> Result<(), EngineError> {
    let mut draft = engine.draft(&dead.item.case_id)?;
    draft.event(Event::Guard {
        rule: RULE.into(),
        detail: format!(
            "{} effect {} set aside after {} failed deliveries: {}",
            dead.item.effect.name(),
            dead.item.key,
            dead.failures,
            dead.error
        ),
    });
    draft.step_mut().dead_letter = Some(dead);
    draft.commit(engine.store())?;
    Ok(())
}

/// Puts a dead letter back in the outbox under its own idempotency key, so a provider
/// that did receive an earlier try still acts on it once.
pub(in crate::engine) fn retry(engine: &Engine, dead: DeadLetter) -> Result<(), EngineError> {
    let mut draft = engine.draft(&dead.item.case_id)?;
    draft.event(Event::Guard {
        rule: RULE.into(),
        detail: format!("{} queued again by the tenant", dead.item.key),
    });
    let step = draft.step_mut();
    step.revived = Some((dead.item.tenant.clone(), dead.id));
    step.effects.push(dead.item);
    draft.commit(engine.store())?;
    Ok(())
}

/// Drops a dead letter for good. A dial's attempt then ends as failed, so the cadence
/// plans the case's next step instead of the case waiting for a call that never left.
pub(in crate::engine) fn discard(engine: &Engine, dead: DeadLetter) -> Result<(), EngineError> {
    let mut draft = engine.draft(&dead.item.case_id)?;
    draft.event(Event::Guard {
        rule: RULE.into(),
        detail: format!("{} discarded by the tenant", dead.item.key),
    });
    draft.step_mut().revived = Some((dead.item.tenant.clone(), dead.id));
    if let Effect::Dial { attempt, .. } = dead.item.effect {
        let report = CallReport {
            outcome: AttemptOutcome::Failed("the dial was never delivered".into()),
            answers: vec![],
            transcript: None,
            opt_out: false,
        };
        return call_ended(engine, draft, attempt, report);
    }
    draft.commit(engine.store())?;
    Ok(())
}

/// Drops a dead letter its tenant's retention no longer keeps. Nothing is sent in its place
/// so long after (no dial, no fallback): a case still waiting on it closes.
pub(in crate::engine) fn expire(engine: &Engine, dead: DeadLetter) -> Result<(), EngineError> {
    let mut draft = engine.draft(&dead.item.case_id)?;
    draft.event(Event::Guard {
        rule: RULE.into(),
        detail: format!(
            "{} expired undelivered under the tenant's retention",
            dead.item.key
        ),
    });
    draft.step_mut().revived = Some((dead.item.tenant.clone(), dead.id));
    if draft.case.state.is_open() {
        draft.close("its side effect expired undelivered");
    }
    draft.commit(engine.store())?;
    Ok(())
}
