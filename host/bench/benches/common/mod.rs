//! Shared by the criterion benches: example inputs, the runtime, percentiles.

#![allow(dead_code)]

/// The allocator the `redial` binary uses (see `host/cli/src/main.rs`), so the benches measure
/// what the server runs.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use redial_builtin as builtin;
use redial_runtime::{Plugin, PluginRuntime, RuntimeConfig, Slot};
use redial_sdk::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An example input from `plugins/examples`.
pub fn example<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/examples")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A reference plugin's example config, as the JSON the host passes.
pub fn config(plugin: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../plugins/examples/{plugin}.toml"));
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_string(&table).unwrap()
}

/// One example input per entry point, each with its reference plugin's example config.
pub struct Inputs {
    pub trigger: TriggerInput,
    pub cadence: CadenceInput,
    pub script: ScriptInput,
    pub evaluate: EvaluateInput,
    pub crm: CrmInput,
    /// The custom reason codes `evaluate` may return.
    pub codes: Vec<String>,
}

/// The example inputs of `plugins/examples`.
pub fn inputs() -> Inputs {
    let mut trigger: TriggerInput = example("trigger.json");
    trigger.config = config("standard-trigger");
    let mut cadence: CadenceInput = example("cadence.json");
    cadence.config = config("standard-cadence");
    let mut script: ScriptInput = example("qualify-script.json");
    script.config = config("bant-qualify");
    let mut evaluate: EvaluateInput = example("qualify-evaluate.json");
    evaluate.config = config("bant-qualify");
    let mut crm: CrmInput = example("crm.json");
    crm.config = config("hubspot-crm");
    Inputs {
        trigger,
        cadence,
        script,
        evaluate,
        crm,
        codes: vec!["emergency-repair".to_string()],
    }
}

/// The four reference plugins, one per slot (sandboxed or native).
pub struct Reference {
    pub trigger: Arc<Plugin>,
    pub cadence: Arc<Plugin>,
    pub qualify: Arc<Plugin>,
    pub crm: Arc<Plugin>,
}

/// The reference plugins as wasm components.
pub fn wasm_plugins(rt: &PluginRuntime) -> Reference {
    let load = |name: &str, slot| rt.load_file(&builtin::path(name), Some(slot)).unwrap();
    Reference {
        trigger: load("standard-trigger", Slot::Trigger),
        cadence: load("standard-cadence", Slot::Cadence),
        qualify: load("bant-qualify", Slot::Qualify),
        crm: load("hubspot-crm", Slot::Crm),
    }
}

/// The reference plugins on quick (Winch) code, as an upload runs until its optimised code
/// is ready. `rt` must not have compiled them before (see [`uncached_runtime`]).
pub fn quick_plugins(rt: &PluginRuntime) -> Reference {
    let load = |name: &str, slot| {
        let bytes = std::fs::read(builtin::path(name)).unwrap();
        let plugin = rt.load_quick(name, &bytes, Some(slot)).unwrap();
        assert_eq!(plugin.tier, redial_runtime::Tier::Quick);
        plugin
    };
    Reference {
        trigger: load("standard-trigger", Slot::Trigger),
        cadence: load("standard-cadence", Slot::Cadence),
        qualify: load("bant-qualify", Slot::Qualify),
        crm: load("hubspot-crm", Slot::Crm),
    }
}

/// A runtime with the compiled-artifact cache on (as `redial serve` runs it).
pub fn runtime() -> &'static PluginRuntime {
    let cache = PathBuf::from(builtin::PLUGIN_DIR).join("../bench-compiled");
    Box::leak(Box::new(
        PluginRuntime::new(RuntimeConfig {
            cache_dir: Some(cache),
            ..RuntimeConfig::default()
        })
        .unwrap(),
    ))
}

/// A runtime with no artifact cache: every component is new to it.
pub fn uncached_runtime() -> &'static PluginRuntime {
    Box::leak(Box::new(
        PluginRuntime::new(RuntimeConfig::default()).unwrap(),
    ))
}

/// p50 and p99 of `n` timed runs of `f` (after a warm-up).
pub fn percentiles(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..n / 10 {
        f();
    }
    p50_p99(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// p50 and p99 of measured durations.
pub fn p50_p99(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// Microseconds, one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1}µs", d.as_secs_f64() * 1e6)
}
