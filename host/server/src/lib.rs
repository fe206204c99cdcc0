//! The Redial server: the HTTP API (axum) and the one place an app is wired together.
//!
//! # Layout
//! - [`AppBuilder`] / [`App`] (`app.rs`): store, runtime, engine, connectors and state,
//!   wired once; `redial serve`, the benchmarks and the tests all build their server here.
//! - [`router`] and the handlers: `inbound.rs` (provider webhooks, each verified by
//!   `auth.rs` before its body is parsed), `queries.rs`, `admin.rs`, `plugins.rs`,
//!   `health.rs`; `error.rs` is the one JSON error shape.
//! - `views/`: the named types every body is made of. Each handler's `#[utoipa::path]`
//!   names them, and the router is built from those annotations, so `/openapi.json`
//!   (`openapi.rs`) describes exactly what is served.
//! - `console/`: the agency console's pages under `/console`, which read through the same
//!   handlers and change things through the JSON routes; [`sessions`] turns a signed-in
//!   browser's cookie into the token it signed in with, and guards cookie changes with a
//!   CSRF token.
//! - [`EngineSlots`] (`slots.rs`): where handlers run engine work, bounded per server and
//!   per tenant.
//! - [`serve`]: the API plus the delivery/timer loop and the policy folder watcher
//!   (`watch.rs`), with a bounded graceful shutdown: in-flight requests and deliveries get
//!   [`SHUTDOWN_GRACE`] to finish; what is undelivered stays in the outbox.
//!
//! Only this crate knows HTTP and JSON wire shapes; handlers authenticate first, then hand
//! work to the engine.
#![deny(missing_docs)]

mod admin;
mod app;
pub mod auth;
mod backups;
mod callers;
mod compiles;
mod connections;
mod console;
mod dead_letters;
mod error;
mod health;
mod inbound;
mod limits;
pub mod openapi;
mod plugins;
mod queries;
mod secrets;
pub mod sessions;
mod slots;
mod trials;
pub mod views;
mod watch;

pub use app::{App, AppBuilder, AppError, StoreAt};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use health::{Metrics, NotServing};
pub use slots::{ENGINE_WORKERS, EngineSlots, TENANT_SLOTS};
pub use watch::{PolicyWatcher, Reload};

use axum::Router;
pub use compiles::{COMPILE_BOUND, CompileQueue};
pub use connections::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
pub use limits::{DEFAULT_SIGNAL_RATE, SignalLimits, SignalRate};
use redial_core::connectors::Connectors;
use redial_core::engine::{DeliveryLanes, Engine, HOUSEKEEPING_TICK, LaneConfig};
use redial_core::store::LEASE_RENEWAL;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How often the policies folder is checked for edits.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How often housekeeping runs: provider event ids past their replay window are forgotten
/// and what tenants' retention no longer keeps is purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);

/// Largest request body accepted (a policy or a webhook).
pub const MAX_BODY: usize = 256 * 1024;

/// Largest plugin component the upload route accepts unless the operator sets another
/// limit (`AppBuilder::max_plugin_bytes`, `redial serve --max-plugin-mib`): a Python
/// plugin with its interpreter is about 18 MiB.
pub const MAX_PLUGIN: usize = redial_runtime::MAX_COMPONENT;

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
    /// Tenants whose policy does not load, and why.
    pub not_serving: Arc<NotServing>,
    /// Wakes the delivery/timer loop as soon as a request created work.
    pub wake: Arc<Wake>,
    /// The slots engine work runs in, off the async threads.
    pub slots: Arc<EngineSlots>,
    /// Where side effects leave, and whom the engine asks what a CRM knows of a caller.
    pub connectors: Arc<dyn Connectors>,
    /// Each tenant's signal rate.
    pub signal_limits: Arc<SignalLimits>,
    /// Where uploaded components compile.
    pub compiles: Arc<CompileQueue>,
    /// The console's signed-in browsers.
    pub sessions: Arc<sessions::Sessions>,
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

/// Every route with its documentation: the one list both [`router`] and
/// [`openapi::document`] are made from.
fn routes() -> OpenApiRouter<AppState> {
    // The upload handler reads its body within the operator's limit, once the tenant's
    // turn to upload is claimed.
    let uploads = OpenApiRouter::new()
        .routes(routes!(plugins::upload))
        .routes(routes!(plugins::replay))
        .routes(routes!(trials::start, trials::report, trials::end))
        .routes(routes!(trials::promote))
        .layer(axum::extract::DefaultBodyLimit::disable());
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::serve))
        .routes(routes!(admin::tenants))
        .routes(routes!(admin::delete_tenant))
        .routes(routes!(admin::get_policy, admin::put_policy))
        .routes(routes!(admin::check_policy))
        .routes(routes!(admin::issue_token))
        .routes(routes!(backups::backup))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::set, secrets::delete))
        .routes(routes!(inbound::signal))
        .routes(routes!(inbound::twilio_status))
        .routes(routes!(inbound::twilio_sms))
        .routes(routes!(inbound::twilio_message_status))
        .routes(routes!(inbound::vapi))
        .routes(routes!(inbound::retell))
        .routes(routes!(queries::list))
        .routes(routes!(queries::fua))
        .routes(routes!(queries::funnel))
        .routes(routes!(queries::one))
        .routes(routes!(queries::ack))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::retry))
        .routes(routes!(dead_letters::discard))
        .routes(routes!(callers::erase))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::rollback))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .merge(uploads)
}

