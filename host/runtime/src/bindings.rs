//! The host's only `bindgen!` call: the contract's records, as the types that cross the
//! component boundary.
//!
//! The slots' functions are found and called through `exports.rs`, not through generated
//! per-world bindings (whose `instantiate` type-checks every export on every call). The
//! generated types convert to and from `redial_sdk`'s plain contract types through
//! `redial_sdk::contract_conversions!`, so the rest of the host never sees generated code.

#![allow(missing_docs)]

/// The shared records of `redial:policy/types`, generated once.
mod contract {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "contract-types",
    });
}

pub use contract::redial::policy::types;

use types as wit;
redial_sdk::contract_conversions!(wit);
