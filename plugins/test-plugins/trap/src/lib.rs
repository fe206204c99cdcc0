//! Test-only cadence plugin that fails on purpose: it panics (the host must report the
//! panic message), or, for case id "recurse", recurses without bound (the host's stack
//! cap must stop it).
use redial_sdk::{CadenceDecision, CadenceInput, CadencePlugin};

/// The plugin type exported as the component.
pub struct Trap;

#[allow(unconditional_recursion)] // the point: the host must stop it
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

impl CadencePlugin for Trap {
    fn next(input: CadenceInput) -> Result<CadenceDecision, String> {
        if input.case.case_id == "recurse" {
            return Ok(CadenceDecision::CallAfter(recurse(0) as u32));
        }
        panic!("deliberate failure on case {}", input.case.case_id);
    }
}

redial_sdk::export_cadence!(wit: "../../../wit", plugin: crate::Trap);
