//! `redial bench neighbours`: how much a tenant whose plugin loops or traps on every call
//! slows another tenant on the same server ([`run`]), and how much tenants whose providers
//! hang, fail or crawl, beside one flooding signals, slow the others' callbacks
//! ([`providers`]).
//!
//! Two tenants on the in-process bench server. The quiet one is measured throughout; the
//! noisy one is idle, busy with well-behaved plugins (the baseline), busy with a trigger
//! that loops until its deadline, or busy with a cadence that traps. Each bad plugin is
//! uploaded through the API at the start of its phase and rolled back after it, so every
//! round sees the plugin fail until the circuit breaker suspends it: the transient a user
//! would see when a broken plugin goes live. Phases alternate over several rounds, so the
//! machine's drift spreads over all of them alike.

use super::{BenchServer, Delivery, Latency, SECRET, start_load};
use redial_runtime::{Slot, Tier};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// What the noisy neighbour runs during a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// No load from the neighbour.
    Idle,
    /// Load with the reference plugins: the baseline the bad plugins are compared against.
    WellBehaved,
    /// Load with a trigger that loops until the deadline stops it.
    LoopingTrigger,
    /// Load with a cadence that panics on every input.
    TrappingCadence,
}

impl Neighbour {
    /// Every phase, in the order a round runs them.
    pub const ALL: [Neighbour; 4] = [
        Neighbour::Idle,
        Neighbour::WellBehaved,
        Neighbour::LoopingTrigger,
        Neighbour::TrappingCadence,
    ];

    /// How the phase is named in the report.
    pub fn label(self) -> &'static str {
        match self {
            Neighbour::Idle => "neighbour idle",
            Neighbour::WellBehaved => "neighbour busy, well-behaved plugins",
            Neighbour::LoopingTrigger => "neighbour busy, trigger loops",
            Neighbour::TrappingCadence => "neighbour busy, cadence traps",
        }
    }

    /// The bad plugin this phase uploads to the neighbour, if any.
    fn bad_plugin(self) -> Option<(Slot, &'static str)> {
        match self {
            Neighbour::LoopingTrigger => Some((Slot::Trigger, "test-loop-forever")),
            Neighbour::TrappingCadence => Some((Slot::Cadence, "test-trap")),
            Neighbour::Idle | Neighbour::WellBehaved => None,
        }
    }
}

/// The figures of one kind of phase, over every round.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// What the neighbour ran.
    pub neighbour: Neighbour,
    /// The quiet tenant's request latency.
    pub quiet: Latency,
    /// Requests of the quiet tenant that did not get a 2xx.
    pub quiet_failed: u64,
    /// Signals the neighbour had accepted.
    pub neighbour_signals: u64,
    /// The neighbour's plugin failures by kind ("deadline", "trap", "suspended").
    pub failures: HashMap<String, usize>,
}

