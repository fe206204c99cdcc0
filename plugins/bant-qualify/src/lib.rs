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

use redial_sdk::prelude::*;
redial_sdk::trap_on_panic!();
use core::cell::OnceCell;
use redial_sdk::text::concat;
use redial_sdk::{
    Answer, AnswerKind, CaseView, Disposition, EvaluateInput, Field, NextAction, Qualification,
    QualifiedValue, QualifyPlugin, Question, ReasonCode, Script, ScriptInput, Urgency, config,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The config as `script` reads it (see the crate docs for the TOML keys). Every decision
/// parses the config afresh, so each entry point skips the other's part unparsed: its keys
/// are still checked, its contents are checked by the entry point that reads them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptConfig {
    #[serde(default = "our_team")]
    business_name: String,
    #[serde(default = "the_assistant")]
    agent_name: String,
    #[serde(default = "default_questions")]
    questions: Vec<QuestionCfg>,
    #[serde(default, rename = "rules")]
    _rules: IgnoredAny,
    #[serde(default, rename = "default")]
    _default: IgnoredAny,
    #[serde(default, rename = "fields")]
    _fields: IgnoredAny,
}

/// The config as `evaluate` reads it; see [`ScriptConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateConfig {
    #[serde(default, rename = "business_name")]
    _business_name: IgnoredAny,
    #[serde(default, rename = "agent_name")]
    _agent_name: IgnoredAny,
    #[serde(default, rename = "questions")]
    _questions: IgnoredAny,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    default: Outcome,
    #[serde(default)]
    fields: FieldMap,
}

fn our_team() -> String {
    "our team".into()
}

fn the_assistant() -> String {
    "the assistant".into()
}

fn default_questions() -> Vec<QuestionCfg> {
    let q = |id: &str, text: &str| QuestionCfg {
        field_id: id.into(),
        text: text.into(),
        kind: AnswerKind::FreeText,
        skip_if_known: vec![],
    };
    vec![
        q("reason", "What were you calling about?"),
        q("timeline", "When are you hoping to get this sorted?"),
        q("role", "Are you the person who decides on this?"),
    ]
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
    reason_code: String,
    urgency: Urgency,
    next_action: NextAction,
    intent: u8,
}

