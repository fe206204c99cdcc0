//! The recovery loop: signal → trigger → cadence → dial → qualify → CRM → handoff or FUA.
//!
//! The engine owns the loop and the guarantees no plugin can break (calling window,
//! do-not-call and opt-out, attempt and question caps, mandatory CRM fields and reason
//! codes, retention). Plugins only decide; every decision, override and side effect is
//! journalled, and each step is committed atomically through a `Draft` (one store
//! `Step`). A lock per tenant serialises that tenant's steps, so the store never sees two
//! writers for the same case or counter, while tenants run side by side: one tenant's slow
//! plugin holds up no one else.

pub mod breaker;
mod delivery;
mod draft;
mod erasure;
mod flows;
mod optimiser;
mod replay;
mod retention;
mod secrets;
mod tenant;
#[cfg(test)]
mod tests;
mod tombstones;
mod trials;
mod turns;
mod uploads;

pub use delivery::{DEFAULT_DEAD_AFTER, DEFAULT_LANES, DeliveryLanes, LaneConfig, MAX_LANES};
pub use erasure::{Erasure, REWRITE_SPACING, RewriteStats, valid_number};
pub use replay::{ReplayReport, ReplayedDecision};
pub use retention::RetentionPass;
pub use tenant::{OnTrial, Tenant, split_bucket};
pub use tombstones::DEFAULT_TENANT_GRACE;
pub use trials::{ShadowDifference, ShadowReport, SplitReport, TrialReport};

use crate::clock::Clock;
use crate::connectors::{CallReport, Connectors, Recipient};
use crate::policy::{Policy, PolicyError};
use crate::records::{CaseRecord, DeadLetter, OutboxItem, PluginVersion};
use crate::secrets::{SecretError, SecretKey};
use crate::store::{Ownership, Store, StoreError, Ticket};
use draft::Draft;
use redial_runtime::Slot;
use redial_runtime::{Plugin, PluginError, PluginRuntime, Tier};
use redial_sdk::{Field, SignalKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use turns::{Priority, TenantLock, TenantTurns};

/// Engine failures (plugin failures are not among them: they cost one decision and are
/// journalled).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No tenant with this id is loaded.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// No case with this id.
    #[error("unknown case {0:?}")]
    UnknownCase(String),
    /// A tenant's plugin could not be loaded (the previous policy stays live).
    #[error("tenant {tenant}: {source}")]
    Plugin {
        /// The tenant.
        tenant: String,
        /// Why.
        source: PluginError,
    },
    /// A policy names a secret its tenant has not set (the previous policy stays live).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A secret could not be opened, or this engine keeps no secrets.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// An upload's compile finished after its deadline; nothing changed.
    #[error("compiling the component took longer than the upload may take; the live plugin stays")]
    CompileTooSlow,
    /// A secret that cannot be set or deleted as asked: why.
    #[error("{0}")]
    SecretRefused(String),
    /// A secret the tenant's live policy still names cannot be deleted.
    #[error("the live policy still uses secret {0:?}; change the policy first")]
    SecretInUse(String),
    /// The tenant id belongs to a deleted tenant whose data is not purged yet.
    #[error(
        "tenant {tenant:?} was deleted; its data is purged at {purge_after_ms} (unix ms): \
         delete it again with ?purge=now to reuse the id sooner"
    )]
    TenantDeleted {
        /// The tenant.
        tenant: String,
        /// When its purge is due (unix ms).
        purge_after_ms: i64,
    },
    /// Not an E.164 phone number.
    #[error("{0:?} is not an E.164 number (+ then 6 to 15 digits)")]
    InvalidNumber(String),
    /// A trial that cannot start as asked: why.
    #[error("{0}")]
    TrialRefused(String),
    /// A call report names an attempt its case never made.
    #[error("case {case:?} made no call attempt #{attempt}")]
    UnknownAttempt {
        /// The case.
        case: String,
        /// The attempt the report named.
        attempt: u32,
    },
}

/// How often the server's housekeeping thread looks for work it owes (a deferred store
/// rewrite); its hourly passes are counted in these ticks.
pub const HOUSEKEEPING_TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// Uploaded versions kept per slot: the live one and those a rollback can return to.
/// Older ones are forgotten, so a tenant that uploads in a loop does not grow the store.
pub const KEPT_VERSIONS: usize = 10;

