//! One case: what it is now and its timeline, the same journal `redial` prints.

use super::client::state_text;
use super::layout::{Viewer, error_page, frame, time_el};
use crate::AppState;
use crate::views::{CasePath, CaseState};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

/// `GET /console/cases/{case}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(CasePath { case }): Path<CasePath>,
    headers: HeaderMap,
) -> Response {
    let detail =
        match crate::queries::one(State(state.clone()), Path(CasePath { case }), headers).await {
            Ok(detail) => detail.0,
            Err(err) => return error_page(Some(&viewer), err),
        };
    let c = &detail.case;
    let tz = match state.engine.tenant(&c.tenant) {
        Ok(t) => t.policy.tz(),
        Err(err) => return error_page(Some(&viewer), err.into()),
    };
    let waiting_owner = matches!(
        c.state,
        CaseState::HandedOff {
            acknowledged: false,
            ..
        }
    );
    let mut lines = detail.timeline.lines();
    let _heading = lines.next();
    let body = html! {
        h1 { "Case " (c.id) }
        dl.facts {
            dt { "Caller" } dd { (c.caller) }
            dt { "Opened" } dd { (time_el(tz, c.opened_ms)) }
            dt { "State" } dd #case-state { (state_text(&c.state)) }
            dt { "Signals" } dd { (c.signals) }
            dt { "Callbacks" } dd { (c.attempts.len()) }
            @if let Some(d) = &c.disposition {
                dt { "Qualified" } dd { (d.reason_code) ", intent " (d.intent_score) }
                @if !d.summary.is_empty() { dt { "Summary" } dd { (d.summary) } }
            }
        }
        @if waiting_owner {
            p { button type="button" data-api={ "/v1/cases/" (c.id) "/ack" } data-method="POST" data-then="reload" { "Acknowledge the handoff" } }
        }
        h2 { "Timeline" }
        ol #timeline.timeline {
            @for line in lines {
                @let line = line.trim();
                @let (when, what) = line.split_once("  ").unwrap_or(("", line));
                li { span.when { (when) } " " span.what { (what.trim()) } }
            }
        }
        p { a href={ "/console/clients/" (c.tenant) } { "← " (c.tenant) } }
    };
    frame(
        &format!("Case {}", c.id),
        Some(&viewer),
        Some(&c.tenant),
        body,
    )
}
