//! Reloads tenant policies when their files in the policies folder change.
//!
//! A once-a-second poll of modification times: the folder holds a handful to a few
//! thousand small files, so a poll costs microseconds and behaves the same on every
//! filesystem (network mounts and containers included), which event-based watchers do not
//! promise. A file that fails to parse or whose plugins fail to load is refused and the
//! tenant's previous policy stays live.

use crate::NotServing;
use redial_core::engine::Engine;
use redial_core::policy::Policy;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a poll did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The tenant now runs the new policy.
    Applied {
        /// The file.
        path: PathBuf,
        /// The tenant.
        tenant: String,
    },
    /// The file was refused; the old policy (if any) stays live.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Reload {
    /// Keeps the not-serving list true: an applied file's tenant serves; a refused file
    /// whose tenant is not loaded at all does not (a loaded tenant keeps its old policy).
    pub fn record(&self, engine: &Engine, not_serving: &NotServing) {
        match self {
            Reload::Applied { tenant, .. } => not_serving.clear(tenant),
            Reload::Refused { path, reason } => {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                if engine.tenant(&stem).is_err() {
                    not_serving.set(&stem, reason);
                }
            }
        }
    }
}

/// Remembers each policy file's modification time.
#[derive(Debug)]
pub struct PolicyWatcher {
    dir: PathBuf,
    seen: HashMap<PathBuf, SystemTime>,
}

fn toml_files(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| Some((p.clone(), std::fs::metadata(&p).ok()?.modified().ok()?)))
        .collect()
}

impl PolicyWatcher {
    /// Starts watching `dir`; files present now count as already loaded.
    pub fn new(dir: &Path) -> Self {
        PolicyWatcher {
            dir: dir.to_path_buf(),
            seen: toml_files(dir).into_iter().collect(),
        }
    }

    /// Reloads every new or changed file into `engine`.
    pub fn poll(&mut self, engine: &Engine) -> Vec<Reload> {
        let mut out = Vec::new();
        for (path, modified) in toml_files(&self.dir) {
            if self.seen.get(&path) == Some(&modified) {
                continue;
            }
            self.seen.insert(path.clone(), modified);
            let result = Policy::load(&path)
                .map_err(|e| e.to_string())
                .and_then(|p| engine.load_tenant(p).map_err(|e| e.to_string()));
            out.push(match result {
                Ok(t) => {
                    tracing::info!(tenant = %t.policy.tenant, path = %path.display(), "policy reloaded");
                    Reload::Applied { path, tenant: t.policy.tenant.clone() }
                }
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "policy refused; previous one stays live");
                    Reload::Refused { path, reason }
                }
            });
        }
        out
    }
}
