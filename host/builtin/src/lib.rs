//! The plugins built from `plugins/` by this crate's build script, located by name.
//!
//! The build script compiles every plugin crate to `wasm32-wasip2` whenever its source or
//! the WIT changes, so these paths always hold fresh components. It is a crate of its own
//! so that only what names built-in plugins (the core's policy resolution, the CLI, the
//! tests and benches) waits for that build.
#![deny(missing_docs)]

use std::path::PathBuf;

/// Folder holding the freshly built plugin components.
pub const PLUGIN_DIR: &str = env!("REDIAL_PLUGIN_DIR");

/// The reference plugins shipped with Redial, by crate name.
pub const REFERENCE: [&str; 4] = [
    "standard-trigger",
    "standard-cadence",
    "bant-qualify",
    "hubspot-crm",
];

/// Path of the component built from `plugins/<name>` (or `plugins/test-plugins/<name>`,
/// whose crates are named `test-<name>`).
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(PLUGIN_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// Resolves a CLI argument: an existing file as is, otherwise a built-in plugin's name.
pub fn resolve(arg: &str) -> PathBuf {
    let given = PathBuf::from(arg);
    if given.exists() {
        return given;
    }
    let built = path(arg);
    if built.exists() { built } else { given }
}