/// How long a provider event id is remembered, so a replay of it changes nothing.
/// Providers retry a webhook for hours at most (and a Standard Webhooks signature is
/// refused five minutes after it was made); a week covers every retry with room to spare,
/// and after it the id is forgotten, so the store does not grow with every event ever seen.
pub const REPLAY_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// How long the CRM lookup before a new case may take; the callback never waits longer.
pub const CRM_LOOKUP: std::time::Duration = std::time::Duration::from_millis(400);

/// An inbound signal, before the engine turns it into the plugins' view.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalIn {
    /// The provider's event id: a replayed event with the same id changes nothing.
    pub event_id: Option<String>,
    /// What happened.
    pub kind: SignalKind,
    /// Caller (E.164).
    pub caller: String,
    /// Business line (E.164).
    pub line: String,
    /// When it happened (unix ms).
    pub at_ms: i64,
    /// Known context (web-form fields, voicemail transcript).
    pub context: Vec<Field>,
}

impl SignalIn {
    /// Adds context fields the signal does not carry yet (what it carries wins).
    pub fn add_context(&mut self, fields: Vec<Field>) {
        for field in fields {
            if !self.context.iter().any(|known| known.key == field.key) {
                self.context.push(field);
            }
        }
    }
}

/// What became of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// No case: the reason.
    Ignored(String),
    /// A new case.
    Opened(String),
    /// Joined the caller's open case.
    Joined(String),
    /// Already processed (same provider event id).
    Duplicate,
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    /// It left the outbox (delivered, or dropped with its tenant).
    Done,
    /// The connector failed; the item stays queued. Why.
    Failed(String),
}

/// What became of an SMS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsReply {
    /// A stop word: the caller is opted out (and their open case, if any, closed).
    OptedOut(Option<String>),
    /// The text joined this case as context.
    Joined(String),
    /// No case for this caller; nothing to join.
    NoCase,
    /// Already processed (same provider message id).
    Duplicate,
}

/// The final statuses of a message an SMS provider reports on; earlier ones (`queued`,
/// `sent`...) say nothing about its fate yet.
pub const FINAL_MESSAGE_STATUSES: [&str; 3] = ["delivered", "undelivered", "failed"];

/// What became of an SMS provider's status report on a fallback message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStatus {
    /// Journalled on this case.
    Recorded(String),
    /// Not a final status: nothing to record.
    NotFinal,
    /// Already processed (same provider message and status).
    Duplicate,
}

/// The loop engine. Share behind an `Arc`.
pub struct Engine {
    store: Arc<dyn Store>,
    runtime: Arc<PluginRuntime>,
    clock: Arc<dyn Clock>,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    locks: Mutex<HashMap<String, Arc<TenantLock>>>,
    /// The tenants this process acts for on its own (timers, deliveries, housekeeping),
    /// as the store last said, and when (see [`Engine::claim_tenants`]).
    ownership: RwLock<(Arc<Ownership>, Instant)>,
    uploads: Option<PathBuf>,
    secret_key: Option<Arc<SecretKey>>,
    /// Held while a policy is read and loaded.
    policy_loads: Mutex<()>,
    optimiser: optimiser::Optimiser,
    /// Store rewrites erasures asked for (see [`REWRITE_SPACING`]).
    rewrites: Mutex<erasure::Rewrites>,
    rewrite_spacing: std::time::Duration,
    /// Between a tenant's deletion and its purge.
    tenant_grace: std::time::Duration,
}

impl Engine {
    /// An engine over a store, a plugin runtime and a clock.
    pub fn new(store: Arc<dyn Store>, runtime: Arc<PluginRuntime>, clock: Arc<dyn Clock>) -> Self {
        Engine {
            store: store.clone(),
            runtime,
            clock,
            tenants: RwLock::default(),
            locks: Mutex::default(),
            // A shared store's tenants wait for their leases; a store of its own, all of them.
            ownership: RwLock::new((
                Arc::new(if store.is_shared() {
                    Ownership::Only(Default::default())
                } else {
                    Ownership::All
                }),
                Instant::now(),
            )),
            uploads: None,
            secret_key: None,
            policy_loads: Mutex::default(),
            optimiser: Default::default(),
            rewrites: Mutex::default(),
            rewrite_spacing: REWRITE_SPACING,
            tenant_grace: DEFAULT_TENANT_GRACE,
        }
    }

