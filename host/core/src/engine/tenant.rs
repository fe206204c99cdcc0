//! A loaded tenant: its checked policy and its plugins, resolved once.

use super::EngineError;
use super::breaker::Breaker;
use crate::policy::{LocalClock, PluginRef, Policy};
use crate::records::{Trial, TrialMode};
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
    /// Each slot's candidate on trial, if any.
    trials: [Option<Arc<OnTrial>>; 4],
}

/// A candidate on trial in a slot, loaded.
pub struct OnTrial {
    /// The trial as the store keeps it.
    pub trial: Trial,
    /// The candidate.
    pub plugin: Arc<Plugin>,
    /// The candidate's own breaker: a failing candidate suspends itself, never the live
    /// plugin. Shared by the candidate's quick and optimised code.
    pub breaker: Arc<Breaker>,
}

/// The plugin that makes one decision, with what it needs to make it.
pub struct Decider<'t> {
    /// The plugin.
    pub plugin: &'t Plugin,
    /// The breaker its calls go through.
    pub breaker: &'t Breaker,
    /// Whether it is a split trial's candidate.
    pub candidate: bool,
}

/// The bucket (0–99) a caller falls in for a split trial of `slot`: stable for the caller,
/// and independent between slots, so trials in two slots split callers independently.
pub fn split_bucket(tenant: &str, slot: Slot, caller: &str) -> u8 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(tenant)
        .chain_update([0])
        .chain_update(slot.name())
        .chain_update([0])
        .chain_update(caller)
        .finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % 100) as u8
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
            trials: self.trials.clone(),
        }
        .trying(slot)
    }

    /// The same tenant with a candidate on trial in a slot, or (`None`) with none.
    pub fn with_trial(&self, slot: Slot, trial: Option<Arc<OnTrial>>) -> Tenant {
        let mut trials = self.trials.clone();
        trials[index(slot)] = trial;
        Tenant {
            policy: self.policy.clone(),
            plugins: self.plugins.clone(),
            custom_codes: self.custom_codes.clone(),
            local: self.local,
            breakers: self.breakers.clone(),
            trials,
        }
    }

    /// The candidate on trial in a slot, if any.
    pub fn trial(&self, slot: Slot) -> Option<&OnTrial> {
        self.trials[index(slot)].as_deref()
    }

    /// [`Tenant::trial`], shared: a reloaded tenant keeps its candidate and its breaker.
    pub(super) fn shared_trial(&self, slot: Slot) -> Option<Arc<OnTrial>> {
        self.trials[index(slot)].clone()
    }

    /// Who decides a slot's call for `caller`: a split trial's candidate when the caller's
    /// bucket falls in its share, else the live plugin.
    pub fn decider(&self, slot: Slot, caller: &str) -> Decider<'_> {
        if let Some(on_trial) = self.trial(slot)
            && let TrialMode::Split { percent } = on_trial.trial.mode
            && split_bucket(&self.policy.tenant, slot, caller) < percent
        {
            return Decider {
                plugin: &on_trial.plugin,
                breaker: &on_trial.breaker,
                candidate: true,
            };
        }
        Decider {
            plugin: self.plugin(slot).0,
            breaker: self.breaker(slot),
            candidate: false,
        }
    }

    /// The shadow candidate of a slot, if its trial is a shadow one.
    pub fn shadow(&self, slot: Slot) -> Option<&OnTrial> {
        self.trial(slot)
            .filter(|t| t.trial.mode == TrialMode::Shadow)
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
            trials: Default::default(),
        }
    }

    /// The circuit breaker of a slot's plugin.
    pub fn breaker(&self, slot: Slot) -> &Breaker {
        &self.breakers[index(slot)]
    }

    /// The config JSON the policy gives a slot's plugin (the live one and any candidate).
    pub fn config(&self, slot: Slot) -> &str {
        &self.plugins[index(slot)].1
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
