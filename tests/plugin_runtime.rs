//! Every reference plugin and every misbehaving test plugin, driven through the real
//! wasmtime runtime with components freshly built from `plugins/`.

mod common;

use common::{config, input, runtime};
use redial_builtin as builtin;
use redial_runtime::{PluginError, PluginRuntime, RuntimeConfig, Slot, Tier};
use redial_sdk::*;
use std::sync::Arc;

fn load(rt: &PluginRuntime, name: &str, slot: Slot) -> Arc<redial_runtime::Plugin> {
    rt.load_file(&builtin::path(name), Some(slot)).unwrap()
}

/// The example trigger input with the standard trigger's example config.
fn trigger_input() -> TriggerInput {
    let mut i: TriggerInput = input("trigger.json");
    i.config = config("standard-trigger");
    i
}

fn cadence_input(case_id: &str) -> CadenceInput {
    let mut i: CadenceInput = input("cadence.json");
    i.case.case_id = case_id.into();
    i
}

#[test]
fn standard_trigger_recovers_a_returning_caller_with_context() {
    let rt = runtime();
    let plugin = load(&rt, "standard-trigger", Slot::Trigger);
    let d = rt.trigger(&plugin, trigger_input()).unwrap();
    let TriggerDecision::Recover(r) = d.value else {
        panic!("{:?}", d.value)
    };
    assert_eq!(r.priority, 75);
    assert!(r.known.contains(&Field::new("returning-caller", "true")));
    assert!(d.cost.total() > std::time::Duration::ZERO);
}

#[test]
fn a_calls_cost_and_the_slot_totals_include_the_instance_teardown() {
    let rt = runtime();
    let plugin = load(&rt, "standard-trigger", Slot::Trigger);
    let d = rt.trigger(&plugin, trigger_input()).unwrap();
    let cost = d.cost;
    assert!(cost.teardown > std::time::Duration::ZERO, "{cost:?}");
    assert_eq!(cost.total(), cost.instantiate + cost.call + cost.teardown);
    let stats = rt.stats(Slot::Trigger);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&stats.calls), 1);
    assert_eq!(load(&stats.nanos), cost.total().as_nanos() as u64);
    assert_eq!(load(&stats.teardown_nanos), cost.teardown.as_nanos() as u64);
}

#[test]
fn standard_trigger_ignores_blocked_numbers() {
    let rt = runtime();
    let plugin = load(&rt, "standard-trigger", Slot::Trigger);
    let mut i = trigger_input();
    i.signal.caller = "+14155550999".into();
    let d = rt.trigger(&plugin, i).unwrap();
    assert!(matches!(d.value, TriggerDecision::Ignore(r) if r.contains("blocked")));
}

#[test]
fn standard_cadence_retries_a_busy_line_sooner() {
    let rt = runtime();
    let plugin = load(&rt, "standard-cadence", Slot::Cadence);
    let mut i = cadence_input("c1");
    i.config = config("standard-cadence");
    assert_eq!(
        rt.cadence(&plugin, i).unwrap().value,
        CadenceDecision::CallAfter(120)
    );
}

#[test]
fn standard_cadence_sends_the_booking_link_when_declined() {
    let rt = runtime();
    let plugin = load(&rt, "standard-cadence", Slot::Cadence);
    let mut i = cadence_input("c1");
    i.case.attempts.push(Attempt {
        at_unix_ms: 0,
        outcome: AttemptOutcome::Declined,
    });
    i.config = config("standard-cadence");
    let CadenceDecision::Fallback(f) = rt.cadence(&plugin, i).unwrap().value else {
        panic!()
    };
    assert_eq!(
        f.link.as_deref(),
        Some("https://book.example.com/bright-smile")
    );
}

#[test]
fn bant_qualify_script_never_asks_what_the_caller_already_said() {
    let rt = runtime();
    let plugin = load(&rt, "bant-qualify", Slot::Qualify);
    let mut i: ScriptInput = input("qualify-script.json");
    i.config = config("bant-qualify");
    let s = rt.script(&plugin, i).unwrap().value;
    assert!(s.opening.starts_with("Hi Luis,"), "{}", s.opening);
    assert!(s.opening.contains("no heat upstairs"));
    assert!(s.questions.iter().all(|q| q.field_id != "reason"));
    assert!((2..=4).contains(&s.questions.len()));
}

#[test]
fn bant_qualify_maps_an_emergency_to_same_day_seller_callback() {
    let rt = runtime();
    let plugin = load(&rt, "bant-qualify", Slot::Qualify);
    let mut i: EvaluateInput = input("qualify-evaluate.json");
    i.config = config("bant-qualify");
    let d = rt
        .evaluate(&plugin, i, &["emergency-repair".into()])
        .unwrap()
        .value;
    assert_eq!(d.reason_code, ReasonCode::Custom("emergency-repair".into()));
    assert_eq!(d.urgency, Urgency::SameDay);
    assert_eq!(d.next_action, NextAction::SellerCallback);
    assert!(d.qualification.buying_role.confirmed);
    assert!(!d.qualification.budget_range.confirmed);
}

