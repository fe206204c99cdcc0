//! What the store holds: case projections, journal events, timers and outbox effects.

use redial_sdk::{
    Answer, AnswerKind, Attempt, AttemptOutcome, Disposition, Field, Script, Signal, SignalKind,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a case stands. Open states keep the caller's "one open case" slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum CaseState {
    /// Waiting for its next attempt timer.
    Waiting,
    /// A dial is queued or in flight; no other dial may start.
    Dialing {
        /// The attempt number (1-based).
        attempt: u32,
    },
    /// With a human owner, SLA running or settled.
    HandedOff {
        /// The owner.
        owner: String,
        /// SLA deadline (unix ms).
        sla_deadline_ms: i64,
        /// The owner acknowledged.
        acknowledged: bool,
        /// The SLA was breached and escalated.
        breached: bool,
    },
    /// In the follow-up automation queue.
    FollowUp {
        /// What the automation does next.
        next_step: String,
        /// When (unix ms).
        due_ms: i64,
    },
    /// Waiting for a person to look at it (bad disposition, plugin failure).
    HumanReview {
        /// Why.
        reason: String,
    },
    /// Finished without a conversation (ignored, gave up, fallback sent, opted out).
    Closed {
        /// Why.
        reason: String,
    },
}

impl CaseState {
    /// Open cases absorb further signals from the same caller.
    pub fn is_open(&self) -> bool {
        matches!(self, CaseState::Waiting | CaseState::Dialing { .. })
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Waiting => "waiting",
            CaseState::Dialing { .. } => "dialing",
            CaseState::HandedOff { .. } => "handed-off",
            CaseState::FollowUp { .. } => "follow-up",
            CaseState::HumanReview { .. } => "human-review",
            CaseState::Closed { .. } => "closed",
        }
    }
}

/// A timer the scheduler fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimerKind {
    /// Place the next callback attempt.
    NextAttempt,
    /// Ask the cadence plugin again (after a failed decision).
    Reconsider,
    /// The handoff SLA runs out.
    SlaDeadline,
    /// A placed call's final report is overdue: ask the provider what became of it.
    ReportDue,
    /// Every line of the tenant's voice account is busy: try the dial again (rounds are
    /// aligned, the most urgent case first within one).
    LineWait,
}

/// A scheduled timer of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// When it fires (unix ms).
    pub due_ms: i64,
    /// What it does.
    pub kind: TimerKind,
}

/// The projection of a case: everything the engine needs to take its next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// `{tenant}-{n}`.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The caller (E.164).
    pub caller: String,
    /// When the first signal arrived.
    pub opened_ms: i64,
    /// The first signal, with later signals' context merged in.
    pub signal: Signal,
    /// Signals joined to this case (1 = just the first).
    pub signals: u32,
    /// Trigger priority.
    pub priority: u8,
    /// Callback attempts so far.
    pub attempts: Vec<Attempt>,
    /// Current state.
    pub state: CaseState,
    /// The pending timer, if any.
    pub timer: Option<Timer>,
    /// The decision fields, once qualified (redacted per retention).
    pub disposition: Option<Disposition>,
    /// When the first dial was requested.
    pub first_dial_ms: Option<i64>,
    /// Number of CRM operations queued.
    pub crm_operations: u32,
    /// Journal length (next sequence number).
    pub journal_len: u32,
    /// Plugin failures so far (bounds "retry later").
    #[serde(default)]
    pub plugin_failures: u32,
    /// When a step last changed the case (unix ms; 0 in records written before it was
    /// kept): retention counts from here.
    #[serde(default)]
    pub changed_ms: i64,
    /// What the attempt in progress asked of the voice provider (set when its dial is
    /// queued): its report's answers are typed against it.
    #[serde(default)]
    pub asking: Option<Asking>,
}

/// What one attempt asked the voice provider to do: extract each question's answer as its
/// kind says, and leave a voicemail message or not. The report is read against it, so an
/// answer of the wrong type is recorded as unanswered rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asking {
    /// The attempt.
    pub attempt: u32,
    /// Each question's field id and the kind its answer must have.
    pub fields: Vec<(String, AnswerKind)>,
    /// Whether the dial asked for a voicemail message to be left on voicemail.
    pub voicemail: bool,
}

