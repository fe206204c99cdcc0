//! {{crate}}: decides when to call again, when to send a message instead, and when to
//! stop.
//!
//! Config (the `[cadence.config]` table of a tenant's policy):
//! ```toml
//! delays_secs = [30, 900, 7200]   # the wait before each attempt: the first, the second...
//! fallback = "Sorry we missed you! Reply with a good time to call."
//! ```
#![no_std]

use redial_sdk::prelude::*;
use redial_sdk::{
    AttemptOutcome, CadenceDecision, CadenceInput, CadencePlugin, Fallback, FallbackChannel,
    config,
};
use serde::Deserialize;

redial_sdk::trap_on_panic!();

/// The plugin's settings; every key may be left out. Keys it does not know (another
/// plugin's, in a policy written for it) are ignored, so it can take over a slot before the
/// policy is edited; add `deny_unknown_fields` to refuse them instead.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    delays_secs: Vec<u32>,
    fallback: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            delays_secs: vec![30, 900, 7200],
            fallback: "Sorry we missed you! Reply with a good time to call.".into(),
        }
    }
}

/// The plugin.
pub struct Plugin;

impl CadencePlugin for Plugin {
    fn next(input: CadenceInput) -> Result<CadenceDecision, String> {
        let config: Config = config::parse(&input.config)?;
        let attempts = &input.case.attempts;
        match attempts.last().map(|a| &a.outcome) {
            Some(AttemptOutcome::CallLater(at)) => return Ok(CadenceDecision::CallAt(*at)),
            Some(AttemptOutcome::Declined) => {
                return Ok(CadenceDecision::Fallback(Fallback {
                    channel: FallbackChannel::Sms,
                    message: config.fallback,
                    link: None,
                }));
            }
            _ => {}
        }
        match config.delays_secs.get(attempts.len()) {
            Some(delay) => Ok(CadenceDecision::CallAfter(*delay)),
            None => Ok(CadenceDecision::Fallback(Fallback {
                channel: FallbackChannel::Sms,
                message: config.fallback,
                link: None,
            })),
        }
    }
}

redial_sdk::export_cadence!(wit: "wit", plugin: crate::Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_case_decides_as_it_says() {
        let case: serde_json::Value =
            serde_json::from_str(include_str!("../cases/example.json")).unwrap();
        let mut input: CadenceInput = serde_json::from_value(case["input"].clone()).unwrap();
        input.config = case["config"].to_string();
        let decided = serde_json::to_value(Plugin::next(input).unwrap()).unwrap();
        assert_eq!(decided, case["expect"]);
    }
}
