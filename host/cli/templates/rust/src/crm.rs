//! {{crate}}: turns a qualified case into operations on the tenant's CRM: the contact,
//! found by phone or created, and a note on it.
//!
//! Config (the `[crm.config]` table of a tenant's policy):
//! ```toml
//! system = "hubspot"
//! ```
#![no_std]

use redial_sdk::prelude::*;
use redial_sdk::{CrmAction, CrmInput, CrmOperation, CrmPlugin, Field, config};
use serde::Deserialize;

redial_sdk::trap_on_panic!();

/// The plugin's settings; every key may be left out. Keys it does not know (another
/// plugin's, in a policy written for it) are ignored, so it can take over a slot before the
/// policy is edited; add `deny_unknown_fields` to refuse them instead.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    system: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            system: "hubspot".into(),
        }
    }
}

/// The plugin.
pub struct Plugin;

impl CrmPlugin for Plugin {
    fn operations(input: CrmInput) -> Result<Vec<CrmOperation>, String> {
        let config: Config = config::parse(&input.config)?;
        let phone = input.case.signal.caller.clone();
        let contact = CrmOperation {
            id: "contact".into(),
            system: config.system.clone(),
            object: "contacts".into(),
            action: CrmAction::Upsert,
            match_key: Some(Field::new("phone", phone.clone())),
            properties: vec![Field::new("phone", phone)],
            associate: vec![],
        };
        let note = CrmOperation {
            id: "note".into(),
            system: config.system,
            object: "notes".into(),
            action: CrmAction::Create,
            match_key: None,
            properties: vec![Field::new("hs_note_body", input.disposition.summary.clone())],
            associate: vec!["contact".into()],
        };
        Ok(vec![contact, note])
    }
}

redial_sdk::export_crm!(wit: "wit", plugin: crate::Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_case_decides_as_it_says() {
        let case: serde_json::Value =
            serde_json::from_str(include_str!("../cases/example.json")).unwrap();
        let mut input: CrmInput = serde_json::from_value(case["input"].clone()).unwrap();
        input.config = case["config"].to_string();
        let decided = serde_json::to_value(Plugin::operations(input).unwrap()).unwrap();
        assert_eq!(decided.as_array().unwrap().len(), 2);
    }
}
