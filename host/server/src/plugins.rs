//! Plugin administration: upload a component for a tenant's slot (validated, compiled,
//! then swapped atomically), list versions, roll back.

use super::auth::authenticate;
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use redial_runtime::Slot;
use serde_json::{Value, json};

fn slot_of(name: &str) -> Result<Slot, ApiError> {
    name.parse()
        .map_err(|e: String| ApiError::bad_request("slot".to_string(), e))
}

fn listing(state: &AppState, tenant: &str) -> Result<Value, ApiError> {
    let t = state.engine.tenant(tenant)?;
    let mut slots = serde_json::Map::new();
    for slot in Slot::ALL {
        let (plugin, _) = t.plugin(slot);
        let versions = state.engine.store().plugin_versions(tenant, slot.name())?;
        slots.insert(
            slot.name().into(),
            json!({ "live": { "sha256": plugin.id.hash, "name": plugin.id.name, "wit": plugin.version, "tier": plugin.tier }, "uploads": versions }),
        );
    }
    Ok(Value::Object(slots))
}

/// `GET /v1/tenants/{tenant}/plugins`: the live plugin of each slot and its upload history.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    Ok(Json(
        json!({ "tenant": tenant, "slots": listing(&state, &tenant)? }),
    ))
}

/// `PUT /v1/tenants/{tenant}/plugins/{slot}`: upload a component (`application/wasm`).
/// It is validated and compiled first; only then does the slot switch, atomically. A
/// refused component leaves the live one serving. A new component goes live on quick code
/// (`"tier": "quick"`) and moves to optimised code in the background.
pub async fn upload(
    State(state): State<AppState>,
    Path((tenant, slot)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/wasm" {
        return Err(ApiError::unsupported_media("application/wasm"));
    }
    state.engine.tenant(&tenant)?;
    let engine = state.engine.clone();
    let t = tenant.clone();
    let (versions, tier) = state
        .slots
        .run(move || engine.upload_plugin(&t, slot, &body))
        .await?;
    let live = versions.last().map(|v| v.sha256.clone());
    Ok((
        StatusCode::OK,
        Json(
            json!({ "tenant": tenant, "slot": slot.name(), "live": live, "tier": tier, "versions": versions }),
        ),
    ))
}

/// `POST /v1/tenants/{tenant}/plugins/{slot}/rollback`: back to the previous version.
pub async fn rollback(
    State(state): State<AppState>,
    Path((tenant, slot)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let engine = state.engine.clone();
    let t = tenant.clone();
    state
        .slots
        .run(move || engine.rollback_plugin(&t, slot))
        .await?;
    let live = state.engine.tenant(&tenant)?.plugin(slot).0.id.hash.clone();
    Ok(Json(
        json!({ "tenant": tenant, "slot": slot.name(), "live": live }),
    ))
}
