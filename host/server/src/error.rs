//! One error shape for every route: `{ "error": { "code", "message", "field" } }`, also for
//! the answers axum and tower give on their own (405, 413, a malformed path), and the
//! body parsers that name the offending field.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// An API failure with its status. Internal errors are logged, never leaked.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    retry_after: Option<u64>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `field`) and for people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `bad-request`, `unauthorized`, `forbidden`, `not-found`,
    /// `method-not-allowed`, `conflict`, `payload-too-large`, `unsupported-media-type`,
    /// `invalid`, `rate-limited`, `internal`, `unavailable`.
    #[schema(example = "bad-request")]
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// The request field at fault (`caller`, `message.call.metadata.case_id`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: String, field: Option<String>) -> Self {
        ApiError {
            status,
            detail: ErrorDetail {
                code: code.to_string(),
                message,
                field,
            },
            retry_after: None,
        }
    }

    /// What went wrong, in words.
    pub fn message(&self) -> &str {
        &self.detail.message
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 429: this tenant sends faster than its limit; `wait` says when to try again.
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            message.into(),
            None,
        );
        e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        e
    }

    /// 503: the server cannot take this now (a queue is full, a bound ran out); `wait`
    /// says when to try again.
    pub fn busy(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            message.into(),
            None,
        );
        e.retry_after = Some(wait.as_secs().max(1));
        e
    }

    /// 400: the request is malformed; `field` names the offending field.
    pub fn bad_request(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            message.into(),
            field.into(),
        )
    }

    /// 401: missing or wrong credentials or signature.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message.into(),
            None,
        )
    }

    /// 403: authenticated, but not for this tenant.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message.into(), None)
    }

    /// 404: no such tenant, case or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message.into(), None)
    }

    /// 409: the request conflicts with what is live (a secret the policy still uses).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message.into(), None)
    }

    /// 413: a body over the route's limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body is over this route's limit of {limit} bytes"),
            None,
        )
    }

    /// 415: wrong content type.
    pub fn unsupported_media(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("expected Content-Type {expected}"),
            None,
        )
    }

    /// 422: well-formed but refused (a policy that does not validate).
    pub fn unprocessable(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            message.into(),
            field.into(),
        )
    }

    /// 500: logged with its cause; the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".into(),
            None,
        )
    }

    /// An answer axum or tower made without us (`405`, `413`, a path that does not
    /// parse), in our shape.
    fn foreign(status: StatusCode, text: &str) -> Self {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "bad-request",
        };
        let message = match text.trim() {
            "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
            text => text.to_string(),
        };
        Self::new(status, code, message, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody { error: self.detail })).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<redial_core::engine::EngineError> for ApiError {
    fn from(e: redial_core::engine::EngineError) -> Self {
        use redial_core::engine::EngineError::*;
        match e {
            UnknownTenant(t) => ApiError::not_found(format!("unknown tenant {t:?}")),
            UnknownCase(c) => ApiError::not_found(format!("unknown case {c:?}")),
            e @ UnknownAttempt { .. } => ApiError::not_found(e.to_string()),
            Plugin { .. } => ApiError::unprocessable(None, e.to_string()),
            Policy(p) => ApiError::unprocessable(p.key().map(str::to_string), p.to_string()),
            SecretRefused(why) | TrialRefused(why) => ApiError::unprocessable(None, why),
            SecretInUse(_) => ApiError::conflict(e.to_string()),
            TenantDeleted { .. } => ApiError::conflict(e.to_string()),
            InvalidNumber(_) => ApiError::bad_request("number".to_string(), e.to_string()),
            CompileTooSlow => ApiError::busy(e.to_string(), std::time::Duration::from_secs(30)),
            Secret(s) => ApiError::internal(s),
            Store(s) => s.into(),
        }
    }
}

