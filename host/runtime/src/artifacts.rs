//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Keyed by the component's sha256 and a fingerprint of the engine's compilation settings
//! (wasmtime version, target, limits that affect code generation): a changed engine simply
//! misses. Files are written to a temporary name and renamed, so a crash never leaves a
//! truncated artifact under a valid name.
//!
//! Bounded: past its byte limit the least recently used artifacts go (a load refreshes an
//! artifact's time), and artifacts of another engine configuration (an older wasmtime),
//! which can never be loaded again, go at once.

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
    max_bytes: u64,
}

/// The default bound of the cache's folder: about a hundred typical compiled plugins.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

impl ArtifactCache {
    /// Opens (creating if needed) the cache folder for this engine, holding at most
    /// `max_bytes` of artifacts.
    pub fn open(dir: &Path, engine: &Engine, max_bytes: u64) -> Result<Self, RuntimeError> {
        std::fs::create_dir_all(dir).map_err(|source| RuntimeError::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_tag: format!("{:016x}", hasher.finish()),
            max_bytes,
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
            Ok(component) => {
                // Recently used: the last to be evicted.
                let now = std::time::SystemTime::now();
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(now));
                Some(component)
            }
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
        self.evict();
    }

    /// Removes artifacts of other engine configurations, then the least recently used
    /// ones until the folder is within its bound.
    fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let suffix = format!("-{}.cwasm", self.engine_tag);
        let mut kept = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".cwasm") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !name.ends_with(&suffix) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            kept.push((used, meta.len(), entry.path()));
        }
        kept.sort();
        let mut total: u64 = kept.iter().map(|(_, len, _)| len).sum();
        for (_, len, path) in kept {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn past_its_bound_the_cache_drops_the_least_recently_used_and_other_engines_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path(), &Engine::default(), 2500).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        for (i, hash) in ["a", "b", "c"].iter().enumerate() {
            let path = cache.path(hash);
            std::fs::write(&path, vec![0u8; 1000]).unwrap();
            let when = old + Duration::from_secs(60 * i as u64);
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(when).unwrap();
        }
        let stale = dir.path().join("d-0000000000000000.cwasm");
        std::fs::write(&stale, b"from an older wasmtime").unwrap();
        cache.evict();
        assert!(!cache.contains("a"), "the least recently used goes first");
        assert!(cache.contains("b") && cache.contains("c"));
        assert!(!stale.exists(), "another engine's artifact can never load");
    }
}
