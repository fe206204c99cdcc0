//! The WIT contract (`wit/policy.wit`, `redial:policy@0.2.0`) as plain Rust types.
//!
//! Both sides speak these types: the host's engine, CLI and JSON examples, and the plugin
//! logic (which therefore also compiles natively, for tests and for the benchmark's
//! native baseline). Generated bindings on either side convert to and from them through
//! [`crate::contract_conversions!`]. Field names and JSON spellings follow the WIT names.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

/// What kind of event may warrant a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    /// A call to the business rang out or was not picked up.
    MissedCall,
    /// A message, form or call that arrived outside business hours.
    AfterHoursInquiry,
    /// A web-form submission followed by a call that did not connect.
    FailedCallAfterForm,
    /// The caller left a voicemail.
    Voicemail,
}

/// A moment in time with the tenant's local view of it (plugins have no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Moment {
    /// Milliseconds since the unix epoch (UTC).
    pub unix_ms: i64,
    /// The tenant's offset from UTC in minutes at that moment.
    pub utc_offset_minutes: i32,
    /// Local day of week: 0 = Monday ... 6 = Sunday.
    pub local_weekday: u8,
    /// Local minutes since midnight, 0..1439.
    pub local_minute: u16,
}

/// A free-form key/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The key, e.g. a web-form field name or a CRM property name.
    pub key: String,
    /// The value, always text.
    pub value: String,
}

impl Field {
    /// Builds a field from anything string-like; saves noise in plugin code.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Field {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One inbound event about one caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Signal {
    /// What happened.
    pub kind: SignalKind,
    /// The caller's number (E.164).
    pub caller: String,
    /// The business line that was called (E.164).
    pub line: String,
    /// When it happened.
    pub at: Moment,
    /// What is already known (web-form fields, voicemail transcript, CRM lookup).
    #[serde(default)]
    pub context: Vec<Field>,
}

/// How earlier cases with this caller went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CallerHistory {
    /// The host already has an open case for this caller.
    #[serde(default)]
    pub open_case: bool,
    /// Number of earlier, closed cases.
    #[serde(default)]
    pub prior_cases: u32,
    /// How the most recent earlier case ended.
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// The caller asked not to be contacted again.
    #[serde(default)]
    pub opted_out: bool,
}

/// Input of the trigger slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TriggerInput {
    /// The event to judge.
    pub signal: Signal,
    /// The caller's past with this tenant.
    #[serde(default)]
    pub history: CallerHistory,
    /// The plugin's config table, as JSON text (filled in by the host).
    #[serde(default)]
    pub config: String,
}

/// What the trigger decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerDecision {
    /// Do not call back, for this reason.
    Ignore(String),
    /// Start or join a recovery case.
    Recover(Recovery),
}

/// A decision to recover a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Recovery {
    /// 0 ..= 100.
    pub priority: u8,
    /// Facts to carry into the call script.
    #[serde(default)]
    pub known: Vec<Field>,
}

/// How one callback attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// Rang out.
    NoAnswer,
    /// Line busy.
    Busy,
    /// Went to voicemail.
    Voicemail,
    /// The customer declined the call.
    Declined,
    /// The customer asked to be called at this unix ms.
    CallLater(i64),
    /// A conversation happened.
    Connected,
    /// The call could not be placed; the provider's reason.
    Failed(String),
}

/// One callback attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Attempt {
    /// When the dial was placed (unix ms).
    pub at_unix_ms: i64,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// A case as the cadence, qualify and crm slots see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CaseView {
    /// The host's case id.
    pub case_id: String,
    /// The signal that opened the case, with later context merged in.
    pub signal: Signal,
    /// Callback attempts so far, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// The host's current time.
    pub now: Moment,
}

/// Input of the cadence slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CadenceInput {
    /// The case so far.
    pub case: CaseView,
    /// The plugin's config as JSON text.
    #[serde(default)]
    pub config: String,
}

/// Which channel a fallback message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackChannel {
    /// Text message to the caller's number.
    Sms,
    /// E-mail, when the context carries an address.
    Email,
}

