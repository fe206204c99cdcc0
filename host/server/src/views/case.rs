//! A case as clients see it: who called, what the loop tried, where the case stands and
//! what was decided.

use redial_core::records;
use redial_sdk as sdk;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One recovery case: a caller's missed contact and everything done about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Case {
    /// `{tenant}-{n}`.
    #[schema(example = "lone-star-hvac-00001")]
    pub id: String,
    /// The tenant (business) the case belongs to.
    pub tenant: String,
    /// The caller, E.164.
    #[schema(example = "+15125550196")]
    pub caller: String,
    /// When the first signal arrived (unix ms).
    pub opened_ms: i64,
    /// The first signal, with later signals' context merged in.
    pub signal: Signal,
    /// How many signals joined this case (1 = just the first).
    pub signals: u32,
    /// The trigger plugin's priority (higher is sooner).
    pub priority: u8,
    /// Callback attempts so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// Where the case stands.
    pub state: CaseState,
    /// The pending timer, if any.
    #[schema(required)]
    pub timer: Option<Timer>,
    /// The decision fields, once qualified (redacted per the tenant's retention).
    #[schema(required)]
    pub disposition: Option<Disposition>,
    /// When the first callback was requested (unix ms).
    #[schema(required)]
    pub first_dial_ms: Option<i64>,
    /// CRM operations queued for this case.
    pub crm_operations: u32,
    /// Plugin failures on this case so far.
    pub plugin_failures: u32,
}

impl From<&records::CaseRecord> for Case {
    fn from(c: &records::CaseRecord) -> Self {
        Case {
            id: c.id.clone(),
            tenant: c.tenant.clone(),
            caller: c.caller.clone(),
            opened_ms: c.opened_ms,
            signal: Signal::from(&c.signal),
            signals: c.signals,
            priority: c.priority,
            attempts: c.attempts.iter().map(Attempt::from).collect(),
            state: CaseState::from(&c.state),
            timer: c.timer.map(|t| Timer {
                due_ms: t.due_ms,
                kind: t.kind.into(),
            }),
            disposition: c.disposition.as_ref().map(Disposition::from),
            first_dial_ms: c.first_dial_ms,
            crm_operations: c.crm_operations,
            plugin_failures: c.plugin_failures,
        }
    }
}

/// What kind of contact the caller made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    /// A call nobody answered.
    MissedCall,
    /// A message or inquiry outside business hours.
    AfterHoursInquiry,
    /// A web form whose follow-up call failed.
    FailedCallAfterForm,
    /// A voicemail was left.
    Voicemail,
}

impl From<sdk::SignalKind> for SignalKind {
    fn from(k: sdk::SignalKind) -> Self {
        match k {
            sdk::SignalKind::MissedCall => SignalKind::MissedCall,
            sdk::SignalKind::AfterHoursInquiry => SignalKind::AfterHoursInquiry,
            sdk::SignalKind::FailedCallAfterForm => SignalKind::FailedCallAfterForm,
            sdk::SignalKind::Voicemail => SignalKind::Voicemail,
        }
    }
}

impl From<SignalKind> for sdk::SignalKind {
    fn from(k: SignalKind) -> Self {
        match k {
            SignalKind::MissedCall => sdk::SignalKind::MissedCall,
            SignalKind::AfterHoursInquiry => sdk::SignalKind::AfterHoursInquiry,
            SignalKind::FailedCallAfterForm => sdk::SignalKind::FailedCallAfterForm,
            SignalKind::Voicemail => sdk::SignalKind::Voicemail,
        }
    }
}

/// The contact that opened a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct Signal {
    /// Its kind.
    pub kind: SignalKind,
    /// Who called, E.164.
    pub caller: String,
    /// The business line they called, E.164.
    pub line: String,
    /// When (unix ms).
    pub at_ms: i64,
    /// What is known about the contact (form fields, provider ids, CRM notes).
    pub context: Vec<ContextField>,
}

impl From<&sdk::Signal> for Signal {
    fn from(s: &sdk::Signal) -> Self {
        Signal {
            kind: s.kind.into(),
            caller: s.caller.clone(),
            line: s.line.clone(),
            at_ms: s.at.unix_ms,
            context: s
                .context
                .iter()
                .map(|f| ContextField {
                    key: f.key.clone(),
                    value: f.value.clone(),
                })
                .collect(),
        }
    }
}

/// One piece of context: a key and its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextField {
    /// What it is ("name", "message", "twilio-call-sid"...).
    pub key: String,
    /// Its value.
    pub value: String,
}

/// One callback attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    /// When the call ended (unix ms).
    pub at_ms: i64,
    /// How it ended.
    pub outcome: Outcome,
}

