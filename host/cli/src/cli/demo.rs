//! `redial demo`: run the whole loop locally and print timelines and funnels.

use crate::demo::{self, DemoOptions};
use anyhow::Result;
use clap::Args;
use redial_core::report;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `redial demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's sled store (wiped first unless --resume).
    #[arg(long, default_value = ".redial/demo")]
    store: PathBuf,
    /// Folder of tenant policies (default: ./policies, else the repository's).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// The simulator's ledger file (default: <store>/simulator-ledger.jsonl).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Continue an interrupted run in --store instead of starting fresh.
    #[arg(long)]
    resume: bool,
    /// Print only the funnels, not every case's timeline.
    #[arg(long)]
    quiet: bool,
}

/// Runs the demo and prints its report.
pub fn run(args: DemoArgs) -> Result<()> {
    let opts = DemoOptions {
        ledger: args
            .ledger
            .clone()
            .unwrap_or_else(|| args.store.join("simulator-ledger.jsonl")),
        policies: args
            .policies
            .clone()
            .unwrap_or_else(redial_core::policy::Policy::default_dir),
        store: args.store.clone(),
        resume: args.resume,
    };
    let started = Instant::now();
    let run = demo::run(&opts)?;
    let elapsed = started.elapsed();
    let engine = &run.engine;
    if !args.quiet {
        for tenant_id in engine.tenant_ids() {
            let tenant = engine.tenant(&tenant_id)?;
            println!("=== {} ===", tenant.policy.name);
            for ignored in engine.store().ignored(&tenant_id)? {
                println!(
                    "{} ignored {}: {}",
                    tenant.policy.local_time(ignored.at_ms),
                    ignored.caller,
                    ignored.reason
                );
            }
            for case in engine.store().cases(Some(&tenant_id))? {
                let journal = engine.store().journal(&case.id)?;
                print!("{}", report::timeline(&tenant, &case, &journal));
            }
            println!();
        }
    }
    println!("=== Funnels ===");
    for tenant_id in engine.tenant_ids() {
        let tenant = engine.tenant(&tenant_id)?;
        let funnel = report::funnel(engine.store(), &tenant_id)?;
        print!("{}", report::funnel_text(&tenant.policy.name, &funnel));
    }
    let ledger = run.simulator.ledger();
    let dials = ledger
        .iter()
        .filter(|e| e.effect.starts_with("dial") && !e.duplicate)
        .count();
    let duplicates = ledger.iter().filter(|e| e.duplicate).count();
    println!(
        "\nsimulator: {dials} call(s) placed, {} message(s)/CRM/handoff deliveries, {duplicates} redelivery(ies) absorbed by idempotency keys",
        ledger.len() - dials - duplicates
    );
    println!(
        "finished in {:.2} s wall time; simulated clock at {}; store in {}",
        elapsed.as_secs_f64(),
        chrono::DateTime::from_timestamp_millis(engine.now_ms())
            .map(|d| d.to_rfc3339())
            .unwrap_or_default(),
        opts.store.display()
    );
    Ok(())
}
