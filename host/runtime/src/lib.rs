//! The sandboxed plugin runtime: loads tenant components for the four slots and runs each
//! decision in a fresh, bounded instance.
//!
//! - Components are compiled once per content hash and shared by every tenant using them;
//!   compilations are cached on disk ([`ArtifactCache`]) so a restart does not recompile.
//! - Two compilers ([`Tier`]): Cranelift for the code every plugin runs in the steady
//!   state, and Winch, about five times quicker to compile, so an upload can go live while
//!   Cranelift compiles it in the background ([`PluginRuntime::load_quick`]).
//! - Each component is pre-instantiated for its slot at load; a call creates a fresh
//!   instance from the pooling allocator (no state leaks between calls or tenants).
//! - Every call has a deadline (epoch interruption), a memory cap and a stack cap
//!   ([`Limits`]); breaking one, trapping, refusing, or returning a decision that breaks
//!   the contract ([`validate`]) yields a [`PluginError`] naming plugin, slot and cause.
//!   The process and every other call go on.
#![deny(missing_docs)]

mod artifacts;
mod bindings;
mod calls;
mod error;
mod exports;
mod limits;
mod native;
mod plugin;
mod sandbox;
mod slot;
mod ticker;
pub mod validate;

pub use artifacts::{ArtifactCache, DEFAULT_CACHE_BYTES};
pub use calls::Request;
pub use error::{PluginError, RuntimeError};
pub use limits::Limits;
pub use native::NativePolicy;
pub use plugin::{CallCost, Decision, Plugin, PluginId, Tier};
pub use slot::{CONTRACT_VERSION, SUPPORTED_VERSIONS, Slot};

use exports::VersionedExports;
use plugin::SlotPre;
use sandbox::Sandbox;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ticker::EpochTicker;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Strategy,
    Trap,
};

/// How to build a [`PluginRuntime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Per-call bounds.
    pub limits: Limits,
    /// Where compiled components are cached; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// The cache's bound in bytes; `None` is [`artifacts::DEFAULT_CACHE_BYTES`].
    pub cache_max_bytes: Option<u64>,
}

/// A component compiled and linked once, whatever slots and tenants use it.
struct Compiled {
    pre: InstancePre<Sandbox>,
    /// Slots (and WIT versions) the component exports.
    exports: Vec<(Slot, String)>,
    compile_time: Duration,
    from_cache: bool,
}

/// One compiler's engine and the sandbox linked for it: components compiled by an engine
/// only run in stores of that engine.
struct Backend {
    engine: Engine,
    linker: Linker<Sandbox>,
}

