//! `redial bench`: measured figures, each against a baseline taken in the same run.
//! (The per-decision and durable-step figures are criterion benches: `cargo bench`.)

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use redial_bench::neighbours::Neighbour;
use redial_bench::{self as bench, tenants};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the bench server delivers dials (`signal-to-dial` and `ingest`).
#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Delivery lanes (`redial serve --delivery-lanes`).
    #[arg(long, default_value_t = redial_core::engine::DEFAULT_LANES, value_parser = super::serve::lanes())]
    lanes: usize,
    /// Milliseconds the fake Vapi takes to answer each dial request (a real provider takes
    /// a few hundred); 0 answers at once.
    #[arg(long, default_value_t = 0)]
    provider_latency_ms: u64,
}

impl DeliveryArgs {
    fn delivery(&self) -> bench::Delivery {
        bench::Delivery {
            lanes: self.lanes,
            provider_latency: Duration::from_millis(self.provider_latency_ms),
            ..bench::Delivery::default()
        }
    }
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Latency from a signal posted to `redial serve` (durable store, wasm plugins) to the
    /// dial request reaching a local fake Vapi, against a bare axum endpoint (the floor).
    SignalToDial {
        /// Seconds of load.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Concurrent closed-loop clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// Sustained durable signals/s with many clients, and the latencies while sustained.
    Ingest {
        /// Seconds of load.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Concurrent closed-loop clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Tenants the signals are spread over (each has its own lock and counters).
        #[arg(long, default_value_t = 1)]
        tenants: usize,
        /// A PostgreSQL server (a URL whose role may create databases): run the load on
        /// sled, then on a scratch database there with 1 to --nodes nodes sharing it, and
        /// stop one of the most to time the failover. Spread it over several tenants
        /// (--tenants 12): nodes share out tenants, not requests.
        #[arg(long, env = "REDIAL_BENCH_POSTGRES", hide_env_values = true)]
        postgres: Option<String>,
        /// The most nodes with --postgres.
        #[arg(long, default_value_t = 3, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=8), usize::from))]
        nodes: usize,
        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// Plugin upload → first decision by the new plugin, small and ~1 MB components, while
    /// load runs; counts failed requests.
    Swap {
        /// Uploads per size.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Clients posting signals meanwhile.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// A tenant's request latency while its neighbour's plugin loops or traps on every call,
    /// against the same neighbour load with well-behaved plugins; then well-behaved
    /// tenants' signal-to-dial beside tenants whose providers hang, answer 500 or take 5 s
    /// and one flooding signals at ten times its rate limit, against the same tenants alone.
    Neighbours {
        /// Seconds per phase (a round runs four phases).
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds; the phases alternate within each.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Clients posting to the measured (quiet) tenant.
        #[arg(long, default_value_t = 2)]
        quiet_clients: usize,
        /// Clients posting to the neighbour.
        #[arg(long, default_value_t = 4)]
        noisy_clients: usize,
    },
    /// Months of signals for many tenants on the simulated clock with a retention of
    /// `keep-days`: the store's size on disk and its live data's at checkpoint days. Past
    /// the retention the size should level off (under 10% growth from day 60 to 90) and
    /// stay within twice the live data.
    Soak {
        /// Simulated days.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Tenants.
        #[arg(long, default_value_t = 20)]
        tenants: usize,
        /// Signals per tenant per day.
        #[arg(long, default_value_t = 10)]
        per_day: usize,
        /// The tenants' `retention.keep_days`.
        #[arg(long, default_value_t = 30)]
        keep_days: u32,
    },
    /// Warm decisions of a plugin component (any language) beside the reference Rust
    /// plugin of its slot, in one runtime as the server runs them: the cost of each
    /// decision split into instantiation, call and teardown.
    Plugin {
        /// The component.
        component: PathBuf,
        /// Decisions per plugin.
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
    /// Many tenants sharing the reference plugins: memory, load time, and the first
    /// decision after a restart with the compiled-artifact cache cold and warm.
    Tenants {
        /// Tenants to create.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Internal: run one restart against this folder and print its figures as JSON.
        #[arg(long, hide = true)]
        child: Option<PathBuf>,
    },
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn hvac_policy() -> Result<String> {
    Ok(std::fs::read_to_string(
        redial_core::policy::Policy::default_dir().join("lone-star-hvac.toml"),
    )?)
}

/// Runs a benchmark and prints its figures.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::SignalToDial {
            seconds,
            clients,
            delivery,
        } => load(clients, 1, seconds, delivery.delivery(), false),
        BenchCommand::Ingest {
            seconds,
            clients,
            tenants,
            postgres: Some(server),
            nodes: max_nodes,
            delivery,
        } => nodes(
            &server,
            max_nodes,
            clients,
            tenants,
            seconds,
            delivery.delivery(),
        ),
        BenchCommand::Ingest {
            seconds,
            clients,
            tenants,
            delivery,
            ..
        } => load(clients, tenants, seconds, delivery.delivery(), true),
        BenchCommand::Swap { rounds, clients } => swap(rounds, clients),
        BenchCommand::Neighbours {
            seconds,
            rounds,
            quiet_clients,
            noisy_clients,
        } => neighbours(seconds, rounds, quiet_clients, noisy_clients),
        BenchCommand::Plugin { component, calls } => plugin(&component, calls),
        BenchCommand::Soak {
            days,
            tenants,
            per_day,
            keep_days,
        } => soak(bench::soak::SoakOptions {
            days,
            tenants,
            per_day,
            keep_days,
            checkpoints: [10, 30, 60, 90]
                .into_iter()
                .filter(|d| *d <= days)
                .collect(),
        }),
        BenchCommand::Tenants { count, child } => match child {
            Some(dir) => {
                println!("{}", serde_json::to_string(&tenants::child(&dir)?)?);
                Ok(())
            }
            None => tenant_restarts(count),
        },
    }
}

fn load(
    clients: usize,
    tenants: usize,
    seconds: f64,
    delivery: bench::Delivery,
    ingest: bool,
) -> Result<()> {
    let dir = scratch_dir()?;
    println!(
        "redial bench {}: {clients} clients, {tenants} tenant(s), {seconds} s, loopback, store flushed before every answer; {} delivery lanes, the fake Vapi answering in {} ms",
        if ingest { "ingest" } else { "signal-to-dial" },
        delivery.lanes,
        delivery.provider_latency.as_millis()
    );
    let r = bench::serve(
        &dir,
        &hvac_policy()?,
        tenants,
        clients,
        Duration::from_secs_f64(seconds),
        delivery,
    )?;
    println!(
        "floor (bare axum endpoint): {:.0} req/s, p50 {}, p99 {}",
        r.floor_per_sec,
        ms(r.floor.p50),
        ms(r.floor.p99)
    );
    println!(
        "signals: {:.0} /s accepted durably ({:.1}% of the floor's rate), {} failed; request p50 {}, p99 {}",
        r.signals_per_sec,
        100.0 * r.signals_per_sec / r.floor_per_sec.max(1.0),
        r.failed,
        ms(r.request.p50),
        ms(r.request.p99)
    );
    println!(
        "dials reaching the fake Vapi during the load: {:.0} /s ({})",
        r.dials_per_sec,
        if r.dials_per_sec >= 0.95 * r.signals_per_sec {
            "keeping up: the rate is sustained end to end"
        } else {
            "falling behind: accepted faster than dialed, so the dial latency below includes a backlog"
        }
    );
    let per_signal = |d: Duration| d.as_secs_f64() * 1e6 / (r.signals_per_sec * seconds).max(1.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "CPU during the load, per accepted signal: server {:.0} µs, load generator {:.0} µs, fake Vapi {:.0} µs ({:.0}% of {cores} cores in all); the server's share alone would carry about {:.0} signals/s on {cores} cores",
        per_signal(r.cpu.server),
        per_signal(r.cpu.load_generator),
        per_signal(r.cpu.fake_vapi),
        100.0 * r.cpu.total().as_secs_f64() / (cores * seconds),
        cores * 1e6 / per_signal(r.cpu.server).max(1.0)
    );
    let by_thread: Vec<String> = r
        .cpu
        .server_by_thread
        .iter()
        .filter(|(_, d)| per_signal(*d) >= 1.0)
        .map(|(name, d)| format!("{name} {:.0} µs", per_signal(*d)))
        .collect();
    println!("  the server's CPU by thread: {}", by_thread.join(", "));
    let decisions: Vec<String> = r
        .decisions
        .iter()
        .filter(|d| d.calls > 0)
        .map(|d| {
            format!(
                "{} {:.1} µs (instantiation {:.1}, teardown {:.1}; {} calls)",
                d.slot,
                d.mean.as_secs_f64() * 1e6,
                d.instantiate.as_secs_f64() * 1e6,
                d.teardown.as_secs_f64() * 1e6,
                d.calls
            )
        })
        .collect();
    println!(
        "  plugin decisions during the load, mean wall time each (isolated: cargo bench --bench plugin_call): {}",
        decisions.join(", ")
    );
    println!(
        "signal-to-dial (request sent → Vapi request received): p50 {}, p99 {} over {} calls; p99 is {:.1}× the floor's p99",
        ms(r.signal_to_dial.p50),
        ms(r.signal_to_dial.p99),
        r.signal_to_dial.n,
        r.signal_to_dial.p99.as_secs_f64() / r.floor.p99.as_secs_f64().max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn nodes(
    server: &str,
    max_nodes: usize,
    clients: usize,
    tenants: usize,
    seconds: f64,
    delivery: bench::Delivery,
) -> Result<()> {
    let dir = scratch_dir()?;
    println!(
        "redial bench ingest: {clients} clients, {tenants} tenant(s), {seconds} s per row, loopback; sled, then PostgreSQL with 1 to {max_nodes} in-process nodes sharing one scratch database (every node takes every tenant's signals; each tenant's owner dials)"
    );
    let report = bench::nodes::run(
        &dir,
        &hvac_policy()?,
        server,
        bench::nodes::NodesLoad {
            tenants,
            clients,
            duration: Duration::from_secs_f64(seconds),
            delivery,
            max_nodes,
        },
    )?;
    let base = report.rows[0].clone();
    println!("| store | signals/s | × sled | signal-to-dial p50 | p99 | × sled p99 | failed |");
    println!("|---|---|---|---|---|---|---|");
    for row in &report.rows {
        println!(
            "| {} | {:.0} | {:.2} | {} | {} | {:.1} | {} |",
            row.label,
            row.signals_per_sec,
            row.signals_per_sec / base.signals_per_sec.max(1e-9),
            ms(row.signal_to_dial.p50),
            ms(row.signal_to_dial.p99),
            row.signal_to_dial.p99.as_secs_f64() / base.signal_to_dial.p99.as_secs_f64().max(1e-9),
            row.failed
        );
    }
    if let Some(f) = report.failover {
        println!(
            "failover: one of {} nodes stopped holding {} tenant(s); the others held them all after {}, and dialed one of them {} after the stop (lease term {} s + renewal {} s)",
            f.nodes,
            f.tenants_held,
            ms(f.takeover),
            f.next_dial.map_or("never".to_string(), ms),
            redial_core::store::LEASE_TERM.as_secs(),
            redial_core::store::LEASE_RENEWAL.as_secs()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn swap(rounds: usize, clients: usize) -> Result<()> {
    let dir = scratch_dir()?;
    println!(
        "redial bench swap: {rounds} uploads per size of the trigger plugin, each a new component, while {clients} clients post signals"
    );
    let (reports, ok, failed) = bench::swap(&dir, &hvac_policy()?, clients, rounds)?;
    for r in &reports {
        println!(
            "{:>9} bytes: upload p50 {}, max {}; swap-to-live (upload → first decision by the new plugin, on quick code) p50 {}, max {}",
            r.bytes,
            ms(r.upload.p50),
            ms(r.upload.p99),
            ms(r.to_live.p50),
            ms(r.to_live.p99)
        );
        println!(
            "{:>15} baseline, upload → optimised code live: p50 {}, max {}; swap-to-live is {:.2}× that",
            "",
            ms(r.to_optimised.p50),
            ms(r.to_optimised.p99),
            r.to_live.p50.as_secs_f64() / r.to_optimised.p50.as_secs_f64().max(1e-9)
        );
    }
    println!("load during the swaps: {ok} requests, {failed} failed");
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(failed == 0, "{failed} requests failed during swaps");
    Ok(())
}

fn neighbours(
    seconds: f64,
    rounds: usize,
    quiet_clients: usize,
    noisy_clients: usize,
) -> Result<()> {
    let dir = scratch_dir()?;
    println!(
        "redial bench neighbours: {quiet_clients} clients post to a quiet tenant while {noisy_clients} post to its neighbour; {rounds} rounds of four {seconds} s phases"
    );
    let reports = bench::neighbours::run(
        &dir,
        &hvac_policy()?,
        quiet_clients,
        noisy_clients,
        Duration::from_secs_f64(seconds),
        rounds,
    )?;
    let baseline = reports
        .iter()
        .find(|r| r.neighbour == Neighbour::WellBehaved)
        .map_or(Duration::ZERO, |r| r.quiet.p99);
    for r in &reports {
        let against = if r.neighbour == Neighbour::WellBehaved {
            "(baseline)".to_string()
        } else {
            format!(
                "({:+.0}% against the baseline)",
                100.0 * (r.quiet.p99.as_secs_f64() / baseline.as_secs_f64().max(1e-9) - 1.0)
            )
        };
        println!(
            "{:<38} quiet tenant: {} requests, {} failed, p50 {}, p99 {} {against}, max {}",
            r.neighbour.label(),
            r.quiet.n,
            r.quiet_failed,
            ms(r.quiet.p50),
            ms(r.quiet.p99),
            ms(r.quiet.max),
        );
        if r.neighbour != Neighbour::Idle {
            let mut failures: Vec<String> = r
                .failures
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            failures.sort();
            println!(
                "{:<38} neighbour: {} signals accepted{}",
                "",
                r.neighbour_signals,
                if failures.is_empty() {
                    String::new()
                } else {
                    format!("; plugin failures: {}", failures.join(", "))
                }
            );
        }
    }
    let failed: u64 = reports.iter().map(|r| r.quiet_failed).sum();
    anyhow::ensure!(
        failed == 0,
        "{failed} of the quiet tenant's requests failed"
    );
    provider_neighbours(&dir, seconds, rounds)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The providers half of `bench neighbours`: both runs, and the target.
fn provider_neighbours(dir: &std::path::Path, seconds: f64, rounds: usize) -> Result<()> {
    use bench::neighbours::{PROVIDER_BENCH_RATE, STEADY_RATE, WELL_BEHAVED};
    println!(
        "\nproviders: {WELL_BEHAVED} well-behaved tenants send {STEADY_RATE} signals/s each; beside them (noisy run) \
         three tenants whose provider hangs, answers 500 or takes 5 s send {STEADY_RATE}/s each and one floods at \
         {}/s against its limit of {PROVIDER_BENCH_RATE}/s; {rounds} rounds of a quiet and a noisy {seconds} s phase, \
         each on a fresh server",
        10 * PROVIDER_BENCH_RATE
    );
    let r = bench::neighbours::providers(
        dir,
        &hvac_policy()?,
        Duration::from_secs_f64(seconds),
        rounds,
    )?;
    let ratio = r.noisy.p99.as_secs_f64() / r.quiet.p99.as_secs_f64().max(1e-9);
    for (label, l, failed, against) in [
        ("quiet run", r.quiet, r.failed.0, "(baseline)".to_string()),
        (
            "noisy run",
            r.noisy,
            r.failed.1,
            format!("({:+.0}% against the quiet run)", 100.0 * (ratio - 1.0)),
        ),
    ] {
        println!(
            "{label:<10} well-behaved signal-to-dial: {} dials, {failed} failed or undialed, p50 {}, p99 {} {against}, max {}",
            l.n,
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        );
    }
    println!(
        "{:<10} flooding tenant: {} signals accepted, {} refused with 429; misbehaving providers' tenants: {} signals accepted",
        "", r.flood.0, r.flood.1, r.misbehaving_signals
    );
    let met = ratio <= 1.2 && r.noisy.p99 <= Duration::from_millis(25);
    println!(
        "target (noisy p99 within +20% of quiet and at most 25 ms): {}",
        if met { "met" } else { "not met" }
    );
    anyhow::ensure!(
        r.failed == (0, 0),
        "well-behaved signals failed or were not dialed: {:?}",
        r.failed
    );
    Ok(())
}

fn tenant_restarts(count: usize) -> Result<()> {
    let dir = scratch_dir()?;
    println!("redial bench tenants: {count} tenants sharing the reference plugins");
    let t = Instant::now();
    tenants::write_policies(&dir, count)?;
    println!("wrote {count} policy files in {}", ms(t.elapsed()));
    let exe = std::env::current_exe()?;
    for label in ["cold cache", "warm cache"] {
        let started = Instant::now();
        let out = std::process::Command::new(&exe)
            .args(["bench", "tenants", "--child"])
            .arg(&dir)
            .output()
            .context("cannot start the child process")?;
        let wall = started.elapsed();
        anyhow::ensure!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: tenants::StartReport = serde_json::from_slice(&out.stdout)?;
        println!(
            "restart, {label}: process start → first decision {} (wall, exec included; in-process {:.0} ms: open {:.0} ms, parse {:.0} ms, load {:.0} ms, first decision {:.1} ms); plugins from cache: {}",
            ms(wall),
            r.total_ms,
            r.open_ms,
            r.parse_ms,
            r.load_ms,
            r.first_decision_ms,
            r.from_cache
        );
        println!(
            "  resident memory: {} with {} tenants, {} before any tenant (baseline); {:.1} KB per tenant",
            mb(r.rss_after_bytes),
            r.tenants,
            mb(r.rss_before_bytes),
            (r.rss_after_bytes.saturating_sub(r.rss_before_bytes)) as f64
                / 1e3
                / r.tenants.max(1) as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn soak(opts: bench::soak::SoakOptions) -> Result<()> {
    println!(
        "redial bench soak: {} days on the simulated clock, {} tenants × {} signals/day, \
         full retention kept {} days; real engine, wasm plugins, simulator, sled store; \
         housekeeping once a simulated day",
        opts.days, opts.tenants, opts.per_day, opts.keep_days
    );
    let dir = scratch_dir()?;
    let r = bench::soak::run(&dir, &opts)?;
    println!("| day | on disk | live data | on disk / live | cases kept | cases counted |");
    println!("|---|---|---|---|---|---|");
    for c in &r.checkpoints {
        println!(
            "| {} | {} | {} | {:.2} | {} | {} |",
            c.day,
            mb(c.on_disk),
            mb(c.live),
            c.on_disk as f64 / c.live.max(1) as f64,
            c.cases,
            c.counted
        );
    }
    let at = |day| r.checkpoints.iter().find(|c| c.day == day);
    if let (Some(d60), Some(d90)) = (at(60), at(90)) {
        let growth = 100.0 * (d90.on_disk as f64 / d60.on_disk.max(1) as f64 - 1.0);
        println!(
            "growth on disk from day 60 to 90: {growth:+.1}% (target under 10%: {})",
            if growth < 10.0 { "met" } else { "not met" }
        );
    }
    if let Some(last) = r.checkpoints.last() {
        let ratio = last.on_disk as f64 / last.live.max(1) as f64;
        println!(
            "on disk at day {}: {ratio:.2}× the live data (target within 2×: {})",
            last.day,
            if ratio <= 2.0 { "met" } else { "not met" }
        );
    }
    println!(
        "{} signals in {:.1} s of wall-clock time; {} store rewrite(s) to give space back, \
         the longest {} (steps wait while one runs)",
        r.signals,
        r.took.as_secs_f64(),
        r.rewrites.count,
        ms(r.rewrites.longest)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("redial-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Each slot's reference plugin and example input.
fn reference(slot: redial_runtime::Slot) -> (&'static str, &'static str) {
    use redial_runtime::Slot;
    match slot {
        Slot::Trigger => ("standard-trigger", "trigger.json"),
        Slot::Cadence => ("standard-cadence", "cadence.json"),
        Slot::Qualify => ("bant-qualify", "qualify-script.json"),
        Slot::Crm => ("hubspot-crm", "crm.json"),
    }
}

fn plugin(component: &std::path::Path, calls: usize) -> Result<()> {
    use super::plugin::{Call, decide};
    use redial_runtime::{PluginRuntime, RuntimeConfig};
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let candidate = runtime.load_file(component, None)?;
    let (name, input_file) = reference(candidate.slot);
    let reference = runtime.load_file(&redial_builtin::path(name), Some(candidate.slot))?;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/examples");
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(examples.join(input_file))?)?;
    let call = Call::of(candidate.slot, &input, None);
    println!(
        "redial bench plugin: {calls} warm decisions each on the {} slot's example input, \
         optimised code, one runtime (as the server runs them)",
        candidate.slot
    );
    println!(
        "| plugin | size | instantiate p50 | call p50 | teardown p50 | decision p50 | p99 | ÷ reference p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut reference_p50 = None;
    for plugin in [&reference, &candidate] {
        let mut parts: [Vec<Duration>; 4] = Default::default();
        // The first call of a plugin in a process pays for faulting its image in.
        decide(&runtime, plugin, call, input.clone(), None, &[])?;
        for _ in 0..calls {
            let (_, cost) = decide(&runtime, plugin, call, input.clone(), None, &[])?;
            for (list, d) in
                parts
                    .iter_mut()
                    .zip([cost.instantiate, cost.call, cost.teardown, cost.total()])
            {
                list.push(d);
            }
        }
        for list in &mut parts {
            list.sort();
        }
        let p = |list: &[Duration], q: f64| list[((list.len() - 1) as f64 * q) as usize];
        let total_p50 = p(&parts[3], 0.5);
        let ratio = reference_p50.map_or_else(
            || "1".to_string(),
            |r: Duration| format!("{:.0}×", total_p50.as_secs_f64() / r.as_secs_f64()),
        );
        reference_p50.get_or_insert(total_p50);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {ratio} |",
            plugin.id,
            mb(plugin.size as u64),
            us(p(&parts[0], 0.5)),
            us(p(&parts[1], 0.5)),
            us(p(&parts[2], 0.5)),
            us(total_p50),
            us(p(&parts[3], 0.99)),
        );
    }
    Ok(())
}
