//! A tenant's secrets: set or rotate one (sealed at rest, never returned), list their
//! names, delete one the live policy no longer uses. A policy names them as
//! `secret:NAME`.

use super::auth::{Caller, authenticate};
use super::error::{ErrorBody, parse_json, read_body};
use super::views::{SecretBody, SecretChange, SecretInfo, SecretList, SecretPath, TenantPath};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

/// Largest body the set route reads: a secret of 4096 characters, each escaped as a
/// surrogate pair at worst (12 bytes), in its JSON.
const MAX_SECRET_BODY: usize = 64 * 1024;

/// A tenant's own token, or the admin's; a tenant that is not served yet (its policy
/// waits for a secret) is the admin's to prepare.
fn may_manage(state: &AppState, headers: &HeaderMap, tenant: &str) -> Result<(), ApiError> {
    let caller = authenticate(state, headers)?;
    caller.may_access(tenant)?;
    if state.engine.tenant(tenant).is_err() && !matches!(caller, Caller::Admin) {
        return Err(ApiError::not_found(format!("unknown tenant {tenant:?}")));
    }
    Ok(())
}

/// The tenant's secrets: names, when each was set, whether the live policy uses it.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/secrets", operation_id = "listSecrets", tag = "admin",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The secrets, values never included", body = SecretList),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<Json<SecretList>, ApiError> {
    may_manage(&state, &headers, &tenant)?;
    let used = state
        .engine
        .tenant(&tenant)
        .map(|t| t.policy.secret_names())
        .unwrap_or_default();
    let secrets = state
        .engine
        .secret_names(&tenant)?
        .into_iter()
        .map(|(name, updated_ms)| SecretInfo {
            in_use: used.contains(&name),
            name,
            updated_ms,
        })
        .collect();
    Ok(Json(SecretList { tenant, secrets }))
}

/// Sets or rotates a secret. It is sealed at rest and never returned or logged; a live
/// policy that names it uses the new value at once.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/secrets/{name}", operation_id = "setSecret", tag = "admin",
    params(SecretPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = SecretBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced (rotated)", body = SecretChange),
        (status = 201, description = "Created", body = SecretChange),
        (status = 400, description = "A body that is not the JSON documented (named in `field`)", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 413, description = "Larger than 64 KiB", body = ErrorBody),
        (status = 422, description = "A name or value that is not allowed", body = ErrorBody),
    ))]
pub async fn set(
    State(state): State<AppState>,
    Path(SecretPath { tenant, name }): Path<SecretPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SecretChange>), ApiError> {
    may_manage(&state, &headers, &tenant)?;
    let body = read_body(body, MAX_SECRET_BODY).await?;
    let SecretBody { value } = parse_json(&body, "secret")?;
    let engine = state.engine.clone();
    let (t, n) = (tenant.clone(), name.clone());
    let replaced = state
        .slots
        .run(move || engine.set_secret(&t, &n, &value))
        .await?;
    let (status, result) = match replaced {
        true => (StatusCode::OK, "replaced"),
        false => (StatusCode::CREATED, "created"),
    };
    let result = result.to_string();
    Ok((
        status,
        Json(SecretChange {
            tenant,
            name,
            result,
        }),
    ))
}

/// Deletes a secret the live policy no longer names.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/secrets/{name}", operation_id = "deleteSecret", tag = "admin",
    params(SecretPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "Deleted", body = SecretChange),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant or secret", body = ErrorBody),
        (status = 409, description = "The live policy still names it", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(SecretPath { tenant, name }): Path<SecretPath>,
    headers: HeaderMap,
) -> Result<Json<SecretChange>, ApiError> {
    may_manage(&state, &headers, &tenant)?;
    if !state.engine.delete_secret(&tenant, &name)? {
        return Err(ApiError::not_found(format!("no secret {name:?}")));
    }
    let result = "deleted".to_string();
    Ok(Json(SecretChange {
        tenant,
        name,
        result,
    }))
}
