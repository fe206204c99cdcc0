//! Test-only trigger plugin that never returns: the host must stop it at its deadline.
use redial_sdk::{TriggerDecision, TriggerInput, TriggerPlugin};

/// The plugin type exported as the component.
pub struct LoopForever;

impl TriggerPlugin for LoopForever {
    fn decide(_input: TriggerInput) -> Result<TriggerDecision, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

redial_sdk::export_trigger!(wit: "../../../wit", plugin: crate::LoopForever);
