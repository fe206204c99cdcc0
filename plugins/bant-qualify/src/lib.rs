//! `bant-qualify`: the call script and the reading of its answers.
//!
//! The script injects what is already known (the customer never repeats themselves),
//! checks that now is a good time, and asks 2..=4 questions, skipping any whose answer the
//! context already holds. `evaluate` maps the answers to decision fields by ordered rules.
//!
//! Config (the `[qualify.config]` table of a tenant policy):
//! ```toml
//! business_name = "Bright Smile Dental"
//! agent_name = "Ava"
//! [[questions]]
//! field_id = "reason"
//! text = "What can we help you with?"
//! kind = "free-text"                 # "free-text" | "yes-no" | "number" | { choice = [..] }
//! skip_if_known = ["message"]        # context keys that already answer it
//! [[rules]]                          # first match wins
//! field = "reason"
//! contains = ["price", "cost", "quote"]
//! reason_code = "pricing-question"
//! urgency = "this-week"
//! next_action = "seller-callback"
//! intent = 70
//! [default]
//! reason_code = "information-request"
//! urgency = "long-term-nurture"
//! next_action = "automated-follow-up"
//! intent = 30
//! [fields]                           # answer field ids feeding the BANT fields
//! buying_role = "role"
//! timeline = "timeline"
//! existing_system = "current_system"
//! budget_range = "budget"
//! ```
#![no_std]
#[cfg(test)]
extern crate std;

use redial_sdk::prelude::*;
redial_sdk::trap_on_panic!();
use redial_sdk::{
    Answer, AnswerKind, CaseView, Disposition, EvaluateInput, Field, NextAction, Qualification,
    QualifiedValue, QualifyPlugin, Question, ReasonCode, Script, ScriptInput, Urgency, config,
};
use serde::Deserialize;

/// The plugin's config; see the crate docs for the TOML keys.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    business_name: String,
    agent_name: String,
    questions: Vec<QuestionCfg>,
    rules: Vec<Rule>,
    default: Outcome,
    fields: FieldMap,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionCfg {
    field_id: String,
    text: String,
    #[serde(default = "free_text")]
    kind: AnswerKind,
    #[serde(default)]
    skip_if_known: Vec<String>,
}

fn free_text() -> AnswerKind {
    AnswerKind::FreeText
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    /// The answer (or context) field the rule reads; "*" reads every answer.
    #[serde(default = "any_field")]
    field: String,
    contains: Vec<String>,
    #[serde(flatten)]
    outcome: Outcome,
}

fn any_field() -> String {
    "*".into()
}

#[derive(Debug, Clone, Deserialize)]
struct Outcome {
    reason_code: String,
    urgency: Urgency,
    next_action: NextAction,
    intent: u8,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            reason_code: "information-request".into(),
            urgency: Urgency::LongTermNurture,
            next_action: NextAction::AutomatedFollowUp,
            intent: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FieldMap {
    buying_role: String,
    timeline: String,
    existing_system: String,
    budget_range: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            buying_role: "role".into(),
            timeline: "timeline".into(),
            existing_system: "current_system".into(),
            budget_range: "budget".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let q = |id: &str, text: &str| QuestionCfg {
            field_id: id.into(),
            text: text.into(),
            kind: AnswerKind::FreeText,
            skip_if_known: vec![],
        };
        Config {
            business_name: "our team".into(),
            agent_name: "the assistant".into(),
            questions: vec![
                q("reason", "What were you calling about?"),
                q("timeline", "When are you hoping to get this sorted?"),
                q("role", "Are you the person who decides on this?"),
            ],
            rules: vec![],
            default: Outcome::default(),
            fields: FieldMap::default(),
        }
    }
}

/// Questions used to reach the contract's minimum of two when the context answered most.
const PADDING: [(&str, &str); 2] = [
    (
        "anything_else",
        "Is there anything else we should know before someone follows up?",
    ),
    (
        "best_time",
        "What is the best time to reach you if we need to follow up?",
    ),
];

fn known<'a>(case: &'a CaseView, key: &str) -> Option<&'a str> {
    case.signal
        .context
        .iter()
        .find(|f| f.key == key && !f.value.trim().is_empty())
        .map(|f| f.value.as_str())
}

/// The plugin type exported as the component.
pub struct BantQualify;

