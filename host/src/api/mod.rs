//! The HTTP API (axum): provider webhooks, case queries, tenant administration, health.
//!
//! Only this module knows HTTP and JSON shapes. Handlers authenticate first, then hand
//! work to the engine on the blocking pool (engine steps do sled I/O and run plugins).
//! [`serve`] also runs the delivery/timer loop on the system clock, and shuts both down
//! gracefully: in-flight requests finish, the loop completes its current step.

mod admin;
pub mod auth;
mod error;
mod health;
mod inbound;
pub mod openapi;
mod plugins;
mod queries;

pub use error::ApiError;
pub use health::Metrics;

use crate::connectors::Connectors;
use crate::engine::{DeliveryLanes, Engine, EngineError};
use crate::watch::PolicyWatcher;
use axum::Router;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

/// How often the policies folder is checked for edits.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Largest request body accepted (a policy or a webhook).
pub const MAX_BODY: usize = 256 * 1024;

/// Largest plugin component accepted by the upload route.
pub const MAX_PLUGIN: usize = 16 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The loop engine.
    pub engine: Arc<Engine>,
    /// sha256 of the agency admin token, if one is configured.
    pub admin_token_hash: Option<String>,
    /// The base URL providers use to reach this server (Twilio signs the full URL).
    pub public_url: String,
    /// Where tenant policies live (PUT rewrites the tenant's file), if anywhere.
    pub policies_dir: Option<PathBuf>,
    /// In-memory counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Wakes the delivery/timer loop as soon as a request created work.
    pub wake: Arc<Wake>,
}

/// A doorbell for the loop thread: requests ring it, the loop waits on it (or a short
/// timeout, for timers coming due), so new work starts at once instead of at the next
/// poll.
#[derive(Debug, Default)]
pub struct Wake {
    rung: std::sync::Mutex<bool>,
    bell: std::sync::Condvar,
}

impl Wake {
    /// Rings the bell.
    pub fn ring(&self) {
        *self.rung.lock().unwrap() = true;
        self.bell.notify_one();
    }

    /// Waits for a ring or `timeout`, whichever comes first.
    pub fn wait(&self, timeout: Duration) {
        let rung = self.rung.lock().unwrap();
        let (mut rung, _) = self
            .bell
            .wait_timeout_while(rung, timeout, |r| !*r)
            .unwrap();
        *rung = false;
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route(
            "/v1/tenants/{tenant}/plugins/{slot}",
            axum::routing::put(plugins::upload),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_PLUGIN));
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/tenants", get(admin::tenants))
        .route(
            "/v1/tenants/{tenant}",
            axum::routing::delete(admin::delete_tenant),
        )
        .route(
            "/v1/tenants/{tenant}/policy",
            get(admin::get_policy).put(admin::put_policy),
        )
        .route("/v1/tenants/{tenant}/tokens", post(admin::issue_token))
        .route("/v1/tenants/{tenant}/signals", post(inbound::signal))
        .route(
            "/v1/tenants/{tenant}/twilio/voice-status",
            post(inbound::twilio_status),
        )
        .route("/v1/tenants/{tenant}/twilio/sms", post(inbound::twilio_sms))
        .route("/v1/tenants/{tenant}/vapi", post(inbound::vapi))
        .route("/v1/tenants/{tenant}/cases", get(queries::list))
        .route("/v1/tenants/{tenant}/fua", get(queries::fua))
        .route("/v1/tenants/{tenant}/funnel", get(queries::funnel))
        .route("/v1/cases/{case}", get(queries::one))
        .route("/v1/cases/{case}/ack", post(queries::ack))
        .route("/v1/tenants/{tenant}/plugins", get(plugins::list))
        .route(
            "/v1/tenants/{tenant}/plugins/{slot}/rollback",
            post(plugins::rollback),
        )
        .layer(RequestBodyLimitLayer::new(MAX_BODY));
    api.merge(uploads)
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// [`blocking`] for work on one tenant's cases, which its tenant lock runs one at a time
/// anyway: beyond [`TENANT_SLOTS`] at once, a tenant's requests wait for their turn here,
/// without a thread and without an [`ENGINE_WORKERS`] slot. Otherwise a tenant whose plugin
/// runs into its deadline on every call fills every slot with requests queued on its lock,
/// and the other tenants wait for a slot (`redial bench neighbours`, beside a looping
/// trigger: a quiet tenant's slowest request took 113 ms without this, 6 ms with it).
pub(crate) async fn blocking_for<T: Send + 'static>(
    tenant: &str,
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>> =
        LazyLock::new(Mutex::default);
    let turn = TURNS
        .lock()
        .unwrap()
        .entry(tenant.to_string())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(TENANT_SLOTS)))
        .clone();
    let _turn = turn.acquire().await.expect("never closed");
    blocking(work).await
}