    /// The plugin runtime (for metrics).
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// The store (for queries and reports).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Loads or replaces a tenant's policy. Its secrets are put in place of their
    /// references and its plugins loaded first; on any failure the previous policy stays
    /// live.
    pub fn load_tenant(&self, policy: Policy) -> Result<Arc<Tenant>, EngineError> {
        let _one_at_a_time = self.policy_loads.lock().unwrap();
        self.load_tenant_now(policy)
    }

    /// What [`Engine::load_tenant`] checks, without making `policy` live: the tenant is not
    /// deleted and every plugin it names loads for its slot. Returns the secrets it names
    /// that the tenant has not set yet (the load would refuse it until they are).
    pub fn check_tenant(&self, policy: &Policy) -> Result<Vec<String>, EngineError> {
        if let Some(stone) = self.tombstone(&policy.tenant)? {
            return Err(EngineError::TenantDeleted {
                tenant: policy.tenant.clone(),
                purge_after_ms: stone.purge_after_ms,
            });
        }
        Tenant::load(policy.clone(), &self.runtime)?;
        let set: std::collections::BTreeSet<String> = self
            .secret_names(&policy.tenant)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let named = policy.secret_names().into_iter();
        Ok(named.filter(|name| !set.contains(name)).collect())
    }

    /// [`Engine::load_tenant`], for a caller that holds `policy_loads`.
    fn load_tenant_now(&self, mut policy: Policy) -> Result<Arc<Tenant>, EngineError> {
        if let Some(stone) = self.tombstone(&policy.tenant)? {
            return Err(EngineError::TenantDeleted {
                tenant: policy.tenant,
                purge_after_ms: stone.purge_after_ms,
            });
        }
        self.resolve_secrets(&mut policy)?;
        let mut tenant = Tenant::load(policy, &self.runtime)?;
        // Uploaded plugin versions outrank the policy's defaults.
        let id = tenant.policy.tenant.clone();
        for slot in Slot::ALL {
            if let Some(live) = self.store.plugin_versions(&id, slot.name())?.last() {
                let plugin = self.load_uploaded(&id, &live.sha256, slot)?;
                tenant = tenant.with_plugin(slot, plugin);
            }
        }
        let earlier = self.tenant(&id).ok();
        tenant = self.with_trials(tenant, earlier.as_deref())?;
        if let Some(earlier) = &earlier {
            tenant = tenant.keeping_breakers(earlier);
        }
        let tenant = Arc::new(tenant);
        self.tenants.write().unwrap().insert(id, tenant.clone());
        Ok(tenant)
    }

    /// Loads a component a tenant uploaded for a slot, by its hash.
    fn load_uploaded(
        &self,
        tenant_id: &str,
        sha256: &str,
        slot: Slot,
    ) -> Result<Arc<Plugin>, EngineError> {
        tenant::load_by_hash(sha256, slot, &self.runtime, self.uploads.as_deref()).map_err(
            |source| EngineError::Plugin {
                tenant: tenant_id.into(),
                source,
            },
        )
    }

    /// Loads or replaces a tenant with the given plugins, one per slot in [`Slot::ALL`]
    /// order (see [`Tenant::with_plugins`]).
    pub fn load_tenant_with(&self, policy: Policy, plugins: [Arc<Plugin>; 4]) -> Arc<Tenant> {
        let id = policy.tenant.clone();
        let tenant = Arc::new(Tenant::with_plugins(policy, plugins));
        self.tenants.write().unwrap().insert(id, tenant.clone());
        tenant
    }

    /// Where uploaded components are kept (content-addressed `<sha256>.wasm`).
    pub fn with_uploads(mut self, dir: PathBuf) -> Self {
        self.uploads = Some(dir);
        self
    }

