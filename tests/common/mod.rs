//! Helpers shared by the integration tests: example inputs and plugin paths.
#![allow(dead_code)]

use redial::runtime::{PluginRuntime, RuntimeConfig};
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// `plugins/examples/<file>` in the repository.
pub fn example(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/examples")
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

/// A runtime with default limits and no disk cache.
pub fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).unwrap()
}
