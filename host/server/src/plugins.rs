//! Plugin administration: upload a component for a tenant's slot (validated, compiled,
//! then swapped atomically), list versions, roll back, and replay a candidate on the
//! tenant's recorded cases before uploading it.

use super::auth::authenticate;
use super::compiles::{Turn, UploadState};
use super::error::ErrorBody;
use super::views::{
    LivePlugin, PluginListing, PluginUploaded, PluginVersion, Replay, RolledBack, SlotPath,
    SlotPlugins, TenantPath, Trial, UploadAccepted, UploadStatus,
};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use redial_runtime::Slot;

/// A component's bytes, as the upload route takes them.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct Component(Vec<u8>);

pub(crate) fn slot_of(name: &str) -> Result<Slot, ApiError> {
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
        let latest_upload = state.compiles.progress(&tenant, slot);
        let latest_upload = latest_upload.as_ref().map(UploadStatus::from);
        slots.insert(
            slot.name().to_string(),
            SlotPlugins {
                live,
                uploads,
                latest_upload,
                trial: t.trial(slot).map(|on| Trial::from(&on.trial)),
            },
        );
    }
    Ok(Json(PluginListing { tenant, slots }))
}

/// Uploads a component for a slot.
///
/// It is validated and compiled first; only then does the slot switch, atomically. A
/// refused component leaves the live one serving. A new component goes live on quick code
/// (`"tier": "quick"`) and moves to optimised code in the background. Uploads compile on
/// their own queue, one at a time and one per tenant, within a time bound, off the
/// request: with `Prefer: respond-async` the answer is 202 at once, and the slot's
/// `latest_upload` in the plugin list shows it compiling, then live or failed with the
/// reason (without it, the answer waits for the compile, which goes on even if the client
/// goes away).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/plugins/{slot}", operation_id = "uploadPlugin", tag = "plugins",
    params(SlotPath,
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 at once and compile in the background")),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = inline(Component), content_type = "application/wasm",
        description = "A WebAssembly component exporting the slot's `redial:policy` interface (64 MiB at most unless the operator set another limit)"),
    responses(
        (status = 200, description = "The component is live", body = PluginUploaded),
        (status = 202, description = "Accepted with `Prefer: respond-async`: it compiles; the plugin list shows how it ends", body = UploadAccepted),
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
) -> Result<Response, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let (turn, body) = claimed_component(&state, &tenant, &headers, body).await?;
    let sha256 = redial_runtime::content_hash(&body);
    let compiles = state.compiles.clone();
    compiles.started(&tenant, slot, &sha256, state.engine.now_ms());
    let compiling = compiles.progress(&tenant, slot).expect("just recorded");
    // The compile and its record run apart from the request, so a client that goes away
    // neither stops it nor leaves its progress at "compiling".
    let (engine, t) = (state.engine.clone(), tenant.clone());
    let compiled = tokio::spawn(async move {
        let job_engine = engine.clone();
        let job_tenant = t.clone();
        let result = compiles
            .compile(turn, move |deadline| {
                job_engine.upload_plugin(&job_tenant, slot, &body, deadline)
            })
            .await;
        let ended = match &result {
            Ok(_) => UploadState::Live,
            Err(e) => UploadState::Failed(e.message().to_string()),
        };
        compiles.finished(&t, slot, &sha256, ended, engine.now_ms());
        result
    });
    if prefers_async(&headers) {
        let accepted = UploadAccepted {
            tenant,
            slot: slot.name().to_string(),
            upload: UploadStatus::from(&compiling),
        };
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    }
    let (versions, tier) = compiled.await.map_err(ApiError::internal)??;
    Ok(Json(PluginUploaded {
        tenant,
        slot: slot.name().to_string(),
        live: versions.last().map(|v| v.sha256.clone()),
        tier: tier.into(),
        versions: versions.iter().map(PluginVersion::from).collect(),
    })
    .into_response())
}

/// Claims `tenant`'s turn on the upload queue, then reads the component the request
/// carries within the server's size limit: a tenant's second upload (or replay) is
/// refused before its body is read.
pub(crate) async fn claimed_component(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Turn, axum::body::Bytes), ApiError> {
    super::inbound::require_content_type(headers, "application/wasm")?;
    state.engine.tenant(tenant)?;
    let turn = state.compiles.claim(tenant)?;
    let body = super::error::read_body(body, state.compiles.max_bytes()).await?;
    Ok((turn, body))
}

/// Whether the request asks to be answered before the work is done (RFC 7240).
fn prefers_async(headers: &HeaderMap) -> bool {
    (headers.get_all("prefer").iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// The query of a replay.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Replay only cases opened at or after this time (unix ms; default: every case the
    /// tenant's retention kept).
    #[serde(default)]
    pub since_ms: i64,
}

/// Replays a candidate component on the tenant's recorded cases for a slot.
///
/// The candidate decides again on each input the journal recorded for the slot, within
/// what the tenant's retention kept, and the answer says how its decisions differ from
/// the live ones: how many changed, in which fields, and each case that changed. Nothing
/// is written and the live plugin keeps serving. The candidate compiles on the upload
/// queue (one per tenant at a time, within its time bound).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{slot}/replay", operation_id = "replayPlugin", tag = "plugins",
    params(SlotPath, ReplayQuery),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = inline(Component), content_type = "application/wasm",
        description = "The candidate: a WebAssembly component for the slot"),
    responses(
        (status = 200, description = "How the candidate's decisions differ from the live ones", body = Replay),
        (status = 400, description = "No such slot, or a query that does not parse", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than the server's plugin size limit", body = ErrorBody),
        (status = 415, description = "Not sent as `application/wasm`", body = ErrorBody),
        (status = 422, description = "Not a component for this slot: nothing ran", body = ErrorBody),
        (status = 429, description = "Another upload or replay of this tenant is under way", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "It did not finish within the time bound", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Replay>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let ReplayQuery { since_ms } =
        super::error::parse_form(query.unwrap_or_default().as_bytes(), "query")?;
    let (turn, body) = claimed_component(&state, &tenant, &headers, body).await?;
    let engine = state.engine.clone();
    let report = state
        .compiles
        .compile(turn, move |_| engine.replay(&tenant, slot, &body, since_ms))
        .await?;
    Ok(Json(report.into()))
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
