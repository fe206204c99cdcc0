//! The Store port in memory: nothing survives the process. For engine tests that should
//! run in microseconds, and for embedders that keep no state; it is also the smallest
//! complete implementation of the port, next to `redial-store-sled`.
//!
//! One mutex guards everything, so every step is atomic and immediately "durable".

use super::{
    CallerCases, Durable, NewEffects, PendingStep, Purge, Step, Store, StoreError, StoreSizes,
    Ticket,
};
use crate::records::{
    CaseRecord, DeadLetter, Funnel, IgnoredSignal, JournalEntry, OutboxItem, PluginVersion,
    SealedSecret, TenantCounters, Timer, Tombstone, Trial,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// Every record in maps, under one lock.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    new_effects: NewEffects,
}

#[derive(Default)]
struct Data {
    cases: BTreeMap<String, CaseRecord>,
    journals: HashMap<String, Vec<JournalEntry>>,
    /// `(due ms, case id)` → timer.
    timers: BTreeMap<(i64, String), Timer>,
    outbox: BTreeMap<u64, OutboxItem>,
    next_outbox_id: u64,
    /// `(tenant, id)` → dead letter.
    dead_letters: BTreeMap<(String, u64), DeadLetter>,
    opted_out: BTreeSet<(String, String)>,
    ignored: BTreeMap<String, Vec<IgnoredSignal>>,
    counters: HashMap<String, TenantCounters>,
    rollups: HashMap<String, Funnel>,
    tombstones: BTreeMap<String, Tombstone>,
    /// `(tenant, event id)` → when processed.
    inbound: BTreeMap<(String, String), i64>,
    tokens: HashMap<String, String>,
    /// `(tenant, name)` → sealed secret.
    secrets: BTreeMap<(String, String), SealedSecret>,
    plugin_versions: HashMap<(String, String), Vec<PluginVersion>>,
    trials: HashMap<(String, String), Trial>,
    clock_ms: Option<i64>,
    steps: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

impl Data {
    /// Applies a step; returns the outbox ids its effects were given.
    fn apply(&mut self, step: &Step) -> Vec<u64> {
        if let Some(case) = &step.case {
            if let Some(old) = step.previous_timer {
                self.timers.remove(&(old.due_ms, case.id.clone()));
            }
            if let Some(timer) = case.timer {
                self.timers.insert((timer.due_ms, case.id.clone()), timer);
            }
            self.journals
                .entry(case.id.clone())
                .or_default()
                .extend(step.events.iter().cloned());
            self.cases.insert(case.id.clone(), case.clone());
        }
        let stored = |tenant: &str| Ok(self.counters.get(tenant).cloned().unwrap_or_default());
        if let Ok(Some((tenant, counters))) = step.counters_after(stored) {
            self.counters.insert(tenant, counters);
        }
        let mut ids = Vec::with_capacity(step.effects.len());
        for item in &step.effects {
            self.next_outbox_id += 1;
            let id = self.next_outbox_id;
            self.outbox.insert(id, item.clone());
            ids.push(id);
        }
        if let Some(id) = step.consumed {
            self.outbox.remove(&id);
        }
        if let Some(dead) = &step.dead_letter {
            self.outbox.remove(&dead.id);
            let key = (dead.item.tenant.clone(), dead.id);
            self.dead_letters.insert(key, dead.clone());
        }
        if let Some(key) = &step.revived {
            self.dead_letters.remove(key);
        }
        if let Some(pair) = &step.opt_out {
            self.opted_out.insert(pair.clone());
        }
        if let Some((tenant, record)) = &step.ignored {
            self.ignored
                .entry(tenant.clone())
                .or_default()
                .push(record.clone());
        }
        if let Some(e) = &step.inbound {
            self.inbound
                .insert((e.tenant.clone(), e.id.clone()), e.at_ms);
        }
        if let Some(ms) = step.clock_ms {
            self.clock_ms = Some(ms);
        }
        self.steps += 1;
        ids
    }
}

impl Store for MemoryStore {
    fn commit(&self, step: &Step) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        let ids = data.apply(step);
        // Listed under the data lock, so the list is in commit order.
        self.new_effects
            .record(ids.into_iter().zip(step.effects.iter().cloned()));
        Ok(())
    }