impl Backend {
    /// An engine with the pooling allocator, epoch deadlines and the stack cap, compiling
    /// with `strategy`, and WASI linked with the locked-down sandbox.
    fn new(limits: &Limits, strategy: Strategy) -> Result<Self, RuntimeError> {
        let n = limits.max_concurrent_calls.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(limits.memory_bytes)
            .linear_memory_keep_resident(limits.keep_resident_bytes)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .strategy(strategy)
            .epoch_interruption(true)
            .max_wasm_stack(limits.stack_bytes)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `REDIAL_PERFMAP=1` writes /tmp/perf-<pid>.map as code is loaded, so `perf report`
        // names guest functions (how BENCHMARKS.md's profiles of plugin calls were taken).
        if std::env::var_os("REDIAL_PERFMAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&wasm).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Ok(Backend { engine, linker })
    }
}

/// The largest component file the host reads from a path (64 MiB): room for a Python
/// plugin (componentize-py bundles the interpreter, about 18 MiB) and a JavaScript one
/// (about 12 MiB). Uploads have their own limit, which the operator sets.
pub const MAX_COMPONENT: usize = 64 << 20;

/// A component file's bytes: a regular file, within [`MAX_COMPONENT`].
fn read_component(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > MAX_COMPONENT as u64 {
        return Err(refuse(format!(
            "{} bytes, more than the {MAX_COMPONENT} a component may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_COMPONENT as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_COMPONENT {
        return Err(refuse("grew past the size limit while read".into()));
    }
    Ok(bytes)
}

/// Loads plugins and runs their calls. One per host process; share it behind an `Arc`.
pub struct PluginRuntime {
    optimised: Backend,
    quick: Backend,
    limits: Limits,
    artifacts: Option<ArtifactCache>,
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    plugins: Mutex<HashMap<(String, Slot), Arc<Plugin>>>,
    /// Files already loaded, by path and slot, with the size and mtime they had: ten
    /// thousand tenants naming the same file read and hash it once.
    files: Mutex<HashMap<(PathBuf, Slot), LoadedFile>>,
    stats: [CallStats; 4],
    _ticker: EpochTicker,
}

/// Running totals of one slot's calls, for metrics.
#[derive(Debug, Default)]
pub struct CallStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that failed.
    pub failures: AtomicU64,
    /// Total time spent, in nanoseconds (summed whole: a call takes a few microseconds,
    /// so rounding each to a microsecond would lose a tenth of the total).
    pub nanos: AtomicU64,
    /// Of that, time spent instantiating, in nanoseconds.
    pub instantiate_nanos: AtomicU64,
    /// Of that, time spent dropping the instance (resetting its pooled memory), in
    /// nanoseconds: a fixed few microseconds per call, a quarter of a large decision.
    pub teardown_nanos: AtomicU64,
}

impl PluginRuntime {
    /// Builds the two engines (see [`Tier`]) and starts the deadline clock.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let limits = config.limits;
        let optimised = Backend::new(&limits, Strategy::Cranelift)?;
        let quick = Backend::new(&limits, Strategy::Winch)?;
        let engine = &optimised.engine;
        let artifacts = match &config.cache_dir {
            Some(dir) => {
                let bound = config
                    .cache_max_bytes
                    .unwrap_or(artifacts::DEFAULT_CACHE_BYTES);
                Some(ArtifactCache::open(dir, engine, bound)?)
            }
            None => None,
        };
        let ticker = EpochTicker::start(
            [optimised.engine.weak(), quick.engine.weak()],
            Duration::from_millis(limits.epoch_tick_ms.max(1)),
        );
        Ok(PluginRuntime {
            optimised,
            quick,
            limits,
            artifacts,
            compiled: Mutex::default(),
            plugins: Mutex::default(),
            files: Mutex::default(),
            stats: Default::default(),
            _ticker: ticker,
        })
    }

    /// Call totals for a slot (calls, failures, time).
    pub fn stats(&self, slot: Slot) -> &CallStats {
        &self.stats[Slot::ALL.iter().position(|s| *s == slot).unwrap()]
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Loads a component file for `slot` (or for the one slot it exports when `None`).
    /// Only a regular file of at most [`MAX_COMPONENT`] bytes is read: a path to a device
    /// (`/dev/zero`) or a huge file is refused before anything is read.
    pub fn load_file(&self, path: &Path, slot: Option<Slot>) -> Result<Arc<Plugin>, PluginError> {
        let stamp = FileStamp::of(path);
        if let (Some(slot), Some(stamp)) = (slot, stamp)
            && let Some((seen, plugin)) = self.files.lock().unwrap().get(&(path.into(), slot))
            && *seen == stamp
        {
            return Ok(plugin.clone());
        }
        let plugin = self.read_and_load(path, slot)?;
        if let Some(stamp) = stamp {
            self.files
                .lock()
                .unwrap()
                .insert((path.into(), plugin.slot), (stamp, plugin.clone()));
        }
        Ok(plugin)
    }

    fn read_and_load(&self, path: &Path, slot: Option<Slot>) -> Result<Arc<Plugin>, PluginError> {
        let bytes = read_component(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_else(|| "plugin".into());
        self.load(&name, &bytes, slot)
    }

    /// Loads component bytes for `slot`: validates, compiles (once per content hash),
    /// checks the WIT version and pre-instantiates. Nothing is swapped on failure.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        slot: Option<Slot>,
    ) -> Result<Arc<Plugin>, PluginError> {
        self.load_optimised(plugin_id(name, bytes), bytes, slot)
    }

    fn load_optimised(
        &self,
        id: PluginId,
        bytes: &[u8],
        slot: Option<Slot>,
    ) -> Result<Arc<Plugin>, PluginError> {
        let compiled = self.compile(&id, bytes)?;
        self.prepare(id, bytes.len(), &compiled, slot, Tier::Optimised)
    }

    /// Like [`PluginRuntime::load`], but for a component never compiled before it compiles
    /// with Winch ([`Tier::Quick`]): live in a fifth of the time, to be replaced by
    /// [`PluginRuntime::load`]'s result once that is ready. A component Cranelift already
    /// compiled (in memory or in the artifact cache), or one Winch cannot compile, comes
    /// back optimised.
    pub fn load_quick(
        &self,
        name: &str,
        bytes: &[u8],
        slot: Option<Slot>,
    ) -> Result<Arc<Plugin>, PluginError> {
        let id = plugin_id(name, bytes);
        let compiled_before = self.compiled.lock().unwrap().contains_key(&id.hash)
            || self
                .artifacts
                .as_ref()
                .is_some_and(|a| a.contains(&id.hash));
        if compiled_before {
            return self.load_optimised(id, bytes, slot);
        }
        let started = Instant::now();
        let quick = Component::new(&self.quick.engine, bytes)
            .map_err(|e| e.to_string())
            .and_then(|component| {
                self.link(&id, component, Tier::Quick, started.elapsed(), false)
                    .map_err(|e| e.to_string())
            });
        match quick {
            Ok(compiled) => self.prepare(id, bytes.len(), &compiled, slot, Tier::Quick),
            Err(cause) => {
                tracing::debug!(plugin = %id, %cause, "winch cannot compile it; compiling with cranelift");
                self.load_optimised(id, bytes, slot)
            }
        }
    }

    /// Checks a compiled component against `slot` and its WIT version, and makes the typed
    /// pre-instance. Optimised plugins are kept, so tenants sharing bytes share one.
    fn prepare(
        &self,
        id: PluginId,
        size: usize,
        compiled: &Compiled,
        slot: Option<Slot>,
        tier: Tier,
    ) -> Result<Arc<Plugin>, PluginError> {
        let wrong_world = |slot: &str, cause: String| PluginError::WrongWorld {
            plugin: id.to_string(),
            slot: slot.to_string(),
            cause,
        };
        let exported: Vec<String> = compiled
            .exports
            .iter()
            .map(|(s, _)| s.name().to_string())
            .collect();
        let (slot, version) = match slot {
            Some(slot) => compiled
                .exports
                .iter()
                .find(|(s, _)| *s == slot)
                .cloned()
                .ok_or_else(|| wrong_world(slot.name(), describe_exports(&exported)))?,
            None => match compiled.exports.as_slice() {
                [one] => one.clone(),
                [] => return Err(wrong_world("any", describe_exports(&exported))),
                _ => {
                    return Err(wrong_world(
                        "any",
                        format!(
                            "it exports several slots ({}); name one",
                            exported.join(", ")
                        ),
                    ));
                }
            },
        };
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(PluginError::UnsupportedVersion {
                plugin: id.to_string(),
                version,
                supported: SUPPORTED_VERSIONS.join(", "),
            });
        }
        let key = (id.hash.clone(), slot);
        if tier == Tier::Optimised
            && let Some(plugin) = self.plugins.lock().unwrap().get(&key)
        {
            return Ok(plugin.clone());
        }
        let exports = VersionedExports::find(&compiled.pre, slot, &version).map_err(|e| {
            wrong_world(
                slot.name(),
                format!("its exports do not match the contract: {e}"),
            )
        })?;
        let typed = SlotPre::Wasm {
            instance: compiled.pre.clone(),
            exports,
        };
        let plugin = Arc::new(Plugin {
            id,
            slot,
            version,
            size,
            compile_time: compiled.compile_time,
            from_cache: compiled.from_cache,
            tier,
            pre: typed,
        });
        if tier == Tier::Optimised {
            self.plugins.lock().unwrap().insert(key, plugin.clone());
        }
        Ok(plugin)
    }

    /// Wraps a policy compiled into the host as a plugin for its slot (see
    /// [`NativePolicy`]): its calls skip the sandbox but are validated and counted alike.
    pub fn native(&self, name: &str, policy: NativePolicy) -> Arc<Plugin> {
        Arc::new(Plugin {
            id: PluginId {
                name: name.to_string(),
                hash: format!("native-{name}"),
            },
            slot: policy.slot(),
            version: CONTRACT_VERSION.to_string(),
            size: 0,
            compile_time: Duration::ZERO,
            from_cache: false,
            tier: Tier::Optimised,
            pre: SlotPre::Native(policy),
        })
    }

    /// A plugin already loaded for `slot` with this content hash.
    pub fn loaded(&self, hash: &str, slot: Slot) -> Option<Arc<Plugin>> {
        self.plugins
            .lock()
            .unwrap()
            .get(&(hash.to_string(), slot))
            .cloned()
    }

    /// Compiles with Cranelift, once per content hash: from memory, the artifact cache,
    /// or afresh (then cached).
    fn compile(&self, id: &PluginId, bytes: &[u8]) -> Result<Arc<Compiled>, PluginError> {
        if let Some(c) = self.compiled.lock().unwrap().get(&id.hash) {
            return Ok(c.clone());
        }
        let started = Instant::now();
        let engine = &self.optimised.engine;
        let cached = self
            .artifacts
            .as_ref()
            .and_then(|a| a.load(engine, &id.hash));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component =
                    Component::new(engine, bytes).map_err(|e| PluginError::Compile {
                        plugin: id.to_string(),
                        cause: format!("{e:#}"),
                    })?;
                if let Some(a) = &self.artifacts {
                    a.store(&id.hash, &component);
                }
                component
            }
        };
        let compiled = Arc::new(self.link(
            id,
            component,
            Tier::Optimised,
            started.elapsed(),
            from_cache,
        )?);
        self.compiled
            .lock()
            .unwrap()
            .insert(id.hash.clone(), compiled.clone());
        Ok(compiled)
    }