impl From<&sdk::Attempt> for Attempt {
    fn from(a: &sdk::Attempt) -> Self {
        Attempt {
            at_ms: a.at_unix_ms,
            outcome: Outcome::from(&a.outcome),
        }
    }
}

/// How a callback ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Nobody picked up.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// Voicemail answered.
    Voicemail,
    /// The caller declined the call.
    Declined,
    /// The caller asked to be called back at a time.
    CallLater {
        /// When (unix ms).
        at_ms: i64,
    },
    /// A conversation took place.
    Connected,
    /// The call could not be placed.
    Failed {
        /// The provider's reason.
        reason: String,
    },
}

impl From<&sdk::AttemptOutcome> for Outcome {
    fn from(o: &sdk::AttemptOutcome) -> Self {
        match o {
            sdk::AttemptOutcome::NoAnswer => Outcome::NoAnswer,
            sdk::AttemptOutcome::Busy => Outcome::Busy,
            sdk::AttemptOutcome::Voicemail => Outcome::Voicemail,
            sdk::AttemptOutcome::Declined => Outcome::Declined,
            sdk::AttemptOutcome::CallLater(at_ms) => Outcome::CallLater { at_ms: *at_ms },
            sdk::AttemptOutcome::Connected => Outcome::Connected,
            sdk::AttemptOutcome::Failed(reason) => Outcome::Failed {
                reason: reason.clone(),
            },
        }
    }
}

/// The state names, for filtering case lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStateName {
    /// Waiting for the next attempt.
    Waiting,
    /// A callback is queued or in flight.
    Dialing,
    /// With a human owner.
    HandedOff,
    /// In the follow-up queue.
    FollowUp,
    /// Waiting for a person to look at it.
    HumanReview,
    /// Finished without a conversation.
    Closed,
}

impl CaseStateName {
    /// The name of `state`.
    pub fn of(state: &records::CaseState) -> Self {
        use records::CaseState as S;
        match state {
            S::Waiting => CaseStateName::Waiting,
            S::Dialing { .. } => CaseStateName::Dialing,
            S::HandedOff { .. } => CaseStateName::HandedOff,
            S::FollowUp { .. } => CaseStateName::FollowUp,
            S::HumanReview { .. } => CaseStateName::HumanReview,
            S::Closed { .. } => CaseStateName::Closed,
        }
    }
}

/// Where a case stands; open states (`waiting`, `dialing`) absorb the caller's further
/// signals.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CaseState {
    /// Waiting for its next attempt timer.
    Waiting,
    /// A callback is queued or in flight.
    Dialing {
        /// The attempt number (1-based).
        attempt: u32,
    },
    /// With a human owner, SLA running or settled.
    HandedOff {
        /// The owner.
        owner: String,
        /// The SLA deadline (unix ms).
        sla_deadline_ms: i64,
        /// Whether the owner acknowledged.
        acknowledged: bool,
        /// Whether the SLA was breached and escalated.
        breached: bool,
    },
    /// In the follow-up automation queue.
    FollowUp {
        /// What the automation does next.
        next_step: String,
        /// When (unix ms).
        due_ms: i64,
    },
    /// Waiting for a person (an unusable decision, repeated plugin failures).
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

impl From<&records::CaseState> for CaseState {
    fn from(s: &records::CaseState) -> Self {
        use records::CaseState as S;
        match s.clone() {
            S::Waiting => CaseState::Waiting,
            S::Dialing { attempt } => CaseState::Dialing { attempt },
            S::HandedOff {
                owner,
                sla_deadline_ms,
                acknowledged,
                breached,
            } => CaseState::HandedOff {
                owner,
                sla_deadline_ms,
                acknowledged,
                breached,
            },
            S::FollowUp { next_step, due_ms } => CaseState::FollowUp { next_step, due_ms },
            S::HumanReview { reason } => CaseState::HumanReview { reason },
            S::Closed { reason } => CaseState::Closed { reason },
        }
    }
}

/// What a timer does when it fires.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TimerKind {
    /// Place the next callback.
    NextAttempt,
    /// Ask the cadence plugin again after a failed decision.
    Reconsider,
    /// The handoff SLA runs out.
    SlaDeadline,
    /// A placed call's report is overdue: the provider is asked what became of it.
    ReportDue,
    /// Every line of the tenant's voice account is busy: the dial is tried again.
    LineWait,
}

impl From<records::TimerKind> for TimerKind {
    fn from(k: records::TimerKind) -> Self {
        match k {
            records::TimerKind::NextAttempt => TimerKind::NextAttempt,
            records::TimerKind::Reconsider => TimerKind::Reconsider,
            records::TimerKind::SlaDeadline => TimerKind::SlaDeadline,
            records::TimerKind::ReportDue => TimerKind::ReportDue,
            records::TimerKind::LineWait => TimerKind::LineWait,
        }
    }
}

