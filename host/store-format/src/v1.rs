//! Format version 1: every record as the store lays it out, in its own types. Its JSON is
//! the shape the store wrote before formats were versioned, so those values read as
//! version 1 too. Frozen: a change to what is stored is a new version beside this one; only
//! a field that older builds may ignore and newer ones default (`#[serde(default)]`) is
//! added in place.
//!
//! The answers inside read both shapes they were ever written in: typed
//! (`{"field-id", "value"}`) and, from before typed answers, text (`{"field-id", "text"}`).

use super::convert::{record, variants};
use redial_core::records as domain;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ---- the store's records ----

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum CaseState {
    Waiting,
    Dialing {
        attempt: u32,
    },
    HandedOff {
        owner: String,
        sla_deadline_ms: i64,
        acknowledged: bool,
        breached: bool,
    },
    FollowUp {
        next_step: String,
        due_ms: i64,
    },
    HumanReview {
        reason: String,
    },
    Closed {
        reason: String,
    },
}
variants!(CaseState = domain::CaseState {
    Waiting,
    Dialing { attempt },
    HandedOff { owner, sla_deadline_ms, acknowledged, breached },
    FollowUp { next_step, due_ms },
    HumanReview { reason },
    Closed { reason },
});

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimerKind {
    NextAttempt,
    Reconsider,
    SlaDeadline,
    ReportDue,
    LineWait,
}
variants!(
    TimerKind = domain::TimerKind {
        NextAttempt,
        Reconsider,
        SlaDeadline,
        ReportDue,
        LineWait
    }
);

#[derive(Serialize, Deserialize)]
pub struct Timer {
    due_ms: i64,
    kind: TimerKind,
}
record!(Timer = domain::Timer { due_ms, kind });

#[derive(Serialize, Deserialize)]
pub struct CaseRecord {
    id: String,
    tenant: String,
    caller: String,
    opened_ms: i64,
    signal: Signal,
    signals: u32,
    priority: u8,
    attempts: Vec<Attempt>,
    state: CaseState,
    timer: Option<Timer>,
    disposition: Option<Disposition>,
    first_dial_ms: Option<i64>,
    crm_operations: u32,
    journal_len: u32,
    #[serde(default)]
    plugin_failures: u32,
    #[serde(default)]
    changed_ms: i64,
    #[serde(default)]
    asking: Option<Asking>,
}
record!(
    CaseRecord = domain::CaseRecord {
        id,
        tenant,
        caller,
        opened_ms,
        signal,
        signals,
        priority,
        attempts,
        state,
        timer,
        disposition,
        first_dial_ms,
        crm_operations,
        journal_len,
        plugin_failures,
        changed_ms,
        asking,
    }
);

#[derive(Serialize, Deserialize)]
pub struct Asking {
    attempt: u32,
    fields: Vec<(String, AnswerKind)>,
    voicemail: bool,
}
record!(
    Asking = domain::Asking {
        attempt,
        fields,
        voicemail
    }
);

#[derive(Serialize, Deserialize)]
pub struct JournalEntry {
    at_ms: i64,
    event: Event,
}
record!(JournalEntry = domain::JournalEntry { at_ms, event });

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    Signal {
        kind: SignalKind,
        joined: bool,
    },
    Decision {
        slot: String,
        plugin: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        contract: String,
        decision: serde_json::Value,
        cost_us: u64,
    },
    Shadow {
        shadow: ShadowDecision,
    },
    PluginFailed {
        slot: String,
        plugin: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        contract: String,
        error: String,
        fallback: String,
    },
    Guard {
        rule: String,
        detail: String,
    },
    Scheduled {
        due_ms: i64,
    },
    DialRequested {
        attempt: u32,
        key: String,
    },
    CallPlaced {
        attempt: u32,
        provider_id: String,
    },
    CallResult {
        attempt: u32,
        outcome: AttemptOutcome,
        answers: Vec<Answer>,
        transcript: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unanswered: Vec<String>,
    },
    VoicemailLeft {
        attempt: u32,
    },
    Disposition {
        disposition: Disposition,
    },
    CrmQueued {
        operations: u32,
    },
    Delivered {
        key: String,
    },
    HandedOff {
        owner: String,
        sla_deadline_ms: i64,
    },
    Acknowledged,
    SlaBreached {
        escalated_to: String,
    },
    FollowUp {
        next_step: String,
        due_ms: i64,
    },
    HumanReview {
        reason: String,
    },
    FallbackQueued {
        message: String,
    },
    MessageStatus {
        key: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    OptedOut,
    Reply {
        text: Option<String>,
    },
    Closed {
        reason: String,
    },
}
variants!(Event = domain::Event {
    Signal { kind, joined },
    Decision { slot, plugin, contract, decision, cost_us },
    Shadow { shadow },
    PluginFailed { slot, plugin, contract, error, fallback },
    Guard { rule, detail },
    Scheduled { due_ms },
    DialRequested { attempt, key },
    CallPlaced { attempt, provider_id },
    CallResult { attempt, outcome, answers, transcript, unanswered },
    VoicemailLeft { attempt },
    Disposition { disposition },
    CrmQueued { operations },
    Delivered { key },
    HandedOff { owner, sla_deadline_ms },
    Acknowledged,
    SlaBreached { escalated_to },
    FollowUp { next_step, due_ms },
    HumanReview { reason },
    FallbackQueued { message },
    MessageStatus { key, status, error_code },
    OptedOut,
    Reply { text },
    Closed { reason },
});