/// The API routes, answering every error (theirs, axum's and tower's) in the one JSON
/// shape, and the console's pages beside them; a change made with a console session
/// cookie must carry its CSRF token, whichever route it reaches.
pub fn router(state: AppState) -> Router {
    let (api, _) = routes().split_for_parts();
    api.fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn(error::json_errors))
        .merge(console::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sessions::csrf_guard,
        ))
        .with_state(state)
}

/// How long a stop waits for requests and deliveries in flight, from the shutdown signal;
/// what is not delivered by then stays in the outbox for the next start.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How a server runs beyond its routes.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How the delivery lanes share out the outbox.
    pub lanes: LaneConfig,
    /// Connections open at once (see [`MAX_CONNECTIONS`]).
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            lanes: LaneConfig::default(),
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves the API on `listener` and runs the delivery/timer loop, delivering through the
/// state's connectors as the options' lanes share them out, until `shutdown` resolves;
/// then stops accepting, and gives requests and deliveries in flight up to
/// [`SHUTDOWN_GRACE`] in all to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let lanes = options.lanes;
    let stop = Arc::new(AtomicBool::new(false));
    let signalled: Arc<OnceLock<Instant>> = Arc::default();
    let lanes = DeliveryLanes::start(state.engine.clone(), state.connectors.clone(), lanes);
    // Apart from the loop, so a long purge holds up no timer.
    let housekeeping = {
        let (engine, stop) = (state.engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("redial-housekeeping".into())
            .spawn(move || {
                let mut last: Option<Instant> = None;
                while !stop.load(Ordering::Relaxed) {
                    if last.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
                        if let Err(err) = engine.housekeeping() {
                            tracing::error!(cause = %err, "housekeeping failed; will retry");
                        }
                        last = Some(Instant::now());
                    }
                    if let Err(err) = engine.rewrite_if_owed() {
                        tracing::error!(cause = %err, "rewriting the store failed; will retry");
                    }
                    std::thread::sleep(HOUSEKEEPING_TICK);
                }
            })?
    };
    // Several nodes on one store: this node's tenant leases, renewed apart from the loop
    // so a long delivery round never lets them lapse.
    let leases = {
        let (engine, stop, wake) = (state.engine.clone(), stop.clone(), state.wake.clone());
        std::thread::Builder::new()
            .name("redial-leases".into())
            .spawn(move || {
                while engine.store().is_shared() && !stop.load(Ordering::Relaxed) {
                    match engine.claim_tenants() {
                        Ok(_) => wake.ring(),
                        Err(err) => {
                            tracing::warn!(cause = %err, "cannot renew tenant leases; will retry")
                        }
                    }
                    let renewed = Instant::now();
                    while renewed.elapsed() < LEASE_RENEWAL && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })?
    };
    let worker = {
        let (engine, stop, wake) = (state.engine.clone(), stop.clone(), state.wake.clone());
        let (not_serving, signalled) = (state.not_serving.clone(), signalled.clone());
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
                        for reload in w.poll(&engine) {
                            reload.record(&engine, &not_serving);
                        }
                        last_watch = Instant::now();
                    }
                    wake.wait(Duration::from_millis(20));
                }
                let since = signalled.get().map_or(Duration::ZERO, Instant::elapsed);
                let unfinished = lanes.shutdown(SHUTDOWN_GRACE.saturating_sub(since));
                if unfinished > 0 {
                    tracing::warn!(unfinished, "deliveries still in flight at the end of the grace period stay in the outbox");
                }
            })?
    };
    let (wake, engine) = (state.wake.clone(), state.engine.clone());
    let app = router(state);
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = {
        let signalled = signalled.clone();
        async move {
            shutdown.await;
            let _ = signalled.set(Instant::now());
            let _ = stopping.send(true);
        }
    };
    let grace_over = async move {
        let _ = stopped.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = connections::serve_connections(listener, app, options.max_connections, signal) => {}
        () = grace_over => {
            tracing::warn!("requests still in flight at the end of the grace period are dropped");
        }
    };
    stop.store(true, Ordering::Relaxed);
    wake.ring();
    let _ = worker.join();
    let _ = housekeeping.join();
    let _ = leases.join();
    // The lanes' last deliveries are made durable too, and then the removal of their
    // write-ahead records, so a clean stop leaves no logged step for the next start.
    if let Err(err) = engine.store().flush().and_then(|()| engine.store().sync()) {
        tracing::error!(cause = %err, "the final flush failed; the next start completes what it must");
    }
    Ok(())
}
