//! `redial demo`: the whole loop, locally, on an accelerated clock.
//!
//! Loads the example tenants from `policies/`, fires a realistic mix of signals across
//! them (a repeat caller, a call at night, a do-not-call number, every simulated persona),
//! and runs the loop (deliveries, timers, handoff acknowledgements) until nothing is left
//! to do, jumping the clock to the next due event. The run is resumable: signals carry
//! event ids (replays are dropped), the clock is persisted, and the simulator keeps a
//! ledger, so a killed demo restarted with `--resume` finishes the same work exactly once.

use redial_connectors::{Behaviour, Persona, Simulator};
use redial_core::clock::ManualClock;
use redial_core::engine::{Engine, EngineError, Ingested, SignalIn};
use redial_core::policy::{Policy, PolicyError};
use redial_core::records::CaseState;
use redial_core::store::{Store, StoreError};
use redial_runtime::{PluginRuntime, RuntimeConfig, RuntimeError};
use redial_sdk::{Field, SignalKind};
use redial_store_sled::SledStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Demo failures.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A policy failed to load.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plugin runtime failed to start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A file or folder problem.
    #[error("{0}")]
    Io(String),
}

/// Where the demo keeps things.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The sled folder.
    pub store: PathBuf,
    /// Folder of tenant policies.
    pub policies: PathBuf,
    /// The simulator's ledger file (inside the store folder by default).
    pub ledger: PathBuf,
    /// Keep an existing store and continue its run instead of starting fresh.
    pub resume: bool,
}

/// The demo's start: Tuesday 24 Nov 2026, 16:00 UTC (08:00 in Los Angeles, 10:00 in
/// Chicago, 16:00 in London).
pub const START_MS: i64 = 1_795_536_000_000;

/// Minutes of the simulated owners' reaction to a handoff notice.
const ACK_AFTER_MIN: i64 = 7;
/// The one owner in the scenario who never acknowledges (to show SLA escalation).
const SILENT_OWNER: &str = "mike@lonestar-hvac.example";

/// One scripted signal.
pub struct ScriptedSignal {
    /// Seconds after [`START_MS`].
    pub at_secs: i64,
    /// Tenant id.
    pub tenant: &'static str,
    /// The signal.
    pub kind: SignalKind,
    /// Caller.
    pub caller: &'static str,
    /// Context fields.
    pub context: &'static [(&'static str, &'static str)],
}

const fn sig(
    at_secs: i64,
    tenant: &'static str,
    kind: SignalKind,
    caller: &'static str,
    context: &'static [(&'static str, &'static str)],
) -> ScriptedSignal {
    ScriptedSignal {
        at_secs,
        tenant,
        kind,
        caller,
        context,
    }
}

const DENTAL: &str = "bright-smile-dental";
const HVAC: &str = "lone-star-hvac";
const SAAS: &str = "northwind-software";
use SignalKind::*;

