//! Vapi: a callback is `POST /call` with per-call assistant overrides (the script as
//! variable values, the answers to extract as a structured-data schema, the voicemail
//! message) and the call's metadata naming the case and attempt; its report is an `end-of-call-report`
//! server message (the server's inbound route) or, when that is overdue, `GET /call/{id}`.
//! Both read a call through [`report`], so a call reads the same either way.

use super::{ProviderConnectors, SendJson};
use crate::voice::{self, CallRequest, VoiceProvider};
use redial_core::connectors::{CallReport, ConnectorError, Delivery};
use redial_core::policy::Connector;
use redial_sdk::AttemptOutcome;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Vapi's API unless the operator moved it.
const API: &str = "https://api.vapi.ai";

/// A tenant's Vapi account.
pub(super) struct Vapi<'a> {
    pub(super) via: &'a ProviderConnectors,
    pub(super) account: &'a Connector,
}

impl Vapi<'_> {
    fn base(&self) -> String {
        self.account
            .setting("base_url")
            .unwrap_or_else(|| API.into())
    }

    fn setting(&self, key: &str) -> Result<String, ConnectorError> {
        super::setting(self.account, key, "vapi")
    }
}

/// The body of `POST /call` for one dial.
pub(super) fn create_call(
    call: &CallRequest<'_>,
    assistant_id: &str,
    phone_number_id: &str,
) -> Value {
    let properties: Map<String, Value> = (call.extraction().iter())
        .map(|e| (e.name.to_string(), e.json_schema()))
        .collect();
    let mut overrides = json!({
        "variableValues": call.variables(),
        "analysisPlan": { "structuredDataPlan": {
            "enabled": true,
            "schema": { "type": "object", "properties": properties },
        }},
    });
    if let Some(message) = call.voicemail {
        overrides["voicemailMessage"] = message.into();
    }
    json!({
        "assistantId": assistant_id,
        "phoneNumberId": phone_number_id,
        "customer": { "number": call.to },
        "assistantOverrides": overrides,
        "metadata": call.metadata(),
    })
}

impl VoiceProvider for Vapi<'_> {
    fn place(&self, call: &CallRequest<'_>) -> Result<Delivery, ConnectorError> {
        let body = create_call(
            call,
            &self.setting("assistant_id")?,
            &self.setting("phone_number_id")?,
        );
        let (base, key) = (self.base(), self.setting("api_key")?);
        let resp = self.via.request("vapi", |a| {
            a.post(format!("{base}/call"))
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", &call.item.key)
                .send_compact_json(&body)
        })?;
        // A 2xx without a call id (a proxy's HTML page, a truncated body) is not a placed
        // call: fail, and the outbox retries under the same idempotency key.
        let id = (resp.get("id").and_then(Value::as_str))
            .ok_or_else(|| super::err("vapi", "the answer carries no call id"))?;
        Ok(Delivery::CallPlaced {
            provider_id: id.to_string(),
        })
    }

    fn look_up(&self, provider_id: &str) -> Result<Delivery, ConnectorError> {
        let url = format!("{}/call/{provider_id}", self.base());
        let auth = format!("Bearer {}", self.setting("api_key")?);
        Ok(match self.via.look_up("vapi", provider_id, &url, &auth)? {
            None => Delivery::Done,
            Some(call) => report_of_call(&call).map_or(Delivery::CallRunning, Delivery::CallEnded),
        })
    }
}

/// The report of an ended call: its `endedReason`, its `analysis.structuredData` (the
/// answers by field id, plus `opt_out` and `call_back_at`) and its transcript.
pub fn report(
    ended_reason: &str,
    structured: BTreeMap<String, Value>,
    transcript: Option<String>,
) -> CallReport {
    voice::report(
        |call_back| match (call_back, outcome_of(ended_reason)) {
            (Some(at), AttemptOutcome::Connected) => AttemptOutcome::CallLater(at),
            (_, outcome) => outcome,
        },
        structured,
        transcript,
    )
}

