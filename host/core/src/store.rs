//! The port the engine persists through. The engine speaks only in [`Step`]s (one atomic
//! change: a case's new projection, its journal events, its timer, its side effects, and
//! the indexes and counters they touch) and in the queries below; how a backend lays them
//! out, and how it makes them durable, is its own business.
//!
//! `redial-store-sled` implements it on embedded sled (a write-ahead record per step, group
//! commit). A backend with transactions (PostgreSQL) commits a step as one transaction and
//! can treat every step as durable once committed: [`Store::flush`] and
//! [`Store::durable`] then return at once, and [`Store::step_started`] is a no-op.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod memory;
mod new_effects;

pub use new_effects::NewEffects;

use crate::records::{
    CaseRecord, DeadLetter, Funnel, IgnoredSignal, JournalEntry, OutboxItem, PluginVersion,
    SealedSecret, TenantCounters, Timer, Tombstone, Trial,
};
use std::future::Future;
use std::pin::Pin;

/// How often a process renews its tenant leases (see [`Store::claim_tenants`]).
pub const LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a lease outlives its holder's last renewal: a process that stops renewing
/// (killed, cut off) loses its tenants to the others within this plus one renewal.
pub const LEASE_TERM: std::time::Duration = std::time::Duration::from_secs(5);

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, a refused write).
    #[error("store: {0}")]
    Backend(String),
    /// The backend cannot be reached now (a lost connection, a database that is down or
    /// restarting): nothing was written, and the same call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record did not decode (written by an incompatible version?).
    #[error("store: cannot decode {what}: {cause}")]
    Decode {
        /// Which record.
        what: String,
        /// The decoder's message.
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
    /// An outbox item set aside after its last failed delivery: removed from the outbox
    /// and kept among its tenant's dead letters.
    pub dead_letter: Option<DeadLetter>,
    /// A dead letter this step takes out of the list: `(tenant, id)` (retried as one of
    /// this step's effects, or discarded).
    pub revived: Option<(String, u64)>,
    /// A caller who opted out: `(tenant, suppression id)` (a keyed hash standing for the
    /// number: see [`crate::secrets::suppression_id`]).
    pub opt_out: Option<(String, String)>,
    /// A signal that started no case: `(tenant, record)`.
    pub ignored: Option<(String, IgnoredSignal)>,
    /// The tenant's counters after this step, read from the store in this step (under the
    /// tenant's lock), so their per-state counts are current; the store moves the case's
    /// state in them.
    pub counters: Option<(String, TenantCounters)>,
    /// The engine clock to persist (the demo's accelerated clock survives restarts).
    pub clock_ms: Option<i64>,
    /// An inbound event now processed (its id is remembered for the replay window).
    pub inbound: Option<InboundEvent>,
}

impl Step {
    /// The tenant's counters as this step leaves them, for a backend to write with it: the
    /// step's own counters (read in the step, under the tenant's lock, so current), or the
    /// stored ones (`stored`) when it carries none, with the case's move between states
    /// counted in. `None` when the step changes no counters.
    pub fn counters_after(
        &self,
        stored: impl FnOnce(&str) -> Result<TenantCounters, StoreError>,
    ) -> Result<Option<(String, TenantCounters)>, StoreError> {
        let moved = self.state_move();
        let tenant = match (&self.counters, &moved) {
            (Some((tenant, _)), _) => tenant,
            (None, Some((case, ..))) => &case.tenant,
            (None, None) => return Ok(None),
        };
        let mut updated = match &self.counters {
            Some((_, counters)) => counters.clone(),
            None => stored(tenant)?,
        };
        if let Some((_, before, now)) = moved {
            if let Some(before) = before {
                let n = updated.states.entry(before.to_string()).or_default();
                *n = n.saturating_sub(1);
            }
            *updated.states.entry(now.to_string()).or_default() += 1;
        }
        Ok(Some((tenant.clone(), updated)))
    }

    /// Whether [`Step::counters_after`] will ask for the stored counters: the step moves
    /// its case between states and carries no counters of its own. A backend that reads
    /// them with a round trip asks this first.
    pub fn needs_stored_counters(&self) -> bool {
        self.counters.is_none() && self.state_move().is_some()
    }

    /// The case's move between states in this step: the case, the state it leaves (none for
    /// a case this step opens) and the state it enters; `None` when it stays put.
    fn state_move(&self) -> Option<(&CaseRecord, Option<&'static str>, &'static str)> {
        self.case
            .as_ref()
            .map(|case| {
                // A case this step opens leaves no state.
                let opened_here = case.journal_len as usize == self.events.len();
                let before = self.previous_state.filter(|_| !opened_here);
                (case, before, case.state.name())
            })
            .filter(|(_, before, now)| *before != Some(*now))
    }
}

