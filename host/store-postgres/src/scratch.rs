//! Throwaway databases on a server the caller names: each test and benchmark run gets an
//! empty database of its own, dropped when it is done, so runs never see each other's rows.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the server tests use: a URL whose role may create databases
/// (`tests/with-postgres` starts a throwaway cluster and sets it).
pub const TEST_SERVER_VAR: &str = "REDIAL_TEST_POSTGRES";

/// An empty database, dropped (with any connections still open to it) on drop.
pub struct ScratchDatabase {
    /// Its URL: the server's, with this database's name.
    pub url: String,
    server: String,
    name: String,
}

impl ScratchDatabase {
    /// A new empty database on the server at `server` (any database's URL there), named
    /// after `label`.
    pub fn create(server: &str, label: &str) -> Result<ScratchDatabase, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "redial_{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        admin(server, &format!("CREATE DATABASE {name}"))?;
        let mut url: String = server.to_string();
        let path_start = url
            .find("://")
            .and_then(|scheme| url[scheme + 3..].find('/').map(|p| scheme + 3 + p))
            .ok_or_else(|| {
                format!("{TEST_SERVER_VAR} must be a postgres:// URL with a database")
            })?;
        let query = url[path_start..].find('?').map(|q| path_start + q);
        let tail = query.map(|q| url[q..].to_string()).unwrap_or_default();
        url.truncate(path_start);
        url.push('/');
        url.push_str(&name);
        url.push_str(&tail);
        Ok(ScratchDatabase {
            url,
            server: server.to_string(),
            name,
        })
    }

    /// A new empty database on the server [`TEST_SERVER_VAR`] names; panics, saying how
    /// to get one, when it names none.
    pub fn for_test(label: &str) -> ScratchDatabase {
        let server = std::env::var(TEST_SERVER_VAR).unwrap_or_else(|_| {
            panic!(
                "{TEST_SERVER_VAR} is not set: run the tests through `tests/with-postgres` \
                 (it starts a throwaway PostgreSQL), or set it to a server URL whose role may \
                 create databases"
            )
        });
        ScratchDatabase::create(&server, label).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &sql) {
            tracing::warn!(database = %self.name, error = %e, "could not drop a scratch database");
        }
    }
}

/// Runs one statement on `server`, on a thread of its own (so it may be called anywhere,
/// inside a runtime or not).
fn admin(server: &str, sql: &str) -> Result<(), String> {
    let server = server.to_string();
    let sql = sql.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot connect to {TEST_SERVER_VAR}'s server: {e}"))?;
            tokio::spawn(connection);
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("{sql}: {}", crate::describe_error(&e)))
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}
