//! The same test body on both stores. `on_both_stores!` turns each test in it into a
//! module with two tests, `sled` and `postgres`, which run the body with [`current`]
//! answering that backend; the helpers that open a store ([`open_store`], [`store_at`],
//! `Loop`, `Server`) ask it, so a body does not change to run on either.
//!
//! A PostgreSQL test gets an empty database for each store folder it names, on the server
//! `REDIAL_TEST_POSTGRES` names (`tests/with-postgres` starts a throwaway one; without it
//! the test fails saying so). The same folder names the same database until the test's
//! thread ends, so a test that restarts a server on its folder finds its data again.

use redial_core::store::Store;
use redial_server::StoreAt;
use redial_store_postgres::scratch::ScratchDatabase;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which store a test body runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sled,
    Postgres,
}

thread_local! {
    static CURRENT: Cell<Backend> = const { Cell::new(Backend::Sled) };
    /// This test's databases, by the store folder they stand for; dropped with the thread.
    static DATABASES: RefCell<HashMap<PathBuf, ScratchDatabase>> = RefCell::default();
}

/// The backend this test runs on (sled outside `on_both_stores!`).
pub fn current() -> Backend {
    CURRENT.with(Cell::get)
}

/// Runs `body` with [`current`] answering `backend` (each test has a thread of its own).
pub fn run_on(backend: Backend, body: impl FnOnce()) {
    CURRENT.with(|c| c.set(backend));
    body();
}

/// Where this test's store for the folder `dir` lives: sled in `dir`, or a PostgreSQL
/// database of this test's.
pub fn store_at(dir: &Path) -> StoreAt {
    match current() {
        Backend::Sled => StoreAt::Sled(dir.to_path_buf()),
        Backend::Postgres => DATABASES.with(|dbs| {
            let mut dbs = dbs.borrow_mut();
            let db = dbs
                .entry(dir.to_path_buf())
                .or_insert_with(|| ScratchDatabase::for_test(&test_label()));
            StoreAt::Postgres(db.url.clone())
        }),
    }
}

/// This test's store for the folder `dir`, opened.
pub fn open_store(dir: &Path) -> Arc<dyn Store> {
    store_at(dir).open().unwrap()
}

/// The running test's name, for naming its database.
fn test_label() -> String {
    let name = std::thread::current().name().unwrap_or("test").to_string();
    let name = name.trim_end_matches("::postgres");
    name.rsplit("::").next().unwrap_or("test").to_string()
}

/// Writes each `fn name() { body }` as `mod name { sled, postgres }`, two tests of one body.
#[macro_export]
macro_rules! on_both_stores {
    ($($(#[doc = $doc:literal])* fn $name:ident() $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body() $body

                #[test]
                fn sled() {
                    $crate::common::backend::run_on($crate::common::backend::Backend::Sled, body);
                }

                #[test]
                fn postgres() {
                    $crate::common::backend::run_on($crate::common::backend::Backend::Postgres, body);
                }
            }
        )*
    };
}

/// Where `needle` is at rest in this test's store for the folder `dir`, or in the other
/// files of `dir`'s parent folder (the data folder): with sled, the files holding it; with
/// PostgreSQL, also the tables whose rows hold it (as text or in a value's bytes) and, where
/// the test's role may read the cluster's folder, the database's files and the WAL after a
/// checkpoint (which a value compressed by PostgreSQL may hide in; the rows never do).
pub fn where_stored(dir: &Path, needle: &str) -> Vec<String> {
    let data_folder = dir.parent().unwrap_or(dir);
    let mut hits = files_holding(data_folder, needle.as_bytes());
    if current() == Backend::Postgres {
        let url = match store_at(dir) {
            StoreAt::Postgres(url) => url,
            StoreAt::Sled(_) => unreachable!(),
        };
        hits.extend(postgres_holding(&url, needle));
    }
    hits
}

fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

fn postgres_holding(url: &str, needle: &str) -> Vec<String> {
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    let mut hits = Vec::new();
    let tables = sql(
        url,
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
    )
    .unwrap();
    for table in tables {
        let table: String = table.get(0);
        for row in sql(url, &format!("SELECT t::text FROM {table} t")).unwrap() {
            let text: String = row.get(0);
            if text.contains(needle) || text.contains(&hex) {
                hits.push(format!("table {table}"));
                break;
            }
        }
    }
    // The files themselves, when this role may see them (a superuser on a local cluster,
    // as tests/with-postgres starts).
    if sql(url, "CHECKPOINT").is_ok()
        && let Ok(rows) = sql(
            url,
            "SELECT current_setting('data_directory'), oid::text FROM pg_database \
             WHERE datname = current_database()",
        )
    {
        let data: String = rows[0].get(0);
        let oid: String = rows[0].get(1);
        let data = Path::new(&data);
        for dir in [data.join("base").join(oid), data.join("pg_wal")] {
            hits.extend(files_holding(&dir, needle.as_bytes()));
        }
    }
    hits
}

/// Runs one statement on the database at `url` and returns its rows; usable on any
/// thread (it runs on one of its own).
pub fn sql(url: &str, statement: &str) -> Result<Vec<tokio_postgres::Row>, String> {
    let (url, statement) = (url.to_string(), statement.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            client
                .query(&statement, &[])
                .await
                .map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap()
}
