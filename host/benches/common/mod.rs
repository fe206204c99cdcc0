//! Shared by the criterion benches: example inputs, the runtime, percentiles.

#![allow(dead_code)]

use redial::builtin;
use redial::runtime::{PluginRuntime, RuntimeConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An example input from `plugins/examples`.
pub fn example<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/examples")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A reference plugin's example config, as the JSON the host passes.
pub fn config(plugin: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../plugins/examples/{plugin}.toml"));
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_string(&table).unwrap()
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

/// p50 and p99 of `n` timed runs of `f` (after a warm-up).
pub fn percentiles(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..n / 10 {
        f();
    }
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// Microseconds, one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1}µs", d.as_secs_f64() * 1e6)
}