/// A message sent instead of (another) call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Fallback {
    /// Where it goes.
    pub channel: FallbackChannel,
    /// The text.
    pub message: String,
    /// A booking link, if offered.
    #[serde(default)]
    pub link: Option<String>,
}

/// What the cadence decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CadenceDecision {
    /// Dial after this many seconds.
    CallAfter(u32),
    /// Dial at this unix ms.
    CallAt(i64),
    /// Stop calling; send this instead.
    Fallback(Fallback),
    /// Stop, for this reason.
    GiveUp(String),
}

/// How a qualification answer should be captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    /// Anything the customer says.
    FreeText,
    /// Yes or no.
    YesNo,
    /// A number.
    Number,
    /// One of these options.
    Choice(Vec<String>),
}

/// One question of a call script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Question {
    /// The id the answer is filed under.
    pub field_id: String,
    /// The question as asked.
    pub text: String,
    /// How to capture the answer.
    pub kind: AnswerKind,
}

/// What the AI says on the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Script {
    /// Opening line with the known context injected.
    pub opening: String,
    /// The "is now a good time?" check.
    pub availability_check: String,
    /// 2..=4 questions.
    pub questions: Vec<Question>,
}

/// Input of `qualify.script`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScriptInput {
    /// The case so far.
    pub case: CaseView,
    /// The plugin's config as JSON text.
    #[serde(default)]
    pub config: String,
}

/// What the AI captured for one question, typed as the question's [`AnswerKind`] asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerValue {
    /// Free text: a free-text question's answer, or one the provider could not type.
    Text(String),
    /// A yes/no question's answer.
    YesNo(bool),
    /// A number question's answer.
    Number(f64),
    /// A choice question's answer: one of its options.
    Choice(String),
}

impl AnswerValue {
    /// The answer as text, whatever its type ("yes"/"no", the number, the option): for
    /// keyword rules, summaries and CRM notes.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            AnswerValue::Text(text) | AnswerValue::Choice(text) => Cow::Borrowed(text),
            AnswerValue::YesNo(true) => Cow::Borrowed("yes"),
            AnswerValue::YesNo(false) => Cow::Borrowed("no"),
            // A whole number reads as one ("3", not "3.0").
            AnswerValue::Number(n) if *n == (*n as i64) as f64 => {
                Cow::Owned(crate::text::decimal(*n as i64))
            }
            AnswerValue::Number(n) => Cow::Owned(alloc::format!("{n}")),
        }
    }
}

/// One captured answer.
///
/// Reads the 0.1.0 form too (`{"field-id", "text"}`, a text answer), so inputs written for
/// that version (example files, `redial plugin run` inputs) still load. Stored journals do
/// not depend on this: the store reads them through its own format types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", from = "AnswerForm")]
pub struct Answer {
    /// The question's field id.
    pub field_id: String,
    /// What the customer said, typed.
    pub value: AnswerValue,
}

impl Answer {
    /// A free-text answer.
    pub fn text(field_id: impl Into<String>, text: impl Into<String>) -> Self {
        Answer {
            field_id: field_id.into(),
            value: AnswerValue::Text(text.into()),
        }
    }
}

/// Every form an [`Answer`] has been written in.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnswerForm {
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

impl From<AnswerForm> for Answer {
    fn from(form: AnswerForm) -> Self {
        match form {
            AnswerForm::Typed { field_id, value } => Answer { field_id, value },
            AnswerForm::Text { field_id, text } => Answer::text(field_id, text),
        }
    }
}

/// Input of `qualify.evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EvaluateInput {
    /// The case so far.
    pub case: CaseView,
    /// The answers captured on the call.
    #[serde(default)]
    pub answers: Vec<Answer>,
    /// The transcript, if retention allows.
    #[serde(default)]
    pub transcript: Option<String>,
    /// The plugin's config as JSON text.
    #[serde(default)]
    pub config: String,
}

