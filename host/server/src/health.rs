//! `/healthz` and Prometheus `/metrics` (signals, cases, plugin calls and time, outbox,
//! dead letters; admin only).
//!
//! The exposition format is a handful of text lines; writing them directly keeps the
//! server free of a second metrics registry and HTTP exporter.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;

/// Tenants whose policy is in the policies folder but does not load (it does not parse,
/// or its plugins do not load). The server serves every other tenant and names these in
/// `/healthz` and `GET /v1/tenants`, until a fixed file or a valid PUT loads them.
#[derive(Debug, Default)]
pub struct NotServing(Mutex<BTreeMap<String, String>>);

impl NotServing {
    /// Records why `tenant` (or the policy file's stem) does not serve.
    pub fn set(&self, tenant: &str, problem: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(tenant.to_string(), problem.to_string());
    }

    /// `tenant` serves again (or was deleted).
    pub fn clear(&self, tenant: &str) {
        self.0.lock().unwrap().remove(tenant);
    }

    /// Every tenant not serving, with why.
    pub fn list(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect()
    }
}

/// Counters the server keeps in memory (the store holds the durable ones).
#[derive(Debug, Default)]
pub struct Metrics {
    signals: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts an accepted (authenticated, well-formed) signal.
    pub fn signal(&self, tenant: &str) {
        *self
            .signals
            .lock()
            .unwrap()
            .entry(tenant.to_string())
            .or_default() += 1;
    }
}

/// The store answers; `ok`, or which tenants do not serve.
///
/// A tenant whose policy does not load costs that tenant alone: the server stays up and
/// serving (200), and the answer says `degraded` and names the tenant, without the reason
/// (`GET /v1/tenants` gives that to the admin).
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "ops",
    responses(
        (status = 200, description = "Serving: `ok`, or `degraded` with the tenants not serving", body = String, content_type = "text/plain", example = json!("ok")),
        (status = 503, description = "The store does not answer", body = super::error::ErrorBody),
    ))]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.engine.store().next_timer_ms().is_err() {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable".to_string(),
        );
    }
    let down: Vec<String> = state
        .not_serving
        .list()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let text = if down.is_empty() {
        "ok".to_string()
    } else {
        format!("degraded: not serving {}", down.join(", "))
    };
    (axum::http::StatusCode::OK, text)
}

/// Prometheus counters: signals and cases per tenant, plugin calls and time per slot,
/// outbox depth, dead letters per tenant.
///
/// The operator's view of every tenant, so it needs the admin token (Prometheus sends it
/// with `authorization: { credentials: ... }` in its scrape config).
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "No or an unknown token", body = super::error::ErrorBody),
        (status = 403, description = "A tenant token (this route needs the admin token)", body = super::error::ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, super::ApiError> {
    super::auth::authenticate(&state, &headers)?.admin()?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP redial_signals_received_total Signals accepted by the HTTP API."
    );
    let _ = writeln!(out, "# TYPE redial_signals_received_total counter");
    for (tenant, n) in state.metrics.signals.lock().unwrap().iter() {
        let _ = writeln!(
            out,
            "redial_signals_received_total{{tenant=\"{tenant}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# HELP redial_cases Cases by tenant and state.");
    let _ = writeln!(out, "# TYPE redial_cases gauge");
    for tenant in state.engine.tenant_ids() {
        let by_state = state
            .engine
            .store()
            .case_states(&tenant)
            .unwrap_or_default();
        for (s, n) in by_state {
            let _ = writeln!(out, "redial_cases{{tenant=\"{tenant}\",state=\"{s}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP redial_plugin_calls_total Plugin calls by slot."
    );
    let _ = writeln!(out, "# TYPE redial_plugin_calls_total counter");
    let _ = writeln!(
        out,
        "# HELP redial_plugin_call_failures_total Plugin calls that failed, by slot."
    );
    let _ = writeln!(out, "# TYPE redial_plugin_call_failures_total counter");
    let _ = writeln!(
        out,
        "# HELP redial_plugin_call_seconds_total Time in plugin calls (instantiation and teardown included), by slot."
    );
    let _ = writeln!(out, "# TYPE redial_plugin_call_seconds_total counter");
    for slot in redial_runtime::Slot::ALL {
        let s = state.engine.runtime().stats(slot);
        let _ = writeln!(
            out,
            "redial_plugin_calls_total{{slot=\"{slot}\"}} {}",
            s.calls.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "redial_plugin_call_failures_total{{slot=\"{slot}\"}} {}",
            s.failures.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "redial_plugin_call_seconds_total{{slot=\"{slot}\"}} {:.6}",
            s.nanos.load(Relaxed) as f64 / 1e9
        );
    }
    let _ = writeln!(
        out,
        "# HELP redial_outbox_depth Side effects waiting for delivery."
    );
    let _ = writeln!(out, "# TYPE redial_outbox_depth gauge");
    let _ = writeln!(
        out,
        "redial_outbox_depth {}",
        state.engine.store().outbox_len()
    );
    if let redial_core::store::Ownership::Only(held) = &*state.engine.ownership() {
        let _ = writeln!(
            out,
            "# HELP redial_tenants_held Tenants whose lease this node holds (several nodes on one store): it fires their timers and delivers their side effects."
        );
        let _ = writeln!(out, "# TYPE redial_tenants_held gauge");
        let _ = writeln!(out, "redial_tenants_held {}", held.len());
    }
    let _ = writeln!(
        out,
        "# HELP redial_dead_letters Side effects set aside after their last failed delivery, per tenant."
    );
    let _ = writeln!(out, "# TYPE redial_dead_letters gauge");
    for (tenant, n) in state.engine.store().dead_letter_counts()? {
        let _ = writeln!(out, "redial_dead_letters{{tenant=\"{tenant}\"}} {n}");
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
