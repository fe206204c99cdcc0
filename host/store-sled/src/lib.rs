//! The durable store: sled trees for case projections, journals, timers, the outbox,
//! indexes and counters.
//!
//! Every change the engine makes is one [`Step`], logged as one write-ahead record and then
//! applied across the trees (see `wal.rs`): a state change, the timer it schedules and the
//! side effects it causes are on disk together or not at all. [`Store::flush`] makes
//! committed steps durable; the engine calls it before answering and before delivering, so
//! a process killed at any point restarts with every acknowledged signal, timer and
//! undelivered effect intact.
#![deny(missing_docs)]

mod durable;
mod generations;
mod rewrite;
mod wal;

pub use generations::size_on_disk;
use redial_store_format::{decode, encode};
pub use rewrite::Copied;

use redial_core::records::{
    CaseRecord, DeadLetter, Funnel, IgnoredSignal, JournalEntry, OutboxItem, PluginVersion,
    SealedSecret, TenantCounters, Timer, TimerKind, Tombstone, Trial,
};
use redial_core::store::{
    CallerCases, Durable, NewEffects, PendingStep, Purge, Step, Store, StoreError, StoreSizes,
    Ticket,
};

use arc_swap::ArcSwap;
use sled::Tree;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;
use wal::{TreeId, WriteSet};

/// The core's [`Store`] port on an embedded sled database. Cheap to clone: every clone is
/// the same database.
#[derive(Clone)]
pub struct SledStore {
    /// The live generation's trees. [`SledStore::rewrite`] copies the live data into a
    /// fresh generation and swaps it in; readers never wait for it.
    trees: Arc<ArcSwap<Trees>>,
    /// Held shared by every write and alone by a rewrite, so a rewrite copies a store no
    /// step is changing.
    writes: Arc<RwLock<()>>,
    /// The folder the store was opened on (its generations live in it).
    dir: PathBuf,
    /// Steps re-applied from their write-ahead records when the store opened.
    recovered: usize,
    /// Why the store stopped taking steps, once one failed part way (see `commit`).
    halted: Arc<std::sync::OnceLock<String>>,
    /// The cases the latest steps wrote, decoded: a delivery reads back the case its
    /// signal's step wrote a moment before, and is spared the read and the JSON decode.
    /// Only a step that applied all its writes fills it (steps of one case are ordered by
    /// the tenant lock, so it never goes back to an older version); a failed step empties it.
    recent: Arc<quick_cache::sync::Cache<String, CaseRecord>>,
    /// Each tenant's counters as the latest step left them, kept the same way: every
    /// signal's step reads them.
    recent_counters: Arc<quick_cache::sync::Cache<String, TenantCounters>>,
    group: Arc<GroupFlush>,
    new_effects: Arc<NewEffects>,
}

/// One generation of the store: a sled database and its trees.
pub(crate) struct Trees {
    db: sled::Db,
    /// Which generation (see `generations.rs`).
    generation: u64,
    /// Added to sled's ids, which start again at zero in a new generation, so ids stay
    /// unique and rising across rewrites.
    id_base: u64,
    cases: Tree,
    journal: Tree,
    timers: Tree,
    outbox: Tree,
    /// Dead letters by `tenant \0 outbox id`.
    dead_letters: Tree,
    /// Opt-outs by `tenant \0 suppression id` (a keyed hash, never the number).
    optout: Tree,
    ignored: Tree,
    counters: Tree,
    meta: Tree,
    inbound: Tree,
    tokens: Tree,
    /// Tenant secrets, sealed, by `tenant \0 name`.
    secrets: Tree,
    plugin_versions: Tree,
    trials: Tree,
    /// Each tenant's counts of purged cases and ignored signals (see [`Purge`]).
    rollups: Tree,
    /// Deleted tenants awaiting their purge, by tenant.
    tombstones: Tree,
    /// Every case of a caller, oldest first: `tenant\0caller\0<opened_ms BE><case id>` →
    /// case id. Lets a signal find the caller's history without scanning the tenant.
    by_caller: Tree,
    /// Write-ahead records of steps whose writes a flush has not yet covered.
    wal: Tree,
}

