//! The contract is versioned: components built against an older `redial:policy` version
//! the host still supports keep deciding in every slot, and a version the host does not
//! know is refused, naming it.
//!
//! `tests/fixtures/contract-0.1.0/` holds the reference plugins as built against
//! `redial:policy@0.1.0`, committed as bytes: they are never rebuilt, so they stand for
//! the components tenants uploaded while 0.1.0 was current.

mod common;

use common::{config, input, runtime};
use redial_runtime::{Plugin, PluginError, PluginRuntime, Slot};
use redial_sdk::*;
use std::path::PathBuf;
use std::sync::Arc;

/// A committed 0.1.0 component and a fresh build of the same plugin from `plugins/`.
fn old_and_fresh(rt: &PluginRuntime, name: &str, slot: Slot) -> [Arc<Plugin>; 2] {
    let file = format!("{}.wasm", name.replace('-', "_"));
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/contract-0.1.0")
        .join(file);
    let old = rt.load_file(&fixture, Some(slot)).unwrap();
    assert_eq!(old.version, "0.1.0", "{name}: the fixture's contract");
    let fresh = rt
        .load_file(&redial_builtin::path(name), Some(slot))
        .unwrap();
    [old, fresh]
}

#[test]
fn components_built_against_0_1_0_decide_like_fresh_builds_in_every_slot() {
    let rt = runtime();

    let [old, fresh] = old_and_fresh(&rt, "standard-trigger", Slot::Trigger);
    let mut trigger: TriggerInput = input("trigger.json");
    trigger.config = config("standard-trigger");
    let decided = rt.trigger(&old, trigger.clone()).unwrap().value;
    assert!(
        matches!(decided, TriggerDecision::Recover(_)),
        "{decided:?}"
    );
    assert_eq!(decided, rt.trigger(&fresh, trigger).unwrap().value);

    let [old, fresh] = old_and_fresh(&rt, "standard-cadence", Slot::Cadence);
    let mut cadence: CadenceInput = input("cadence.json");
    cadence.config = config("standard-cadence");
    assert_eq!(
        rt.cadence(&old, cadence.clone()).unwrap().value,
        rt.cadence(&fresh, cadence).unwrap().value
    );

    let [old, fresh] = old_and_fresh(&rt, "bant-qualify", Slot::Qualify);
    let script: ScriptInput = input("qualify-script.json");
    let composed = rt.script(&old, script.clone()).unwrap().value;
    assert!(!composed.questions.is_empty());
    assert_eq!(composed, rt.script(&fresh, script).unwrap().value);
    let evaluate: EvaluateInput = input("qualify-evaluate.json");
    assert_eq!(
        rt.evaluate(&old, evaluate.clone(), &[]).unwrap().value,
        rt.evaluate(&fresh, evaluate, &[]).unwrap().value
    );

    let [old, fresh] = old_and_fresh(&rt, "hubspot-crm", Slot::Crm);
    let crm: CrmInput = input("crm.json");
    let operations = rt.crm(&old, crm.clone()).unwrap().value;
    assert!(!operations.is_empty());
    assert_eq!(operations, rt.crm(&fresh, crm).unwrap().value);
}

#[test]
fn a_component_built_against_an_unknown_contract_version_is_refused_naming_it() {
    let rt = runtime();
    let path = redial_builtin::path("test-future-version");
    let err = rt.load_file(&path, Some(Slot::Trigger)).unwrap_err();
    let PluginError::UnsupportedVersion {
        version, supported, ..
    } = &err
    else {
        panic!("not refused as an unsupported version: {err}");
    };
    assert_eq!(version, "9.0.0");
    assert!(supported.contains("0.1.0"), "{supported}");
    let message = err.to_string();
    assert!(message.contains("9.0.0"), "{message}");
    // Loaded for no particular slot, it is refused the same way.
    let err = rt.load_file(&path, None).unwrap_err();
    assert_eq!(err.kind(), "unsupported-version", "{err}");
}