#[test]
fn a_custom_reason_code_the_tenant_does_not_allow_is_refused() {
    let rt = runtime();
    let plugin = load(&rt, "bant-qualify", Slot::Qualify);
    let mut i: EvaluateInput = input("qualify-evaluate.json");
    i.config = config("bant-qualify");
    let err = rt.evaluate(&plugin, i, &[]).unwrap_err();
    assert!(matches!(err, PluginError::InvalidOutput { .. }), "{err}");
    assert!(err.to_string().contains("emergency-repair"), "{err}");
}

#[test]
fn hubspot_crm_emits_contact_call_and_deal_with_v3_names() {
    let rt = runtime();
    let plugin = load(&rt, "hubspot-crm", Slot::Crm);
    let mut i: CrmInput = input("crm.json");
    i.config = config("hubspot-crm");
    let ops = rt.crm(&plugin, i).unwrap().value;
    let objects: Vec<_> = ops.iter().map(|o| (o.object.as_str(), o.action)).collect();
    assert_eq!(
        objects,
        [
            ("contacts", CrmAction::Upsert),
            ("calls", CrmAction::Create),
            ("deals", CrmAction::Create)
        ]
    );
    let call = &ops[1];
    let prop = |k: &str| {
        call.properties
            .iter()
            .find(|f| f.key == k)
            .map(|f| f.value.as_str())
    };
    assert_eq!(prop("hs_call_direction"), Some("OUTBOUND"));
    assert_eq!(prop("hubspot_owner_id"), Some("51234567"));
    assert_eq!(call.associate, ["contact"]);
}

#[test]
fn a_bad_plugin_config_is_refused_with_the_key_named() {
    let rt = runtime();
    let plugin = load(&rt, "standard-cadence", Slot::Cadence);
    let mut i = cadence_input("c1");
    i.config = r#"{"max_atempts": 3}"#.into();
    let err = rt.cadence(&plugin, i).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Refused {
                slot: Slot::Cadence,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_atempts"), "{err}");
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_and_the_next_call_works() {
    let rt = runtime();
    let looping = load(&rt, "test-loop-forever", Slot::Trigger);
    let err = rt.trigger(&looping, input("trigger.json")).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Deadline {
                slot: Slot::Trigger,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("test-loop-forever@"), "{err}");
    let good = load(&rt, "standard-trigger", Slot::Trigger);
    assert!(rt.trigger(&good, input("trigger.json")).is_ok());
}

#[test]
fn a_plugin_that_allocates_without_bound_hits_the_memory_cap() {
    let rt = runtime();
    let bomb = load(&rt, "test-alloc-bomb", Slot::Crm);
    let err = rt.crm(&bomb, input("crm.json")).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Memory {
                slot: Slot::Crm,
                ..
            }
        ),
        "{err}"
    );
    let good = load(&rt, "hubspot-crm", Slot::Crm);
    assert!(rt.crm(&good, input("crm.json")).is_ok());
}

#[test]
fn a_panicking_plugin_reports_its_panic_message() {
    let rt = runtime();
    let trap = load(&rt, "test-trap", Slot::Cadence);
    let err = rt.cadence(&trap, cadence_input("case-77")).unwrap_err();
    let PluginError::Trap { slot, stderr, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*slot, Slot::Cadence);
    assert!(
        stderr.contains("deliberate failure on case case-77"),
        "{err}"
    );
    let good = load(&rt, "standard-cadence", Slot::Cadence);
    assert!(rt.cadence(&good, cadence_input("c1")).is_ok());
}

