//! The host's only `bindgen!` calls: the contract's records, one module per contract
//! version the host loads, as the types that cross the component boundary.
//!
//! Each version's WIT is frozen in its own folder (`wit/v0.1.0/`; the newest is `wit/`),
//! and each module converts its generated types to and from `redial_sdk`'s plain types,
//! which always follow the newest version (`redial_sdk::contract_conversions!`). The rest
//! of the host therefore never sees generated code, nor which version a plugin speaks.
//!
//! The slots' functions are found and called through `exports.rs`, not through generated
//! per-world bindings (whose `instantiate` type-checks every export on every call).

#![allow(missing_docs)]

/// `redial:policy@0.1.0`: answers are text; a typed answer reaches such a plugin as text.
pub mod v0_1 {
    mod generated {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "contract-types",
        });
    }
    pub use generated::redial::policy::types as wit;
    redial_sdk::contract_conversions!(wit, answers: "0.1.0");
}

/// `redial:policy@0.2.0`, the newest: answers are typed as their question's kind asks.
pub mod v0_2 {
    mod generated {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "contract-types",
        });
    }
    pub use generated::redial::policy::types as wit;
    redial_sdk::contract_conversions!(wit);
}
