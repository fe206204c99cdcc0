//! Human-readable views of the store: a case's timeline and a tenant's funnel. Used by
//! `redial demo` (and later by the API's queries).

use crate::engine::Tenant;
pub use crate::records::Funnel;
use crate::records::{CaseRecord, Event, IgnoredSignal, JournalEntry};
use crate::store::{Store, StoreError};
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
        Event::Shadow { shadow: s } => match (&s.decision, &s.error) {
            (_, Some(error)) => format!("{} shadow [{}] FAILED: {error}", s.call, &s.plugin[..8]),
            _ if s.changed.is_empty() => format!("{} shadow [{}] agrees", s.call, &s.plugin[..8]),
            _ => format!(
                "{} shadow [{}] differs in {}",
                s.call,
                &s.plugin[..8],
                s.changed.join(", ")
            ),
        },
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
        Event::CallPlaced {
            attempt,
            provider_id,
        } => format!("call #{attempt} placed by the provider ({provider_id})"),
        Event::CallResult {
            attempt,
            outcome,
            unanswered,
            ..
        } if !unanswered.is_empty() => format!(
            "call #{attempt}: {}; unanswered: {}",
            serde_json::to_value(outcome).unwrap(),
            unanswered.join(", ")
        ),
        Event::CallResult {
            attempt, outcome, ..
        } => format!(
            "call #{attempt}: {}",
            serde_json::to_value(outcome).unwrap()
        ),
        Event::VoicemailLeft { attempt } => {
            format!("call #{attempt}: voicemail message left")
        }
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
        Event::MessageStatus {
            status, error_code, ..
        } => match error_code {
            Some(code) => format!("fallback SMS {status} (error {code})"),
            None => format!("fallback SMS {status}"),
        },
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

/// Computes a tenant's funnel from the store: its live cases and ignored signals, plus the
/// rollup of those retention or erasure purged.
pub fn funnel(store: &dyn Store, tenant: &str) -> Result<Funnel, StoreError> {
    let mut f = store.rollup(tenant)?;
    f.signals = store.counters(tenant)?.signals;
    f.ignored += store.ignored(tenant)?.len() as u64;
    for case in store.cases(Some(tenant))? {
        f.add_case(&case);
    }
    Ok(f)
}

/// The funnel of the cases opened, and the signals ignored, from `since_ms` on: a window
/// of the live records (what retention already purged is counted in no window).
pub fn funnel_since(cases: &[CaseRecord], ignored: &[IgnoredSignal], since_ms: i64) -> Funnel {
    let mut f = Funnel::default();
    for case in cases.iter().filter(|c| c.opened_ms >= since_ms) {
        f.signals += u64::from(case.signals);
        f.add_case(case);
    }
    let ignored = ignored.iter().filter(|i| i.at_ms >= since_ms).count() as u64;
    f.signals += ignored;
    f.ignored += ignored;
    f
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