/// Runs engine work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    static ENGINE_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(ENGINE_WORKERS);
    let _permit = ENGINE_WORK.acquire().await.expect("never closed");
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(join) => Err(ApiError::internal(join)),
    }
}

/// Requests doing engine work at once, per process; the rest wait, in arrival order,
/// without a thread. A signal holds its slot only for its step, not for the fsync after
/// it (see `Store::durable`). Measured with `redial bench ingest --clients 64 --tenants 8`:
/// a slot per request (no limit) had request p99 40-56 ms against 23-29 ms with 8 slots
/// held through the fsync; once the fsync was awaited without a slot, 4 slots gave about
/// the same signals/s as 8 (median 4,068 against 3,940 /s) with a signal-to-dial p99 of
/// 28-34 against 36-67 ms, and 2 fell behind (3,384-3,824 /s).
pub const ENGINE_WORKERS: usize = 4;

/// Of the [`ENGINE_WORKERS`] slots, how many one tenant's requests may hold (see
/// [`blocking_for`]): two, so that the next step of a busy tenant is ready on its thread
/// when the lock passes to it, and half the slots stay free for the other tenants.
pub const TENANT_SLOTS: usize = ENGINE_WORKERS / 2;

/// Outbox deliveries in flight at once, by default: enough to overlap provider round trips
/// on two cores without a thread per item. 16 kept dials level with accepted signals under
/// `redial bench ingest --clients 64 --tenants 8`, where 8 fell behind. Each lane waits for
/// its provider's answer, so dials/s stay under lanes ÷ the provider's latency (16 lanes
/// at 200 ms: 80 /s); `redial serve --delivery-lanes` raises it.
pub const DELIVERY_LANES: usize = 16;

/// The most delivery lanes `redial serve` starts (a thread each, and an idle connection
/// each kept per provider host).
pub const MAX_DELIVERY_LANES: usize = 256;

/// Serves the API on `listener` and runs the delivery/timer loop, with `lanes` deliveries
/// in flight at most, until `shutdown` resolves; then stops accepting, lets in-flight
/// requests finish and the loop complete its step.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    connectors: Arc<dyn Connectors>,
    lanes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let lanes = DeliveryLanes::start(state.engine.clone(), connectors, lanes);
    let worker = {
        let (engine, stop, wake) = (state.engine.clone(), stop.clone(), state.wake.clone());
        let mut watcher = state.policies_dir.as_deref().map(PolicyWatcher::new);
        std::thread::Builder::new()
            .name("redial-loop".into())
            .spawn(move || {
                let mut last_watch = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Err(err) = engine.fire_due_timers().and_then(|_| lanes.dispatch()) {
                        tracing::error!(cause = %err, "loop step failed; retrying");
                    }
                    if let Some(w) = watcher.as_mut()
                        && last_watch.elapsed() >= WATCH_EVERY
                    {
                        w.poll(&engine);
                        last_watch = Instant::now();
                    }
                    wake.wait(Duration::from_millis(20));
                }
                lanes.shutdown();
            })?
    };
    let (wake, engine) = (state.wake.clone(), state.engine.clone());
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    stop.store(true, Ordering::Relaxed);
    wake.ring();
    let _ = worker.join();
    // The lanes' last deliveries are made durable too, and then the removal of their
    // write-ahead records, so a clean stop leaves no logged step for the next start.
    if let Err(err) = engine.store().flush().and_then(|()| engine.store().sync()) {
        tracing::error!(cause = %err, "the final flush failed; the next start completes what it must");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_whose_work_hangs_leaves_slots_for_the_others() {
        // More of one tenant's requests than there are slots, each stuck (as behind a
        // plugin running into its deadline) until released.
        let (release, stuck) = mpsc::channel::<()>();
        let stuck = Arc::new(Mutex::new(stuck));
        let hung: Vec<_> = (0..ENGINE_WORKERS + 2)
            .map(|_| {
                let stuck = stuck.clone();
                tokio::spawn(blocking_for("hangs", move || {
                    stuck.lock().unwrap().recv().ok();
                    Ok(())
                }))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            blocking_for("quiet", || Ok("done")),
        )
        .await;
        for _ in &hung {
            release.send(()).unwrap();
        }
        for h in hung {
            h.await.unwrap().unwrap();
        }
        assert_eq!(other.expect("the quiet tenant got a slot").unwrap(), "done");
    }
}
