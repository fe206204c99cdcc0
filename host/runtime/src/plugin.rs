//! A loaded plugin: one compiled component, pre-instantiated for its slot.

use super::Slot;
use super::exports::VersionedExports;
use super::sandbox::Sandbox;
use std::fmt;
use std::time::Duration;

/// Names a plugin in logs, journals and errors: its name and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginId {
    /// Human name (file stem or upload name).
    pub name: String,
    /// sha256 of the component bytes, hex.
    pub hash: String,
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, &self.hash[..12.min(self.hash.len())])
    }
}

/// Which compiler made a plugin's code: the host runs uploads on [`Tier::Quick`] code only
/// while [`Tier::Optimised`] code is being compiled for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Winch, the baseline compiler: about five times quicker to compile, slower to run.
    Quick,
    /// Cranelift, the optimising compiler (and policies compiled into the host).
    Optimised,
}

/// How a plugin's calls run: export lookups and type checks are done once at load, so a
/// call only instantiates and calls.
pub(super) enum SlotPre {
    /// A component: pre-instantiated against the sandbox, its slot's functions found.
    Wasm {
        instance: wasmtime::component::InstancePre<Sandbox>,
        exports: VersionedExports,
    },
    /// A policy compiled into the host.
    Native(super::NativePolicy),
}

/// A plugin ready to serve calls for one slot. Cheap to share: every tenant naming the
/// same component bytes and slot gets the same `Arc<Plugin>`.
pub struct Plugin {
    /// Who it is.
    pub id: PluginId,
    /// The slot it serves.
    pub slot: Slot,
    /// The `redial:policy` version it was built against.
    pub version: String,
    /// Component size in bytes.
    pub size: usize,
    /// Time spent compiling (or loading the cached compilation).
    pub compile_time: Duration,
    /// Whether the compilation came from the on-disk artifact cache.
    pub from_cache: bool,
    /// Which compiler made its code.
    pub tier: Tier,
    pub(super) pre: SlotPre,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.id)
            .field("slot", &self.slot)
            .field("version", &self.version)
            .field("size", &self.size)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

/// What one call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCost {
    /// Creating the fresh instance.
    #[serde(rename = "instantiate_us", with = "micros")]
    pub instantiate: Duration,
    /// Running the exported function, converting input and output included.
    #[serde(rename = "call_us", with = "micros")]
    pub call: Duration,
    /// Dropping the instance: wasmtime resets its pooled memory for the next call. Zero
    /// for a native policy.
    #[serde(rename = "teardown_us", with = "micros")]
    pub teardown: Duration,
}

impl CallCost {
    /// The whole call: instantiation, call and teardown.
    pub fn total(&self) -> Duration {
        self.instantiate + self.call + self.teardown
    }
}

/// A plugin's decision and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    /// The validated decision.
    pub value: T,
    /// Its cost.
    pub cost: CallCost,
}

mod micros {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1e7).round() / 10.0)
    }
}
