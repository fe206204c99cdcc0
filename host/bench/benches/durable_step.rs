//! The decision chain and the durable step, each with the reference plugins sandboxed in
//! wasm versus the same policies compiled natively into the host, measured in one run.
//!
//! - decision-chain: the four slots for one case (trigger, cadence, qualify's script and
//!   evaluation, crm), each call in a fresh instance.
//! - durable step: a signal in → trigger and cadence decide → the first call is due now,
//!   so qualify composes the script → case, journal, timer and outbox written (one
//!   write-ahead record, then the trees) and flushed to disk. Every step opens a new case
//!   (a new caller). The wasm and native engines take turns, step by step.
//!
//! Run: `cargo bench -p redial-bench --bench durable_step`

mod common;

use common::{Inputs, Reference, inputs, p50_p99, percentiles, runtime, us, wasm_plugins};
use redial_core::clock::ManualClock;
use redial_core::engine::{Engine, SignalIn};
use redial_core::policy::Policy;
use redial_runtime::{NativePolicy, PluginRuntime};
use redial_sdk::*;
use redial_store_sled::SledStore;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// The same policies compiled into the host.
fn native_chain(rt: &PluginRuntime) -> Reference {
    Reference {
        trigger: rt.native(
            "standard-trigger",
            NativePolicy::trigger::<standard_trigger::StandardTrigger>(),
        ),
        cadence: rt.native(
            "standard-cadence",
            NativePolicy::cadence::<standard_cadence::StandardCadence>(),
        ),
        qualify: rt.native(
            "bant-qualify",
            NativePolicy::qualify::<bant_qualify::BantQualify>(),
        ),
        crm: rt.native(
            "hubspot-crm",
            NativePolicy::crm::<hubspot_crm::HubspotCrm>(),
        ),
    }
}

fn decision_chain(rt: &'static PluginRuntime) {
    let Inputs {
        trigger: t,
        cadence: c,
        script: s,
        evaluate: e,
        crm: m,
        codes,
    } = inputs();
    let run = |chain: &Reference| {
        black_box(rt.trigger(&chain.trigger, t.clone()).unwrap());
        black_box(rt.cadence(&chain.cadence, c.clone()).unwrap());
        black_box(rt.script(&chain.qualify, s.clone()).unwrap());
        black_box(rt.evaluate(&chain.qualify, e.clone(), &codes).unwrap());
        black_box(rt.crm(&chain.crm, m.clone()).unwrap());
    };
    let (wasm, native) = (wasm_plugins(rt), native_chain(rt));
    let (w50, w99) = percentiles(3000, || run(&wasm));
    let (n50, n99) = percentiles(3000, || run(&native));
    println!(
        "decision-chain (5 decisions: trigger, cadence, script, evaluate, crm; 3000 chains each)"
    );
    println!(
        "  wasm   p50 {:>9} p99 {:>9}  ({} per decision at p50)",
        us(w50),
        us(w99),
        us(w50 / 5)
    );
    println!("  native p50 {:>9} p99 {:>9}", us(n50), us(n99));
    println!(
        "  ratio wasm/native at p50: {:.1}x",
        w50.as_secs_f64() / n50.as_secs_f64()
    );
}

/// An engine on a fresh store with the lone-star-hvac policy, its clock on a Tuesday
/// 10:00 in Austin (inside the calling window, so the first call is placed at once).
fn engine(native: bool, rt: Arc<PluginRuntime>) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(1_764_086_400_000)); // 2025-11-25T16:00Z
    let engine = Engine::new(store, rt.clone(), clock);
    let policy = Policy::load_dir(&Policy::default_dir())
        .unwrap()
        .into_iter()
        .find(|p| p.tenant == "lone-star-hvac")
        .unwrap();
    engine.load_tenant(policy).unwrap();
    if native {
        let chain = native_chain(&rt);
        for plugin in [chain.trigger, chain.cadence, chain.qualify, chain.crm] {
            engine.use_plugin("lone-star-hvac", plugin).unwrap();
        }
    }
    (engine, dir)
}

fn durable_step() {
    let rt = Arc::new(PluginRuntime::new(redial_runtime::RuntimeConfig::default()).unwrap());
    let (wasm, _wasm_dir) = engine(false, rt.clone());
    let (native, _native_dir) = engine(true, rt.clone());
    // The two engines take turns, step by step, so the machine's drift (this VM's speed
    // moves by tens of percent over minutes) falls on both alike.
    let mut n = 0u64;
    let mut step = |engine: &Engine| {
        n += 1;
        let signal = SignalIn {
            event_id: Some(format!("bench-{n}")),
            kind: SignalKind::MissedCall,
            caller: format!("+1512{:07}", n),
            line: "+15125550200".into(),
            at_ms: 1_764_086_400_000,
            context: vec![],
        };
        let started = Instant::now();
        black_box(engine.ingest("lone-star-hvac", signal).unwrap());
        started.elapsed()
    };
    for _ in 0..200 {
        step(&wasm);
        step(&native);
    }
    let (mut w, mut nat) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        w.push(step(&wasm));
        nat.push(step(&native));
    }
    for e in [&wasm, &native] {
        assert!(e.store().outbox_len() > 0, "the step placed the first call");
    }
    let ((w50, w99), (n50, n99)) = (p50_p99(w), p50_p99(nat));
    println!(
        "durable step (signal → trigger → cadence → script → case, journal, timer, outbox written + flush; 2000 steps each, the two taking turns)"
    );
    println!("  wasm plugins   p50 {:>9} p99 {:>9}", us(w50), us(w99));
    println!("  native policy  p50 {:>9} p99 {:>9}", us(n50), us(n99));
    println!(
        "  ratio wasm/native at p50: {:.2}x",
        w50.as_secs_f64() / n50.as_secs_f64()
    );
}

fn main() {
    decision_chain(runtime());
    durable_step();
}
