//! Uploaded component files no tenant can reach any more: a slot keeps its last
//! [`super::KEPT_VERSIONS`] uploads and its candidate on trial, and a purged tenant none, so the files of the versions
//! they forgot are deleted.

use super::{Engine, EngineError};
use redial_runtime::Slot;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// A file younger than this is left alone: an upload writes its file before it lists the
/// version.
const UPLOAD_GRACE: Duration = Duration::from_secs(3600);

impl Engine {
    /// Deletes uploaded component files that no tenant's versions, trials or policy name (a
    /// deleted tenant's stay until its purge); returns how many.
    pub fn forget_unreferenced_uploads(&self) -> Result<usize, EngineError> {
        let Some(dir) = &self.uploads else {
            return Ok(0);
        };
        let mut tenants: HashSet<String> = self.tenant_ids().into_iter().collect();
        tenants.extend(self.store.tombstones()?.into_iter().map(|(t, _)| t));
        let mut referenced = HashSet::new();
        for tenant in &tenants {
            for slot in Slot::ALL {
                for version in self.store.plugin_versions(tenant, slot.name())? {
                    referenced.insert(version.sha256);
                }
                if let Some(trial) = self.store.trial(tenant, slot.name())? {
                    referenced.insert(trial.sha256);
                }
                if let Ok(live) = self.tenant(tenant)
                    && let Some(sha) = &live.policy.plugin(slot).sha256
                {
                    referenced.insert(sha.clone());
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(hash) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
            else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at + UPLOAD_GRACE < SystemTime::now());
            if old && !referenced.contains(hash) && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "uploaded components no tenant names any more deleted"
            );
        }
        Ok(removed)
    }
}
