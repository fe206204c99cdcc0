//! `redial replay`: what a candidate plugin would have decided on a tenant's recorded
//! cases, against the live decisions: through a running server, or on the data folder of
//! a stopped one (or of `redial demo`).

use super::api::{Payload, send};
use anyhow::{Context, Result};
use clap::Args;
use redial_runtime::Slot;
use serde_json::Value;
use std::path::PathBuf;

/// Arguments of `redial replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The slot the candidate fills.
    #[arg(long)]
    slot: Slot,
    /// The candidate component.
    #[arg(long)]
    candidate: PathBuf,
    /// Only cases opened on or after this day (`2026-12-01`) or moment (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The running server (its admin token in `REDIAL_ADMIN_TOKEN`).
    #[arg(long, default_value = "http://127.0.0.1:8080", conflicts_with = "data")]
    server: String,
    /// Replay on this data folder instead (`.redial/serve` of a stopped server, or
    /// `.redial/demo`), with the tenants' policies from `--policies`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The policies the data folder's tenants run (with `--data`).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
}

/// Runs the replay and prints the report.
pub fn run(args: ReplayArgs) -> Result<()> {
    let bytes = std::fs::read(&args.candidate)
        .with_context(|| format!("cannot read {}", args.candidate.display()))?;
    let since_ms = args.since.as_deref().map(since).transpose()?.unwrap_or(0);
    let path = format!(
        "/v1/tenants/{}/plugins/{}/replay?since_ms={since_ms}",
        args.tenant, args.slot
    );
    let report = match &args.data {
        Some(dir) => offline(dir, &args, &bytes, since_ms)?,
        None => send(&args.server, "POST", &path, Payload::Wasm(bytes))?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The replay on a data folder no server holds: its store, with the tenants' policies.
fn offline(
    dir: &std::path::Path,
    args: &ReplayArgs,
    candidate: &[u8],
    since_ms: i64,
) -> Result<Value> {
    use redial_core::clock::SystemClock;
    use redial_core::engine::Engine;
    use redial_core::policy::Policy;
    use redial_runtime::{PluginRuntime, RuntimeConfig};
    use std::sync::Arc;
    let db = dir.join("db");
    let store = redial_store_sled::SledStore::open(&db).with_context(|| {
        format!(
            "cannot open the store in {} (is a server still using it?)",
            db.display()
        )
    })?;
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let engine = Engine::new(Arc::new(store), runtime, Arc::new(SystemClock));
    let policy = Policy::load_dir(&args.policies)?
        .into_iter()
        .find(|p| p.tenant == args.tenant)
        .with_context(|| {
            format!(
                "no policy for {:?} in {}",
                args.tenant,
                args.policies.display()
            )
        })?;
    engine.load_tenant(policy)?;
    let report = engine.replay(&args.tenant, args.slot, candidate, since_ms)?;
    Ok(serde_json::to_value(report)?)
}

/// A day (midnight UTC) or an RFC 3339 moment, as unix ms.
fn since(text: &str) -> Result<i64> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("--since {text:?}: give a day (2026-12-01) or an RFC 3339 moment")
    })?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis())
}

/// The report for people: the summary, the fields that changed, then each difference.
fn text(r: &Value) -> String {
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "replay of {} ({} slot) on {}: {} cases, {} decisions replayed, {} changed, {} failed, {} not kept by retention\n",
        r["candidate"].as_str().unwrap_or("?"),
        r["slot"].as_str().unwrap_or("?"),
        r["tenant"].as_str().unwrap_or("?"),
        n("cases"),
        n("replayed"),
        n("changed"),
        n("failed"),
        n("not_kept"),
    );
    if let Some(fields) = r["by_field"].as_object().filter(|f| !f.is_empty()) {
        let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("changed fields: {}\n", list.join(", ")));
    }
    for d in r["differences"].as_array().into_iter().flatten() {
        let at = chrono::DateTime::from_timestamp_millis(d["at_ms"].as_i64().unwrap_or(0))
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string());
        let what = match d["error"].as_str() {
            Some(e) => format!("the candidate failed: {e}"),
            None => format!(
                "{}: live {} → candidate {}",
                (d["changed"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                d["live"],
                d["candidate"]
            ),
        };
        out.push_str(&format!(
            "  {}  {at}  {}  {what}\n",
            d["case_id"].as_str().unwrap_or("?"),
            d["call"].as_str().unwrap_or("?")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_day_or_a_moment() {
        assert_eq!(since("2026-12-01").unwrap(), 1_796_083_200_000);
        assert_eq!(
            since("2026-12-01T06:00:00-06:00").unwrap(),
            1_796_126_400_000
        );
        assert!(since("last tuesday").is_err());
    }
}