/// Runs `rounds` rounds of every phase, each `phase` long, with `quiet_clients` posting to
/// the quiet tenant and `noisy_clients` to the neighbour.
pub fn run(
    dir: &Path,
    policy_text: &str,
    quiet_clients: usize,
    noisy_clients: usize,
    phase: Duration,
    rounds: usize,
) -> anyhow::Result<Vec<PhaseReport>> {
    let server = BenchServer::start(dir, policy_text, 2, Delivery::default())?;
    let urls = server.signals_urls();
    let (quiet_url, noisy_url) = (&urls[0..1], &urls[1..2]);
    let noisy = server.tenants[1].clone();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); Neighbour::ALL.len()];
    let mut reports: Vec<PhaseReport> = Neighbour::ALL
        .iter()
        .map(|&neighbour| PhaseReport {
            neighbour,
            quiet: Latency::default(),
            quiet_failed: 0,
            neighbour_signals: 0,
            failures: HashMap::new(),
        })
        .collect();
    // Callers are numbered apart for every load started, so no signal joins an earlier case.
    let mut first = 0u64;
    let mut next_first = || {
        first += 1_000_000;
        first
    };
    for _ in 0..rounds {
        for ((report, quiet_latencies), &neighbour) in
            reports.iter_mut().zip(&mut latencies).zip(&Neighbour::ALL)
        {
            if let Some((slot, plugin)) = neighbour.bad_plugin() {
                upload(&agent, &server, &noisy, slot, plugin)?;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let noisy_load = (neighbour != Neighbour::Idle).then(|| {
                start_load(
                    noisy_url,
                    noisy_clients,
                    Some(SECRET),
                    stop.clone(),
                    next_first(),
                )
            });
            let quiet_load = start_load(
                quiet_url,
                quiet_clients,
                Some(SECRET),
                stop.clone(),
                next_first(),
            );
            std::thread::sleep(phase);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let quiet = quiet_load.join().expect("quiet load");
            quiet_latencies.extend(quiet.latencies);
            report.quiet_failed += quiet.failed;
            if let Some(load) = noisy_load {
                let load = load.join().expect("noisy load");
                report.neighbour_signals += load.ok;
                if let Some((slot, _)) = neighbour.bad_plugin() {
                    count_failures(&server, load.sent.keys(), slot, &mut report.failures)?;
                    server.rollback_plugin(&agent, &noisy, slot)?;
                }
            }
        }
    }
    for (report, quiet_latencies) in reports.iter_mut().zip(latencies) {
        report.quiet = Latency::of(quiet_latencies);
    }
    Ok(reports)
}

