//! The clients overview: one row per client with today's and the last 7 days' figures,
//! its backlog and its troubles, sortable and filterable; a client needing attention
//! stands out. A client's own token sees its own row.

use super::layout::{Viewer, error_page, frame, share, span};
use crate::AppState;
use crate::auth::Caller;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};
use redial_core::engine::Tenant;
use redial_core::records::{CaseRecord, CaseState, Funnel, IgnoredSignal};
use redial_core::report::funnel_since;
use serde::Deserialize;
use std::cmp::Ordering;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A window's figures.
#[derive(Debug, Default)]
struct Figures {
    funnel: Funnel,
    /// Handoffs whose SLA is decided: acknowledged, breached, or past its deadline (one
    /// still running is neither met nor missed yet).
    sla_decided: u64,
}

impl Figures {
    fn of(cases: &[CaseRecord], ignored: &[IgnoredSignal], since_ms: i64, now_ms: i64) -> Self {
        let sla_decided = cases
            .iter()
            .filter(|c| c.opened_ms >= since_ms)
            .filter(|c| {
                matches!(c.state, CaseState::HandedOff { acknowledged, breached, sla_deadline_ms, .. }
                    if acknowledged || breached || sla_deadline_ms < now_ms)
            })
            .count() as u64;
        Figures {
            funnel: funnel_since(cases, ignored, since_ms),
            sla_decided,
        }
    }
    fn reached_pct(&self) -> Option<u64> {
        share(self.funnel.reached, self.funnel.cases)
    }
    fn sla_pct(&self) -> Option<u64> {
        share(self.funnel.sla_met, self.sla_decided)
    }
}

/// One client's row.
#[derive(Debug)]
struct Row {
    tenant: String,
    name: String,
    today: Figures,
    week: Figures,
    backlog: usize,
    plugin_failures: u64,
    dead_letters: usize,
    /// Why the client needs attention (empty: healthy).
    trouble: Vec<String>,
    serving: bool,
}

fn row(state: &AppState, tenant: &Tenant, now_ms: i64) -> Result<Row, crate::ApiError> {
    let id = &tenant.policy.tenant;
    let store = state.engine.store();
    let cases = store.cases(Some(id))?;
    let ignored = store.ignored(id)?;
    let midnight = local_midnight(tenant.policy.tz(), now_ms);
    let today = Figures::of(&cases, &ignored, midnight, now_ms);
    let week_start = now_ms - 7 * DAY_MS;
    let week = Figures::of(&cases, &ignored, week_start, now_ms);
    let backlog = cases
        .iter()
        .filter(|c| matches!(c.state, CaseState::FollowUp { .. }))
        .count();
    let overdue = cases
        .iter()
        .filter(|c| {
            matches!(c.state, CaseState::HandedOff { acknowledged: false, sla_deadline_ms, .. }
                if sla_deadline_ms < now_ms)
        })
        .count();
    let plugin_failures = cases
        .iter()
        .filter(|c| c.opened_ms >= week_start)
        .map(|c| u64::from(c.plugin_failures))
        .sum();
    let dead_letters = state.engine.dead_letters(id)?.len();
    let mut trouble = Vec::new();
    if overdue > 0 {
        trouble.push(format!("{overdue} handoff(s) past their SLA"));
    }
    if dead_letters > 0 {
        trouble.push(format!("{dead_letters} dead letter(s)"));
    }
    if plugin_failures > 0 {
        trouble.push(format!("{plugin_failures} plugin failure(s) this week"));
    }
    if week.sla_pct().is_some_and(|p| p < 80) {
        trouble.push("SLA met under 80% this week".into());
    }
    if week.funnel.cases >= 3 && week.funnel.reached == 0 {
        trouble.push("no caller reached this week".into());
    }
    Ok(Row {
        tenant: id.clone(),
        name: tenant.policy.name.clone(),
        today,
        week,
        backlog,
        plugin_failures,
        dead_letters,
        trouble,
        serving: true,
    })
}