impl CaseRecord {
    /// A case just opened by `signal`: waiting, with no attempts, timer or journal yet. The
    /// one place that knows what a new case starts with.
    pub fn new(id: String, tenant: String, signal: Signal, priority: u8, opened_ms: i64) -> Self {
        CaseRecord {
            id,
            tenant,
            caller: signal.caller.clone(),
            opened_ms,
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
            changed_ms: opened_ms,
            asking: None,
        }
    }

    /// Whether the host has nothing left to do for the case: not open and no timer
    /// pending (its outbox items are another matter: see the retention purge).
    pub fn is_settled(&self) -> bool {
        !self.state.is_open() && self.timer.is_none()
    }
}

/// One journal entry: what happened to a case, when, and (for decisions) by which plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When (unix ms, engine clock).
    pub at_ms: i64,
    /// What.
    pub event: Event,
}

/// Journal events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// A signal opened or joined the case.
    Signal {
        /// Its kind.
        kind: SignalKind,
        /// Whether it joined an open case.
        joined: bool,
    },
    /// A plugin decided.
    Decision {
        /// Slot (and function).
        slot: String,
        /// sha256 of the component that decided.
        plugin: String,
        /// The `redial:policy` contract version the plugin was built against (empty in
        /// journals written before it was recorded).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        contract: String,
        /// The decision, as JSON.
        decision: serde_json::Value,
        /// Cost in µs.
        cost_us: u64,
    },
    /// A candidate on shadow trial decided beside the live plugin: kept for comparison,
    /// with no effect on the case.
    Shadow {
        /// What it decided and how that differs from the live decision.
        shadow: ShadowDecision,
    },
    /// A plugin failed; the policy's safe default applied.
    PluginFailed {
        /// Slot.
        slot: String,
        /// sha256 of the component.
        plugin: String,
        /// The contract version the plugin was built against (as for `Decision`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        contract: String,
        /// Error kind and message.
        error: String,
        /// What the host did instead.
        fallback: String,
    },
    /// The host overrode or adjusted a decision to keep a guarantee.
    Guard {
        /// Which guarantee.
        rule: String,
        /// What was changed.
        detail: String,
    },
    /// An attempt was scheduled.
    Scheduled {
        /// When (unix ms).
        due_ms: i64,
    },
    /// A dial was queued.
    DialRequested {
        /// Attempt number.
        attempt: u32,
        /// Idempotency key.
        key: String,
    },
    /// A dial reached the provider, which placed the call and reports on it later.
    CallPlaced {
        /// Attempt number.
        attempt: u32,
        /// The provider's call id (what a lookup asks about).
        provider_id: String,
    },
    /// A call ended.
    CallResult {
        /// Attempt number.
        attempt: u32,
        /// Outcome.
        outcome: AttemptOutcome,
        /// Answers (kept only under `full` retention).
        answers: Vec<Answer>,
        /// Transcript (kept only under `full` retention).
        transcript: Option<String>,
        /// Field ids the script asked about whose answer was missing or not of the
        /// question's kind: unanswered, never guessed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unanswered: Vec<String>,
    },
    /// The provider reached voicemail and left the message the attempt asked for.
    VoicemailLeft {
        /// Attempt number.
        attempt: u32,
    },
    /// The decision fields (redacted per retention).
    Disposition {
        /// The fields.
        disposition: Disposition,
    },
    /// CRM operations were queued for delivery.
    CrmQueued {
        /// How many.
        operations: u32,
    },
    /// A side effect was delivered.
    Delivered {
        /// Idempotency key.
        key: String,
    },
    /// Handed to a human.
    HandedOff {
        /// The owner.
        owner: String,
        /// SLA deadline.
        sla_deadline_ms: i64,
    },
    /// The owner acknowledged.
    Acknowledged,
    /// The SLA ran out; escalated.
    SlaBreached {
        /// Who was alerted.
        escalated_to: String,
    },
    /// Queued for follow-up automation.
    FollowUp {
        /// The step.
        next_step: String,
        /// When.
        due_ms: i64,
    },
    /// Sent to human review.
    HumanReview {
        /// Why.
        reason: String,
    },
    /// A fallback message was queued.
    FallbackQueued {
        /// The message.
        message: String,
    },
    /// The SMS provider said what became of a message it was given (Twilio's status
    /// callback): `delivered`, `undelivered` or `failed`.
    MessageStatus {
        /// The outbox item's idempotency key.
        key: String,
        /// The final status.
        status: String,
        /// The provider's error code, when it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    /// The caller opted out.
    OptedOut,
    /// The caller replied to a message (text kept unless retention is `zero`).
    Reply {
        /// What they wrote.
        text: Option<String>,
    },
    /// The case closed.
    Closed {
        /// Why.
        reason: String,
    },
}

