//! Agency administration: tenants, their policies and API tokens. A policy PUT is
//! validated (parsed, plugins loaded) before it replaces the live one; a refused policy
//! leaves the old one serving.

use super::auth::{authenticate, new_token, token_hash};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use redial_core::policy::Policy;
use serde_json::{Value, json};

/// `GET /v1/tenants`: every tenant (admin only).
pub async fn tenants(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.admin()?;
    let tenants: Vec<Value> = state
        .engine
        .tenant_ids()
        .into_iter()
        .filter_map(|id| state.engine.tenant(&id).ok())
        .map(|t| json!({ "tenant": t.policy.tenant, "name": t.policy.name, "timezone": t.policy.timezone }))
        .collect();
    Ok(Json(json!({ "tenants": tenants })))
}

/// `GET /v1/tenants/{tenant}/policy`: the live policy's TOML text.
pub async fn get_policy(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<String, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    Ok(state.engine.tenant(&tenant)?.policy.source.clone())
}

/// `PUT /v1/tenants/{tenant}/policy`: validate, load its plugins, then swap (creating the
/// tenant if new, admin only). The file in the policies folder is rewritten so a restart
/// keeps it.
pub async fn put_policy(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = authenticate(&state, &headers)?;
    caller.may_access(&tenant)?;
    let exists = state.engine.tenant(&tenant).is_ok();
    if !exists {
        caller.admin()?;
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request(None, "policy must be UTF-8 TOML"))?
        .to_string();
    let policy = Policy::parse(&text, &format!("{tenant}.toml"))
        .map_err(|e| ApiError::unprocessable(None, e.to_string()))?;
    if policy.tenant != tenant {
        return Err(ApiError::unprocessable(
            "tenant".to_string(),
            format!("policy is for {:?}, not {tenant:?}", policy.tenant),
        ));
    }
    let engine = state.engine.clone();
    state.slots.run(move || engine.load_tenant(policy)).await?;
    if let Some(dir) = &state.policies_dir {
        let path = dir.join(format!("{tenant}.toml"));
        std::fs::write(&path, &text).map_err(ApiError::internal)?;
    }
    let status = if exists {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({ "tenant": tenant, "result": if exists { "replaced" } else { "created" } })),
    ))
}

/// `DELETE /v1/tenants/{tenant}`: stop serving a tenant (admin only). Its cases stay in the
/// store for the record; its tokens are revoked.
pub async fn delete_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.admin()?;
    state.engine.remove_tenant(&tenant)?;
    state.engine.store().revoke_tokens(&tenant)?;
    if let Some(dir) = &state.policies_dir {
        let _ = std::fs::remove_file(dir.join(format!("{tenant}.toml")));
    }
    Ok(Json(json!({ "tenant": tenant, "result": "deleted" })))
}

/// `POST /v1/tenants/{tenant}/tokens`: issue a tenant API token (admin only). The token is
/// shown once; only its hash is stored.
pub async fn issue_token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authenticate(&state, &headers)?.admin()?;
    state.engine.tenant(&tenant)?;
    let token = new_token("rdl_");
    state
        .engine
        .store()
        .put_token(&token_hash(&token), &tenant)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "tenant": tenant, "token": token })),
    ))
}