    fn step_started(&self) -> PendingStep {
        PendingStep::none()
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.data.lock().unwrap().steps)
    }

    fn durable(&self, _: Ticket) -> Durable {
        Box::pin(std::future::ready(Ok(())))
    }

    fn recovered_steps(&self) -> usize {
        0
    }

    fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        Ok(self.data.lock().unwrap().cases.get(id).cloned())
    }

    fn cases(&self, tenant: Option<&str>) -> Result<Vec<CaseRecord>, StoreError> {
        let data = self.data.lock().unwrap();
        let mut cases: Vec<CaseRecord> = data
            .cases
            .values()
            .filter(|c| tenant.is_none_or(|t| c.tenant == t))
            .cloned()
            .collect();
        cases.sort_by_key(|c| (c.opened_ms, c.id.clone()));
        Ok(cases)
    }

    fn journal(&self, case_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data.journals.get(case_id).cloned().unwrap_or_default())
    }

    fn caller_cases(&self, tenant: &str, caller: &str) -> Result<CallerCases, StoreError> {
        let mut found = CallerCases::default();
        for case in self.cases(Some(tenant))? {
            if case.caller != caller {
                continue;
            }
            if case.state.is_open() {
                found.open = Some(case);
            } else {
                found.others.push(case);
            }
        }
        Ok(found)
    }

    fn forget_inbound(&self, before_ms: i64, _now_ms: i64) -> Result<usize, StoreError> {
        let mut data = self.data.lock().unwrap();
        let before = data.inbound.len();
        data.inbound.retain(|_, at| *at >= before_ms);
        Ok(before - data.inbound.len())
    }

    fn seen_inbound(&self, tenant: &str, event_id: &str) -> Result<bool, StoreError> {
        let key = (tenant.to_string(), event_id.to_string());
        Ok(self.data.lock().unwrap().inbound.contains_key(&key))
    }

    fn opted_out(&self, tenant: &str, caller: &str) -> Result<bool, StoreError> {
        let key = (tenant.to_string(), caller.to_string());
        Ok(self.data.lock().unwrap().opted_out.contains(&key))
    }

    fn due_timers(&self, now_ms: i64) -> Result<Vec<(String, Timer)>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data
            .timers
            .iter()
            .take_while(|((due, _), _)| *due <= now_ms)
            .map(|((_, case), timer)| (case.clone(), *timer))
            .collect())
    }

    fn next_timer_ms(&self) -> Result<Option<i64>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data.timers.keys().next().map(|(due, _)| *due))
    }

    fn outbox_where(
        &self,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data
            .outbox
            .iter()
            .filter(|(id, _)| keep(**id))
            .map(|(id, item)| (*id, item.clone()))
            .collect())
    }

    fn track_new_effects(&self) {
        self.new_effects.track();
    }

    fn take_new_effects(&self) -> Option<Vec<(u64, OutboxItem)>> {
        self.new_effects.take()
    }

    fn in_outbox(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.data.lock().unwrap().outbox.contains_key(&id))
    }

    fn outbox_len(&self) -> usize {
        self.data.lock().unwrap().outbox.len()
    }

    fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let data = self.data.lock().unwrap();
        let of_tenant = data.dead_letters.iter().filter(|((t, _), _)| t == tenant);
        Ok(of_tenant.map(|(_, dead)| dead.clone()).collect())
    }

    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let data = self.data.lock().unwrap();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (tenant, _) in data.dead_letters.keys() {
            *counts.entry(tenant.clone()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    fn ignored(&self, tenant: &str) -> Result<Vec<IgnoredSignal>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data.ignored.get(tenant).cloned().unwrap_or_default())
    }

    fn counters(&self, tenant: &str) -> Result<TenantCounters, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data.counters.get(tenant).cloned().unwrap_or_default())
    }

    fn put_secret(
        &self,
        tenant: &str,
        name: &str,
        secret: &SealedSecret,
    ) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        data.secrets
            .insert((tenant.into(), name.into()), secret.clone());
        Ok(())
    }

    fn secrets(&self, tenant: &str) -> Result<Vec<(String, SealedSecret)>, StoreError> {
        let data = self.data.lock().unwrap();
        let of_tenant = data.secrets.iter().filter(|((t, _), _)| t == tenant);
        Ok(of_tenant
            .map(|((_, n), s)| (n.clone(), s.clone()))
            .collect())
    }

    fn delete_secrets(&self, tenant: &str, name: Option<&str>) -> Result<bool, StoreError> {
        let mut data = self.data.lock().unwrap();
        let before = data.secrets.len();
        data.secrets
            .retain(|(t, n), _| t != tenant || name.is_some_and(|name| name != n));
        Ok(data.secrets.len() < before)
    }

    fn put_token(&self, token_hash: &str, tenant: &str) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        data.tokens.insert(token_hash.into(), tenant.into());
        Ok(())
    }

    fn token_tenant(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self.data.lock().unwrap().tokens.get(token_hash).cloned())
    }

    fn revoke_tokens(&self, tenant: &str) -> Result<(), StoreError> {
        self.data.lock().unwrap().tokens.retain(|_, t| t != tenant);
        Ok(())
    }

    fn plugin_versions(&self, tenant: &str, slot: &str) -> Result<Vec<PluginVersion>, StoreError> {
        let data = self.data.lock().unwrap();
        let key = (tenant.to_string(), slot.to_string());
        Ok(data.plugin_versions.get(&key).cloned().unwrap_or_default())
    }

    fn set_plugin_versions(
        &self,
        tenant: &str,
        slot: &str,
        versions: &[PluginVersion],
    ) -> Result<(), StoreError> {
        let key = (tenant.to_string(), slot.to_string());
        let mut data = self.data.lock().unwrap();
        data.plugin_versions.insert(key, versions.to_vec());
        Ok(())
    }

    fn trial(&self, tenant: &str, slot: &str) -> Result<Option<Trial>, StoreError> {
        let key = (tenant.to_string(), slot.to_string());
        Ok(self.data.lock().unwrap().trials.get(&key).cloned())
    }

    fn set_trial(&self, tenant: &str, slot: &str, trial: Option<&Trial>) -> Result<(), StoreError> {
        let key = (tenant.to_string(), slot.to_string());
        let mut data = self.data.lock().unwrap();
        match trial {
            Some(trial) => data.trials.insert(key, trial.clone()),
            None => data.trials.remove(&key),
        };
        Ok(())
    }

    fn purge(&self, purge: &Purge) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        let tenant = &purge.tenant;
        for case in &purge.cases {
            data.cases.remove(&case.id);
            data.journals.remove(&case.id);
            if let Some(t) = case.timer {
                data.timers.remove(&(t.due_ms, case.id.clone()));
            }
            data.outbox.retain(|_, item| item.case_id != case.id);
            data.dead_letters
                .retain(|(t, _), dead| t != tenant || dead.item.case_id != case.id);
        }
        if let Some(ignored) = data.ignored.get_mut(tenant) {
            ignored.retain(|i| {
                let old = purge.ignored_before_ms.is_some_and(|t| i.at_ms < t);
                !old && purge.ignored_of.as_ref() != Some(&i.caller)
            });
        }
        data.rollups.insert(tenant.clone(), purge.rollup.clone());
        Ok(())
    }

    fn put_tombstone(&self, tenant: &str, tombstone: &Tombstone) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        data.tombstones.insert(tenant.to_string(), *tombstone);
        Ok(())
    }

    fn tombstones(&self) -> Result<Vec<(String, Tombstone)>, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data
            .tombstones
            .iter()
            .map(|(t, s)| (t.clone(), *s))
            .collect())
    }

    fn forget_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        let mine = |t: &String| t == tenant;
        data.counters.remove(tenant);
        data.rollups.remove(tenant);
        data.tombstones.remove(tenant);
        data.ignored.remove(tenant);
        data.inbound.retain(|(t, _), _| !mine(t));
        data.opted_out.retain(|(t, _)| !mine(t));
        data.dead_letters.retain(|(t, _), _| !mine(t));
        data.tokens.retain(|_, t| !mine(t));
        data.secrets.retain(|(t, _), _| !mine(t));
        data.plugin_versions.retain(|(t, _), _| !mine(t));
        data.trials.retain(|(t, _), _| !mine(t));
        Ok(())
    }

    fn rewrite(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn sizes(&self) -> Result<StoreSizes, StoreError> {
        Ok(StoreSizes::default())
    }

    fn backup(&self, _: &std::path::Path) -> Result<u64, StoreError> {
        Err(StoreError::Backend(
            "the in-memory store keeps nothing to back up".into(),
        ))
    }

    fn opt_outs(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .data
            .lock()
            .unwrap()
            .opted_out
            .iter()
            .cloned()
            .collect())
    }

    fn replace_opt_out(
        &self,
        tenant: &str,
        old: &str,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut data = self.data.lock().unwrap();
        data.opted_out
            .remove(&(tenant.to_string(), old.to_string()));
        if let Some(new) = new {
            data.opted_out.insert((tenant.to_string(), new.to_string()));
        }
        Ok(())
    }

    fn rollup(&self, tenant: &str) -> Result<Funnel, StoreError> {
        let data = self.data.lock().unwrap();
        Ok(data.rollups.get(tenant).cloned().unwrap_or_default())
    }

    fn clock_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.data.lock().unwrap().clock_ms)
    }
}

#[cfg(test)]
mod tests {
    crate::store_conformance!(|run: &dyn Fn(&dyn crate::store::Store)| run(
        &super::MemoryStore::new()
    ));
}
