//! The Redial plugin SDK: the policy contract as plain Rust types, and the glue that
//! exports a plugin as a WebAssembly component for one slot.
//!
//! A plugin author implements one of [`TriggerPlugin`], [`CadencePlugin`],
//! [`QualifyPlugin`] or [`CrmPlugin`] on plain types, then calls the matching
//! `export_*!` macro. The logic stays ordinary Rust: it unit-tests natively, and the host
//! benchmarks it natively against its own component build.
//!
//! # Layout
//! - `contract`: the WIT records and variants as serde-friendly Rust types.
//! - `lift`: conversions between these and any generated bindings of the WIT.
//! - `config`: reading the plugin's JSON config with clear errors.
//! - `text`: building strings without `core::fmt`, which costs a fresh instance more.
//! - `export`: the `export_*!` macros that bind a plugin to its slot's world.
//!
//! # `no_std`
//! The SDK needs only `alloc`, so a plugin can be `#![no_std]` too: its component then
//! imports nothing from WASI (the standard library's stderr, environment and terminal
//! imports are what pulls WASI in), and a fresh instance of it costs about 2 µs less
//! (BENCHMARKS.md). Such a plugin writes `use redial_sdk::prelude::*;` for `String`, `Vec`
//! and `format!`, and calls [`trap_on_panic!`] once. The reference plugins do this.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(any(test, all(target_arch = "wasm32", feature = "arena")))]
mod arena;
pub mod config;
pub mod contract;
mod export;
#[cfg(target_arch = "wasm32")]
mod guest;
mod lift;
pub mod text;

pub use contract::*;
pub use lift::Lift;

/// What the standard library's prelude adds over `core`'s, for `no_std` plugins.
pub mod prelude {
    pub use alloc::borrow::{Cow, ToOwned};
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

/// The panic handler of a `no_std` plugin: the instance traps, and the host reports the
/// trap as the plugin's failure (without a message: there is no stderr to write it to).
/// Call once, at the crate root. Off wasm32 it links `std` instead, which handles panics
/// and allocation there, so the plugin builds natively as it is (for its unit tests, and
/// for the host's native benches) and can name `std` in its tests.
#[macro_export]
macro_rules! trap_on_panic {
    () => {
        #[cfg(target_arch = "wasm32")]
        #[panic_handler]
        fn __redial_panic(_: &core::panic::PanicInfo) -> ! {
            core::arch::wasm32::unreachable()
        }
        #[cfg(not(target_arch = "wasm32"))]
        extern crate std;
    };
}

/// Every decision runs in a fresh instance, so the guest's heap lives for one call: a bump
/// arena serves it faster than a general-purpose allocator (see `arena`).
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ARENA: arena::Arena<arena::LinearMemory> = arena::Arena::new(arena::LinearMemory);

/// Re-exported so the export macros work without plugins naming wit-bindgen themselves.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use wit_bindgen;

use prelude::*;

/// A trigger policy: decides whether a signal starts a recovery case.
pub trait TriggerPlugin {
    /// Judges one signal. An `Err` is a refusal the host records as the plugin's failure.
    fn decide(input: TriggerInput) -> Result<TriggerDecision, String>;
}

/// A cadence policy: decides when to call again, fall back, or give up.
pub trait CadencePlugin {
    /// Picks the next step for a case.
    fn next(input: CadenceInput) -> Result<CadenceDecision, String>;
}

/// A qualify policy: writes the call script, then reads the answers.
pub trait QualifyPlugin {
    /// The opening, availability check and 2..=4 questions for this case.
    fn script(input: ScriptInput) -> Result<Script, String>;
    /// Turns the answers into decision fields.
    fn evaluate(input: EvaluateInput) -> Result<Disposition, String>;
}

/// A CRM policy: maps a disposition to operations on the tenant's CRM.
pub trait CrmPlugin {
    /// The operations to deliver, in order.
    fn operations(input: CrmInput) -> Result<Vec<CrmOperation>, String>;
}
