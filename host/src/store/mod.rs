//! The durable store: sled trees for case projections, journals, timers, the outbox,
//! indexes and counters.
//!
//! Every change the engine makes is one [`Step`], logged as one write-ahead record and then
//! applied across the trees (see `wal.rs`): a state change, the timer it schedules and the
//! side effects it causes are on disk together or not at all. [`Store::flush`] makes
//! committed steps durable; the engine calls it before answering and before delivering, so
//! a process killed at any point restarts with every acknowledged signal, timer and
//! undelivered effect intact.

mod durable;
mod new_effects;
mod records;
mod wal;

pub use durable::Ticket;

pub use records::*;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Tree;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wal::{TreeId, WriteSet};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A record did not decode (written by an incompatible version?).
    #[error("store: cannot decode {what}: {cause}")]
    Decode {
        /// Which record.
        what: String,
        /// serde's message.
        cause: String,
    },
    /// A step failed part way; the store takes no more steps until it is reopened, which
    /// completes that step from its write-ahead record.
    #[error("store: a step failed part way ({0}); restart to complete it from the log")]
    Halted(String),
    /// A flush failed while a request waited for it (see [`Store::durable`]).
    #[error("store: flush failed: {0}")]
    Flush(String),
}

/// One atomic change: written wholly or not at all.
#[derive(Debug, Default)]
pub struct Step {
    /// The case's new projection (its id keys the journal and indexes).
    pub case: Option<CaseRecord>,
    /// The timer the case had before this step (removed from the timer index).
    pub previous_timer: Option<Timer>,
    /// The state the case had before this step (for the per-state case counts); ignored
    /// for a case this step opens.
    pub previous_state: Option<&'static str>,
    /// Journal events to append, in order (numbered from the case's old journal length).
    pub events: Vec<JournalEntry>,
    /// New side effects, each with its idempotency key.
    pub effects: Vec<OutboxItem>,
    /// The outbox item this step consumed (delivered), by outbox key.
    pub consumed: Option<u64>,
    /// A caller who opted out: `(tenant, caller)`.
    pub opt_out: Option<(String, String)>,
    /// A signal that started no case: `(tenant, record)`.
    pub ignored: Option<(String, IgnoredSignal)>,
    /// The tenant's counters after this step, read from the store in this step (under the
    /// tenant's lock), so their per-state counts are current; the store moves the case's
    /// state in them.
    pub counters: Option<(String, TenantCounters)>,
    /// The engine clock to persist (the demo's accelerated clock survives restarts).
    pub clock_ms: Option<i64>,
    /// An inbound event id now processed: `(tenant, provider event id)`.
    pub inbound: Option<(String, String)>,
}

/// A caller's cases, as a new signal or an SMS reply needs them.
#[derive(Debug, Default)]
pub struct CallerCases {
    /// The case still waiting or dialing, which absorbs the caller's signals.
    pub open: Option<CaseRecord>,
    /// The rest, oldest first: the caller's history.
    pub others: Vec<CaseRecord>,
}

/// The embedded database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    cases: Tree,
    journal: Tree,
    timers: Tree,
    outbox: Tree,
    optout: Tree,
    ignored: Tree,
    counters: Tree,
    meta: Tree,
    inbound: Tree,
    tokens: Tree,
    plugin_versions: Tree,
    /// Every case of a caller, oldest first: `tenant\0caller\0<opened_ms BE><case id>` →
    /// case id. Lets a signal find the caller's history without scanning the tenant.
    by_caller: Tree,
    /// Write-ahead records of steps whose writes a flush has not yet covered.
    wal: Tree,
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
    new_effects: Arc<new_effects::NewEffects>,
}

/// How long a flush waits for steps already under way to commit, so that one fsync covers
/// them too. A flush with no step under way starts at once. Measured with `redial bench
/// ingest --clients 8`: about 8% more signals/s and a lower request p99 than no wait.
pub const GATHER: Duration = Duration::from_millis(1);

/// A step under way (see [`Store::step_started`]).
#[must_use]
pub struct PendingStep(Arc<GroupFlush>);

