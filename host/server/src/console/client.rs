//! One client's page: the funnel as a chart, open handoffs with their SLA clock and an
//! acknowledge button, cases with filters, the follow-up queue and dead letters.

use super::layout::{Viewer, error_page, frame, percent, span, time_el};
use crate::views::{Case, CaseState, FunnelReport, TenantPath, Urgency};
use crate::{ApiError, AppState};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

/// Cases listed at most, newest first.
const LISTED: usize = 200;

/// The case filters, as the page's form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Filters {
    state: String,
    reason_code: String,
    urgency: String,
    owner: String,
}

impl Filters {
    /// The non-empty filters, as the case list route takes them.
    fn query(&self) -> String {
        let given: Vec<(&str, &str)> = [
            ("state", self.state.as_str()),
            ("reason_code", self.reason_code.as_str()),
            ("urgency", self.urgency.as_str()),
            ("owner", self.owner.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        serde_urlencoded::to_string(given).unwrap_or_default()
    }
}

fn label(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `GET /console/clients/{tenant}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(TenantPath { tenant }): Path<TenantPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let filters: Filters =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    match render(&state, &tenant, &filters, &headers, viewer.is_agency()).await {
        Ok(body) => frame(&tenant, Some(&viewer), Some(&tenant), body),
        Err(err) => error_page(Some(&viewer), err),
    }
}

async fn render(
    state: &AppState,
    tenant: &str,
    filters: &Filters,
    headers: &HeaderMap,
    agency: bool,
) -> Result<Markup, ApiError> {
    let path = || {
        Path(TenantPath {
            tenant: tenant.to_string(),
        })
    };
    let st = || State(state.clone());
    let funnel = crate::queries::funnel(st(), path(), headers.clone())
        .await?
        .0;
    let all_handed = crate::queries::list(
        st(),
        path(),
        RawQuery(Some("state=handed-off".into())),
        headers.clone(),
    )
    .await?
    .0
    .cases;
    let cases = crate::queries::list(
        st(),
        path(),
        RawQuery(Some(filters.query())),
        headers.clone(),
    )
    .await?
    .0
    .cases;
    let queue = crate::queries::fua(st(), path(), headers.clone())
        .await?
        .0
        .queue;
    let dead = crate::dead_letters::list(st(), path(), headers.clone())
        .await?
        .0
        .dead_letters;
    let t = state.engine.tenant(tenant)?;
    let tz = t.policy.tz();
    let now_ms = state.engine.now_ms();
    let open: Vec<&Case> = all_handed
        .iter()
        .filter(|c| {
            matches!(
                c.state,
                CaseState::HandedOff {
                    acknowledged: false,
                    ..
                }
            )
        })
        .collect();
    Ok(html! {
        h1 { (t.policy.name) " " small { (tenant) } }
        p.lede { (t.policy.timezone) "; calls " (t.policy.calling_window.start) "–" (t.policy.calling_window.end) "; owners " (t.policy.handoff.owners.join(", ")) "." }
        @if agency {
            p {
                button type="button" data-api={ "/v1/tenants/" (tenant) "/tokens" } data-method="POST" data-then="show-token" { "Issue a token for this client" }
                output #token-out {}
            }
        }
        section aria-labelledby="funnel-h" {
            h2 #funnel-h { "Funnel" }
            (funnel_chart(&funnel, open.len() as u64))
        }
        section aria-labelledby="handoffs-h" {
            h2 #handoffs-h { "Open handoffs (" (open.len()) ")" }
            @if open.is_empty() { p { "No handoff is waiting for its owner." } }
            @else {
                div.table-wrap { table #handoffs.data {
                    thead { tr { th scope="col" { "Case" } th scope="col" { "Caller" } th scope="col" { "Reason" } th scope="col" { "Owner" } th scope="col" { "SLA" } th scope="col" { "" } } }
                    tbody { @for c in &open {
                        @if let CaseState::HandedOff { owner, sla_deadline_ms, .. } = &c.state {
                            tr data-case=(c.id) {
                                td { a href={ "/console/cases/" (c.id) } { (c.id) } }
                                td { (c.caller) }
                                td { (c.disposition.as_ref().map(|d| d.reason_code.as_str()).unwrap_or("–")) }
                                td { (owner) }
                                td { span.sla data-deadline=(sla_deadline_ms) data-now=(now_ms) {
                                    (if *sla_deadline_ms > now_ms { format!("{} left", span(sla_deadline_ms - now_ms)) } else { format!("overdue by {}", span(now_ms - sla_deadline_ms)) })
                                } }
                                td { button type="button" data-api={ "/v1/cases/" (c.id) "/ack" } data-method="POST" data-then="reload" { "Acknowledge" } }
                            }
                        }
                    } }
                } }
            }
        }
        section aria-labelledby="cases-h" {
            h2 #cases-h { "Cases" }
            (filter_form(tenant, filters, &t.policy))
            p.count { (cases.len()) " case(s) match" @if cases.len() > LISTED { "; the newest " (LISTED) " are listed" } "." }
            div.table-wrap { table #cases.data {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Caller" } th scope="col" { "Opened" } th scope="col" { "State" } th scope="col" { "Reason" } th scope="col" { "Urgency" } th scope="col" { "Intent" } } }
                tbody { @for c in cases.iter().rev().take(LISTED) {
                    tr {
                        td { a href={ "/console/cases/" (c.id) } { (c.id) } }
                        td { (c.caller) }
                        td { (time_el(tz, c.opened_ms)) }
                        td { span.state { (state_text(&c.state)) } }
                        td { (c.disposition.as_ref().map(|d| d.reason_code.clone()).unwrap_or_else(|| "–".into())) }
                        td { (c.disposition.as_ref().map(|d| label(&d.urgency)).unwrap_or_else(|| "–".into())) }
                        td { (c.disposition.as_ref().map(|d| d.intent_score.to_string()).unwrap_or_else(|| "–".into())) }
                    }
                } }
            } }
        }
        section aria-labelledby="fua-h" {
            h2 #fua-h { "Follow-up queue (" (queue.len()) ")" }
            @if queue.is_empty() { p { "Nobody is waiting for a follow-up." } }
            @else { div.table-wrap { table #fua.data {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Caller" } th scope="col" { "Next step" } th scope="col" { "Due" } } }
                tbody { @for item in &queue { tr {
                    td { a href={ "/console/cases/" (item.case) } { (item.case) } }
                    td { (item.caller) }
                    td { (item.next_step) }
                    td { (time_el(tz, item.due_ms)) }
                } } }
            } } }
        }
        section aria-labelledby="dead-h" {
            h2 #dead-h { "Dead letters (" (dead.len()) ")" }
            @if dead.is_empty() { p { "Every side effect was delivered or is still being tried." } }
            @else { div.table-wrap { table #dead.data {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Effect" } th scope="col" { "Failures" } th scope="col" { "Last error" } th scope="col" { "" } } }
                tbody { @for d in &dead { tr {
                    td { a href={ "/console/cases/" (d.case) } { (d.case) } }
                    td { (d.effect) }
                    td { (d.failures) }
                    td { (d.error) }
                    td.actions {
                        button type="button" data-api={ "/v1/tenants/" (tenant) "/dead-letters/" (d.id) "/retry" } data-method="POST" data-then="reload" { "Retry" }
                        button type="button" data-api={ "/v1/tenants/" (tenant) "/dead-letters/" (d.id) } data-method="DELETE" data-then="reload" data-confirm="Drop this side effect for good?" { "Discard" }
                    }
                } } }
            } } }
        }
    })
}

/// A case's state in words.
pub fn state_text(s: &CaseState) -> String {
    match s {
        CaseState::Waiting => "waiting".into(),
        CaseState::Dialing { attempt } => format!("dialing (attempt {attempt})"),
        CaseState::HandedOff {
            owner,
            acknowledged,
            breached,
            ..
        } => {
            let how = match (acknowledged, breached) {
                (true, false) => "acknowledged",
                (_, true) => "SLA breached",
                (false, false) => "waiting for owner",
            };
            format!("handed off to {owner}, {how}")
        }
        CaseState::FollowUp { next_step, .. } => format!("follow-up: {next_step}"),
        CaseState::HumanReview { reason } => format!("human review: {reason}"),
        CaseState::Closed { reason } => format!("closed: {reason}"),
    }
}

fn filter_form(tenant: &str, f: &Filters, policy: &redial_core::policy::Policy) -> Markup {
    let states = [
        "waiting",
        "dialing",
        "handed-off",
        "follow-up",
        "human-review",
        "closed",
    ];
    let urgencies = [
        Urgency::SameDay,
        Urgency::ThisWeek,
        Urgency::LongTermNurture,
    ];
    html! {
        form.filters method="get" action={ "/console/clients/" (tenant) } aria-label="Filter cases" {
            label for="f-state" { "State" }
            select #f-state name="state" {
                option value="" { "any" }
                @for s in states { option value=(s) selected[f.state == s] { (s) } }
            }
            label for="f-reason" { "Reason" }
            select #f-reason name="reason_code" {
                option value="" { "any" }
                @for r in &policy.disposition.reason_codes { option value=(r) selected[&f.reason_code == r] { (r) } }
            }
            label for="f-urgency" { "Urgency" }
            select #f-urgency name="urgency" {
                option value="" { "any" }
                @for u in urgencies { @let u = label(&u); option value=(u) selected[f.urgency == u] { (u) } }
            }
            label for="f-owner" { "Owner" }
            select #f-owner name="owner" {
                option value="" { "any" }
                @for o in &policy.handoff.owners { option value=(o) selected[&f.owner == o] { (o) } }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// The funnel as horizontal bars (SVG drawn here, no script), each stage's count and its
/// share of the stage before; `waiting` handoffs are still within their SLA or overdue.
fn funnel_chart(report: &FunnelReport, waiting: u64) -> Markup {
    let f = &report.funnel;
    let stages = [
        ("Signals", f.signals, None),
        ("Cases", f.cases, Some(f.signals)),
        ("Reached", f.reached, Some(f.cases)),
        ("Qualified", f.qualified, Some(f.reached)),
        ("Handed off", f.handed_off, Some(f.qualified)),
        ("Follow-up", f.follow_up, Some(f.qualified)),
    ];
    let max = stages.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let (bar_x, bar_w, row_h) = (110.0, 330.0, 34.0);
    let height = row_h * stages.len() as f64 + 8.0;
    let summary = stages
        .iter()
        .map(|(name, n, _)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        figure.funnel {
            svg viewBox={ "0 0 560 " (height) } role="img" aria-labelledby="funnel-title" {
                title #funnel-title { "Funnel: " (summary) }
                @for (i, (name, n, of)) in stages.iter().enumerate() {
                    @let y = 4.0 + row_h * i as f64;
                    @let w = (bar_w * *n as f64 / max as f64).max(2.0);
                    text x="0" y=(y + 21.0) class="label" { (name) }
                    rect x=(bar_x) y=(y) width=(w) height=(row_h - 8.0) rx="3" class={ "bar bar-" (i) } {}
                    text x=(bar_x + w + 8.0) y=(y + 21.0) class="value" {
                        (n) @if let Some(of) = of { " (" (percent(*n, *of)) ")" }
                    }
                }
            }
            figcaption {
                "All time. SLA met for " (f.sla_met) " of " (f.handed_off) " handoffs (" (waiting) " waiting for their owner)"
                "; median signal → first dial: " (report.median_signal_to_first_dial_ms.map_or("–".into(), span))
                "; human review " (f.human_review) ", closed without conversation " (f.closed) ", still open " (f.open) "."
            }
        }
    }
}
