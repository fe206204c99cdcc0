//! Provider webhook bodies, parsed into these types (so the document describes exactly
//! what is read), and what the server answers them.

use super::case::SignalKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A generic signal: a missed call, an after-hours inquiry, a web form or a voicemail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    /// What kind of contact it was.
    pub kind: SignalKind,
    /// Who called, E.164.
    #[schema(pattern = r"^\+[0-9]{8,15}$", example = "+15125550196")]
    pub caller: String,
    /// The business line they called, E.164.
    #[schema(pattern = r"^\+[0-9]{8,15}$", example = "+15125550200")]
    pub line: String,
    /// When it happened (unix ms, at most a day ahead of the server's clock); the time of
    /// arrival when absent.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub at_ms: Option<i64>,
    /// What is known (form fields, a voicemail transcript): shown to the plugins.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

/// What became of a signal.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum SignalAccepted {
    /// A new case opened.
    Opened {
        /// Its id.
        case: String,
    },
    /// It joined the caller's open case.
    Joined {
        /// That case's id.
        case: String,
    },
    /// It started no case (the trigger plugin, an opt-out, a status that is not a miss).
    Ignored {
        /// Why.
        reason: String,
    },
    /// The same event id was already processed; nothing changed.
    Duplicate,
}

/// Twilio's voice status callback (form-encoded; Twilio sends more parameters, all of
/// which are signed and none of which are needed).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TwilioVoiceStatus {
    /// The call's id: the event id, so a retried callback counts once.
    #[serde(rename = "CallSid")]
    #[schema(min_length = 1)]
    pub call_sid: String,
    /// The caller, E.164.
    #[serde(rename = "From")]
    #[schema(pattern = r"^\+[0-9]{8,15}$")]
    pub from: String,
    /// The business line, E.164.
    #[serde(rename = "To")]
    #[schema(pattern = r"^\+[0-9]{8,15}$")]
    pub to: String,
    /// The call's status: `no-answer`, `busy`, `failed` and `canceled` are misses.
    #[serde(rename = "CallStatus")]
    #[schema(min_length = 1)]
    pub call_status: String,
    /// The forwarded leg's status, for a `<Dial>` (a miss by the same words).
    #[serde(rename = "DialCallStatus", default)]
    pub dial_call_status: Option<String>,
}

/// Twilio's incoming-message webhook (form-encoded): a reply to a fallback message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TwilioSms {
    /// The message's id: the event id.
    #[serde(rename = "MessageSid")]
    #[schema(min_length = 1)]
    pub message_sid: String,
    /// Who wrote, E.164.
    #[serde(rename = "From")]
    #[schema(pattern = r"^\+[0-9]{8,15}$")]
    pub from: String,
    /// What they wrote; STOP and the other standard words opt them out.
    #[serde(rename = "Body", default)]
    pub body: String,
}

/// A Vapi server message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiWebhook {
    /// The message.
    pub message: VapiMessage,
}

/// The parts of a Vapi server message Redial reads; Vapi sends more, which is ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiMessage {
    /// `end-of-call-report` ends an attempt; `status-update` is acknowledged; other types
    /// are ignored.
    #[serde(rename = "type")]
    #[schema(example = "end-of-call-report")]
    pub kind: String,
    /// The call (its metadata names the case and attempt).
    #[serde(default)]
    pub call: Option<VapiCall>,
    /// Why the call ended.
    #[serde(rename = "endedReason", default)]
    pub ended_reason: Option<String>,
    /// The call's analysis.
    #[serde(default)]
    pub analysis: Option<VapiAnalysis>,
    /// The call's artifacts.
    #[serde(default)]
    pub artifact: Option<VapiArtifact>,
    /// The transcript (older messages carry it here rather than in `artifact`).
    #[serde(default)]
    pub transcript: Option<String>,
}

/// A Vapi call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiCall {
    /// What Redial put on the call when it placed it.
    #[serde(default)]
    pub metadata: Option<VapiMetadata>,
}

/// The metadata Redial sets on each callback it places.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiMetadata {
    /// The case.
    pub case_id: String,
    /// The attempt number.
    pub attempt: u32,
}

/// A call's analysis.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiAnalysis {
    /// Answers keyed by the script's field ids, plus `opt_out` (boolean) and
    /// `call_back_at_ms` (unix ms).
    #[serde(rename = "structuredData", default)]
    pub structured_data: Option<BTreeMap<String, serde_json::Value>>,
}

/// A call's artifacts.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiArtifact {
    /// The transcript.
    #[serde(default)]
    pub transcript: Option<String>,
}

/// What became of a Vapi message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum VapiAnswer {
    /// A status update, noted.
    Acknowledged,
    /// The call's end was recorded on its case.
    Recorded {
        /// The case.
        case: String,
    },
    /// A message type Redial does not act on.
    Ignored {
        /// Why.
        reason: String,
    },
}