/// A provider event a step processed: remembered by id, so a replay changes nothing,
/// until [`Store::forget_inbound`] drops it after the replay window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    /// The tenant.
    pub tenant: String,
    /// The provider's event id.
    pub id: String,
    /// When it was processed (unix ms, engine clock).
    pub at_ms: i64,
}

/// Personal data of one tenant to remove for good, as one atomic change: cases retention
/// no longer keeps, or everything about a caller being erased. What is removed stays
/// counted in the tenant's rollup ([`Store::rollup`]), which this change replaces.
#[derive(Debug, Default)]
pub struct Purge {
    /// The tenant.
    pub tenant: String,
    /// Cases to remove with everything that names them: projection, journal, caller
    /// index, timer, undelivered outbox items and dead letters.
    pub cases: Vec<CaseRecord>,
    /// Ignored signals recorded before this time (unix ms) go too.
    pub ignored_before_ms: Option<i64>,
    /// Ignored signals of this caller go too.
    pub ignored_of: Option<String>,
    /// The tenant's rollup after this change.
    pub rollup: Funnel,
}

/// A store's size (see [`Store::sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSizes {
    /// Bytes of its files.
    pub on_disk: u64,
    /// Bytes of its live keys and values.
    pub live: u64,
}

/// A caller's cases, as a new signal or an SMS reply needs them.
#[derive(Debug, Default)]
pub struct CallerCases {
    /// The case still waiting or dialing, which absorbs the caller's signals.
    pub open: Option<CaseRecord>,
    /// The rest, oldest first: the caller's history.
    pub others: Vec<CaseRecord>,
}

/// Covers every step committed when it was taken (see [`Store::ticket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// A step under way, from before it waits for its tenant's lock until its commit (see
/// [`Store::step_started`]); dropping it says the step is done.
#[must_use]
pub struct PendingStep {
    _guard: Option<Box<dyn Send>>,
}

impl PendingStep {
    /// A guard the backend keeps until the step is done (its `Drop` is the signal).
    pub fn new(guard: impl Send + 'static) -> Self {
        PendingStep {
            _guard: Some(Box::new(guard)),
        }
    }

    /// For backends that do not gather steps into shared flushes.
    pub fn none() -> Self {
        PendingStep { _guard: None }
    }
}

/// Holds a tenant's steps to one at a time across every process sharing the store, until
/// it drops (see [`Store::lock_tenant`]).
#[must_use]
pub struct StoreLock {
    _guard: Option<Box<dyn Send>>,
}

impl StoreLock {
    /// A guard the backend keeps until the step is done (its `Drop` releases the lock).
    pub fn new(guard: impl Send + 'static) -> Self {
        StoreLock {
            _guard: Some(Box::new(guard)),
        }
    }

    /// For stores only one process opens: the engine's own lock is enough.
    pub fn none() -> Self {
        StoreLock { _guard: None }
    }
}

/// Which tenants this process acts for on its own initiative: fires their timers, delivers
/// their outbox items, runs their housekeeping (see [`Store::claim_tenants`]). Steps a
/// request asks for run on whichever process took the request, under [`Store::lock_tenant`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ownership {
    /// Every tenant: the only process on this store.
    #[default]
    All,
    /// These tenants, whose leases this process holds.
    Only(std::collections::BTreeSet<String>),
}

impl Ownership {
    /// Whether this process acts for `tenant`.
    pub fn owns(&self, tenant: &str) -> bool {
        match self {
            Ownership::All => true,
            Ownership::Only(tenants) => tenants.contains(tenant),
        }
    }
}

/// Resolves when the steps a [`Ticket`] covers are durable (see [`Store::durable`]).
pub type Durable = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'static>>;

