//! Retention over time: a settled case keeps its detail for its tenant's `keep_days` after
//! its last change, then goes, projection, journal and indexes, while its counts move into
//! the tenant's rollup so reports stay whole. Ignored signals and dead letters age out the
//! same way.

use super::turns::Priority;
use super::{Engine, EngineError};
use crate::records::CaseRecord;
use crate::store::Purge;
use std::collections::HashSet;

/// Cases purged per store change: each is one atomic write under the tenant's lock, so a
/// purge of a large backlog lets the tenant's live steps in between.
const PURGE_BATCH: usize = 200;

/// Files more than this many times the live data are rewritten to give the space back...
const RECLAIM_FACTOR: u64 = 2;

/// ...once they hold at least this much more than the live data: less is not worth a
/// rewrite's pause.
const RECLAIM_SLACK: u64 = 8 << 20;

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPass {
    /// Cases purged (their counts kept in the rollups).
    pub cases: usize,
    /// Ignored signals purged.
    pub ignored: usize,
    /// Dead letters discarded.
    pub dead_letters: usize,
}

impl Engine {
    /// What the server runs hourly: forgets provider event ids past their replay window,
    /// applies every tenant's retention, purges deleted tenants whose grace is over,
    /// deletes uploaded components no tenant names, and asks for a store rewrite when the
    /// files have grown well past the live data.
    pub fn housekeeping(&self) -> Result<RetentionPass, EngineError> {
        self.forget_old_inbound()?;
        let pass = self.apply_retention()?;
        self.purge_deleted_tenants()?;
        self.forget_unreferenced_uploads()?;
        let sizes = self.store.sizes()?;
        if sizes.on_disk > RECLAIM_FACTOR * sizes.live && sizes.on_disk > sizes.live + RECLAIM_SLACK
        {
            tracing::info!(
                on_disk = sizes.on_disk,
                live = sizes.live,
                "store files well past the live data; rewriting"
            );
            self.owe_rewrite();
        }
        Ok(pass)
    }

    /// Purges, for every loaded tenant, what its retention no longer keeps: settled cases
    /// whose last change is older than `keep_days`, with everything that names them,
    /// ignored signals older than that, and dead letters set aside before it (dropped with
    /// nothing sent in their place, a case still waiting on one closed). The server runs
    /// it hourly.
    pub fn apply_retention(&self) -> Result<RetentionPass, EngineError> {
        let now = self.clock.now_ms();
        let mut pass = RetentionPass::default();
        // Cases with side effects still to deliver keep their detail; read once per pass.
        let pending: HashSet<String> = self
            .store
            .outbox()?
            .into_iter()
            .map(|(_, item)| item.case_id)
            .collect();
        let ownership = self.ownership();
        for id in self.tenant_ids() {
            let Ok(tenant) = self.tenant(&id) else {
                continue;
            };
            if !ownership.owns(&id) {
                continue;
            }
            let _span = tracing::info_span!("retention", tenant = %id).entered();
            let cutoff = now - tenant.policy.retention.keep_ms();
            for dead in self.store.dead_letters(&id)? {
                if dead.at_ms < cutoff && self.expire_dead_letter(&id, dead.id)? {
                    pass.dead_letters += 1;
                }
            }
            pass.ignored += self.purge_ignored(&id, cutoff)?;
            pass.cases += self.purge_cases(&id, cutoff, &pending)?;
        }
        if pass != RetentionPass::default() {
            tracing::info!(
                cases = pass.cases,
                ignored = pass.ignored,
                dead_letters = pass.dead_letters,
                "retention purged what its tenants no longer keep"
            );
        }
        Ok(pass)
    }

    fn purge_ignored(&self, tenant: &str, cutoff: i64) -> Result<usize, EngineError> {
        let lock = self.tenant_lock(tenant);
        let _turn = lock.lock(Priority::Finish)?;
        let old = self
            .store
            .ignored(tenant)?
            .iter()
            .filter(|i| i.at_ms < cutoff)
            .count();
        if old > 0 {
            let mut rollup = self.store.rollup(tenant)?;
            rollup.ignored += old as u64;
            self.store.purge(&Purge {
                tenant: tenant.to_string(),
                ignored_before_ms: Some(cutoff),
                rollup,
                ..Purge::default()
            })?;
        }
        Ok(old)
    }

    fn purge_cases(
        &self,
        tenant: &str,
        cutoff: i64,
        pending: &HashSet<String>,
    ) -> Result<usize, EngineError> {
        let expired: Vec<String> = self
            .store
            .cases(Some(tenant))?
            .into_iter()
            .filter(|case| !pending.contains(&case.id))
            .map(|case| Ok(self.expired(&case, cutoff)?.then_some(case.id)))
            .filter_map(Result::transpose)
            .collect::<Result<_, EngineError>>()?;
        let mut purged = 0;
        for batch in expired.chunks(PURGE_BATCH) {
            let lock = self.tenant_lock(tenant);
            let _turn = lock.lock(Priority::Finish)?;
            // Read again under the lock: a step since the scan may have reopened a case.
            let mut cases = Vec::with_capacity(batch.len());
            for id in batch {
                if let Some(case) = self.store.case(id)?
                    && self.expired(&case, cutoff)?
                {
                    cases.push(case);
                }
            }
            purged += cases.len();
            self.remove_cases(tenant, cases, None)?;
        }
        Ok(purged)
    }

    /// Removes `cases`, and the ignored signals of `caller` when given, from the store,
    /// counting them into the tenant's rollup. Call under the tenant's lock.
    pub(super) fn remove_cases(
        &self,
        tenant: &str,
        cases: Vec<CaseRecord>,
        caller: Option<&str>,
    ) -> Result<(), EngineError> {
        let mut rollup = self.store.rollup(tenant)?;
        for case in &cases {
            rollup.roll_up(case);
        }
        if let Some(caller) = caller {
            let ignored = self.store.ignored(tenant)?;
            rollup.ignored += ignored.iter().filter(|i| i.caller == caller).count() as u64;
        }
        self.store.purge(&Purge {
            tenant: tenant.to_string(),
            cases,
            ignored_of: caller.map(str::to_string),
            rollup,
            ..Purge::default()
        })?;
        Ok(())
    }

    /// Whether a case is settled and last changed before `cutoff`. A case in the follow-up
    /// queue counts from its due time, if that is later.
    fn expired(&self, case: &CaseRecord, cutoff: i64) -> Result<bool, EngineError> {
        if !case.is_settled() {
            return Ok(false);
        }
        let mut last = case.changed_ms.max(case.opened_ms);
        if case.changed_ms == 0 {
            // Written before cases carried the time of their last change.
            let journal = self.store.journal(&case.id)?;
            last = journal.last().map_or(last, |e| e.at_ms.max(last));
        }
        if let crate::records::CaseState::FollowUp { due_ms, .. } = case.state {
            last = last.max(due_ms);
        }
        Ok(last < cutoff)
    }
}