/// The unix ms of the last midnight in `tz` at or before `now_ms`.
fn local_midnight(tz: chrono_tz::Tz, now_ms: i64) -> i64 {
    use chrono::TimeZone;
    let Some(now) = chrono::DateTime::from_timestamp_millis(now_ms) else {
        return now_ms;
    };
    let day = now.with_timezone(&tz).date_naive();
    day.and_hms_opt(0, 0, 0)
        .and_then(|m| tz.from_local_datetime(&m).earliest())
        .map_or(now_ms - DAY_MS, |t| t.timestamp_millis())
}

/// The overview's sorting and filtering, from its query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct View {
    sort: Option<String>,
    dir: Option<String>,
    q: Option<String>,
    attention: Option<String>,
}

/// The columns, with their sort keys.
const COLUMNS: [(&str, &str); 12] = [
    ("name", "Client"),
    ("health", "Health"),
    ("signals", "Signals"),
    ("cases", "Cases"),
    ("reached", "Reached"),
    ("qualified", "Qualified"),
    ("handed", "Handed off"),
    ("sla", "SLA met"),
    ("dial", "Signal → dial"),
    ("backlog", "Follow-up"),
    ("failures", "Plugin failures"),
    ("dead", "Dead letters"),
];

fn compare(key: &str, a: &Row, b: &Row) -> Ordering {
    let (fa, fb) = (&a.week.funnel, &b.week.funnel);
    match key {
        "signals" => fa.signals.cmp(&fb.signals),
        "cases" => fa.cases.cmp(&fb.cases),
        "reached" => a.week.reached_pct().cmp(&b.week.reached_pct()),
        "qualified" => fa.qualified.cmp(&fb.qualified),
        "handed" => fa.handed_off.cmp(&fb.handed_off),
        "sla" => a.week.sla_pct().cmp(&b.week.sla_pct()),
        "dial" => fa.median_first_dial_ms().cmp(&fb.median_first_dial_ms()),
        "backlog" => a.backlog.cmp(&b.backlog),
        "failures" => a.plugin_failures.cmp(&b.plugin_failures),
        "dead" => a.dead_letters.cmp(&b.dead_letters),
        "health" => (a.serving, a.trouble.is_empty()).cmp(&(b.serving, b.trouble.is_empty())),
        _ => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
    }
}

/// `GET /console`: the clients overview.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Response {
    let view: View = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let now_ms = state.engine.now_ms();
    let ids = match &viewer.caller {
        Caller::Admin => state.engine.tenant_ids(),
        Caller::Tenant(t) => vec![t.clone()],
    };
    let mut rows = Vec::new();
    for id in ids {
        let Ok(tenant) = state.engine.tenant(&id) else {
            continue;
        };
        match row(&state, &tenant, now_ms) {
            Ok(row) => rows.push(row),
            Err(err) => return error_page(Some(&viewer), err),
        }
    }
    if viewer.is_agency() {
        for (tenant, problem) in state.not_serving.list() {
            rows.push(Row {
                name: tenant.clone(),
                tenant,
                today: Figures::default(),
                week: Figures::default(),
                backlog: 0,
                plugin_failures: 0,
                dead_letters: 0,
                trouble: vec![format!("not serving: {problem}")],
                serving: false,
            });
        }
    }
    let total = rows.len();
    let needle = view.q.as_deref().unwrap_or("").trim().to_lowercase();
    let attention_only = view.attention.is_some();
    rows.retain(|r| {
        (needle.is_empty() || r.name.to_lowercase().contains(&needle) || r.tenant.contains(&needle))
            && (!attention_only || !r.trouble.is_empty())
    });
    let key = view.sort.as_deref().unwrap_or("health");
    let descending = view.dir.as_deref() == Some("desc");
    rows.sort_by(|a, b| {
        let order = compare(key, a, b).then_with(|| a.name.cmp(&b.name));
        if descending { order.reverse() } else { order }
    });
    let body = html! {
        h1 { "Clients" }
        p.lede { (total) " client(s). Figures are for today (the client's own midnight) and the last 7 days; a client needing attention is marked." }
        form.filters method="get" action="/console" role="search" {
            label for="q" { "Filter" }
            input #q type="search" name="q" value=(view.q.as_deref().unwrap_or("")) placeholder="name or id";
            label.check { input type="checkbox" name="attention" checked[attention_only]; " Needs attention only" }
            input type="hidden" name="sort" value=(key);
            input type="hidden" name="dir" value=(if descending { "desc" } else { "asc" });
            button type="submit" { "Apply" }
        }
        div.table-wrap {
            table #clients.data {
                caption.visually-hidden { "Clients, sorted by " (key) }
                thead { tr {
                    @for (col, label) in COLUMNS {
                        @let active = col == key;
                        @let next = if active && !descending { "desc" } else { "asc" };
                        th scope="col" aria-sort=(if active { if descending { "descending" } else { "ascending" } } else { "none" }) {
                            a href=(sort_link(&view, col, next)) { (label) @if active { (if descending { " ▼" } else { " ▲" }) } }
                        }
                    }
                } }
                tbody {
                    @for r in &rows { (row_markup(r)) }
                    @if rows.is_empty() { tr { td colspan="12" { "No client matches." } } }
                }
            }
        }
    };
    frame("Clients", Some(&viewer), None, body)
}

