//! {{crate}}: decides which signals start a recovery case.
//!
//! Config (the `[trigger.config]` table of a tenant's policy):
//! ```toml
//! priority = 70                # how urgent a recovered caller is, 0 to 100
//! voicemail_priority = 85      # a caller who left a voicemail wants an answer
//! blocked_prefixes = ["+1900"] # numbers never called back
//! ```
#![no_std]

use redial_sdk::prelude::*;
use redial_sdk::{Recovery, SignalKind, TriggerDecision, TriggerInput, TriggerPlugin, config};
use serde::Deserialize;

redial_sdk::trap_on_panic!();

/// The plugin's settings; every key may be left out. Keys it does not know (another
/// plugin's, in a policy written for it) are ignored, so it can take over a slot before the
/// policy is edited; add `deny_unknown_fields` to refuse them instead.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    priority: u8,
    voicemail_priority: u8,
    blocked_prefixes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            priority: 70,
            voicemail_priority: 85,
            blocked_prefixes: Vec::new(),
        }
    }
}

/// The plugin.
pub struct Plugin;

impl TriggerPlugin for Plugin {
    fn decide(input: TriggerInput) -> Result<TriggerDecision, String> {
        let config: Config = config::parse(&input.config)?;
        let signal = &input.signal;
        if input.history.opted_out {
            return Ok(TriggerDecision::Ignore("the caller opted out".into()));
        }
        if (config.blocked_prefixes.iter()).any(|p| signal.caller.starts_with(p.as_str())) {
            return Ok(TriggerDecision::Ignore("a blocked number".into()));
        }
        let priority = match signal.kind {
            SignalKind::Voicemail => config.voicemail_priority,
            _ => config.priority,
        };
        Ok(TriggerDecision::Recover(Recovery {
            priority: priority.min(100),
            known: signal.context.clone(),
        }))
    }
}

redial_sdk::export_trigger!(wit: "wit", plugin: crate::Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_case_decides_as_it_says() {
        let case: serde_json::Value =
            serde_json::from_str(include_str!("../cases/example.json")).unwrap();
        let mut input: TriggerInput = serde_json::from_value(case["input"].clone()).unwrap();
        input.config = case["config"].to_string();
        let decided = serde_json::to_value(Plugin::decide(input).unwrap()).unwrap();
        assert_eq!(decided["recover"]["priority"], case["expect"]["recover"]["priority"]);
    }
}
