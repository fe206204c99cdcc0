//! The pilot sheet: a policy's six decisions in plain words, for the business to sign off.

use super::{Assignment, FailureDefault, Policy, RetentionMode};
use redial_runtime::Slot;
use std::fmt::Write;

fn plugin_name(policy: &Policy, slot: Slot) -> String {
    let r = policy.plugin(slot);
    match (&r.plugin, &r.path, &r.sha256) {
        (Some(name), _, _) => format!("built-in plugin {name}"),
        (_, Some(path), _) => format!("plugin file {}", path.display()),
        (_, _, Some(hash)) => format!("plugin sha256 {}", &hash[..12]),
        _ => "no plugin".into(),
    }
}

fn kinds(policy: &Policy) -> String {
    policy
        .triggers
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .unwrap()
                .as_str()
                .unwrap()
                .replace('-', " ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the six decisions (and the guardrails around them) as text.
pub fn pilot_sheet(p: &Policy) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "Pilot sheet — {} ({})", p.name, p.tenant);
    let _ = writeln!(
        w,
        "Time zone {}; calls only {}–{} in the caller's local time.",
        p.timezone, p.calling_window.start, p.calling_window.end
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "1. Triggers: {} start a recovery case (then {}).",
        kinds(p),
        plugin_name(p, Slot::Trigger)
    );
    let voicemail = match &p.callback.voicemail {
        Some(v) if v.from_attempt > 1 => format!(
            " On voicemail from attempt {}: \"{}\"",
            v.from_attempt, v.message
        ),
        Some(v) => format!(" On voicemail: \"{}\"", v.message),
        None => String::new(),
    };
    let _ = writeln!(
        w,
        "2. Callback: first call within {} s, at most {} attempts per case ({}).{voicemail}",
        p.callback.first_call_within_secs,
        p.callback.max_attempts,
        plugin_name(p, Slot::Cadence)
    );
    let link = p
        .callback
        .booking_link
        .as_deref()
        .map(|l| format!(" + {l}"))
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "3. Fallback when busy or declined: \"{}\"{link}",
        p.callback.fallback_line
    );
    let _ = writeln!(
        w,
        "4. Questions: at most {} per call ({}).",
        p.max_questions,
        plugin_name(p, Slot::Qualify)
    );
    let mandatory = if p.disposition.mandatory.is_empty() {
        "none".to_string()
    } else {
        p.disposition.mandatory.join(", ")
    };
    let _ = writeln!(
        w,
        "5. CRM: reason codes {}; must be confirmed: {mandatory}; otherwise human review ({}).",
        p.disposition.reason_codes.join(", "),
        plugin_name(p, Slot::Crm)
    );
    let assignment = match p.handoff.assignment {
        Assignment::RoundRobin => "in turn",
        Assignment::FirstOwner => "first owner, others as backup",
    };
    let _ = writeln!(
        w,
        "6. Handoff: {} ({assignment}) must pick up within {} min, else {} is alerted; intent ≥ {} always goes to a human. Lower intent: follow-up queue, due in {} h.",
        p.handoff.owners.join(", "),
        p.handoff.sla_minutes,
        p.handoff.escalate_to,
        p.handoff.min_intent,
        p.follow_up.due_hours
    );
    let _ = writeln!(w);
    let retention = match p.retention.mode {
        RetentionMode::Full => "full (transcripts and answers kept)",
        RetentionMode::Summary => {
            "summary (decision fields and a one-line summary; no transcript or answers)"
        }
        RetentionMode::Zero => {
            "zero (decision fields only; no transcript or answer text at rest, the signal's \
             context only while the case is open)"
        }
    };
    let _ = writeln!(
        w,
        "Retention: {retention}; a settled case's detail is purged {} day(s) after its last \
         change (its counts stay in the reports).",
        p.retention.keep_days
    );
    let _ = writeln!(w, "Do-not-call list: {} number(s).", p.do_not_call.len());
    let failure = match p.on_plugin_failure {
        FailureDefault::HumanReview => "the case goes to human review".to_string(),
        FailureDefault::RetryLater => {
            format!("the step is retried after {} min", p.retry_later_minutes)
        }
    };
    let _ = writeln!(w, "If a plugin fails: {failure}.");
    let _ = writeln!(
        w,
        "Voice: {}; CRM delivery: {}.",
        p.voice.provider, p.crm_connector.provider
    );
    s
}