impl QualifyPlugin for BantQualify {
    fn script(input: ScriptInput) -> Result<Script, String> {
        let cfg: Config = config::parse(&input.config)?;
        let case = &input.case;
        let greeting = match known(case, "name") {
            Some(name) => format!("Hi {}, ", name.split_whitespace().next().unwrap_or(name)),
            None => "Hi, ".to_string(),
        };
        let mut opening = format!(
            "{greeting}this is {} from {}, returning your call.",
            cfg.agent_name, cfg.business_name
        );
        if let Some(topic) = known(case, "message").or_else(|| known(case, "reason")) {
            opening.push_str(&format!(" I see you got in touch about: {topic}."));
        }

        let mut questions: Vec<Question> = cfg
            .questions
            .iter()
            .filter(|q| {
                known(case, &q.field_id).is_none()
                    && q.skip_if_known.iter().all(|k| known(case, k).is_none())
            })
            .take(4)
            .map(|q| Question {
                field_id: q.field_id.clone(),
                text: q.text.clone(),
                kind: q.kind.clone(),
            })
            .collect();
        for (id, text) in PADDING {
            if questions.len() >= 2 {
                break;
            }
            questions.push(Question {
                field_id: id.into(),
                text: text.into(),
                kind: AnswerKind::FreeText,
            });
        }
        Ok(Script {
            opening,
            availability_check: "Is now a good time for a couple of quick questions?".into(),
            questions,
        })
    }

    fn evaluate(input: EvaluateInput) -> Result<Disposition, String> {
        let cfg: Config = config::parse(&input.config)?;
        let value = |id: &str| -> Option<&str> {
            input
                .answers
                .iter()
                .find(|a| a.field_id == id)
                .map(|a| a.text.as_str())
                .or_else(|| known(&input.case, id))
        };
        let matches = |rule: &Rule| {
            let haystack = if rule.field == "*" {
                let mut all: Vec<&str> = input.answers.iter().map(|a| a.text.as_str()).collect();
                all.extend(input.case.signal.context.iter().map(|f| f.value.as_str()));
                all.join(" ").to_lowercase()
            } else {
                value(&rule.field).unwrap_or_default().to_lowercase()
            };
            rule.contains
                .iter()
                .any(|w| haystack.contains(&w.to_lowercase()))
        };
        let outcome = cfg
            .rules
            .iter()
            .find(|r| matches(r))
            .map(|r| r.outcome.clone())
            .unwrap_or_else(|| cfg.default.clone());

        let qualified = |id: &str| {
            let v = value(id);
            let unsure = v.is_none_or(|v| {
                let v = v.to_lowercase();
                v.trim().is_empty() || v.contains("not sure") || v.contains("don't know")
            });
            QualifiedValue {
                value: v.map(str::to_string),
                confirmed: !unsure,
            }
        };
        let qualification = Qualification {
            buying_role: qualified(&cfg.fields.buying_role),
            timeline: qualified(&cfg.fields.timeline),
            existing_system: qualified(&cfg.fields.existing_system),
            budget_range: qualified(&cfg.fields.budget_range),
        };
        let confirmed = [
            &qualification.buying_role,
            &qualification.timeline,
            &qualification.existing_system,
            &qualification.budget_range,
        ]
        .iter()
        .filter(|q| q.confirmed)
        .count() as u8;

        let timeline = qualification
            .timeline
            .value
            .clone()
            .unwrap_or_default()
            .to_lowercase();
        let urgency = if ["today", "asap", "urgent", "emergency", "right away"]
            .iter()
            .any(|w| timeline.contains(w))
        {
            Urgency::SameDay
        } else {
            outcome.urgency
        };
        let reason_code = ReasonCode::parse(&outcome.reason_code);
        let summary = summarize(&reason_code, &input.answers, &input.case.signal.context);
        Ok(Disposition {
            reason_code,
            urgency,
            qualification,
            next_action: outcome.next_action,
            intent_score: outcome.intent.saturating_add(confirmed * 5).min(100),
            summary,
        })
    }
}

/// One line for the human owner: the reason and what the customer said, briefly.
fn summarize(reason: &ReasonCode, answers: &[Answer], context: &[Field]) -> String {
    let said: Vec<String> = answers
        .iter()
        .map(|a| format!("{}: {}", a.field_id, a.text))
        .chain(
            context
                .iter()
                .filter(|f| f.key == "message")
                .map(|f| f.value.clone()),
        )
        .collect();
    if said.is_empty() {
        reason.name().to_string()
    } else {
        format!("{} — {}", reason.name(), said.join("; "))
    }
}