/// A call object from `GET /call/{id}`: `None` while it has not ended.
pub fn report_of_call(call: &Value) -> Option<CallReport> {
    if call.get("status").and_then(Value::as_str) != Some("ended") {
        return None;
    }
    let structured = call
        .pointer("/analysis/structuredData")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let transcript = (call.pointer("/artifact/transcript"))
        .or_else(|| call.get("transcript"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let reason = call
        .get("endedReason")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    Some(report(reason, structured, transcript))
}

/// Vapi's `endedReason` as an attempt outcome: the table in the README ("Voice
/// providers"). Vapi's many error reasons (`pipeline-error-…`, `call.start.error-…`,
/// `call.in-progress.error-…`) are failures that keep their name; anything else no
/// table lists is a failure naming it as unknown.
pub fn outcome_of(ended_reason: &str) -> AttemptOutcome {
    match ended_reason {
        "customer-busy" => AttemptOutcome::Busy,
        "customer-did-not-answer" | "silence-timed-out" => AttemptOutcome::NoAnswer,
        "voicemail" => AttemptOutcome::Voicemail,
        "vonage-rejected" => AttemptOutcome::Declined,
        "customer-ended-call"
        | "customer-ended-call-after-warm-transfer-attempt"
        | "customer-ended-call-before-warm-transfer"
        | "customer-ended-call-during-transfer"
        | "assistant-ended-call"
        | "assistant-ended-call-after-message-spoken"
        | "assistant-ended-call-with-hangup-task"
        | "assistant-said-end-call-phrase"
        | "assistant-forwarded-call"
        | "exceeded-max-duration"
        | "call.ending.hook-executed-say"
        | "call.ending.hook-executed-transfer"
        | "call.in-progress.sip-completed-call"
        | "call.in-progress.twilio-completed-call"
        | "vonage-completed" => AttemptOutcome::Connected,
        "twilio-failed-to-connect-call"
        | "twilio-reported-customer-misdialed"
        | "vonage-failed-to-connect-call"
        | "vonage-disconnected"
        | "phone-call-provider-closed-websocket"
        | "phone-call-provider-bypass-enabled-but-no-call-received"
        | "manually-canceled"
        | "call-deleted"
        | "scheduled-call-deleted"
        | "worker-shutdown"
        | "assistant-join-timed-out"
        | "assistant-not-found"
        | "assistant-not-valid"
        | "assistant-request-failed"
        | "assistant-request-returned-forwarding-phone-number"
        | "assistant-request-returned-invalid-assistant"
        | "assistant-request-returned-no-assistant"
        | "customer-did-not-give-microphone-permission"
        | "call.forwarding.operator-busy"
        | "call.ringing.hook-executed-say"
        | "call.ringing.hook-executed-transfer"
        | "call.ringing.sip-inbound-caller-hungup-before-call-connect" => {
            AttemptOutcome::Failed(ended_reason.to_string())
        }
        error if error.starts_with("pipeline-error-") || error.contains(".error-") => {
            AttemptOutcome::Failed(error.to_string())
        }
        other => voice::unknown_end_reason("Vapi", other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looked_up_call_reads_as_its_webhook_would_and_a_running_one_not_at_all() {
        let ended = json!({
            "id": "call-1", "status": "ended", "endedReason": "customer-ended-call",
            "analysis": { "structuredData": { "timeline": "this week", "role": true } },
            "artifact": { "transcript": "AI: hi\nUser: hello" },
        });
        let report = report_of_call(&ended).unwrap();
        assert_eq!(report.outcome, AttemptOutcome::Connected);
        assert_eq!(report.answers.len(), 2);
        assert_eq!(report.transcript.as_deref(), Some("AI: hi\nUser: hello"));
        assert!(report_of_call(&json!({ "status": "in-progress" })).is_none());
        let busy = json!({ "status": "ended", "endedReason": "customer-busy" });
        assert_eq!(report_of_call(&busy).unwrap().outcome, AttemptOutcome::Busy);
    }

    #[test]
    fn end_reasons_map_by_table_errors_keep_their_name_and_unknown_ones_are_named() {
        assert_eq!(outcome_of("voicemail"), AttemptOutcome::Voicemail);
        assert_eq!(
            outcome_of("pipeline-error-openai-llm-failed"),
            AttemptOutcome::Failed("pipeline-error-openai-llm-failed".into())
        );
        assert_eq!(
            outcome_of("call.in-progress.error-vapifault-worker-died"),
            AttemptOutcome::Failed("call.in-progress.error-vapifault-worker-died".into())
        );
        assert_eq!(
            outcome_of("a-reason-from-next-year"),
            AttemptOutcome::Failed("unknown Vapi end reason \"a-reason-from-next-year\"".into())
        );
    }
}