impl Event {
    /// For a failure of `slot`'s plugin, its kind ("deadline", "trap", "suspended"...): the
    /// part of the recorded error before the first colon.
    pub fn plugin_failure_kind(&self, slot: &str) -> Option<&str> {
        match self {
            Event::PluginFailed {
                slot: failed,
                error,
                ..
            } if failed == slot => error.split(':').next(),
            _ => None,
        }
    }
}

/// A side effect to deliver at least once; the key makes redelivery harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Idempotency key, unique per effect.
    pub key: String,
    /// Tenant.
    pub tenant: String,
    /// Case.
    pub case_id: String,
    /// What to do.
    pub effect: Effect,
}

/// An outbox item whose delivery kept failing, set aside after the host's last retry so it
/// stops taking lanes; its tenant can see it and retry or discard it (the API's
/// dead-letter routes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The outbox id it had (its id among the tenant's dead letters too).
    pub id: u64,
    /// The side effect, as it was queued.
    pub item: OutboxItem,
    /// Deliveries tried.
    pub failures: u32,
    /// The last failure, as the connector reported it.
    pub error: String,
    /// When it was set aside (unix ms).
    pub at_ms: i64,
}

/// Side effects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "effect")]
pub enum Effect {
    /// Place a callback.
    Dial {
        /// Attempt number.
        attempt: u32,
        /// Number to call.
        to: String,
        /// Business line to call from.
        from: String,
        /// What the AI says.
        script: Script,
        /// Known context for the assistant.
        known: Vec<Field>,
        /// What to say if the call reaches voicemail (`[callback.voicemail]`); none: the
        /// assistant's own voicemail setting applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voicemail: Option<String>,
    },
    /// Send an SMS (fallback).
    Sms {
        /// Recipient.
        to: String,
        /// Text (link appended).
        body: String,
    },
    /// One CRM operation.
    Crm {
        /// The operation.
        operation: redial_sdk::CrmOperation,
    },
    /// Tell an owner a case is theirs.
    HandoffNotice {
        /// The owner.
        owner: String,
        /// The packet: decision fields and, retention permitting, what the customer said.
        packet: serde_json::Value,
    },
    /// Tell the escalation contact an SLA was breached.
    Escalation {
        /// Who.
        to: String,
        /// The owner who missed it.
        owner: String,
    },
    /// Ask the voice provider what became of a placed call whose report is overdue.
    CallLookup {
        /// Attempt number.
        attempt: u32,
        /// The provider's call id.
        provider_id: String,
    },
}

impl Effect {
    /// Short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Dial { .. } => "dial",
            Effect::Sms { .. } => "sms",
            Effect::Crm { .. } => "crm",
            Effect::HandoffNotice { .. } => "handoff",
            Effect::Escalation { .. } => "escalation",
            Effect::CallLookup { .. } => "call-lookup",
        }
    }
}

/// A signal that started no case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IgnoredSignal {
    /// When.
    pub at_ms: i64,
    /// Who called.
    pub caller: String,
    /// What kind.
    pub kind: SignalKind,
    /// Why it was ignored.
    pub reason: String,
    /// What a trigger on shadow trial decided instead (it may have recovered the signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowDecision>,
}

