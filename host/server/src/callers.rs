//! A caller's erasure: everything a tenant holds on one number goes, and a receipt says
//! what.

use super::auth::authenticate;
use super::error::ErrorBody;
use super::views::{CallerPath, ErasureReceipt};
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

/// Erases a caller: every case of theirs, with its journal, indexes, timers, undelivered
/// side effects and dead letters, and their ignored signals. The funnel keeps counting
/// them (counts, not people). An opt-out stays as a keyed hash, so they are still not
/// called. The store's files are rewritten so the number is in none of them: before the
/// answer, or (when a rewrite ran in the last minutes) by the time the receipt gives.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/callers/{number}", operation_id = "eraseCaller", tag = "cases",
    params(CallerPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The receipt (all counts zero when the tenant held nothing on the number)", body = ErasureReceipt),
        (status = 400, description = "Not an E.164 number (field `number`)", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn erase(
    State(state): State<AppState>,
    Path(CallerPath { tenant, number }): Path<CallerPath>,
    headers: HeaderMap,
) -> Result<Json<ErasureReceipt>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let engine = state.engine.clone();
    let id = tenant.clone();
    let erased = state
        .slots
        .run(move || engine.erase_caller(&id, &number))
        .await?;
    Ok(Json(ErasureReceipt::new(tenant, erased)))
}