#[derive(Serialize, Deserialize)]
pub struct OutboxItem {
    key: String,
    tenant: String,
    case_id: String,
    effect: Effect,
}
record!(
    OutboxItem = domain::OutboxItem {
        key,
        tenant,
        case_id,
        effect
    }
);

#[derive(Serialize, Deserialize)]
pub struct SealedSecret {
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
    updated_ms: i64,
}
record!(SealedSecret = domain::SealedSecret { sealed, updated_ms });

#[derive(Serialize, Deserialize)]
pub struct DeadLetter {
    id: u64,
    item: OutboxItem,
    failures: u32,
    error: String,
    at_ms: i64,
}
record!(
    DeadLetter = domain::DeadLetter {
        id,
        item,
        failures,
        error,
        at_ms
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "effect")]
pub enum Effect {
    Dial {
        attempt: u32,
        to: String,
        from: String,
        script: Script,
        known: Vec<Field>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voicemail: Option<String>,
    },
    Sms {
        to: String,
        body: String,
    },
    Crm {
        operation: CrmOperation,
    },
    HandoffNotice {
        owner: String,
        packet: serde_json::Value,
    },
    Escalation {
        to: String,
        owner: String,
    },
    CallLookup {
        attempt: u32,
        provider_id: String,
    },
}
variants!(Effect = domain::Effect {
    Dial { attempt, to, from, script, known, voicemail },
    Sms { to, body },
    Crm { operation },
    HandoffNotice { owner, packet },
    Escalation { to, owner },
    CallLookup { attempt, provider_id },
});

#[derive(Serialize, Deserialize)]
pub struct IgnoredSignal {
    at_ms: i64,
    caller: String,
    kind: SignalKind,
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shadow: Option<ShadowDecision>,
}
record!(
    IgnoredSignal = domain::IgnoredSignal {
        at_ms,
        caller,
        kind,
        reason,
        shadow
    }
);

#[derive(Serialize, Deserialize)]
pub struct ShadowDecision {
    call: String,
    plugin: String,
    decision: Option<serde_json::Value>,
    error: Option<String>,
    changed: Vec<String>,
    cost_us: u64,
}
record!(
    ShadowDecision = domain::ShadowDecision {
        call,
        plugin,
        decision,
        error,
        changed,
        cost_us
    }
);

#[derive(Serialize, Deserialize)]
pub struct TenantCounters {
    signals: u64,
    cases: u64,
    next_owner: u64,
    #[serde(default)]
    states: BTreeMap<String, u64>,
}
record!(
    TenantCounters = domain::TenantCounters {
        signals,
        cases,
        next_owner,
        states
    }
);

#[derive(Serialize, Deserialize)]
pub struct Tombstone {
    deleted_ms: i64,
    purge_after_ms: i64,
}
record!(
    Tombstone = domain::Tombstone {
        deleted_ms,
        purge_after_ms
    }
);

#[derive(Serialize, Deserialize)]
pub struct Funnel {
    signals: u64,
    ignored: u64,
    cases: u64,
    reached: u64,
    qualified: u64,
    handed_off: u64,
    follow_up: u64,
    human_review: u64,
    closed: u64,
    open: u64,
    attempts: u64,
    crm_operations: u64,
    sla_met: u64,
    reason_codes: BTreeMap<String, u64>,
    owners: BTreeMap<String, u64>,
    first_dial_waits: BTreeMap<i64, u64>,
}
record!(
    Funnel = domain::Funnel {
        signals,
        ignored,
        cases,
        reached,
        qualified,
        handed_off,
        follow_up,
        human_review,
        closed,
        open,
        attempts,
        crm_operations,
        sla_met,
        reason_codes,
        owners,
        first_dial_waits,
    }
);

#[derive(Serialize, Deserialize)]
pub struct PluginVersion {
    sha256: String,
    uploaded_ms: i64,
}
record!(
    PluginVersion = domain::PluginVersion {
        sha256,
        uploaded_ms
    }
);

#[derive(Serialize, Deserialize)]
pub struct Trial {
    sha256: String,
    mode: TrialMode,
    started_ms: i64,
}
record!(
    Trial = domain::Trial {
        sha256,
        mode,
        started_ms
    }
);

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum TrialMode {
    Shadow,
    Split { percent: u8 },
}
variants!(TrialMode = domain::TrialMode {
    Shadow,
    Split { percent },
});

