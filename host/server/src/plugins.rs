//! Plugin administration: upload a component for a tenant's slot (validated, compiled,
//! then swapped atomically), list versions, roll back.

use super::auth::authenticate;
use super::error::ErrorBody;
use super::views::{
    LivePlugin, PluginListing, PluginUploaded, PluginVersion, RolledBack, SlotPath, SlotPlugins,
    TenantPath,
};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use redial_runtime::Slot;

/// A component's bytes, as the upload route takes them.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct Component(Vec<u8>);

fn slot_of(name: &str) -> Result<Slot, ApiError> {
    name.parse()
        .map_err(|e: String| ApiError::bad_request("slot".to_string(), e))
}

/// The live plugin of each slot and its upload history.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins", operation_id = "listPlugins", tag = "plugins",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "Each slot's live plugin and uploads", body = PluginListing),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<Json<PluginListing>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let t = state.engine.tenant(&tenant)?;
    let mut slots = std::collections::BTreeMap::new();
    for slot in Slot::ALL {
        let (plugin, _) = t.plugin(slot);
        let uploads = state.engine.store().plugin_versions(&tenant, slot.name())?;
        let live = LivePlugin {
            sha256: plugin.id.hash.clone(),
            name: plugin.id.name.clone(),
            wit: plugin.version.clone(),
            tier: plugin.tier.into(),
        };
        let uploads = uploads.iter().map(PluginVersion::from).collect();
        slots.insert(slot.name().to_string(), SlotPlugins { live, uploads });
    }
    Ok(Json(PluginListing { tenant, slots }))
}

/// Uploads a component for a slot.
///
/// It is validated and compiled first; only then does the slot switch, atomically. A
/// refused component leaves the live one serving. A new component goes live on quick code
/// (`"tier": "quick"`) and moves to optimised code in the background. Uploads compile on
/// their own queue, one at a time and one per tenant, within a time bound.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/plugins/{slot}", operation_id = "uploadPlugin", tag = "plugins",
    params(SlotPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = inline(Component), content_type = "application/wasm",
        description = "A WebAssembly component exporting the slot's `redial:policy` interface (64 MiB at most unless the operator set another limit)"),
    responses(
        (status = 200, description = "The component is live", body = PluginUploaded),
        (status = 400, description = "No such slot", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than the server's limit (64 MiB unless the operator set another)", body = ErrorBody),
        (status = 415, description = "Not sent as `application/wasm`", body = ErrorBody),
        (status = 422, description = "Not a component for this slot (the live one stays)", body = ErrorBody),
        (status = 429, description = "Another upload of this tenant is under way, or the server is taking as many uploads as it takes at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "It did not compile within the time bound (the live one stays)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PluginUploaded>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    super::inbound::require_content_type(&headers, "application/wasm")?;
    state.engine.tenant(&tenant)?;
    let turn = state.compiles.claim(&tenant)?;
    let body = super::error::read_body(body, state.compiles.max_bytes()).await?;
    let engine = state.engine.clone();
    let t = tenant.clone();
    let (versions, tier) = state
        .compiles
        .compile(turn, move |deadline| {
            engine.upload_plugin(&t, slot, &body, deadline)
        })
        .await?;
    Ok(Json(PluginUploaded {
        tenant,
        slot: slot.name().to_string(),
        live: versions.last().map(|v| v.sha256.clone()),
        tier: tier.into(),
        versions: versions.iter().map(PluginVersion::from).collect(),
    }))
}

/// Goes back to the slot's previous version (the policy's own plugin when no upload is
/// left).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{slot}/rollback", operation_id = "rollbackPlugin", tag = "plugins",
    params(SlotPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The previous version is live", body = RolledBack),
        (status = 400, description = "No such slot", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 422, description = "The previous version no longer loads (the live one stays)", body = ErrorBody),
    ))]
pub async fn rollback(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    headers: HeaderMap,
) -> Result<Json<RolledBack>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let engine = state.engine.clone();
    let t = tenant.clone();
    state
        .slots
        .run(move || engine.rollback_plugin(&t, slot))
        .await?;
    let live = state.engine.tenant(&tenant)?.plugin(slot).0.id.hash.clone();
    Ok(Json(RolledBack {
        tenant,
        slot: slot.name().to_string(),
        live,
    }))
}
