//! The functions a plugin exports for its slot, found and type-checked once, at load.
//!
//! wasmtime's generated per-world bindings look every export of the world up and type-check
//! it again on each instantiation: for a qualify plugin, both entry points' records, a
//! visible share of every decision. A call here fetches its one function from the
//! fresh instance by index and calls it unchecked, which is sound because [`Export::find`]
//! checked that same export of that same component against the same types.

use super::Slot;
use super::sandbox::Sandbox;
use std::marker::PhantomData;
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower, TypedFunc,
};

/// One exported function with parameters `P` and results `R`.
pub(super) struct Export<P, R> {
    index: ComponentExportIndex,
    ty: PhantomData<fn(P) -> R>,
}

impl<P, R> Export<P, R>
where
    P: ComponentNamedList + Lower + 'static,
    R: ComponentNamedList + Lift + 'static,
{
    /// Finds `func` in the slot interface `interface` (e.g.
    /// `redial:policy/trigger-policy@0.1.0`) and checks its type against `P` and `R`.
    fn find(pre: &InstancePre<Sandbox>, interface: &str, func: &str) -> Result<Self, String> {
        let component = pre.component();
        let (_, iface) = component
            .get_export(None, interface)
            .ok_or_else(|| format!("no export `{interface}`"))?;
        let (item, index) = component
            .get_export(Some(&iface), func)
            .ok_or_else(|| format!("`{interface}` exports no function `{func}`"))?;
        let ComponentItem::ComponentFunc(ty) = item else {
            return Err(format!("`{interface}#{func}` is not a function"));
        };
        ty.typecheck::<P, R>(&pre.instance_type())
            .map_err(|e| format!("`{interface}#{func}` has the wrong type: {e:#}"))?;
        Ok(Export {
            index,
            ty: PhantomData,
        })
    }

    /// Calls the function in `instance`, a fresh instance of the component it was found in.
    pub(super) fn call(
        &self,
        store: &mut Store<Sandbox>,
        instance: &Instance,
        params: P,
    ) -> wasmtime::Result<R> {
        let func = instance
            .get_func(&mut *store, self.index)
            .ok_or_else(|| wasmtime::format_err!("the instance lacks a checked export"))?;
        // SAFETY: `find` type-checked this export of this component against `P` and `R`,
        // and the instance was made from that component's `InstancePre`.
        let typed = unsafe { TypedFunc::<P, R>::new_unchecked(func) };
        typed.call(store, params)
    }
}

/// A guest function's result: the decision, or the plugin's refusal.
type Answer<T> = (Result<T, String>,);

/// Writes, for one contract version's bindings, the enum of what each slot exports and its
/// lookup: the same shape for every version, over that version's types.
macro_rules! slot_exports {
    ($version:ident) => {
        pub(super) mod $version {
            use super::super::bindings::$version::wit;
            use super::{Answer, Export, Sandbox, Slot};
            use wasmtime::component::InstancePre;

            /// What each slot exports.
            pub(crate) enum SlotExports {
                /// `trigger-policy.decide`.
                Trigger(Export<(wit::TriggerInput,), Answer<wit::TriggerDecision>>),
                /// `cadence-policy.next`.
                Cadence(Export<(wit::CadenceInput,), Answer<wit::CadenceDecision>>),
                /// `qualify-policy.compose-script` and `qualify-policy.evaluate`.
                Qualify {
                    script: Export<(wit::ScriptInput,), Answer<wit::Script>>,
                    evaluate: Export<(wit::EvaluateInput,), Answer<wit::Disposition>>,
                },
                /// `crm-policy.operations`.
                Crm(Export<(wit::CrmInput,), Answer<Vec<wit::CrmOperation>>>),
            }

            impl SlotExports {
                /// Finds and checks `slot`'s functions in a component built against
                /// `version` of the contract.
                pub(crate) fn find(
                    pre: &InstancePre<Sandbox>,
                    slot: Slot,
                    version: &str,
                ) -> Result<Self, String> {
                    let iface = format!("redial:policy/{}@{version}", slot.interface());
                    Ok(match slot {
                        Slot::Trigger => SlotExports::Trigger(Export::find(pre, &iface, "decide")?),
                        Slot::Cadence => SlotExports::Cadence(Export::find(pre, &iface, "next")?),
                        Slot::Qualify => SlotExports::Qualify {
                            script: Export::find(pre, &iface, "compose-script")?,
                            evaluate: Export::find(pre, &iface, "evaluate")?,
                        },
                        Slot::Crm => SlotExports::Crm(Export::find(pre, &iface, "operations")?),
                    })
                }
            }
        }
    };
}

slot_exports!(v0_1);
slot_exports!(v0_2);

/// A component's slot exports, in the types of the contract version it was built against
/// (a closed set: [`crate::SUPPORTED_VERSIONS`]).
pub(super) enum VersionedExports {
    /// Built against `redial:policy@0.1.0`.
    V0_1(v0_1::SlotExports),
    /// Built against `redial:policy@0.2.0`.
    V0_2(v0_2::SlotExports),
}

impl VersionedExports {
    /// Finds and checks `slot`'s functions in a component built against WIT `version`.
    pub(super) fn find(
        pre: &InstancePre<Sandbox>,
        slot: Slot,
        version: &str,
    ) -> Result<Self, String> {
        Ok(match version {
            "0.1.0" => VersionedExports::V0_1(v0_1::SlotExports::find(pre, slot, version)?),
            "0.2.0" => VersionedExports::V0_2(v0_2::SlotExports::find(pre, slot, version)?),
            other => return Err(format!("no bindings for contract version {other}")),
        })
    }
}
