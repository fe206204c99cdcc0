//! Deleting a tenant: it stops at once, its tokens and secrets go with it, and a tombstone
//! holds its id until its data is purged, after the operator's grace period (or at once
//! when asked). Until then the id cannot be taken again, so a new tenant never sees the
//! old one's cases.

use super::turns::Priority;
use super::{Engine, EngineError};
use crate::records::Tombstone;
use crate::store::Purge;
use std::time::Duration;

/// How long a deleted tenant's data waits before its purge, unless the operator says
/// otherwise: time to notice a deletion made by mistake and restore from a backup.
pub const DEFAULT_TENANT_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Cases removed per store change when a tenant is purged.
const PURGE_BATCH: usize = 500;

impl Engine {
    /// Sets the grace period between a tenant's deletion and its purge.
    pub fn with_tenant_grace(mut self, grace: Duration) -> Self {
        self.tenant_grace = grace;
        self
    }

    /// A deleted tenant's tombstone, while its data waits for the purge.
    pub fn tombstone(&self, tenant: &str) -> Result<Option<Tombstone>, EngineError> {
        let tombstones = self.store.tombstones()?;
        Ok(tombstones
            .into_iter()
            .find_map(|(t, stone)| (t == tenant).then_some(stone)))
    }

    /// Deletes a tenant: it stops serving at once (if it was), its tokens and secrets are
    /// revoked, and its data is purged after the grace period, or now when `purge_now`.
    /// Deleting a deleted tenant again keeps its tombstone (and purges now if asked).
    /// Returns the tombstone, or `None` once purged.
    pub fn delete_tenant(
        &self,
        tenant: &str,
        purge_now: bool,
    ) -> Result<Option<Tombstone>, EngineError> {
        let _ = self.remove_tenant(tenant);
        self.store.revoke_tokens(tenant)?;
        self.store.delete_secrets(tenant, None)?;
        let tombstone = match self.tombstone(tenant)? {
            Some(stone) => stone,
            None => {
                let now = self.clock.now_ms();
                let grace = i64::try_from(self.tenant_grace.as_millis()).unwrap_or(i64::MAX);
                let stone = Tombstone {
                    deleted_ms: now,
                    purge_after_ms: now.saturating_add(grace),
                };
                self.store.put_tombstone(tenant, &stone)?;
                stone
            }
        };
        tracing::info!(
            tenant,
            purge_after_ms = tombstone.purge_after_ms,
            "tenant deleted"
        );
        if purge_now {
            self.purge_tenant(tenant)?;
            return Ok(None);
        }
        Ok(Some(tombstone))
    }

    /// Purges every deleted tenant whose grace period is over; returns how many.
    pub fn purge_deleted_tenants(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let mut purged = 0;
        let ownership = self.ownership();
        for (tenant, stone) in self.store.tombstones()? {
            if stone.purge_after_ms <= now && ownership.owns(&tenant) {
                self.purge_tenant(&tenant)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Removes everything a deleted tenant left, then its tombstone, and owes a store
    /// rewrite so the data leaves the files too.
    fn purge_tenant(&self, tenant: &str) -> Result<(), EngineError> {
        let _span = tracing::info_span!("tenant purge", tenant).entered();
        let lock = self.tenant_lock(tenant);
        let mut removed = 0;
        loop {
            let _turn = lock.lock(Priority::Finish)?;
            let batch: Vec<_> = self
                .store
                .cases(Some(tenant))?
                .into_iter()
                .take(PURGE_BATCH)
                .collect();
            if batch.is_empty() {
                break;
            }
            removed += batch.len();
            self.store.purge(&Purge {
                tenant: tenant.to_string(),
                cases: batch,
                ..Purge::default()
            })?;
        }
        self.store.forget_tenant(tenant)?;
        self.locks.lock().unwrap().remove(tenant);
        self.owe_rewrite();
        tracing::info!(cases = removed, "deleted tenant purged");
        Ok(())
    }
}
