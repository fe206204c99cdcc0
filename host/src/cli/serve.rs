//! `redial serve`: the HTTP API and the loop on the system clock, with the embedded
//! defaults (sled in a local folder, `policies/` loaded, the simulator dialer).

use crate::api::auth::{new_token, token_hash};
use crate::api::{self, AppState, Metrics};
use crate::clock::SystemClock;
use crate::connectors::{ProviderConnectors, Simulator};
use crate::engine::Engine;
use crate::policy::Policy;
use crate::runtime::{PluginRuntime, RuntimeConfig};
use crate::store::Store;
use anyhow::{Context, Result};
use clap::Args;
use clap::builder::TypedValueParser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `redial serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Folder for the sled store and compiled plugins.
    #[arg(long, default_value = ".redial/serve")]
    store: PathBuf,
    /// Folder of tenant policies (default: ./policies, else the repository's).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Base URL providers reach this server at (Twilio signs it); default http://<addr>.
    #[arg(long)]
    public_url: Option<String>,
    /// Outbox deliveries (dials, SMS, CRM requests) in flight at once. Each waits for its
    /// provider's answer, so dials/s stay under this ÷ the provider's latency: raise it
    /// when a provider takes long to answer and calls back up.
    #[arg(long, default_value_t = api::DELIVERY_LANES, value_parser = lanes())]
    delivery_lanes: usize,
}

/// Parses a delivery lane count: 1 to [`api::MAX_DELIVERY_LANES`] (`serve` and `bench`).
pub(super) fn lanes() -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u16)
        .range(1..=api::MAX_DELIVERY_LANES as i64)
        .map(usize::from)
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    std::fs::create_dir_all(&args.store)
        .with_context(|| format!("cannot create {}", args.store.display()))?;
    let store = Store::open(&args.store.join("db"))?;
    if store.recovered_steps() > 0 {
        println!(
            "store: re-applied {} step(s) logged before an unclean stop",
            store.recovered_steps()
        );
    }
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(args.store.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let clock = Arc::new(SystemClock);
    let engine = Arc::new(
        Engine::new(store, runtime, clock.clone()).with_uploads(args.store.join("plugins")),
    );
    let policies = args.policies.clone().unwrap_or_else(Policy::default_dir);
    for policy in Policy::load_dir(&policies)? {
        let name = policy.tenant.clone();
        engine
            .load_tenant(policy)
            .with_context(|| format!("tenant {name}"))?;
    }
    let admin_token = match std::env::var("REDIAL_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let t = new_token("rdl_admin_");
            println!("admin token (set REDIAL_ADMIN_TOKEN to choose your own): {t}");
            t
        }
    };
    let simulator = Simulator::new(
        clock,
        HashMap::new(),
        Some(&args.store.join("simulator-ledger.jsonl")),
    )?;
    let connectors = Arc::new(ProviderConnectors::new(
        engine.clone(),
        simulator,
        Duration::from_secs(10),
    ));
    let state = AppState {
        engine,
        admin_token_hash: Some(token_hash(&admin_token)),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.addr)),
        policies_dir: Some(policies),
        metrics: Arc::new(Metrics::default()),
        wake: Arc::default(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        println!(
            "redial serving {} tenant(s) on http://{}",
            state.engine.tenant_ids().len(),
            listener.local_addr()?
        );
        api::serve(
            listener,
            state,
            connectors,
            args.delivery_lanes,
            shutdown_signal(),
        )
        .await?;
        println!("redial stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
