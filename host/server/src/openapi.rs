//! `GET /openapi.json`: the API described for people, client generators and conformance
//! fuzzers.
//!
//! Nothing here lists routes: the router is built from the handlers' `#[utoipa::path]`
//! annotations (see [`crate::router`]), so the document and what is served are one list.
//! This module adds what no single handler knows: the title, the tags, the security
//! schemes, and the request examples, which are the test fixtures in
//! `tests/fixtures/api/` (the conformance test sends each of them, signed).

use axum::http::header;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Redial",
        description = "Missed-call recovery for many businesses: provider webhooks in, case \
            queries and tenant administration. Every error is `{\"error\": {\"code\", \
            \"message\", \"field\"}}`.",
    ),
    tags(
        (name = "inbound", description = "Provider webhooks, each verified by the tenant's own secret before its body is read"),
        (name = "cases", description = "Cases, the follow-up queue and the funnel, scoped to the token's tenant"),
        (name = "admin", description = "Tenants, policies and tokens"),
        (name = "plugins", description = "A tenant's plugin components: upload, versions, rollback"),
        (name = "ops", description = "Health, metrics and this document"),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Who may call what: the admin and tenant bearer tokens, and each provider's proof.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        let header = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                name,
                description,
            )))
        };
        for (name, scheme) in [
            (
                "adminToken",
                bearer("The agency's admin token (`redial serve --admin-token`): every tenant"),
            ),
            (
                "tenantToken",
                bearer("A tenant token (`POST /v1/tenants/{tenant}/tokens`): that tenant only"),
            ),
            (
                "standardWebhooks",
                header(
                    "webhook-signature",
                    "Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of \
                     `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the tenant's \
                     `webhooks.signing_secret`",
                ),
            ),
            (
                "twilioSignature",
                header(
                    "X-Twilio-Signature",
                    "Twilio's signature: base64 HMAC-SHA1 of the full URL followed by the \
                     sorted form parameters, keyed by the tenant's `webhooks.twilio_auth_token`",
                ),
            ),
            (
                "vapiSecret",
                header(
                    "X-Vapi-Secret",
                    "The tenant's `webhooks.vapi_secret`, as Vapi sends it",
                ),
            ),
            (
                "retellSignature",
                header(
                    "X-Retell-Signature",
                    "Retell's signature: `v=<unix ms>,d=<hex HMAC-SHA256 of the body followed \
                     by the timestamp>`, keyed by the tenant's Retell API key \
                     (`[voice] api_key`); refused five minutes from now",
                ),
            ),
        ] {
            components.add_security_scheme(name, scheme);
        }
    }
}

/// Request examples: the fixtures the tests send.
pub mod examples {
    use serde_json::Value;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("the API fixtures are JSON")
    }

    /// A missed call (`tests/fixtures/api/signal.json`).
    pub fn signal() -> Value {
        fixture(include_str!("../../../tests/fixtures/api/signal.json"))
    }

    /// A Vapi end-of-call report for the first case's first attempt.
    pub fn vapi_end_of_call_report() -> Value {
        fixture(include_str!(
            "../../../tests/fixtures/api/vapi-end-of-call-report.json"
        ))
    }

    /// Twilio's status callback for an unanswered call, as its form fields.
    pub fn twilio_voice_status() -> Value {
        fixture(include_str!(
            "../../../tests/fixtures/api/twilio-voice-status.json"
        ))
    }

    /// A Retell `call_analyzed` event for the first case's first attempt.
    pub fn retell_call_analyzed() -> Value {
        fixture(include_str!(
            "../../../tests/fixtures/api/retell-call-analyzed.json"
        ))
    }

    /// Twilio's status callback for an undelivered fallback message, as its form fields.
    pub fn twilio_message_status() -> Value {
        fixture(include_str!(
            "../../../tests/fixtures/api/twilio-message-status.json"
        ))
    }

    /// A reply to a fallback SMS, as its form fields.
    pub fn twilio_sms() -> Value {
        fixture(include_str!("../../../tests/fixtures/api/twilio-sms.json"))
    }

    /// The HVAC example policy from `policies/`.
    pub fn policy() -> Value {
        Value::String(include_str!("../../../policies/lone-star-hvac.toml").to_string())
    }
}

/// The OpenAPI 3.1 document of every route [`crate::router`] serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = crate::routes().split_for_parts().1;
    document_internal_errors(&mut doc);
    doc
}

/// Any route that can refuse a request can also fail inside (a store error): such a 500 is
/// logged with its cause and answered in the error shape, never with the cause.
fn document_internal_errors(doc: &mut utoipa::openapi::OpenApi) {
    let internal = ResponseBuilder::new()
        .description("Failed inside; logged with its cause, which is not shown")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            let answers = &mut op.responses.responses;
            if answers.keys().any(|status| status.starts_with('4')) {
                answers.insert("500".into(), internal.clone().into());
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json")))]
pub async fn serve() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| {
        document()
            .to_pretty_json()
            .expect("the document serialises")
    });
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_operation_is_named_secured_and_answered() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let mut found = vec![];
        refs(&doc, &mut found);
        for r in &found {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let mut ids = std::collections::BTreeSet::new();
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for (method, op) in methods.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(
                    ids.insert(id.to_string()),
                    "{method} {path}: operationId {id:?} twice"
                );
                let open = ["/healthz", "/openapi.json"].contains(&path.as_str());
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                assert_eq!(secured, !open, "{method} {path}: security");
                let statuses = op["responses"].as_object().unwrap();
                assert!(
                    statuses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}"
                );
                if !open {
                    assert!(statuses.contains_key("401"), "{method} {path}: no 401");
                    assert!(statuses.contains_key("500"), "{method} {path}: no 500");
                }
            }
        }
        assert_eq!(ids.len(), 36);
    }
}
