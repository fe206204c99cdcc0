//! What Vapi says of a call, as an attempt's report: from an `end-of-call-report` webhook
//! (the server's inbound route) or from `GET /call/{id}` (the stuck-call lookup). One
//! mapping, so both read a call the same way.

use redial_core::connectors::CallReport;
use redial_sdk::{Answer, AnswerValue, AttemptOutcome};
use serde_json::Value;
use std::collections::BTreeMap;

/// Phrases that mean "do not call me again".
const OPT_OUT: [&str; 4] = [
    "don't call me again",
    "do not call me again",
    "stop calling",
    "remove me from your list",
];

/// The report of an ended call: its `endedReason`, its `analysis.structuredData` (the
/// answers by field id, plus `call_back_at_ms` and `opt_out`) and its transcript.
pub fn report(
    ended_reason: &str,
    mut structured: BTreeMap<String, Value>,
    transcript: Option<String>,
) -> CallReport {
    let call_back_at_ms = structured
        .remove("call_back_at_ms")
        .and_then(|v| v.as_i64());
    let opted_out = structured.remove("opt_out").and_then(|v| v.as_bool());
    let lower = transcript.as_deref().unwrap_or("").to_lowercase();
    CallReport {
        outcome: outcome_of(ended_reason, call_back_at_ms),
        answers: structured
            .into_iter()
            .map(|(field_id, v)| Answer {
                field_id,
                value: structured_value(&v),
            })
            .collect(),
        transcript,
        opt_out: opted_out.unwrap_or(false) || OPT_OUT.iter().any(|p| lower.contains(p)),
    }
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
    let transcript = call
        .pointer("/artifact/transcript")
        .or_else(|| call.get("transcript"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let reason = call
        .get("endedReason")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    Some(report(reason, structured, transcript))
}

/// Maps Vapi's `endedReason` to an attempt outcome.
fn outcome_of(ended_reason: &str, call_back_at_ms: Option<i64>) -> AttemptOutcome {
    if let Some(at) = call_back_at_ms {
        return AttemptOutcome::CallLater(at);
    }
    match ended_reason {
        "customer-busy" => AttemptOutcome::Busy,
        "customer-did-not-answer" | "silence-timed-out" => AttemptOutcome::NoAnswer,
        "voicemail" => AttemptOutcome::Voicemail,
        "customer-ended-call"
        | "assistant-ended-call"
        | "assistant-said-end-call-phrase"
        | "exceeded-max-duration" => AttemptOutcome::Connected,
        "customer-declined" | "call.ringing.hook-executed-say" => AttemptOutcome::Declined,
        other => AttemptOutcome::Failed(other.to_string()),
    }
}

/// A Vapi structured-data value as a typed answer: JSON's own types say which, so nothing
/// is guessed (a string stays text, whatever it says).
fn structured_value(value: &Value) -> AnswerValue {
    match value {
        Value::Bool(yes) => AnswerValue::YesNo(*yes),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| AnswerValue::Text(n.to_string()), AnswerValue::Number),
        Value::String(text) => AnswerValue::Text(text.clone()),
        other => AnswerValue::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
