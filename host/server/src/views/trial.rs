//! A candidate plugin on trial beside a slot's live one: the trial, what its shadow
//! decided differently, and a split's funnel per variant.

use super::Funnel;
use redial_core::{engine, records};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How a candidate is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TrialModeName {
    /// It decides beside the live plugin on every input; its decisions have no effect.
    Shadow,
    /// It decides for real for a stable share of callers.
    Split,
}

/// A candidate on trial in a slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trial {
    /// sha256 of the candidate.
    pub sha256: String,
    /// Shadow or split.
    pub mode: TrialModeName,
    /// A split's share of callers for the candidate, in % (null in shadow).
    #[schema(required)]
    pub percent: Option<u8>,
    /// When it started (unix ms): the report counts from here.
    pub started_ms: i64,
}

impl From<&records::Trial> for Trial {
    fn from(t: &records::Trial) -> Self {
        let (mode, percent) = match t.mode {
            records::TrialMode::Shadow => (TrialModeName::Shadow, None),
            records::TrialMode::Split { percent } => (TrialModeName::Split, Some(percent)),
        };
        Trial {
            sha256: t.sha256.clone(),
            mode,
            percent,
            started_ms: t.started_ms,
        }
    }
}

/// A shadow candidate's decision, beside the live one it shadowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowDecision {
    /// The call: `trigger`, `cadence`, `qualify.script`, `qualify.evaluate` or `crm`.
    pub call: String,
    /// sha256 of the candidate.
    pub plugin: String,
    /// What it decided (redacted as the live decision is), when it decided.
    #[schema(required)]
    pub decision: Option<serde_json::Value>,
    /// Why it failed, when it did.
    #[schema(required)]
    pub error: Option<String>,
    /// The fields in which it differs from the live decision.
    pub changed: Vec<String>,
    /// What the call cost, in µs.
    pub cost_us: u64,
}

impl From<records::ShadowDecision> for ShadowDecision {
    fn from(s: records::ShadowDecision) -> Self {
        ShadowDecision {
            call: s.call,
            plugin: s.plugin,
            decision: s.decision,
            error: s.error,
            changed: s.changed,
            cost_us: s.cost_us,
        }
    }
}

/// A slot's trial and what it shows so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrialReport {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The trial.
    pub trial: Trial,
    /// The candidate (`name@sha256-prefix`).
    pub candidate: String,
    /// Which compiler made the candidate's code: quick at first, like an upload, then
    /// optimised in the background.
    pub tier: super::Tier,
    /// In shadow: how its decisions compare with the live ones (null on a split).
    #[schema(required)]
    pub shadow: Option<ShadowReport>,
    /// On a split: the funnel of each variant's callers (null in shadow).
    #[schema(required)]
    pub split: Option<SplitReport>,
}

/// How a shadow candidate's decisions compare with the live ones since its trial started.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowReport {
    /// Live decisions it shadowed.
    pub compared: usize,
    /// Of those, how many it decided differently.
    pub changed: usize,
    /// Calls it failed.
    pub failed: usize,
    /// How many decisions differ in each field (as in a replay).
    pub by_field: BTreeMap<String, usize>,
    /// The newest decisions that differ or failed, newest first (at most 100).
    pub differences: Vec<ShadowDifference>,
}

/// One live decision and the shadow's that differs from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowDifference {
    /// The case (null for a signal the live trigger ignored).
    #[schema(required)]
    pub case_id: Option<String>,
    /// When (unix ms).
    pub at_ms: i64,
    /// The live decision, as the journal has it.
    pub live: serde_json::Value,
    /// The shadow's.
    pub shadow: ShadowDecision,
}

/// A split's callers per variant since the trial started. A caller's variant is fixed by
/// a hash of their number, so a caller who calls again meets the same plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitReport {
    /// The candidate's share of callers, in %.
    pub percent: u8,
    /// The callers the live plugin decides for (`signals` counts their cases and ignored
    /// signals).
    pub live: Funnel,
    /// The callers the candidate decides for.
    pub candidate: Funnel,
}

impl From<engine::TrialReport> for TrialReport {
    fn from(r: engine::TrialReport) -> Self {
        TrialReport {
            trial: Trial::from(&r.trial),
            tenant: r.tenant,
            slot: r.slot,
            candidate: r.candidate,
            tier: r.tier.into(),
            shadow: r.shadow.map(|s| ShadowReport {
                compared: s.compared,
                changed: s.changed,
                failed: s.failed,
                by_field: s.by_field,
                differences: (s.differences.into_iter())
                    .map(|d| ShadowDifference {
                        case_id: d.case_id,
                        at_ms: d.at_ms,
                        live: d.live,
                        shadow: d.shadow.into(),
                    })
                    .collect(),
            }),
            split: r.split.map(|s| SplitReport {
                percent: s.percent,
                live: s.live.into(),
                candidate: s.candidate.into(),
            }),
        }
    }
}

/// The answer to a trial that started.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrialStarted {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The trial.
    pub trial: Trial,
}

/// The answer to a trial that ended without promotion.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrialEnded {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The trial that ended.
    pub ended: Trial,
    /// sha256 of the live plugin, which alone decides again.
    pub live: String,
}
