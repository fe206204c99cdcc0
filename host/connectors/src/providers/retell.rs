//! Retell: a callback is `POST /v2/create-phone-call` with the script as dynamic
//! variables, the answers to extract as per-call post-call analysis data, the voicemail
//! message as a per-call voicemail option, and metadata naming the case and attempt. Its
//! report comes as webhook events (`call_ended`, then `call_analyzed` with the extracted
//! data) or, when overdue, from `GET /v2/get-call/{id}`; both read a call through
//! [`report_of_call`].

use super::{ProviderConnectors, SendJson};
use crate::voice::{self, CallRequest, ExtractKind, VoiceProvider};
use redial_core::connectors::{CallReport, ConnectorError, Delivery};
use redial_core::policy::Connector;
use redial_sdk::AttemptOutcome;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Retell's API unless the operator moved it.
const API: &str = "https://api.retellai.com";

/// A tenant's Retell account.
pub(super) struct Retell<'a> {
    pub(super) via: &'a ProviderConnectors,
    pub(super) account: &'a Connector,
}

impl Retell<'_> {
    fn base(&self) -> String {
        self.account
            .setting("base_url")
            .unwrap_or_else(|| API.into())
    }

    fn setting(&self, key: &str) -> Result<String, ConnectorError> {
        super::setting(self.account, key, "retell")
    }
}

/// The body of `POST /v2/create-phone-call` for one dial, from `from_number` (the
/// account's number; by default the line the caller called).
pub(super) fn create_phone_call(
    call: &CallRequest<'_>,
    agent_id: &str,
    from_number: &str,
) -> Value {
    let analysis: Vec<Value> = (call.extraction().iter())
        .map(|e| {
            let mut field = json!({ "name": e.name, "description": e.description });
            field["type"] = match e.kind {
                ExtractKind::Text => "string".into(),
                ExtractKind::Boolean => "boolean".into(),
                ExtractKind::Number => "number".into(),
                ExtractKind::Choice(options) => {
                    field["choices"] = json!(options);
                    "enum".into()
                }
            };
            field
        })
        .collect();
    let mut agent = json!({ "post_call_analysis_data": analysis });
    if let Some(message) = call.voicemail {
        agent["voicemail_option"] = json!({ "action": { "type": "static_text", "text": message } });
    }
    json!({
        "from_number": from_number,
        "to_number": call.to,
        "override_agent_id": agent_id,
        "metadata": call.metadata(),
        "retell_llm_dynamic_variables": call.variables(),
        "agent_override": { "agent": agent },
    })
}

impl VoiceProvider for Retell<'_> {
    fn place(&self, call: &CallRequest<'_>) -> Result<Delivery, ConnectorError> {
        let from = (self.account.setting("from_number")).unwrap_or_else(|| call.from.to_string());
        let body = create_phone_call(call, &self.setting("agent_id")?, &from);
        let (base, key) = (self.base(), self.setting("api_key")?);
        let resp = self.via.request("retell", |a| {
            a.post(format!("{base}/v2/create-phone-call"))
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", &call.item.key)
                .send_compact_json(&body)
        })?;
        let id = (resp.get("call_id").and_then(Value::as_str))
            .ok_or_else(|| super::err("retell", "the answer carries no call_id"))?;
        Ok(Delivery::CallPlaced {
            provider_id: id.to_string(),
        })
    }

    fn look_up(&self, provider_id: &str) -> Result<Delivery, ConnectorError> {
        let url = format!("{}/v2/get-call/{provider_id}", self.base());
        let auth = format!("Bearer {}", self.setting("api_key")?);
        Ok(
            match self.via.look_up("retell", provider_id, &url, &auth)? {
                None => Delivery::Done,
                Some(call) => {
                    report_of_call(&call).map_or(Delivery::CallRunning, Delivery::CallEnded)
                }
            },
        )
    }
}

/// Retell's webhook signature over `body` at `timestamp_ms`, keyed by the account's API
/// key: `v=<ms>,d=<hex HMAC-SHA256 of the body then the timestamp>`. Redial verifies
/// these; tests and fakes make them.
pub fn sign(body: &[u8], api_key: &str, timestamp_ms: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(api_key.as_bytes())
        .expect("hmac takes any key length");
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    format!("v={timestamp_ms},d={digest}")
}

