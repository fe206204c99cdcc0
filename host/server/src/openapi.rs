//! `GET /openapi.json`: the API described for people and client generators.
//!
//! Written out as data next to the routes it documents; `tests/server.rs` checks that every
//! route the router serves appears here.

use axum::Json;
use serde_json::{Value, json};

fn op(summary: &str, security: &str, tag: &str) -> Value {
    let security = match security {
        "none" => json!([]),
        s => json!([{ s: [] }]),
    };
    json!({
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": {
            "200": { "description": "OK" },
            "4XX": { "description": "Refused", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
    })
}

fn tenant_param() -> Value {
    json!({ "name": "tenant", "in": "path", "required": true, "schema": { "type": "string" } })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let with_params = |mut v: Value, params: Vec<Value>| {
        v["parameters"] = Value::Array(params);
        v
    };
    let t = || vec![tenant_param()];
    let case = || {
        vec![
            json!({ "name": "case", "in": "path", "required": true, "schema": { "type": "string" } }),
        ]
    };
    let slot = || {
        vec![
            tenant_param(),
            json!({ "name": "slot", "in": "path", "required": true, "schema": { "enum": ["trigger", "cadence", "qualify", "crm"] } }),
        ]
    };
    let mut signal = with_params(
        op(
            "Generic signal (missed call, after-hours inquiry, web form)",
            "standardWebhooks",
            "inbound",
        ),
        t(),
    );
    signal["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Signal" } } } });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Redial", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Missed-call recovery loop: provider webhooks in, case queries and tenant administration." },
        "paths": {
            "/healthz": { "get": op("Health", "none", "ops") },
            "/metrics": { "get": op("Prometheus metrics", "none", "ops") },
            "/openapi.json": { "get": op("This document", "none", "ops") },
            "/v1/tenants": { "get": op("List tenants", "bearer", "admin") },
            "/v1/tenants/{tenant}": { "delete": with_params(op("Stop serving a tenant", "bearer", "admin"), t()) },
            "/v1/tenants/{tenant}/policy": {
                "get": with_params(op("The live policy (TOML)", "bearer", "admin"), t()),
                "put": with_params(op("Validate and swap the policy (TOML body)", "bearer", "admin"), t())
            },
            "/v1/tenants/{tenant}/tokens": { "post": with_params(op("Issue a tenant API token", "bearer", "admin"), t()) },
            "/v1/tenants/{tenant}/plugins": { "get": with_params(op("Live plugin and upload history per slot", "bearer", "plugins"), t()) },
            "/v1/tenants/{tenant}/plugins/{slot}": { "put": with_params(op("Upload a component (application/wasm); validated, then swapped", "bearer", "plugins"), slot()) },
            "/v1/tenants/{tenant}/plugins/{slot}/rollback": { "post": with_params(op("Roll back to the previous version", "bearer", "plugins"), slot()) },
            "/v1/tenants/{tenant}/signals": { "post": signal },
            "/v1/tenants/{tenant}/twilio/voice-status": { "post": with_params(op("Twilio voice status callback (form)", "twilioSignature", "inbound"), t()) },
            "/v1/tenants/{tenant}/twilio/sms": { "post": with_params(op("Twilio incoming SMS (form): STOP opts out", "twilioSignature", "inbound"), t()) },
            "/v1/tenants/{tenant}/vapi": { "post": with_params(op("Vapi server message (end-of-call-report, status-update)", "vapiSecret", "inbound"), t()) },
            "/v1/tenants/{tenant}/cases": { "get": with_params(op("Cases, filtered by state, reason_code, urgency, owner", "bearer", "cases"), t()) },
            "/v1/tenants/{tenant}/fua": { "get": with_params(op("Follow-up automation queue", "bearer", "cases"), t()) },
            "/v1/tenants/{tenant}/funnel": { "get": with_params(op("Funnel, SLA met %, median signal-to-first-dial", "bearer", "cases"), t()) },
            "/v1/cases/{case}": { "get": with_params(op("One case with its timeline", "bearer", "cases"), case()) },
            "/v1/cases/{case}/ack": { "post": with_params(op("Owner acknowledges the handoff (stops the SLA)", "bearer", "cases"), case()) }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "Agency admin token or a tenant token" },
                "standardWebhooks": { "type": "apiKey", "in": "header", "name": "webhook-signature", "description": "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1, HMAC-SHA256)" },
                "twilioSignature": { "type": "apiKey", "in": "header", "name": "X-Twilio-Signature" },
                "vapiSecret": { "type": "apiKey", "in": "header", "name": "X-Vapi-Secret" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" } } } } },
                "Signal": { "type": "object", "required": ["kind", "caller", "line"], "additionalProperties": false, "properties": {
                    "kind": { "enum": ["missed-call", "after-hours-inquiry", "failed-call-after-form", "voicemail"] },
                    "caller": { "type": "string", "pattern": "^\\+[0-9]{8,15}$" },
                    "line": { "type": "string", "pattern": "^\\+[0-9]{8,15}$" },
                    "at_ms": { "type": "integer" },
                    "context": { "type": "object", "additionalProperties": { "type": "string" } } } }
            }
        }
    })
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document())
}
