//! The two atomic changes, each one transaction: a [`Step`] and a [`Purge`].

use crate::{PgStore, pg_err};
use redial_core::records::TenantCounters;
use redial_core::store::{Purge, Step, StoreError};
use redial_store_format::{decode, encode};
use tokio_postgres::types::ToSql;

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs one statement, prepared once per connection, in a transaction.
async fn run(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_err)?;
    tx.execute(&statement, params).await.map_err(pg_err)
}

impl PgStore {
    /// Writes a step in one transaction; returns the outbox ids its effects were given.
    pub(crate) async fn commit_step(&self, step: &Step) -> Result<Vec<u64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if let Some(case) = &step.case {
            run(
                &tx,
                "INSERT INTO cases (id, tenant, caller, opened_ms, open, record)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET open = $5, record = $6",
                &[
                    &case.id,
                    &case.tenant,
                    &case.caller,
                    &case.opened_ms,
                    &case.state.is_open(),
                    &encode(case),
                ],
            )
            .await?;
            if !step.events.is_empty() {
                let first_seq = case.journal_len as i32 - step.events.len() as i32;
                run(
                    &tx,
                    "INSERT INTO journal (case_id, first_seq, events) VALUES ($1, $2, $3)",
                    &[&case.id, &first_seq, &encode(&step.events)],
                )
                .await?;
            }
            match case.timer {
                Some(timer) => {
                    run(
                        &tx,
                        "INSERT INTO timers (case_id, tenant, due_ms, kind) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (case_id) DO UPDATE SET due_ms = $3, kind = $4",
                        &[&case.id, &case.tenant, &timer.due_ms, &encode(&timer.kind)],
                    )
                    .await?;
                }
                None if step.previous_timer.is_some() => {
                    run(&tx, "DELETE FROM timers WHERE case_id = $1", &[&case.id]).await?;
                }
                None => {}
            }
        }
        // The stored counters are read only when the step moves a case without bringing
        // its tenant's counters.
        let stored = match &step.case {
            Some(case) if step.needs_stored_counters() => {
                let statement = tx
                    .prepare_cached("SELECT record FROM counters WHERE tenant = $1")
                    .await
                    .map_err(pg_err)?;
                let row = tx
                    .query_opt(&statement, &[&case.tenant])
                    .await
                    .map_err(pg_err)?;
                match row {
                    Some(row) => decode("tenant counters", row.get::<_, &[u8]>(0))?,
                    None => TenantCounters::default(),
                }
            }
            _ => TenantCounters::default(),
        };
        if let Some((tenant, counters)) = step.counters_after(|_| Ok(stored))? {
            run(
                &tx,
                "INSERT INTO counters (tenant, record) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET record = $2",
                &[&tenant, &encode(&counters)],
            )
            .await?;
        }
        let mut ids = Vec::with_capacity(step.effects.len());
        if !step.effects.is_empty() {
            let statement = tx
                .prepare_cached(
                    "INSERT INTO outbox (tenant, case_id, key, item) VALUES ($1, $2, $3, $4)
                     RETURNING id",
                )
                .await
                .map_err(pg_err)?;
            for item in &step.effects {
                let row = tx
                    .query_one(
                        &statement,
                        &[&item.tenant, &item.case_id, &item.key, &encode(item)],
                    )
                    .await
                    .map_err(pg_err)?;
                ids.push(row.get::<_, i64>(0) as u64);
            }
        }
        if !step.effects.is_empty() {
            // Delivered on commit: wakes the tenant's owner if it is another node.
            run(
                &tx,
                "SELECT pg_notify($1, $2)",
                &[&crate::listen::CHANNEL, &self.node],
            )
            .await?;
        }
        if let Some(id) = step.consumed {
            run(&tx, "DELETE FROM outbox WHERE id = $1", &[&(id as i64)]).await?;
        }
        if let Some(dead) = &step.dead_letter {
            let id = dead.id as i64;
            run(&tx, "DELETE FROM outbox WHERE id = $1", &[&id]).await?;
            run(
                &tx,
                "INSERT INTO dead_letters (tenant, id, case_id, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, id) DO UPDATE SET record = $4",
                &[&dead.item.tenant, &id, &dead.item.case_id, &encode(dead)],
            )
            .await?;
        }
        if let Some((tenant, id)) = &step.revived {
            run(
                &tx,
                "DELETE FROM dead_letters WHERE tenant = $1 AND id = $2",
                &[tenant, &(*id as i64)],
            )
            .await?;
        }
        if let Some((tenant, entry)) = &step.opt_out {
            run(
                &tx,
                "INSERT INTO opt_outs (tenant, entry) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[tenant, entry],
            )
            .await?;
        }
        if let Some((tenant, record)) = &step.ignored {
            run(
                &tx,
                "INSERT INTO ignored (tenant, at_ms, caller, record) VALUES ($1, $2, $3, $4)",
                &[tenant, &record.at_ms, &record.caller, &encode(record)],
            )
            .await?;
        }
        if let Some(event) = &step.inbound {
            // No ON CONFLICT: an event id processed twice fails the second step whole.
            run(
                &tx,
                "INSERT INTO inbound (tenant, id, at_ms) VALUES ($1, $2, $3)",
                &[&event.tenant, &event.id, &event.at_ms],
            )
            .await?;
        }
        if let Some(ms) = step.clock_ms {
            run(
                &tx,
                "INSERT INTO meta (key, value) VALUES ('clock', $1)
                 ON CONFLICT (key) DO UPDATE SET value = $1",
                &[&ms],
            )
            .await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(ids)
    }

    /// Removes what a purge names and writes its rollup, in one transaction.
    pub(crate) async fn commit_purge(&self, purge: &Purge) -> Result<(), StoreError> {
        let ids: Vec<&str> = purge.cases.iter().map(|c| c.id.as_str()).collect();
        let tenant = &purge.tenant;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if !ids.is_empty() {
            for sql in [
                "DELETE FROM cases WHERE id = ANY($1)",
                "DELETE FROM journal WHERE case_id = ANY($1)",
                "DELETE FROM timers WHERE case_id = ANY($1)",
            ] {
                run(&tx, sql, &[&ids]).await?;
            }
            for sql in [
                "DELETE FROM outbox WHERE tenant = $1 AND case_id = ANY($2)",
                "DELETE FROM dead_letters WHERE tenant = $1 AND case_id = ANY($2)",
            ] {
                run(&tx, sql, &[tenant, &ids]).await?;
            }
        }
        if purge.ignored_before_ms.is_some() || purge.ignored_of.is_some() {
            // A NULL bound matches nothing.
            run(
                &tx,
                "DELETE FROM ignored WHERE tenant = $1 AND (at_ms < $2 OR caller = $3)",
                &[tenant, &purge.ignored_before_ms, &purge.ignored_of],
            )
            .await?;
        }
        run(
            &tx,
            "INSERT INTO rollups (tenant, record) VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET record = $2",
            &[tenant, &encode(&purge.rollup)],
        )
        .await?;
        tx.commit().await.map_err(pg_err)
    }
}
