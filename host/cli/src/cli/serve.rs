//! `redial serve`: the HTTP API and the loop on the system clock, with the embedded
//! defaults (sled in a local folder, `policies/` loaded, the simulator dialer), or on a
//! PostgreSQL database that several nodes share.

use anyhow::{Context, Result};
use clap::Args;
use clap::builder::TypedValueParser;
use redial_core::engine::{DEFAULT_DEAD_AFTER, DEFAULT_LANES, MAX_LANES};
use redial_core::policy::Policy;
use redial_core::secrets::SecretKey;
use redial_server::auth::new_token;
use redial_server::{AppBuilder, DEFAULT_SIGNAL_RATE, MAX_CONNECTIONS, SignalRate, StoreAt};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `redial serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Where the state lives: a folder (sled, one node; compiled plugins and uploads go
    /// there too), or a PostgreSQL URL, `postgres://user:password@host:port/database`,
    /// which several nodes may share. Prefer the REDIAL_STORE variable for a URL with a
    /// password: a command line is visible to every user of the machine.
    #[arg(
        long,
        env = "REDIAL_STORE",
        hide_env_values = true,
        default_value = ".redial/serve"
    )]
    store: String,
    /// This node's own files with a PostgreSQL store: compiled plugins, uploaded
    /// components, the secrets key file and the simulator's ledger (with sled they live
    /// in the --store folder).
    #[arg(long, default_value = ".redial/serve")]
    data: PathBuf,
    /// Folder of tenant policies (default: ./policies, else the repository's).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Base URL providers reach this server at (Twilio signs it); default http://<addr>.
    #[arg(long)]
    public_url: Option<String>,
    /// Outbox deliveries (dials, SMS, CRM requests) one tenant may have in flight at once;
    /// the server runs four tenants' worth of lanes, so a tenant whose provider hangs holds
    /// only its own. Each waits for its provider's answer, so a tenant's dials/s stay under
    /// this ÷ the provider's latency: raise it when a provider takes long to answer and
    /// calls back up.
    #[arg(long, default_value_t = DEFAULT_LANES, value_parser = lanes())]
    delivery_lanes: usize,
    /// Failed deliveries of one item (a dial, an SMS, a CRM request) before it is set aside
    /// as a dead letter, which its tenant can retry or discard through the API. Retries
    /// back off from 1 s, doubling up to 5 minutes.
    #[arg(long, default_value_t = DEFAULT_DEAD_AFTER, value_parser = clap::value_parser!(u32).range(1..=1000))]
    dead_after: u32,
    /// Signals one tenant may send per second (bursts of twice that); past it a signal is
    /// refused with 429 and `Retry-After`, so one tenant's flood cannot crowd out the
    /// others. 0 turns the limit off.
    #[arg(long, default_value_t = DEFAULT_SIGNAL_RATE)]
    signal_rate: u32,
    /// Connections open at once; past it, new ones wait until one closes. A client has 10 s
    /// to send a request's head, so silent connections do not keep their place.
    #[arg(long, default_value_t = MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=65_536).map(|n| n as usize))]
    max_connections: usize,
    /// Days a deleted tenant's data waits before its purge (time to restore a deletion
    /// made by mistake from a backup); `DELETE /v1/tenants/{t}?purge=now` purges at once.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=3650))]
    tenant_grace_days: u32,
    /// Least seconds between two store rewrites that erasures ask for: a rewrite pauses
    /// every tenant's steps while it copies the store, so erasures in a row share one.
    #[arg(long, default_value_t = 600)]
    rewrite_spacing_secs: u64,
    /// The largest plugin component a tenant may upload, in MiB (a Python plugin with its
    /// interpreter is about 18 MiB).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_plugin_mib: u32,
    /// Let tenants' webhook URLs reach loopback and private networks (development and
    /// tests); by default only public addresses are sent to.
    #[arg(long)]
    allow_private_destinations: bool,
}

/// Parses a delivery lane count: 1 to [`MAX_LANES`] (`serve` and `bench`).
pub(super) fn lanes() -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u16)
        .range(1..=MAX_LANES as i64)
        .map(usize::from)
}

/// Runs the server until Ctrl-C or SIGTERM. Tenant secrets are sealed with
/// `REDIAL_SECRETS_KEY` (64 hex digits) when set, else with `secrets.key` in the store
/// folder, made on first start.
pub fn run(args: ServeArgs) -> Result<()> {
    let admin_token = match std::env::var("REDIAL_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let t = new_token("rdl_admin_");
            println!("admin token (set REDIAL_ADMIN_TOKEN to choose your own): {t}");
            t
        }
    };
    let policies = args.policies.clone().unwrap_or_else(Policy::default_dir);
    let store = StoreAt::parse(&args.store);
    let shared = matches!(store, StoreAt::Postgres(_));
    let described = store.describe();
    let mut builder = match store {
        StoreAt::Sled(dir) => AppBuilder::new(dir),
        postgres => AppBuilder::new(&args.data).store(postgres),
    };
    if let Ok(hex) = std::env::var("REDIAL_SECRETS_KEY")
        && !hex.is_empty()
    {
        let key = SecretKey::from_hex(&hex).context("REDIAL_SECRETS_KEY")?;
        builder = builder.secret_key(key);
    }
    if args.allow_private_destinations {
        builder = builder.allow_private_destinations();
    }
    let app = builder
        .policies_dir(policies)
        .simulator_ledger()
        .admin_token(&admin_token)
        .public_url(
            args.public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", args.addr)),
        )
        .lanes(args.delivery_lanes)
        .dead_after(args.dead_after)
        .max_connections(args.max_connections)
        .signal_rate(NonZeroU32::new(args.signal_rate).map(SignalRate::per_second))
        .tenant_grace(Duration::from_secs(
            u64::from(args.tenant_grace_days) * 86_400,
        ))
        .rewrite_spacing(Duration::from_secs(args.rewrite_spacing_secs))
        .max_plugin_bytes(args.max_plugin_mib as usize * 1024 * 1024)
        .build()?;
    let recovered = app.engine.store().recovered_steps();
    if recovered > 0 {
        println!("store: re-applied {recovered} step(s) logged before an unclean stop");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        println!(
            "redial serving {} tenant(s) on http://{addr}",
            app.engine.tenant_ids().len(),
        );
        println!("the agency console: http://{addr}/console (sign in with the admin token)");
        if shared {
            println!(
                "store: {described}; this node shares its tenants with every other node on it"
            );
        }
        app.serve(listener, shutdown_signal()).await?;
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
