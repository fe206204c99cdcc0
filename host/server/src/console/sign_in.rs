//! Signing in turns a token (the agency's admin token, or a client's) into a session
//! cookie; the token itself is kept nowhere (the session holds its hash).

use super::layout::{frame, html_response};
use crate::AppState;
use crate::auth::{Caller, caller_for, token_hash};
use crate::sessions::{check_csrf, set_cookie};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

fn form_markup(problem: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        p { "Use the agency's admin token to see every client, or a client's own token to see that client." }
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form.stack method="post" action="/console/sign-in" {
            label for="token" { "Token" }
            input #token type="password" name="token" required autocomplete="current-password" autofocus;
            button type="submit" { "Sign in" }
        }
    }
}

/// The sign-in form.
pub async fn form() -> Response {
    frame("Sign in", None, None, form_markup(None))
}

/// What the sign-in form sends.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// Checks the token as the API would and opens a session for it.
pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignIn>) -> Response {
    let hash = token_hash(form.token.trim());
    let caller = match caller_for(&state, &hash) {
        Ok(caller) => caller,
        Err(_) => {
            let mut refused = frame(
                "Sign in",
                None,
                None,
                form_markup(Some("That token is not known here.")),
            );
            *refused.status_mut() = StatusCode::UNAUTHORIZED;
            return refused;
        }
    };
    let id = state.sessions.open(hash);
    let to = match caller {
        Caller::Admin => "/console".to_string(),
        Caller::Tenant(t) => format!("/console/clients/{t}"),
    };
    let secure = state.public_url.starts_with("https://");
    (
        [(header::SET_COOKIE, set_cookie(Some(&id), secure))],
        Redirect::to(&to),
    )
        .into_response()
}

/// What the sign-out form sends.
#[derive(Deserialize)]
pub struct SignOut {
    csrf: String,
}

/// Ends the session (the form carries its CSRF token, so another site cannot sign a
/// viewer out).
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    match state.sessions.of(&headers) {
        Some(session) if check_csrf(&session, Some(&form.csrf)) => {
            state.sessions.close(&headers);
            let secure = state.public_url.starts_with("https://");
            (
                [(header::SET_COOKIE, set_cookie(None, secure))],
                Redirect::to("/console/sign-in"),
            )
                .into_response()
        }
        _ => html_response(
            StatusCode::FORBIDDEN,
            html! { p { "This sign-out did not come from a console page. " a href="/console" { "Back" } } },
        ),
    }
}
