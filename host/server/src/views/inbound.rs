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

/// Twilio's message status callback (form-encoded), requested on every fallback message
/// Redial sends: what became of it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TwilioMessageStatus {
    /// The message's id.
    #[serde(rename = "MessageSid")]
    #[schema(min_length = 1)]
    pub message_sid: String,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed`...; only the last three are
    /// final and recorded.
    #[serde(rename = "MessageStatus")]
    #[schema(min_length = 1, example = "undelivered")]
    pub message_status: String,
    /// Twilio's error code for an undelivered or failed message.
    #[serde(rename = "ErrorCode", default)]
    pub error_code: Option<String>,
}

/// The query of the status callback URL Redial gives Twilio with each fallback message.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageStatusQuery {
    /// The message's idempotency key (`{case}/fallback-sms`): which case it belongs to.
    #[param(example = "lone-star-hvac-00001/fallback-sms")]
    pub key: String,
}

/// What became of a message status callback.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum MessageStatusAnswer {
    /// A final status, journalled on the message's case.
    Recorded {
        /// The case.
        case: String,
    },
    /// Not a final status (or already recorded): nothing changed.
    Ignored {
        /// Why.
        reason: String,
    },
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
    pub metadata: Option<CallMetadata>,
}

/// The metadata Redial sets on each callback it places, whichever the provider.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallMetadata {
    /// The case.
    pub case_id: String,
    /// The attempt number.
    pub attempt: u32,
}

/// A call's analysis.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VapiAnalysis {
    /// Answers keyed by the script's field ids, plus `opt_out` (boolean) and
    /// `call_back_at` (an RFC 3339 date-time), as the schema each dial sends asks.
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

/// A Retell webhook event (`call_started`, `call_ended`, `call_analyzed`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RetellWebhook {
    /// The event type; others are ignored.
    #[schema(example = "call_analyzed")]
    pub event: String,
    /// The call, as Retell's call object (Redial reads `call_status`,
    /// `disconnection_reason`, `transcript`, `call_analysis` and `metadata`; the rest is
    /// ignored).
    pub call: RetellCall,
}

/// The parts of a Retell call object Redial checks before reading its report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RetellCall {
    /// Retell's call id.
    pub call_id: String,
    /// `registered`, `not_connected`, `ongoing`, `ended` or `error`.
    pub call_status: String,
    /// What Redial put on the call when it placed it.
    #[serde(default)]
    pub metadata: Option<CallMetadata>,
}

/// What became of a voice provider's message.

#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum CallReportAnswer {
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