/// How long a client is asked to wait while the database is out of reach.
pub const STORE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl From<redial_core::store::StoreError> for ApiError {
    /// A database out of reach is 503 with `Retry-After`: nothing was written, and the same
    /// request (a provider's retry of a signal) succeeds once it is back. Anything else is a
    /// fault of this server's, logged and answered 500.
    fn from(e: redial_core::store::StoreError) -> Self {
        match e {
            redial_core::store::StoreError::Unavailable(why) => {
                tracing::warn!(%why, "store unavailable; asking the client to retry");
                ApiError::busy(
                    "the store is unavailable; nothing was recorded, try again later",
                    STORE_RETRY_AFTER,
                )
            }
            other => ApiError::internal(other),
        }
    }
}

/// Middleware: an error answer that is not JSON yet (axum's 405, tower's 413, a path
/// rejection) gets the one error shape, its headers kept. A request refused with its body
/// unread (refusals come before the body is read) is answered with `Connection: close`,
/// so a client does not send its next request on a connection the server is closing.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let has_body = request.version() <= Version::HTTP_11
        && (request.headers().contains_key(header::TRANSFER_ENCODING)
            || request
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v != "0"));
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        let (parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        response = ApiError::foreign(status, &String::from_utf8_lossy(&text)).into_response();
        for (name, value) in &parts.headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    if has_body {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads a request body, at most `limit` bytes. Handlers call it only once the sender is
/// authenticated (or, for a signed webhook, its proof is present and timely), so an
/// unauthenticated request never costs a body read.
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large(limit);
            }
            cause = c.source();
        }
        ApiError::bad_request(None, format!("the body could not be read: {e}"))
    })
}

/// Parses a JSON body; a failure is a 400 naming the field by its path
/// (`message.call.metadata.case_id`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| refused(e, what))
}

/// Parses a form-encoded body or a query string; a failure is a 400 naming the field.
pub fn parse_form<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(body));
    serde_path_to_error::deserialize(de).map_err(|e| refused(e, what))
}

fn refused<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, what: &str) -> ApiError {
    let cause = e.inner().to_string();
    let path = e.path().to_string();
    let path = (path != ".").then_some(path);
    // A missing field is reported at the object that should hold it.
    let field = match field_of(&cause) {
        Some(name) if cause.starts_with("missing field") => {
            Some(path.map_or(name.clone(), |p| format!("{p}.{name}")))
        }
        _ => path,
    };
    let at = field
        .as_deref()
        .map(|f| format!(" at `{f}`"))
        .unwrap_or_default();
    ApiError::bad_request(field, format!("invalid {what}{at}: {cause}"))
}

/// Names the field serde complained about, from its message ("missing field `caller`").
fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        message: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        case_id: String,
        attempt: u32,
    }

    fn field(body: &str) -> Option<String> {
        parse_json::<Outer>(body.as_bytes(), "body")
            .unwrap_err()
            .detail
            .field
    }

    #[tokio::test]
    async fn a_refusal_made_by_tower_gets_the_one_error_shape_and_keeps_its_headers() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::put(|| async {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        [("x-kept", "yes")],
                        "length limit exceeded",
                    )
                }),
            )
            .layer(axum::middleware::from_fn(json_errors));
        let request = Request::put("/")
            .header(header::CONTENT_LENGTH, "3")
            .body(axum::body::Body::from("abc"))
            .unwrap();
        let answer = app.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.headers()["x-kept"], "yes");
        assert_eq!(answer.headers()[header::CONNECTION], "close");
        let body = axum::body::to_bytes(answer.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "payload-too-large");
        assert_eq!(body["error"]["message"], "length limit exceeded");
    }

    #[test]
    fn a_refused_body_names_the_field_by_its_path() {
        assert_eq!(
            field(r#"{"message":{"attempt":1}}"#).unwrap(),
            "message.case_id"
        );
        assert_eq!(
            field(r#"{"message":{"case_id":"c","attempt":"one"}}"#).unwrap(),
            "message.attempt"
        );
        assert_eq!(
            field(r#"{"message":{"case_id":"c","attempt":1,"x":2}}"#).unwrap(),
            "message.x"
        );
        assert_eq!(field(r#"{}"#).unwrap(), "message");
    }
}
