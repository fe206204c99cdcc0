//! One builder wires an app: the store (sled, or PostgreSQL for several nodes), the plugin runtime, the engine, the tenants'
//! policies, the connectors and the HTTP state. `redial serve`, the benchmarks and the
//! tests all start their server through it, so they run the same wiring.

use crate::auth::token_hash;
use crate::{
    AppState, COMPILE_BOUND, CompileQueue, EngineSlots, Metrics, NotServing, ServeOptions,
    SignalLimits, SignalRate,
};
use redial_connectors::{Destinations, ProviderConnectors, Simulator};
use redial_core::clock::{Clock, SystemClock};
use redial_core::connectors::Connectors;
use redial_core::engine::Engine;
use redial_core::policy::{Policy, PolicyError};
use redial_core::secrets::{SecretError, SecretKey};
use redial_core::store::{Store, StoreError};
use redial_runtime::{PluginRuntime, RuntimeConfig, RuntimeError};
use redial_store_postgres::PgStore;
use redial_store_sled::SledStore;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data folder could not be made.
    #[error("cannot create {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store did not open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plugin runtime did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A policy in the policies folder did not parse or check.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The secrets key could not be read or made.
    #[error(transparent)]
    SecretKey(#[from] SecretError),
    /// The simulator's ledger could not be opened.
    #[error("simulator ledger: {0}")]
    Ledger(String),
    /// The engine could not prepare the store (opt-outs stored as numbers).
    #[error(transparent)]
    Engine(#[from] redial_core::engine::EngineError),
}

/// Where an app keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAt {
    /// Embedded sled in this folder: one node (the default).
    Sled(PathBuf),
    /// The PostgreSQL database at this URL (`postgres://user:password@host:port/name`),
    /// which several nodes may share.
    Postgres(String),
}

impl StoreAt {
    /// A `postgres://` or `postgresql://` URL, else a sled folder.
    pub fn parse(location: &str) -> StoreAt {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            StoreAt::Postgres(location.to_string())
        } else {
            StoreAt::Sled(PathBuf::from(location))
        }
    }

    /// Where it is, for people: the folder, or the database's `host:port/name` (never the
    /// password).
    pub fn describe(&self) -> String {
        match self {
            StoreAt::Sled(dir) => format!("sled in {}", dir.display()),
            StoreAt::Postgres(url) => format!(
                "PostgreSQL at {}",
                redial_store_postgres::describe_url(url).unwrap_or_else(|| "?".into())
            ),
        }
    }

    /// Opens the store: creates a sled folder, or connects to PostgreSQL and migrates its
    /// schema. Fails with the reason when the database cannot be reached or authenticated,
    /// or was migrated by a newer Redial.
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            StoreAt::Sled(dir) => Arc::new(SledStore::open(dir)?),
            StoreAt::Postgres(url) => Arc::new(PgStore::open(url)?),
        })
    }
}

/// How an [`App`] is put together. Everything has the embedded default: a sled store in
/// the data folder, compiled plugins cached beside it, the system clock, real providers
/// with the simulator behind every channel a tenant leaves on "simulator".
pub struct AppBuilder {
    dir: PathBuf,
    store: Option<StoreAt>,
    runtime: Option<Arc<PluginRuntime>>,
    clock: Arc<dyn Clock>,
    connectors: Option<Arc<dyn Connectors>>,
    provider_timeout: Duration,
    destinations: Destinations,
    ledger: bool,
    policies_dir: Option<PathBuf>,
    policies: Vec<Policy>,
    admin_token: Option<String>,
    public_url: String,
    options: ServeOptions,
    secret_key: Option<SecretKey>,
    signal_rate: Option<SignalRate>,
    rewrite_spacing: Duration,
    tenant_grace: Duration,
    max_plugin_bytes: usize,
}

/// A wired app, ready to serve.
pub struct App {
    /// The engine (tests and benches reach the store and tenants through it).
    pub engine: Arc<Engine>,
    /// What every handler can reach.
    pub state: AppState,
    options: ServeOptions,
    /// Where the providers' callbacks reach this server, once known (the built-in
    /// connectors read it).
    public_url: Arc<OnceLock<String>>,
}