    /// Validates and compiles a component for a tenant's slot, keeps it, and makes it live
    /// atomically: the next decision uses it. Returns the new version list (the last
    /// [`KEPT_VERSIONS`]). On any error nothing changes.
    ///
    /// A component never compiled before goes live on quick code ([`Tier::Quick`]) and is
    /// recompiled with the optimising compiler in the background, then swapped in again:
    /// the same bytes and hash throughout, so journals and versions do not change. Returns
    /// the tier it went live on with the versions. A compile that ends after `deadline`
    /// changes nothing ([`EngineError::CompileTooSlow`]): whoever asked has stopped waiting.
    pub fn upload_plugin(
        self: &Arc<Self>,
        tenant_id: &str,
        slot: Slot,
        bytes: &[u8],
        deadline: Instant,
    ) -> Result<(Vec<PluginVersion>, Tier), EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let plugin = self.compile_upload(tenant_id, slot, bytes, deadline)?;
        self.make_live(&tenant, plugin, || Some(bytes.to_vec()))
    }

    /// Validates and compiles a component for a tenant's slot on quick code, and keeps
    /// its file with the uploads; makes nothing live.
    fn compile_upload(
        &self,
        tenant_id: &str,
        slot: Slot,
        bytes: &[u8],
        deadline: Instant,
    ) -> Result<Arc<Plugin>, EngineError> {
        let plugin = self
            .runtime
            .load_quick(&format!("{tenant_id}-{slot}"), bytes, Some(slot))
            .map_err(|source| EngineError::Plugin {
                tenant: tenant_id.into(),
                source,
            })?;
        if Instant::now() > deadline {
            return Err(EngineError::CompileTooSlow);
        }
        if let Some(dir) = &self.uploads {
            let path = dir.join(format!("{}.wasm", plugin.id.hash));
            if !path.exists() {
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, bytes))
                    .map_err(|e| {
                        EngineError::Store(StoreError::Decode {
                            what: "plugin file".into(),
                            cause: e.to_string(),
                        })
                    })?;
            }
        }
        Ok(plugin)
    }

    /// Records `plugin` as its slot's newest version and makes it live; a plugin on quick
    /// code is then recompiled with the optimising compiler in the background, from
    /// `bytes` (`None`: a recompile is already queued).
    fn make_live(
        self: &Arc<Self>,
        tenant: &Tenant,
        plugin: Arc<Plugin>,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<(Vec<PluginVersion>, Tier), EngineError> {
        let (tenant_id, slot) = (&tenant.policy.tenant, plugin.slot);
        let mut versions = self.store.plugin_versions(tenant_id, slot.name())?;
        versions.push(PluginVersion {
            sha256: plugin.id.hash.clone(),
            uploaded_ms: self.clock.now_ms(),
        });
        let forgotten = versions.len().saturating_sub(KEPT_VERSIONS);
        versions.drain(..forgotten);
        let versions = self.swap_plugin(tenant, slot, plugin.clone(), versions)?;
        let tier = plugin.tier;
        if tier == Tier::Quick
            && let Some(bytes) = bytes()
        {
            let job = optimiser::Job {
                tenant: tenant_id.to_string(),
                quick: plugin,
                bytes,
            };
            self.optimiser.submit(self, job);
        }
        Ok((versions, tier))
    }

    /// Compiles a quick-tier upload (the slot's live plugin or its candidate on trial)
    /// with the optimising compiler and puts it in place of the quick one, unless another
    /// plugin has taken its place meanwhile (then the work is skipped or dropped). A
    /// failure leaves the quick code serving.
    fn optimise(&self, job: optimiser::Job) {
        let slot = job.quick.slot;
        let is_quick = |p: &Plugin| std::ptr::eq(p, &*job.quick);
        let serving = |t: &Tenant| {
            is_quick(t.plugin(slot).0) || t.trial(slot).is_some_and(|c| is_quick(&c.plugin))
        };
        if !self.tenant(&job.tenant).is_ok_and(|t| serving(&t)) {
            return;
        }
        let span = tracing::info_span!("optimise", tenant = %job.tenant, plugin = %job.quick.id);
        let _enter = span.enter();
        let plugin = match self
            .runtime
            .load(&job.quick.id.name, &job.bytes, Some(slot))
        {
            Ok(plugin) => plugin,
            Err(err) => {
                tracing::warn!(cause = %err, "optimised compile failed; the quick code keeps serving");
                return;
            }
        };
        let swapped = self.change_tenant(&job.tenant, |t| {
            if is_quick(t.plugin(slot).0) {
                return Some(t.with_plugin(slot, plugin));
            }
            let on_trial = t.shared_trial(slot).filter(|c| is_quick(&c.plugin))?;
            let optimised = tenant::OnTrial {
                trial: on_trial.trial.clone(),
                plugin,
                breaker: on_trial.breaker.clone(),
            };
            Some(t.with_trial(slot, Some(Arc::new(optimised))))
        });
        if let Ok(true) = swapped {
            tracing::info!("optimised code is live");
        }
    }

    /// Goes back to the previous version of a slot's plugin (the policy's own plugin when
    /// no upload is left). Returns the remaining versions.
    pub fn rollback_plugin(
        &self,
        tenant_id: &str,
        slot: Slot,
    ) -> Result<Vec<PluginVersion>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let mut versions = self.store.plugin_versions(tenant_id, slot.name())?;
        if versions.pop().is_none() {
            return Ok(versions);
        }
        let plugin = match versions.last() {
            Some(v) => self.load_uploaded(tenant_id, &v.sha256, slot)?,
            None => {
                tenant::resolve_slot(&tenant.policy, slot, &self.runtime).map_err(|source| {
                    EngineError::Plugin {
                        tenant: tenant_id.into(),
                        source,
                    }
                })?
            }
        };
        self.swap_plugin(&tenant, slot, plugin, versions)
    }

    /// Records a slot's version list, then makes `plugin` live for the tenant: the one place
    /// upload and rollback change what runs.
    fn swap_plugin(
        &self,
        tenant: &Tenant,
        slot: Slot,
        plugin: Arc<Plugin>,
        versions: Vec<PluginVersion>,
    ) -> Result<Vec<PluginVersion>, EngineError> {
        let id = &tenant.policy.tenant;
        self.store.set_plugin_versions(id, slot.name(), &versions)?;
        self.use_plugin(id, plugin)?;
        Ok(versions)
    }

    /// Makes `plugin` live in its slot for a tenant without recording a version: for
    /// policies compiled into the host ([`redial_runtime::NativePolicy`]) and experiments.
    /// The next policy reload replaces it.
    pub fn use_plugin(&self, tenant_id: &str, plugin: Arc<Plugin>) -> Result<(), EngineError> {
        self.change_tenant(tenant_id, |t| Some(t.with_plugin(plugin.slot, plugin)))
            .map(|_| ())
    }

    /// Replaces a loaded tenant by what `change` makes of it, under one write lock
    /// (`None`: no change). Returns whether it changed.
    fn change_tenant(
        &self,
        tenant_id: &str,
        change: impl FnOnce(&Tenant) -> Option<Tenant>,
    ) -> Result<bool, EngineError> {
        let mut tenants = self.tenants.write().unwrap();
        let tenant = tenants
            .get(tenant_id)
            .ok_or_else(|| EngineError::UnknownTenant(tenant_id.into()))?;
        let Some(changed) = change(tenant) else {
            return Ok(false);
        };
        tenants.insert(tenant_id.to_string(), Arc::new(changed));
        Ok(true)
    }

    /// Stops serving a tenant (its cases stay in the store).
    pub fn remove_tenant(&self, id: &str) -> Result<(), EngineError> {
        self.tenants
            .write()
            .unwrap()
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| EngineError::UnknownTenant(id.into()))
    }

    /// A loaded tenant.
    pub fn tenant(&self, id: &str) -> Result<Arc<Tenant>, EngineError> {
        self.tenants
            .read()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::UnknownTenant(id.into()))
    }

    /// Ids of the loaded tenants, sorted.
    pub fn tenant_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.tenants.read().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// What the tenant's CRM knows about a caller who has no open case yet, to inject into
    /// the signal's context before it is ingested (the customer then never repeats it).
    /// A caller with an open case needs none: the case already carries its context.
    pub fn caller_context(
        &self,
        tenant: &str,
        caller: &str,
        connectors: &dyn Connectors,
    ) -> Result<Vec<Field>, EngineError> {
        let tenant = self.tenant(tenant)?;
        if !connectors.knows_callers(&tenant.policy)
            || self
                .store
                .open_case(&tenant.policy.tenant, caller)?
                .is_some()
        {
            return Ok(Vec::new());
        }
        Ok(connectors.caller_context(&tenant.policy, caller, CRM_LOOKUP))
    }

    /// Takes in a signal: joins the caller's open case, or asks the trigger whether to
    /// open one (and schedules its first callback).
    pub fn ingest(&self, tenant: &str, signal: SignalIn) -> Result<Ingested, EngineError> {
        let (ingested, _) = self.ingest_committed(tenant, signal)?;
        self.store.flush()?;
        Ok(ingested)
    }

    /// [`Engine::ingest`] up to its commit: the step is crash-consistent but not yet
    /// durable, and must not be acknowledged before [`Store::durable`] resolves for the
    /// ticket returned. The server waits for it without holding a thread.
    pub fn ingest_committed(
        &self,
        tenant: &str,
        signal: SignalIn,
    ) -> Result<(Ingested, Ticket), EngineError> {
        let tenant = self.tenant(tenant)?;
        let _span =
            tracing::info_span!("signal", tenant = %tenant.policy.tenant, caller = %signal.caller)
                .entered();
        let ingested = self.committed(&tenant.policy.tenant, Priority::Admit, || {
            flows::ingest(self, &tenant, signal)
        })?;
        Ok((ingested, self.store.ticket()))
    }

    /// Runs one step under its tenant's lock, then makes it durable outside the lock, so
    /// concurrent requests share fsyncs instead of queueing behind the lock.
    fn durably<T>(
        &self,
        tenant: &str,
        priority: Priority,
        step: impl FnOnce() -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let result = self.committed(tenant, priority, step)?;
        self.store.flush()?;
        Ok(result)
    }

    /// Runs one step under its tenant's lock; it counts as under way from before it waits
    /// for the lock (see [`Store::step_started`]), so a flush meanwhile can wait for it.
    fn committed<T>(
        &self,
        tenant: &str,
        priority: Priority,
        step: impl FnOnce() -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let _pending = self.store.step_started();
        let lock = self.tenant_lock(tenant);
        let _turn = lock.lock(priority)?;
        step()
    }

    /// The lock that serialises one tenant's steps, here and across processes.
    fn tenant_lock(&self, tenant: &str) -> TenantTurns {
        let lock = {
            let mut locks = self.locks.lock().unwrap();
            match locks.get(tenant) {
                Some(lock) => lock.clone(),
                None => locks.entry(tenant.to_string()).or_default().clone(),
            }
        };
        TenantTurns {
            lock,
            tenant: tenant.to_string(),
            store: self.store.clone(),
        }
    }

    /// Renews and takes this process's tenant leases in the store (the server calls it
    /// every [`crate::store::LEASE_RENEWAL`]), and acts for the tenants it holds from now
    /// on. Returns them. With a store no other process shares, that is every tenant.
    pub fn claim_tenants(&self) -> Result<Arc<Ownership>, EngineError> {
        let mut known = self.tenant_ids();
        known.extend(self.store.tombstones()?.into_iter().map(|(t, _)| t));
        known.sort();
        known.dedup();
        let claimed = Arc::new(self.store.claim_tenants(&known)?);
        let mut ownership = self.ownership.write().unwrap();
        if let (Ownership::Only(before), Ownership::Only(now)) = (&*ownership.0, &*claimed) {
            let gained: Vec<&String> = now.difference(before).collect();
            let lost: Vec<&String> = before.difference(now).collect();
            if !gained.is_empty() || !lost.is_empty() {
                tracing::info!(?gained, ?lost, held = now.len(), "tenant leases changed");
            }
        }
        *ownership = (claimed.clone(), Instant::now());
        Ok(claimed)
    }

    /// The tenants this process acts for on its own (see [`Engine::claim_tenants`]):
    /// none once its last claim is older than a lease's term, since the others may hold
    /// them by then.
    pub fn ownership(&self) -> Arc<Ownership> {
        let (ownership, claimed) = &*self.ownership.read().unwrap();
        match **ownership {
            Ownership::Only(_) if claimed.elapsed() >= crate::store::LEASE_TERM => {
                Arc::new(Ownership::Only(Default::default()))
            }
            _ => ownership.clone(),
        }
    }

    /// Fires every timer due now; returns how many fired.
    pub fn fire_due_timers(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let due = self.store.due_timers(now)?;
        let ownership = self.ownership();
        let mut fired = 0;
        for (case_id, timer) in &due {
            let tenant = tenant_of_case(case_id);
            if !ownership.owns(tenant) {
                continue;
            }
            let lock = self.tenant_lock(tenant);
            let _turn = lock.lock(Priority::Finish)?;
            let _span = tracing::info_span!("timer", case = %case_id, kind = ?timer.kind).entered();
            // One timer's failure is that timer's alone: it stays due and is tried again,
            // and every other case's timers still fire.
            match flows::fire_timer(self, case_id, *timer) {
                Ok(()) => fired += 1,
                Err(err) => tracing::error!(cause = %err, "timer failed; will retry"),
            }
        }
        Ok(fired)
    }

    /// Delivers every outbox item once through `connectors`, in order, on this thread;
    /// failures stay queued for the next round. Returns how many were delivered. (The
    /// server delivers through [`DeliveryLanes`] instead.)
    pub fn deliver_outbox(&self, connectors: &dyn Connectors) -> Result<usize, EngineError> {
        // Nothing leaves the host before the step that caused it is durable.
        self.store.flush()?;
        let mut delivered = 0;
        let ownership = self.ownership();
        for (id, item) in self.store.outbox()? {
            if !ownership.owns(&item.tenant) {
                continue;
            }
            match self.deliver_one(connectors, id, &item)? {
                Sent::Done => delivered += 1,
                Sent::Failed(cause) => {
                    tracing::warn!(key = %item.key, %cause, "delivery failed; will retry")
                }
            }
        }
        Ok(delivered)
    }

    /// Delivers one outbox item and records it. An item of a tenant that no longer serves
    /// is settled without delivery (dropped, journalled).
    fn deliver_one(
        &self,
        connectors: &dyn Connectors,
        id: u64,
        item: &OutboxItem,
    ) -> Result<Sent, EngineError> {
        let _span = tracing::info_span!("deliver", tenant = %item.tenant, case = %item.case_id, effect = item.effect.name()).entered();
        let Ok(tenant) = self.tenant(&item.tenant) else {
            let lock = self.tenant_lock(&item.tenant);
            let _turn = lock.lock(Priority::Finish)?;
            let what = format!("{} effect {}", item.effect.name(), item.key);
            flows::tenant_removed(self, &item.case_id, Some(id), &what)?;
            return Ok(Sent::Done);
        };
        let caller_of = |case_id: &str| {
            let case = self.store.case(case_id).ok().flatten();
            case.map(|case| case.caller)
        };
        let recipient = Recipient {
            policy: &tenant.policy,
            caller_of: &caller_of,
        };
        match connectors.deliver(item, &recipient) {
            Ok(delivery) => {
                let lock = self.tenant_lock(&item.tenant);
                let _turn = lock.lock(Priority::Finish)?;
                // Nothing to record when it left the outbox while on its way: its case was
                // erased, or another process recorded it (it held the tenant's lease before
                // this one and delivered under the same idempotency key).
                if !self.store.in_outbox(id)? {
                    tracing::info!("delivered for an item recorded or erased meanwhile");
                    return Ok(Sent::Done);
                }
                flows::delivered(self, id, item, delivery).map(|()| Sent::Done)
            }
            Err(err) => Ok(Sent::Failed(err.to_string())),
        }
    }

    /// Sets an outbox item aside among its tenant's dead letters after its last failed
    /// delivery (unless something settled it meanwhile).
    fn set_aside(
        &self,
        id: u64,
        item: &OutboxItem,
        failures: u32,
        error: String,
    ) -> Result<(), EngineError> {
        let lock = self.tenant_lock(&item.tenant);
        let _turn = lock.lock(Priority::Finish)?;
        if !self.store.in_outbox(id)? {
            return Ok(());
        }
        let dead = DeadLetter {
            id,
            item: item.clone(),
            failures,
            error,
            at_ms: self.clock.now_ms(),
        };
        flows::set_aside(self, dead)?;
        self.store.flush()?;
        Ok(())
    }

    /// A tenant's dead letters, oldest first.
    pub fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, EngineError> {
        Ok(self.store.dead_letters(tenant)?)
    }

    /// Queues one of a tenant's dead letters again (under its own idempotency key).
    /// `Ok(false)` when the tenant has no dead letter with that id.
    pub fn retry_dead_letter(&self, tenant: &str, id: u64) -> Result<bool, EngineError> {
        self.settle_dead_letter(tenant, id, flows::retry)
    }

    /// Drops one of a tenant's dead letters for good; a dial's attempt ends as failed.
    /// `Ok(false)` when the tenant has no dead letter with that id.
    pub fn discard_dead_letter(&self, tenant: &str, id: u64) -> Result<bool, EngineError> {
        self.settle_dead_letter(tenant, id, flows::discard)
    }

    /// Drops a dead letter past its tenant's retention (see `flows::expire`).
    fn expire_dead_letter(&self, tenant: &str, id: u64) -> Result<bool, EngineError> {
        self.settle_dead_letter(tenant, id, flows::expire)
    }

    fn settle_dead_letter(
        &self,
        tenant: &str,
        id: u64,
        settle: fn(&Engine, DeadLetter) -> Result<(), EngineError>,
    ) -> Result<bool, EngineError> {
        self.durably(tenant, Priority::Finish, || {
            let found = self
                .store
                .dead_letters(tenant)?
                .into_iter()
                .find(|d| d.id == id);
            found
                .map(|dead| settle(self, dead))
                .transpose()
                .map(|done| done.is_some())
        })
    }

    /// A call placed earlier has ended (a provider webhook).
    pub fn call_ended(
        &self,
        case_id: &str,
        attempt: u32,
        report: CallReport,
    ) -> Result<(), EngineError> {
        self.durably(tenant_of_case(case_id), Priority::Finish, || {
            flows::call_ended(self, self.draft(case_id)?, attempt, report)
        })
    }

    /// The SMS provider's status report on the fallback message `key` of one of
    /// `tenant`'s cases: a final status is journalled on the case once per `event_id`. A
    /// key that names no fallback message of the tenant's is an unknown case.
    pub fn message_status(
        &self,
        tenant: &str,
        key: &str,
        status: &str,
        error_code: Option<String>,
        event_id: &str,
    ) -> Result<MessageStatus, EngineError> {
        let unknown = || EngineError::UnknownCase(key.to_string());
        let case_id = (key.strip_suffix(flows::FALLBACK_SMS))
            .and_then(|k| k.strip_suffix('/'))
            .ok_or_else(unknown)?;
        if tenant_of_case(case_id) != tenant {
            return Err(unknown());
        }
        self.durably(tenant, Priority::Finish, || {
            let draft = self.draft(case_id)?;
            if draft.case.tenant != tenant {
                return Err(unknown());
            }
            flows::message_status(self, draft, key, status, error_code, event_id)
        })
    }

    /// A caller replied by SMS: a stop word opts them out; anything else joins their case.
    pub fn sms_reply(
        &self,
        tenant: &str,
        caller: &str,
        text: &str,
        event_id: &str,
    ) -> Result<SmsReply, EngineError> {
        let tenant = self.tenant(tenant)?;
        self.durably(&tenant.policy.tenant, Priority::Finish, || {
            flows::sms_reply(self, &tenant, caller, text, event_id)
        })
    }

    /// The owner acknowledged a handoff: the SLA timer stops.
    pub fn acknowledge(&self, case_id: &str) -> Result<bool, EngineError> {
        self.durably(tenant_of_case(case_id), Priority::Finish, || {
            flows::acknowledge(self, case_id)
        })
    }

    /// Forgets provider event ids older than [`REPLAY_WINDOW_MS`]; returns how many.
    pub fn forget_old_inbound(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        Ok(self.store.forget_inbound(now - REPLAY_WINDOW_MS, now)?)
    }

    /// Whether anything is left to do: timers pending or effects undelivered.
    pub fn idle(&self) -> Result<bool, EngineError> {
        Ok(self.store.next_timer_ms()?.is_none() && self.store.outbox_len() == 0)
    }

    fn draft(&self, case_id: &str) -> Result<Draft, EngineError> {
        let case = self
            .store
            .case(case_id)?
            .ok_or_else(|| EngineError::UnknownCase(case_id.into()))?;
        Ok(self.new_draft(case, self.clock.now_ms()))
    }

    /// A draft of a step on `case` at `now`, which records the clock if it must survive a
    /// restart.
    fn new_draft(&self, case: CaseRecord, now: i64) -> Draft {
        let retention = self
            .tenant(&case.tenant)
            .map(|t| t.policy.retention)
            .unwrap_or_default();
        let mut d = Draft::new(case, now, retention);
        d.step_mut().clock_ms = self.clock_to_keep(now);
        d
    }

    /// The clock reading a step stores (see [`Clock::resumes_from_store`]).
    fn clock_to_keep(&self, now: i64) -> Option<i64> {
        self.clock.resumes_from_store().then_some(now)
    }
}

/// The tenant a case belongs to: case ids are `<tenant>-<number>`.
fn tenant_of_case(case_id: &str) -> &str {
    case_id
        .rsplit_once('-')
        .map_or(case_id, |(tenant, _)| tenant)
}
