//! Inbound webhooks: the generic signal endpoint (Standard Webhooks), Twilio voice and
//! message status callbacks and replies (X-Twilio-Signature), Vapi server messages
//! (X-Vapi-Secret) and Retell events (X-Retell-Signature). Each verifies
//! the tenant's secret before anything is parsed into the engine, and is idempotent by
//! the provider's event id.

use super::auth::{
    RetellSignature, constant_eq, resolve_secret, standard_webhook_headers, twilio_signature,
};
use super::error::{ErrorBody, parse_form, parse_json, read_body};
use super::views::{
    CallMetadata, CallReportAnswer, MessageStatusAnswer, MessageStatusQuery, RetellWebhook,
    SignalAccepted, SignalBody, TenantPath, TwilioMessageStatus, TwilioSms, TwilioVoiceStatus,
    VapiMessage, VapiWebhook,
};
use super::{ApiError, AppState, MAX_BODY};
use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use redial_connectors::retell;
use redial_core::connectors::CallReport;
use redial_core::engine::{CRM_LOOKUP, Ingested, MessageStatus, SignalIn};
use redial_core::policy::Provider;
use redial_sdk::{Field, SignalKind};

/// Refuses a body not sent as `expected` (parameters such as `charset` aside) with 415.
pub(crate) fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
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

/// How far ahead of the server's clock a signal's `at_ms` may be (clocks disagree; a
/// signal from further ahead is an error, and times near the ends of `i64` break calendar
/// arithmetic).
const AT_MS_AHEAD: i64 = 24 * 3600 * 1000;

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

