//! Test-only component that exports no Redial slot at all: the host must refuse to load it
//! for any slot.
#![cfg(target_arch = "wasm32")]
mod bindings {
    redial_sdk::wit_bindgen::generate!({
        inline: "
            package test:other;
            world other {
                export greet: func(name: string) -> string;
            }
        ",
        runtime_path: "redial_sdk::wit_bindgen::rt",
    });
}

struct Other;

impl bindings::Guest for Other {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

bindings::export!(Other with_types_in bindings);