impl Trees {
    /// Opens generation `generation`'s database at `path`.
    fn open(path: &Path, generation: u64) -> Result<Trees, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(sled_err)?;
        Trees::from_db(db, generation)
    }

    /// Generation `generation`'s trees in `db`.
    fn from_db(db: sled::Db, generation: u64) -> Result<Trees, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        let meta = tree("meta")?;
        let id_base = meta
            .get(ID_BASE)
            .map_err(sled_err)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(Trees {
            generation,
            id_base,
            cases: tree("cases")?,
            journal: tree("journal")?,
            timers: tree("timers")?,
            outbox: tree("outbox")?,
            dead_letters: tree("dead_letters")?,
            optout: tree("optout")?,
            ignored: tree("ignored")?,
            counters: tree("counters")?,
            meta,
            inbound: tree("inbound")?,
            tokens: tree("tokens")?,
            secrets: tree("secrets")?,
            plugin_versions: tree("plugin_versions")?,
            trials: tree("trials")?,
            rollups: tree("rollups")?,
            tombstones: tree("tombstones")?,
            by_caller: tree("by_caller")?,
            wal: tree("wal")?,
            db,
        })
    }

    /// A new id, unique and higher than every one given before in this store.
    fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.id_base + self.db.generate_id().map_err(sled_err)?)
    }

    /// The tree a write goes to; `None` for [`TreeId::Open`], which only records logged by
    /// earlier versions name (see [`SledStore::apply`]).
    fn tree(&self, id: TreeId) -> Option<&Tree> {
        Some(match id {
            TreeId::Cases => &self.cases,
            TreeId::Journal => &self.journal,
            TreeId::Timers => &self.timers,
            TreeId::Outbox => &self.outbox,
            TreeId::DeadLetters => &self.dead_letters,
            TreeId::Open => return None,
            TreeId::Optout => &self.optout,
            TreeId::Ignored => &self.ignored,
            TreeId::Counters => &self.counters,
            TreeId::Meta => &self.meta,
            TreeId::Inbound => &self.inbound,
            TreeId::ByCaller => &self.by_caller,
            TreeId::Rollups => &self.rollups,
        })
    }
}

/// The `meta` key holding a generation's [`Trees::id_base`].
const ID_BASE: &str = "id-base";

/// How long a flush waits for steps already under way to commit, so that one fsync covers
/// them too. A flush with no step under way starts at once. A millisecond is a fraction of
/// an fsync on a local disk, and it lets concurrent requests share the fsync instead of
/// queueing for the next one (`redial bench ingest --clients 8` shows the difference).
pub const GATHER: Duration = Duration::from_millis(1);

/// A step under way (see [`Store::step_started`]): a flush waits for it while it lives.
struct Gathering(Arc<GroupFlush>);

impl Drop for Gathering {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _state = self.0.state.lock().unwrap();
            self.0.gathered.notify_all();
        }
    }
}

/// Group commit: one fsync covers every step committed before it began, and callers that
/// arrive while one is running wait for it (or the next) instead of each starting their
/// own. Under load many requests share one fsync.
#[derive(Debug, Default)]
struct GroupFlush {
    /// What the flushes so far have made durable, for waiters without a thread.
    published: durable::Published,
    /// Steps committed so far (counted after their writes applied).
    committed: AtomicU64,
    /// Write-ahead records of applied steps, to remove once a flush covers them.
    applied: Mutex<Vec<u64>>,
    /// `(steps known durable, a flush is running)`.
    state: Mutex<(u64, bool)>,
    done: Condvar,
    /// Steps begun (see [`Store::step_started`]) and not yet committed.
    pending: AtomicU64,
    /// Signalled when `pending` drops to zero.
    gathered: Condvar,
}

/// How many recently written cases [`Store::case`] answers from memory (about 1 KB each),
/// and tenants whose counters [`Store::counters`] does.
const RECENT_CASES: usize = 4096;

/// What [`Store::commit`] writes for a step.
struct StepWrites {
    set: WriteSet,
    outbox_ids: Vec<u64>,
    counters: Option<(String, TenantCounters)>,
}

/// The tree where versions before the open-case lookup moved to `by_caller` kept each
/// caller's open case; only their write-ahead records still name it.
const LEGACY_OPEN_TREE: &str = "open";

fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn timer_key(due_ms: i64, case_id: &str) -> Vec<u8> {
    let mut k = (due_ms.max(0) as u64).to_be_bytes().to_vec();
    k.extend_from_slice(case_id.as_bytes());
    k
}

/// Where a caller's entries in `by_caller` start.
fn caller_prefix(tenant: &str, caller: &str) -> Vec<u8> {
    let mut k = pair(tenant, caller);
    k.push(0);
    k
}