fn sort_link(view: &View, col: &str, dir: &str) -> String {
    let mut params = vec![("sort", col.to_string()), ("dir", dir.to_string())];
    if let Some(q) = view.q.as_deref().filter(|q| !q.is_empty()) {
        params.push(("q", q.to_string()));
    }
    if view.attention.is_some() {
        params.push(("attention", "on".into()));
    }
    format!(
        "/console?{}",
        serde_urlencoded::to_string(params).unwrap_or_default()
    )
}

/// Today's figure over the week's, as `today / week`.
fn pair(today: impl std::fmt::Display, week: impl std::fmt::Display) -> Markup {
    html! { span.today title="today" { (today) } " / " span.week title="last 7 days" { (week) } }
}

fn opt_pct(p: Option<u64>) -> String {
    p.map_or("–".into(), |p| format!("{p}%"))
}

fn row_markup(r: &Row) -> Markup {
    let (t, w) = (&r.today.funnel, &r.week.funnel);
    let class = if !r.serving {
        "down"
    } else if r.trouble.is_empty() {
        "healthy"
    } else {
        "attention"
    };
    html! {
        tr class=(class) data-tenant=(r.tenant) {
            th scope="row" { a href={ "/console/clients/" (r.tenant) } { (r.name) } br; small { (r.tenant) } }
            td.health {
                @if r.trouble.is_empty() { span.badge.ok { "Healthy" } }
                @else {
                    span.badge.attention { (if r.serving { "Needs attention" } else { "Not serving" }) }
                    ul.trouble { @for t in &r.trouble { li { (t) } } }
                }
            }
            td { (pair(t.signals, w.signals)) }
            td { (pair(t.cases, w.cases)) }
            td { (pair(opt_pct(r.today.reached_pct()), opt_pct(r.week.reached_pct()))) }
            td { (pair(t.qualified, w.qualified)) }
            td { (pair(t.handed_off, w.handed_off)) }
            td { (pair(opt_pct(r.today.sla_pct()), opt_pct(r.week.sla_pct()))) }
            td { (pair(
                t.median_first_dial_ms().map_or("–".into(), span),
                w.median_first_dial_ms().map_or("–".into(), span),
            )) }
            td { (r.backlog) }
            td { (r.plugin_failures) }
            td { (r.dead_letters) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_midnight_is_the_clients_own() {
        // 2026-12-07 03:00 UTC is still 2026-12-06 in Chicago (UTC-6).
        let now = 1_796_612_400_000;
        let midnight = local_midnight(chrono_tz::America::Chicago, now);
        assert_eq!(
            super::super::layout::local(chrono_tz::America::Chicago, midnight),
            "2026-12-06 00:00"
        );
        assert_eq!(super::super::layout::percent(1, 3), "33%");
    }
}
