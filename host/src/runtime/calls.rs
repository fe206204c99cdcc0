//! The typed entry point of each slot: instantiate fresh, call, lift the result into the
//! contract types, validate it. A [`NativePolicy`] takes the same path minus the sandbox.

use super::exports::SlotExports;
use super::plugin::SlotPre;
use super::sandbox::Sandbox;
use super::{Decision, NativePolicy, Plugin, PluginError, PluginRuntime, validate};
use redial_sdk::*;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

impl PluginRuntime {
    /// Asks a trigger plugin whether a signal starts a case.
    pub fn trigger(
        &self,
        plugin: &Plugin,
        input: TriggerInput,
    ) -> Result<Decision<TriggerDecision>, PluginError> {
        self.call(
            plugin,
            input,
            validate::trigger,
            |store, pre, input| {
                let SlotPre::Wasm {
                    instance,
                    exports: SlotExports::Trigger(decide),
                } = pre
                else {
                    return None;
                };
                Some(timed(store, instance, |s, inst| {
                    decide.call(s, inst, (input.lift(),))
                }))
            },
            |native, input| match native {
                NativePolicy::Trigger(decide) => Some(decide(input)),
                _ => None,
            },
        )
    }

    /// Asks a cadence plugin for a case's next step.
    pub fn cadence(
        &self,
        plugin: &Plugin,
        input: CadenceInput,
    ) -> Result<Decision<CadenceDecision>, PluginError> {
        let now = input.case.now.unix_ms;
        self.call(
            plugin,
            input,
            |d| validate::cadence(d, now),
            |store, pre, input| {
                let SlotPre::Wasm {
                    instance,
                    exports: SlotExports::Cadence(next),
                } = pre
                else {
                    return None;
                };
                Some(timed(store, instance, |s, inst| {
                    next.call(s, inst, (input.lift(),))
                }))
            },
            |native, input| match native {
                NativePolicy::Cadence(next) => Some(next(input)),
                _ => None,
            },
        )
    }

    /// Asks a qualify plugin for the call script.
    pub fn script(
        &self,
        plugin: &Plugin,
        input: ScriptInput,
    ) -> Result<Decision<Script>, PluginError> {
        self.call(
            plugin,
            input,
            validate::script,
            |store, pre, input| {
                let SlotPre::Wasm {
                    instance,
                    exports: SlotExports::Qualify { script, .. },
                } = pre
                else {
                    return None;
                };
                Some(timed(store, instance, |s, inst| {
                    script.call(s, inst, (input.lift(),))
                }))
            },
            |native, input| match native {
                NativePolicy::Qualify { script, .. } => Some(script(input)),
                _ => None,
            },
        )
    }

    /// Asks a qualify plugin to turn answers into decision fields; `allowed_custom` lists
    /// the tenant's own reason codes.
    pub fn evaluate(
        &self,
        plugin: &Plugin,
        input: EvaluateInput,
        allowed_custom: &[String],
    ) -> Result<Decision<Disposition>, PluginError> {
        self.call(
            plugin,
            input,
            |d| validate::disposition(d, allowed_custom),
            |store, pre, input| {
                let SlotPre::Wasm {
                    instance,
                    exports: SlotExports::Qualify { evaluate, .. },
                } = pre
                else {
                    return None;
                };
                Some(timed(store, instance, |s, inst| {
                    evaluate.call(s, inst, (input.lift(),))
                }))
            },
            |native, input| match native {
                NativePolicy::Qualify { evaluate, .. } => Some(evaluate(input)),
                _ => None,
            },
        )
    }

    /// Asks a crm plugin for the operations a disposition causes.
    pub fn crm(
        &self,
        plugin: &Plugin,
        input: CrmInput,
    ) -> Result<Decision<Vec<CrmOperation>>, PluginError> {
        self.call(
            plugin,
            input,
            |ops: &Vec<CrmOperation>| validate::crm(ops),
            |store, pre, input| {
                let SlotPre::Wasm {
                    instance,
                    exports: SlotExports::Crm(operations),
                } = pre
                else {
                    return None;
                };
                Some(timed(store, instance, |s, inst| {
                    operations.call(s, inst, (input.lift(),))
                }))
            },
            |native, input| match native {
                NativePolicy::Crm(operations) => Some(operations(input)),
                _ => None,
            },
        )
    }
}

/// Instantiates, then calls, timing the instantiation; lifts the guest's result into the
/// plain contract types.
fn timed<W, T>(
    store: &mut Store<Sandbox>,
    pre: &InstancePre<Sandbox>,
    call: impl FnOnce(&mut Store<Sandbox>, &Instance) -> wasmtime::Result<(Result<W, String>,)>,
) -> wasmtime::Result<(Duration, Result<T, String>)>
where
    W: Lift<T>,
{
    let started = Instant::now();
    let instance = pre.instantiate(&mut *store)?;
    let instantiated = started.elapsed();
    let (result,) = call(store, &instance)?;
    Ok((instantiated, result.map(Lift::lift)))
}
