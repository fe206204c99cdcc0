//! A loaded tenant: its checked policy and its plugins, resolved once.

use super::EngineError;
use super::breaker::Breaker;
use crate::policy::{LocalClock, PluginRef, Policy};
use redial_builtin as builtin;
use redial_runtime::{Plugin, PluginError, PluginRuntime, Slot};
use std::sync::Arc;

/// A tenant ready to run: policy plus one loaded plugin per slot (with its config JSON).
pub struct Tenant {
    /// The checked policy.
    pub policy: Policy,
    plugins: [(Arc<Plugin>, String); 4],
    /// The tenant's custom reason codes (what `evaluate` may return beyond the built-ins).
    pub custom_codes: Vec<String>,
    /// The tenant's zone, for plugin moments.
    pub local: LocalClock,
    /// Shared by every version of the tenant (swaps, reloads): see [`Breaker`].
    breakers: Arc<[Breaker; 4]>,
}

fn index(slot: Slot) -> usize {
    Slot::ALL.iter().position(|s| *s == slot).unwrap()
}

impl Tenant {
    /// The same tenant with another plugin in one slot (a hot swap).
    pub fn with_plugin(&self, slot: Slot, plugin: Arc<Plugin>) -> Tenant {
        let mut plugins = self.plugins.clone();
        plugins[index(slot)].0 = plugin;
        Tenant {
            policy: self.policy.clone(),
            plugins,
            custom_codes: self.custom_codes.clone(),
            local: self.local,
            breakers: self.breakers.clone(),
        }
        .trying(slot)
    }

    /// This tenant keeping `earlier`'s breakers (a policy reload), each slot's new plugin
    /// given its trial.
    pub fn keeping_breakers(mut self, earlier: &Tenant) -> Tenant {
        self.breakers = earlier.breakers.clone();
        for slot in Slot::ALL {
            self.breakers[index(slot)].allow_trial();
        }
        self
    }

    fn trying(self, slot: Slot) -> Tenant {
        self.breakers[index(slot)].allow_trial();
        self
    }

    /// Resolves and loads the policy's four plugins.
    pub fn load(policy: Policy, runtime: &PluginRuntime) -> Result<Tenant, EngineError> {
        let load = |slot: Slot| {
            resolve(policy.plugin(slot), slot, runtime).map_err(|source| EngineError::Plugin {
                tenant: policy.tenant.clone(),
                source,
            })
        };
        let plugins = [
            load(Slot::Trigger)?,
            load(Slot::Cadence)?,
            load(Slot::Qualify)?,
            load(Slot::Crm)?,
        ];
        Ok(Tenant::with_plugins(policy, plugins))
    }

    /// A tenant whose plugins are given, one per slot in [`Slot::ALL`] order, each with its
    /// config from the policy: for policies compiled into the host
    /// ([`redial_runtime::NativePolicy`]) and tests.
    pub fn with_plugins(policy: Policy, plugins: [Arc<Plugin>; 4]) -> Tenant {
        assert!(
            plugins.iter().map(|p| p.slot).eq(Slot::ALL),
            "one plugin per slot, in Slot::ALL order"
        );
        let plugins = plugins.map(|plugin| {
            let config = policy.plugin(plugin.slot).config_json();
            (plugin, config)
        });
        Tenant {
            custom_codes: policy.custom_reason_codes(),
            local: LocalClock(policy.tz()),
            plugins,
            policy,
            breakers: Default::default(),
        }
    }

    /// The circuit breaker of a slot's plugin.
    pub fn breaker(&self, slot: Slot) -> &Breaker {
        &self.breakers[index(slot)]
    }

    /// The plugin for a slot and its config JSON.
    pub fn plugin(&self, slot: Slot) -> (&Plugin, &str) {
        let (p, c) = &self.plugins[index(slot)];
        (p, c)
    }
}

/// Loads a component by content hash: already loaded, uploaded (in `uploads`), or built.
pub fn load_by_hash(
    hash: &str,
    slot: Slot,
    runtime: &PluginRuntime,
    uploads: Option<&std::path::Path>,
) -> Result<Arc<Plugin>, PluginError> {
    if let Some(p) = runtime.loaded(hash, slot) {
        return Ok(p);
    }
    if let Some(dir) = uploads {
        let path = dir.join(format!("{hash}.wasm"));
        if path.exists() {
            return runtime.load_file(&path, Some(slot));
        }
    }
    resolve(
        &PluginRef {
            plugin: None,
            path: None,
            sha256: Some(hash.to_string()),
            config: toml::Table::new(),
        },
        slot,
        runtime,
    )
}

/// Loads the plugin the policy itself names for a slot.
pub fn resolve_slot(
    policy: &Policy,
    slot: Slot,
    runtime: &PluginRuntime,
) -> Result<Arc<Plugin>, PluginError> {
    resolve(policy.plugin(slot), slot, runtime)
}

fn resolve(r: &PluginRef, slot: Slot, runtime: &PluginRuntime) -> Result<Arc<Plugin>, PluginError> {
    if let Some(name) = &r.plugin {
        return runtime.load_file(&builtin::path(name), Some(slot));
    }
    if let Some(path) = &r.path {
        return runtime.load_file(path, Some(slot));
    }
    let hash = r.sha256.as_deref().unwrap_or_default();
    if let Some(p) = runtime.loaded(hash, slot) {
        return Ok(p);
    }
    // Not loaded yet: look for it among the built plugins.
    for entry in std::fs::read_dir(builtin::PLUGIN_DIR)
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm")
            && let Ok(bytes) = std::fs::read(&path)
            && redial_runtime::content_hash(&bytes) == hash
        {
            return runtime.load_file(&path, Some(slot));
        }
    }
    Err(PluginError::Read {
        path: format!("sha256:{hash}").into(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no known component has this hash",
        ),
    })
}
