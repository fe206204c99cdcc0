//! A caller's erasure, and the opt-outs that outlive it. Erasing a number removes every
//! case of that caller with everything naming it (journal, indexes, timers, undelivered
//! side effects, dead letters) and their ignored signals, in one atomic change; the counts
//! stay in the tenant's rollup. An opt-out stays, as a suppression id (a keyed hash that
//! holds no readable number), so an erased caller who asked not to be called still is not.
//! The store then rewrites its files, so the number is in none of them.

use super::turns::Priority;
use super::{Engine, EngineError};
use crate::secrets::{SUPPRESSION_PREFIX, UNKEYED, suppression_id};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Least time between two store rewrites an erasure asks for: a rewrite holds every
/// tenant's steps while it copies the store, so erasures in a row (or a tenant erasing in a
/// loop) share one instead of each paying for its own. The housekeeping thread runs a
/// deferred one when the time is up.
pub const REWRITE_SPACING: Duration = Duration::from_secs(600);

/// What an erasure removed: the receipt the tenant gets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// Cases removed, by id.
    pub cases: Vec<String>,
    /// Journal entries removed with them.
    pub journal_entries: u64,
    /// Undelivered side effects removed (a dial or message not yet sent is not sent).
    pub outbox_items: u64,
    /// Dead letters removed.
    pub dead_letters: u64,
    /// Ignored signals of the caller removed.
    pub ignored_signals: u64,
    /// Whether the caller had opted out: the opt-out stays, as a suppression id.
    pub suppression_kept: bool,
    /// Whether the store's files were rewritten before this answer (otherwise a rewrite is
    /// due by `files_rewritten_by_ms`).
    pub files_rewritten: bool,
    /// When the files will have been rewritten at the latest (unix ms, wall clock), when
    /// not yet.
    pub files_rewritten_by_ms: Option<i64>,
}

impl Erasure {
    /// Whether the tenant held nothing on the caller.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty() && self.ignored_signals == 0 && !self.suppression_kept
    }
}

