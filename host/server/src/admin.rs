//! Agency administration: tenants, their policies and API tokens. A policy PUT is
//! validated (parsed, plugins loaded) before it replaces the live one; a refused policy
//! leaves the old one serving.

use super::auth::{authenticate, new_token, token_hash};
use super::error::{ErrorBody, parse_form};
use super::views::{
    Change, IssuedToken, NotServingTenant, PolicyCheck, PolicyProblem, TenantChange, TenantDeleted,
    TenantList, TenantPath, TenantSummary,
};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use redial_core::policy::Policy;
use serde::Deserialize;

/// Every tenant.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "listTenants", tag = "admin",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The tenants", body = TenantList, links(
            ("cases" = (operation_id = "listCases", parameters(("tenant" = "$response.body#/tenants/0/tenant")))),
            ("funnel" = (operation_id = "funnel", parameters(("tenant" = "$response.body#/tenants/0/tenant")))),
            ("followUps" = (operation_id = "followUpQueue", parameters(("tenant" = "$response.body#/tenants/0/tenant")))),
            ("policy" = (operation_id = "getPolicy", parameters(("tenant" = "$response.body#/tenants/0/tenant")))),
            ("plugins" = (operation_id = "listPlugins", parameters(("tenant" = "$response.body#/tenants/0/tenant")))),
        )),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "A tenant token (this route needs the admin token)", body = ErrorBody),
    ))]
pub async fn tenants(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<TenantList>, ApiError> {
    authenticate(&state, &headers)?.admin()?;
    let tenants = state
        .engine
        .tenant_ids()
        .into_iter()
        .filter_map(|id| state.engine.tenant(&id).ok())
        .map(|t| TenantSummary {
            tenant: t.policy.tenant.clone(),
            name: t.policy.name.clone(),
            timezone: t.policy.timezone.clone(),
        })
        .collect();
    let not_serving = state
        .not_serving
        .list()
        .into_iter()
        .map(|(tenant, problem)| NotServingTenant { tenant, problem })
        .collect();
    Ok(Json(TenantList {
        tenants,
        not_serving,
    }))
}

/// The live policy, as the TOML it was written in; a credential written in it literally
/// (the operator's files may) reads `<redacted>`, and secrets are named, never shown.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/policy", operation_id = "getPolicy", tag = "admin",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The policy", body = String, content_type = "application/toml"),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn get_policy(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let source = state.engine.tenant(&tenant)?.policy.redacted_source();
    Ok(([(header::CONTENT_TYPE, "application/toml")], source))
}

/// A policy sent for `tenant`, once the caller may send it (a tenant its own; the admin
/// any, and only the admin a new one): whether the tenant exists, and the text.
async fn submitted_policy(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    body: Body,
) -> Result<(bool, String), ApiError> {
    let caller = authenticate(state, headers)?;
    caller.may_access(tenant)?;
    let exists = state.engine.tenant(tenant).is_ok();
    if !exists {
        caller.admin()?;
    }
    let body = super::error::read_body(body, super::MAX_BODY).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request(None, "policy must be UTF-8 TOML"))?;
    Ok((exists, text.to_string()))
}

/// Validates a policy, loads its plugins, then swaps it in.
///
/// A submitted policy is the tenant's word, not the operator's: it names plugins by name or
/// by an uploaded component's hash, names each credential as one of the tenant's secrets
/// (`secret:NAME`, set first through the secrets route), leaves provider addresses alone
/// and sends its own webhooks only to `https` public hosts; anything else is refused
/// naming the key. A new tenant needs the admin token. The file in the policies folder is rewritten, so a
/// restart keeps the policy. A policy that does not parse, validate or load its plugins is
/// refused with 422 and the live one keeps serving.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/policy", operation_id = "putPolicy", tag = "admin",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = String, content_type = "application/toml",
        description = "The policy (see `policies/` for examples)", example = super::openapi::examples::policy),
    responses(
        (status = 200, description = "The policy replaced the live one", body = TenantChange),
        (status = 201, description = "A new tenant now serves", body = TenantChange),
        (status = 400, description = "The body is not UTF-8", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token, or a tenant token creating a tenant", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
        (status = 422, description = "The policy does not parse, validate or load, or says what only the operator may; the live one stays", body = ErrorBody),
    ))]
pub async fn put_policy(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<TenantChange>), ApiError> {
    let (exists, text) = submitted_policy(&state, &headers, &tenant, body).await?;
    let origin = format!("{tenant}.toml");
    let policy = Policy::parse(&text, &origin)
        .and_then(|p| p.check_submitted(&origin).map(|()| p))
        .map_err(|e| ApiError::unprocessable(e.key().map(str::to_string), e.to_string()))?;
    if policy.tenant != tenant {
        return Err(ApiError::unprocessable(
            "tenant".to_string(),
            format!("policy is for {:?}, not {tenant:?}", policy.tenant),
        ));
    }
    let engine = state.engine.clone();
    state.slots.run(move || engine.load_tenant(policy)).await?;
    state.not_serving.clear(&tenant);
    if let Some(dir) = &state.policies_dir {
        let path = dir.join(format!("{tenant}.toml"));
        std::fs::write(&path, &text).map_err(ApiError::internal)?;
    }
    let (status, result) = if exists {
        (StatusCode::OK, Change::Replaced)
    } else {
        (StatusCode::CREATED, Change::Created)
    };
    Ok((status, Json(TenantChange { tenant, result })))
}

