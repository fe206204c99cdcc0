//! `redial bench soak`: months of signals for many tenants on the simulated clock, with a
//! retention of `keep_days`, through the real engine, wasm plugins, simulator and sled
//! store; the store's size on disk and its live data's size at checkpoint days. Retention
//! purges settled cases after `keep_days`, so past it the store should stop growing.
//!
//! Housekeeping (what the server runs hourly: retention, event ids, deleted tenants, and a
//! rewrite when the files have grown well past the live data) runs once per simulated day.

use redial_connectors::Simulator;
use redial_core::clock::ManualClock;
use redial_core::engine::{Engine, EngineError, SignalIn};
use redial_core::policy::Policy;
use redial_core::scheduler::run_simulated;
use redial_runtime::{PluginRuntime, RuntimeConfig};
use redial_sdk::{Field, SignalKind};
use redial_store_sled::SledStore;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

/// Monday 2026-01-05, 00:00 UTC.
const START_MS: i64 = 1_767_571_200_000;

/// Signals arrive in these hours of each day (UTC), spread evenly.
const BUSY_HOURS: std::ops::Range<i64> = 14..22;

/// What the soak is asked to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Simulated days.
    pub days: u32,
    /// Tenants (copies of the three example policies).
    pub tenants: usize,
    /// Signals per tenant per day.
    pub per_day: usize,
    /// The tenants' `retention.keep_days`.
    pub keep_days: u32,
    /// Days at which to measure the store.
    pub checkpoints: Vec<u32>,
}

/// The store at one checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    /// The simulated day.
    pub day: u32,
    /// Bytes of the store's files.
    pub on_disk: u64,
    /// Bytes of its live keys and values.
    pub live: u64,
    /// Cases in the store (the rest were purged into rollups).
    pub cases: usize,
    /// Cases the funnels count, purged ones included.
    pub counted: u64,
}

/// The soak's figures.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// One per checkpoint reached.
    pub checkpoints: Vec<Checkpoint>,
    /// Signals sent.
    pub signals: u64,
    /// Wall-clock time the run took.
    pub took: Duration,
    /// Store rewrites housekeeping ran, and the longest (steps waited that long).
    pub rewrites: redial_core::engine::RewriteStats,
}

/// Runs the soak in `dir` (a fresh folder).
pub fn run(dir: &Path, opts: &SoakOptions) -> anyhow::Result<SoakReport> {
    let started = Instant::now();
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Arc::new(SledStore::open(&dir.join("db"))?);
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let engine =
        Engine::new(store.clone(), runtime, clock.clone()).with_rewrite_spacing(Duration::ZERO);
    let tenants = load_tenants(&engine, opts)?;
    let simulator = Simulator::new(clock.clone(), HashMap::new(), None)?;

    let end_ms = START_MS + i64::from(opts.days) * DAY_MS;
    let per_hour = opts.per_day.div_ceil(BUSY_HOURS.count()).max(1);
    let mut next_batch = START_MS + BUSY_HOURS.start * HOUR_MS;
    let mut next_day = START_MS + DAY_MS;
    let mut signals = 0u64;
    let mut sent_today = 0usize;
    let mut rng = Lcg(0x5eed);
    let mut checkpoints = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    run_simulated(
        &engine,
        &simulator,
        &clock,
        |now| -> Result<Option<i64>, EngineError> {
            while next_batch <= now && next_batch < end_ms {
                let batch = per_hour.min(opts.per_day - sent_today);
                for tenant in &tenants {
                    for _ in 0..batch {
                        signals += 1;
                        engine.ingest(tenant, signal(&mut rng, signals, next_batch))?;
                    }
                }
                sent_today += batch;
                let hour = (next_batch - START_MS) % DAY_MS / HOUR_MS;
                next_batch += if hour + 1 < BUSY_HOURS.end && sent_today < opts.per_day {
                    HOUR_MS
                } else {
                    sent_today = 0;
                    DAY_MS - (hour - BUSY_HOURS.start) * HOUR_MS
                };
            }
            while next_day <= now && next_day <= end_ms {
                engine.housekeeping()?;
                engine.rewrite_if_owed()?;
                let day = ((next_day - START_MS) / DAY_MS) as u32;
                if opts.checkpoints.contains(&day) {
                    match checkpoint(&engine, &tenants, day) {
                        Ok(c) => checkpoints.push(c),
                        Err(e) => failure = Some(e),
                    }
                }
                next_day += DAY_MS;
            }
            Ok((next_day <= end_ms).then_some(next_batch.min(next_day)))
        },
    )?;
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(SoakReport {
        checkpoints,
        signals,
        took: started.elapsed(),
        rewrites: engine.rewrite_stats(),
    })
}

fn checkpoint(engine: &Engine, tenants: &[String], day: u32) -> anyhow::Result<Checkpoint> {
    let store = engine.store();
    store.sync()?;
    let sizes = store.sizes()?;
    let mut counted = 0;
    for tenant in tenants {
        counted += redial_core::report::funnel(store, tenant)?.cases;
    }
    Ok(Checkpoint {
        day,
        on_disk: sizes.on_disk,
        live: sizes.live,
        cases: store.cases(None)?.len(),
        counted,
    })
}

/// Loads `opts.tenants` copies of the example policies, each keeping settled cases
/// `keep_days` (full retention: the most text at rest) and calling all day.
fn load_tenants(engine: &Engine, opts: &SoakOptions) -> anyhow::Result<Vec<String>> {
    let examples = Policy::load_dir(&Policy::default_dir())?;
    let mut ids = Vec::new();
    for i in 0..opts.tenants {
        let example = &examples[i % examples.len()];
        let text = std::fs::read_to_string(
            Policy::default_dir().join(format!("{}.toml", example.tenant)),
        )?;
        let id = format!("{}-{i:03}", example.tenant);
        let retention = format!(
            "retention = {{ mode = \"full\", keep_days = {} }}",
            opts.keep_days
        );
        let text: String = super::all_day_window(&text)
            .lines()
            .map(|line| {
                if line.starts_with("tenant = ") {
                    format!("tenant = \"{id}\"")
                } else if line.starts_with("retention = ") {
                    retention.clone()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        engine.load_tenant(Policy::parse(&text, &format!("{id}.toml"))?)?;
        ids.push(id);
    }
    Ok(ids)
}

/// A missed call or a voicemail from one of many callers (a few call again).
fn signal(rng: &mut Lcg, n: u64, at_ms: i64) -> SignalIn {
    let caller = format!("+1512{:07}", rng.next() % 2_000_000);
    SignalIn {
        event_id: Some(format!("soak-{n}")),
        kind: if n.is_multiple_of(3) {
            SignalKind::Voicemail
        } else {
            SignalKind::MissedCall
        },
        caller,
        line: "+15125550200".into(),
        at_ms,
        context: vec![
            Field::new("name", "Dana"),
            Field::new("message", "the furnace makes a rattling noise upstairs"),
        ],
    }
}

/// A small deterministic generator, so every run sends the same signals.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}
