//! Helpers shared by the integration tests: example inputs and plugin paths.
#![allow(dead_code)]

pub mod backend;
pub mod provider_stub;
pub mod proxy;
pub mod server;
pub mod tools;

use redial_runtime::{PluginRuntime, RuntimeConfig};
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// `plugins/examples/<file>` in the repository.
pub fn example(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/examples")
        .join(file)
}

/// An example input, parsed.
pub fn input<T: DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(example(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The JSON form of an example plugin config (`plugins/examples/<plugin>.toml`).
pub fn config(plugin: &str) -> String {
    let text = std::fs::read_to_string(example(&format!("{plugin}.toml"))).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    serde_json::to_string(&table).unwrap()
}

/// A runtime with default limits, sharing one compiled-artifact cache across tests so
/// each test does not recompile the same components.
pub fn runtime() -> PluginRuntime {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compiled-plugins");
    PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(cache),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

use redial_connectors::{Behaviour, Persona, Simulator};
use redial_core::clock::{Clock, ManualClock};
use redial_core::engine::{Engine, Ingested, SignalIn};
use redial_core::policy::Policy;
use redial_core::records::{CaseRecord, Event, JournalEntry};
use redial_sdk::{Field, SignalKind};
use std::collections::HashMap;
use std::sync::Arc;

/// `policies/<file>` in the repository.
pub fn policy_file(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies")
        .join(file)
}

/// The text of an example policy, for tests that tweak it.
pub fn policy_text(file: &str) -> String {
    std::fs::read_to_string(policy_file(file)).unwrap()
}

/// Tuesday 24 Nov 2026, 10:00 in Chicago (inside the HVAC tenant's calling window).
pub const START_MS: i64 = redial::demo::START_MS;

/// A whole loop on a temporary store (the test's backend: see `backend.rs`): engine,
/// simulator and a manual clock.
pub struct Loop {
    pub engine: Engine,
    pub sim: Simulator,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    events: std::cell::Cell<u32>,
}

impl Loop {
    /// A loop with these policies (TOML texts) and simulated callees.
    pub fn new(policies: &[String], personas: &[(&str, Persona)]) -> Loop {
        Self::at(START_MS, policies, personas)
    }

    /// Same, with the clock starting at `start_ms`.
    pub fn at(start_ms: i64, policies: &[String], personas: &[(&str, Persona)]) -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let store = backend::open_store(&dir.path().join("db"));
        let clock = Arc::new(ManualClock::new(start_ms));
        let engine = Engine::new(store, Arc::new(runtime()), clock.clone());
        for text in policies {
            engine
                .load_tenant(Policy::parse(text, "test policy").unwrap())
                .unwrap();
        }
        // On a shared store (PostgreSQL) the engine acts for the tenants it holds leases of.
        engine.claim_tenants().unwrap();
        let personas: HashMap<String, Persona> = personas
            .iter()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .collect();
        let sim = Simulator::new(
            clock.clone(),
            personas,
            Some(&dir.path().join("ledger.jsonl")),
        )
        .unwrap();
        Loop {
            engine,
            sim,
            clock,
            dir,
            events: std::cell::Cell::new(0),
        }
    }

    /// Sends a signal now.
    pub fn signal(
        &self,
        tenant: &str,
        kind: SignalKind,
        caller: &str,
        context: &[(&str, &str)],
    ) -> Ingested {
        self.events.set(self.events.get() + 1);
        self.engine
            .ingest(
                tenant,
                SignalIn {
                    event_id: Some(format!("evt-{}", self.events.get())),
                    kind,
                    caller: caller.into(),
                    line: "+15125550200".into(),
                    at_ms: self.clock.now_ms(),
                    context: context.iter().map(|(k, v)| Field::new(*k, *v)).collect(),
                },
            )
            .unwrap()
    }

    /// Runs the loop until nothing is left to do.
    pub fn run(&self) {
        self.run_with(&self.sim);
    }

    /// Runs the loop delivering through `connectors`.
    pub fn run_with(&self, connectors: &dyn redial_core::connectors::Connectors) {
        redial_core::scheduler::run_simulated(&self.engine, connectors, &self.clock, |_| {
            Ok::<_, redial_core::engine::EngineError>(None)
        })
        .unwrap();
    }

    /// A case's projection.
    pub fn case(&self, id: &str) -> CaseRecord {
        self.engine.store().case(id).unwrap().unwrap()
    }

    /// A case's journal.
    pub fn journal(&self, id: &str) -> Vec<JournalEntry> {
        self.engine.store().journal(id).unwrap()
    }

    /// The simulator's ledger entries of one effect kind for a case.
    pub fn delivered(&self, case: &str, effect: &str) -> usize {
        self.sim
            .ledger()
            .iter()
            .filter(|e| e.case_id == case && e.effect.starts_with(effect) && !e.duplicate)
            .count()
    }
}

/// The id of a newly opened case.
pub fn opened(i: Ingested) -> String {
    match i {
        Ingested::Opened(id) => id,
        other => panic!("expected a new case, got {other:?}"),
    }
}

/// Journal events matching a predicate.
pub fn events<'a>(
    journal: &'a [JournalEntry],
    pred: impl Fn(&Event) -> bool + 'a,
) -> Vec<&'a JournalEntry> {
    journal.iter().filter(|e| pred(&e.event)).collect()
}

/// A persona answering the HVAC questions.
pub fn hvac_persona(b: Behaviour) -> Persona {
    Persona::new(b)
        .answer("timeline", "today please")
        .answer("role", "yes, I own it")
        .answer("current_system", "gas furnace")
}