impl Drop for PendingStep {
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

fn journal_key(case_id: &str, seq: u32) -> Vec<u8> {
    let mut k = pair(case_id, "");
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Most records are a few hundred bytes to a few KB: start at 1 KiB rather than grow
    // from serde_json's 128 bytes by doubling.
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, v).expect("records serialize");
    out
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        what: what.to_string(),
        cause: e.to_string(),
    })
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        let tree = |name: &str| db.open_tree(name);
        let mut store = Store {
            cases: tree("cases")?,
            journal: tree("journal")?,
            timers: tree("timers")?,
            outbox: tree("outbox")?,
            optout: tree("optout")?,
            ignored: tree("ignored")?,
            counters: tree("counters")?,
            meta: tree("meta")?,
            inbound: tree("inbound")?,
            tokens: tree("tokens")?,
            plugin_versions: tree("plugin_versions")?,
            by_caller: tree("by_caller")?,
            wal: tree("wal")?,
            recovered: 0,
            halted: Arc::default(),
            recent: Arc::new(quick_cache::sync::Cache::new(RECENT_CASES)),
            recent_counters: Arc::new(quick_cache::sync::Cache::new(RECENT_CASES)),
            group: Arc::default(),
            new_effects: Arc::default(),
            db,
        };
        store.recovered = store.replay_wal()?;
        // The open-case index of earlier versions: `by_caller` answers it now.
        store.db.drop_tree(LEGACY_OPEN_TREE)?;
        store.index_callers()?;
        store.count_states()?;
        Ok(store)
    }

    /// How many of a tenant's cases are in each state, kept up to date by every step (so
    /// `/metrics` does not read every case).
    pub fn case_states(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let states = self.counters(tenant)?.states;
        Ok(states.into_iter().filter(|(_, n)| *n > 0).collect())
    }

    /// Counts cases by state into each tenant's counters, once, for a store written before
    /// the counts lived there: older stores kept them under keys of their own
    /// (`tenant\0state\0name`, dropped here), or had none.
    fn count_states(&self) -> Result<(), StoreError> {
        const DONE: &[u8] = b"\0states-in-counters";
        if self.counters.contains_key(DONE)? {
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
        for kv in self.counters.iter() {
            let key = kv?.0;
            if key.contains(&0) {
                self.counters.remove(key)?;
            }
        }
        for (tenant, states) in counts {
            let counters = TenantCounters {
                states,
                ..self.counters(&tenant)?
            };
            self.counters.insert(tenant.as_bytes(), encode(&counters))?;
        }
        self.counters.insert(DONE, &[])?;
        self.counters.flush()?;
        Ok(())
    }

    /// Builds the caller index for a store written before it existed.
    fn index_callers(&self) -> Result<(), StoreError> {
        if !self.by_caller.is_empty() || self.cases.is_empty() {
            return Ok(());
        }
        for case in self.cases(None)? {
            self.by_caller
                .insert(caller_key(&case), case.id.as_bytes())?;
        }
        self.by_caller.flush()?;
        Ok(())
    }

    /// Marks a step as under way until the guard drops (after its commit): a flush that
    /// starts meanwhile waits up to [`GATHER`] for it, so one fsync covers both.
    pub fn step_started(&self) -> PendingStep {
        self.group.pending.fetch_add(1, Ordering::SeqCst);
        PendingStep(self.group.clone())
    }

    /// Makes every committed step durable (one fsync covers all steps committed so far,
    /// which is how concurrent requests share the cost: group commit).
    pub fn flush(&self) -> Result<(), StoreError> {
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
            let result = self.db.flush();
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
            result?;
        }
    }

    /// Makes everything written so far durable, including steps still applying their
    /// writes (their write-ahead records were logged first). For readers that scan the
    /// trees rather than take what [`Store::take_new_effects`] lists.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Writes a step atomically. It is crash-consistent at once (all or nothing) and
    /// durable after the next [`Store::flush`]; the engine flushes before it answers a
    /// request and before it delivers any side effect. Steps that touch the same keys (one
    /// tenant's) must not commit concurrently: the engine's tenant lock orders them.
    pub fn commit(&self, step: &Step) -> Result<(), StoreError> {
        if let Some(why) = self.halted.get() {
            return Err(StoreError::Halted(why.clone()));
        }
        let StepWrites {
            set: w,
            outbox_ids,
            counters,
        } = self.step_writes(step)?;
        let record = self.db.generate_id()?;
        // Once the record may be in the log, a failure must stop later steps: they could
        // write the same keys, and replaying this older record at the next open would then
        // put back values they replaced.
        let logged = self
            .wal
            .insert(record.to_be_bytes(), w.encode())
            .map_err(StoreError::from)
            .and_then(|_| self.apply(&w));
        if let Err(err) = logged {
            self.halt(&err);
            return Err(err);
        }
        if let Some(case) = &step.case {
            self.recent.insert(case.id.clone(), case.clone());
        }
        if let Some((tenant, counters)) = counters {
            self.recent_counters.insert(tenant, counters);
        }
        self.group.applied.lock().unwrap().push(record);
        // Counted before it is listed: a flush begun after `take_new_effects` covers it.
        self.group.committed.fetch_add(1, Ordering::SeqCst);
        self.new_effects
            .record(outbox_ids.into_iter().zip(step.effects.iter().cloned()));
        Ok(())
    }

    /// Every write a step makes, the outbox ids given to its effects, and the tenant's
    /// counters as the step leaves them.
    fn step_writes(&self, step: &Step) -> Result<StepWrites, StoreError> {
        let outbox_ids: Vec<u64> = step
            .effects
            .iter()
            .map(|_| self.db.generate_id())
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
        if let Some((tenant, caller)) = &step.opt_out {
            w.insert(TreeId::Optout, pair(tenant, caller), []);
        }
        if let Some((tenant, record)) = &step.ignored {
            let id = self.db.generate_id()?;
            w.insert(
                TreeId::Ignored,
                pair(tenant, &format!("{id:020}")),
                encode(record),
            );
        }
        if let Some((tenant, id)) = &step.inbound {
            w.insert(TreeId::Inbound, pair(tenant, id), []);
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

    /// The tree a write goes to; `None` for [`TreeId::Open`], which only records logged by
    /// earlier versions name (see [`Store::apply`]).
    fn tree(&self, id: TreeId) -> Option<&Tree> {
        Some(match id {
            TreeId::Cases => &self.cases,
            TreeId::Journal => &self.journal,
            TreeId::Timers => &self.timers,
            TreeId::Outbox => &self.outbox,
            TreeId::Open => return None,
            TreeId::Optout => &self.optout,
            TreeId::Ignored => &self.ignored,
            TreeId::Counters => &self.counters,
            TreeId::Meta => &self.meta,
            TreeId::Inbound => &self.inbound,
            TreeId::ByCaller => &self.by_caller,
        })
    }

    fn apply(&self, w: &WriteSet) -> Result<(), StoreError> {
        for (id, key, value) in w.iter() {
            let legacy;
            let tree = match self.tree(id) {
                Some(tree) => tree,
                None => {
                    // Replaying an earlier version's record: the tree is dropped once the
                    // replay is done.
                    legacy = self.db.open_tree(LEGACY_OPEN_TREE)?;
                    &legacy
                }
            };
            match value {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
        }
        Ok(())
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
            if let Err(err) = self.wal.remove(record.to_be_bytes()) {
                // Going on would let an older record outlive a newer one of the same keys.
                self.halt(&err.into());
                return;
            }
        }
    }

    /// How many steps [`Store::open`] re-applied from the write-ahead records an unclean
    /// stop left (0 after a clean one).
    pub fn recovered_steps(&self) -> usize {
        self.recovered
    }

    /// Applies the write-ahead records a crash left (steps logged but perhaps not wholly
    /// applied), then removes them; returns how many there were.
    fn replay_wal(&self) -> Result<usize, StoreError> {
        let mut replayed = 0;
        for kv in self.wal.iter() {
            let (_, record) = kv?;
            self.apply(&WriteSet::decode(&record)?)?;
            replayed += 1;
        }
        if replayed > 0 {
            self.db.flush()?;
            self.wal.clear()?;
            self.db.flush()?;
            tracing::info!(steps = replayed, "re-applied steps logged before a crash");
        }
        Ok(replayed)
    }

    /// A case's projection.
    pub fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        if let Some(case) = self.recent.get(id) {
            return Ok(Some(case));
        }
        self.cases.get(id)?.map(|v| decode("case", &v)).transpose()
    }

    /// Every case of a tenant (or of all tenants when `None`).
    pub fn cases(&self, tenant: Option<&str>) -> Result<Vec<CaseRecord>, StoreError> {
        let iter = match tenant {
            Some(t) => self.cases.scan_prefix(format!("{t}-")),
            None => self.cases.iter(),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (_, v) = kv?;
            let case: CaseRecord = decode("case", &v)?;
            if tenant.is_none_or(|t| case.tenant == t) {
                out.push(case);
            }
        }
        out.sort_by_key(|c| (c.opened_ms, c.id.clone()));
        Ok(out)
    }

    /// A case's journal, oldest first.
    pub fn journal(&self, case_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut entries = Vec::new();
        for kv in self.journal.scan_prefix(pair(case_id, "")) {
            let value = kv?.1;
            // One record per step (a JSON array); stores written before held one per event.
            if value.first() == Some(&b'[') {
                entries.extend(decode::<Vec<JournalEntry>>("journal entries", &value)?);
            } else {
                entries.push(decode("journal entry", &value)?);
            }
        }
        Ok(entries)
    }

    /// The open case of a caller, if any (see [`Store::caller_cases`]).
    pub fn open_case(&self, tenant: &str, caller: &str) -> Result<Option<CaseRecord>, StoreError> {
        Ok(self.caller_cases(tenant, caller)?.open)
    }

    /// Whether an inbound event (by provider event id) was already processed.
    pub fn seen_inbound(&self, tenant: &str, event_id: &str) -> Result<bool, StoreError> {
        Ok(self.inbound.contains_key(pair(tenant, event_id))?)
    }

    /// Whether the caller opted out of this tenant's calls.
    pub fn opted_out(&self, tenant: &str, caller: &str) -> Result<bool, StoreError> {
        Ok(self.optout.contains_key(pair(tenant, caller))?)
    }

    /// Every case of a caller, its open one (at most one) apart from the rest (an index
    /// read: cost grows with this caller's cases, not the tenant's).
    pub fn caller_cases(&self, tenant: &str, caller: &str) -> Result<CallerCases, StoreError> {
        let mut cases = CallerCases::default();
        for kv in self.by_caller.scan_prefix(caller_prefix(tenant, caller)) {
            let id = kv?.1;
            match self.case(&String::from_utf8_lossy(&id))? {
                Some(case) if case.state.is_open() => cases.open = Some(case),
                Some(case) => cases.others.push(case),
                None => {}
            }
        }
        Ok(cases)
    }

    /// Timers due at or before `now_ms`, earliest first: `(case id, timer)`.
    pub fn due_timers(&self, now_ms: i64) -> Result<Vec<(String, Timer)>, StoreError> {
        let end = ((now_ms.max(0) as u64) + 1).to_be_bytes();
        let mut out = Vec::new();
        for kv in self.timers.range(..end.as_slice()) {
            let (k, v) = kv?;
            let due = i64::from_be_bytes(k[..8].try_into().unwrap());
            let kind: TimerKind = decode("timer", &v)?;
            out.push((
                String::from_utf8_lossy(&k[8..]).into_owned(),
                Timer { due_ms: due, kind },
            ));
        }
        Ok(out)
    }

    /// When the earliest timer fires.
    pub fn next_timer_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .timers
            .first()?
            .map(|(k, _)| i64::from_be_bytes(k[..8].try_into().unwrap())))
    }

    /// Undelivered side effects, oldest first: `(outbox id, item)`.
    pub fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.outbox_where(|_| true)
    }

    /// Undelivered side effects whose id passes `keep`, oldest first (the others are not
    /// even decoded).
    pub fn outbox_where(
        &self,
        keep: impl Fn(u64) -> bool,
    ) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let id = u64::from_be_bytes(k.as_ref().try_into().unwrap());
            if keep(id) {
                out.push((id, decode("outbox item", &v)?));
            }
        }
        Ok(out)
    }

    /// From now on, keeps a list of the outbox items each step commits, for
    /// [`Store::take_new_effects`].
    pub fn track_new_effects(&self) {
        self.new_effects.track();
    }

    /// The outbox items committed since the last call, in commit order, or `None` when
    /// the list is incomplete (tracking just started, or the list overflowed): then scan
    /// the outbox. Take them before [`Store::flush`]: that flush makes them all durable.
    pub fn take_new_effects(&self) -> Option<Vec<(u64, OutboxItem)>> {
        self.new_effects.take()
    }

    /// Whether an outbox item is still undelivered.
    pub fn in_outbox(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.outbox.contains_key(id.to_be_bytes())?)
    }

    /// Number of undelivered side effects.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Signals that started no case, for a tenant.
    pub fn ignored(&self, tenant: &str) -> Result<Vec<IgnoredSignal>, StoreError> {
        self.ignored
            .scan_prefix(pair(tenant, ""))
            .map(|kv| decode("ignored signal", &kv?.1))
            .collect()
    }

    /// A tenant's counters.
    pub fn counters(&self, tenant: &str) -> Result<TenantCounters, StoreError> {
        if let Some(counters) = self.recent_counters.get(tenant) {
            return Ok(counters);
        }
        Ok(self
            .counters
            .get(tenant)?
            .map(|v| decode("counters", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Stores a tenant API token by its hash (the token itself is never stored).
    pub fn put_token(&self, token_hash: &str, tenant: &str) -> Result<(), StoreError> {
        self.tokens.insert(token_hash, tenant.as_bytes())?;
        self.tokens.flush()?;
        Ok(())
    }

    /// The tenant a token hash belongs to.
    pub fn token_tenant(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tokens
            .get(token_hash)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Revokes every token of a tenant.
    pub fn revoke_tokens(&self, tenant: &str) -> Result<(), StoreError> {
        for kv in self.tokens.iter() {
            let (k, v) = kv?;
            if v == tenant.as_bytes() {
                self.tokens.remove(k)?;
            }
        }
        self.tokens.flush()?;
        Ok(())
    }

    /// Uploaded plugin versions of a tenant's slot, oldest first (the last is live).
    pub fn plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
    ) -> Result<Vec<PluginVersion>, StoreError> {
        Ok(self
            .plugin_versions
            .get(pair(tenant, slot))?
            .map(|v| decode("plugin versions", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Replaces the version list of a tenant's slot (durably).
    pub fn set_plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
        versions: &[PluginVersion],
    ) -> Result<(), StoreError> {
        self.plugin_versions
            .insert(pair(tenant, slot), encode(&versions))?;
        self.plugin_versions.flush()?;
        Ok(())
    }

    /// The persisted engine clock.
    pub fn clock_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .meta
            .get("clock")?
            .map(|v| i64::from_be_bytes(v.as_ref().try_into().unwrap())))
    }
}

/// The state a step's case leaves (`None` for a case the step opens).
fn state_before(step: &Step, case: &CaseRecord) -> Option<&'static str> {
    let opened_here = case.journal_len as usize == step.events.len();
    step.previous_state.filter(|_| !opened_here)
}

/// How a step becomes writes: each is read, where it must be, under the tenant lock that
/// orders the tenant's steps.
impl Store {
    /// Writes the tenant's counters once: the step's own changes (signals, cases, owners), with
    /// the case's move between states counted in. Returns them as written.
    fn write_counters(
        &self,
        step: &Step,
        w: &mut WriteSet,
    ) -> Result<Option<(String, TenantCounters)>, StoreError> {
        let moved = step
            .case
            .as_ref()
            .map(|case| (case, state_before(step, case), case.state.name()))
            .filter(|(_, before, now)| *before != Some(*now));
        let tenant = match (&step.counters, &moved) {
            (Some((tenant, _)), _) => tenant,
            (None, Some((case, ..))) => &case.tenant,
            (None, None) => return Ok(None),
        };
        // A step's own counters were read in the step, under the tenant's lock: they are
        // current, states included, and need no second read.
        let mut updated = match &step.counters {
            Some((_, c)) => c.clone(),
            None => self.counters(tenant)?,
        };
        if let Some((_, before, now)) = moved {
            if let Some(before) = before {
                let n = updated.states.entry(before.to_string()).or_default();
                *n = n.saturating_sub(1);
            }
            *updated.states.entry(now.to_string()).or_default() += 1;
        }
        w.insert(TreeId::Counters, tenant.as_bytes(), encode(&updated));
        Ok(Some((tenant.clone(), updated)))
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
