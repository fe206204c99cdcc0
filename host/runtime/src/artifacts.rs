//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Keyed by the component's sha256 and a fingerprint of the engine's compilation settings
//! (wasmtime version, target, limits that affect code generation): a changed engine simply
//! misses. Files are written to a temporary name and renamed, so a crash never leaves a
//! truncated artifact under a valid name.

use super::error::RuntimeError;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A folder of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_tag: String,
}

impl ArtifactCache {
    /// Opens (creating if needed) the cache folder for this engine.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, RuntimeError> {
        std::fs::create_dir_all(dir).map_err(|source| RuntimeError::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}.cwasm", self.engine_tag))
    }

    /// Whether a compilation of the component with this sha256 is cached.
    pub fn contains(&self, hash: &str) -> bool {
        self.path(hash).exists()
    }

    /// The cached compilation of the component with this sha256, if present and usable.
    pub fn load(&self, engine: &Engine, hash: &str) -> Option<Component> {
        if !self.contains(hash) {
            return None;
        }
        let path = self.path(hash);
        // SAFETY: the folder holds only artifacts this host serialized itself (written
        // atomically under the content hash), so the bytes are trusted wasmtime output;
        // wasmtime still checks the engine compatibility header and refuses a mismatch.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), cause = %err, "dropping unusable compiled plugin");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a freshly compiled component. Failures are logged, never fatal: the cache
    /// only saves time.
    pub fn store(&self, hash: &str, component: &Component) {
        let path = self.path(hash);
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), cause = %err, "cannot cache compiled plugin");
        }
    }
}
