//! Human-readable views of the store: a case's timeline and a tenant's funnel. Used by
//! `redial demo` (and later by the API's queries).

use crate::engine::Tenant;
use crate::records::{CaseRecord, CaseState, Event, JournalEntry, reached};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::fmt::Write;

fn describe(t: &Tenant, e: &Event) -> String {
    match e {
        Event::Signal { kind, joined } => {
            let kind = serde_json::to_value(kind).unwrap();
            let kind = kind.as_str().unwrap_or_default().replace('-', " ");
            if *joined {
                format!("{kind} joined the open case")
            } else {
                kind
            }
        }
        Event::Decision {
            slot,
            plugin,
            decision,
            cost_us,
            ..
        } => {
            let text = decision.to_string();
            let text = if text.len() > 110 {
                format!("{}…", &text[..110])
            } else {
                text
            };
            format!("{slot} [{}] {text} ({cost_us} µs)", &plugin[..8])
        }
        Event::PluginFailed {
            slot,
            error,
            fallback,
            ..
        } => format!("{slot} FAILED: {error} → {fallback}"),
        Event::Guard { rule, detail } => format!("host guard {rule}: {detail}"),
        Event::Scheduled { due_ms } => {
            format!("callback scheduled for {}", t.policy.local_time(*due_ms))
        }
        Event::DialRequested { attempt, .. } => format!("dial #{attempt} requested"),
        Event::CallResult {
            attempt, outcome, ..
        } => format!(
            "call #{attempt}: {}",
            serde_json::to_value(outcome).unwrap()
        ),
        Event::Disposition { disposition: d } => format!(
            "qualified: {} / {} / {} / intent {}",
            d.reason_code.name(),
            serde_json::to_value(d.urgency)
                .unwrap()
                .as_str()
                .unwrap_or_default(),
            serde_json::to_value(d.next_action)
                .unwrap()
                .as_str()
                .unwrap_or_default(),
            d.intent_score
        ),
        Event::CrmQueued { operations } => format!("{operations} CRM operation(s) queued"),
        Event::Delivered { key } => format!(
            "delivered {}",
            key.rsplit_once('/').map_or(key.as_str(), |(_, k)| k)
        ),
        Event::HandedOff {
            owner,
            sla_deadline_ms,
        } => format!(
            "handed off to {owner}, SLA until {}",
            t.policy.local_time(*sla_deadline_ms)
        ),
        Event::Acknowledged => "owner acknowledged".into(),
        Event::SlaBreached { escalated_to } => format!("SLA breached, escalated to {escalated_to}"),
        Event::FollowUp { next_step, due_ms } => {
            format!(
                "follow-up queue: {next_step}, due {}",
                t.policy.local_time(*due_ms)
            )
        }
        Event::HumanReview { reason } => format!("human review: {reason}"),
        Event::FallbackQueued { message } => format!("fallback SMS: {message:?}"),
        Event::OptedOut => "caller opted out".into(),
        Event::Reply { text } => format!(
            "caller replied: {}",
            text.as_deref().unwrap_or("(not kept)")
        ),
        Event::Closed { reason } => format!("closed: {reason}"),
    }
}

/// A case's timeline, one line per journal entry.
pub fn timeline(t: &Tenant, case: &CaseRecord, journal: &[JournalEntry]) -> String {
    let mut s = format!("{} {} — {}\n", case.id, case.caller, case.state.name());
    for entry in journal {
        if matches!(entry.event, Event::Delivered { .. }) {
            continue;
        }
        let _ = writeln!(
            s,
            "  {}  {}",
            t.policy.local_time(entry.at_ms),
            describe(t, &entry.event)
        );
    }
    s
}

/// A tenant's funnel figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Dials placed.
    pub attempts: u64,
    /// CRM operations queued.
    pub crm_operations: u64,
    /// Handoffs acknowledged within SLA.
    pub sla_met: u64,
    /// Reason codes and their counts.
    pub reason_codes: BTreeMap<String, u64>,
    /// Handoffs per owner.
    pub owners: BTreeMap<String, u64>,
}

/// Computes a tenant's funnel from the store.
pub fn funnel(store: &dyn Store, tenant: &str) -> Result<Funnel, StoreError> {
    let counters = store.counters(tenant)?;
    let mut f = Funnel {
        signals: counters.signals,
        ignored: store.ignored(tenant)?.len() as u64,
        ..Funnel::default()
    };
    for case in store.cases(Some(tenant))? {
        f.cases += 1;
        f.attempts += case.attempts.len() as u64;
        f.crm_operations += u64::from(case.crm_operations);
        if reached(&case.attempts) {
            f.reached += 1;
        }
        if let Some(d) = &case.disposition {
            f.qualified += 1;
            *f.reason_codes
                .entry(d.reason_code.name().to_string())
                .or_default() += 1;
        }
        match &case.state {
            CaseState::HandedOff {
                owner,
                acknowledged,
                breached,
                ..
            } => {
                f.handed_off += 1;
                *f.owners.entry(owner.clone()).or_default() += 1;
                if *acknowledged && !*breached {
                    f.sla_met += 1;
                }
            }
            CaseState::FollowUp { .. } => f.follow_up += 1,
            CaseState::HumanReview { .. } => f.human_review += 1,
            CaseState::Closed { .. } => f.closed += 1,
            CaseState::Waiting | CaseState::Dialing { .. } => f.open += 1,
        }
    }
    Ok(f)
}

/// The funnel as a few lines of text.
pub fn funnel_text(name: &str, f: &Funnel) -> String {
    let mut s = format!("{name}\n");
    let _ = writeln!(
        s,
        "  signals {} → cases {} (ignored {}) → reached {} → qualified {} → handed off {} / follow-up {}",
        f.signals, f.cases, f.ignored, f.reached, f.qualified, f.handed_off, f.follow_up
    );
    let _ = writeln!(
        s,
        "  human review {}, closed without conversation {}, still open {}; {} dial(s), {} CRM operation(s), SLA met {}/{}",
        f.human_review, f.closed, f.open, f.attempts, f.crm_operations, f.sla_met, f.handed_off
    );
    let codes: Vec<String> = f
        .reason_codes
        .iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect();
    let owners: Vec<String> = f.owners.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let _ = writeln!(
        s,
        "  reason codes: {}",
        if codes.is_empty() {
            "-".into()
        } else {
            codes.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "  owners: {}",
        if owners.is_empty() {
            "-".into()
        } else {
            owners.join(", ")
        }
    );
    s
}
