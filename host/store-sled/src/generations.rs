//! Generations: the store's folder holds one live sled database, and a rewrite (see
//! `rewrite.rs`) copies the live data into the next one, switches to it, and deletes the
//! old one's files. sled is log-structured: a removed value stays in its segments until
//! sled happens to clean them; after a rewrite it is in no file at all.
//!
//! Generation 0 is sled's files directly in the folder (every store starts there, and
//! stores written before generations are generation 0); generation N ≥ 1 lives in
//! `gen-N/`. The file `LIVE` names the live one; it is replaced atomically (written aside,
//! synced, renamed), so a crash during a rewrite leaves either generation whole and live,
//! and the next open deletes the other.

use redial_core::store::StoreError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file naming the live generation.
const LIVE: &str = "LIVE";

/// What sled keeps directly in generation 0's folder.
const SLED_FILES: [&str; 3] = ["conf", "db", "blobs"];

fn io_err(what: &str, path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what} {}: {err}", path.display()))
}

/// The live generation of the store in `dir` (0 when none was ever rewritten).
pub(crate) fn live(dir: &Path) -> Result<u64, StoreError> {
    let file = dir.join(LIVE);
    match std::fs::read_to_string(&file) {
        Ok(text) => text.trim().parse().map_err(|_| {
            StoreError::Backend(format!("{} does not name a generation", file.display()))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(io_err("cannot read", &file, err)),
    }
}

/// Where generation `generation` keeps its database.
pub(crate) fn path(dir: &Path, generation: u64) -> PathBuf {
    match generation {
        0 => dir.to_path_buf(),
        n => dir.join(format!("gen-{n}")),
    }
}

/// Makes `generation` the live one, durably.
pub(crate) fn make_live(dir: &Path, generation: u64) -> Result<(), StoreError> {
    let aside = dir.join(format!("{LIVE}.new"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&aside)?;
        writeln!(file, "{generation}")?;
        file.sync_all()?;
        std::fs::rename(&aside, dir.join(LIVE))?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|err| io_err("cannot switch generation in", dir, err))
}

/// Deletes every generation's files but `live`'s: what a finished rewrite left, or a
/// half-made generation a crash left. Failures are logged; the next open tries again.
pub(crate) fn remove_others(dir: &Path, live: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = match name.strip_prefix("gen-").map(str::parse::<u64>) {
            Some(Ok(n)) => n != live,
            Some(Err(_)) => false,
            None => live != 0 && (SLED_FILES.contains(&name.as_str()) || name.starts_with("snap.")),
        };
        if stale {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(err) = removed {
                tracing::warn!(path = %path.display(), cause = %err, "cannot delete an old store generation; the next open tries again");
            }
        }
    }
}

/// Bytes the store's files take in `dir` (every generation, as `du` would count them).
pub fn size_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => size_on_disk(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
