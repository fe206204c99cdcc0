//! {{crate}}: writes the callback's script, then turns the caller's answers into the
//! decision fields a person (or the follow-up queue) acts on.
//!
//! Config (the `[qualify.config]` table of a tenant's policy):
//! ```toml
//! business_name = "Acme Plumbing"
//! urgent_words = ["leak", "flood", "no water"]
//! ```
#![no_std]

use redial_sdk::prelude::*;
use redial_sdk::{
    AnswerKind, AnswerValue, Disposition, EvaluateInput, NextAction, QualifiedValue,
    Qualification, QualifyPlugin, Question, ReasonCode, Script, ScriptInput, Urgency, config,
};
use serde::Deserialize;

redial_sdk::trap_on_panic!();

/// The plugin's settings; every key may be left out. Keys it does not know (another
/// plugin's, in a policy written for it) are ignored, so it can take over a slot before the
/// policy is edited; add `deny_unknown_fields` to refuse them instead.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    business_name: String,
    urgent_words: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            business_name: "our team".into(),
            urgent_words: vec!["leak".into(), "flood".into(), "no water".into()],
        }
    }
}

/// The plugin.
pub struct Plugin;

impl QualifyPlugin for Plugin {
    fn script(input: ScriptInput) -> Result<Script, String> {
        let config: Config = config::parse(&input.config)?;
        let question = |id: &str, text: &str, kind| Question {
            field_id: id.into(),
            text: text.into(),
            kind,
        };
        Ok(Script {
            opening: format!("Hi, this is {} returning your call.", config.business_name),
            availability_check: "Is now a good time for two quick questions?".into(),
            questions: vec![
                question("reason", "What can we help you with?", AnswerKind::FreeText),
                question("owner", "Are you the property owner?", AnswerKind::YesNo),
            ],
        })
    }

    fn evaluate(input: EvaluateInput) -> Result<Disposition, String> {
        let config: Config = config::parse(&input.config)?;
        let answer = |id: &str| input.answers.iter().find(|a| a.field_id == id);
        let reason = answer("reason").map(|a| a.value.as_text().to_lowercase());
        let urgent = reason
            .as_deref()
            .is_some_and(|r| config.urgent_words.iter().any(|w| r.contains(w.as_str())));
        let owner = answer("owner").map(|a| a.value == AnswerValue::YesNo(true));
        Ok(Disposition {
            reason_code: ReasonCode::SupportIssue,
            urgency: if urgent {
                Urgency::SameDay
            } else {
                Urgency::ThisWeek
            },
            qualification: Qualification {
                buying_role: QualifiedValue {
                    value: owner.map(|o| if o { "owner" } else { "not the owner" }.into()),
                    confirmed: owner.is_some(),
                },
                ..Qualification::default()
            },
            next_action: if urgent {
                NextAction::SellerCallback
            } else {
                NextAction::BookingLink
            },
            intent_score: if urgent { 90 } else { 50 },
            summary: reason.unwrap_or_else(|| "no reason given".into()),
        })
    }
}

redial_sdk::export_qualify!(wit: "wit", plugin: crate::Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_case_decides_as_it_says() {
        let case: serde_json::Value =
            serde_json::from_str(include_str!("../cases/example.json")).unwrap();
        let mut input: EvaluateInput = serde_json::from_value(case["input"].clone()).unwrap();
        input.config = case["config"].to_string();
        let decided = serde_json::to_value(Plugin::evaluate(input).unwrap()).unwrap();
        assert_eq!(decided["urgency"], case["expect"]["urgency"]);
    }
}
