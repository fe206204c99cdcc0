//! Inbound webhooks: the generic signal endpoint (Standard Webhooks), Twilio voice status
//! callbacks (X-Twilio-Signature) and Vapi server messages (X-Vapi-Secret). Each verifies
//! the tenant's secret before anything is parsed into the engine, and is idempotent by
//! the provider's event id.

use super::auth::{constant_eq, resolve_secret, twilio_signature, verify_standard_webhook};
use super::error::field_of;
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use redial_core::connectors::CallReport;
use redial_core::engine::{CRM_LOOKUP, Ingested, SignalIn};
use redial_sdk::{Answer, AnswerValue, AttemptOutcome, Field, SignalKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let ok = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(expected)
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::unsupported_media(expected))
    }
}

fn secret(configured: &Option<String>, what: &str) -> Result<String, ApiError> {
    configured
        .as_deref()
        .and_then(resolve_secret)
        .ok_or_else(|| ApiError::unauthorized(format!("this tenant has no {what} configured")))
}

/// E.164: a plus and 8 to 15 digits.
fn check_phone(field: &str, value: &str) -> Result<(), ApiError> {
    let digits = value.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            field.to_string(),
            format!("`{field}` must be an E.164 number like +14155550100"),
        ))
    }
}

/// Ingests a signal, first adding what the tenant's CRM knows about the caller (context
/// injection; see [`Engine::caller_context`](redial_core::engine::Engine::caller_context)).
/// The lookup is bounded by [`CRM_LOOKUP`]: a slow CRM delays the callback by at most that.
async fn ingest(
    state: &AppState,
    tenant: &str,
    mut signal: SignalIn,
) -> Result<Ingested, ApiError> {
    let policy = &state.engine.tenant(tenant)?.policy;
    if state.connectors.knows_callers(policy) {
        let (engine, connectors) = (state.engine.clone(), state.connectors.clone());
        let (id, caller) = (tenant.to_string(), signal.caller.clone());
        let lookup = tokio::task::spawn_blocking(move || {
            engine.caller_context(&id, &caller, connectors.as_ref())
        });
        if let Ok(Ok(Ok(found))) = tokio::time::timeout(CRM_LOOKUP + CRM_LOOKUP / 4, lookup).await {
            signal.add_context(found);
        }
    }
    state.metrics.signal(tenant);
    let engine = state.engine.clone();
    let id = tenant.to_string();
    // The step runs on a blocking thread; the fsync that makes it durable is awaited here,
    // so neither that thread nor its engine-work slot sits idle meanwhile. The dispatcher
    // is woken first: it flushes before it hands out the step's effects, so its flush and
    // this request's can be one.
    let committed = state
        .slots
        .run_for(tenant, move || engine.ingest_committed(&id, signal))
        .await;
    state.wake.ring();
    let (ingested, ticket) = committed?;
    state.engine.store().durable(ticket).await?;
    Ok(ingested)
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

fn ingested(result: Ingested) -> (StatusCode, Json<Value>) {
    let body = match result {
        Ingested::Opened(case) => json!({ "result": "opened", "case": case }),
        Ingested::Joined(case) => json!({ "result": "joined", "case": case }),
        Ingested::Ignored(reason) => json!({ "result": "ignored", "reason": reason }),
        Ingested::Duplicate => json!({ "result": "duplicate" }),
    };
    (StatusCode::ACCEPTED, Json(body))
}

/// Body of the generic signal endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericSignal {
    kind: SignalKind,
    caller: String,
    line: String,
    #[serde(default)]
    at_ms: Option<i64>,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

/// `POST /v1/tenants/{tenant}/signals`: a missed call, after-hours inquiry or web form,
/// signed with the tenant's Standard Webhooks secret; `webhook-id` is the event id.
pub async fn signal(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = state.engine.tenant(&tenant)?;
    require_content_type(&headers, "application/json")?;
    let key = secret(&t.policy.webhooks.signing_secret, "signing_secret")?;
    let event_id = verify_standard_webhook(&key, &headers, &body, state.engine.now_ms() / 1000)?;
    let s: GenericSignal = serde_json::from_slice(&body).map_err(|e| {
        let msg = e.to_string();
        ApiError::bad_request(field_of(&msg), format!("invalid signal: {msg}"))
    })?;
    check_phone("caller", &s.caller)?;
    check_phone("line", &s.line)?;
    let signal = SignalIn {
        event_id: Some(event_id),
        kind: s.kind,
        caller: s.caller,
        line: s.line,
        at_ms: s.at_ms.unwrap_or_else(|| state.engine.now_ms()),
        context: s
            .context
            .into_iter()
            .map(|(k, v)| Field::new(k, v))
            .collect(),
    };
    Ok(ingested(ingest(&state, &tenant, signal).await?))
}

/// Twilio call statuses that mean nobody answered.
const MISSED: [&str; 4] = ["no-answer", "busy", "failed", "canceled"];

/// `POST /v1/tenants/{tenant}/twilio/voice-status`: Twilio's status callback
/// (form-encoded). `no-answer`, `busy`, `failed` and `canceled` (as `CallStatus` or
/// `DialCallStatus`) become missed-call signals; the `CallSid` is the event id.
pub async fn twilio_status(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let form = verified_twilio_form(&state, &tenant, &uri, &headers, &body)?;
    let (sid, from, to, status) = (
        form.required("CallSid")?,
        form.required("From")?,
        form.required("To")?,
        form.required("CallStatus")?,
    );
    check_phone("From", from)?;
    check_phone("To", to)?;
    let missed = MISSED.contains(&status)
        || form
            .get("DialCallStatus")
            .is_some_and(|s| MISSED.contains(&s));
    if !missed {
        return Ok((
            StatusCode::OK,
            Json(json!({ "result": "ignored", "reason": format!("call status {status}") })),
        ));
    }
    let mut context = vec![
        Field::new("twilio-call-sid", sid),
        Field::new("twilio-status", status),
    ];
    if let Some(dial) = form.get("DialCallStatus") {
        context.push(Field::new("twilio-dial-status", dial));
    }
    let signal = SignalIn {
        event_id: Some(format!("twilio:{sid}")),
        kind: SignalKind::MissedCall,
        caller: from.to_string(),
        line: to.to_string(),
        at_ms: state.engine.now_ms(),
        context,
    };
    Ok(ingested(ingest(&state, &tenant, signal).await?))
}

/// `POST /v1/tenants/{tenant}/twilio/sms`: replies to fallback messages (Twilio's incoming
/// message webhook, form-encoded, signed). STOP and the other standard opt-out words opt
/// the caller out; any other reply joins the caller's case as context. Answers with empty
/// TwiML so Twilio sends nothing back.
pub async fn twilio_sms(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, [(&'static str, &'static str); 1], &'static str), ApiError> {
    let form = verified_twilio_form(&state, &tenant, &uri, &headers, &body)?;
    let (sid, from, text) = (
        form.required("MessageSid")?.to_string(),
        form.required("From")?.to_string(),
        form.get("Body").unwrap_or_default().to_string(),
    );
    check_phone("From", &from)?;
    let engine = state.engine.clone();
    let id = tenant.clone();
    state
        .slots
        .run_for(&tenant, move || {
            engine.sms_reply(&id, &from, &text, &format!("twilio-sms:{sid}"))
        })
        .await?;
    Ok((
        StatusCode::OK,
        [("content-type", "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    ))
}

/// Checks content type and `X-Twilio-Signature` (HMAC-SHA1 over the full URL and the
/// sorted form parameters, keyed by the tenant's auth token) and returns the parameters.
fn verified_twilio_form(
    state: &AppState,
    tenant: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TwilioForm, ApiError> {
    let t = state.engine.tenant(tenant)?;
    require_content_type(headers, "application/x-www-form-urlencoded")?;
    let token = secret(&t.policy.webhooks.twilio_auth_token, "twilio_auth_token")?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(None, format!("invalid form body: {e}")))?;
    let url = format!("{}{}", state.public_url.trim_end_matches('/'), uri);
    let expected = twilio_signature(&token, &url, &params);
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !constant_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::unauthorized(
            "`X-Twilio-Signature` does not match",
        ));
    }
    Ok(TwilioForm(params))
}

/// A verified Twilio form body.
struct TwilioForm(Vec<(String, String)>);

impl TwilioForm {
    /// A parameter, if present.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present and non-empty (400 naming it otherwise).
    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request(name.to_string(), format!("missing `{name}`")))
    }
}

/// Maps Vapi's `endedReason` to an attempt outcome.
fn outcome_of(ended_reason: &str, analysis: &Value) -> AttemptOutcome {
    if let Some(at) = analysis
        .pointer("/structuredData/call_back_at_ms")
        .and_then(Value::as_i64)
    {
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

/// Phrases that mean "do not call me again".
const OPT_OUT: [&str; 4] = [
    "don't call me again",
    "do not call me again",
    "stop calling",
    "remove me from your list",
];

/// `POST /v1/tenants/{tenant}/vapi`: Vapi server messages, authenticated by the tenant's
/// `X-Vapi-Secret`. `end-of-call-report` ends the attempt named by the call's metadata
/// (`case_id`, `attempt`); `status-update` is acknowledged.
pub async fn vapi(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = state.engine.tenant(&tenant)?;
    require_content_type(&headers, "application/json")?;
    let expected = secret(&t.policy.webhooks.vapi_secret, "vapi_secret")?;
    let given = headers
        .get("x-vapi-secret")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !constant_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::unauthorized("`X-Vapi-Secret` does not match"));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(None, format!("invalid JSON: {e}")))?;
    let message = v
        .get("message")
        .ok_or_else(|| ApiError::bad_request("message".to_string(), "missing `message`"))?;
    let kind = message.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request("message.type".to_string(), "missing `message.type`")
    })?;
    match kind {
        "status-update" => Ok((StatusCode::OK, Json(json!({ "result": "acknowledged" })))),
        "end-of-call-report" => {
            let meta = message.pointer("/call/metadata").ok_or_else(|| {
                ApiError::bad_request(
                    "message.call.metadata".to_string(),
                    "missing `message.call.metadata` (case_id, attempt)",
                )
            })?;
            let case_id = meta.get("case_id").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(
                    "message.call.metadata.case_id".to_string(),
                    "missing `case_id`",
                )
            })?;
            let attempt = meta.get("attempt").and_then(Value::as_u64).ok_or_else(|| {
                ApiError::bad_request(
                    "message.call.metadata.attempt".to_string(),
                    "missing `attempt`",
                )
            })? as u32;
            let ended = message
                .get("endedReason")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let analysis = message.get("analysis").cloned().unwrap_or(Value::Null);
            let transcript = message
                .pointer("/artifact/transcript")
                .or_else(|| message.get("transcript"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let answers = analysis
                .get("structuredData")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| *k != "call_back_at_ms" && *k != "opt_out")
                        .map(|(k, v)| Answer {
                            field_id: k.clone(),
                            value: structured_value(v),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let lower = transcript.as_deref().unwrap_or("").to_lowercase();
            let opt_out = analysis
                .pointer("/structuredData/opt_out")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || OPT_OUT.iter().any(|p| lower.contains(p));
            let report = CallReport {
                outcome: outcome_of(ended, &analysis),
                answers,
                transcript,
                opt_out,
            };
            let case = state
                .engine
                .store()
                .case(case_id)?
                .ok_or_else(|| ApiError::not_found(format!("unknown case {case_id:?}")))?;
            if case.tenant != tenant {
                return Err(ApiError::not_found(format!("unknown case {case_id:?}")));
            }
            let engine = state.engine.clone();
            let id = case_id.to_string();
            state
                .slots
                .run_for(&tenant, move || engine.call_ended(&id, attempt, report))
                .await?;
            state.wake.ring();
            Ok((
                StatusCode::OK,
                Json(json!({ "result": "recorded", "case": case_id })),
            ))
        }
        other => Ok((
            StatusCode::OK,
            Json(json!({ "result": "ignored", "reason": format!("message type {other}") })),
        )),
    }
}
