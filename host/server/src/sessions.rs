//! Console sessions: a signed-in browser holds an HttpOnly cookie naming a session, and the
//! session names the token it was opened with (by hash, as the store keeps tokens). Every
//! route, JSON or console, resolves it through [`crate::auth::authenticate`] exactly as it
//! resolves a bearer token, so a revoked token ends its sessions at once.
//!
//! A cookie rides along on requests other sites make, so a request authenticated by the
//! cookie that changes anything must also carry the session's CSRF token (the
//! `X-CSRF-Token` header, or a `csrf` form field on the console's own forms), which only
//! pages this server rendered know. [`csrf_guard`] refuses it otherwise.

use crate::auth::new_token;
use crate::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "redial_session";

/// The header a cookie-authenticated change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts from sign-in: a working day, then the token is asked again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sessions kept at once; past this the oldest is dropped (its browser signs in again).
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// sha256 of the token it signed in with.
    pub token_hash: String,
    /// The token its pages send back with every change.
    pub csrf: String,
    opened: Instant,
}

/// The open sessions, in memory: a restart signs every browser out, which costs a sign-in
/// and keeps no bearer of a token on disk.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Opens a session for a token (already checked) and returns its cookie's value.
    pub fn open(&self, token_hash: String) -> String {
        let id = new_token("");
        let session = Session {
            token_hash,
            csrf: new_token(""),
            opened: Instant::now(),
        };
        let mut all = self.0.lock().unwrap();
        all.retain(|_, s| s.opened.elapsed() < SESSION_LIFETIME);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), session);
        id
    }

    /// The live session the request's cookie names, if any.
    pub fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = session_cookie(headers)?;
        let all = self.0.lock().unwrap();
        all.get(&id)
            .filter(|s| s.opened.elapsed() < SESSION_LIFETIME)
            .cloned()
    }

    /// Ends the session the request's cookie names.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.0.lock().unwrap().remove(&id);
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The `Set-Cookie` value for session `id` (`None` clears it): HttpOnly so no script reads
/// it, SameSite=Strict so other sites' pages do not send it, Secure when the server is
/// reached over https.
pub fn set_cookie(id: Option<&str>, secure: bool) -> String {
    let mut cookie = Cookie::build((COOKIE, id.unwrap_or_default().to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    cookie = match id {
        Some(_) => cookie.max_age(cookie::time::Duration::seconds(
            SESSION_LIFETIME.as_secs() as i64
        )),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    cookie.build().to_string()
}

/// Whether a request authenticates by the session cookie alone (no bearer token).
pub fn by_cookie(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION) && session_cookie(headers).is_some()
}

/// Refuses a change (any method but GET, HEAD, OPTIONS) authenticated by the session cookie
/// unless it carries that session's CSRF token in [`CSRF_HEADER`]. The console's own form
/// posts check their `csrf` field themselves ([`Sessions::of`] then [`check_csrf`]).
pub async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let console_form = request.uri().path().starts_with("/console/");
    if safe || console_form || !by_cookie(request.headers()) {
        return next.run(request).await;
    }
    let sent = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    match state.sessions.of(request.headers()) {
        Some(session) if !check_csrf(&session, sent) => ApiError::forbidden(
            "a change made with a console session needs its `X-CSRF-Token` header",
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Whether `sent` is the session's CSRF token.
pub fn check_csrf(session: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|s| crate::auth::constant_eq(s.as_bytes(), session.csrf.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_among_others_and_ends_when_closed() {
        let sessions = Sessions::default();
        let id = sessions.open("hash".into());
        let headers = with_cookie(&format!("theme=dark; {COOKIE}={id}; other=1"));
        let session = sessions.of(&headers).expect("open");
        assert_eq!(session.token_hash, "hash");
        assert!(check_csrf(&session, Some(&session.csrf)));
        assert!(!check_csrf(&session, Some("forged")));
        assert!(!check_csrf(&session, None));
        assert!(
            sessions
                .of(&with_cookie(&format!("{COOKIE}=guessed")))
                .is_none()
        );
        sessions.close(&headers);
        assert!(sessions.of(&headers).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_cleared_with_max_age_zero() {
        let set = set_cookie(Some("abc"), true);
        for part in [
            "redial_session=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
        ] {
            assert!(set.contains(part), "{set}");
        }
        let cleared = set_cookie(None, false);
        assert!(
            cleared.contains("Max-Age=0") && !cleared.contains("Secure"),
            "{cleared}"
        );
    }
}