    /// Lists a compiled component's slot exports and links it against the sandbox.
    fn link(
        &self,
        id: &PluginId,
        component: Component,
        tier: Tier,
        compile_time: Duration,
        from_cache: bool,
    ) -> Result<Compiled, PluginError> {
        let backend = self.backend(tier);
        let exports = component
            .component_type()
            .exports(&backend.engine)
            .filter_map(|(name, _)| Slot::from_export(name))
            .collect();
        let pre =
            backend
                .linker
                .instantiate_pre(&component)
                .map_err(|e| PluginError::WrongWorld {
                    plugin: id.to_string(),
                    slot: "any".into(),
                    cause: format!("it imports what the sandbox does not provide: {e:#}"),
                })?;
        tracing::debug!(plugin = %id, ?compile_time, from_cache, ?tier, "plugin compiled");
        Ok(Compiled {
            pre,
            exports,
            compile_time,
            from_cache,
        })
    }

    fn backend(&self, tier: Tier) -> &Backend {
        match tier {
            Tier::Quick => &self.quick,
            Tier::Optimised => &self.optimised,
        }
    }

    /// Runs one call in a fresh bounded instance and maps every failure to a typed error.
    /// `run` picks the slot's function from `exports` and calls it in a fresh instance of
    /// `pre`; `native` makes the direct call for a [`NativePolicy`]. Either returns `None`
    /// when the plugin serves another slot.
    fn call<I, T>(
        &self,
        plugin: &Plugin,
        input: I,
        check: impl FnOnce(&T) -> Result<(), validate::Problem>,
        run: impl FnOnce(
            &mut Store<Sandbox>,
            &InstancePre<Sandbox>,
            &VersionedExports,
            I,
        ) -> Option<wasmtime::Result<(Duration, Result<T, String>)>>,
        native: impl FnOnce(&NativePolicy, I) -> Option<Result<T, String>>,
    ) -> Result<Decision<T>, PluginError> {
        let (pre, exports) = match &plugin.pre {
            SlotPre::Wasm { instance, exports } => (instance, exports),
            SlotPre::Native(policy) => {
                let started = Instant::now();
                let result = native(policy, input).ok_or_else(|| Self::misrouted(plugin))?;
                return self.finish(plugin, check, started, Ok((Duration::ZERO, result)), None);
            }
        };
        let mut store = Store::new(
            &self.backend(plugin.tier).engine,
            Sandbox::new(self.limits.memory_bytes, self.limits.stderr_bytes),
        );
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        store.epoch_deadline_trap();
        let started = Instant::now();
        let outcome =
            run(&mut store, pre, exports, input).ok_or_else(|| Self::misrouted(plugin))?;
        let result = self.finish(plugin, check, started, outcome, Some(&store));
        // The instance's memory is reset for the pool when the store drops: part of what
        // the call costs, so it is timed and counted with it.
        let dropping = Instant::now();
        drop(store);
        let teardown = dropping.elapsed();
        let stats = self.stats(plugin.slot);
        let nanos = teardown.as_nanos() as u64;
        stats.nanos.fetch_add(nanos, Ordering::Relaxed);
        stats.teardown_nanos.fetch_add(nanos, Ordering::Relaxed);
        result.map(|mut decision| {
            decision.cost.teardown = teardown;
            decision
        })
    }

