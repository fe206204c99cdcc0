//! Policies compiled into the host: the same SDK traits a plugin implements, called as
//! plain Rust. They are trusted (no sandbox, no limits), so they are not for tenants; they
//! exist as the baseline the benchmarks compare sandboxed plugins against, and for
//! embedders who ship a policy inside their own host binary.

use redial_sdk::*;

/// A slot's entry points as plain functions.
#[derive(Clone, Copy)]
pub enum NativePolicy {
    /// `trigger.decide`.
    Trigger(fn(TriggerInput) -> Result<TriggerDecision, String>),
    /// `cadence.next`.
    Cadence(fn(CadenceInput) -> Result<CadenceDecision, String>),
    /// `qualify.compose-script` and `qualify.evaluate`.
    Qualify {
        /// Composes the call script.
        script: fn(ScriptInput) -> Result<Script, String>,
        /// Reads the answers.
        evaluate: fn(EvaluateInput) -> Result<Disposition, String>,
    },
    /// `crm.operations`.
    Crm(fn(CrmInput) -> Result<Vec<CrmOperation>, String>),
}

impl NativePolicy {
    /// A trigger implementation.
    pub fn trigger<P: TriggerPlugin>() -> Self {
        NativePolicy::Trigger(P::decide)
    }

    /// A cadence implementation.
    pub fn cadence<P: CadencePlugin>() -> Self {
        NativePolicy::Cadence(P::next)
    }

    /// A qualify implementation.
    pub fn qualify<P: QualifyPlugin>() -> Self {
        NativePolicy::Qualify {
            script: P::script,
            evaluate: P::evaluate,
        }
    }

    /// A crm implementation.
    pub fn crm<P: CrmPlugin>() -> Self {
        NativePolicy::Crm(P::operations)
    }

    /// The slot these entry points fill.
    pub fn slot(&self) -> super::Slot {
        use super::Slot;
        match self {
            NativePolicy::Trigger(_) => Slot::Trigger,
            NativePolicy::Cadence(_) => Slot::Cadence,
            NativePolicy::Qualify { .. } => Slot::Qualify,
            NativePolicy::Crm(_) => Slot::Crm,
        }
    }
}