fn caller_key(case: &CaseRecord) -> Vec<u8> {
    let mut k = caller_prefix(&case.tenant, &case.caller);
    k.extend_from_slice(&(case.opened_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(case.id.as_bytes());
    k
}

fn dead_letter_key(tenant: &str, id: u64) -> Vec<u8> {
    let mut k = pair(tenant, "");
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn journal_key(case_id: &str, seq: u32) -> Vec<u8> {
    let mut k = pair(case_id, "");
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// sled's failures, as the port reports them.
fn sled_err(err: sled::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, on its live generation (see
    /// `generations.rs`), completing any step a crash cut short.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let generation = generations::live(dir)?;
        let trees = Trees::open(&generations::path(dir, generation), generation)?;
        generations::remove_others(dir, generation);
        let mut store = SledStore {
            trees: Arc::new(ArcSwap::from_pointee(trees)),
            writes: Arc::default(),
            dir: dir.to_path_buf(),
            recovered: 0,
            halted: Arc::default(),
            recent: Arc::new(quick_cache::sync::Cache::new(RECENT_CASES)),
            recent_counters: Arc::new(quick_cache::sync::Cache::new(RECENT_CASES)),
            group: Arc::default(),
            new_effects: Arc::default(),
        };
        store.recovered = store.replay_wal()?;
        // The open-case index of earlier versions: `by_caller` answers it now.
        store.t().db.drop_tree(LEGACY_OPEN_TREE).map_err(sled_err)?;
        store.index_callers()?;
        store.count_states()?;
        Ok(store)
    }

    /// The live generation's trees.
    fn t(&self) -> arc_swap::Guard<Arc<Trees>> {
        self.trees.load()
    }

    /// Counts cases by state into each tenant's counters, once, for a store written before
    /// the counts lived there: older stores kept them under keys of their own
    /// (`tenant\0state\0name`, dropped here), or had none.
    fn count_states(&self) -> Result<(), StoreError> {
        const DONE: &[u8] = b"\0states-in-counters";
        if self.t().counters.contains_key(DONE).map_err(sled_err)? {
            return Ok(());
        }
        let mut counts: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
        for case in self.cases(None)? {
            *counts
                .entry(case.tenant)
                .or_default()
                .entry(case.state.name().to_string())
                .or_default() += 1;
        }
        // Tenant ids hold no NUL; every key with one belongs to the old layout.
        for kv in self.t().counters.iter() {
            let key = kv.map_err(sled_err)?.0;
            if key.contains(&0) {
                self.t().counters.remove(key).map_err(sled_err)?;
            }
        }
        for (tenant, states) in counts {
            let counters = TenantCounters {
                states,
                ..self.counters(&tenant)?
            };
            self.t()
                .counters
                .insert(tenant.as_bytes(), encode(&counters))
                .map_err(sled_err)?;
        }
        self.t().counters.insert(DONE, &[]).map_err(sled_err)?;
        self.t().counters.flush().map_err(sled_err)?;
        Ok(())
    }

    /// Builds the caller index for a store written before it existed.
    fn index_callers(&self) -> Result<(), StoreError> {
        if !self.t().by_caller.is_empty() || self.t().cases.is_empty() {
            return Ok(());
        }
        for case in self.cases(None)? {
            self.t()
                .by_caller
                .insert(caller_key(&case), case.id.as_bytes())
                .map_err(sled_err)?;
        }
        self.t().by_caller.flush().map_err(sled_err)?;
        Ok(())
    }

    /// Every write a step makes, the outbox ids given to its effects, and the tenant's
    /// counters as the step leaves them.
    fn step_writes(&self, step: &Step) -> Result<StepWrites, StoreError> {
        let trees = self.t();
        let outbox_ids: Vec<u64> = step
            .effects
            .iter()
            .map(|_| trees.next_id())
            .collect::<Result<_, _>>()?;
        let mut w = WriteSet::default();
        self.write_case(step, &mut w)?;
        let counters = self.write_counters(step, &mut w)?;
        for (item, id) in step.effects.iter().zip(&outbox_ids) {
            w.insert(TreeId::Outbox, id.to_be_bytes(), encode(item));
        }
        if let Some(id) = step.consumed {
            w.remove(TreeId::Outbox, id.to_be_bytes());
        }
        if let Some(dead) = &step.dead_letter {
            w.remove(TreeId::Outbox, dead.id.to_be_bytes());
            let key = dead_letter_key(&dead.item.tenant, dead.id);
            w.insert(TreeId::DeadLetters, key, encode(dead));
        }
        if let Some((tenant, id)) = &step.revived {
            w.remove(TreeId::DeadLetters, dead_letter_key(tenant, *id));
        }
        if let Some((tenant, caller)) = &step.opt_out {
            w.insert(TreeId::Optout, pair(tenant, caller), []);
        }
        if let Some((tenant, record)) = &step.ignored {
            let id = self.t().next_id()?;
            w.insert(
                TreeId::Ignored,
                pair(tenant, &format!("{id:020}")),
                encode(record),
            );
        }
        if let Some(e) = &step.inbound {
            w.insert(
                TreeId::Inbound,
                pair(&e.tenant, &e.id),
                e.at_ms.to_be_bytes(),
            );
        }
        if let Some(ms) = step.clock_ms {
            w.insert(TreeId::Meta, "clock", ms.to_be_bytes());
        }
        Ok(StepWrites {
            set: w,
            outbox_ids,
            counters,
        })
    }

    fn apply(&self, w: &WriteSet) -> Result<(), StoreError> {
        for (id, key, value) in w.iter() {
            let legacy;
            let trees = self.t();
            let tree = match trees.tree(id) {
                Some(tree) => tree,
                None => {
                    // Replaying an earlier version's record: the tree is dropped once the
                    // replay is done.
                    legacy = self.t().db.open_tree(LEGACY_OPEN_TREE).map_err(sled_err)?;
                    &legacy
                }
            };
            match value {
                Some(value) => tree.insert(key, value).map_err(sled_err)?,
                None => tree.remove(key).map_err(sled_err)?,
            };
        }
        Ok(())
    }

    /// Logs a step's writes as one write-ahead record, then applies them; returns the
    /// record's id. Once the record may be in the log, a failure stops later steps: they
    /// could write the same keys, and replaying this older record at the next open would
    /// then put back values they replaced.
    fn log_and_apply(&self, w: &WriteSet) -> Result<u64, StoreError> {
        if let Some(why) = self.halted.get() {
            return Err(StoreError::Halted(why.clone()));
        }
        let record = self.t().next_id()?;
        let logged = self
            .t()
            .wal
            .insert(record.to_be_bytes(), w.encode())
            .map_err(sled_err)
            .and_then(|_| self.apply(w));
        if let Err(err) = logged {
            self.halt(&err);
            return Err(err);
        }
        Ok(record)
    }

    /// Lists an applied record for the next flush to remove, and counts its step.
    fn applied(&self, record: u64) {
        self.group.applied.lock().unwrap().push(record);
        // Counted before it is listed: a flush begun after `take_new_effects` covers it.
        self.group.committed.fetch_add(1, Ordering::SeqCst);
    }

    /// Every write a purge makes: each case with everything keyed by or naming it, the
    /// ignored signals it selects, and the tenant's rollup.
    fn purge_writes(&self, purge: &Purge) -> Result<WriteSet, StoreError> {
        let mut w = WriteSet::default();
        let ids: std::collections::HashSet<&str> =
            purge.cases.iter().map(|c| c.id.as_str()).collect();
        for case in &purge.cases {
            w.remove(TreeId::Cases, case.id.as_bytes());
            w.remove(TreeId::ByCaller, caller_key(case));
            if let Some(t) = case.timer {
                w.remove(TreeId::Timers, timer_key(t.due_ms, &case.id));
            }
            for key in self.t().journal.scan_prefix(pair(&case.id, "")).keys() {
                w.remove(TreeId::Journal, key.map_err(sled_err)?.to_vec());
            }
        }
        if !ids.is_empty() {
            for kv in self.t().outbox.iter() {
                let (key, value) = kv.map_err(sled_err)?;
                let item: OutboxItem = decode("outbox item", &value)?;
                if item.tenant == purge.tenant && ids.contains(item.case_id.as_str()) {
                    w.remove(TreeId::Outbox, key.to_vec());
                }
            }
            for kv in self.t().dead_letters.scan_prefix(pair(&purge.tenant, "")) {
                let (key, value) = kv.map_err(sled_err)?;
                let dead: DeadLetter = decode("dead letter", &value)?;
                if ids.contains(dead.item.case_id.as_str()) {
                    w.remove(TreeId::DeadLetters, key.to_vec());
                }
            }
        }
        if purge.ignored_before_ms.is_some() || purge.ignored_of.is_some() {
            for kv in self.t().ignored.scan_prefix(pair(&purge.tenant, "")) {
                let (key, value) = kv.map_err(sled_err)?;
                let ignored: IgnoredSignal = decode("ignored signal", &value)?;
                let old = purge.ignored_before_ms.is_some_and(|t| ignored.at_ms < t);
                if old || purge.ignored_of.as_ref() == Some(&ignored.caller) {
                    w.remove(TreeId::Ignored, key.to_vec());
                }
            }
        }
        w.insert(
            TreeId::Rollups,
            purge.tenant.as_bytes(),
            encode(&purge.rollup),
        );
        Ok(w)
    }

    /// Takes no more steps until the store is reopened (which replays what the log holds).
    fn halt(&self, err: &StoreError) {
        tracing::error!(cause = %err, "the store failed part way through a step; it takes no more steps until it is reopened");
        // The first failure is the one a reopen must complete.
        let _ = self.halted.set(err.to_string());
        // The trees may now hold some of the step's writes and not others: read them.
        self.recent.clear();
        self.recent_counters.clear();
    }

    /// Removes the write-ahead records of steps a flush has made durable, in the order
    /// their steps applied (see `wal.rs`), or keeps them listed for the next flush when
    /// this one failed.
    fn forget_applied(&self, applied: Vec<u64>, flushed: bool) {
        if !flushed {
            self.group.applied.lock().unwrap().extend(applied);
            return;
        }
        for record in applied {
            if let Err(err) = self.t().wal.remove(record.to_be_bytes()) {
                // Going on would let an older record outlive a newer one of the same keys.
                self.halt(&sled_err(err));
                return;
            }
        }
    }

    /// Applies the write-ahead records a crash left (steps logged but perhaps not wholly
    /// applied), then removes them; returns how many there were.
    fn replay_wal(&self) -> Result<usize, StoreError> {
        let mut replayed = 0;
        for kv in self.t().wal.iter() {
            let (_, record) = kv.map_err(sled_err)?;
            self.apply(&WriteSet::decode(&record)?)?;
            replayed += 1;
        }
        if replayed > 0 {
            self.t().db.flush().map_err(sled_err)?;
            self.t().wal.clear().map_err(sled_err)?;
            self.t().db.flush().map_err(sled_err)?;
            tracing::info!(steps = replayed, "re-applied steps logged before a crash");
        }
        Ok(replayed)
    }
}

impl Store for SledStore {
    fn ticket(&self) -> Ticket {
        self.current_ticket()
    }

    fn durable(&self, ticket: Ticket) -> Durable {
        Box::pin(self.clone().wait_durable(ticket))
    }

    fn step_started(&self) -> PendingStep {
        self.group.pending.fetch_add(1, Ordering::SeqCst);
        PendingStep::new(Gathering(self.group.clone()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        let g = &self.group;
        let target = g.committed.load(Ordering::SeqCst);
        let mut state = g.state.lock().unwrap();
        loop {
            if state.0 >= target {
                return Ok(());
            }
            if state.1 {
                state = g.done.wait(state).unwrap();
                continue;
            }
            state.1 = true;
            state = g
                .gathered
                .wait_timeout_while(state, GATHER, |_| g.pending.load(Ordering::SeqCst) > 0)
                .unwrap()
                .0;
            drop(state);
            // Taken before `covers`: a step is listed only once its writes are applied.
            let applied = std::mem::take(&mut *g.applied.lock().unwrap());
            let covers = g.committed.load(Ordering::SeqCst);
            let result = self.t().db.flush();
            // Before the next flush can begin, so records are removed in the order their
            // steps applied.
            self.forget_applied(applied, result.is_ok());
            state = g.state.lock().unwrap();
            state.1 = false;
            if result.is_ok() {
                state.0 = state.0.max(covers);
            }
            g.published.flushed(&result, state.0);
            g.done.notify_all();
            result.map_err(sled_err)?;
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.t().db.flush().map_err(sled_err)?;
        Ok(())
    }

    fn commit(&self, step: &Step) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let StepWrites {
            set: w,
            outbox_ids,
            counters,
        } = self.step_writes(step)?;
        let record = self.log_and_apply(&w)?;
        if let Some(case) = &step.case {
            self.recent.insert(case.id.clone(), case.clone());
        }
        if let Some((tenant, counters)) = counters {
            self.recent_counters.insert(tenant, counters);
        }
        self.applied(record);
        self.new_effects
            .record(outbox_ids.into_iter().zip(step.effects.iter().cloned()));
        Ok(())
    }

    fn recovered_steps(&self) -> usize {
        self.recovered
    }

    fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        if let Some(case) = self.recent.get(id) {
            return Ok(Some(case));
        }
        self.t()
            .cases
            .get(id)
            .map_err(sled_err)?
            .map(|v| decode("case", &v))
            .transpose()
    }

    fn cases(&self, tenant: Option<&str>) -> Result<Vec<CaseRecord>, StoreError> {
        let iter = match tenant {
            Some(t) => self.t().cases.scan_prefix(format!("{t}-")),
            None => self.t().cases.iter(),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (_, v) = kv.map_err(sled_err)?;
            let case: CaseRecord = decode("case", &v)?;
            if tenant.is_none_or(|t| case.tenant == t) {
                out.push(case);
            }
        }
        out.sort_by_key(|c| (c.opened_ms, c.id.clone()));
        Ok(out)
    }

    fn journal(&self, case_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut entries = Vec::new();
        for kv in self.t().journal.scan_prefix(pair(case_id, "")) {
            let value = kv.map_err(sled_err)?.1;
            // One record per step (a list); the earliest stores held one per event, as an
            // unversioned JSON object.
            if value.first() == Some(&b'{') {
                entries.push(decode("journal entry", &value)?);
            } else {
                entries.extend(decode::<Vec<JournalEntry>>("journal entries", &value)?);
            }
        }
        Ok(entries)
    }

    fn forget_inbound(&self, before_ms: i64, now_ms: i64) -> Result<usize, StoreError> {
        let _writing = self.writes.read().unwrap();
        let mut forgotten = 0;
        for kv in self.t().inbound.iter() {
            let (key, at) = kv.map_err(sled_err)?;
            match <[u8; 8]>::try_from(&at[..]).map(i64::from_be_bytes) {
                Ok(at) if at < before_ms => {
                    self.t().inbound.remove(key).map_err(sled_err)?;
                    forgotten += 1;
                }
                Ok(_) => {}
                // Written without a time: its window starts now.
                Err(_) => {
                    self.t()
                        .inbound
                        .insert(key, &now_ms.to_be_bytes())
                        .map_err(sled_err)?;
                }
            }
        }
        Ok(forgotten)
    }

    fn seen_inbound(&self, tenant: &str, event_id: &str) -> Result<bool, StoreError> {
        self.t()
            .inbound
            .contains_key(pair(tenant, event_id))
            .map_err(sled_err)
    }

    fn opted_out(&self, tenant: &str, entry: &str) -> Result<bool, StoreError> {
        self.t()
            .optout
            .contains_key(pair(tenant, entry))
            .map_err(sled_err)
    }

    fn caller_cases(&self, tenant: &str, caller: &str) -> Result<CallerCases, StoreError> {
        let mut cases = CallerCases::default();
        for kv in self
            .t()
            .by_caller
            .scan_prefix(caller_prefix(tenant, caller))
        {
            let id = kv.map_err(sled_err)?.1;
            match self.case(&String::from_utf8_lossy(&id))? {
                Some(case) if case.state.is_open() => cases.open = Some(case),
                Some(case) => cases.others.push(case),
                None => {}
            }
        }
        Ok(cases)
    }

    fn due_timers(&self, now_ms: i64) -> Result<Vec<(String, Timer)>, StoreError> {
        let end = ((now_ms.max(0) as u64) + 1).to_be_bytes();
        let mut out = Vec::new();
        for kv in self.t().timers.range(..end.as_slice()) {
            let (k, v) = kv.map_err(sled_err)?;
            let due = i64::from_be_bytes(k[..8].try_into().unwrap());
            let kind: TimerKind = decode("timer", &v)?;
            out.push((
                String::from_utf8_lossy(&k[8..]).into_owned(),
                Timer { due_ms: due, kind },
            ));
        }
        Ok(out)
    }

    fn next_timer_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .t()
            .timers
            .first()
            .map_err(sled_err)?
            .map(|(k, _)| i64::from_be_bytes(k[..8].try_into().unwrap())))
    }

    fn outbox_where(
        &self,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t().outbox.iter() {
            let (k, v) = kv.map_err(sled_err)?;
            let id = u64::from_be_bytes(k.as_ref().try_into().unwrap());
            if keep(id) {
                out.push((id, decode("outbox item", &v)?));
            }
        }
        Ok(out)
    }

    fn track_new_effects(&self) {
        self.new_effects.track();
    }

    fn take_new_effects(&self) -> Option<Vec<(u64, OutboxItem)>> {
        self.new_effects.take()
    }

    fn in_outbox(&self, id: u64) -> Result<bool, StoreError> {
        self.t()
            .outbox
            .contains_key(id.to_be_bytes())
            .map_err(sled_err)
    }

    fn outbox_len(&self) -> usize {
        self.t().outbox.len()
    }

    fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.t()
            .dead_letters
            .scan_prefix(pair(tenant, ""))
            .map(|kv| decode("dead letter", &kv.map_err(sled_err)?.1))
            .collect()
    }

    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for key in self.t().dead_letters.iter().keys() {
            let key = key.map_err(sled_err)?;
            let tenant = key.split(|b| *b == 0).next().unwrap_or_default();
            *counts
                .entry(String::from_utf8_lossy(tenant).into_owned())
                .or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    fn ignored(&self, tenant: &str) -> Result<Vec<IgnoredSignal>, StoreError> {
        self.t()
            .ignored
            .scan_prefix(pair(tenant, ""))
            .map(|kv| decode("ignored signal", &kv.map_err(sled_err)?.1))
            .collect()
    }

    fn counters(&self, tenant: &str) -> Result<TenantCounters, StoreError> {
        if let Some(counters) = self.recent_counters.get(tenant) {
            return Ok(counters);
        }
        Ok(self
            .t()
            .counters
            .get(tenant)
            .map_err(sled_err)?
            .map(|v| decode("counters", &v))
            .transpose()?
            .unwrap_or_default())
    }

    fn put_secret(
        &self,
        tenant: &str,
        name: &str,
        secret: &SealedSecret,
    ) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        self.t()
            .secrets
            .insert(pair(tenant, name), encode(secret))
            .map_err(sled_err)?;
        self.t().secrets.flush().map_err(sled_err)?;
        Ok(())
    }

    fn secrets(&self, tenant: &str) -> Result<Vec<(String, SealedSecret)>, StoreError> {
        let prefix = pair(tenant, "");
        self.t()
            .secrets
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(sled_err)?;
                let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((name, decode("secret", &v)?))
            })
            .collect()
    }

    fn delete_secrets(&self, tenant: &str, name: Option<&str>) -> Result<bool, StoreError> {
        let _writing = self.writes.read().unwrap();
        let keys: Vec<sled::IVec> = match name {
            Some(name) => vec![pair(tenant, name).into()],
            None => self
                .t()
                .secrets
                .scan_prefix(pair(tenant, ""))
                .keys()
                .collect::<Result<_, _>>()
                .map_err(sled_err)?,
        };
        let mut any = false;
        for key in keys {
            any |= self.t().secrets.remove(key).map_err(sled_err)?.is_some();
        }
        self.t().secrets.flush().map_err(sled_err)?;
        Ok(any)
    }

    fn put_token(&self, token_hash: &str, tenant: &str) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        self.t()
            .tokens
            .insert(token_hash, tenant.as_bytes())
            .map_err(sled_err)?;
        self.t().tokens.flush().map_err(sled_err)?;
        Ok(())
    }

    fn token_tenant(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .t()
            .tokens
            .get(token_hash)
            .map_err(sled_err)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn revoke_tokens(&self, tenant: &str) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        for kv in self.t().tokens.iter() {
            let (k, v) = kv.map_err(sled_err)?;
            if v == tenant.as_bytes() {
                self.t().tokens.remove(k).map_err(sled_err)?;
            }
        }
        self.t().tokens.flush().map_err(sled_err)?;
        Ok(())
    }

    fn plugin_versions(&self, tenant: &str, slot: &str) -> Result<Vec<PluginVersion>, StoreError> {
        Ok(self
            .t()
            .plugin_versions
            .get(pair(tenant, slot))
            .map_err(sled_err)?
            .map(|v| decode("plugin versions", &v))
            .transpose()?
            .unwrap_or_default())
    }

    fn set_plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
        versions: &[PluginVersion],
    ) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        self.t()
            .plugin_versions
            .insert(pair(tenant, slot), encode(&versions.to_vec()))
            .map_err(sled_err)?;
        self.t().plugin_versions.flush().map_err(sled_err)?;
        Ok(())
    }

    fn trial(&self, tenant: &str, slot: &str) -> Result<Option<Trial>, StoreError> {
        (self.t().trials.get(pair(tenant, slot)).map_err(sled_err)?)
            .map(|v| decode("trial", &v))
            .transpose()
    }

    fn set_trial(&self, tenant: &str, slot: &str, trial: Option<&Trial>) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let trials = &self.t().trials;
        match trial {
            Some(trial) => trials.insert(pair(tenant, slot), encode(trial)),
            None => trials.remove(pair(tenant, slot)),
        }
        .map_err(sled_err)?;
        trials.flush().map_err(sled_err)?;
        Ok(())
    }

    fn purge(&self, purge: &Purge) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let w = self.purge_writes(purge)?;
        let record = self.log_and_apply(&w)?;
        for case in &purge.cases {
            self.recent.remove(&case.id);
        }
        self.applied(record);
        self.flush()
    }

    fn put_tombstone(&self, tenant: &str, tombstone: &Tombstone) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let trees = self.t();
        trees
            .tombstones
            .insert(tenant.as_bytes(), encode(tombstone))
            .map_err(sled_err)?;
        trees.tombstones.flush().map_err(sled_err)?;
        Ok(())
    }

    fn tombstones(&self) -> Result<Vec<(String, Tombstone)>, StoreError> {
        self.t()
            .tombstones
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(sled_err)?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    decode("tombstone", &v)?,
                ))
            })
            .collect()
    }

    fn forget_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let trees = self.t();
        let prefix = pair(tenant, "");
        for tree in [
            &trees.inbound,
            &trees.optout,
            &trees.ignored,
            &trees.dead_letters,
            &trees.secrets,
            &trees.plugin_versions,
            &trees.trials,
            &trees.by_caller,
        ] {
            for key in tree.scan_prefix(&prefix).keys() {
                tree.remove(key.map_err(sled_err)?).map_err(sled_err)?;
            }
        }
        for tree in [&trees.counters, &trees.rollups, &trees.tombstones] {
            tree.remove(tenant.as_bytes()).map_err(sled_err)?;
        }
        for kv in trees.tokens.iter() {
            let (k, v) = kv.map_err(sled_err)?;
            if v == tenant.as_bytes() {
                trees.tokens.remove(k).map_err(sled_err)?;
            }
        }
        self.recent_counters.remove(tenant);
        trees.db.flush().map_err(sled_err)?;
        Ok(())
    }

    fn rewrite(&self) -> Result<(), StoreError> {
        SledStore::rewrite(self).map(|_| ())
    }

    fn sizes(&self) -> Result<StoreSizes, StoreError> {
        let trees = self.t();
        let mut live = 0;
        for name in trees.db.tree_names() {
            if name.as_ref() == b"wal" {
                continue;
            }
            for kv in trees.db.open_tree(&name).map_err(sled_err)?.iter() {
                let (key, value) = kv.map_err(sled_err)?;
                live += (key.len() + value.len()) as u64;
            }
        }
        Ok(StoreSizes {
            on_disk: size_on_disk(&self.dir),
            live,
        })
    }

    fn backup(&self, target: &Path) -> Result<u64, StoreError> {
        Ok(SledStore::backup(self, target)?.bytes_after)
    }

    fn opt_outs(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut entries = Vec::new();
        for key in self.t().optout.iter().keys() {
            let key = key.map_err(sled_err)?;
            let text = String::from_utf8_lossy(&key);
            if let Some((tenant, entry)) = text.split_once('\0') {
                entries.push((tenant.to_string(), entry.to_string()));
            }
        }
        Ok(entries)
    }

    fn replace_opt_out(
        &self,
        tenant: &str,
        old: &str,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        let _writing = self.writes.read().unwrap();
        let trees = self.t();
        if let Some(new) = new {
            trees
                .optout
                .insert(pair(tenant, new), &[])
                .map_err(sled_err)?;
        }
        trees.optout.remove(pair(tenant, old)).map_err(sled_err)?;
        trees.optout.flush().map_err(sled_err)?;
        Ok(())
    }

    fn rollup(&self, tenant: &str) -> Result<Funnel, StoreError> {
        Ok(self
            .t()
            .rollups
            .get(tenant)
            .map_err(sled_err)?
            .map(|v| decode("rollup", &v))
            .transpose()?
            .unwrap_or_default())
    }

    fn clock_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .t()
            .meta
            .get("clock")
            .map_err(sled_err)?
            .map(|v| i64::from_be_bytes(v.as_ref().try_into().unwrap())))
    }
}