/// Checks a policy as a PUT would, without making it live: the editor's "validate"
/// and the onboarding preview.
///
/// Every syntax error is reported, each at its line, or else the first error of meaning at
/// its key's line; a valid policy comes back with its pilot sheet and the secrets it names
/// that are not set yet. Nothing changes, whatever the answer.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/policy/check", operation_id = "checkPolicy", tag = "admin",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    request_body(content = String, content_type = "application/toml",
        description = "The policy to check", example = super::openapi::examples::policy),
    responses(
        (status = 200, description = "What the check found (`valid` says whether a PUT would be accepted)", body = PolicyCheck),
        (status = 400, description = "No body (no `Content-Type`), or one that is not UTF-8", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token, or a tenant token checking a new tenant", body = ErrorBody),
        (status = 413, description = "Larger than 256 KiB", body = ErrorBody),
    ))]
pub async fn check_policy(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyCheck>, ApiError> {
    let (_, text) = submitted_policy(&state, &headers, &tenant, body).await?;
    if !headers.contains_key(header::CONTENT_TYPE) {
        return Err(ApiError::bad_request(
            None,
            "send the policy to check as the body (`Content-Type: application/toml`)",
        ));
    }
    let refused = |problems: Vec<PolicyProblem>| PolicyCheck {
        tenant: tenant.clone(),
        valid: false,
        problems,
        missing_secrets: Vec::new(),
        pilot_sheet: None,
    };
    let origin = format!("{tenant}.toml");
    let policy = match Policy::parse_placed(&text, &origin, true) {
        Ok(policy) => policy,
        Err(problems) => {
            return Ok(Json(refused(
                problems.into_iter().map(Into::into).collect(),
            )));
        }
    };
    if policy.tenant != tenant {
        let key = redial_core::policy::PolicyError::Invalid {
            path: origin,
            key: "tenant".into(),
            message: format!("policy is for {:?}, not {tenant:?}", policy.tenant),
        };
        let problem = redial_core::policy::locate(&text, &key);
        return Ok(Json(refused(vec![problem.into()])));
    }
    let engine = state.engine.clone();
    let checked = policy.clone();
    match state.slots.run(move || engine.check_tenant(&checked)).await {
        Ok(missing_secrets) => Ok(Json(PolicyCheck {
            pilot_sheet: Some(redial_core::policy::pilot_sheet(&policy)),
            tenant,
            valid: true,
            problems: Vec::new(),
            missing_secrets,
        })),
        Err(err) if err.status().is_server_error() => Err(err),
        Err(err) => Ok(Json(refused(vec![PolicyProblem {
            line: None,
            column: None,
            key: None,
            message: err.message().to_string(),
        }]))),
    }
}

/// When a tenant's deletion purges its data.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteOptions {
    /// `now` purges the tenant's data at once (its id is free again); without it the data
    /// is purged after the server's grace period.
    #[param(inline)]
    purge: Option<PurgeWhen>,
}

/// `purge=now`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PurgeWhen {
    /// At once.
    Now,
}

/// Deletes a tenant: it stops serving at once, its tokens and secrets are revoked, and its
/// data (cases, journals, counts, opt-outs, plugin versions) is purged after the server's
/// grace period, or at once with `purge=now`. Until the purge the id cannot be used for a
/// new tenant (409), so a new tenant never sees the old one's data.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", operation_id = "deleteTenant", tag = "admin",
    params(TenantPath, DeleteOptions),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The tenant no longer serves", body = TenantDeleted),
        (status = 400, description = "An option that does not parse (named in `field`)", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "A tenant token (this route needs the admin token)", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<TenantDeleted>, ApiError> {
    authenticate(&state, &headers)?.admin()?;
    let options: DeleteOptions = parse_form(query.unwrap_or_default().as_bytes(), "options")?;
    let known = state.engine.tenant(&tenant).is_ok()
        || state.not_serving.list().iter().any(|(t, _)| *t == tenant)
        || state.engine.tombstone(&tenant)?.is_some();
    if !known {
        return Err(ApiError::not_found(format!("unknown tenant {tenant:?}")));
    }
    state.not_serving.clear(&tenant);
    if let Some(dir) = &state.policies_dir {
        let _ = std::fs::remove_file(dir.join(format!("{tenant}.toml")));
    }
    let engine = state.engine.clone();
    let id = tenant.clone();
    let purge_now = options.purge.is_some();
    let tombstone = state
        .slots
        .run(move || engine.delete_tenant(&id, purge_now))
        .await?;
    Ok(Json(TenantDeleted {
        tenant,
        purged: tombstone.is_none(),
        purge_after_ms: tombstone.map(|t| t.purge_after_ms),
    }))
}

/// Issues a tenant API token, shown once; only its hash is stored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/tokens", operation_id = "issueToken", tag = "admin",
    params(TenantPath),
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The new token", body = IssuedToken),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "A tenant token (this route needs the admin token)", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    authenticate(&state, &headers)?.admin()?;
    state.engine.tenant(&tenant)?;
    let token = new_token("rdl_");
    state
        .engine
        .store()
        .put_token(&token_hash(&token), &tenant)?;
    Ok((StatusCode::CREATED, Json(IssuedToken { tenant, token })))
}
