//! A tenant's dead letters: the side effects the host stopped retrying, for the tenant to
//! see and then retry or discard.

use super::auth::authenticate;
use super::error::ErrorBody;
use super::views::{DeadLetter, DeadLetterList, DeadLetterPath, DeadLetterSettled, TenantPath};
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use redial_core::engine::{Engine, EngineError};

/// The tenant's dead letters, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/dead-letters", operation_id = "listDeadLetters", tag = "cases",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The dead letters", body = DeadLetterList, links(
            ("retry" = (operation_id = "retryDeadLetter", parameters(("tenant" = "$request.path.tenant"), ("id" = "$response.body#/dead_letters/0/id")))),
            ("discard" = (operation_id = "discardDeadLetter", parameters(("tenant" = "$request.path.tenant"), ("id" = "$response.body#/dead_letters/0/id")))),
        )),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<Json<DeadLetterList>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let dead = state.engine.dead_letters(&tenant)?;
    Ok(Json(DeadLetterList {
        tenant,
        dead_letters: dead.iter().map(DeadLetter::from).collect(),
    }))
}

/// Puts a dead letter back in the outbox: it is delivered again shortly, under its own
/// idempotency key.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/dead-letters/{id}/retry", operation_id = "retryDeadLetter", tag = "cases",
    params(DeadLetterPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "Queued again", body = DeadLetterSettled),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant or dead letter", body = ErrorBody),
    ))]
pub async fn retry(
    state: State<AppState>,
    path: Path<DeadLetterPath>,
    headers: HeaderMap,
) -> Result<Json<DeadLetterSettled>, ApiError> {
    settle(state, path, headers, Engine::retry_dead_letter, "retried").await
}

/// Drops a dead letter for good. A dial's attempt counts as failed, so the case moves on
/// to its next attempt or its fallback.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/dead-letters/{id}", operation_id = "discardDeadLetter", tag = "cases",
    params(DeadLetterPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "Discarded", body = DeadLetterSettled),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant or dead letter", body = ErrorBody),
    ))]
pub async fn discard(
    state: State<AppState>,
    path: Path<DeadLetterPath>,
    headers: HeaderMap,
) -> Result<Json<DeadLetterSettled>, ApiError> {
    settle(
        state,
        path,
        headers,
        Engine::discard_dead_letter,
        "discarded",
    )
    .await
}

async fn settle(
    State(state): State<AppState>,
    Path(DeadLetterPath { tenant, id }): Path<DeadLetterPath>,
    headers: HeaderMap,
    how: fn(&Engine, &str, u64) -> Result<bool, EngineError>,
    action: &str,
) -> Result<Json<DeadLetterSettled>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let engine = state.engine.clone();
    let found = state.slots.run(move || how(&engine, &tenant, id)).await?;
    if !found {
        return Err(ApiError::not_found(format!("no dead letter {id}")));
    }
    state.wake.ring();
    Ok(Json(DeadLetterSettled {
        id,
        action: action.to_string(),
    }))
}
