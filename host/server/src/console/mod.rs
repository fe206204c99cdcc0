//! The agency console: server-rendered pages under `/console`, for the people who run many
//! clients' recovery loops.
//!
//! Pages read through the same handlers the JSON routes use (so the same authorisation:
//! the agency sees every client, a client's token only its own), called with the browser's
//! session cookie in place of a bearer token. Every change a page offers is a request to a
//! JSON route, sent by `console.js` with the session's CSRF token. Assets are built into
//! the binary: no CDN, works offline. Pages and assets are gzipped for browsers that ask.
//!
//! # Layout
//! - `sign_in.rs`: the token → session cookie exchange, and signing out.
//! - `overview.rs`: one row per client, today and the last 7 days, sortable and filterable.
//! - `client.rs`: one client: funnel chart, open handoffs with their SLA clock, cases with
//!   filters, the follow-up queue, dead letters.
//! - `case.rs`: one case's timeline.
//! - `onboard.rs`: a new client from a template, previewed with its pilot sheet.
//! - `policy.rs`: the policy editor (validate before save).
//! - `plugins.rs`: versions per slot, upload, trials (shadow diffs, split funnels).
//! - `layout.rs`: the page frame, formatting helpers and the error page.

mod case;
mod client;
mod layout;
mod onboard;
mod overview;
mod plugins;
mod policy;
mod sign_in;

use crate::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes (HTML, outside the OpenAPI document: they are pages, not API).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/", get(overview::page))
        .route(
            "/console/sign-in",
            get(sign_in::form).post(sign_in::sign_in),
        )
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/clients/{tenant}", get(client::page))
        .route("/console/clients/{tenant}/policy", get(policy::page))
        .route("/console/clients/{tenant}/plugins", get(plugins::page))
        .route("/console/cases/{case}", get(case::page))
        .route("/console/onboard", get(onboard::page))
        .route("/console/onboard/compose", post(onboard::compose))
        .route(
            "/console/assets/console.css",
            get(|| asset(CSS, "text/css")),
        )
        .route(
            "/console/assets/console.js",
            get(|| asset(JS, "text/javascript")),
        )
        .layer(CompressionLayer::new())
}

async fn asset(body: &'static str, kind: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
