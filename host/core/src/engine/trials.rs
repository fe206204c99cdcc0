//! Trials: a candidate plugin tried beside a slot's live plugin before it takes over.
//!
//! In **shadow** the candidate decides on every input the live plugin decides on, through
//! its own breaker; its decision is journalled beside the live one (`Event::Shadow`, or
//! with the signal a live trigger ignored) and has no effect. On a **split** it decides
//! for real for the callers whose bucket ([`split_bucket`]) falls in its share, and the
//! report sets the funnel of its callers beside the live plugin's. Promotion makes the
//! candidate the slot's newest version (as an upload would); ending the trial leaves the
//! live plugin alone. Either is one call. The trial is kept in the store, so a restart or
//! a policy reload keeps it running.

use super::tenant::{OnTrial, Tenant, split_bucket};
use super::{Engine, EngineError};
use crate::records::{CaseRecord, Event, Funnel, PluginVersion, ShadowDecision, Trial, TrialMode};
use redial_runtime::{Slot, Tier};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Differing shadow decisions a report lists (the newest); the counts cover them all.
pub const LISTED_DIFFERENCES: usize = 100;

/// What a trial shows so far.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The trial.
    pub trial: Trial,
    /// The candidate (`name@sha256-prefix`).
    pub candidate: String,
    /// The compiler of the candidate's code: quick at first, optimised soon after.
    pub tier: Tier,
    /// A shadow trial's comparison with the live decisions.
    pub shadow: Option<ShadowReport>,
    /// A split trial's funnel per variant.
    pub split: Option<SplitReport>,
}

/// How a shadow candidate's decisions compare with the live ones since the trial started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShadowReport {
    /// Live decisions the candidate shadowed.
    pub compared: usize,
    /// Of those, how many it decided differently.
    pub changed: usize,
    /// Calls the candidate failed.
    pub failed: usize,
    /// How many decisions differ in each field (the replay's fields).
    pub by_field: BTreeMap<String, usize>,
    /// The newest decisions that differ or failed, newest first (at most
    /// [`LISTED_DIFFERENCES`]).
    pub differences: Vec<ShadowDifference>,
}

/// One live decision and the shadow's that differs from it.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowDifference {
    /// The case; `None` for a signal the live trigger ignored.
    pub case_id: Option<String>,
    /// When (unix ms).
    pub at_ms: i64,
    /// The live decision, as the journal has it.
    pub live: Value,
    /// The shadow's.
    pub shadow: ShadowDecision,
}

/// A split trial's callers, per variant, since the trial started.
#[derive(Debug, Clone, Serialize)]
pub struct SplitReport {
    /// The candidate's share of callers (%).
    pub percent: u8,
    /// The funnel of the callers the live plugin decides for.
    pub live: Funnel,
    /// The funnel of the callers the candidate decides for.
    pub candidate: Funnel,
}

impl Engine {
    /// Compiles `bytes` (a component for `slot`) and starts trying it in the tenant's slot
    /// as `mode` says, in place of any trial there. The live plugin stays live. Like an
    /// upload, a candidate never compiled before starts on quick code and moves to
    /// optimised code in the background.
    pub fn start_trial(
        self: &Arc<Self>,
        tenant_id: &str,
        slot: Slot,
        bytes: &[u8],
        mode: TrialMode,
        deadline: Instant,
    ) -> Result<Trial, EngineError> {
        if let TrialMode::Split { percent } = mode
            && !(1..=99).contains(&percent)
        {
            return Err(EngineError::TrialRefused(format!(
                "a split gives the candidate 1 to 99 percent of callers, not {percent}"
            )));
        }
        self.tenant(tenant_id)?;
        let plugin = self.compile_upload(tenant_id, slot, bytes, deadline)?;
        let trial = Trial {
            sha256: plugin.id.hash.clone(),
            mode,
            started_ms: self.clock.now_ms(),
        };
        self.store.set_trial(tenant_id, slot.name(), Some(&trial))?;
        let on_trial = Arc::new(OnTrial {
            trial: trial.clone(),
            plugin: plugin.clone(),
            breaker: Default::default(),
        });
        self.change_tenant(tenant_id, |t| Some(t.with_trial(slot, Some(on_trial))))?;
        if plugin.tier == Tier::Quick {
            let job = super::optimiser::Job {
                tenant: tenant_id.to_string(),
                quick: plugin,
                bytes: bytes.to_vec(),
            };
            self.optimiser.submit(self, job);
        }
        tracing::info!(tenant = tenant_id, slot = slot.name(), candidate = %trial.sha256, mode = ?mode, "plugin trial started");
        Ok(trial)
    }