#[test]
fn unbounded_recursion_hits_the_stack_cap() {
    let rt = runtime();
    let trap = load(&rt, "test-trap", Slot::Cadence);
    let err = rt.cadence(&trap, cadence_input("recurse")).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Stack {
                slot: Slot::Cadence,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn five_questions_are_refused() {
    let rt = runtime();
    let bad = load(&rt, "test-out-of-range", Slot::Qualify);
    let err = rt.script(&bad, input("qualify-script.json")).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::InvalidOutput {
                slot: Slot::Qualify,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("5 questions"), "{err}");
    let err = rt
        .evaluate(&bad, input("qualify-evaluate.json"), &[])
        .unwrap_err();
    assert!(err.to_string().contains("made-up-code"), "{err}");
}

#[test]
fn a_component_of_another_world_is_refused_for_every_slot() {
    let rt = runtime();
    let path = builtin::path("test-wrong-world");
    for slot in Slot::ALL {
        let err = rt.load_file(&path, Some(slot)).unwrap_err();
        assert!(matches!(err, PluginError::WrongWorld { .. }), "{err}");
        assert!(err.to_string().contains(slot.name()), "{err}");
    }
    let err = rt.load_file(&path, None).unwrap_err();
    assert!(
        err.to_string().contains("exports no redial:policy slot"),
        "{err}"
    );
}

#[test]
fn a_slot_interface_with_the_wrong_signature_is_refused_at_load() {
    // Calls skip the per-call type check (runtime/exports.rs), so the check at load must
    // catch an export that has a slot's name but not its types.
    let rt = runtime();
    let path = builtin::path("test-wrong-signature");
    for slot in [Some(Slot::Trigger), None] {
        let err = rt.load_file(&path, slot).unwrap_err();
        assert!(matches!(err, PluginError::WrongWorld { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("do not match the contract"), "{text}");
        assert!(text.contains("trigger-policy@0.1.0#decide"), "{text}");
    }
}

#[test]
fn a_plugin_loaded_for_the_wrong_slot_is_refused() {
    let rt = runtime();
    let err = rt
        .load_file(&builtin::path("standard-trigger"), Some(Slot::Crm))
        .unwrap_err();
    assert!(matches!(err, PluginError::WrongWorld { .. }), "{err}");
    assert!(err.to_string().contains("it exports trigger"), "{err}");
}

#[test]
fn garbage_bytes_are_refused_as_a_compile_error() {
    let rt = runtime();
    let err = rt.load("junk", b"\0asm not really", None).unwrap_err();
    assert!(matches!(err, PluginError::Compile { .. }), "{err}");
}

#[test]
fn the_same_bytes_compile_once_for_every_tenant() {
    let rt = runtime();
    let bytes = std::fs::read(builtin::path("standard-trigger")).unwrap();
    let a = rt
        .load("tenant-a-trigger", &bytes, Some(Slot::Trigger))
        .unwrap();
    let b = rt.load("tenant-b-trigger", &bytes, None).unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "one compiled plugin shared by both tenants"
    );
}

/// A runtime configuration with its artifact cache in `dir`.
fn cached_in(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

#[test]
fn compiled_components_are_cached_on_disk_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cached_in(dir.path());
    let first = PluginRuntime::new(cfg.clone()).unwrap();
    let p = first
        .load_file(&builtin::path("bant-qualify"), None)
        .unwrap();
    assert!(!p.from_cache);
    drop(first);
    let second = PluginRuntime::new(cfg).unwrap();
    let p = second
        .load_file(&builtin::path("bant-qualify"), None)
        .unwrap();
    assert!(p.from_cache, "a restart reuses the compiled artifact");
    assert!(second.script(&p, input("qualify-script.json")).is_ok());
}

#[test]
fn a_runaway_plugin_does_not_stop_other_calls_running_beside_it() {
    let rt = Arc::new(runtime());
    let looping = load(&rt, "test-loop-forever", Slot::Trigger);
    let good = load(&rt, "standard-trigger", Slot::Trigger);
    let bad_calls = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            (0..3)
                .filter(|_| rt.trigger(&looping, input("trigger.json")).is_err())
                .count()
        })
    };
    let good_calls = (0..200)
        .filter(|_| rt.trigger(&good, input("trigger.json")).is_ok())
        .count();
    assert_eq!(good_calls, 200);
    assert_eq!(bad_calls.join().unwrap(), 3);
}

/// A runtime without the shared artifact cache, so every component is new to it.
fn uncached_runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).unwrap()
}

fn load_quick(rt: &PluginRuntime, name: &str, slot: Slot) -> Arc<redial_runtime::Plugin> {
    let bytes = std::fs::read(builtin::path(name)).unwrap();
    let plugin = rt.load_quick(name, &bytes, Some(slot)).unwrap();
    assert_eq!(plugin.tier, Tier::Quick, "{name} was never compiled before");
    plugin
}

/// The same component on quick code and on optimised code.
fn on_both_tiers(rt: &PluginRuntime, name: &str, slot: Slot) -> [Arc<redial_runtime::Plugin>; 2] {
    [load_quick(rt, name, slot), load(rt, name, slot)]
}

