//! `redial trial start|show|promote|end`: try a candidate plugin beside a slot's live one
//! on a running server, in shadow or on a split of callers, then promote it or end the
//! trial.

use super::api::{Payload, send};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use redial_runtime::Slot;
use serde_json::Value;
use std::path::PathBuf;

/// Trial subcommands.
#[derive(Debug, Subcommand)]
pub enum TrialCommand {
    /// Start trying a candidate: in shadow (it decides beside the live plugin, with no
    /// effect), or with `--split` live for that share of callers.
    Start {
        /// The candidate component.
        #[arg(long)]
        candidate: PathBuf,
        /// The candidate's share of callers, in % (1 to 99); without it, a shadow trial.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
        split: Option<u8>,
        #[command(flatten)]
        at: Target,
    },
    /// What the trial shows so far: the decisions a shadow would have changed, or a
    /// split's funnel per variant.
    Show(Target),
    /// Make the candidate the slot's live plugin (a new version; rollback returns).
    Promote(Target),
    /// End the trial without promoting: the live plugin alone decides again.
    End(Target),
}

/// Which slot of which tenant, on which server.
#[derive(Debug, Args)]
pub struct Target {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The slot.
    #[arg(long)]
    slot: Slot,
    /// The running server (its admin token in `REDIAL_ADMIN_TOKEN`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
}

impl Target {
    fn path(&self, rest: &str) -> String {
        format!(
            "/v1/tenants/{}/plugins/{}/trial{rest}",
            self.tenant, self.slot
        )
    }

    fn print(&self, answer: &Value, text: impl FnOnce(&Value) -> String) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(answer)?);
        } else {
            print!("{}", text(answer));
        }
        Ok(())
    }
}

/// Runs a trial subcommand.
pub fn run(cmd: TrialCommand) -> Result<()> {
    match cmd {
        TrialCommand::Start {
            candidate,
            split,
            at,
        } => {
            let bytes = std::fs::read(&candidate)
                .with_context(|| format!("cannot read {}", candidate.display()))?;
            let query = split.map_or_else(String::new, |p| format!("?split={p}"));
            let answer = send(&at.server, "PUT", &at.path(&query), Payload::Wasm(bytes))?;
            at.print(&answer, |a| {
                let trial = &a["trial"];
                let how = match trial["percent"].as_u64() {
                    Some(p) => format!("live for {p}% of callers"),
                    None => "in shadow".to_string(),
                };
                format!(
                    "{} on trial in the {} slot of {}, {how} (sha256 {})\n",
                    candidate.display(),
                    at.slot,
                    at.tenant,
                    trial["sha256"].as_str().unwrap_or("?")
                )
            })
        }
        TrialCommand::Show(at) => {
            let answer = send(&at.server, "GET", &at.path(""), Payload::None)?;
            at.print(&answer, report)
        }
        TrialCommand::Promote(at) => {
            let answer = send(&at.server, "POST", &at.path("/promote"), Payload::None)?;
            at.print(&answer, |a| {
                format!(
                    "the candidate is live in the {} slot of {} (sha256 {})\n",
                    at.slot,
                    at.tenant,
                    a["live"].as_str().unwrap_or("?")
                )
            })
        }
        TrialCommand::End(at) => {
            let answer = send(&at.server, "DELETE", &at.path(""), Payload::None)?;
            at.print(&answer, |a| {
                format!(
                    "trial ended; the live plugin alone decides in the {} slot of {} (sha256 {})\n",
                    at.slot,
                    at.tenant,
                    a["live"].as_str().unwrap_or("?")
                )
            })
        }
    }
}

/// A trial's report for people.
fn report(r: &Value) -> String {
    let started =
        chrono::DateTime::from_timestamp_millis(r["trial"]["started_ms"].as_i64().unwrap_or(0))
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    let mut out = format!(
        "{} on trial in the {} slot of {} since {started} ({} code)\n",
        r["candidate"].as_str().unwrap_or("?"),
        r["slot"].as_str().unwrap_or("?"),
        r["tenant"].as_str().unwrap_or("?"),
        r["tier"].as_str().unwrap_or("?"),
    );
    let shadow = &r["shadow"];
    if shadow.is_object() {
        let n = |k: &str| shadow[k].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "shadow: {} live decisions compared, {} changed, {} failed\n",
            n("compared"),
            n("changed"),
            n("failed")
        ));
        if let Some(fields) = shadow["by_field"].as_object().filter(|f| !f.is_empty()) {
            let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push_str(&format!("changed fields: {}\n", list.join(", ")));
        }
        for d in shadow["differences"].as_array().into_iter().flatten() {
            let s = &d["shadow"];
            let what = match s["error"].as_str() {
                Some(e) => format!("the candidate failed: {e}"),
                None => format!("live {} → candidate {}", d["live"], s["decision"]),
            };
            out.push_str(&format!(
                "  {}  {}  {what}\n",
                d["case_id"].as_str().unwrap_or("(ignored signal)"),
                s["call"].as_str().unwrap_or("?")
            ));
        }
    }
    let split = &r["split"];
    if split.is_object() {
        out.push_str(&format!(
            "split: the candidate decides for {}% of callers\n",
            split["percent"]
        ));
        for variant in ["live", "candidate"] {
            let f = &split[variant];
            out.push_str(&format!(
                "  {variant:<9} signals {} → cases {} (ignored {}) → reached {} → qualified {} → handed off {} / follow-up {}; human review {}\n",
                f["signals"], f["cases"], f["ignored"], f["reached"], f["qualified"],
                f["handed_off"], f["follow_up"], f["human_review"]
            ));
        }
    }
    out
}