    /// Ends the slot's trial: the live plugin alone decides again. Returns the trial that
    /// ended, if there was one.
    pub fn end_trial(&self, tenant_id: &str, slot: Slot) -> Result<Option<Trial>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let Some(on_trial) = tenant.trial(slot) else {
            return Ok(None);
        };
        let trial = on_trial.trial.clone();
        self.store.set_trial(tenant_id, slot.name(), None)?;
        self.change_tenant(tenant_id, |t| Some(t.with_trial(slot, None)))?;
        tracing::info!(tenant = tenant_id, slot = slot.name(), candidate = %trial.sha256, "plugin trial ended");
        Ok(Some(trial))
    }

    /// Makes the slot's candidate its live plugin, as its newest version, and ends the
    /// trial. Returns the versions and the tier it went live on; `None` when no trial runs.
    pub fn promote_trial(
        self: &Arc<Self>,
        tenant_id: &str,
        slot: Slot,
    ) -> Result<Option<(Vec<PluginVersion>, Tier)>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let Some(on_trial) = tenant.trial(slot) else {
            return Ok(None);
        };
        // A candidate still on quick code has its optimised compile queued since the trial
        // started; it swaps in wherever the candidate then serves.
        let live = self.make_live(&tenant, on_trial.plugin.clone(), || None)?;
        self.end_trial(tenant_id, slot)?;
        Ok(Some(live))
    }

    /// What the slot's trial shows so far; `None` when no trial runs.
    pub fn trial_report(
        &self,
        tenant_id: &str,
        slot: Slot,
    ) -> Result<Option<TrialReport>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let Some(on_trial) = tenant.trial(slot) else {
            return Ok(None);
        };
        let trial = on_trial.trial.clone();
        let mut report = TrialReport {
            tenant: tenant_id.into(),
            slot: slot.name().into(),
            candidate: on_trial.plugin.id.to_string(),
            tier: on_trial.plugin.tier,
            shadow: None,
            split: None,
            trial: trial.clone(),
        };
        match trial.mode {
            TrialMode::Shadow => report.shadow = Some(self.shadow_report(tenant_id, &trial)?),
            TrialMode::Split { percent } => {
                report.split = Some(self.split_report(tenant_id, slot, &trial, percent)?);
            }
        }
        Ok(Some(report))
    }

    fn shadow_report(&self, tenant_id: &str, trial: &Trial) -> Result<ShadowReport, EngineError> {
        let mut report = ShadowReport::default();
        let mut differences = Vec::new();
        let mut count =
            |case_id: Option<&str>, at_ms: i64, live: &Value, shadow: ShadowDecision| {
                report.compared += 1;
                if shadow.error.is_some() {
                    report.failed += 1;
                } else if shadow.changed.is_empty() {
                    return;
                } else {
                    report.changed += 1;
                    for field in &shadow.changed {
                        *report.by_field.entry(field.clone()).or_default() += 1;
                    }
                }
                differences.push(ShadowDifference {
                    case_id: case_id.map(str::to_string),
                    at_ms,
                    live: live.clone(),
                    shadow,
                });
            };
        let of_this_trial =
            |at_ms: i64, s: &ShadowDecision| at_ms >= trial.started_ms && s.plugin == trial.sha256;
        let mut cases: Vec<CaseRecord> = self.store.cases(Some(tenant_id))?;
        cases.retain(|c| c.changed_ms >= trial.started_ms);
        for case in &cases {
            let mut live = BTreeMap::new();
            for entry in self.store.journal(&case.id)? {
                match entry.event {
                    Event::Decision { slot, decision, .. } => {
                        live.insert(slot, decision);
                    }
                    Event::Shadow { shadow } if of_this_trial(entry.at_ms, &shadow) => {
                        let decided = live.get(&shadow.call).cloned().unwrap_or_default();
                        count(Some(&case.id), entry.at_ms, &decided, shadow);
                    }
                    _ => {}
                }
            }
        }
        for ignored in self.store.ignored(tenant_id)? {
            if let Some(shadow) = ignored.shadow
                && of_this_trial(ignored.at_ms, &shadow)
            {
                let reason = ignored.reason.strip_prefix("trigger: ");
                let live = serde_json::json!({ "ignore": reason.unwrap_or(&ignored.reason) });
                count(None, ignored.at_ms, &live, shadow);
            }
        }
        differences.sort_by_key(|d| std::cmp::Reverse(d.at_ms));
        differences.truncate(LISTED_DIFFERENCES);
        report.differences = differences;
        Ok(report)
    }

    fn split_report(
        &self,
        tenant_id: &str,
        slot: Slot,
        trial: &Trial,
        percent: u8,
    ) -> Result<SplitReport, EngineError> {
        // [live, candidate]
        let mut funnels = [Funnel::default(), Funnel::default()];
        let variant = |caller: &str| usize::from(split_bucket(tenant_id, slot, caller) < percent);
        for case in self.store.cases(Some(tenant_id))? {
            if case.opened_ms >= trial.started_ms {
                let funnel = &mut funnels[variant(&case.caller)];
                funnel.signals += 1;
                funnel.add_case(&case);
            }
        }
        for ignored in self.store.ignored(tenant_id)? {
            if ignored.at_ms >= trial.started_ms {
                let funnel = &mut funnels[variant(&ignored.caller)];
                funnel.signals += 1;
                funnel.ignored += 1;
            }
        }
        let [live, candidate] = funnels;
        Ok(SplitReport {
            percent,
            live,
            candidate,
        })
    }

    /// `tenant` with the trials the store keeps for it; a candidate `earlier` (the tenant
    /// as it was) already runs is kept, with its breaker.
    pub(super) fn with_trials(
        &self,
        mut tenant: Tenant,
        earlier: Option<&Tenant>,
    ) -> Result<Tenant, EngineError> {
        let id = tenant.policy.tenant.clone();
        for slot in Slot::ALL {
            let Some(trial) = self.store.trial(&id, slot.name())? else {
                continue;
            };
            let running = earlier.and_then(|e| e.shared_trial(slot));
            let on_trial = match running.filter(|t| t.trial == trial) {
                Some(running) => running,
                None => Arc::new(OnTrial {
                    plugin: self.load_uploaded(&id, &trial.sha256, slot)?,
                    trial,
                    breaker: Default::default(),
                }),
            };
            tenant = tenant.with_trial(slot, Some(on_trial));
        }
        Ok(tenant)
    }
}
