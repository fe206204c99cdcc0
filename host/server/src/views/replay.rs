//! A replay's report: how a candidate plugin's decisions on a tenant's recorded cases
//! differ from the live ones.

use redial_core::engine;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What running a candidate on the journalled inputs of one slot found.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replay {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The candidate (`name@sha256-prefix`).
    pub candidate: String,
    /// Cases looked at (opened since `since_ms`).
    pub cases: usize,
    /// Decisions the candidate made again.
    pub replayed: usize,
    /// Of those, how many differ from the live decision.
    pub changed: usize,
    /// Calls the candidate failed.
    pub failed: usize,
    /// Live decisions whose input the tenant's retention did not keep (not replayed).
    pub not_kept: usize,
    /// How many decisions differ in each field (`reason-code`, `urgency`, `next-action`,
    /// `intent-band`, `qualification`, `outcome`, `priority-band`, `step`, `delay`,
    /// `questions`, `operations`).
    pub by_field: BTreeMap<String, usize>,
    /// Each decision that differs or failed, oldest first.
    pub differences: Vec<ReplayDifference>,
}

/// One decision the candidate made differently, or failed to make.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayDifference {
    /// The case.
    pub case_id: String,
    /// When the live decision was made (unix ms).
    pub at_ms: i64,
    /// The call: `trigger`, `cadence`, `qualify.script`, `qualify.evaluate` or `crm`.
    pub call: String,
    /// The live decision, as the journal has it.
    pub live: serde_json::Value,
    /// The candidate's decision, when it made one.
    #[schema(required)]
    pub candidate: Option<serde_json::Value>,
    /// Why the candidate failed, when it did.
    #[schema(required)]
    pub error: Option<String>,
    /// The fields that differ.
    pub changed: Vec<String>,
}

impl From<engine::ReplayReport> for Replay {
    fn from(r: engine::ReplayReport) -> Self {
        Replay {
            tenant: r.tenant,
            slot: r.slot,
            candidate: r.candidate,
            cases: r.cases,
            replayed: r.replayed,
            changed: r.changed,
            failed: r.failed,
            not_kept: r.not_kept,
            by_field: r.by_field,
            differences: (r.differences.into_iter())
                .map(|d| ReplayDifference {
                    case_id: d.case_id,
                    at_ms: d.at_ms,
                    call: d.call,
                    live: d.live,
                    candidate: d.candidate,
                    error: d.error,
                    changed: d.changed,
                })
                .collect(),
        }
    }
}