impl Rule {
    fn outcome(&self) -> Outcome {
        Outcome {
            reason_code: self.reason_code.clone(),
            urgency: self.urgency,
            next_action: self.next_action,
            intent: self.intent,
        }
    }
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

/// `s` in lower case, copied only when it has upper-case letters. Answers are mostly ASCII,
/// which lower-cases without the Unicode tables.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

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
        let cfg: ScriptConfig = config::parse(&input.config)?;
        let case = &input.case;
        let first_name = known(case, "name").map(|n| n.split_whitespace().next().unwrap_or(n));
        let mut opening = concat(&[
            "Hi",
            first_name.map_or("", |_| " "),
            first_name.unwrap_or_default(),
            ", this is ",
            &cfg.agent_name,
            " from ",
            &cfg.business_name,
            ", returning your call.",
        ]);
        if let Some(topic) = known(case, "message").or_else(|| known(case, "reason")) {
            opening.push_str(&concat(&[" I see you got in touch about: ", topic, "."]));
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
        let cfg: EvaluateConfig = config::parse(&input.config)?;
        let value = |id: &str| {
            input
                .answers
                .iter()
                .find(|a| a.field_id == id)
                .map(|a| a.value.as_text())
                .or_else(|| known(&input.case, id).map(Cow::Borrowed))
        };
        // Every "*" rule reads the same text: lower-case it once.
        let everything = OnceCell::new();
        let matches = |rule: &Rule| {
            let (one_value, one_field);
            let haystack: &str = if rule.field == "*" {
                everything.get_or_init(|| {
                    let mut all: Vec<Cow<str>> =
                        input.answers.iter().map(|a| a.value.as_text()).collect();
                    all.extend(
                        input
                            .case
                            .signal
                            .context
                            .iter()
                            .map(|f| Cow::Borrowed(f.value.as_str())),
                    );
                    let joined = all.join(" ");
                    match lowercase(&joined) {
                        Cow::Owned(lower) => lower,
                        Cow::Borrowed(_) => joined,
                    }
                })
            } else {
                one_value = value(&rule.field).unwrap_or_default();
                one_field = lowercase(&one_value);
                &one_field
            };
            rule.contains
                .iter()
                .any(|w| haystack.contains(&*lowercase(w)))
        };
        let outcome = cfg
            .rules
            .iter()
            .find(|r| matches(r))
            .map(Rule::outcome)
            .unwrap_or_else(|| cfg.default.clone());

        let qualified = |id: &str| {
            let v = value(id);
            let unsure = v.as_deref().is_none_or(|v| {
                let v = lowercase(v);
                v.trim().is_empty() || v.contains("not sure") || v.contains("don't know")
            });
            QualifiedValue {
                value: v.map(Cow::into_owned),
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

        let timeline = lowercase(qualification.timeline.value.as_deref().unwrap_or_default());
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
        .map(|a| concat(&[&a.field_id, ": ", &a.value.as_text()]))
        .chain(
            context
                .iter()
                .filter(|f| f.key == "message")
                .map(|f| f.value.clone()),
        )
        .collect();
    if said.is_empty() {
        reason.name().into()
    } else {
        concat(&[reason.name(), " — ", &said.join("; ")])
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
        assert_eq!(
            s.opening,
            "Hi Dana, this is Sam from Acme HVAC, returning your call. \
             I see you got in touch about: furnace is broken."
        );
        let ids: Vec<_> = s.questions.iter().map(|q| q.field_id.as_str()).collect();
        assert_eq!(ids, ["timeline", "role"], "the reason is already known");
    }

    #[test]
    fn an_opening_without_a_name_or_topic_greets_plainly() {
        let s = BantQualify::script(ScriptInput {
            case: case(vec![]),
            config: CFG.into(),
        })
        .unwrap();
        assert_eq!(
            s.opening,
            "Hi, this is Sam from Acme HVAC, returning your call."
        );
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
            Answer::text("reason", "Need a quote for a new AC"),
            Answer::text("timeline", "next month"),
            Answer::text("role", "yes, I own the house"),
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
            Answer::text("reason", "heating is broken"),
            Answer::text("timeline", "today please"),
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

    #[test]
    fn lowercase_copies_only_what_has_capitals_and_keeps_unicode_rules() {
        assert!(matches!(lowercase("no heat"), Cow::Borrowed("no heat")));
        assert_eq!(lowercase("No HEAT upstairs"), "no heat upstairs");
        assert_eq!(lowercase("ÖLHEIZUNG kaputt"), "ölheizung kaputt");
        assert!(matches!(lowercase("ölheizung"), Cow::Borrowed(_)));
    }

    #[test]
    fn each_entry_point_checks_every_key_and_the_part_it_reads() {
        let script = |config: &str| {
            BantQualify::script(ScriptInput {
                case: case(vec![]),
                config: config.into(),
            })
        };
        let evaluate = |config: &str| {
            BantQualify::evaluate(EvaluateInput {
                case: case(vec![]),
                answers: vec![],
                transcript: None,
                config: config.into(),
            })
        };
        for run in [script(""), script(CFG)] {
            assert!(run.is_ok());
        }
        assert!(evaluate("").is_ok());
        let typo = r#"{"busines_name": "Acme"}"#;
        assert!(script(typo).unwrap_err().contains("busines_name"));
        assert!(evaluate(typo).unwrap_err().contains("busines_name"));
        let bad_rule = r#"{"rules": [{"contains": ["x"], "reason_code": "r",
            "urgency": "someday", "next_action": "seller-callback", "intent": 1}]}"#;
        assert!(evaluate(bad_rule).unwrap_err().contains("someday"));
        let bad_question = r#"{"questions": [{"field_id": "a"}]}"#;
        assert!(script(bad_question).unwrap_err().contains("text"));
    }
}
