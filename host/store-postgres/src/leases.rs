//! Several nodes on one database. Every step of a tenant holds the tenant's advisory lock
//! for its whole run (read, decide, commit), so a request any node takes may run its step
//! there, one at a time with every other node's steps of that tenant. What a node does on
//! its own initiative — fire timers, deliver the outbox, housekeeping — it does only for
//! the tenants whose lease it holds: each live node takes a fair share, renews it every
//! [`LEASE_RENEWAL`], and a lease not renewed for [`LEASE_TERM`] passes to the others.

use crate::{PgStore, pg_err};
use deadpool_postgres::Object;
use redial_core::store::{LEASE_TERM, Ownership, StoreError, StoreLock};
use std::collections::BTreeSet;

/// How long a step waits for another node's step of the same tenant before it fails as
/// unavailable (a node stalled while holding it); steps take milliseconds.
pub(crate) const LOCK_WAIT_MS: u64 = 10_000;

/// A held advisory lock and the connection (session) that holds it.
struct Held {
    connection: Option<Object>,
    tenant: String,
    runtime: tokio::runtime::Handle,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let _entered = self.runtime.enter();
        let unlocked = futures_executor::block_on(connection.execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&self.tenant],
        ));
        if let Err(e) = unlocked {
            // The session may still hold the lock: close it rather than pool it, which
            // ends the session and with it the lock.
            tracing::warn!(tenant = %self.tenant, error = %e, "cannot release a tenant lock; closing its connection");
            drop(Object::take(connection));
        }
    }
}

impl PgStore {
    /// Waits for `tenant`'s advisory lock on a connection of the lock pool, and keeps it
    /// until the returned guard drops.
    pub(crate) fn lock(&self, tenant: &str) -> Result<StoreLock, StoreError> {
        let connection = self.block(async {
            let connection = self.locks.get().await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot reach PostgreSQL at {} for a tenant lock: {e}",
                    self.target
                ))
            })?;
            connection
                .execute(
                    "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                    &[&tenant],
                )
                .await
                .map_err(|e| match e.code() {
                    Some(code) if *code == tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE => {
                        StoreError::Unavailable(format!(
                            "another node held tenant {tenant}'s lock for over {LOCK_WAIT_MS} ms"
                        ))
                    }
                    _ => pg_err(e),
                })?;
            Ok::<_, StoreError>(connection)
        })?;
        Ok(StoreLock::new(Held {
            connection: Some(connection),
            tenant: tenant.to_string(),
            runtime: self.handle(),
        }))
    }

    /// Heartbeats this node, renews its leases among `known`, then gives up what is above
    /// its fair share (the known tenants over the live nodes, rounded up) or takes free and
    /// lapsed leases up to it. One transaction; leases are rows, so two nodes never take
    /// the same one (the conditional upsert rechecks the row it locks).
    pub(crate) fn claim(&self, known: &[String]) -> Result<Ownership, StoreError> {
        let term = LEASE_TERM.as_secs_f64();
        let node = &self.node;
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_err)?;
            // Tenants no node loads any more may still have timers or outbox items, which
            // the engine closes: they are leased like the rest, so someone does.
            let pending = tx
                .query(
                    "SELECT tenant FROM timers UNION SELECT tenant FROM outbox",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            let mut known: Vec<String> = known.to_vec();
            known.extend(pending.iter().map(|r| r.get::<_, String>(0)));
            known.sort();
            known.dedup();
            let known = &known;
            tx.execute(
                "INSERT INTO nodes (id, seen_at) VALUES ($1, now())
                 ON CONFLICT (id) DO UPDATE SET seen_at = now()",
                &[node],
            )
            .await
            .map_err(pg_err)?;
            tx.execute(
                "DELETE FROM nodes WHERE seen_at < now() - make_interval(secs => $1)",
                &[&(term * 10.0)],
            )
            .await
            .map_err(pg_err)?;
            let live: i64 = tx
                .query_one(
                    "SELECT count(*) FROM nodes WHERE seen_at > now() - make_interval(secs => $1)",
                    &[&term],
                )
                .await
                .map_err(pg_err)?
                .get(0);
            let renewed = tx
                .query(
                    "UPDATE leases SET expires_at = now() + make_interval(secs => $2)
                     WHERE node = $1 AND expires_at > now() AND tenant = ANY($3)
                     RETURNING tenant",
                    &[node, &term, &known],
                )
                .await
                .map_err(pg_err)?;
            let mut held: BTreeSet<String> = renewed.iter().map(|r| r.get(0)).collect();
            let fair = known.len().div_ceil(live.max(1) as usize);
            if held.len() > fair {
                let extra: Vec<String> = held.iter().skip(fair).cloned().collect();
                tx.execute(
                    "UPDATE leases SET expires_at = now() WHERE node = $1 AND tenant = ANY($2)",
                    &[node, &extra],
                )
                .await
                .map_err(pg_err)?;
                for tenant in &extra {
                    held.remove(tenant);
                }
            } else if held.len() < fair {
                let want = (fair - held.len()) as i64;
                let free = tx
                    .query(
                        "SELECT t FROM unnest($1::text[]) AS t
                         WHERE NOT EXISTS (
                             SELECT 1 FROM leases l WHERE l.tenant = t AND l.expires_at > now())
                         ORDER BY random() LIMIT $2",
                        &[&known, &want],
                    )
                    .await
                    .map_err(pg_err)?;
                let take = tx
                    .prepare_cached(
                        "INSERT INTO leases (tenant, node, expires_at)
                         VALUES ($1, $2, now() + make_interval(secs => $3))
                         ON CONFLICT (tenant) DO UPDATE
                             SET node = $2, expires_at = now() + make_interval(secs => $3)
                             WHERE leases.expires_at <= now()
                         RETURNING tenant",
                    )
                    .await
                    .map_err(pg_err)?;
                for row in free {
                    let tenant: String = row.get(0);
                    let taken = tx
                        .query_opt(&take, &[&tenant, node, &term])
                        .await
                        .map_err(pg_err)?;
                    if taken.is_some() {
                        held.insert(tenant);
                    }
                }
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(Ownership::Only(held))
        })
    }
}
