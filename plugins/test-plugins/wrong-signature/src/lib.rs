//! Test-only component that exports the trigger slot's interface under its real name, but
//! with `decide` taking and returning plain strings: the host must refuse it at load, since
//! it calls a slot's functions without checking their types again on each call.
#![cfg(target_arch = "wasm32")]
mod bindings {
    redial_sdk::wit_bindgen::generate!({
        inline: "
            package redial:policy@0.1.0;
            interface trigger-policy {
                decide: func(input: string) -> string;
            }
            world impostor {
                export trigger-policy;
            }
        ",
        runtime_path: "redial_sdk::wit_bindgen::rt",
    });
}

struct Impostor;

impl bindings::exports::redial::policy::trigger_policy::Guest for Impostor {
    fn decide(input: String) -> String {
        input
    }
}

bindings::export!(Impostor with_types_in bindings);
