//! The page frame every console page shares, the signed-in viewer, formatting helpers and
//! the error page.

use crate::auth::{Caller, caller_for};
use crate::{ApiError, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

/// Who is looking, and the CSRF token their page's changes carry.
pub struct Viewer {
    /// The agency or one client.
    pub caller: Caller,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Viewer {
    /// Whether the agency is looking (it sees every client and can onboard).
    pub fn is_agency(&self) -> bool {
        self.caller == Caller::Admin
    }
}

/// A console page's extractor: the signed-in viewer, or else a redirect to sign in.
impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let session = state.sessions.of(&parts.headers).ok_or_else(to_sign_in)?;
        let caller = caller_for(state, &session.token_hash).map_err(|_| to_sign_in())?;
        Ok(Viewer {
            caller,
            csrf: session.csrf,
        })
    }
}

/// A whole page: title, navigation (with the client's own tabs when `client` is given),
/// and `body`.
pub fn frame(title: &str, viewer: Option<&Viewer>, client: Option<&str>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(v) = viewer { meta name="csrf-token" content=(v.csrf); }
                title { (title) " · Redial" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "Redial" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            @if v.is_agency() {
                                a href="/console" { "Clients" }
                                a href="/console/onboard" { "Onboard a client" }
                            } @else if let Caller::Tenant(t) = &v.caller {
                                a href={ "/console/clients/" (t) } { "My business" }
                            }
                        }
                        form.sign-out method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some(t) = client {
                    nav.tabs aria-label="Client" {
                        a href={ "/console/clients/" (t) } { "Activity" }
                        a href={ "/console/clients/" (t) "/policy" } { "Policy" }
                        a href={ "/console/clients/" (t) "/plugins" } { "Plugins" }
                    }
                }
                div #notice role="status" aria-live="polite" {}
                main #main tabindex="-1" { (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// `markup` as an HTML answer that is never cached, framed or sniffed, and runs only this
/// server's own script.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An API refusal shown as a page: its status and message, and a way back.
pub fn error_page(viewer: Option<&Viewer>, err: ApiError) -> Response {
    let status = err.status();
    let body = html! {
        h1 { (status.canonical_reason().unwrap_or("Error")) }
        p.error { (err.message()) }
        p { a href="/console" { "Back to the console" } }
    };
    let mut response = frame("Error", viewer, None, body);
    *response.status_mut() = status;
    response
}

/// A unix-ms instant in `tz`, as `2026-12-07 14:05`.
pub fn local(tz: chrono_tz::Tz, ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A length of time in words: `42 s`, `3 min`, `2 h 5 min`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// `part` of `whole` in whole percent (none before there is a whole).
pub fn share(part: u64, whole: u64) -> Option<u64> {
    (100 * part + whole / 2).checked_div(whole)
}

/// [`share`] in words, or a dash before there is a whole.
pub fn percent(part: u64, whole: u64) -> String {
    share(part, whole).map_or("–".into(), |p| format!("{p}%"))
}

/// A `<time>` element for `ms` in `tz`.
pub fn time_el(tz: chrono_tz::Tz, ms: i64) -> Markup {
    html! { time datetime=(ms) { (local(tz, ms)) } }
}
