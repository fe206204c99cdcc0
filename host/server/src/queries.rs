//! Case queries and the owner's acknowledgement, scoped by token to one tenant (or all for
//! the agency admin).

use super::auth::authenticate;
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use redial_core::records::CaseState;
use redial_core::report;
use serde::Deserialize;
use serde_json::{Value, json};

/// Filters for `GET /v1/tenants/{tenant}/cases`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    state: Option<String>,
    reason_code: Option<String>,
    urgency: Option<String>,
    owner: Option<String>,
}

/// `GET /v1/tenants/{tenant}/cases`: the tenant's cases, filtered.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    let filter: CaseFilter =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|e| {
            let msg = e.to_string();
            ApiError::bad_request(
                super::error::field_of(&msg),
                format!("invalid filter: {msg}"),
            )
        })?;
    state.engine.tenant(&tenant)?;
    let cases: Vec<Value> = state
        .engine
        .store()
        .cases(Some(&tenant))?
        .into_iter()
        .filter(|c| filter.state.as_ref().is_none_or(|s| c.state.name() == s))
        .filter(|c| {
            filter.reason_code.as_ref().is_none_or(|r| {
                c.disposition
                    .as_ref()
                    .is_some_and(|d| d.reason_code.name() == r)
            })
        })
        .filter(|c| {
            filter.urgency.as_ref().is_none_or(|u| {
                c.disposition
                    .as_ref()
                    .is_some_and(|d| serde_json::to_value(d.urgency).unwrap() == json!(u))
            })
        })
        .filter(|c| {
            filter.owner.as_ref().is_none_or(
                |o| matches!(&c.state, CaseState::HandedOff { owner, .. } if owner == o),
            )
        })
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    Ok(Json(json!({ "cases": cases })))
}

fn owned_case(
    state: &AppState,
    headers: &HeaderMap,
    case_id: &str,
) -> Result<redial_core::records::CaseRecord, ApiError> {
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

/// `GET /v1/cases/{case}`: one case with its full timeline.
pub async fn one(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
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
    let timeline = report::timeline(&tenant, &case, &journal);
    Ok(Json(
        json!({ "case": case, "journal": journal, "timeline": timeline }),
    ))
}

/// `POST /v1/cases/{case}/ack`: the owner picked the handoff up; the SLA timer stops.
pub async fn ack(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    owned_case(&state, &headers, &case_id)?;
    let engine = state.engine.clone();
    let id = case_id.clone();
    let changed = state.slots.run(move || engine.acknowledge(&id)).await?;
    Ok(Json(
        json!({ "case": case_id, "acknowledged": true, "changed": changed }),
    ))
}

/// `GET /v1/tenants/{tenant}/fua`: the follow-up automation queue, soonest first.
pub async fn fua(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let mut items: Vec<(i64, Value)> = state
        .engine
        .store()
        .cases(Some(&tenant))?
        .into_iter()
        .filter_map(|c| match &c.state {
            CaseState::FollowUp { next_step, due_ms } => {
                Some((*due_ms, json!({ "case": c.id, "caller": c.caller, "next_step": next_step, "due_ms": due_ms })))
            }
            _ => None,
        })
        .collect();
    items.sort_by_key(|(due, _)| *due);
    Ok(Json(
        json!({ "queue": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }),
    ))
}

/// `GET /v1/tenants/{tenant}/funnel`: signals → cases → reached → qualified → handed off /
/// FUA, SLA met %, median time from signal to first dial.
pub async fn funnel(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&state, &headers)?.may_access(&tenant)?;
    state.engine.tenant(&tenant)?;
    let f = report::funnel(state.engine.store(), &tenant)?;
    let mut waits: Vec<i64> = state
        .engine
        .store()
        .cases(Some(&tenant))?
        .iter()
        .filter_map(|c| c.first_dial_ms.map(|d| d - c.opened_ms))
        .collect();
    waits.sort();
    let median = waits.get(waits.len() / 2).copied();
    let sla_met_pct = if f.handed_off == 0 {
        None
    } else {
        Some(100.0 * f.sla_met as f64 / f.handed_off as f64)
    };
    Ok(Json(
        json!({ "funnel": f, "sla_met_pct": sla_met_pct, "median_signal_to_first_dial_ms": median }),
    ))
}