/// How a step becomes writes: each is read, where it must be, under the tenant lock that
/// orders the tenant's steps.
impl SledStore {
    /// Writes the tenant's counters once: the step's own changes (signals, cases, owners), with
    /// the case's move between states counted in. Returns them as written.
    fn write_counters(
        &self,
        step: &Step,
        w: &mut WriteSet,
    ) -> Result<Option<(String, TenantCounters)>, StoreError> {
        let Some((tenant, updated)) = step.counters_after(|tenant| self.counters(tenant))? else {
            return Ok(None);
        };
        w.insert(TreeId::Counters, tenant.as_bytes(), encode(&updated));
        Ok(Some((tenant, updated)))
    }

    fn write_case(&self, step: &Step, w: &mut WriteSet) -> Result<(), StoreError> {
        let Some(case) = &step.case else {
            return Ok(());
        };
        w.insert(TreeId::Cases, case.id.as_bytes(), encode(case));
        let first_seq = case.journal_len - step.events.len() as u32;
        if first_seq == 0 {
            w.insert(TreeId::ByCaller, caller_key(case), case.id.as_bytes());
        }
        if !step.events.is_empty() {
            // A step's events share one record, keyed by the first one's number: a signal's
            // step appends seven events, and each sled write costs more than its bytes.
            w.insert(
                TreeId::Journal,
                journal_key(&case.id, first_seq),
                encode(&step.events),
            );
        }
        if let Some(old) = step.previous_timer {
            w.remove(TreeId::Timers, timer_key(old.due_ms, &case.id));
        }
        if let Some(t) = case.timer {
            w.insert(
                TreeId::Timers,
                timer_key(t.due_ms, &case.id),
                encode(&t.kind),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