/// Per-tenant counters for the funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCounters {
    /// Signals received.
    pub signals: u64,
    /// Cases opened.
    pub cases: u64,
    /// Round-robin position.
    pub next_owner: u64,
    /// How many of the tenant's cases are in each state, by state name: kept by every step
    /// in this same record (one write), so `/metrics` reads one record, not every case.
    #[serde(default)]
    pub states: BTreeMap<String, u64>,
}

/// A tenant's funnel figures: computed from its cases, and kept as a rollup for the cases
/// retention or erasure purged (counts, not people), so reports stay whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    /// Signals received.
    pub signals: u64,
    /// Signals that started no case.
    pub ignored: u64,
    /// Cases opened.
    pub cases: u64,
    /// Cases where the customer was reached.
    pub reached: u64,
    /// Cases with decision fields.
    pub qualified: u64,
    /// Cases with a human owner.
    pub handed_off: u64,
    /// Cases in the follow-up queue.
    pub follow_up: u64,
    /// Cases in human review.
    pub human_review: u64,
    /// Cases closed without a conversation.
    pub closed: u64,
    /// Cases still open.
    pub open: u64,
    /// Dials placed.
    pub attempts: u64,
    /// CRM operations queued.
    pub crm_operations: u64,
    /// Handoffs acknowledged within SLA.
    pub sla_met: u64,
    /// Reason codes and their counts.
    pub reason_codes: BTreeMap<String, u64>,
    /// Handoffs per owner.
    pub owners: BTreeMap<String, u64>,
    /// Signal-to-first-dial waits: ms (three significant figures in a rollup) → cases.
    #[serde(default)]
    pub first_dial_waits: BTreeMap<i64, u64>,
}

impl Funnel {
    /// Counts one case in (its state, attempts, decision fields, owner, first dial wait).
    pub fn add_case(&mut self, case: &CaseRecord) {
        self.cases += 1;
        self.attempts += case.attempts.len() as u64;
        self.crm_operations += u64::from(case.crm_operations);
        if reached(&case.attempts) {
            self.reached += 1;
        }
        if let Some(d) = &case.disposition {
            self.qualified += 1;
            *self
                .reason_codes
                .entry(d.reason_code.name().to_string())
                .or_default() += 1;
        }
        if let Some(first) = case.first_dial_ms {
            *self
                .first_dial_waits
                .entry(first - case.opened_ms)
                .or_default() += 1;
        }
        match &case.state {
            CaseState::HandedOff {
                owner,
                acknowledged,
                breached,
                ..
            } => {
                self.handed_off += 1;
                *self.owners.entry(owner.clone()).or_default() += 1;
                if *acknowledged && !*breached {
                    self.sla_met += 1;
                }
            }
            CaseState::FollowUp { .. } => self.follow_up += 1,
            CaseState::HumanReview { .. } => self.human_review += 1,
            CaseState::Closed { .. } => self.closed += 1,
            CaseState::Waiting | CaseState::Dialing { .. } => self.open += 1,
        }
    }

    /// Counts a purged case into this rollup: as [`Funnel::add_case`], with its wait
    /// rounded to three significant figures, so the rollup's size does not grow with the
    /// cases it counts.
    pub fn roll_up(&mut self, case: &CaseRecord) {
        let mut alone = Funnel::default();
        alone.add_case(case);
        alone.first_dial_waits = alone
            .first_dial_waits
            .into_iter()
            .map(|(wait, n)| (three_figures(wait), n))
            .collect();
        self.merge(alone);
    }

