//! `redial store`: the operator's backup, restore and rewrite of a sled store.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use redial_store_sled::SledStore;
use std::path::{Path, PathBuf};

/// Store subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the store into a new folder: through a running server (`--server`, online:
    /// steps wait while it copies) or straight from a stopped server's data folder.
    Backup {
        /// The folder to write (new or empty; on the server's machine with `--server`).
        dir: PathBuf,
        /// A running server's address (its admin token in `REDIAL_ADMIN_TOKEN`).
        #[arg(long)]
        server: Option<String>,
        /// The data folder of a stopped server (what `redial serve --store` names).
        #[arg(long, default_value = ".redial/serve")]
        data: PathBuf,
    },
    /// Make a stopped server's store from a backup. The data folder must hold no store.
    Restore {
        /// The backup folder.
        backup: PathBuf,
        /// The data folder to restore into (what `redial serve --store` names).
        #[arg(long, default_value = ".redial/serve")]
        data: PathBuf,
    },
    /// Rewrite a stopped server's store into a new generation: removed data leaves the
    /// files and its space comes back.
    Rewrite {
        /// The data folder (what `redial serve --store` names).
        #[arg(long, default_value = ".redial/serve")]
        data: PathBuf,
    },
}

/// Runs a store subcommand.
pub fn run(cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Backup {
            dir,
            server: Some(server),
            ..
        } => {
            let dir = absolute(&dir)?;
            let body = serde_json::json!({ "dir": dir });
            let answer = super::api::call(&server, "POST", "/v1/admin/backups", Some(body))?;
            println!(
                "backup written to {} ({} bytes; steps waited {} ms)",
                dir.display(),
                answer["bytes"],
                answer["took_ms"]
            );
        }
        StoreCommand::Backup { dir, data, .. } => {
            let store = open(&data)?;
            let copied = store.backup(&dir)?;
            println!(
                "backup written to {} ({} records, {} bytes)",
                dir.display(),
                copied.records,
                copied.bytes_after
            );
        }
        StoreCommand::Restore { backup, data } => {
            let copied = SledStore::restore(&backup, &data.join("db"))?;
            println!(
                "restored {} records into {} ({} bytes); start the server on it with \
                 `redial serve --store {}`",
                copied.records,
                data.join("db").display(),
                copied.bytes_after,
                data.display()
            );
        }
        StoreCommand::Rewrite { data } => {
            let copied = open(&data)?.rewrite()?;
            println!(
                "rewrote {} records: {} bytes before, {} after",
                copied.records, copied.bytes_before, copied.bytes_after
            );
        }
    }
    Ok(())
}

/// A stopped server's store.
fn open(data: &Path) -> Result<SledStore> {
    let db = data.join("db");
    if !db.exists() {
        bail!("{} holds no store", data.display());
    }
    SledStore::open(&db).with_context(|| {
        format!(
            "cannot open the store in {} (if a server is running on it, back it up through \
             the server with --server)",
            data.display()
        )
    })
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("{}", dir.display()))
}
