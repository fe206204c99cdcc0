//! A case's journal as clients see it: every signal, decision, guard, call and delivery,
//! in order.

use super::case::{Answer, Disposition, Outcome, SignalKind};
use redial_core::records;
use serde::Serialize;
use utoipa::ToSchema;

/// One journal entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct JournalEntry {
    /// When (unix ms, engine clock).
    pub at_ms: i64,
    /// What happened.
    pub event: Event,
}

impl From<&records::JournalEntry> for JournalEntry {
    fn from(e: &records::JournalEntry) -> Self {
        JournalEntry {
            at_ms: e.at_ms,
            event: Event::from(&e.event),
        }
    }
}

/// What happened to a case, tagged by `event`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
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
        /// The slot (and function).
        slot: String,
        /// sha256 of the component that decided.
        plugin: String,
        /// The `redial:policy` contract version it was built against (empty when unknown).
        contract: String,
        /// The decision, as the contract's JSON form.
        decision: serde_json::Value,
        /// What the call cost, in µs.
        cost_us: u64,
    },
    /// A candidate on shadow trial decided beside the live plugin, with no effect.
    Shadow {
        /// What it decided and how that differs from the live decision.
        shadow: super::ShadowDecision,
    },
    /// A plugin failed; the policy's safe default applied.
    PluginFailed {
        /// The slot.
        slot: String,
        /// sha256 of the component.
        plugin: String,
        /// Its contract version (empty when unknown).
        contract: String,
        /// Error kind and message.
        error: String,
        /// What the host did instead.
        fallback: String,
    },
    /// The host adjusted a decision to keep a guarantee.
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
    /// A callback was queued.
    DialRequested {
        /// The attempt number.
        attempt: u32,
        /// Its idempotency key.
        key: String,
    },
    /// The provider placed the call; its report comes later.
    CallPlaced {
        /// The attempt number.
        attempt: u32,
        /// The provider's call id.
        provider_id: String,
    },
    /// A call ended.
    CallResult {
        /// The attempt number.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
        /// The answers (kept only under `full` retention).
        answers: Vec<Answer>,
        /// The transcript (kept only under `full` retention).
        #[schema(required)]
        transcript: Option<String>,
        /// Field ids the script asked about whose answer was missing or not of the
        /// question's kind: unanswered, never guessed.
        unanswered: Vec<String>,
    },
    /// The provider reached voicemail and left the message the attempt asked for.
    VoicemailLeft {
        /// The attempt number.
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
        /// Its idempotency key.
        key: String,
    },
    /// Handed to a human.
    HandedOff {
        /// The owner.
        owner: String,
        /// The SLA deadline (unix ms).
        sla_deadline_ms: i64,
    },
    /// The owner acknowledged.
    Acknowledged,
    /// The SLA ran out and was escalated.
    SlaBreached {
        /// Who was alerted.
        escalated_to: String,
    },
    /// Queued for follow-up automation.
    FollowUp {
        /// The step.
        next_step: String,
        /// When (unix ms).
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
    /// The SMS provider's final word on a fallback message (Twilio's status callback).
    MessageStatus {
        /// The outbox item's idempotency key.
        key: String,
        /// `delivered`, `undelivered` or `failed`.
        status: String,
        /// The provider's error code, when it gave one.
        #[schema(required)]
        error_code: Option<String>,
    },
    /// The caller opted out.
    OptedOut,
    /// The caller replied to a message.
    Reply {
        /// What they wrote (absent under `zero` retention).
        #[schema(required)]
        text: Option<String>,
    },
    /// The case closed.
    Closed {
        /// Why.
        reason: String,
    },
}

impl From<&records::Event> for Event {
    fn from(e: &records::Event) -> Self {
        use records::Event as E;
        match e.clone() {
            E::Signal { kind, joined } => Event::Signal {
                kind: kind.into(),
                joined,
            },
            E::Decision {
                slot,
                plugin,
                contract,
                decision,
                cost_us,
            } => Event::Decision {
                slot,
                plugin,
                contract,
                decision,
                cost_us,
            },
            E::Shadow { shadow } => Event::Shadow {
                shadow: shadow.into(),
            },
            E::PluginFailed {
                slot,
                plugin,
                contract,
                error,
                fallback,
            } => Event::PluginFailed {
                slot,
                plugin,
                contract,
                error,
                fallback,
            },
            E::Guard { rule, detail } => Event::Guard { rule, detail },
            E::Scheduled { due_ms } => Event::Scheduled { due_ms },
            E::DialRequested { attempt, key } => Event::DialRequested { attempt, key },
            E::CallPlaced {
                attempt,
                provider_id,
            } => Event::CallPlaced {
                attempt,
                provider_id,
            },
            E::CallResult {
                attempt,
                outcome,
                answers,
                transcript,
                unanswered,
            } => Event::CallResult {
                attempt,
                outcome: Outcome::from(&outcome),
                answers: answers.iter().map(Answer::from).collect(),
                transcript,
                unanswered,
            },
            E::VoicemailLeft { attempt } => Event::VoicemailLeft { attempt },
            E::Disposition { disposition } => Event::Disposition {
                disposition: Disposition::from(&disposition),
            },
            E::CrmQueued { operations } => Event::CrmQueued { operations },
            E::Delivered { key } => Event::Delivered { key },
            E::HandedOff {
                owner,
                sla_deadline_ms,
            } => Event::HandedOff {
                owner,
                sla_deadline_ms,
            },
            E::Acknowledged => Event::Acknowledged,
            E::SlaBreached { escalated_to } => Event::SlaBreached { escalated_to },
            E::FollowUp { next_step, due_ms } => Event::FollowUp { next_step, due_ms },
            E::HumanReview { reason } => Event::HumanReview { reason },
            E::FallbackQueued { message } => Event::FallbackQueued { message },
            E::MessageStatus {
                key,
                status,
                error_code,
            } => Event::MessageStatus {
                key,
                status,
                error_code,
            },
            E::OptedOut => Event::OptedOut,
            E::Reply { text } => Event::Reply { text },
            E::Closed { reason } => Event::Closed { reason },
        }
    }
}
