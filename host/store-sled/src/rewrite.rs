//! Copies of the store's live data: a rewrite into the next generation (so removed values
//! leave the files, and the space sled's log holds for them comes back), and an online
//! backup into a folder of the operator's, which [`SledStore::restore`] turns back into a
//! store.
//!
//! Both copy under the store's write gate: steps wait for the copy (reads do not), so the
//! copy is one consistent moment of the store. It copies the live values only, never the
//! write-ahead records: every step committed before the gate closed is flushed first.

use super::{ID_BASE, SledStore, Trees, generations, sled_err};
use redial_core::store::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records copied per sled batch.
const BATCH: usize = 1024;

/// How long a rewrite waits for readers of the old generation before leaving its files to
/// the next open.
const READERS_GRACE: Duration = Duration::from_secs(10);

/// What a rewrite or a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Records (keys with their values) copied.
    pub records: u64,
    /// The store's files before, in bytes.
    pub bytes_before: u64,
    /// The store's (or the backup's) files after, in bytes.
    pub bytes_after: u64,
}

/// Copies every tree of `from` but the write-ahead log into `to`, and gives `to` the id
/// base `id_base`; returns how many records it copied.
fn copy_trees(from: &sled::Db, to: &sled::Db, id_base: u64) -> Result<u64, StoreError> {
    let mut records = 0;
    for name in from.tree_names() {
        if name.as_ref() == b"wal" {
            continue;
        }
        let source = from.open_tree(&name).map_err(sled_err)?;
        let target = to.open_tree(&name).map_err(sled_err)?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in source.iter() {
            let (key, value) = kv.map_err(sled_err)?;
            batch.insert(key, value);
            in_batch += 1;
            if in_batch == BATCH {
                target
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(sled_err)?;
                records += in_batch;
                in_batch = 0;
            }
        }
        target.apply_batch(batch).map_err(sled_err)?;
        records += in_batch;
    }
    to.open_tree("meta")
        .and_then(|meta| meta.insert(ID_BASE, &id_base.to_be_bytes()))
        .map_err(sled_err)?;
    to.flush().map_err(sled_err)?;
    Ok(records as u64)
}

impl SledStore {
    /// Copies the live data into a new generation, makes it live, and deletes the old
    /// generation's files: afterwards nothing the store removed (a purged case, an erased
    /// caller) is in any of its files, and the space it took is returned. Steps wait while
    /// the copy runs; reads go on.
    pub fn rewrite(&self) -> Result<Copied, StoreError> {
        let bytes_before = generations::size_on_disk(&self.dir);
        let (old, records) = {
            let _alone = self.writes.write().unwrap();
            self.flush()?;
            let old = self.trees.load_full();
            let generation = old.generation + 1;
            let path = generations::path(&self.dir, generation);
            if path.exists() {
                // Half made by a rewrite a crash cut short.
                std::fs::remove_dir_all(&path)
                    .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
            }
            let db = sled::Config::new().path(&path).open().map_err(sled_err)?;
            let records = copy_trees(&old.db, &db, old.next_id()?)?;
            let new = Trees::from_db(db, generation)?;
            generations::make_live(&self.dir, generation)?;
            self.trees.store(Arc::new(new));
            tracing::info!(generation, records, "store rewritten into a new generation");
            (old, records)
        };
        // The old database closes when its last reader lets go; then its files can go.
        let generation = old.generation + 1;
        let deadline = Instant::now() + READERS_GRACE;
        let mut old = Some(old);
        while let Some(trees) = old.take() {
            match Arc::try_unwrap(trees) {
                Ok(trees) => drop(trees),
                Err(shared) if Instant::now() < deadline => {
                    old = Some(shared);
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => {
                    tracing::warn!(
                        "the old store generation is still read; its files go at the next open"
                    );
                    return Ok(self.copied(records, bytes_before));
                }
            }
        }
        generations::remove_others(&self.dir, generation);
        Ok(self.copied(records, bytes_before))
    }

    fn copied(&self, records: u64, bytes_before: u64) -> Copied {
        Copied {
            records,
            bytes_before,
            bytes_after: generations::size_on_disk(&self.dir),
        }
    }

    /// Writes a consistent copy of the live data into `target` (a folder that does not
    /// exist yet, or is empty), while the store keeps serving: steps wait for the copy,
    /// reads do not. The copy is a store of its own: [`SledStore::restore`] puts it back,
    /// and [`SledStore::open`] reads it.
    pub fn backup(&self, target: &Path) -> Result<Copied, StoreError> {
        refuse_unless_empty(target)?;
        let bytes_before = generations::size_on_disk(&self.dir);
        let _alone = self.writes.write().unwrap();
        self.flush()?;
        let trees = self.t();
        let db = sled::Config::new().path(target).open().map_err(sled_err)?;
        let records = copy_trees(&trees.db, &db, trees.next_id()?)?;
        drop(db);
        Ok(Copied {
            records,
            bytes_before,
            bytes_after: generations::size_on_disk(target),
        })
    }

    /// Makes a store in `dir` (which must not hold one) from a backup made by
    /// [`SledStore::backup`]; the backup itself is only read.
    pub fn restore(backup: &Path, dir: &Path) -> Result<Copied, StoreError> {
        if !backup.join("conf").exists() && !backup.join("LIVE").exists() {
            return Err(StoreError::Backend(format!(
                "{} holds no Redial store backup",
                backup.display()
            )));
        }
        refuse_unless_empty(dir)?;
        // Opened as a store, so a backup of an unreadable format is refused here.
        let source = SledStore::open(backup)?;
        let restored = source.backup(dir)?;
        Ok(Copied {
            bytes_before: generations::size_on_disk(backup),
            ..restored
        })
    }
}

fn refuse_unless_empty(dir: &Path) -> Result<(), StoreError> {
    let empty = std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
    if empty {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "{} is not empty; give a new folder",
            dir.display()
        )))
    }
}