/// Whether `number` is an E.164 number: `+`, then 6 to 15 digits, the first not 0.
pub fn valid_number(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (6..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// When the store was last rewritten, whether a rewrite is owed, and what rewrites cost.
#[derive(Debug, Default)]
pub(super) struct Rewrites {
    last: Option<Instant>,
    owed: bool,
    stats: RewriteStats,
}

/// Store rewrites so far: how many, and the longest (steps wait while one runs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewriteStats {
    /// Rewrites run.
    pub count: u64,
    /// The longest one.
    pub longest: Duration,
}

impl Engine {
    /// What stands for `caller` among `tenant`'s opt-outs: a keyed hash under the
    /// server's secrets key (see [`suppression_id`]).
    pub fn suppression_id(&self, tenant: &str, caller: &str) -> String {
        match &self.secret_key {
            Some(key) => key.suppression_id(tenant, caller),
            None => suppression_id(&UNKEYED, tenant, caller),
        }
    }

    /// Whether `caller` opted out of `tenant`'s calls.
    pub fn opted_out(&self, tenant: &str, caller: &str) -> Result<bool, EngineError> {
        Ok(self
            .store
            .opted_out(tenant, &self.suppression_id(tenant, caller))?)
    }

    /// Replaces opt-outs stored as numbers (by earlier versions) with their suppression
    /// ids; returns how many. Run once at start, with the secrets key in place.
    pub fn protect_opt_outs(&self) -> Result<usize, EngineError> {
        let mut replaced = 0;
        for (tenant, entry) in self.store.opt_outs()? {
            if !entry.starts_with(SUPPRESSION_PREFIX) {
                let id = self.suppression_id(&tenant, &entry);
                self.store.replace_opt_out(&tenant, &entry, Some(&id))?;
                replaced += 1;
            }
        }
        if replaced > 0 {
            tracing::info!(
                replaced,
                "opt-outs stored as numbers now stored as suppression ids"
            );
            self.rewrites.lock().unwrap().owed = true;
        }
        Ok(replaced)
    }

    /// Erases everything `tenant` holds on `caller` (see the module's notes) and returns
    /// the receipt. The store's files are rewritten before it returns unless a rewrite ran
    /// less than [`REWRITE_SPACING`] ago; then the housekeeping thread runs one when that
    /// time is up, and the receipt says by when.
    pub fn erase_caller(&self, tenant: &str, caller: &str) -> Result<Erasure, EngineError> {
        self.tenant(tenant)?;
        if !valid_number(caller) {
            return Err(EngineError::InvalidNumber(caller.to_string()));
        }
        let _span = tracing::info_span!("erasure", tenant = %tenant).entered();
        let mut receipt = {
            let lock = self.tenant_lock(tenant);
            let _turn = lock.lock(Priority::Finish)?;
            self.erase_under_lock(tenant, caller)?
        };
        if receipt.is_empty() {
            return Ok(receipt);
        }
        tracing::info!(
            cases = receipt.cases.len(),
            journal_entries = receipt.journal_entries,
            "caller erased"
        );
        match self.rewrite_now_or_owe()? {
            None => receipt.files_rewritten = true,
            Some(by) => receipt.files_rewritten_by_ms = Some(by),
        }
        Ok(receipt)
    }

    fn erase_under_lock(&self, tenant: &str, caller: &str) -> Result<Erasure, EngineError> {
        let found = self.store.caller_cases(tenant, caller)?;
        let cases: Vec<_> = found.others.into_iter().chain(found.open).collect();
        let ids: HashSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        let mut receipt = Erasure {
            cases: cases.iter().map(|c| c.id.clone()).collect(),
            suppression_kept: self.opted_out(tenant, caller)?,
            ..Erasure::default()
        };
        for case in &cases {
            receipt.journal_entries += self.store.journal(&case.id)?.len() as u64;
        }
        let in_cases = |case_id: &str| ids.contains(case_id);
        receipt.outbox_items = self
            .store
            .outbox()?
            .iter()
            .filter(|(_, item)| item.tenant == tenant && in_cases(&item.case_id))
            .count() as u64;
        receipt.dead_letters = self
            .store
            .dead_letters(tenant)?
            .iter()
            .filter(|dead| in_cases(&dead.item.case_id))
            .count() as u64;
        receipt.ignored_signals = self
            .store
            .ignored(tenant)?
            .iter()
            .filter(|i| i.caller == caller)
            .count() as u64;
        if !cases.is_empty() || receipt.ignored_signals > 0 {
            self.remove_cases(tenant, cases, Some(caller))?;
        }
        Ok(receipt)
    }

    /// Rewrites the store now if the last rewrite is [`REWRITE_SPACING`] old (`None`), or
    /// owes one and says by when (wall clock, unix ms).
    fn rewrite_now_or_owe(&self) -> Result<Option<i64>, EngineError> {
        let mut rewrites = self.rewrites.lock().unwrap();
        if let Some(last) = rewrites.last
            && last.elapsed() < self.rewrite_spacing
        {
            rewrites.owed = true;
            let wait = self.rewrite_spacing - last.elapsed();
            let by = std::time::SystemTime::now() + wait + super::HOUSEKEEPING_TICK;
            let ms = by
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            return Ok(Some(ms));
        }
        let started = Instant::now();
        let rewritten = self.store.rewrite();
        // A failed rewrite is owed still, and tried again no sooner than a successful one.
        rewrites.last = Some(Instant::now());
        rewrites.owed = rewritten.is_err();
        rewritten?;
        rewrites.stats.count += 1;
        rewrites.stats.longest = rewrites.stats.longest.max(started.elapsed());
        Ok(None)
    }

    /// Asks for a store rewrite: the housekeeping thread runs it when
    /// [`REWRITE_SPACING`] allows.
    pub(super) fn owe_rewrite(&self) {
        self.rewrites.lock().unwrap().owed = true;
    }

    /// Runs a rewrite an erasure owes, once [`REWRITE_SPACING`] allows; the housekeeping
    /// thread calls it every tick. Returns whether it rewrote.
    pub fn rewrite_if_owed(&self) -> Result<bool, EngineError> {
        let owed = {
            let rewrites = self.rewrites.lock().unwrap();
            rewrites.owed
                && rewrites
                    .last
                    .is_none_or(|at| at.elapsed() >= self.rewrite_spacing)
        };
        Ok(owed && self.rewrite_now_or_owe()?.is_none())
    }

    /// Store rewrites so far.
    pub fn rewrite_stats(&self) -> RewriteStats {
        self.rewrites.lock().unwrap().stats
    }

    /// Sets the least time between rewrites (see [`REWRITE_SPACING`]).
    pub fn with_rewrite_spacing(mut self, spacing: Duration) -> Self {
        self.rewrite_spacing = spacing;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_numbers_are_erasable() {
        for good in ["+15125550111", "+442071838750", "+491701234"] {
            assert!(valid_number(good), "{good}");
        }
        for bad in [
            "15125550111",
            "+1 512 555",
            "+0123456",
            "+12",
            "+1234567890123456",
            "+1512555011a",
            "",
        ] {
            assert!(!valid_number(bad), "{bad:?}");
        }
    }
}
