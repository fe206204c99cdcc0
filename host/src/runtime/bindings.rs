//! The host's only `bindgen!` calls: one per slot world, sharing one set of contract types.
//!
//! The generated types convert to and from `redial_sdk`'s plain contract types through
//! `redial_sdk::contract_conversions!`, so the rest of the host never sees generated code.

#![allow(missing_docs)]

/// The shared records of `redial:policy/types`, generated once.
mod contract {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "contract-types",
    });
}

pub use contract::redial::policy::types;

/// The `trigger` world.
pub mod trigger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "trigger",
        with: { "redial:policy/types": super::types },
    });
}

/// The `cadence` world.
pub mod cadence {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "cadence",
        with: { "redial:policy/types": super::types },
    });
}

/// The `qualify` world.
pub mod qualify {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "qualify",
        with: { "redial:policy/types": super::types },
    });
}

/// The `crm` world.
pub mod crm {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "crm",
        with: { "redial:policy/types": super::types },
    });
}

use types as wit;
redial_sdk::contract_conversions!(wit);