redial_sdk::export_qualify!(wit: "../../wit", plugin: crate::BantQualify);

#[cfg(test)]
mod tests {
    use super::*;
    use redial_sdk::{Moment, Signal, SignalKind};

    fn case(context: Vec<Field>) -> CaseView {
        let now = Moment {
            unix_ms: 0,
            utc_offset_minutes: 0,
            local_weekday: 0,
            local_minute: 600,
        };
        CaseView {
            case_id: "c1".into(),
            signal: Signal {
                kind: SignalKind::MissedCall,
                caller: "+15551230000".into(),
                line: "+15559870000".into(),
                at: now,
                context,
            },
            attempts: vec![],
            now,
        }
    }

    const CFG: &str = r#"{
        "business_name": "Acme HVAC", "agent_name": "Sam",
        "questions": [
            {"field_id": "reason", "text": "What is going on?", "skip_if_known": ["message"]},
            {"field_id": "timeline", "text": "How soon?"},
            {"field_id": "role", "text": "Are you the owner?", "kind": "yes-no"}
        ],
        "rules": [
            {"field": "reason", "contains": ["quote", "price"], "reason_code": "pricing-question",
             "urgency": "this-week", "next_action": "seller-callback", "intent": 70},
            {"field": "*", "contains": ["no heat", "broken"], "reason_code": "emergency-repair",
             "urgency": "same-day", "next_action": "seller-callback", "intent": 90}
        ]
    }"#;

    #[test]
    fn script_injects_context_and_skips_known_questions() {
        let ctx = vec![
            Field::new("name", "Dana"),
            Field::new("message", "furnace is broken"),
        ];
        let s = BantQualify::script(ScriptInput {
            case: case(ctx),
            config: CFG.into(),
        })
        .unwrap();
        assert!(
            s.opening.starts_with("Hi Dana, this is Sam from Acme HVAC"),
            "{}",
            s.opening
        );
        assert!(s.opening.contains("furnace is broken"));
        let ids: Vec<_> = s.questions.iter().map(|q| q.field_id.as_str()).collect();
        assert_eq!(ids, ["timeline", "role"], "the reason is already known");
    }

    #[test]
    fn script_pads_to_two_questions() {
        let ctx = vec![Field::new("message", "x"), Field::new("timeline", "today")];
        let s = BantQualify::script(ScriptInput {
            case: case(ctx),
            config: CFG.into(),
        })
        .unwrap();
        assert_eq!(s.questions.len(), 2);
        assert_eq!(s.questions[0].field_id, "role");
    }

    #[test]
    fn rules_map_answers_to_decision_fields() {
        let answers = vec![
            Answer {
                field_id: "reason".into(),
                text: "Need a quote for a new AC".into(),
            },
            Answer {
                field_id: "timeline".into(),
                text: "next month".into(),
            },
            Answer {
                field_id: "role".into(),
                text: "yes, I own the house".into(),
            },
        ];
        let d = BantQualify::evaluate(EvaluateInput {
            case: case(vec![]),
            answers,
            transcript: None,
            config: CFG.into(),
        })
        .unwrap();
        assert_eq!(d.reason_code, ReasonCode::PricingQuestion);
        assert_eq!(d.urgency, Urgency::ThisWeek);
        assert_eq!(d.next_action, NextAction::SellerCallback);
        assert!(d.qualification.timeline.confirmed);
        assert!(!d.qualification.budget_range.confirmed);
        assert_eq!(d.intent_score, 80);
    }

    #[test]
    fn urgent_timeline_and_custom_codes() {
        let answers = vec![
            Answer {
                field_id: "reason".into(),
                text: "heating is broken".into(),
            },
            Answer {
                field_id: "timeline".into(),
                text: "today please".into(),
            },
        ];
        let d = BantQualify::evaluate(EvaluateInput {
            case: case(vec![]),
            answers,
            transcript: None,
            config: CFG.into(),
        })
        .unwrap();
        assert_eq!(d.reason_code, ReasonCode::Custom("emergency-repair".into()));
        assert_eq!(d.urgency, Urgency::SameDay);
    }
}