    /// Counts a finished call and turns its outcome into a validated decision or an error.
    fn finish<T>(
        &self,
        plugin: &Plugin,
        check: impl FnOnce(&T) -> Result<(), validate::Problem>,
        started: Instant,
        outcome: wasmtime::Result<(Duration, Result<T, String>)>,
        store: Option<&Store<Sandbox>>,
    ) -> Result<Decision<T>, PluginError> {
        let total = started.elapsed();
        let stats = self.stats(plugin.slot);
        stats.calls.fetch_add(1, Ordering::Relaxed);
        stats
            .nanos
            .fetch_add(total.as_nanos() as u64, Ordering::Relaxed);
        if let Ok((instantiate, _)) = &outcome {
            stats
                .instantiate_nanos
                .fetch_add(instantiate.as_nanos() as u64, Ordering::Relaxed);
        }
        let result = match outcome {
            Ok((instantiate, Ok(value))) => match check(&value) {
                Ok(()) => Ok(Decision {
                    value,
                    cost: CallCost {
                        instantiate,
                        call: total.saturating_sub(instantiate),
                        teardown: Duration::ZERO,
                    },
                }),
                Err(problem) => Err(Self::invalid(plugin, problem)),
            },
            Ok((_, Err(message))) => Err(PluginError::Refused {
                plugin: plugin.id.to_string(),
                slot: plugin.slot,
                message,
            }),
            Err(err) => Err(self.classify(plugin, store, err)),
        };
        if result.is_err() {
            stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn misrouted(plugin: &Plugin) -> PluginError {
        PluginError::WrongWorld {
            plugin: plugin.id.to_string(),
            slot: plugin.slot.name().into(),
            cause: "called through another slot's entry point".into(),
        }
    }

    fn classify(
        &self,
        plugin: &Plugin,
        store: Option<&Store<Sandbox>>,
        err: wasmtime::Error,
    ) -> PluginError {
        let data = store.map(|s| s.data());
        let (id, slot) = (plugin.id.to_string(), plugin.slot);
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Deadline {
                plugin: id,
                slot,
                limit: self.limits.deadline(),
            },
            Some(Trap::StackOverflow) => PluginError::Stack {
                plugin: id,
                slot,
                limit_bytes: self.limits.stack_bytes,
            },
            _ if data.is_some_and(|d| d.memory.exceeded) => PluginError::Memory {
                plugin: id,
                slot,
                limit_bytes: self.limits.memory_bytes,
            },
            Some(trap) => PluginError::Trap {
                plugin: id,
                slot,
                trap: trap.to_string(),
                stderr: data.map(|d| d.stderr()).unwrap_or_default(),
            },
            None => PluginError::Instantiate {
                plugin: id,
                slot,
                cause: format!("{err:#}"),
            },
        }
    }

    fn invalid(plugin: &Plugin, problem: String) -> PluginError {
        PluginError::InvalidOutput {
            plugin: plugin.id.to_string(),
            slot: plugin.slot,
            problem,
        }
    }
}

/// A plugin loaded from a file, with the file's stamp at the time.
type LoadedFile = (FileStamp, Arc<Plugin>);

/// A file's size and modification time: when both are unchanged, so is the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: std::time::SystemTime,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok()?,
        })
    }
}

fn plugin_id(name: &str, bytes: &[u8]) -> PluginId {
    PluginId {
        name: name.to_string(),
        hash: content_hash(bytes),
    }
}

/// The sha256 of component bytes, hex: a plugin's identity.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn describe_exports(slots: &[String]) -> String {
    if slots.is_empty() {
        "it exports no redial:policy slot interface".into()
    } else {
        format!("it exports {}", slots.join(", "))
    }
}
