//! The typed entry point of each slot: instantiate fresh, call, lift the result into the
//! contract types, validate it. A [`NativePolicy`] takes the same path minus the sandbox.

use super::exports::{Export, VersionedExports, v0_1, v0_2};
use super::sandbox::Sandbox;
use super::{Decision, NativePolicy, Plugin, PluginError, PluginRuntime, validate};
use redial_sdk::*;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{ComponentType, InstancePre, Lower};

/// Runs `$body` with `$exports` bound to the slot exports of whichever contract version
/// the component was built against: the body is written once and compiled per version,
/// and `lift` converts the plain input into that version's types.
macro_rules! per_version {
    ($versioned:expr, |$exports:ident| $body:expr) => {
        match $versioned {
            VersionedExports::V0_1($exports) => {
                use v0_1::SlotExports as Exports;
                $body
            }
            VersionedExports::V0_2($exports) => {
                use v0_2::SlotExports as Exports;
                $body
            }
        }
    };
}

/// Any one plugin call with its input, for callers that pick the call from data (the
/// CLI's offline runs and tests, replays of a journal) rather than from the loop's step.
#[derive(Debug, Clone)]
pub enum Request {
    /// `trigger.decide`.
    Trigger(TriggerInput),
    /// `cadence.next`.
    Cadence(CadenceInput),
    /// `qualify.compose-script`.
    Script(ScriptInput),
    /// `qualify.evaluate`.
    Evaluate(EvaluateInput),
    /// `crm.operations`.
    Crm(CrmInput),
}

impl PluginRuntime {
    /// Makes `request` on `plugin` (`allowed_custom`: the reason codes `evaluate` may
    /// return beyond the built-in ones); the decision as the contract's JSON.
    pub fn decide(
        &self,
        plugin: &Plugin,
        request: Request,
        allowed_custom: &[String],
    ) -> Result<Decision<serde_json::Value>, PluginError> {
        fn json<T: serde::Serialize>(d: Decision<T>) -> Decision<serde_json::Value> {
            Decision {
                value: serde_json::to_value(d.value).expect("decisions serialize"),
                cost: d.cost,
            }
        }
        Ok(match request {
            Request::Trigger(i) => json(self.trigger(plugin, i)?),
            Request::Cadence(i) => json(self.cadence(plugin, i)?),
            Request::Script(i) => json(self.script(plugin, i)?),
            Request::Evaluate(i) => json(self.evaluate(plugin, i, allowed_custom)?),
            Request::Crm(i) => json(self.crm(plugin, i)?),
        })
    }

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
            |store, pre, exports, input| {
                per_version!(exports, |exports| match exports {
                    Exports::Trigger(decide) => Some(timed(store, pre, decide, input.lift())),
                    _ => None,
                })
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
            |store, pre, exports, input| {
                per_version!(exports, |exports| match exports {
                    Exports::Cadence(next) => Some(timed(store, pre, next, input.lift())),
                    _ => None,
                })
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
            |store, pre, exports, input| {
                per_version!(exports, |exports| match exports {
                    Exports::Qualify { script, .. } => {
                        Some(timed(store, pre, script, input.lift()))
                    }
                    _ => None,
                })
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
            |store, pre, exports, input| {
                per_version!(exports, |exports| match exports {
                    Exports::Qualify { evaluate, .. } => {
                        Some(timed(store, pre, evaluate, input.lift()))
                    }
                    _ => None,
                })
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
            |store, pre, exports, input| {
                per_version!(exports, |exports| match exports {
                    Exports::Crm(operations) => Some(timed(store, pre, operations, input.lift())),
                    _ => None,
                })
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
fn timed<P, W, T>(
    store: &mut Store<Sandbox>,
    pre: &InstancePre<Sandbox>,
    export: &Export<(P,), (Result<W, String>,)>,
    input: P,
) -> wasmtime::Result<(Duration, Result<T, String>)>
where
    P: ComponentType + Lower + 'static,
    W: ComponentType + wasmtime::component::Lift + Lift<T> + 'static,
{
    let started = Instant::now();
    let instance = pre.instantiate(&mut *store)?;
    let instantiated = started.elapsed();
    let (result,) = export.call(store, &instance, (input,))?;
    Ok((instantiated, result.map(Lift::lift)))
}