/// Uploads a built test plugin to the neighbour's `slot` through the API, and waits until
/// its optimised code is live, so no background compile runs during the phase.
fn upload(
    agent: &ureq::Agent,
    server: &BenchServer,
    tenant: &str,
    slot: Slot,
    plugin: &str,
) -> anyhow::Result<()> {
    let wasm = std::fs::read(redial_builtin::path(plugin))?;
    server.put_plugin(agent, tenant, slot, &wasm)?;
    let started = Instant::now();
    while server.engine.tenant(tenant)?.plugin(slot).0.tier != Tier::Optimised {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the optimising compile of {plugin} took over a minute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Adds the `slot` plugin's failures in `cases`' journals to `kinds`, by kind.
fn count_failures<'a>(
    server: &BenchServer,
    cases: impl Iterator<Item = &'a String>,
    slot: Slot,
    kinds: &mut HashMap<String, usize>,
) -> anyhow::Result<()> {
    for case in cases {
        for entry in server.engine.store().journal(case)? {
            if let Some(kind) = entry.event.plugin_failure_kind(slot.name()) {
                *kinds.entry(kind.to_string()).or_default() += 1;
            }
        }
    }
    Ok(())
}

/// Signals a second each well-behaved (and each misbehaving) tenant sends in
/// [`providers`]: steady traffic, under its rate.
pub const STEADY_RATE: u32 = 10;

/// The signal rate of every tenant in [`providers`]; the flooding tenant sends ten times
/// this.
pub const PROVIDER_BENCH_RATE: u32 = 20;

/// Tenants in [`providers`] whose callbacks are measured.
pub const WELL_BEHAVED: usize = 4;

/// The figures of [`providers`].
#[derive(Debug, Clone)]
pub struct ProviderReport {
    /// The well-behaved tenants' signal-to-dial latency with nobody else on the server.
    pub quiet: Latency,
    /// The same beside the misbehaving tenants.
    pub noisy: Latency,
    /// Well-behaved tenants' signals refused or failed, quiet and noisy.
    pub failed: (u64, u64),
    /// The flooding tenant's signals: accepted, and refused with 429.
    pub flood: (u64, u64),
    /// Signals of the misbehaving providers' tenants that were accepted.
    pub misbehaving_signals: u64,
}

/// A provider that misbehaves: it hangs, answers 500, or takes 5 s.
fn misbehaving_vapi(how: &'static str) -> std::net::SocketAddr {
    let route = axum::routing::post(move || async move {
        use axum::http::StatusCode;
        match how {
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                (StatusCode::OK, "{}")
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                (StatusCode::CREATED, r#"{"id":"call"}"#)
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "{}"),
        }
    });
    super::spawn_server(
        axum::Router::new().route("/call", route),
        super::cpu::FAKE_VAPI_THREADS,
        super::Threads::One,
    )
}

/// The well-behaved tenants' signal-to-dial latency, alone on a server (`quiet`) and
/// beside tenants whose provider hangs, answers 500 or takes 5 s, each sending steady
/// traffic, and one flooding signals at ten times its rate limit (`noisy`). Every phase
/// runs on a fresh server, so what one leaves behind (hung deliveries, retries) does not
/// count against the next; quiet and noisy phases alternate over `rounds`.
pub fn providers(
    dir: &Path,
    policy_text: &str,
    phase: Duration,
    rounds: usize,
) -> anyhow::Result<ProviderReport> {
    let rate = redial_server::SignalRate::per_second(
        std::num::NonZeroU32::new(PROVIDER_BENCH_RATE).expect("non-zero"),
    );
    let delivery = Delivery {
        provider_timeout: Duration::from_secs(10),
        ..Delivery::default()
    };
    let bad: Vec<Option<String>> = ["hang", "500", "slow"]
        .into_iter()
        .map(|how| Some(format!("http://{}", misbehaving_vapi(how))))
        .collect();
    let pace = Duration::from_secs(1) / STEADY_RATE;
    let (mut quiet, mut noisy) = (Vec::new(), Vec::new());
    let mut report = ProviderReport {
        quiet: Latency::default(),
        noisy: Latency::default(),
        failed: (0, 0),
        flood: (0, 0),
        misbehaving_signals: 0,
    };
    let mut first = 0u64;
    for round in 0..rounds {
        for crowded in [false, true] {
            // Tenants 0..WELL_BEHAVED are measured; then the flooder (its dials reach the
            // recording fake too), then the three misbehaving providers.
            let mut voices = vec![None; WELL_BEHAVED + 1];
            if crowded {
                voices.extend(bad.iter().cloned());
            }
            let server = BenchServer::start_with(
                &dir.join(format!("providers-{round}-{crowded}")),
                policy_text,
                &voices,
                delivery,
                Some(rate),
                None,
            )?;
            let urls = server.signals_urls();
            let stop = Arc::new(AtomicBool::new(false));
            let mut next_first = || {
                first += 1_000_000;
                first
            };
            let steady = |urls: &[String], first: u64| {
                super::start_paced_load(
                    urls,
                    urls.len(),
                    Some(SECRET),
                    stop.clone(),
                    first,
                    Some(pace),
                )
            };
            let measured = steady(&urls[..WELL_BEHAVED], next_first());
            let others = crowded.then(|| {
                let flood = super::start_paced_load(
                    &urls[WELL_BEHAVED..=WELL_BEHAVED],
                    10,
                    Some(SECRET),
                    stop.clone(),
                    next_first(),
                    Some(Duration::from_secs(1) / PROVIDER_BENCH_RATE),
                );
                (flood, steady(&urls[WELL_BEHAVED + 1..], next_first()))
            });
            std::thread::sleep(phase);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let measured = measured.join().expect("measured load");
            server.await_dials(&measured.sent);
            let samples: Vec<Duration> = {
                let dials = server.dials.lock().unwrap();
                let dialed = measured
                    .sent
                    .iter()
                    .filter_map(|(case, at)| dials.get(case).map(|d| d.duration_since(*at)));
                dialed.collect()
            };
            let failed = measured.failed + (measured.sent.len() - samples.len()) as u64;
            if crowded {
                noisy.extend(samples);
                report.failed.1 += failed;
                let (flood, bad) = others.expect("crowded");
                let (flood, bad) = (flood.join().expect("flood"), bad.join().expect("bad"));
                report.flood.0 += flood.ok;
                report.flood.1 += flood.limited;
                report.misbehaving_signals += bad.ok;
            } else {
                quiet.extend(samples);
                report.failed.0 += failed;
            }
        }
    }
    report.quiet = Latency::of(quiet);
    report.noisy = Latency::of(noisy);
    Ok(report)
}