impl AppBuilder {
    /// An app whose data lives in `dir`: the store in `db/`, compiled plugins in
    /// `compiled/`, uploaded components in `plugins/`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AppBuilder {
            dir: dir.into(),
            store: None,
            runtime: None,
            clock: Arc::new(SystemClock),
            connectors: None,
            provider_timeout: Duration::from_secs(10),
            destinations: Destinations::PublicOnly,
            ledger: false,
            policies_dir: None,
            policies: Vec::new(),
            admin_token: None,
            public_url: String::new(),
            options: ServeOptions::default(),
            secret_key: None,
            signal_rate: Some(SignalRate::default()),
            rewrite_spacing: redial_core::engine::REWRITE_SPACING,
            tenant_grace: redial_core::engine::DEFAULT_TENANT_GRACE,
            max_plugin_bytes: crate::MAX_PLUGIN,
        }
    }

    /// Keeps the state in `store` instead of sled in the data folder's `db/`; the data
    /// folder still holds this node's compiled plugins, uploads and key file.
    pub fn store(mut self, store: StoreAt) -> Self {
        self.store = Some(store);
        self
    }

    /// The largest component the upload route takes (default [`crate::MAX_PLUGIN`]).
    pub fn max_plugin_bytes(mut self, bytes: usize) -> Self {
        self.max_plugin_bytes = bytes;
        self
    }

    /// How long a deleted tenant's data waits before its purge (default
    /// [`redial_core::engine::DEFAULT_TENANT_GRACE`]).
    pub fn tenant_grace(mut self, grace: Duration) -> Self {
        self.tenant_grace = grace;
        self
    }

    /// The least time between two store rewrites erasures ask for (default
    /// [`redial_core::engine::REWRITE_SPACING`]).
    pub fn rewrite_spacing(mut self, spacing: Duration) -> Self {
        self.rewrite_spacing = spacing;
        self
    }

    /// Shares an existing plugin runtime (tests share one compiled-artifact cache).
    pub fn runtime(mut self, runtime: Arc<PluginRuntime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The engine's clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Delivers through `connectors` instead of the real providers.
    pub fn connectors(mut self, connectors: Arc<dyn Connectors>) -> Self {
        self.connectors = Some(connectors);
        self
    }

    /// How long one provider request may take (default 10 s).
    pub fn provider_timeout(mut self, timeout: Duration) -> Self {
        self.provider_timeout = timeout;
        self
    }

    /// Lets tenants' own endpoints (their webhook URLs) be anywhere, loopback and private
    /// networks included: for development and tests. By default they must be public.
    pub fn allow_private_destinations(mut self) -> Self {
        self.destinations = Destinations::Any;
        self
    }

    /// Keeps the simulator's ledger in `simulator-ledger.jsonl` in the data folder, so its
    /// idempotency holds across restarts.
    pub fn simulator_ledger(mut self) -> Self {
        self.ledger = true;
        self
    }

    /// Loads every policy in `dir` at build time, and reloads a file when it changes while
    /// the app serves (PUT policy rewrites the tenant's file there).
    pub fn policies_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.policies_dir = Some(dir.into());
        self
    }

    /// Loads `policy` at build time, besides any in the policies folder.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// The agency admin token (only its hash is kept).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token_hash(token));
        self
    }

    /// The base URL providers reach this server at (Twilio signs the full URL); by default
    /// `http://` and the address the app listens on.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// Outbox deliveries one tenant may have in flight at once (default
    /// [`redial_core::engine::DEFAULT_LANES`]).
    pub fn lanes(mut self, lanes: usize) -> Self {
        self.options.lanes.tenant_lanes = lanes;
        self
    }

    /// Failed deliveries of one item before it is set aside as a dead letter (default
    /// [`redial_core::engine::DEFAULT_DEAD_AFTER`]).
    pub fn dead_after(mut self, failures: u32) -> Self {
        self.options.lanes.dead_after = failures.max(1);
        self
    }

    /// Connections open at once (default [`crate::MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.options.max_connections = max.max(1);
        self
    }

    /// Each tenant's signal rate (default [`crate::DEFAULT_SIGNAL_RATE`] a second, bursts
    /// of twice that); `None` for no limit (load benchmarks of one tenant).
    pub fn signal_rate(mut self, rate: Option<SignalRate>) -> Self {
        self.signal_rate = rate;
        self
    }

    /// The key tenant secrets are sealed with (the operator's `REDIAL_SECRETS_KEY`); by
    /// default the key in `secrets.key` in the data folder, made on first start.
    pub fn secret_key(mut self, key: SecretKey) -> Self {
        self.secret_key = Some(key);
        self
    }

    /// Opens the store, starts the runtime and the engine, and loads every policy; the
    /// first policy that fails stops the build, naming its tenant.
    pub fn build(self) -> Result<App, AppError> {
        // A database that cannot be reached stops the build before anything is made.
        let store = match &self.store {
            Some(at) => at.open()?,
            None => StoreAt::Sled(self.dir.join("db")).open()?,
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| AppError::Folder {
            path: self.dir.clone(),
            source,
        })?;
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Arc::new(PluginRuntime::new(RuntimeConfig {
                cache_dir: Some(self.dir.join("compiled")),
                ..RuntimeConfig::default()
            })?),
        };
        let secret_key = match self.secret_key {
            Some(key) => key,
            None => SecretKey::load_or_create(&self.dir.join("secrets.key"))?,
        };
        let engine = Arc::new(
            Engine::new(store, runtime, self.clock.clone())
                .with_uploads(self.dir.join("plugins"))
                .with_secret_key(secret_key)
                .with_rewrite_spacing(self.rewrite_spacing)
                .with_tenant_grace(self.tenant_grace),
        );
        engine.protect_opt_outs()?;
        // One tenant's policy that does not load stops that tenant, never the server.
        let not_serving = Arc::new(NotServing::default());
        let mut policies: Vec<(String, Result<Policy, String>)> = match &self.policies_dir {
            Some(dir) => Policy::load_each(dir)?
                .into_iter()
                .map(|(file, policy)| {
                    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
                    (stem.into_owned(), policy.map_err(|e| e.to_string()))
                })
                .collect(),
            None => Vec::new(),
        };
        policies.extend(self.policies.into_iter().map(|p| (p.tenant.clone(), Ok(p))));
        for (name, policy) in policies {
            let loaded = policy.and_then(|p| {
                let tenant = p.tenant.clone();
                engine
                    .load_tenant(p)
                    .map(|_| ())
                    .map_err(|e| format!("tenant {tenant}: {e}"))
            });
            if let Err(problem) = loaded {
                tracing::error!(tenant = %name, %problem, "policy does not load; the tenant does not serve");
                not_serving.set(&name, &problem);
            }
        }
        let public_url = Arc::new(OnceLock::new());
        if !self.public_url.is_empty() {
            let _ = public_url.set(self.public_url.clone());
        }
        let connectors = match self.connectors {
            Some(connectors) => connectors,
            None => {
                let ledger = self.dir.join("simulator-ledger.jsonl");
                let simulator = Simulator::new(
                    self.clock.clone(),
                    HashMap::new(),
                    self.ledger.then_some(ledger.as_path()),
                )
                .map_err(|e| AppError::Ledger(e.to_string()))?;
                Arc::new(ProviderConnectors::with_public_url(
                    self.clock,
                    simulator,
                    self.provider_timeout,
                    self.destinations,
                    public_url.clone(),
                ))
            }
        };
        let state = AppState {
            engine: engine.clone(),
            admin_token_hash: self.admin_token,
            public_url: self.public_url,
            policies_dir: self.policies_dir,
            metrics: Arc::new(Metrics::default()),
            not_serving,
            wake: Arc::default(),
            slots: Arc::new(EngineSlots::default()),
            connectors,
            signal_limits: Arc::new(SignalLimits::new(self.signal_rate)),
            compiles: Arc::new(CompileQueue::new(COMPILE_BOUND, self.max_plugin_bytes)),
            sessions: Arc::default(),
        };
        Ok(App {
            engine,
            state,
            options: self.options,
            public_url,
        })
    }
}

impl App {
    /// Serves the API on `listener` and runs the delivery/timer loop until `shutdown`
    /// resolves (see [`crate::serve`]).
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if self.state.public_url.is_empty() {
            self.state.public_url = format!("http://{}", listener.local_addr()?);
        }
        let _ = self.public_url.set(self.state.public_url.clone());
        crate::serve(listener, self.state, self.options, shutdown).await
    }
}