/// A case's pending timer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timer {
    /// When it fires (unix ms).
    pub due_ms: i64,
    /// What it does.
    pub kind: TimerKind,
}

/// How soon a human should act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Today.
    SameDay,
    /// Within the week.
    ThisWeek,
    /// Nurture over time.
    LongTermNurture,
}

impl From<sdk::Urgency> for Urgency {
    fn from(u: sdk::Urgency) -> Self {
        match u {
            sdk::Urgency::SameDay => Urgency::SameDay,
            sdk::Urgency::ThisWeek => Urgency::ThisWeek,
            sdk::Urgency::LongTermNurture => Urgency::LongTermNurture,
        }
    }
}

/// What should happen next.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NextAction {
    /// A human seller calls back.
    SellerCallback,
    /// Send material.
    MaterialSend,
    /// Send a booking link.
    BookingLink,
    /// Hand to follow-up automation.
    AutomatedFollowUp,
}

impl From<sdk::NextAction> for NextAction {
    fn from(a: sdk::NextAction) -> Self {
        match a {
            sdk::NextAction::SellerCallback => NextAction::SellerCallback,
            sdk::NextAction::MaterialSend => NextAction::MaterialSend,
            sdk::NextAction::BookingLink => NextAction::BookingLink,
            sdk::NextAction::AutomatedFollowUp => NextAction::AutomatedFollowUp,
        }
    }
}

/// One qualification field and whether the customer confirmed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualifiedValue {
    /// What was said, if anything.
    #[schema(required)]
    pub value: Option<String>,
    /// Whether the customer confirmed it.
    pub confirmed: bool,
}

impl From<&sdk::QualifiedValue> for QualifiedValue {
    fn from(q: &sdk::QualifiedValue) -> Self {
        QualifiedValue {
            value: q.value.clone(),
            confirmed: q.confirmed,
        }
    }
}

/// The BANT-style fields a seller needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Qualification {
    /// Decision maker, influencer, user...
    pub buying_role: QualifiedValue,
    /// When they want to act.
    pub timeline: QualifiedValue,
    /// What they use today.
    pub existing_system: QualifiedValue,
    /// Budget range.
    pub budget_range: QualifiedValue,
}

/// The decision fields that leave a qualified call.
#[derive(Debug, Serialize, ToSchema)]
pub struct Disposition {
    /// Why they called: a standard code (`pricing-question`, `demo-request`,
    /// `appointment-change`, `support-issue`, `information-request`) or the tenant's own.
    #[schema(example = "pricing-question")]
    pub reason_code: String,
    /// How soon to act.
    pub urgency: Urgency,
    /// The BANT fields.
    pub qualification: Qualification,
    /// What happens next.
    pub next_action: NextAction,
    /// How likely they are to buy, 0 to 100.
    #[schema(maximum = 100)]
    pub intent_score: u8,
    /// One line for the human owner.
    pub summary: String,
}

impl From<&sdk::Disposition> for Disposition {
    fn from(d: &sdk::Disposition) -> Self {
        let q = &d.qualification;
        Disposition {
            reason_code: d.reason_code.name().to_string(),
            urgency: d.urgency.into(),
            qualification: Qualification {
                buying_role: (&q.buying_role).into(),
                timeline: (&q.timeline).into(),
                existing_system: (&q.existing_system).into(),
                budget_range: (&q.budget_range).into(),
            },
            next_action: d.next_action.into(),
            intent_score: d.intent_score,
            summary: d.summary.clone(),
        }
    }
}

/// One answer captured on a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct Answer {
    /// The script question's field id.
    pub field_id: String,
    /// What the customer said, typed as the question asked.
    pub value: AnswerValue,
}

impl From<&sdk::Answer> for Answer {
    fn from(a: &sdk::Answer) -> Self {
        let value = match &a.value {
            sdk::AnswerValue::Text(t) => AnswerValue::Text(t.clone()),
            sdk::AnswerValue::YesNo(b) => AnswerValue::YesNo(*b),
            sdk::AnswerValue::Number(n) => AnswerValue::Number(*n),
            sdk::AnswerValue::Choice(c) => AnswerValue::Choice(c.clone()),
        };
        Answer {
            field_id: a.field_id.clone(),
            value,
        }
    }
}

/// A typed answer: `{"kind": "yes-no", "value": true}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum AnswerValue {
    /// Free text.
    Text(String),
    /// A yes/no answer.
    YesNo(bool),
    /// A number.
    Number(f64),
    /// One of a choice question's options.
    Choice(String),
}
