//! Calls to a running server's API for the commands that act through it, with the admin
//! token from `REDIAL_ADMIN_TOKEN`.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Sends `method path` (with a JSON body, if any) to the server at `base`; returns the
/// answer's JSON, or fails with the server's own message.
pub fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    send(
        base,
        method,
        path,
        body.map(Payload::Json).unwrap_or(Payload::None),
    )
}

/// A request's body.
pub enum Payload {
    /// None.
    None,
    /// JSON.
    Json(Value),
    /// A WebAssembly component.
    Wasm(Vec<u8>),
}

/// [`call`] with any [`Payload`].
pub fn send(base: &str, method: &str, path: &str, body: Payload) -> Result<Value> {
    let token = std::env::var("REDIAL_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .context("set REDIAL_ADMIN_TOKEN to the server's admin token")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let auth = format!("Bearer {token}");
    let response = match method {
        "GET" => agent.get(&url).header("authorization", &auth).call(),
        "DELETE" => agent.delete(&url).header("authorization", &auth).call(),
        _ => {
            let request = match method {
                "PUT" => agent.put(&url),
                _ => agent.post(&url),
            }
            .header("authorization", &auth);
            match body {
                Payload::Json(body) => request.send_json(body),
                Payload::Wasm(bytes) => request
                    .header("content-type", "application/wasm")
                    .send(&bytes[..]),
                Payload::None => request.send_empty(),
            }
        }
    };
    let mut response = response.with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = json["error"]["message"]
            .as_str()
            .map_or_else(|| json.to_string(), str::to_string);
        bail!("{method} {path}: {status}: {message}");
    }
    Ok(json)
}