    /// Adds another funnel's counts to this one.
    pub fn merge(&mut self, other: Funnel) {
        self.signals += other.signals;
        self.ignored += other.ignored;
        self.cases += other.cases;
        self.reached += other.reached;
        self.qualified += other.qualified;
        self.handed_off += other.handed_off;
        self.follow_up += other.follow_up;
        self.human_review += other.human_review;
        self.closed += other.closed;
        self.open += other.open;
        self.attempts += other.attempts;
        self.crm_operations += other.crm_operations;
        self.sla_met += other.sla_met;
        for (maps, theirs) in [
            (&mut self.reason_codes, other.reason_codes),
            (&mut self.owners, other.owners),
        ] {
            for (k, n) in theirs {
                *maps.entry(k).or_default() += n;
            }
        }
        for (wait, n) in other.first_dial_waits {
            *self.first_dial_waits.entry(wait).or_default() += n;
        }
    }

    /// The signal-to-first-dial wait at the 50th percentile of the counted cases, in ms.
    pub fn median_first_dial_ms(&self) -> Option<i64> {
        let total: u64 = self.first_dial_waits.values().sum();
        let mut seen = 0;
        for (wait, n) in &self.first_dial_waits {
            seen += n;
            if seen > total / 2 {
                return Some(*wait);
            }
        }
        None
    }
}

/// `ms` rounded to three significant figures.
fn three_figures(ms: i64) -> i64 {
    let mut scale = 1;
    while ms.abs() / scale >= 1000 {
        scale *= 10;
    }
    (ms + ms.signum() * scale / 2) / scale * scale
}

/// Whether an attempt reached the customer.
pub fn reached(attempts: &[Attempt]) -> bool {
    attempts
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Connected)
}

/// One of a tenant's secrets as the store keeps it: sealed (see
/// [`crate::secrets::SecretKey::seal`]), never in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Nonce and ciphertext.
    pub sealed: Vec<u8>,
    /// When it was last set (unix ms).
    pub updated_ms: i64,
}

/// A deleted tenant, until its data is purged: it serves nothing, and its id cannot be
/// taken again before the purge, so a new tenant never sees the old one's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// When it was deleted (unix ms).
    pub deleted_ms: i64,
    /// When its data is purged (unix ms): the operator's grace period after deletion.
    pub purge_after_ms: i64,
}

/// A candidate plugin tried beside a slot's live plugin before it takes over: in shadow
/// (it decides on the same inputs, its decisions are journalled and have no effect) or on
/// a split (it decides for a stable share of callers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// sha256 of the candidate component.
    pub sha256: String,
    /// Shadow or split.
    pub mode: TrialMode,
    /// When the trial started (unix ms): its report counts from here.
    pub started_ms: i64,
}

/// How a candidate is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum TrialMode {
    /// Beside the live plugin on every decision, without effect.
    Shadow,
    /// Live for the callers whose hash falls in the first `percent` of 100 buckets.
    Split {
        /// The candidate's share of callers, 1 to 99.
        percent: u8,
    },
}

/// A shadow candidate's decision, set beside the live one it shadowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowDecision {
    /// The call (`trigger`, `cadence`, `qualify.script`, `qualify.evaluate`, `crm`).
    pub call: String,
    /// sha256 of the candidate.
    pub plugin: String,
    /// The candidate's decision (redacted as the live one is), when it made one.
    pub decision: Option<serde_json::Value>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The fields in which it differs from the live decision (see the replay's).
    pub changed: Vec<String>,
    /// Its cost in µs.
    pub cost_us: u64,
}

/// One uploaded plugin version of a tenant's slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    /// sha256 of the component.
    pub sha256: String,
    /// When it was uploaded (unix ms).
    pub uploaded_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_journalled_before_contracts_were_recorded_still_reads() {
        let old = r#"{"event":"decision","slot":"trigger","plugin":"ab12","decision":{"recover":{}},"cost_us":9}"#;
        let Event::Decision { contract, .. } = serde_json::from_str::<Event>(old).unwrap() else {
            panic!("not a decision");
        };
        assert_eq!(contract, "");
        let new = Event::Decision {
            slot: "trigger".into(),
            plugin: "ab12".into(),
            contract: "0.1.0".into(),
            decision: serde_json::Value::Null,
            cost_us: 9,
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.contains(r#""contract":"0.1.0""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), new);
    }
}
