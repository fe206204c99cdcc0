//! A client's plugins: per slot the live plugin, its versions (rollback), the latest
//! upload's compile state, an upload form, and a trial's shadow differences or split
//! funnels with promote and end.

use super::layout::{Viewer, error_page, frame, percent, time_el};
use crate::views::{Funnel, SlotPath, SlotPlugins, TenantPath, TrialReport};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};

/// `GET /console/clients/{tenant}/plugins`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Response {
    match render(&state, &tenant, &headers).await {
        Ok(body) => frame("Plugins", Some(&viewer), Some(&tenant), body),
        Err(err) => error_page(Some(&viewer), err),
    }
}

async fn render(state: &AppState, tenant: &str, headers: &HeaderMap) -> Result<Markup, ApiError> {
    let listing = crate::plugins::list(
        State(state.clone()),
        Path(TenantPath {
            tenant: tenant.to_string(),
        }),
        headers.clone(),
    )
    .await?
    .0;
    let tz = state.engine.tenant(tenant)?.policy.tz();
    let mut sections = Vec::new();
    let in_loop_order = redial_runtime::Slot::ALL
        .iter()
        .filter_map(|slot| listing.slots.get_key_value(slot.name()));
    for (slot, plugins) in in_loop_order {
        let report = match &plugins.trial {
            Some(_) => Some(
                crate::trials::report(
                    State(state.clone()),
                    Path(SlotPath {
                        tenant: tenant.to_string(),
                        slot: slot.clone(),
                    }),
                    headers.clone(),
                )
                .await?
                .0,
            ),
            None => None,
        };
        sections.push(slot_section(tenant, slot, plugins, report.as_ref(), tz));
    }
    Ok(html! {
        h1 { "Plugins" " " small { (tenant) } }
        p.lede { "Each slot's live plugin and the versions uploaded for it. Upload a component to make it live, or put it on trial first: in shadow it decides beside the live plugin with no effect; in a split it decides for real for a share of callers." }
        @for s in sections { (s) }
    })
}

fn slot_section(
    tenant: &str,
    slot: &str,
    p: &SlotPlugins,
    report: Option<&TrialReport>,
    tz: chrono_tz::Tz,
) -> Markup {
    let base = format!("/v1/tenants/{tenant}/plugins/{slot}");
    let live_hash = &p.live.sha256;
    html! {
        section.slot id={ "slot-" (slot) } aria-labelledby={ "slot-" (slot) "-h" } {
            h2 id={ "slot-" (slot) "-h" } { (slot) }
            p { "Live: " strong { (p.live.name) } " " code title=(live_hash) { (&live_hash[..12.min(live_hash.len())]) } " · contract " (p.live.wit) " · " (serde_json::to_value(&p.live.tier).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) " code" }
            @if let Some(u) = &p.latest_upload {
                p.upload-state data-state=(u.state) { "Latest upload " code { (&u.sha256[..12.min(u.sha256.len())]) } ": " strong { (u.state) } @if let Some(why) = &u.reason { " — " (why) } }
            }
            @if !p.uploads.is_empty() {
                div.table-wrap { table.data {
                    caption { "Uploaded versions" }
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Uploaded" } } }
                    tbody { @for v in p.uploads.iter().rev() { tr {
                        td { code title=(v.sha256) { (&v.sha256[..12.min(v.sha256.len())]) } @if &v.sha256 == live_hash { " (live)" } }
                        td { (time_el(tz, v.uploaded_ms)) }
                    } } }
                } }
                p { button type="button" data-api={ (base) "/rollback" } data-method="POST" data-then="reload" data-confirm="Go back to the plugin live before this one?" { "Roll back" } }
            }
            @match report {
                Some(r) => { (trial_markup(&base, r)) }
                None => {
                    form.upload.inline data-base=(base) {
                        label for={ "file-" (slot) } { "Component (.wasm)" }
                        input id={ "file-" (slot) } type="file" name="component" accept=".wasm,application/wasm" required;
                        label for={ "mode-" (slot) } { "How" }
                        select id={ "mode-" (slot) } name="mode" {
                            option value="live" { "Make it live now" }
                            option value="shadow" { "Shadow trial" }
                            option value="split" { "Split trial" }
                        }
                        label for={ "split-" (slot) } { "Split %" }
                        input id={ "split-" (slot) } type="number" name="split" min="1" max="99" value="20";
                        button type="submit" { "Upload" }
                    }
                }
            }
        }
    }
}

fn trial_markup(base: &str, r: &TrialReport) -> Markup {
    html! {
        div.trial {
            h3 { "On trial: " code { (&r.trial.sha256[..12.min(r.trial.sha256.len())]) } " (" (r.candidate) ")" }
            @if let Some(s) = &r.shadow {
                p { "Shadow: " (s.compared) (if s.compared == 1 { " decision" } else { " decisions" }) " compared, " strong { (s.changed) " changed" } ", " (s.failed) " failed." }
                @if !s.by_field.is_empty() {
                    p { "Changed fields: " @for (i, (field, n)) in s.by_field.iter().enumerate() { @if i > 0 { ", " } (field) " " (n) } }
                }
                @if !s.differences.is_empty() {
                    div.table-wrap { table.data {
                        caption { "Newest differences" }
                        thead { tr { th scope="col" { "Case" } th scope="col" { "Live decided" } th scope="col" { "Candidate decided" } } }
                        tbody { @for d in &s.differences { tr {
                            td { @match &d.case_id { Some(c) => { a href={ "/console/cases/" (c) } { (c) } }, None => { "(ignored signal)" } } }
                            td { code { (d.live.to_string()) } }
                            td { code { (d.shadow.error.clone().unwrap_or_else(|| d.shadow.decision.as_ref().map(|v| v.to_string()).unwrap_or_default())) } }
                        } } }
                    } }
                }
            }
            @if let Some(split) = &r.split {
                p { "Split: the candidate decides for " (split.percent) "% of callers." }
                div.table-wrap { table.data {
                    thead { tr { th scope="col" { "" } th scope="col" { "Signals" } th scope="col" { "Cases" } th scope="col" { "Reached" } th scope="col" { "Qualified" } th scope="col" { "Handed off" } th scope="col" { "Follow-up" } } }
                    tbody { (funnel_row("Live", &split.live)) (funnel_row("Candidate", &split.candidate)) }
                } }
            }
            p.buttons {
                button type="button" data-api={ (base) "/trial/promote" } data-method="POST" data-then="reload" { "Promote to live" }
                button type="button" data-api={ (base) "/trial" } data-method="DELETE" data-then="reload" { "End the trial" }
            }
        }
    }
}

fn funnel_row(name: &str, f: &Funnel) -> Markup {
    html! { tr {
        th scope="row" { (name) }
        td { (f.signals) }
        td { (f.cases) }
        td { (f.reached) " (" (percent(f.reached, f.cases)) ")" }
        td { (f.qualified) }
        td { (f.handed_off) }
        td { (f.follow_up) }
    } }
}
