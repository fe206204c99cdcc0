//! `redial bench`: measured figures, each against a baseline taken in the same run.

use crate::bench;
use anyhow::Result;
use clap::Subcommand;
use std::time::Duration;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Loopback load on `redial serve` (durable store, wasm plugins, Vapi connector to a
    /// local fake): signals/s, request and signal-to-dial latency, against a bare endpoint.
    Serve {
        /// Seconds of load.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Concurrent client threads.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs a benchmark and prints its figures.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Serve { seconds, clients } => {
            let dir = tempfile_dir()?;
            let policy = std::fs::read_to_string(
                crate::policy::Policy::default_dir().join("lone-star-hvac.toml"),
            )?;
            println!(
                "redial bench serve: {clients} clients, {seconds} s, loopback, store flushed on every step"
            );
            let r = bench::serve(&dir, &policy, clients, Duration::from_secs_f64(seconds))?;
            println!(
                "floor (bare axum endpoint): {:.0} req/s, p50 {}, p99 {}",
                r.floor_per_sec,
                ms(r.floor.p50),
                ms(r.floor.p99)
            );
            println!(
                "signals: {:.0} /s accepted ({:.1}% of the floor's rate), {} failed; request p50 {}, p99 {}",
                r.signals_per_sec,
                100.0 * r.signals_per_sec / r.floor_per_sec.max(1.0),
                r.failed,
                ms(r.request.p50),
                ms(r.request.p99)
            );
            println!(
                "signal-to-dial (request sent → Vapi request received): p50 {}, p99 {} over {} calls; {:.1}× the floor's p50",
                ms(r.signal_to_dial.p50),
                ms(r.signal_to_dial.p99),
                r.signal_to_dial.n,
                r.signal_to_dial.p50.as_secs_f64() / r.floor.p50.as_secs_f64().max(1e-9)
            );
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("redial-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
