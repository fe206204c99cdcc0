//! What can go wrong with a plugin, named by plugin, slot and cause.

use super::Slot;
use std::path::PathBuf;
use std::time::Duration;

/// A plugin failed to load or one of its calls failed. Every variant names the plugin
/// (`name@hash-prefix`) and, once known, the slot, so an operator can tell whose policy
/// broke and a tenant's journal can record it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component (or did not compile).
    #[error("plugin {plugin} is not a valid component: {cause}")]
    Compile {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        cause: String,
    },
    /// The component does not export the slot asked for (or any slot).
    #[error("plugin {plugin} does not fill the {slot} slot: {cause}")]
    WrongWorld {
        /// The plugin.
        plugin: String,
        /// The slot it was loaded for ("any" when none was named).
        slot: String,
        /// What it exports instead, or why it cannot be linked.
        cause: String,
    },
    /// The component was built against a WIT version this host does not support.
    #[error("plugin {plugin} targets redial:policy@{version}, this host supports {supported}")]
    UnsupportedVersion {
        /// The plugin.
        plugin: String,
        /// The version it exports.
        version: String,
        /// The versions this host loads.
        supported: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("plugin {plugin} ({slot}) ran past its {limit:?} deadline and was stopped")]
    Deadline {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The deadline.
        limit: Duration,
    },
    /// The call asked for more memory than the cap.
    #[error("plugin {plugin} ({slot}) exceeded its memory cap of {limit_bytes} bytes")]
    Memory {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The cap.
        limit_bytes: usize,
    },
    /// The call recursed past the stack cap.
    #[error("plugin {plugin} ({slot}) exhausted its {limit_bytes}-byte stack")]
    Stack {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The cap.
        limit_bytes: usize,
    },
    /// The guest trapped (a Rust panic shows here, with its message from stderr).
    #[error("plugin {plugin} ({slot}) trapped: {trap}{}", stderr_suffix(.stderr))]
    Trap {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The trap reason.
        trap: String,
        /// What the guest wrote to stderr before trapping (a panic message).
        stderr: String,
    },
    /// The plugin returned its own error instead of a decision.
    #[error("plugin {plugin} ({slot}) refused: {message}")]
    Refused {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The plugin's message.
        message: String,
    },
    /// The decision breaks the contract (5 questions, an unknown reason code...).
    #[error("plugin {plugin} ({slot}) returned an invalid decision: {problem}")]
    InvalidOutput {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// Which rule it broke.
        problem: String,
    },
    /// The host could not set up the call (pool exhausted, internal error).
    #[error("plugin {plugin} ({slot}) could not be instantiated: {cause}")]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// The cause.
        cause: String,
    },
    /// Not called: the plugin failed several calls in a row and is benched for a while,
    /// so a runaway plugin costs its tenant one decision's default, not 100 ms of CPU.
    #[error(
        "plugin {plugin} ({slot}) is suspended after {failures} failures in a row; retried after a cool-down"
    )]
    Suspended {
        /// The plugin.
        plugin: String,
        /// The slot.
        slot: Slot,
        /// Consecutive failures that tripped it.
        failures: u32,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {stderr})")
    }
}

impl PluginError {
    /// A short machine-readable cause, for journals and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Read { .. } => "read",
            PluginError::Compile { .. } => "compile",
            PluginError::WrongWorld { .. } => "wrong-world",
            PluginError::UnsupportedVersion { .. } => "unsupported-version",
            PluginError::Deadline { .. } => "deadline",
            PluginError::Memory { .. } => "memory",
            PluginError::Stack { .. } => "stack",
            PluginError::Trap { .. } => "trap",
            PluginError::Refused { .. } => "refused",
            PluginError::InvalidOutput { .. } => "invalid-output",
            PluginError::Instantiate { .. } => "instantiate",
            PluginError::Suspended { .. } => "suspended",
        }
    }
}

/// The runtime itself could not start (a bad limits configuration).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The compiled-artifact cache folder is unusable.
    #[error("cannot use the compiled-plugin cache at {path}: {source}")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The I/O cause.
        source: std::io::Error,
    },
}
