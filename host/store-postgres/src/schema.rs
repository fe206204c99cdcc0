//! The tables, as numbered migrations applied at start. A database records the version it
//! is at; a node applies the migrations it knows past that version in one transaction,
//! under an advisory lock so nodes starting together do not race, and refuses a database
//! a newer Redial has migrated past what it knows.
//!
//! This is a short list run by hand rather than a migration crate's runner because the
//! refusal must name both versions and the migration must hold the cluster-wide lock; the
//! runner itself is the one function below.

use deadpool_postgres::Client;
use redial_core::store::StoreError;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 2;

/// Taken by the node migrating the schema (`pg_advisory_xact_lock`); any number no other
/// program on the database uses.
const MIGRATION_LOCK: i64 = 0x5245_4449_414c_0001;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: every record the Store port keeps. Values are the store format's versioned
    // bytes (`redial-store-format`); the columns beside them are what queries select by.
    r#"
    CREATE TABLE cases (
        id text PRIMARY KEY,
        tenant text NOT NULL,
        caller text NOT NULL,
        opened_ms bigint NOT NULL,
        open boolean NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX cases_by_tenant ON cases (tenant, opened_ms, id);
    CREATE INDEX cases_by_caller ON cases (tenant, caller, opened_ms, id);
    CREATE TABLE journal (
        case_id text NOT NULL,
        first_seq integer NOT NULL,
        events bytea NOT NULL,
        PRIMARY KEY (case_id, first_seq)
    );
    CREATE TABLE timers (
        case_id text PRIMARY KEY,
        tenant text NOT NULL,
        due_ms bigint NOT NULL,
        kind bytea NOT NULL
    );
    CREATE INDEX timers_by_due ON timers (due_ms, case_id);
    CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant text NOT NULL,
        case_id text NOT NULL,
        key text NOT NULL,
        item bytea NOT NULL,
        UNIQUE (tenant, key)
    );
    CREATE INDEX outbox_by_case ON outbox (tenant, case_id);
    CREATE TABLE dead_letters (
        tenant text NOT NULL,
        id bigint NOT NULL,
        case_id text NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE opt_outs (
        tenant text NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (tenant, entry)
    );
    CREATE TABLE ignored (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant text NOT NULL,
        at_ms bigint NOT NULL,
        caller text NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX ignored_by_tenant ON ignored (tenant, id);
    CREATE TABLE inbound (
        tenant text NOT NULL,
        id text NOT NULL,
        at_ms bigint NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX inbound_by_time ON inbound (at_ms);
    CREATE TABLE counters (tenant text PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE rollups (tenant text PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE tombstones (tenant text PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE tokens (hash text PRIMARY KEY, tenant text NOT NULL);
    CREATE INDEX tokens_by_tenant ON tokens (tenant);
    CREATE TABLE secrets (
        tenant text NOT NULL,
        name text NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (tenant, name)
    );
    CREATE TABLE plugin_versions (
        tenant text NOT NULL,
        slot text NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (tenant, slot)
    );
    CREATE TABLE trials (
        tenant text NOT NULL,
        slot text NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (tenant, slot)
    );
    CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);
    "#,
    // 2: several nodes on one database: each node's heartbeat, and which node holds each
    // tenant's lease until when (database time, so nodes' clocks do not matter).
    r#"
    CREATE TABLE nodes (
        id text PRIMARY KEY,
        seen_at timestamptz NOT NULL
    );
    CREATE TABLE leases (
        tenant text PRIMARY KEY,
        node text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX leases_by_node ON leases (node);
    "#,
];

/// Tables holding values about callers: what a rewrite compacts.
pub const PERSONAL_TABLES: &[&str] = &[
    "cases",
    "journal",
    "timers",
    "outbox",
    "dead_letters",
    "ignored",
    "opt_outs",
    "inbound",
];

/// Every table of the schema (for sizes).
pub const TABLES: &[&str] = &[
    "cases",
    "journal",
    "timers",
    "outbox",
    "dead_letters",
    "opt_outs",
    "ignored",
    "inbound",
    "counters",
    "rollups",
    "tombstones",
    "tokens",
    "secrets",
    "plugin_versions",
    "trials",
    "meta",
    "nodes",
    "leases",
    "redial_schema",
];

/// Brings the database's schema to [`SCHEMA_VERSION`], in one transaction; returns the
/// version it found (0 for an empty database).
pub async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    let tx = client.transaction().await.map_err(crate::pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(crate::pg_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS redial_schema (
             one boolean PRIMARY KEY DEFAULT true CHECK (one),
             version integer NOT NULL,
             written_by text NOT NULL
         )",
    )
    .await
    .map_err(crate::pg_err)?;
    let row = tx
        .query_opt("SELECT version, written_by FROM redial_schema", &[])
        .await
        .map_err(crate::pg_err)?;
    let (found, written_by): (i32, String) = match row {
        Some(row) => (row.get(0), row.get(1)),
        None => (0, String::new()),
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::Backend(newer_schema(found, &written_by)));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Backend(format!("schema migration {} failed: {e}", i + 1)))?;
    }
    let written_by = format!("Redial {}", env!("CARGO_PKG_VERSION"));
    tx.execute(
        "INSERT INTO redial_schema (version, written_by) VALUES ($1, $2)
         ON CONFLICT (one) DO UPDATE SET version = $1, written_by = $2",
        &[&SCHEMA_VERSION, &written_by],
    )
    .await
    .map_err(crate::pg_err)?;
    tx.commit().await.map_err(crate::pg_err)?;
    if found < SCHEMA_VERSION {
        tracing::info!(
            from = found,
            to = SCHEMA_VERSION,
            "PostgreSQL store schema migrated"
        );
    }
    Ok(found)
}

/// Why a node refuses a database migrated by a newer Redial.
fn newer_schema(found: i32, written_by: &str) -> String {
    format!(
        "the database's schema is version {found} (migrated by {written_by}), newer than \
         version {SCHEMA_VERSION}, the newest this build (Redial {}) knows; run a Redial \
         at least as new as the one that migrated it",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_version() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }

    #[test]
    fn the_refusal_names_both_versions() {
        let message = newer_schema(SCHEMA_VERSION + 1, "Redial 9.0.0");
        assert!(message.contains(&format!("version {}", SCHEMA_VERSION + 1)));
        assert!(message.contains(&format!("version {SCHEMA_VERSION}")));
        assert!(message.contains("Redial 9.0.0"));
    }
}