/// What one Retell webhook event means for its attempt.
#[derive(Debug)]
pub enum WebhookEvent {
    /// Nothing to record yet: the call started, or it connected and its extracted data
    /// comes with `call_analyzed`.
    Acknowledged(&'static str),
    /// The attempt's report.
    Report(CallReport),
    /// An event type Redial does not act on.
    Ignored,
}

/// Reads a webhook event (`event`, with its `call` object).
pub fn webhook_event(event: &str, call: &Value) -> WebhookEvent {
    match event {
        "call_started" => WebhookEvent::Acknowledged("call started"),
        "call_ended" => match report_of_call(call) {
            Some(report) if report.outcome != AttemptOutcome::Connected => {
                WebhookEvent::Report(report)
            }
            _ => WebhookEvent::Acknowledged("call ended; its answers come with call_analyzed"),
        },
        "call_analyzed" => report_of_call(call).map_or(
            WebhookEvent::Acknowledged("call not ended"),
            WebhookEvent::Report,
        ),
        _ => WebhookEvent::Ignored,
    }
}

/// A Retell call object as its attempt's report: `None` while it has not ended
/// (`registered`, `ongoing`).
pub fn report_of_call(call: &Value) -> Option<CallReport> {
    let status = call.get("call_status").and_then(Value::as_str)?;
    if !matches!(status, "ended" | "not_connected" | "error") {
        return None;
    }
    let extracted: BTreeMap<String, Value> = call
        .pointer("/call_analysis/custom_analysis_data")
        .and_then(Value::as_object)
        .map(|m: &Map<String, Value>| m.clone().into_iter().collect())
        .unwrap_or_default();
    let in_voicemail = call
        .pointer("/call_analysis/in_voicemail")
        .and_then(Value::as_bool)
        == Some(true);
    let reason = (call.get("disconnection_reason").and_then(Value::as_str)).unwrap_or(
        if status == "error" {
            "error_unknown"
        } else {
            "unknown"
        },
    );
    let transcript = call
        .get("transcript")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(voice::report(
        |call_back| match (call_back, outcome_of(reason)) {
            (_, AttemptOutcome::Connected) if in_voicemail => AttemptOutcome::Voicemail,
            (Some(at), AttemptOutcome::Connected) => AttemptOutcome::CallLater(at),
            (_, outcome) => outcome,
        },
        extracted,
        transcript,
    ))
}

/// Retell's `disconnection_reason` as an attempt outcome: the table in the README
/// ("Voice providers"); anything it does not list is a failure naming it as unknown.
pub fn outcome_of(reason: &str) -> AttemptOutcome {
    match reason {
        "dial_busy" => AttemptOutcome::Busy,
        "dial_no_answer" | "inactivity" | "ivr_reached" => AttemptOutcome::NoAnswer,
        "voicemail_reached" => AttemptOutcome::Voicemail,
        "user_declined" => AttemptOutcome::Declined,
        "user_hangup"
        | "agent_hangup"
        | "call_transfer"
        | "max_duration_reached"
        | "transfer_bridged"
        | "transfer_cancelled"
        | "call_take_over" => AttemptOutcome::Connected,
        "dial_failed"
        | "invalid_destination"
        | "marked_as_spam"
        | "scam_detected"
        | "concurrency_limit_reached"
        | "no_concurrency_fallback"
        | "no_valid_payment"
        | "telephony_provider_permission_denied"
        | "telephony_provider_unavailable"
        | "sip_routing_error"
        | "registered_call_timeout"
        | "manual_stopped"
        | "error_llm_websocket_open"
        | "error_llm_websocket_lost_connection"
        | "error_llm_websocket_runtime"
        | "error_llm_websocket_corrupt_payload"
        | "error_no_audio_received"
        | "error_asr"
        | "error_retell"
        | "error_unknown"
        | "error_user_not_joined" => AttemptOutcome::Failed(reason.to_string()),
        other => voice::unknown_end_reason("Retell", other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_call_is_reported_once_its_data_is_analysed_unless_nobody_answered() {
        let busy = json!({ "call_status": "not_connected", "disconnection_reason": "dial_busy" });
        assert!(matches!(
            webhook_event("call_ended", &busy),
            WebhookEvent::Report(CallReport {
                outcome: AttemptOutcome::Busy,
                ..
            })
        ));
        let talked = json!({ "call_status": "ended", "disconnection_reason": "user_hangup" });
        assert!(matches!(
            webhook_event("call_ended", &talked),
            WebhookEvent::Acknowledged(_)
        ));
        let analysed = json!({
            "call_status": "ended", "disconnection_reason": "agent_hangup",
            "transcript": "Agent: hi",
            "call_analysis": { "custom_analysis_data": { "owner": true, "opt_out": false } },
        });
        let WebhookEvent::Report(report) = webhook_event("call_analyzed", &analysed) else {
            panic!("call_analyzed carries the report");
        };
        assert_eq!(report.outcome, AttemptOutcome::Connected);
        assert_eq!(report.answers.len(), 1);
        let running = json!({ "call_status": "ongoing" });
        assert!(report_of_call(&running).is_none());
    }

    #[test]
    fn voicemail_is_read_from_the_reason_or_the_analysis_and_unknown_reasons_are_named() {
        let analysed_voicemail = json!({
            "call_status": "ended", "disconnection_reason": "agent_hangup",
            "call_analysis": { "in_voicemail": true },
        });
        let report = report_of_call(&analysed_voicemail).unwrap();
        assert_eq!(report.outcome, AttemptOutcome::Voicemail);
        assert_eq!(outcome_of("voicemail_reached"), AttemptOutcome::Voicemail);
        assert_eq!(
            outcome_of("dial_failed"),
            AttemptOutcome::Failed("dial_failed".into())
        );
        assert_eq!(
            outcome_of("new_reason"),
            AttemptOutcome::Failed("unknown Retell end reason \"new_reason\"".into())
        );
    }
}