/// Ingests a signal within the tenant's rate, first adding what the tenant's CRM knows about the caller (context
/// injection; see [`Engine::caller_context`](redial_core::engine::Engine::caller_context)).
/// The lookup is bounded by [`CRM_LOOKUP`]: a slow CRM delays the callback by at most that.
async fn ingest(
    state: &AppState,
    tenant: &str,
    mut signal: SignalIn,
) -> Result<Ingested, ApiError> {
    state.signal_limits.admit(tenant)?;
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

fn accepted(result: Ingested) -> (StatusCode, Json<SignalAccepted>) {
    let body = match result {
        Ingested::Opened(case) => SignalAccepted::Opened { case },
        Ingested::Joined(case) => SignalAccepted::Joined { case },
        Ingested::Ignored(reason) => SignalAccepted::Ignored { reason },
        Ingested::Duplicate => SignalAccepted::Duplicate,
    };
    (StatusCode::ACCEPTED, Json(body))
}

/// A missed call, after-hours inquiry, web form or voicemail.
///
/// Signed with the tenant's Standard Webhooks secret; `webhook-id` is the event id, so a
/// retried delivery counts once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/signals", operation_id = "postSignal", tag = "inbound",
    params(
        TenantPath,
        ("webhook-id" = String, Header, description = "The event id (idempotency)", example = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds; refused when more than 5 minutes away", example = 1733560000),
    ),
    security(("standardWebhooks" = [])),
    request_body(content = SignalBody, content_type = "application/json", example = super::openapi::examples::signal),
    responses(
        (status = 202, description = "Accepted: what became of it", body = SignalAccepted, links(
            ("case" = (operation_id = "getCase", parameters(("case" = "$response.body#/case")),
                description = "The case the signal opened or joined")),
        )),
        (status = 400, description = "A malformed signal (the field is named)", body = ErrorBody),
        (status = 401, description = "Missing, stale or wrong signature, or no secret configured", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 429, description = "The tenant is over its signal rate; nothing was recorded", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn signal(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SignalAccepted>), ApiError> {
    let t = state.engine.tenant(&tenant)?;
    require_content_type(&headers, "application/json")?;
    let key = secret(&t.policy.webhooks.signing_secret, "signing_secret")?;
    let proof = standard_webhook_headers(&headers, state.engine.now_ms() / 1000)?;
    let body = read_body(body, MAX_BODY).await?;
    let event_id = proof.verify(&key, &body)?;
    let s: SignalBody = parse_json(&body, "signal")?;
    check_phone("caller", &s.caller)?;
    check_phone("line", &s.line)?;
    let now = state.engine.now_ms();
    let at_ms = s.at_ms.unwrap_or(now);
    if !(0..=now.saturating_add(AT_MS_AHEAD)).contains(&at_ms) {
        return Err(ApiError::bad_request(
            "at_ms".to_string(),
            "`at_ms` must be a unix time in ms, at most a day ahead of the server's clock",
        ));
    }
    let signal = SignalIn {
        event_id: Some(event_id),
        kind: s.kind.into(),
        caller: s.caller,
        line: s.line,
        at_ms,
        context: s
            .context
            .into_iter()
            .map(|(k, v)| Field::new(k, v))
            .collect(),
    };
    Ok(accepted(ingest(&state, &tenant, signal).await?))
}

/// Twilio call statuses that mean nobody answered.
const MISSED: [&str; 4] = ["no-answer", "busy", "failed", "canceled"];

/// Twilio's voice status callback.
///
/// `no-answer`, `busy`, `failed` and `canceled` (as `CallStatus` or `DialCallStatus`)
/// become missed-call signals; the `CallSid` is the event id. Any other status is answered
/// 200 and ignored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/twilio/voice-status", operation_id = "twilioVoiceStatus", tag = "inbound",
    params(TenantPath),
    security(("twilioSignature" = [])),
    request_body(content = TwilioVoiceStatus, content_type = "application/x-www-form-urlencoded",
        example = super::openapi::examples::twilio_voice_status),
    responses(
        (status = 200, description = "Not a missed call: ignored", body = SignalAccepted),
        (status = 202, description = "A missed call: what became of it", body = SignalAccepted),
        (status = 400, description = "A missing or malformed parameter (named)", body = ErrorBody),
        (status = 401, description = "`X-Twilio-Signature` missing or wrong, or no auth token configured", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not form-encoded", body = ErrorBody),
        (status = 429, description = "The tenant is over its signal rate; nothing was recorded", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn twilio_status(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SignalAccepted>), ApiError> {
    let body = verified_twilio_body(&state, &tenant, &uri, &headers, body).await?;
    let form: TwilioVoiceStatus = parse_form(&body, "voice status callback")?;
    non_empty("CallSid", &form.call_sid)?;
    non_empty("CallStatus", &form.call_status)?;
    check_phone("From", &form.from)?;
    check_phone("To", &form.to)?;
    let status = form.call_status.as_str();
    let missed = MISSED.contains(&status)
        || form
            .dial_call_status
            .as_deref()
            .is_some_and(|s| MISSED.contains(&s));
    if !missed {
        let reason = format!("call status {status}");
        return Ok((StatusCode::OK, Json(SignalAccepted::Ignored { reason })));
    }
    let mut context = vec![
        Field::new("twilio-call-sid", &form.call_sid),
        Field::new("twilio-status", status),
    ];
    if let Some(dial) = &form.dial_call_status {
        context.push(Field::new("twilio-dial-status", dial));
    }
    let signal = SignalIn {
        event_id: Some(format!("twilio:{}", form.call_sid)),
        kind: SignalKind::MissedCall,
        caller: form.from,
        line: form.to,
        at_ms: state.engine.now_ms(),
        context,
    };
    Ok(accepted(ingest(&state, &tenant, signal).await?))
}

/// Replies to fallback messages (Twilio's incoming-message webhook).
///
/// STOP and the other standard opt-out words opt the caller out; any other reply joins the
/// caller's case as context. Answered with empty TwiML, so Twilio sends nothing back.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/twilio/sms", operation_id = "twilioSms", tag = "inbound",
    params(TenantPath),
    security(("twilioSignature" = [])),
    request_body(content = TwilioSms, content_type = "application/x-www-form-urlencoded",
        example = super::openapi::examples::twilio_sms),
    responses(
        (status = 200, description = "Recorded; empty TwiML", body = String, content_type = "text/xml",
            example = json!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")),
        (status = 400, description = "A missing or malformed parameter (named)", body = ErrorBody),
        (status = 401, description = "`X-Twilio-Signature` missing or wrong, or no auth token configured", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not form-encoded", body = ErrorBody),
    ))]
pub async fn twilio_sms(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, [(&'static str, &'static str); 1], &'static str), ApiError> {
    let body = verified_twilio_body(&state, &tenant, &uri, &headers, body).await?;
    let form: TwilioSms = parse_form(&body, "incoming message")?;
    non_empty("MessageSid", &form.message_sid)?;
    check_phone("From", &form.from)?;
    let engine = state.engine.clone();
    let id = tenant.clone();
    state
        .slots
        .run_for(&tenant, move || {
            let event = format!("twilio-sms:{}", form.message_sid);
            engine.sms_reply(&id, &form.from, &form.body, &event)
        })
        .await?;
    Ok((
        StatusCode::OK,
        [("content-type", "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    ))
}

/// Refuses an empty required parameter with 400 naming it.
fn non_empty(name: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        Err(ApiError::bad_request(
            name.to_string(),
            format!("missing `{name}`"),
        ))
    } else {
        Ok(())
    }
}

/// Checks content type and `X-Twilio-Signature` (HMAC-SHA1 over the full URL and the
/// sorted form parameters, keyed by the tenant's auth token) before anything is parsed
/// into the engine; the body is read only once the tenant, its token and the header are
/// there. Returns the body.
async fn verified_twilio_body(
    state: &AppState,
    tenant: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    let t = state.engine.tenant(tenant)?;
    require_content_type(headers, "application/x-www-form-urlencoded")?;
    let token = secret(&t.policy.webhooks.twilio_auth_token, "twilio_auth_token")?;
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("missing `X-Twilio-Signature` header"))?
        .to_string();
    let body = read_body(body, MAX_BODY).await?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad_request(None, format!("invalid form body: {e}")))?;
    let url = format!("{}{}", state.public_url.trim_end_matches('/'), uri);
    let expected = twilio_signature(&token, &url, &params);
    if constant_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(body)
    } else {
        Err(ApiError::unauthorized(
            "`X-Twilio-Signature` does not match",
        ))
    }
}

/// Vapi server messages, authenticated by the tenant's `X-Vapi-Secret`.
///
/// `end-of-call-report` ends the attempt named by the call's metadata (`case_id`,
/// `attempt`), with the answers from `analysis.structuredData`; `status-update` is
/// acknowledged; other types are ignored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/vapi", operation_id = "vapiMessage", tag = "inbound",
    params(TenantPath),
    security(("vapiSecret" = [])),
    request_body(content = VapiWebhook, content_type = "application/json",
        example = super::openapi::examples::vapi_end_of_call_report),
    responses(
        (status = 200, description = "What became of the message", body = CallReportAnswer),
        (status = 400, description = "A malformed message (the field is named)", body = ErrorBody),
        (status = 401, description = "`X-Vapi-Secret` missing or wrong, or none configured", body = ErrorBody),
        (status = 404, description = "No such tenant, or the report's case is not this tenant's", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
    ))]
pub async fn vapi(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CallReportAnswer>, ApiError> {
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
    let body = read_body(body, MAX_BODY).await?;
    let VapiWebhook { message } = parse_json(&body, "Vapi message")?;
    match message.kind.as_str() {
        "status-update" => Ok(Json(CallReportAnswer::Acknowledged)),
        "end-of-call-report" => {
            let case = end_of_call(&state, &tenant, message).await?;
            Ok(Json(CallReportAnswer::Recorded { case }))
        }
        other => Ok(Json(CallReportAnswer::Ignored {
            reason: format!("message type {other}"),
        })),
    }
}

/// Records an end-of-call report on its case; returns the case id.
async fn end_of_call(
    state: &AppState,
    tenant: &str,
    message: VapiMessage,
) -> Result<String, ApiError> {
    let meta = message.call.and_then(|c| c.metadata).ok_or_else(|| {
        ApiError::bad_request(
            "message.call.metadata".to_string(),
            "missing `message.call.metadata` (case_id, attempt)",
        )
    })?;
    let structured = message
        .analysis
        .and_then(|a| a.structured_data)
        .unwrap_or_default();
    let transcript = message
        .artifact
        .and_then(|a| a.transcript)
        .or(message.transcript);
    let ended_reason = message.ended_reason.as_deref().unwrap_or("unknown");
    let report = redial_connectors::vapi::report(ended_reason, structured, transcript);
    record_report(state, tenant, meta, report).await
}

/// Ends the attempt a provider's report names (by the metadata Redial put on the call)
/// with it; returns the case id. A case that is not this tenant's, or an attempt the
/// case never made, is a 404 with nothing recorded.
async fn record_report(
    state: &AppState,
    tenant: &str,
    meta: CallMetadata,
    report: CallReport,
) -> Result<String, ApiError> {
    let unknown = || ApiError::not_found(format!("unknown case {:?}", meta.case_id));
    let case = state
        .engine
        .store()
        .case(&meta.case_id)?
        .ok_or_else(unknown)?;
    if case.tenant != tenant {
        return Err(unknown());
    }
    let engine = state.engine.clone();
    let id = meta.case_id.clone();
    state
        .slots
        .run_for(tenant, move || engine.call_ended(&id, meta.attempt, report))
        .await?;
    state.wake.ring();
    Ok(meta.case_id)
}

/// Retell webhook events, verified by `X-Retell-Signature` (HMAC-SHA256 of the body and a
/// millisecond timestamp, keyed by the tenant's Retell API key, `[voice] api_key`).
///
/// `call_ended` ends the attempt named by the call's metadata (`case_id`, `attempt`) when
/// nobody talked (busy, no answer, voicemail, failure); a call with a conversation ends
/// with `call_analyzed`, which carries the extracted answers. `call_started` is
/// acknowledged; other events are ignored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/retell", operation_id = "retellEvent", tag = "inbound",
    params(TenantPath),
    security(("retellSignature" = [])),
    request_body(content = RetellWebhook, content_type = "application/json",
        example = super::openapi::examples::retell_call_analyzed),
    responses(
        (status = 200, description = "What became of the event", body = CallReportAnswer),
        (status = 400, description = "A malformed event (the field is named)", body = ErrorBody),
        (status = 401, description = "`X-Retell-Signature` missing, stale or wrong, or the tenant's voice provider is not Retell", body = ErrorBody),
        (status = 404, description = "No such tenant, or the event's case or attempt is not this tenant's", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
    ))]
pub async fn retell(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CallReportAnswer>, ApiError> {
    let t = state.engine.tenant(&tenant)?;
    require_content_type(&headers, "application/json")?;
    let voice = &t.policy.voice;
    let api_key = (voice.provider == Provider::Retell)
        .then(|| voice.setting("api_key"))
        .flatten()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ApiError::unauthorized("this tenant's voice provider is not Retell"))?;
    let proof = RetellSignature::from_headers(&headers, state.engine.now_ms())?;
    let body = read_body(body, MAX_BODY).await?;
    proof.verify(&api_key, &body)?;
    let event: RetellWebhook = parse_json(&body, "Retell event")?;
    let raw: serde_json::Value = parse_json(&body, "Retell event")?;
    match retell::webhook_event(&event.event, &raw["call"]) {
        retell::WebhookEvent::Acknowledged(_) => Ok(Json(CallReportAnswer::Acknowledged)),
        retell::WebhookEvent::Ignored => Ok(Json(CallReportAnswer::Ignored {
            reason: format!("event {}", event.event),
        })),
        retell::WebhookEvent::Report(report) => {
            let meta = event.call.metadata.ok_or_else(|| {
                ApiError::bad_request(
                    "call.metadata".to_string(),
                    "missing `call.metadata` (case_id, attempt)",
                )
            })?;
            let case = record_report(&state, &tenant, meta, report).await?;
            Ok(Json(CallReportAnswer::Recorded { case }))
        }
    }
}

/// Twilio's message status callback for a fallback message.
///
/// Redial asks for it on every message it sends, naming the message by its key in the
/// URL's query (covered by the signature). A final status (`delivered`, `undelivered`,
/// `failed`) is journalled on the message's case, once per message and status; earlier
/// ones are answered 200 and ignored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/twilio/sms-status", operation_id = "twilioMessageStatus", tag = "inbound",
    params(TenantPath, MessageStatusQuery),
    security(("twilioSignature" = [])),
    request_body(content = TwilioMessageStatus, content_type = "application/x-www-form-urlencoded",
        example = super::openapi::examples::twilio_message_status),
    responses(
        (status = 200, description = "What became of the status", body = MessageStatusAnswer),
        (status = 400, description = "A missing or malformed parameter (named)", body = ErrorBody),
        (status = 401, description = "`X-Twilio-Signature` missing or wrong, or no auth token configured", body = ErrorBody),
        (status = 404, description = "No such tenant, or `key` names no fallback message of this tenant's", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 415, description = "Not form-encoded", body = ErrorBody),
    ))]
pub async fn twilio_message_status(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MessageStatusAnswer>, ApiError> {
    let body = verified_twilio_body(&state, &tenant, &uri, &headers, body).await?;
    let MessageStatusQuery { key } = parse_form(query.unwrap_or_default().as_bytes(), "query")?;
    let form: TwilioMessageStatus = parse_form(&body, "message status callback")?;
    non_empty("MessageSid", &form.message_sid)?;
    non_empty("MessageStatus", &form.message_status)?;
    let engine = state.engine.clone();
    let id = tenant.clone();
    let status = form.message_status.clone();
    let recorded = state
        .slots
        .run_for(&tenant, move || {
            let event = format!("twilio-status:{}:{}", form.message_sid, form.message_status);
            let code = form.error_code.filter(|c| !c.is_empty());
            engine.message_status(&id, &key, &form.message_status, code, &event)
        })
        .await?;
    Ok(Json(match recorded {
        MessageStatus::Recorded(case) => MessageStatusAnswer::Recorded { case },
        MessageStatus::NotFinal => MessageStatusAnswer::Ignored {
            reason: format!("status {status} is not final"),
        },
        MessageStatus::Duplicate => MessageStatusAnswer::Ignored {
            reason: format!("status {status} already recorded"),
        },
    }))
}
