//! Per-call cost of each slot through wasmtime (fresh instance per call) versus the same
//! plugin logic compiled natively into the host, measured in one run; plus the cost of
//! the fresh instance alone. Criterion reports each figure; a summary table at the end
//! prints the medians, the wasm/native ratio, and how much of a call is creating the
//! instance and tearing it down (resetting its pooled memory), as the runtime times them.
//!
//! Run: `cargo bench -p redial-bench --bench plugin_call`

mod common;

use common::{Inputs, Reference, inputs, quick_plugins, runtime, uncached_runtime, wasm_plugins};
use criterion::{BenchmarkId, Criterion, criterion_group};
use redial_runtime::{CallCost, PluginRuntime};
use redial_sdk::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One benchmarked decision: the wasm call (returning the runtime's own split of its cost)
/// and the native call.
struct Case {
    name: &'static str,
    wasm: Box<dyn Fn() -> CallCost>,
    native: Box<dyn Fn()>,
}

fn cases(rt: &'static PluginRuntime, plugins: Reference) -> Vec<Case> {
    let Reference {
        trigger,
        cadence,
        qualify,
        crm,
    } = plugins;
    let Inputs {
        trigger: t,
        cadence: c,
        script: s,
        evaluate: e,
        crm: m,
        codes,
    } = inputs();

    let (t2, c2, s2, e2, m2) = (t.clone(), c.clone(), s.clone(), e.clone(), m.clone());
    let q2 = qualify.clone();
    vec![
        Case {
            name: "trigger/standard-trigger",
            wasm: Box::new(move || rt.trigger(&trigger, t.clone()).unwrap().cost),
            native: Box::new(move || {
                black_box(standard_trigger::StandardTrigger::decide(t2.clone()).unwrap());
            }),
        },
        Case {
            name: "cadence/standard-cadence",
            wasm: Box::new(move || rt.cadence(&cadence, c.clone()).unwrap().cost),
            native: Box::new(move || {
                black_box(standard_cadence::StandardCadence::next(c2.clone()).unwrap());
            }),
        },
        Case {
            name: "qualify-script/bant-qualify",
            wasm: Box::new(move || rt.script(&qualify, s.clone()).unwrap().cost),
            native: Box::new(move || {
                black_box(bant_qualify::BantQualify::script(s2.clone()).unwrap());
            }),
        },
        Case {
            name: "qualify-evaluate/bant-qualify",
            wasm: Box::new(move || rt.evaluate(&q2, e.clone(), &codes).unwrap().cost),
            native: Box::new(move || {
                black_box(bant_qualify::BantQualify::evaluate(e2.clone()).unwrap());
            }),
        },
        Case {
            name: "crm/hubspot-crm",
            wasm: Box::new(move || rt.crm(&crm, m.clone()).unwrap().cost),
            native: Box::new(move || {
                black_box(hubspot_crm::HubspotCrm::operations(m2.clone()).unwrap());
            }),
        },
    ]
}

fn bench_calls(c: &mut Criterion) {
    let rt = runtime();
    for case in cases(rt, wasm_plugins(rt)) {
        let mut group = c.benchmark_group(case.name);
        group.bench_function(BenchmarkId::new("wasm", "fresh-instance"), |b| {
            b.iter(|| (case.wasm)())
        });
        group.bench_function(BenchmarkId::new("native", "in-host"), |b| {
            b.iter(|| (case.native)())
        });
        group.bench_function(
            BenchmarkId::new("instantiate-only", "fresh-instance"),
            |b| b.iter_custom(|iters| (0..iters).map(|_| (case.wasm)().instantiate).sum()),
        );
        group.finish();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The figures in one table: medians and p99 over the same number of calls each, and the
/// ratio of wasm to native, all measured in this run; and the same call on quick (Winch)
/// code, which serves an upload until its optimised code is ready.
fn summary() {
    let rt = runtime();
    let quick_rt = uncached_runtime();
    const N: usize = 3000;
    println!("\nplugin-call summary ({N} calls each, same run)");
    println!(
        "{:<32} {:>12} {:>12} {:>14} {:>12} {:>12} {:>10} {:>12} {:>12}",
        "decision",
        "wasm p50",
        "wasm p99",
        "instantiate",
        "teardown",
        "native p50",
        "ratio",
        "quick p50",
        "quick/wasm"
    );
    let quick = cases(quick_rt, quick_plugins(quick_rt));
    for (case, quick) in cases(rt, wasm_plugins(rt)).into_iter().zip(quick) {
        for _ in 0..200 {
            (case.wasm)();
            (case.native)();
            (quick.wasm)();
        }
        let mut wasm = Vec::with_capacity(N);
        let mut inst = Vec::with_capacity(N);
        let mut teardown = Vec::with_capacity(N);
        let mut native = Vec::with_capacity(N);
        let mut on_quick = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let cost = (case.wasm)();
            wasm.push(t.elapsed());
            inst.push(cost.instantiate);
            teardown.push(cost.teardown);
            let t = Instant::now();
            (case.native)();
            native.push(t.elapsed());
            let t = Instant::now();
            (quick.wasm)();
            on_quick.push(t.elapsed());
        }
        let p99 = percentile(&mut wasm, 0.99);
        let (w, i, n, q) = (median(wasm), median(inst), median(native), median(on_quick));
        let d = median(teardown);
        println!(
            "{:<32} {:>10.1}µs {:>10.1}µs {:>12.1}µs {:>10.1}µs {:>10.2}µs {:>9.0}x {:>10.1}µs {:>11.2}x",
            case.name,
            w.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            i.as_secs_f64() * 1e6,
            d.as_secs_f64() * 1e6,
            n.as_secs_f64() * 1e6,
            w.as_secs_f64() / n.as_secs_f64().max(1e-9),
            q.as_secs_f64() * 1e6,
            q.as_secs_f64() / w.as_secs_f64().max(1e-9)
        );
    }
}

criterion_group!(benches, bench_calls);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