// ---- the contract's records inside them, as stored ----

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    MissedCall,
    AfterHoursInquiry,
    FailedCallAfterForm,
    Voicemail,
}
variants!(
    SignalKind = redial_sdk::SignalKind {
        MissedCall,
        AfterHoursInquiry,
        FailedCallAfterForm,
        Voicemail,
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Moment {
    unix_ms: i64,
    utc_offset_minutes: i32,
    local_weekday: u8,
    local_minute: u16,
}
record!(
    Moment = redial_sdk::Moment {
        unix_ms,
        utc_offset_minutes,
        local_weekday,
        local_minute
    }
);

#[derive(Serialize, Deserialize)]
pub struct Field {
    key: String,
    value: String,
}
record!(Field = redial_sdk::Field { key, value });

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Signal {
    kind: SignalKind,
    caller: String,
    line: String,
    at: Moment,
    #[serde(default)]
    context: Vec<Field>,
}
record!(
    Signal = redial_sdk::Signal {
        kind,
        caller,
        line,
        at,
        context
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    NoAnswer,
    Busy,
    Voicemail,
    Declined,
    CallLater(i64),
    Connected,
    Failed(String),
}
variants!(AttemptOutcome = redial_sdk::AttemptOutcome {
    NoAnswer,
    Busy,
    Voicemail,
    Declined,
    CallLater(at),
    Connected,
    Failed(reason),
});

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Attempt {
    at_unix_ms: i64,
    outcome: AttemptOutcome,
}
record!(
    Attempt = redial_sdk::Attempt {
        at_unix_ms,
        outcome
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    FreeText,
    YesNo,
    Number,
    Choice(Vec<String>),
}
variants!(AnswerKind = redial_sdk::AnswerKind { FreeText, YesNo, Number, Choice(options) });

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Question {
    field_id: String,
    text: String,
    kind: AnswerKind,
}
record!(
    Question = redial_sdk::Question {
        field_id,
        text,
        kind
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Script {
    opening: String,
    availability_check: String,
    questions: Vec<Question>,
}
record!(
    Script = redial_sdk::Script {
        opening,
        availability_check,
        questions
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerValue {
    Text(String),
    YesNo(bool),
    Number(f64),
    Choice(String),
}
variants!(AnswerValue = redial_sdk::AnswerValue {
    Text(text),
    YesNo(yes),
    Number(n),
    Choice(option),
});

/// An answer as stored: typed, or (written before typed answers) text.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Typed {
        #[serde(rename = "field-id")]
        field_id: String,
        value: AnswerValue,
    },
    Text {
        #[serde(rename = "field-id")]
        field_id: String,
        text: String,
    },
}

impl super::Convert<redial_sdk::Answer> for Answer {
    fn convert(self) -> redial_sdk::Answer {
        match self {
            Answer::Typed { field_id, value } => redial_sdk::Answer {
                field_id,
                value: super::Convert::convert(value),
            },
            Answer::Text { field_id, text } => redial_sdk::Answer::text(field_id, text),
        }
    }
}

impl super::Convert<Answer> for redial_sdk::Answer {
    fn convert(self) -> Answer {
        Answer::Typed {
            field_id: self.field_id,
            value: super::Convert::convert(self.value),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    PricingQuestion,
    DemoRequest,
    AppointmentChange,
    SupportIssue,
    InformationRequest,
    Custom(String),
}
variants!(ReasonCode = redial_sdk::ReasonCode {
    PricingQuestion,
    DemoRequest,
    AppointmentChange,
    SupportIssue,
    InformationRequest,
    Custom(code),
});

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    SameDay,
    ThisWeek,
    LongTermNurture,
}
variants!(
    Urgency = redial_sdk::Urgency {
        SameDay,
        ThisWeek,
        LongTermNurture
    }
);

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QualifiedValue {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    confirmed: bool,
}
record!(QualifiedValue = redial_sdk::QualifiedValue { value, confirmed });

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Qualification {
    #[serde(default)]
    buying_role: QualifiedValue,
    #[serde(default)]
    timeline: QualifiedValue,
    #[serde(default)]
    existing_system: QualifiedValue,
    #[serde(default)]
    budget_range: QualifiedValue,
}
record!(
    Qualification = redial_sdk::Qualification {
        buying_role,
        timeline,
        existing_system,
        budget_range,
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextAction {
    SellerCallback,
    MaterialSend,
    BookingLink,
    AutomatedFollowUp,
}
variants!(
    NextAction = redial_sdk::NextAction {
        SellerCallback,
        MaterialSend,
        BookingLink,
        AutomatedFollowUp,
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Disposition {
    reason_code: ReasonCode,
    urgency: Urgency,
    qualification: Qualification,
    next_action: NextAction,
    intent_score: u8,
    summary: String,
}
record!(
    Disposition = redial_sdk::Disposition {
        reason_code,
        urgency,
        qualification,
        next_action,
        intent_score,
        summary,
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrmAction {
    Upsert,
    Create,
    Associate,
}
variants!(
    CrmAction = redial_sdk::CrmAction {
        Upsert,
        Create,
        Associate
    }
);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CrmOperation {
    id: String,
    system: String,
    object: String,
    action: CrmAction,
    #[serde(default)]
    match_key: Option<Field>,
    #[serde(default)]
    properties: Vec<Field>,
    #[serde(default)]
    associate: Vec<String>,
}
record!(
    CrmOperation = redial_sdk::CrmOperation {
        id,
        system,
        object,
        action,
        match_key,
        properties,
        associate,
    }
);
