//! `redial bench tenants`: many tenants sharing the reference plugins — resident memory,
//! time to load, and time to the first decision after a restart with the compiled-artifact
//! cache cold and warm.
//!
//! Each restart is a real one: the benchmark runs this same binary as a child process
//! (`redial bench tenants --child DIR`) that opens the store, loads every policy in the
//! folder and takes one signal, and reports its own timings and memory.

use redial_core::clock::SystemClock;
use redial_core::engine::{Engine, SignalIn};
use redial_core::policy::Policy;
use redial_runtime::{PluginRuntime, RuntimeConfig};
use redial_sdk::SignalKind;
use redial_store_sled::SledStore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What one child process measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StartReport {
    /// Tenants loaded.
    pub tenants: usize,
    /// Store open + runtime created.
    pub open_ms: f64,
    /// Reading and checking every policy file.
    pub parse_ms: f64,
    /// Loading every tenant (plugins resolved, compiled or taken from the cache).
    pub load_ms: f64,
    /// The first signal's durable step.
    pub first_decision_ms: f64,
    /// From the child's start to its first decision.
    pub total_ms: f64,
    /// Resident memory before any tenant was loaded (runtime and engine only).
    pub rss_before_bytes: u64,
    /// Resident memory with every tenant loaded.
    pub rss_after_bytes: u64,
    /// Whether the plugins' compilations came from the on-disk cache.
    pub from_cache: bool,
}

/// Writes `count` policies into `dir/policies`, cycling through the three examples with
/// fresh tenant ids, so every tenant shares the same reference plugins.
pub fn write_policies(dir: &Path, count: usize) -> anyhow::Result<()> {
    let out = dir.join("policies");
    std::fs::create_dir_all(&out)?;
    let examples: Vec<(String, String)> = Policy::load_dir(&Policy::default_dir())?
        .into_iter()
        .map(|p| {
            let path = Policy::default_dir().join(format!("{}.toml", p.tenant));
            Ok((p.tenant, std::fs::read_to_string(path)?))
        })
        .collect::<anyhow::Result<_>>()?;
    for i in 0..count {
        let (id, text) = &examples[i % examples.len()];
        let tenant = format!("{id}-{i:05}");
        let text = text.replacen(
            &format!("tenant = \"{id}\""),
            &format!("tenant = \"{tenant}\""),
            1,
        );
        std::fs::write(out.join(format!("{tenant}.toml")), text)?;
    }
    Ok(())
}

/// The child's side: a cold process start against `dir` (store, compiled cache, policies).
pub fn child(dir: &Path) -> anyhow::Result<StartReport> {
    let started = Instant::now();
    let store = Arc::new(SledStore::open(&dir.join("db"))?);
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let engine = Engine::new(store, runtime, Arc::new(SystemClock));
    let open_ms = ms(started);
    let rss_before_bytes = rss_bytes();

    let t = Instant::now();
    let policies = Policy::load_dir(&dir.join("policies"))?;
    let parse_ms = ms(t);
    let t = Instant::now();
    let tenants = policies.len();
    let first = policies
        .first()
        .map(|p| p.tenant.clone())
        .unwrap_or_default();
    for policy in policies {
        engine.load_tenant(policy)?;
    }
    let load_ms = ms(t);
    let from_cache = engine
        .tenant(&first)?
        .plugin(redial_runtime::Slot::Trigger)
        .0
        .from_cache;

    let t = Instant::now();
    let now = engine.now_ms();
    engine.ingest(
        &first,
        SignalIn {
            event_id: Some(format!("restart-{now}")),
            kind: SignalKind::MissedCall,
            caller: format!("+1512{:07}", now % 10_000_000),
            line: "+15125550200".into(),
            at_ms: now,
            context: vec![],
        },
    )?;
    let first_decision_ms = ms(t);
    Ok(StartReport {
        tenants,
        open_ms,
        parse_ms,
        load_ms,
        first_decision_ms,
        total_ms: ms(started),
        rss_before_bytes,
        rss_after_bytes: rss_bytes(),
        from_cache,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// This process's resident set size (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
