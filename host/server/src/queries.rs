//! Case queries and the owner's acknowledgement, scoped by token to one tenant (or all for
//! the agency admin).

use super::auth::authenticate;
use super::error::{ErrorBody, parse_form};
use super::views::{
    Acknowledged, Case, CaseDetail, CaseList, CasePath, CaseStateName, FollowUpItem, FollowUpQueue,
    FunnelReport, JournalEntry, TenantPath, Urgency,
};
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use redial_core::records::{CaseRecord, CaseState};
use redial_core::report;
use serde::Deserialize;

/// Filters for a tenant's case list; each one given must hold.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseFilter {
    /// Only cases in this state.
    #[param(inline)]
    state: Option<CaseStateName>,
    /// Only qualified cases with this reason code (standard or the tenant's own).
    #[param(example = "pricing-question")]
    reason_code: Option<String>,
    /// Only qualified cases of this urgency.
    #[param(inline)]
    urgency: Option<Urgency>,
    /// Only cases handed off to this owner.
    owner: Option<String>,
}

impl CaseFilter {
    fn keeps(&self, c: &CaseRecord) -> bool {
        let disposition = c.disposition.as_ref();
        self.state.is_none_or(|s| s == CaseStateName::of(&c.state))
            && self
                .reason_code
                .as_ref()
                .is_none_or(|r| disposition.is_some_and(|d| d.reason_code.name() == r))
            && self
                .urgency
                .is_none_or(|u| disposition.is_some_and(|d| Urgency::from(d.urgency) == u))
            && self.owner.as_ref().is_none_or(
                |o| matches!(&c.state, CaseState::HandedOff { owner, .. } if owner == o),
            )
    }
}

/// A tenant's cases, filtered.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/cases", operation_id = "listCases", tag = "cases",
    params(TenantPath, CaseFilter),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The cases, oldest first", body = CaseList, links(
            ("case" = (operation_id = "getCase", parameters(("case" = "$response.body#/cases/0/id")))),
            ("acknowledge" = (operation_id = "acknowledgeCase", parameters(("case" = "$response.body#/cases/0/id")))),
        )),
        (status = 400, description = "A filter that does not parse (named in `field`)", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<CaseList>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let filter: CaseFilter = parse_form(query.unwrap_or_default().as_bytes(), "filter")?;
    state.engine.tenant(&tenant)?;
    let cases = state
        .engine
        .store()
        .cases(Some(&tenant))?
        .iter()
        .filter(|c| filter.keeps(c))
        .map(Case::from)
        .collect();
    Ok(Json(CaseList { cases }))
}

fn owned_case(
    state: &AppState,
    headers: &HeaderMap,
    case_id: &str,
) -> Result<CaseRecord, ApiError> {
    let caller = authenticate(state, headers)?;
    let case = state
        .engine
        .store()
        .case(case_id)?
        .ok_or_else(|| ApiError::not_found(format!("unknown case {case_id:?}")))?;
    // Another tenant's case looks exactly like a missing one.
    caller
        .may_access(&case.tenant)
        .map_err(|_| ApiError::not_found(format!("unknown case {case_id:?}")))?;
    Ok(case)
}

/// One case with its journal and timeline.
#[utoipa::path(get, path = "/v1/cases/{case}", operation_id = "getCase", tag = "cases",
    params(CasePath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The case", body = CaseDetail),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 404, description = "No such case (or another tenant's)", body = ErrorBody),
    ))]
pub async fn one(
    State(state): State<AppState>,
    Path(CasePath { case: case_id }): Path<CasePath>,
    headers: HeaderMap,
) -> Result<Json<CaseDetail>, ApiError> {
    // The projection and the journal are read separately; re-read until they agree, so a
    // step committed in between cannot show a journal ahead of its case.
    let mut case = owned_case(&state, &headers, &case_id)?;
    let mut journal = state.engine.store().journal(&case_id)?;
    for _ in 0..10 {
        if journal.len() == case.journal_len as usize {
            break;
        }
        case = owned_case(&state, &headers, &case_id)?;
        journal = state.engine.store().journal(&case_id)?;
    }
    let tenant = state.engine.tenant(&case.tenant)?;
    Ok(Json(CaseDetail {
        timeline: report::timeline(&tenant, &case, &journal),
        case: Case::from(&case),
        journal: journal.iter().map(JournalEntry::from).collect(),
    }))
}

/// The owner picked the handoff up: the SLA timer stops.
#[utoipa::path(post, path = "/v1/cases/{case}/ack", operation_id = "acknowledgeCase", tag = "cases",
    params(CasePath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "Acknowledged (again, harmlessly, if it was)", body = Acknowledged),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 404, description = "No such case (or another tenant's)", body = ErrorBody),
    ))]
pub async fn ack(
    State(state): State<AppState>,
    Path(CasePath { case: case_id }): Path<CasePath>,
    headers: HeaderMap,
) -> Result<Json<Acknowledged>, ApiError> {
    owned_case(&state, &headers, &case_id)?;
    let engine = state.engine.clone();
    let id = case_id.clone();
    let changed = state.slots.run(move || engine.acknowledge(&id)).await?;
    Ok(Json(Acknowledged {
        case: case_id,
        acknowledged: true,
        changed,
    }))
}

/// The follow-up automation queue, soonest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/fua", operation_id = "followUpQueue", tag = "cases",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The queue", body = FollowUpQueue),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn fua(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<Json<FollowUpQueue>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let mut queue: Vec<FollowUpItem> = state
        .engine
        .store()
        .cases(Some(&tenant))?
        .into_iter()
        .filter_map(|c| match c.state {
            CaseState::FollowUp { next_step, due_ms } => Some(FollowUpItem {
                case: c.id,
                caller: c.caller,
                next_step,
                due_ms,
            }),
            _ => None,
        })
        .collect();
    queue.sort_by_key(|item| item.due_ms);
    Ok(Json(FollowUpQueue { queue }))
}

/// The funnel, SLA met % and the median time from signal to first callback.
///
/// Signals → cases → reached → qualified → handed off / follow-up, with reason codes and
/// handoffs per owner.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/funnel", operation_id = "funnel", tag = "cases",
    params(TenantPath),
    security(("adminToken" = []), ("tenantToken" = [])),
    responses(
        (status = 200, description = "The funnel", body = FunnelReport),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "Another tenant's token", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn funnel(
    State(state): State<AppState>,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Result<Json<FunnelReport>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let f = report::funnel(state.engine.store(), &tenant)?;
    let sla_met_pct = (f.handed_off > 0).then(|| 100.0 * f.sla_met as f64 / f.handed_off as f64);
    Ok(Json(FunnelReport {
        median_signal_to_first_dial_ms: f.median_first_dial_ms(),
        sla_met_pct,
        funnel: f.into(),
    }))
}
