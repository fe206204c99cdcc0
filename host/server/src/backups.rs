//! The operator's online backup: a consistent copy of the running server's store, written
//! into a folder on the server's machine (`redial store backup --server` calls it).

use super::auth::authenticate;
use super::error::{ErrorBody, parse_json};
use super::views::{BackupMade, BackupRequest};
use super::{ApiError, AppState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::path::PathBuf;

/// Copies the store, as one consistent moment, into a new (or empty) folder on the
/// server's machine. Steps wait while it copies; requests that only read do not. Restore
/// it with `redial store restore` while the server is stopped.
#[utoipa::path(post, path = "/v1/admin/backups", operation_id = "backupStore", tag = "admin",
    request_body(content = BackupRequest, content_type = "application/json"),
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The backup is written", body = BackupMade),
        (status = 400, description = "No absolute folder given (field `dir`)", body = ErrorBody),
        (status = 401, description = "No or an unknown token", body = ErrorBody),
        (status = 403, description = "A tenant token (this route needs the admin token)", body = ErrorBody),
        (status = 409, description = "The folder is not empty", body = ErrorBody),
    ))]
pub async fn backup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<BackupMade>), ApiError> {
    authenticate(&state, &headers)?.admin()?;
    let BackupRequest { dir } = parse_json(&body, "backup request")?;
    let target = PathBuf::from(&dir);
    if !target.is_absolute() {
        return Err(ApiError::bad_request(
            "dir".to_string(),
            format!("{dir:?} is not an absolute path on the server"),
        ));
    }
    let nonempty = std::fs::read_dir(&target).is_ok_and(|mut e| e.next().is_some());
    if nonempty {
        return Err(ApiError::conflict(format!(
            "{dir} is not empty; give a new folder"
        )));
    }
    let engine = state.engine.clone();
    let started = std::time::Instant::now();
    let copy = target.clone();
    let bytes = state
        .slots
        .run(move || engine.store().backup(&copy).map_err(Into::into))
        .await?;
    tracing::info!(dir = %target.display(), bytes, "store backed up");
    Ok((
        StatusCode::CREATED,
        Json(BackupMade {
            dir,
            bytes,
            took_ms: started.elapsed().as_millis() as u64,
        }),
    ))
}
