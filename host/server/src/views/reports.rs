//! Case lists, one case in full, the follow-up queue and the funnel.

use super::case::Case;
use super::journal::JournalEntry;
use redial_core::report;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A tenant's cases, filtered.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// The cases, oldest first.
    pub cases: Vec<Case>,
}

/// One case with its journal and a readable timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    /// The case.
    pub case: Case,
    /// Every journal entry, in order.
    pub journal: Vec<JournalEntry>,
    /// The journal as lines of text in the tenant's time zone (what `redial demo` prints).
    pub timeline: String,
}

/// The answer to an acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    /// The case.
    pub case: String,
    /// Always true: the handoff is acknowledged now.
    pub acknowledged: bool,
    /// False when it already was (acknowledging twice is harmless).
    pub changed: bool,
}

/// One case waiting in the follow-up automation queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpItem {
    /// The case.
    pub case: String,
    /// The caller, E.164.
    pub caller: String,
    /// What the automation does next.
    pub next_step: String,
    /// When (unix ms).
    pub due_ms: i64,
}

/// The follow-up automation queue, soonest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpQueue {
    /// The waiting cases.
    pub queue: Vec<FollowUpItem>,
}

/// A tenant's funnel: signals → cases → reached → qualified → handed off / follow-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    /// Signals received.
    pub signals: u64,
    /// Signals that started no case.
    pub ignored: u64,
    /// Cases opened.
    pub cases: u64,
    /// Cases where the customer was reached.
    pub reached: u64,
    /// Cases with decision fields.
    pub qualified: u64,
    /// Cases with a human owner.
    pub handed_off: u64,
    /// Cases in the follow-up queue.
    pub follow_up: u64,
    /// Cases in human review.
    pub human_review: u64,
    /// Cases closed without a conversation.
    pub closed: u64,
    /// Cases still open.
    pub open: u64,
    /// Callbacks placed.
    pub attempts: u64,
    /// CRM operations queued.
    pub crm_operations: u64,
    /// Handoffs acknowledged within their SLA.
    pub sla_met: u64,
    /// Qualified cases per reason code.
    pub reason_codes: BTreeMap<String, u64>,
    /// Handoffs per owner.
    pub owners: BTreeMap<String, u64>,
}

impl From<report::Funnel> for Funnel {
    fn from(f: report::Funnel) -> Self {
        Funnel {
            signals: f.signals,
            ignored: f.ignored,
            cases: f.cases,
            reached: f.reached,
            qualified: f.qualified,
            handed_off: f.handed_off,
            follow_up: f.follow_up,
            human_review: f.human_review,
            closed: f.closed,
            open: f.open,
            attempts: f.attempts,
            crm_operations: f.crm_operations,
            sla_met: f.sla_met,
            reason_codes: f.reason_codes,
            owners: f.owners,
        }
    }
}

/// The funnel with the two figures agencies watch.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    /// The counts.
    pub funnel: Funnel,
    /// Handoffs acknowledged within SLA, in % of handoffs (null before the first handoff).
    #[schema(required)]
    pub sla_met_pct: Option<f64>,
    /// Median time from signal to first callback request, ms (null before the first dial).
    #[schema(required)]
    pub median_signal_to_first_dial_ms: Option<i64>,
}
