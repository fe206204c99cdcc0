//! A step in the making: the engine edits a copy of the case, records events and effects,
//! then commits everything as one atomic store step.

use crate::policy::{Retention, Text};
use crate::records::{CaseRecord, CaseState, Effect, Event, JournalEntry, OutboxItem, Timer};
use crate::store::{Step, Store, StoreError};

/// Accumulates one atomic change to one case.
pub(super) struct Draft {
    pub case: CaseRecord,
    pub now: i64,
    step: Step,
    /// What the case's tenant lets be kept (the signal's context, once the case settles).
    retention: Retention,
}

impl Draft {
    /// Starts editing `case` at time `now`, under its tenant's `retention`.
    pub fn new(case: CaseRecord, now: i64, retention: Retention) -> Self {
        let step = Step {
            previous_timer: case.timer,
            previous_state: Some(case.state.name()),
            ..Step::default()
        };
        Draft {
            case,
            now,
            step,
            retention,
        }
    }

    /// Appends a journal event.
    pub fn event(&mut self, event: Event) {
        self.case.journal_len += 1;
        self.step.events.push(JournalEntry {
            at_ms: self.now,
            event,
        });
    }

    /// Queues a side effect under an idempotency key unique to this case.
    pub fn effect(&mut self, suffix: &str, effect: Effect) -> String {
        let key = format!("{}/{suffix}", self.case.id);
        self.step.effects.push(OutboxItem {
            key: key.clone(),
            tenant: self.case.tenant.clone(),
            case_id: self.case.id.clone(),
            effect,
        });
        key
    }

    /// Sets (or clears) the case's one pending timer.
    pub fn timer(&mut self, timer: Option<Timer>) {
        self.case.timer = timer;
    }

    /// Moves the case to a new state.
    pub fn state(&mut self, state: CaseState) {
        self.case.state = state;
    }

    /// Closes the case with a reason.
    pub fn close(&mut self, reason: &str) {
        self.timer(None);
        self.state(CaseState::Closed {
            reason: reason.into(),
        });
        self.event(Event::Closed {
            reason: reason.into(),
        });
    }

    /// Marks an outbox item as delivered by this step.
    pub fn consume(&mut self, outbox_id: u64) {
        self.step.consumed = Some(outbox_id);
    }

    /// Records an opt-out under its suppression id (see [`Engine::suppression_id`]).
    ///
    /// [`Engine::suppression_id`]: super::Engine::suppression_id
    pub fn opt_out(&mut self, entry: String) {
        self.step.opt_out = Some((self.case.tenant.clone(), entry));
    }

    /// Gives access to the rest of the step (counters, clock).
    pub fn step_mut(&mut self) -> &mut Step {
        &mut self.step
    }

    /// Writes the whole change atomically. The case is stamped with the step's time, and a
    /// case no longer open drops the signal's free text unless retention keeps it.
    pub fn commit(mut self, store: &dyn Store) -> Result<CaseRecord, StoreError> {
        self.case.changed_ms = self.now;
        if !self.case.state.is_open() && !self.retention.keeps(Text::OpenCaseContext) {
            self.case.signal.context.clear();
        }
        // Moved, not cloned: the store keeps its own copy of what it wrote.
        self.step.case = Some(self.case);
        store.commit(&self.step)?;
        Ok(self.step.case.take().expect("set above"))
    }
}
