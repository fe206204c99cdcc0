//! The policy editor: the live policy's TOML, checked through the API before it is saved
//! (each problem at its line); the live policy serves until a valid one is saved. Beside
//! it, the client's secrets: names only, each settable (write-only).

use super::layout::{Viewer, error_page, frame, time_el};
use crate::AppState;
use crate::views::TenantPath;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

/// `GET /console/clients/{tenant}/policy`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(TenantPath { tenant }): Path<TenantPath>,
    headers: HeaderMap,
) -> Response {
    let path = || {
        Path(TenantPath {
            tenant: tenant.clone(),
        })
    };
    let source = match crate::admin::get_policy(State(state.clone()), path(), headers.clone()).await
    {
        Ok((_, source)) => source,
        Err(err) => return error_page(Some(&viewer), err),
    };
    let secrets = match crate::secrets::list(State(state.clone()), path(), headers).await {
        Ok(list) => list.0.secrets,
        Err(err) => return error_page(Some(&viewer), err),
    };
    let tz = match state.engine.tenant(&tenant) {
        Ok(t) => t.policy.tz(),
        Err(err) => return error_page(Some(&viewer), err.into()),
    };
    let body = html! {
        h1 { "Policy" " " small { (tenant) } }
        p.lede { "Edit the policy, then check it. Saving checks it again first; a refused policy is never saved, and the live one keeps serving until a valid one is." }
        form #policy-editor data-tenant=(tenant) {
            label for="policy-text" { "Policy (TOML)" }
            div.editor {
                pre.gutter aria-hidden="true" {}
                textarea #policy-text name="policy" rows="28" spellcheck="false" autocomplete="off" { (source) }
            }
            div.buttons {
                button #policy-check type="button" { "Check" }
                button #policy-save type="submit" { "Save" }
            }
        }
        section #policy-result aria-live="polite" hidden {
            h2 #policy-verdict {}
            ul #policy-problems.problems {}
            pre #policy-sheet.sheet {}
        }
        section aria-labelledby="secrets-h" {
            h2 #secrets-h { "Secrets" }
            p { "A policy names a credential as " code { "secret:NAME" } ". Values are sealed at rest and never shown again." }
            div.table-wrap { table #secrets.data {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Set" } th scope="col" { "Used by the live policy" } } }
                tbody {
                    @for s in &secrets { tr { td { code { (s.name) } } td { (time_el(tz, s.updated_ms)) } td { (if s.in_use { "yes" } else { "no" }) } } }
                    @if secrets.is_empty() { tr { td colspan="3" { "No secrets yet." } } }
                }
            } }
            form #secret-form.inline data-tenant=(tenant) {
                label for="secret-name" { "Name" }
                input #secret-name name="name" required pattern="[A-Za-z0-9_.\\-]{1,64}" autocomplete="off";
                label for="secret-value" { "Value" }
                input #secret-value name="value" type="password" required autocomplete="new-password";
                button type="submit" { "Set secret" }
            }
        }
    };
    frame("Policy", Some(&viewer), Some(&tenant), body)
}