#[test]
fn quick_code_decides_exactly_as_optimised_code() {
    let rt = uncached_runtime();
    let [quick, optimised] = on_both_tiers(&rt, "standard-trigger", Slot::Trigger);
    assert_eq!(optimised.tier, Tier::Optimised);
    assert_eq!(quick.id, optimised.id, "one plugin identity on either tier");
    for caller in ["+14155550123", "+14155550999"] {
        let mut i = trigger_input();
        i.signal.caller = caller.into();
        assert_eq!(
            rt.trigger(&quick, i.clone()).unwrap().value,
            rt.trigger(&optimised, i).unwrap().value
        );
    }
    let [quick, optimised] = on_both_tiers(&rt, "standard-cadence", Slot::Cadence);
    let mut i = cadence_input("c1");
    i.config = config("standard-cadence");
    assert_eq!(
        rt.cadence(&quick, i.clone()).unwrap().value,
        rt.cadence(&optimised, i).unwrap().value
    );
    let [quick, optimised] = on_both_tiers(&rt, "bant-qualify", Slot::Qualify);
    let script: ScriptInput = input("qualify-script.json");
    assert_eq!(
        rt.script(&quick, script.clone()).unwrap().value,
        rt.script(&optimised, script).unwrap().value
    );
    let evaluate: EvaluateInput = input("qualify-evaluate.json");
    assert_eq!(
        rt.evaluate(&quick, evaluate.clone(), &[]).unwrap().value,
        rt.evaluate(&optimised, evaluate, &[]).unwrap().value
    );
    let [quick, optimised] = on_both_tiers(&rt, "hubspot-crm", Slot::Crm);
    let crm: CrmInput = input("crm.json");
    assert_eq!(
        rt.crm(&quick, crm.clone()).unwrap().value,
        rt.crm(&optimised, crm).unwrap().value
    );
}

#[test]
fn quick_code_is_bounded_like_optimised_code() {
    let rt = uncached_runtime();
    let looping = load_quick(&rt, "test-loop-forever", Slot::Trigger);
    let err = rt.trigger(&looping, input("trigger.json")).unwrap_err();
    assert!(matches!(err, PluginError::Deadline { .. }), "{err}");
    let bomb = load_quick(&rt, "test-alloc-bomb", Slot::Crm);
    let err = rt.crm(&bomb, input("crm.json")).unwrap_err();
    assert!(matches!(err, PluginError::Memory { .. }), "{err}");
    let trap = load_quick(&rt, "test-trap", Slot::Cadence);
    let err = rt.cadence(&trap, cadence_input("recurse")).unwrap_err();
    assert!(matches!(err, PluginError::Stack { .. }), "{err}");
    let err = rt.cadence(&trap, cadence_input("case-78")).unwrap_err();
    assert!(
        matches!(&err, PluginError::Trap { stderr, .. } if stderr.contains("deliberate failure on case case-78")),
        "{err}"
    );
    let good = load_quick(&rt, "standard-trigger", Slot::Trigger);
    assert!(rt.trigger(&good, input("trigger.json")).is_ok());
}

#[test]
fn a_component_compiled_before_skips_the_quick_tier() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cached_in(dir.path());
    let bytes = std::fs::read(builtin::path("standard-cadence")).unwrap();
    let first = PluginRuntime::new(cfg.clone()).unwrap();
    let optimised = first.load("cadence", &bytes, None).unwrap();
    let again = first.load_quick("cadence", &bytes, None).unwrap();
    assert!(Arc::ptr_eq(&optimised, &again), "compiled in memory");
    drop(first);
    let restarted = PluginRuntime::new(cfg).unwrap();
    let cached = restarted.load_quick("cadence", &bytes, None).unwrap();
    assert_eq!(cached.tier, Tier::Optimised);
    assert!(cached.from_cache, "compiled in the artifact cache");
    let err = restarted
        .load_quick("junk", b"\0asm not really", None)
        .unwrap_err();
    assert!(matches!(err, PluginError::Compile { .. }), "{err}");
}

#[test]
fn the_reference_plugins_import_nothing_but_the_contract() {
    // They are `no_std` guests: without the standard library's WASI imports a fresh
    // instance costs about 2 µs less per decision (BENCHMARKS.md, plugin-call).
    let engine = wasmtime::Engine::default();
    for name in [
        "standard-trigger",
        "standard-cadence",
        "bant-qualify",
        "hubspot-crm",
    ] {
        let bytes = std::fs::read(builtin::path(name)).unwrap();
        let component = wasmtime::component::Component::new(&engine, &bytes).unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(import, _)| import.to_string())
            .collect();
        assert!(
            imports.iter().all(|i| i.starts_with("redial:policy/")),
            "{name} imports {imports:?}"
        );
    }
}

#[test]
fn only_a_regular_file_within_the_size_limit_is_read_as_a_component() {
    let rt = runtime();
    let refused = |path: &std::path::Path| match rt.load_file(path, Some(Slot::Trigger)) {
        Err(PluginError::Read { source, .. }) => source.to_string(),
        Err(other) => panic!("{}: {other}", path.display()),
        Ok(_) => panic!("{} loaded", path.display()),
    };
    assert!(refused("/dev/zero".as_ref()).contains("not a regular file"));
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.wasm");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(redial_runtime::MAX_COMPONENT as u64 + 1)
        .unwrap();
    let why = refused(&huge);
    assert!(why.contains("more than"), "{why}");
}
