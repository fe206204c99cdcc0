//! The `export_*!` macros: bind a plugin type to its slot's WIT world.
//!
//! Each macro generates the world's bindings inside the plugin crate (wit-bindgen must see
//! the plugin's own WIT path), converts between the generated types and the plain
//! contract types, and exports the component entry points. On native targets the macros
//! expand to nothing, so the same crate builds as an ordinary library for tests and
//! benchmarks.

/// Shared body of the export macros (one world, one guest impl).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_world {
    ($wit:tt, $world:tt, $guest:item) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(missing_docs, clippy::all)]
        mod __redial_guest {
            $crate::wit_bindgen::generate!({
                path: $wit,
                world: $world,
                runtime_path: "redial_sdk::wit_bindgen::rt",
            });
            use redial::policy::types as wit;
            #[allow(unused_imports)]
            use $crate::prelude::*;
            $crate::contract_conversions!(wit);
            use $crate::Lift as _;
            struct Export;
            $guest
            export!(Export);
        }
    };
}

/// Exports a [`crate::TriggerPlugin`] as a `redial:policy/trigger` component.
///
/// `wit` is the path of the repository's `wit/` folder relative to the plugin's
/// `Cargo.toml`; `plugin` is the implementing type, written from the crate root.
#[macro_export]
macro_rules! export_trigger {
    (wit: $wit:tt, plugin: $plugin:ty) => {
        $crate::__export_world!($wit, "trigger",
            impl exports::redial::policy::trigger_policy::Guest for Export {
                fn decide(input: wit::TriggerInput) -> Result<wit::TriggerDecision, String> {
                    <$plugin as $crate::TriggerPlugin>::decide(input.lift()).map(|d| d.lift())
                }
            }
        );
    };
}

/// Exports a [`crate::CadencePlugin`] as a `redial:policy/cadence` component.
#[macro_export]
macro_rules! export_cadence {
    (wit: $wit:tt, plugin: $plugin:ty) => {
        $crate::__export_world!($wit, "cadence",
            impl exports::redial::policy::cadence_policy::Guest for Export {
                fn next(input: wit::CadenceInput) -> Result<wit::CadenceDecision, String> {
                    <$plugin as $crate::CadencePlugin>::next(input.lift()).map(|d| d.lift())
                }
            }
        );
    };
}

/// Exports a [`crate::QualifyPlugin`] as a `redial:policy/qualify` component.
#[macro_export]
macro_rules! export_qualify {
    (wit: $wit:tt, plugin: $plugin:ty) => {
        $crate::__export_world!($wit, "qualify",
            impl exports::redial::policy::qualify_policy::Guest for Export {
                fn compose_script(input: wit::ScriptInput) -> Result<wit::Script, String> {
                    <$plugin as $crate::QualifyPlugin>::script(input.lift()).map(|d| d.lift())
                }
                fn evaluate(input: wit::EvaluateInput) -> Result<wit::Disposition, String> {
                    <$plugin as $crate::QualifyPlugin>::evaluate(input.lift()).map(|d| d.lift())
                }
            }
        );
    };
}

/// Exports a [`crate::CrmPlugin`] as a `redial:policy/crm` component.
#[macro_export]
macro_rules! export_crm {
    (wit: $wit:tt, plugin: $plugin:ty) => {
        $crate::__export_world!($wit, "crm",
            impl exports::redial::policy::crm_policy::Guest for Export {
                fn operations(input: wit::CrmInput) -> Result<Vec<wit::CrmOperation>, String> {
                    <$plugin as $crate::CrmPlugin>::operations(input.lift()).map(|d| d.lift())
                }
            }
        );
    };
}