/// Where the engine's state lives. Steps of one tenant never commit concurrently (the
/// engine's tenant lock orders them); steps of different tenants may.
pub trait Store: Send + Sync + 'static {
    /// Writes a step atomically. It is crash-consistent at once (all or nothing) and
    /// durable after the next [`Store::flush`] (or once [`Store::durable`] resolves).
    fn commit(&self, step: &Step) -> Result<(), StoreError>;

    /// Marks a step as under way until the guard drops (after its commit), so a flush that
    /// starts meanwhile may wait for it and cover both.
    fn step_started(&self) -> PendingStep;

    /// Waits until no other process sharing this store runs a step of `tenant`, and keeps
    /// it so until the lock drops. Steps of one tenant in this process are already ordered
    /// by the engine; a store several processes share (PostgreSQL) orders them across
    /// processes too, so a request taken by any node may run its step there.
    fn lock_tenant(&self, _tenant: &str) -> Result<StoreLock, StoreError> {
        Ok(StoreLock::none())
    }

    /// Whether other processes may use this store at the same time (then each acts only
    /// for the tenants [`Store::claim_tenants`] gives it).
    fn is_shared(&self) -> bool {
        false
    }

    /// Renews and takes this process's share of `known` tenants, and says which it holds:
    /// called every [`LEASE_RENEWAL`]. A store only one process opens owns them all; a
    /// shared store hands each tenant to one live process at a time by a lease that
    /// lapses [`LEASE_TERM`] after its holder's last renewal.
    fn claim_tenants(&self, _known: &[String]) -> Result<Ownership, StoreError> {
        Ok(Ownership::All)
    }

    /// Makes every committed step durable. Concurrent callers may share one flush.
    fn flush(&self) -> Result<(), StoreError>;

    /// Makes everything written so far durable, including steps still applying their
    /// writes; for readers that scan rather than take [`Store::take_new_effects`].
    fn sync(&self) -> Result<(), StoreError>;

    /// A ticket covering every step committed so far: take it after your step's commit.
    fn ticket(&self) -> Ticket;

    /// Resolves once every step `ticket` covers is durable, or with the error of a flush
    /// that failed meanwhile, without holding a thread while it waits. Must be awaited on
    /// a tokio runtime.
    fn durable(&self, ticket: Ticket) -> Durable;

    /// How many steps opening the store completed from records an unclean stop left.
    fn recovered_steps(&self) -> usize;

    /// A case's projection.
    fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError>;

    /// Every case of a tenant (or of all tenants when `None`), oldest first.
    fn cases(&self, tenant: Option<&str>) -> Result<Vec<CaseRecord>, StoreError>;

    /// A case's journal, oldest first.
    fn journal(&self, case_id: &str) -> Result<Vec<JournalEntry>, StoreError>;

    /// Every case of a caller, the open one (at most one) apart from the rest; the cost
    /// grows with this caller's cases, not the tenant's.
    fn caller_cases(&self, tenant: &str, caller: &str) -> Result<CallerCases, StoreError>;

    /// The open case of a caller, if any.
    fn open_case(&self, tenant: &str, caller: &str) -> Result<Option<CaseRecord>, StoreError> {
        Ok(self.caller_cases(tenant, caller)?.open)
    }

    /// Whether an inbound event (by provider event id) was already processed.
    fn seen_inbound(&self, tenant: &str, event_id: &str) -> Result<bool, StoreError>;

    /// Forgets inbound event ids processed before `before_ms` (their replay window is
    /// over); returns how many. An id stored without a time (by an earlier version) gets
    /// the time of this call, so it is forgotten one window later.
    fn forget_inbound(&self, before_ms: i64, now_ms: i64) -> Result<usize, StoreError>;

    /// Whether this tenant's opt-outs hold `entry` (a suppression id).
    fn opted_out(&self, tenant: &str, entry: &str) -> Result<bool, StoreError>;

    /// Every tenant's opt-out entries: `(tenant, entry)`.
    fn opt_outs(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Replaces one of a tenant's opt-out entries with `new` (or removes it), durably.
    fn replace_opt_out(&self, tenant: &str, old: &str, new: Option<&str>)
    -> Result<(), StoreError>;

    /// Timers due at or before `now_ms`, earliest first: `(case id, timer)`.
    fn due_timers(&self, now_ms: i64) -> Result<Vec<(String, Timer)>, StoreError>;

    /// When the earliest timer fires.
    fn next_timer_ms(&self) -> Result<Option<i64>, StoreError>;

    /// Undelivered side effects whose outbox id passes `keep`, oldest first.
    fn outbox_where(
        &self,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, OutboxItem)>, StoreError>;

    /// Every undelivered side effect, oldest first: `(outbox id, item)`.
    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.outbox_where(&|_| true)
    }

    /// From now on, keeps a list of the outbox items each step commits, for
    /// [`Store::take_new_effects`].
    fn track_new_effects(&self);

    /// The outbox items committed since the last call, in commit order, or `None` when
    /// the list is incomplete (tracking just started, or the list overflowed): then scan
    /// the outbox. Take them before [`Store::flush`]: that flush makes them all durable.
    fn take_new_effects(&self) -> Option<Vec<(u64, OutboxItem)>>;

    /// Whether an outbox item is still undelivered.
    fn in_outbox(&self, id: u64) -> Result<bool, StoreError>;

    /// Number of undelivered side effects.
    fn outbox_len(&self) -> usize;

    /// A tenant's dead letters, oldest first.
    fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, StoreError>;

    /// Dead letters of every tenant: how many each has (non-zero counts only).
    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Signals that started no case, for a tenant.
    fn ignored(&self, tenant: &str) -> Result<Vec<IgnoredSignal>, StoreError>;

    /// A tenant's counters.
    fn counters(&self, tenant: &str) -> Result<TenantCounters, StoreError>;

    /// How many of a tenant's cases are in each state (non-zero counts only).
    fn case_states(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let states = self.counters(tenant)?.states;
        Ok(states.into_iter().filter(|(_, n)| *n > 0).collect())
    }

    /// Stores a tenant API token by its hash (the token itself is never stored).
    fn put_token(&self, token_hash: &str, tenant: &str) -> Result<(), StoreError>;

    /// The tenant a token hash belongs to.
    fn token_tenant(&self, token_hash: &str) -> Result<Option<String>, StoreError>;

    /// Revokes every token of a tenant.
    fn revoke_tokens(&self, tenant: &str) -> Result<(), StoreError>;

    /// Stores one of a tenant's secrets, sealed, replacing one of the same name (durably).
    fn put_secret(&self, tenant: &str, name: &str, secret: &SealedSecret)
    -> Result<(), StoreError>;

    /// A tenant's secrets by name, sealed, sorted by name.
    fn secrets(&self, tenant: &str) -> Result<Vec<(String, SealedSecret)>, StoreError>;

    /// Deletes one of a tenant's secrets, or all of them when `name` is `None` (durably).
    /// Returns whether any existed.
    fn delete_secrets(&self, tenant: &str, name: Option<&str>) -> Result<bool, StoreError>;

    /// Uploaded plugin versions of a tenant's slot, oldest first (the last is live).
    fn plugin_versions(&self, tenant: &str, slot: &str) -> Result<Vec<PluginVersion>, StoreError>;

    /// Replaces the version list of a tenant's slot (durably).
    fn set_plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
        versions: &[PluginVersion],
    ) -> Result<(), StoreError>;

    /// The candidate on trial in a tenant's slot, if any.
    fn trial(&self, tenant: &str, slot: &str) -> Result<Option<Trial>, StoreError>;

    /// Starts, replaces or (with `None`) ends the trial in a tenant's slot (durably).
    fn set_trial(&self, tenant: &str, slot: &str, trial: Option<&Trial>) -> Result<(), StoreError>;

    /// Removes what `purge` names, and writes its rollup, atomically and durably.
    fn purge(&self, purge: &Purge) -> Result<(), StoreError>;

    /// The counts of a tenant's purged cases and ignored signals (see [`Purge`]).
    fn rollup(&self, tenant: &str) -> Result<Funnel, StoreError>;

    /// Marks a tenant deleted until its purge (durably).
    fn put_tombstone(&self, tenant: &str, tombstone: &Tombstone) -> Result<(), StoreError>;

    /// Every deleted tenant not yet purged.
    fn tombstones(&self) -> Result<Vec<(String, Tombstone)>, StoreError>;

    /// Removes everything still keyed by a tenant whose cases are gone: counters, rollup,
    /// event ids, opt-outs, ignored signals, dead letters, tokens, secrets, plugin
    /// versions and its tombstone (durably).
    fn forget_tenant(&self, tenant: &str) -> Result<(), StoreError>;

    /// Makes what was removed leave the backend's files too (sled: the live data copied
    /// into a new generation, the old one's files deleted). Steps may wait while it runs.
    fn rewrite(&self) -> Result<(), StoreError>;

    /// How many bytes the store takes on disk, and how many of them are live data.
    fn sizes(&self) -> Result<StoreSizes, StoreError>;

    /// Writes a consistent copy of the store into `target` (a new or empty folder) while
    /// it keeps serving; returns its size in bytes. A backend whose operators back it up
    /// with their own tools (PostgreSQL's) may refuse, saying which.
    fn backup(&self, target: &std::path::Path) -> Result<u64, StoreError>;

    /// The persisted engine clock (see [`Step::clock_ms`]).
    fn clock_ms(&self) -> Result<Option<i64>, StoreError>;
}