/// The scenario's signals.
pub const SIGNALS: &[ScriptedSignal] = &[
    sig(
        0,
        DENTAL,
        MissedCall,
        "+14155550101",
        &[
            ("name", "Dana Whitfield"),
            ("message", "cracked crown, hurts when I chew"),
        ],
    ),
    sig(
        30,
        DENTAL,
        MissedCall,
        "+14155550101",
        &[("callback-number", "+14155550101")],
    ),
    sig(
        1200,
        DENTAL,
        Voicemail,
        "+14155550102",
        &[
            ("name", "Marco Ruiz"),
            ("message", "need to move my cleaning appointment"),
        ],
    ),
    sig(2100, DENTAL, MissedCall, "+14155550999", &[]),
    sig(
        3000,
        DENTAL,
        MissedCall,
        "+14155550103",
        &[("name", "Priya Nair")],
    ),
    sig(
        55800,
        DENTAL,
        MissedCall,
        "+14155550104",
        &[("name", "Ellen Park"), ("message", "price of whitening?")],
    ),
    sig(
        600,
        HVAC,
        FailedCallAfterForm,
        "+15125550201",
        &[
            ("name", "Luis Ortega"),
            ("message", "furnace stopped working, no heat upstairs"),
        ],
    ),
    sig(
        1800,
        HVAC,
        MissedCall,
        "+15125550202",
        &[("name", "Beth Cole")],
    ),
    sig(2700, HVAC, MissedCall, "+15125550203", &[]),
    sig(12000, HVAC, MissedCall, "+15125550203", &[]),
    sig(
        3600,
        HVAC,
        MissedCall,
        "+15125550204",
        &[("name", "Ray Dunn"), ("message", "quote to replace my AC")],
    ),
    sig(4500, HVAC, MissedCall, "+19005550205", &[]),
    sig(
        5400,
        HVAC,
        MissedCall,
        "+15125550206",
        &[
            ("name", "Ann Moss"),
            ("message", "thermostat leak in the attic"),
        ],
    ),
    sig(
        900,
        SAAS,
        AfterHoursInquiry,
        "+442079460301",
        &[
            ("name", "Priya Shah"),
            ("company", "Northwind Logistics"),
            ("message", "want a demo for our dispatch team"),
        ],
    ),
    sig(
        2400,
        SAAS,
        MissedCall,
        "+442079460302",
        &[("name", "Tom Hale")],
    ),
    sig(
        3300,
        SAAS,
        MissedCall,
        "+442079460303",
        &[("name", "Ines Roca"), ("message", "pricing for 10 seats")],
    ),
    sig(
        4800,
        SAAS,
        FailedCallAfterForm,
        "+442079460304",
        &[
            ("name", "Olu Ade"),
            ("company", "Ade Freight"),
            ("message", "demo please, we run 200 trucks"),
        ],
    ),
];

