//! One error shape for every route: `{ "error": { "code", "message", "field" } }`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API failure with its status. Internal errors are logged, never leaked.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// 400: the request is malformed; `field` names the offending field.
    pub fn bad_request(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad-request",
            message: message.into(),
            field: field.into(),
        }
    }

    /// 401: missing or wrong credentials or signature.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
            field: None,
        }
    }

    /// 403: authenticated, but not for this tenant.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
            field: None,
        }
    }

    /// 404: no such tenant, case or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not-found",
            message: message.into(),
            field: None,
        }
    }

    /// 415: wrong content type.
    pub fn unsupported_media(expected: &str) -> Self {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported-media-type",
            message: format!("expected Content-Type {expected}"),
            field: None,
        }
    }

    /// 422: well-formed but refused (a policy that does not validate).
    pub fn unprocessable(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: message.into(),
            field: field.into(),
        }
    }

    /// 500: logged with its cause; the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error".into(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<redial_core::engine::EngineError> for ApiError {
    fn from(e: redial_core::engine::EngineError) -> Self {
        use redial_core::engine::EngineError::*;
        match e {
            UnknownTenant(t) => ApiError::not_found(format!("unknown tenant {t:?}")),
            UnknownCase(c) => ApiError::not_found(format!("unknown case {c:?}")),
            Plugin { .. } => ApiError::unprocessable(None, e.to_string()),
            Store(s) => ApiError::internal(s),
        }
    }
}

impl From<redial_core::store::StoreError> for ApiError {
    fn from(e: redial_core::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// Names the field serde complained about, from its message ("missing field `caller`").
pub fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}