/// Why the customer called.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    /// Asking what something costs.
    PricingQuestion,
    /// Wants to see the product.
    DemoRequest,
    /// Wants to move or cancel an appointment.
    AppointmentChange,
    /// Has a problem with something they have.
    SupportIssue,
    /// General question.
    InformationRequest,
    /// A tenant's own code.
    Custom(String),
}

impl ReasonCode {
    /// Parses the kebab-case name used in configs ("pricing-question"); anything else is
    /// a tenant's custom code.
    pub fn parse(name: &str) -> ReasonCode {
        match name {
            "pricing-question" => ReasonCode::PricingQuestion,
            "demo-request" => ReasonCode::DemoRequest,
            "appointment-change" => ReasonCode::AppointmentChange,
            "support-issue" => ReasonCode::SupportIssue,
            "information-request" => ReasonCode::InformationRequest,
            other => ReasonCode::Custom(other.to_string()),
        }
    }

    /// The kebab-case name, the inverse of [`ReasonCode::parse`].
    pub fn name(&self) -> &str {
        match self {
            ReasonCode::PricingQuestion => "pricing-question",
            ReasonCode::DemoRequest => "demo-request",
            ReasonCode::AppointmentChange => "appointment-change",
            ReasonCode::SupportIssue => "support-issue",
            ReasonCode::InformationRequest => "information-request",
            ReasonCode::Custom(code) => code,
        }
    }
}

/// How soon a human should act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Today.
    SameDay,
    /// Within the week.
    ThisWeek,
    /// Nurture over time.
    LongTermNurture,
}

/// One qualification field and whether the customer confirmed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QualifiedValue {
    /// What was said, if anything.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether the customer confirmed it.
    #[serde(default)]
    pub confirmed: bool,
}

/// The BANT-style fields a seller needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Qualification {
    /// Decision maker, influencer, user...
    #[serde(default)]
    pub buying_role: QualifiedValue,
    /// When they want to act.
    #[serde(default)]
    pub timeline: QualifiedValue,
    /// What they use today.
    #[serde(default)]
    pub existing_system: QualifiedValue,
    /// Budget range.
    #[serde(default)]
    pub budget_range: QualifiedValue,
}

/// What should happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl NextAction {
    /// The kebab-case name configs use ("seller-callback").
    pub fn name(self) -> &'static str {
        match self {
            NextAction::SellerCallback => "seller-callback",
            NextAction::MaterialSend => "material-send",
            NextAction::BookingLink => "booking-link",
            NextAction::AutomatedFollowUp => "automated-follow-up",
        }
    }
}

/// The decision fields that leave a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Disposition {
    /// Why they called.
    pub reason_code: ReasonCode,
    /// How soon to act.
    pub urgency: Urgency,
    /// BANT fields.
    pub qualification: Qualification,
    /// What happens next.
    pub next_action: NextAction,
    /// 0 ..= 100.
    pub intent_score: u8,
    /// One line for the human owner.
    pub summary: String,
}

/// Input of the crm slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CrmInput {
    /// The case so far.
    pub case: CaseView,
    /// The decision fields.
    pub disposition: Disposition,
    /// What the customer said.
    #[serde(default)]
    pub answers: Vec<Answer>,
    /// The plugin's config as JSON text.
    #[serde(default)]
    pub config: String,
}

/// What a CRM operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrmAction {
    /// Create or update the object found by the match key.
    Upsert,
    /// Create a new object.
    Create,
    /// Link the objects of earlier operations.
    Associate,
}

/// One CRM operation a connector can execute without knowing the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CrmOperation {
    /// Local id for later references.
    pub id: String,
    /// CRM system, e.g. "hubspot".
    pub system: String,
    /// Object type, e.g. "contacts".
    pub object: String,
    /// What to do.
    pub action: CrmAction,
    /// Identifies an existing object (upsert).
    #[serde(default)]
    pub match_key: Option<Field>,
    /// Properties to write.
    #[serde(default)]
    pub properties: Vec<Field>,
    /// Ids of earlier operations to link to.
    #[serde(default)]
    pub associate: Vec<String>,
}
