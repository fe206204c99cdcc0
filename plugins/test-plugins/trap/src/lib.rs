//! Test-only cadence plugin that panics: the host must report the panic message.
use redial_sdk::{CadenceDecision, CadenceInput, CadencePlugin};

struct Trap;

impl CadencePlugin for Trap {
    fn next(input: CadenceInput) -> Result<CadenceDecision, String> {
        panic!("deliberate failure on case {}", input.case.case_id);
    }
}

redial_sdk::export_cadence!(wit: "../../../wit", plugin: crate::Trap);
