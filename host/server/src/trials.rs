//! Trials of a candidate plugin beside a slot's live one: start one (shadow or split),
//! read what it shows, promote the candidate or end the trial, each in one call.

use super::auth::authenticate;
use super::error::ErrorBody;
use super::plugins::{Component, claimed_component, slot_of};
use super::views::{
    PluginUploaded, PluginVersion, SlotPath, Trial, TrialEnded, TrialReport, TrialStarted,
};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use redial_core::records::TrialMode;
use redial_runtime::Slot;

/// How to try the candidate: in shadow unless `split` gives it a share of callers.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrialQuery {
    /// The candidate's share of callers, in % (1 to 99): it decides for real for them.
    /// Without it the trial is a shadow: the candidate decides beside every live decision,
    /// with no effect.
    #[param(minimum = 1, maximum = 99)]
    pub split: Option<u8>,
}

impl TrialQuery {
    fn mode(&self) -> Result<TrialMode, ApiError> {
        match self.split {
            None => Ok(TrialMode::Shadow),
            Some(percent @ 1..=99) => Ok(TrialMode::Split { percent }),
            Some(percent) => Err(ApiError::bad_request(
                "split".to_string(),
                format!("split is the candidate's share of callers, 1 to 99 (%), not {percent}"),
            )),
        }
    }
}

const NO_TRIAL: &str = "no candidate is on trial in this slot";

/// Starts trying a candidate component in a slot, in place of any trial there.
///
/// In shadow (no `split`) the candidate decides on every input the live plugin decides on; its
/// decisions are journalled beside the live ones (`shadow` events) and have no effect.
/// With `split` it decides for real for the callers whose number hashes into its share,
/// the same callers every time. The live plugin stays live either way, and the trial
/// survives restarts. The candidate compiles on the upload queue.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/plugins/{slot}/trial", operation_id = "startTrial", tag = "plugins",
    params(SlotPath, TrialQuery),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = inline(Component), content_type = "application/wasm",
        description = "The candidate: a WebAssembly component for the slot"),
    responses(
        (status = 200, description = "The trial runs", body = TrialStarted),
        (status = 400, description = "No such slot, or a `split` that does not parse or is out of range", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than the server's plugin size limit", body = ErrorBody),
        (status = 415, description = "Not sent as `application/wasm`", body = ErrorBody),
        (status = 422, description = "Not a component for this slot: no trial started", body = ErrorBody),
        (status = 429, description = "Another upload, replay or trial of this tenant is compiling", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "It did not compile within the time bound", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TrialStarted>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let query: TrialQuery =
        super::error::parse_form(query.unwrap_or_default().as_bytes(), "query")?;
    let mode = query.mode()?;
    let (turn, body) = claimed_component(&state, &tenant, &headers, body).await?;
    let (engine, t) = (state.engine.clone(), tenant.clone());
    let trial = state
        .compiles
        .compile(turn, move |deadline| {
            engine.start_trial(&t, slot, &body, mode, deadline)
        })
        .await?;
    Ok(Json(TrialStarted {
        tenant,
        slot: slot.name().to_string(),
        trial: Trial::from(&trial),
    }))
}

/// The slot's trial and what it shows so far: in shadow, how many live decisions the
/// candidate would have made differently, in which fields, and the newest of them; on a
/// split, the funnel of each variant's callers.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{slot}/trial", operation_id = "getTrial", tag = "plugins",
    params(SlotPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The trial and its report", body = TrialReport),
        (status = 400, description = "No such slot", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant, or no trial in this slot", body = ErrorBody),
    ))]
pub async fn report(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    headers: HeaderMap,
) -> Result<Json<TrialReport>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let engine = state.engine.clone();
    let report = state
        .slots
        .run_for(&tenant.clone(), move || engine.trial_report(&tenant, slot))
        .await?;
    let report = report.ok_or_else(|| ApiError::not_found(NO_TRIAL))?;
    Ok(Json(report.into()))
}

/// Ends the slot's trial without promoting the candidate: the live plugin alone decides
/// again (the rollback of a trial).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/plugins/{slot}/trial", operation_id = "endTrial", tag = "plugins",
    params(SlotPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The trial ended", body = TrialEnded),
        (status = 400, description = "No such slot", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant, or no trial in this slot", body = ErrorBody),
    ))]
pub async fn end(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    headers: HeaderMap,
) -> Result<Json<TrialEnded>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let (engine, t) = (state.engine.clone(), tenant.clone());
    let ended = state.slots.run(move || engine.end_trial(&t, slot)).await?;
    let ended = ended.ok_or_else(|| ApiError::not_found(NO_TRIAL))?;
    Ok(Json(TrialEnded {
        live: live_hash(&state, &tenant, slot)?,
        tenant,
        slot: slot.name().to_string(),
        ended: Trial::from(&ended),
    }))
}

/// Promotes the slot's candidate: it becomes the slot's newest version and decides for
/// every caller; the trial ends. A rollback afterwards returns to the version before it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{slot}/trial/promote", operation_id = "promoteTrial", tag = "plugins",
    params(SlotPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The candidate is live", body = PluginUploaded),
        (status = 400, description = "No such slot", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant, or no trial in this slot", body = ErrorBody),
    ))]
pub async fn promote(
    State(state): State<AppState>,
    Path(SlotPath { tenant, slot }): Path<SlotPath>,
    headers: HeaderMap,
) -> Result<Json<PluginUploaded>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let slot = slot_of(&slot)?;
    let (engine, t) = (state.engine.clone(), tenant.clone());
    let promoted = state
        .slots
        .run(move || engine.promote_trial(&t, slot))
        .await?;
    let (versions, tier) = promoted.ok_or_else(|| ApiError::not_found(NO_TRIAL))?;
    Ok(Json(PluginUploaded {
        live: Some(live_hash(&state, &tenant, slot)?),
        tenant,
        slot: slot.name().to_string(),
        tier: tier.into(),
        versions: versions.iter().map(PluginVersion::from).collect(),
    }))
}

fn live_hash(state: &AppState, tenant: &str, slot: Slot) -> Result<String, ApiError> {
    Ok(state.engine.tenant(tenant)?.plugin(slot).0.id.hash.clone())
}
