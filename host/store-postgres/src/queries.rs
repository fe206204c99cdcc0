//! The Store port's calls, each one statement (or one transaction) on a pooled connection.

use crate::schema::{PERSONAL_TABLES, TABLES};
use crate::{PgStore, pg_err};
use redial_core::records::{
    CaseRecord, DeadLetter, Funnel, IgnoredSignal, JournalEntry, OutboxItem, PluginVersion,
    SealedSecret, TenantCounters, Timer, TimerKind, Tombstone, Trial,
};
use redial_core::store::{
    CallerCases, Durable, Ownership, PendingStep, Purge, Step, Store, StoreError, StoreLock,
    StoreSizes, Ticket,
};
use redial_store_format::{Record, decode, encode};
use std::sync::atomic::Ordering;

/// Decodes column `i` of every row (`what` names the record in errors).
fn decode_all<R: Record>(
    rows: &[tokio_postgres::Row],
    i: usize,
    what: &str,
) -> Result<Vec<R>, StoreError> {
    rows.iter().map(|row| decode(what, row.get(i))).collect()
}

/// Decodes column 0 of the first row, if any.
fn decode_first<R: Record>(
    rows: &[tokio_postgres::Row],
    what: &str,
) -> Result<Option<R>, StoreError> {
    rows.first().map(|row| decode(what, row.get(0))).transpose()
}

impl Store for PgStore {
    fn commit(&self, step: &Step) -> Result<(), StoreError> {
        let ids = self.block(self.commit_step(step))?;
        self.steps.fetch_add(1, Ordering::SeqCst);
        self.new_effects
            .record(ids.into_iter().zip(step.effects.iter().cloned()));
        Ok(())
    }

    fn step_started(&self) -> PendingStep {
        PendingStep::none()
    }

    fn lock_tenant(&self, tenant: &str) -> Result<StoreLock, StoreError> {
        self.lock(tenant)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn claim_tenants(&self, known: &[String]) -> Result<Ownership, StoreError> {
        self.claim(known)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.steps.load(Ordering::SeqCst))
    }

    fn durable(&self, _: Ticket) -> Durable {
        Box::pin(std::future::ready(Ok(())))
    }

    fn recovered_steps(&self) -> usize {
        0
    }

    fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let rows = self.query("SELECT record FROM cases WHERE id = $1", &[&id])?;
        decode_first(&rows, "case")
    }

    fn cases(&self, tenant: Option<&str>) -> Result<Vec<CaseRecord>, StoreError> {
        let rows = match tenant {
            Some(tenant) => self.query(
                "SELECT record FROM cases WHERE tenant = $1 ORDER BY opened_ms, id",
                &[&tenant],
            )?,
            None => self.query("SELECT record FROM cases ORDER BY opened_ms, id", &[])?,
        };
        decode_all(&rows, 0, "case")
    }

    fn journal(&self, case_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = self.query(
            "SELECT events FROM journal WHERE case_id = $1 ORDER BY first_seq",
            &[&case_id],
        )?;
        let steps: Vec<Vec<JournalEntry>> = decode_all(&rows, 0, "journal events")?;
        Ok(steps.into_iter().flatten().collect())
    }

    fn caller_cases(&self, tenant: &str, caller: &str) -> Result<CallerCases, StoreError> {
        let rows = self.query(
            "SELECT record FROM cases WHERE tenant = $1 AND caller = $2 ORDER BY opened_ms, id",
            &[&tenant, &caller],
        )?;
        let mut found = CallerCases::default();
        for case in decode_all::<CaseRecord>(&rows, 0, "case")? {
            if case.state.is_open() {
                found.open = Some(case);
            } else {
                found.others.push(case);
            }
        }
        Ok(found)
    }

    fn seen_inbound(&self, tenant: &str, event_id: &str) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT 1 FROM inbound WHERE tenant = $1 AND id = $2",
            &[&tenant, &event_id],
        )?;
        Ok(!rows.is_empty())
    }

    fn forget_inbound(&self, before_ms: i64, _now_ms: i64) -> Result<usize, StoreError> {
        let n = self.execute("DELETE FROM inbound WHERE at_ms < $1", &[&before_ms])?;
        Ok(n as usize)
    }

    fn opted_out(&self, tenant: &str, entry: &str) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT 1 FROM opt_outs WHERE tenant = $1 AND entry = $2",
            &[&tenant, &entry],
        )?;
        Ok(!rows.is_empty())
    }

    fn opt_outs(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.query(
            "SELECT tenant, entry FROM opt_outs ORDER BY tenant, entry",
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn replace_opt_out(
        &self,
        tenant: &str,
        old: &str,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        let remove = "DELETE FROM opt_outs WHERE tenant = $1 AND entry = $2";
        let add = "INSERT INTO opt_outs (tenant, entry) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        match new {
            Some(new) => self.transaction(&[(remove, &[&tenant, &old]), (add, &[&tenant, &new])]),
            None => self.transaction(&[(remove, &[&tenant, &old])]),
        }
    }

    fn due_timers(&self, now_ms: i64) -> Result<Vec<(String, Timer)>, StoreError> {
        let rows = self.query(
            "SELECT case_id, due_ms, kind FROM timers WHERE due_ms <= $1 ORDER BY due_ms, case_id",
            &[&now_ms],
        )?;
        rows.iter()
            .map(|row| {
                let kind: TimerKind = decode("timer", row.get(2))?;
                let timer = Timer {
                    due_ms: row.get(1),
                    kind,
                };
                Ok((row.get(0), timer))
            })
            .collect()
    }

    fn next_timer_ms(&self) -> Result<Option<i64>, StoreError> {
        let rows = self.query("SELECT min(due_ms) FROM timers", &[])?;
        Ok(rows.first().and_then(|row| row.get(0)))
    }

    fn outbox_where(
        &self,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let rows = self.query("SELECT id, item FROM outbox ORDER BY id", &[])?;
        let mut items = Vec::new();
        for row in &rows {
            let id = row.get::<_, i64>(0) as u64;
            if keep(id) {
                items.push((id, decode("outbox item", row.get(1))?));
            }
        }
        Ok(items)
    }

    fn track_new_effects(&self) {
        self.new_effects.track();
    }

    fn take_new_effects(&self) -> Option<Vec<(u64, OutboxItem)>> {
        let listed = self.new_effects.take();
        // Another node queued items this one may own: scan the outbox for them.
        if self.others_committed.swap(false, Ordering::SeqCst) {
            return None;
        }
        listed
    }

    fn in_outbox(&self, id: u64) -> Result<bool, StoreError> {
        let rows = self.query("SELECT 1 FROM outbox WHERE id = $1", &[&(id as i64)])?;
        Ok(!rows.is_empty())
    }

    fn outbox_len(&self) -> usize {
        match self.query("SELECT count(*) FROM outbox", &[]) {
            Ok(rows) => rows.first().map_or(0, |r| r.get::<_, i64>(0) as usize),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the outbox");
                0
            }
        }
    }

    fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = self.query(
            "SELECT record FROM dead_letters WHERE tenant = $1 ORDER BY id",
            &[&tenant],
        )?;
        decode_all(&rows, 0, "dead letter")
    }

    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.query(
            "SELECT tenant, count(*) FROM dead_letters GROUP BY tenant ORDER BY tenant",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn ignored(&self, tenant: &str) -> Result<Vec<IgnoredSignal>, StoreError> {
        let rows = self.query(
            "SELECT record FROM ignored WHERE tenant = $1 ORDER BY id",
            &[&tenant],
        )?;
        decode_all(&rows, 0, "ignored signal")
    }

    fn counters(&self, tenant: &str) -> Result<TenantCounters, StoreError> {
        let rows = self.query("SELECT record FROM counters WHERE tenant = $1", &[&tenant])?;
        Ok(decode_first(&rows, "tenant counters")?.unwrap_or_default())
    }

    fn put_token(&self, token_hash: &str, tenant: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tokens (hash, tenant) VALUES ($1, $2)
             ON CONFLICT (hash) DO UPDATE SET tenant = $2",
            &[&token_hash, &tenant],
        )?;
        Ok(())
    }

    fn token_tenant(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT tenant FROM tokens WHERE hash = $1", &[&token_hash])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn revoke_tokens(&self, tenant: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM tokens WHERE tenant = $1", &[&tenant])?;
        Ok(())
    }

    fn put_secret(
        &self,
        tenant: &str,
        name: &str,
        secret: &SealedSecret,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO secrets (tenant, name, record) VALUES ($1, $2, $3)
             ON CONFLICT (tenant, name) DO UPDATE SET record = $3",
            &[&tenant, &name, &encode(secret)],
        )?;
        Ok(())
    }

    fn secrets(&self, tenant: &str) -> Result<Vec<(String, SealedSecret)>, StoreError> {
        let rows = self.query(
            "SELECT name, record FROM secrets WHERE tenant = $1 ORDER BY name",
            &[&tenant],
        )?;
        rows.iter()
            .map(|r| Ok((r.get(0), decode("secret", r.get(1))?)))
            .collect()
    }

    fn delete_secrets(&self, tenant: &str, name: Option<&str>) -> Result<bool, StoreError> {
        let n = match name {
            Some(name) => self.execute(
                "DELETE FROM secrets WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )?,
            None => self.execute("DELETE FROM secrets WHERE tenant = $1", &[&tenant])?,
        };
        Ok(n > 0)
    }

    fn plugin_versions(&self, tenant: &str, slot: &str) -> Result<Vec<PluginVersion>, StoreError> {
        let rows = self.query(
            "SELECT record FROM plugin_versions WHERE tenant = $1 AND slot = $2",
            &[&tenant, &slot],
        )?;
        Ok(decode_first(&rows, "plugin versions")?.unwrap_or_default())
    }

    fn set_plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
        versions: &[PluginVersion],
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO plugin_versions (tenant, slot, record) VALUES ($1, $2, $3)
             ON CONFLICT (tenant, slot) DO UPDATE SET record = $3",
            &[&tenant, &slot, &encode(&versions.to_vec())],
        )?;
        Ok(())
    }

    fn trial(&self, tenant: &str, slot: &str) -> Result<Option<Trial>, StoreError> {
        let rows = self.query(
            "SELECT record FROM trials WHERE tenant = $1 AND slot = $2",
            &[&tenant, &slot],
        )?;
        decode_first(&rows, "trial")
    }

    fn set_trial(&self, tenant: &str, slot: &str, trial: Option<&Trial>) -> Result<(), StoreError> {
        match trial {
            Some(trial) => self.execute(
                "INSERT INTO trials (tenant, slot, record) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, slot) DO UPDATE SET record = $3",
                &[&tenant, &slot, &encode(trial)],
            )?,
            None => self.execute(
                "DELETE FROM trials WHERE tenant = $1 AND slot = $2",
                &[&tenant, &slot],
            )?,
        };
        Ok(())
    }

    fn purge(&self, purge: &Purge) -> Result<(), StoreError> {
        self.block(self.commit_purge(purge))
    }

    fn rollup(&self, tenant: &str) -> Result<Funnel, StoreError> {
        let rows = self.query("SELECT record FROM rollups WHERE tenant = $1", &[&tenant])?;
        Ok(decode_first(&rows, "rollup")?.unwrap_or_default())
    }

    fn put_tombstone(&self, tenant: &str, tombstone: &Tombstone) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tombstones (tenant, record) VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET record = $2",
            &[&tenant, &encode(tombstone)],
        )?;
        Ok(())
    }

    fn tombstones(&self) -> Result<Vec<(String, Tombstone)>, StoreError> {
        let rows = self.query("SELECT tenant, record FROM tombstones ORDER BY tenant", &[])?;
        rows.iter()
            .map(|r| Ok((r.get(0), decode("tombstone", r.get(1))?)))
            .collect()
    }

    fn forget_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_err)?;
            for table in [
                "counters",
                "rollups",
                "tombstones",
                "ignored",
                "inbound",
                "opt_outs",
                "dead_letters",
                "tokens",
                "secrets",
                "plugin_versions",
                "trials",
            ] {
                let sql = format!("DELETE FROM {table} WHERE tenant = $1");
                tx.execute(&sql, &[&tenant]).await.map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)
        })
    }

    fn rewrite(&self) -> Result<(), StoreError> {
        // VACUUM FULL writes each table into new files and deletes the old ones, so removed
        // rows leave the table files (the WAL keeps them until its segments are recycled).
        self.block(async {
            let client = self.client().await?;
            for table in PERSONAL_TABLES {
                client
                    .batch_execute(&format!("VACUUM FULL {table}"))
                    .await
                    .map_err(pg_err)?;
            }
            Ok(())
        })
    }

    fn sizes(&self) -> Result<StoreSizes, StoreError> {
        // Live bytes: each table's size scaled by its share of live rows (the statistics
        // autovacuum keeps), so dead rows count as reclaimable.
        let rows = self.query(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint,
                    coalesce(sum(pg_total_relation_size(relid)
                        * (n_live_tup + 1)::float8 / (n_live_tup + n_dead_tup + 1)), 0)::bigint
             FROM pg_stat_user_tables
             WHERE schemaname = current_schema() AND relname = ANY($1)",
            &[&TABLES],
        )?;
        let row = rows.first();
        Ok(StoreSizes {
            on_disk: row.map_or(0, |r| r.get::<_, i64>(0) as u64),
            live: row.map_or(0, |r| r.get::<_, i64>(1) as u64),
        })
    }

    fn backup(&self, _: &std::path::Path) -> Result<u64, StoreError> {
        Err(StoreError::Backend(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or \
             pg_basebackup with WAL archiving), not by Redial"
                .into(),
        ))
    }

    fn clock_ms(&self) -> Result<Option<i64>, StoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = 'clock'", &[])?;
        Ok(rows.first().map(|r| r.get(0)))
    }
}