/// The simulated callees.
pub fn personas() -> HashMap<String, Persona> {
    use Behaviour::*;
    let p = |b| Persona::new(b);
    [
        (
            "+14155550101",
            p(Qualifies)
                .answer("reason", "cracked crown")
                .answer("timeline", "this week please")
                .answer("insurance", "Delta Dental"),
        ),
        (
            "+14155550102",
            p(BusyThenAnswers)
                .answer("timeline", "next week")
                .answer("insurance", "none"),
        ),
        ("+14155550103", p(Declines)),
        (
            "+14155550104",
            p(Qualifies)
                .answer("timeline", "no rush")
                .answer("insurance", "not sure"),
        ),
        (
            "+15125550201",
            p(Qualifies)
                .answer("timeline", "today if possible")
                .answer("role", "yes, I own the house")
                .answer("current_system", "Carrier gas furnace, 15 years"),
        ),
        ("+15125550202", p(NeverAnswers)),
        ("+15125550203", p(OptsOut)),
        (
            "+15125550204",
            p(CallLater)
                .answer("timeline", "this month")
                .answer("role", "yes")
                .answer("current_system", "Trane AC, 12 years"),
        ),
        (
            "+15125550206",
            p(Qualifies)
                .answer("timeline", "today, water is dripping")
                .answer("role", "I rent, landlord pays")
                .answer("current_system", "not sure"),
        ),
        (
            "+442079460301",
            p(Qualifies)
                .answer("role", "Head of operations, I sign off")
                .answer("timeline", "this quarter")
                .answer("current_system", "spreadsheets")
                .answer("budget", "about 20k a year"),
        ),
        ("+442079460302", p(Voicemail)),
        (
            "+442079460303",
            p(Qualifies)
                .answer("role", "just researching")
                .answer("timeline", "not sure")
                .answer("current_system", "a competitor")
                .answer("budget", "don't know"),
        ),
        (
            "+442079460304",
            p(BusyThenAnswers)
                .answer("role", "owner")
                .answer("timeline", "next month")
                .answer("current_system", "paper")
                .answer("budget", "50k"),
        ),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect()
}

/// A finished (or resumed-and-finished) demo.
pub struct Demo {
    /// The engine, for reports.
    pub engine: Engine,
    /// The simulator, for its ledger.
    pub simulator: Simulator,
    /// What happened to each scripted signal in this run.
    pub outcomes: Vec<(String, Ingested)>,
}

/// Runs the demo to the end.
pub fn run(opts: &DemoOptions) -> Result<Demo, DemoError> {
    if !opts.resume && opts.store.exists() {
        std::fs::remove_dir_all(&opts.store)
            .map_err(|e| DemoError::Io(format!("cannot reset {}: {e}", opts.store.display())))?;
    }
    std::fs::create_dir_all(&opts.store)
        .map_err(|e| DemoError::Io(format!("cannot create {}: {e}", opts.store.display())))?;
    let store = SledStore::open(&opts.store.join("db"))?;
    let clock = Arc::new(ManualClock::new(store.clock_ms()?.unwrap_or(START_MS)));
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(opts.store.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let engine = Engine::new(Arc::new(store), runtime, clock.clone());
    for policy in Policy::load_dir(&opts.policies)? {
        engine.load_tenant(policy)?;
    }
    let simulator = Simulator::new(clock.clone(), personas(), Some(&opts.ledger))
        .map_err(|e| DemoError::Io(format!("cannot open ledger {}: {e}", opts.ledger.display())))?;
    let mut outcomes = Vec::new();
    let tenants = engine.tenant_ids();
    redial_core::scheduler::run_simulated(
        &engine,
        &simulator,
        &clock,
        |now| -> Result<Option<i64>, DemoError> {
            for (i, s) in SIGNALS.iter().enumerate() {
                let at_ms = START_MS + s.at_secs * 1000;
                if at_ms > now || !tenants.iter().any(|t| t == s.tenant) {
                    continue;
                }
                let signal = SignalIn {
                    event_id: Some(format!("demo-{i}")),
                    kind: s.kind,
                    caller: s.caller.into(),
                    line: line_of(s.tenant).into(),
                    at_ms,
                    context: s.context.iter().map(|(k, v)| Field::new(*k, *v)).collect(),
                };
                let outcome = engine.ingest(s.tenant, signal)?;
                if outcome != Ingested::Duplicate {
                    outcomes.push((format!("{} {}", s.tenant, s.caller), outcome));
                }
            }
            let next_ack = acknowledge_due(&engine, now)?;
            let next_signal = SIGNALS
                .iter()
                .map(|s| START_MS + s.at_secs * 1000)
                .filter(|at| *at > now)
                .min();
            Ok([next_ack, next_signal].into_iter().flatten().min())
        },
    )?;
    Ok(Demo {
        engine,
        simulator,
        outcomes,
    })
}

fn line_of(tenant: &str) -> &'static str {
    match tenant {
        DENTAL => "+14155550100",
        HVAC => "+15125550200",
        _ => "+442079460300",
    }
}

/// The simulated owners acknowledge handoffs [`ACK_AFTER_MIN`] minutes after the notice,
/// except the one who never does. Returns when the next acknowledgement is due.
fn acknowledge_due(engine: &Engine, now: i64) -> Result<Option<i64>, DemoError> {
    let mut next = None;
    for case in engine.store().cases(None)? {
        let CaseState::HandedOff {
            owner,
            sla_deadline_ms,
            acknowledged: false,
            ..
        } = &case.state
        else {
            continue;
        };
        if owner == SILENT_OWNER {
            continue;
        }
        let tenant = engine.tenant(&case.tenant)?;
        let handed = sla_deadline_ms - i64::from(tenant.policy.handoff.sla_minutes) * 60_000;
        let due = handed + ACK_AFTER_MIN * 60_000;
        if due <= now {
            engine.acknowledge(&case.id)?;
        } else {
            next = Some(next.map_or(due, |n: i64| n.min(due)));
        }
    }
    Ok(next)
}
