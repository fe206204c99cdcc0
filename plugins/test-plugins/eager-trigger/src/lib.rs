//! Test-only trigger plugin that recovers every signal at top priority: a second, valid
//! trigger for hot-swap tests (its decisions are easy to tell from standard-trigger's).
use redial_sdk::{Field, Recovery, TriggerDecision, TriggerInput, TriggerPlugin};

/// The plugin type exported as the component.
pub struct EagerTrigger;

impl TriggerPlugin for EagerTrigger {
    fn decide(_input: TriggerInput) -> Result<TriggerDecision, String> {
        Ok(TriggerDecision::Recover(Recovery {
            priority: 99,
            known: vec![Field::new("eager", "true")],
        }))
    }
}

redial_sdk::export_trigger!(wit: "../../../wit", plugin: crate::EagerTrigger);
