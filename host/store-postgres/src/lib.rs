//! The core's Store port on PostgreSQL, for operators who run Redial as several nodes on a
//! database they already run and trust.
//!
//! Every [`Step`] is one transaction: the case, its journal events, its timer, its outbox
//! items, the indexes and the tenant's counters commit together or not at all. A committed
//! transaction is durable, so [`Store::flush`] and [`Store::durable`] have nothing to wait
//! for. Outbox idempotency keys (per tenant) and inbound event ids are unique in the
//! schema, so a step that would repeat either fails instead of doubling an effect.
//!
//! Values are the store format's versioned bytes (`redial-store-format`), the same as
//! sled's; the columns beside them are what queries select by. The schema is versioned and
//! migrated at start (`schema.rs`).
//!
//! The engine calls the port synchronously, from its own threads and sometimes from async
//! handlers. The async client's connections run on a small runtime the store owns; a call
//! waits for its query with `futures_executor::block_on`, which, unlike a tokio runtime's
//! `block_on`, may be used on any thread.
#![deny(missing_docs)]

mod leases;
mod listen;
mod queries;
mod schema;
pub mod scratch;
mod step;

pub use schema::SCHEMA_VERSION;

use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod};
use redial_core::store::{NewEffects, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// Connections one node keeps open at most for queries and commits.
const POOL_SIZE: usize = 16;

/// Connections one node keeps open at most for tenant locks, each held through one step
/// (see `leases.rs`): the steps that may run at once. A step takes its lock first and its
/// query connections one statement at a time after, so the two pools cannot deadlock.
const LOCK_POOL_SIZE: usize = 32;

/// How long a call waits for a free connection, or for a new one to open, before it fails
/// as unavailable.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// The Store port on a PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    /// Connections holding tenant locks (see `leases.rs`).
    locks: Pool,
    /// This node's name in the `nodes` and `leases` tables.
    node: String,
    /// Runs the connections' I/O; shut down without waiting when the store drops.
    runtime: Option<tokio::runtime::Runtime>,
    /// Where the database is (host, port and name, never the password), for messages.
    target: String,
    /// Steps committed by this process (tickets count them).
    steps: AtomicU64,
    /// Outbox items committed by this process since the dispatcher last took them (items
    /// other nodes commit reach it through its outbox scans).
    new_effects: NewEffects,
    /// Set when another node committed outbox items (see `listen.rs`): the dispatcher's
    /// next take answers "scan the outbox", so this node delivers them at once if it owns
    /// their tenant.
    others_committed: Arc<AtomicBool>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/name`),
    /// checks that it can be reached and authenticated, and migrates its schema to this
    /// build's version. Fails, writing nothing, when it cannot connect or when the schema
    /// is newer than this build knows.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url)?;
        let found = store.block(async {
            let mut client = store.client().await?;
            schema::migrate(&mut client).await
        })?;
        tracing::info!(database = %store.target, schema_found = found, schema = SCHEMA_VERSION, "PostgreSQL store open");
        Ok(store)
    }

    /// A store on `url` whose pool has not connected yet and whose schema is unchecked.
    fn connect(url: &str) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("the store URL is not a PostgreSQL URL: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECTION_WAIT);
        }
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("redial");
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("redial-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the store's runtime: {e}")))?;
        let listen_config = config.clone();
        let mut lock_config = config.clone();
        lock_config.options(format!("-c lock_timeout={}", leases::LOCK_WAIT_MS));
        let pool = make_pool(config, POOL_SIZE)?;
        let locks = make_pool(lock_config, LOCK_POOL_SIZE)?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let node = format!("node-{}-{:x}", std::process::id(), started.as_micros());
        let others_committed = Arc::new(AtomicBool::new(false));
        runtime.spawn(listen::listen(
            listen_config,
            node.clone(),
            others_committed.clone(),
        ));
        Ok(PgStore {
            pool,
            locks,
            node,
            others_committed,
            runtime: Some(runtime),
            target,
            steps: AtomicU64::new(0),
            new_effects: NewEffects::default(),
        })
    }

    /// Where the database is: host, port and name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// This node's name among the nodes sharing the database.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The store's runtime, for guards that finish work when they drop.
    fn handle(&self) -> tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("runtime until drop")
            .handle()
            .clone()
    }

    /// Waits for `work` on this thread, with the store's runtime entered so the pool can
    /// open connections on it.
    fn block<F: Future>(&self, work: F) -> F::Output {
        let _entered = self.runtime.as_ref().expect("runtime until drop").enter();
        futures_executor::block_on(work)
    }

    /// A pooled connection, or why none can be had.
    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(|e| {
            let place = format!("cannot reach PostgreSQL at {}", self.target);
            match e {
                deadpool_postgres::PoolError::Backend(e) => match pg_err(e) {
                    StoreError::Unavailable(cause) => {
                        StoreError::Unavailable(format!("{place}: {cause}"))
                    }
                    StoreError::Backend(cause) => StoreError::Backend(format!("{place}: {cause}")),
                    other => other,
                },
                other => StoreError::Unavailable(format!("{place}: {other}")),
            }
        })
    }

    /// Runs one statement and returns its rows.
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.block(async {
            let client = self.client().await?;
            let statement = client.prepare_cached(sql).await.map_err(pg_err)?;
            client.query(&statement, params).await.map_err(pg_err)
        })
    }

    /// Runs one statement and returns how many rows it changed.
    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.block(async {
            let client = self.client().await?;
            let statement = client.prepare_cached(sql).await.map_err(pg_err)?;
            client.execute(&statement, params).await.map_err(pg_err)
        })
    }

    /// Runs statements in one transaction.
    fn transaction(&self, statements: &[(&str, &[&(dyn ToSql + Sync)])]) -> Result<(), StoreError> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_err)?;
            for (sql, params) in statements {
                let statement = tx.prepare_cached(sql).await.map_err(pg_err)?;
                tx.execute(&statement, params).await.map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // A runtime may not be dropped (waited for) inside another runtime's task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A pool of at most `size` connections made from `config`.
fn make_pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CONNECTION_WAIT))
        .create_timeout(Some(CONNECTION_WAIT))
        .build()
        .map_err(|e| StoreError::Backend(format!("cannot make a connection pool: {e}")))
}

/// `host:port/name` of a PostgreSQL URL (never its password), for messages.
pub fn describe_url(url: &str) -> Option<String> {
    url.parse::<tokio_postgres::Config>()
        .ok()
        .map(|c| describe(&c))
}

/// `host:port/name` of a connection config.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let name = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{name}")
}

/// A client error in words, with its cause (tokio-postgres's own text names only the kind).
fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A client error as a store error: a lost or refused connection is
/// [`StoreError::Unavailable`] (try again later), anything else the backend's refusal.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let unavailable = e.is_closed()
        || match e.code() {
            Some(code) => {
                code.code().starts_with("08")
                    || [
                        SqlState::ADMIN_SHUTDOWN,
                        SqlState::CRASH_SHUTDOWN,
                        SqlState::CANNOT_CONNECT_NOW,
                        SqlState::TOO_MANY_CONNECTIONS,
                    ]
                    .contains(code)
            }
            None => std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()),
        };
    let message = describe_error(&e);
    if unavailable {
        StoreError::Unavailable(message)
    } else {
        StoreError::Backend(message)
    }
}

#[cfg(test)]
mod tests;
