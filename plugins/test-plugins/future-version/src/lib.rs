//! Test-only trigger built against `redial:policy@9.0.0`, a contract version no host knows
//! (its `wit/` is today's contract renumbered): the runtime must refuse it as an
//! unsupported version, naming the version.
use redial_sdk::{Recovery, TriggerDecision, TriggerInput, TriggerPlugin};

/// The plugin type exported as the component.
pub struct FutureTrigger;

impl TriggerPlugin for FutureTrigger {
    fn decide(_input: TriggerInput) -> Result<TriggerDecision, String> {
        Ok(TriggerDecision::Recover(Recovery {
            priority: 1,
            known: vec![],
        }))
    }
}

redial_sdk::export_trigger!(wit: "wit", plugin: crate::FutureTrigger);
