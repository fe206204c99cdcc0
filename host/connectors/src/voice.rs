//! The one connector trait every voice-AI provider speaks (Vapi, Retell, the simulator):
//! place a callback that asks for typed answers, and look up a call whose report is
//! overdue. What the dial asks for is built here once, so each provider only writes it in
//! its own wire format.

use chrono::DateTime;
use redial_core::connectors::{CallReport, ConnectorError, Delivery};
use redial_core::records::{Effect, OutboxItem};
use redial_sdk::{Answer, AnswerKind, AnswerValue, AttemptOutcome, Field, Script};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A voice-AI provider, as the delivery of a dial and of a stuck call's lookup needs it.
pub trait VoiceProvider {
    /// Places the callback: the provider either reports at once ([`Delivery::CallEnded`],
    /// the simulator) or later by webhook ([`Delivery::CallPlaced`] with its call id).
    fn place(&self, call: &CallRequest<'_>) -> Result<Delivery, ConnectorError>;

    /// What became of a placed call whose report is overdue: ended (its report), still
    /// running ([`Delivery::CallRunning`]), or unknown to the provider ([`Delivery::Done`]).
    fn look_up(&self, provider_id: &str) -> Result<Delivery, ConnectorError>;
}

/// One dial, read from its outbox item.
pub struct CallRequest<'a> {
    /// The outbox item (its key is the idempotency key; its case names the call).
    pub item: &'a OutboxItem,
    /// The attempt number.
    pub attempt: u32,
    /// The caller to call back.
    pub to: &'a str,
    /// The business line the caller called.
    pub from: &'a str,
    /// What the AI says and asks.
    pub script: &'a Script,
    /// What the host knows of the caller, for the assistant.
    pub known: &'a [Field],
    /// The message to leave on voicemail, if the attempt leaves one.
    pub voicemail: Option<&'a str>,
}

impl<'a> CallRequest<'a> {
    /// The dial an outbox item carries; `None` for any other effect.
    pub fn of(item: &'a OutboxItem) -> Option<Self> {
        let Effect::Dial {
            attempt,
            to,
            from,
            script,
            known,
            voicemail,
        } = &item.effect
        else {
            return None;
        };
        Some(CallRequest {
            item,
            attempt: *attempt,
            to,
            from,
            script,
            known,
            voicemail: voicemail.as_deref(),
        })
    }

    /// The text values every provider's assistant prompt can use (Vapi's variable values,
    /// Retell's dynamic variables): the opening, the availability check, the numbered
    /// questions, their field ids and the known context.
    pub fn variables(&self) -> Map<String, Value> {
        let questions: Vec<String> = (self.script.questions.iter().enumerate())
            .map(|(i, q)| format!("{}. {}", i + 1, q.text))
            .collect();
        let ids: Vec<&str> = (self.script.questions.iter())
            .map(|q| q.field_id.as_str())
            .collect();
        let known: Vec<String> = (self.known.iter())
            .map(|f| format!("{}: {}", f.key, f.value))
            .collect();
        let mut vars = Map::new();
        vars.insert("opening".into(), self.script.opening.clone().into());
        vars.insert(
            "availability_check".into(),
            self.script.availability_check.clone().into(),
        );
        vars.insert("questions".into(), questions.join("\n").into());
        vars.insert("question_ids".into(), ids.join(",").into());
        vars.insert("known_context".into(), known.join("; ").into());
        vars
    }

    /// What the call's metadata carries, so its report finds its case and attempt.
    pub fn metadata(&self) -> Value {
        json!({
            "case_id": self.item.case_id,
            "attempt": self.attempt,
            "idempotency_key": self.item.key,
        })
    }

    /// What the provider is asked to extract after the call: each question by its field
    /// id and kind, then whether the caller opted out and when they asked to be called
    /// back.
    pub fn extraction(&self) -> Vec<Extract<'a>> {
        let mut fields: Vec<Extract<'a>> = (self.script.questions.iter())
            .map(|q| Extract {
                name: &q.field_id,
                description: &q.text,
                kind: match &q.kind {
                    AnswerKind::FreeText => ExtractKind::Text,
                    AnswerKind::YesNo => ExtractKind::Boolean,
                    AnswerKind::Number => ExtractKind::Number,
                    AnswerKind::Choice(options) => ExtractKind::Choice(options),
                },
            })
            .collect();
        fields.push(Extract {
            name: OPT_OUT_KEY,
            description: "True if the customer asked not to be called or contacted again.",
            kind: ExtractKind::Boolean,
        });
        fields.push(Extract {
            name: CALL_BACK_KEY,
            description: "If the customer asked to be called back at a particular time, that \
                time as an ISO 8601 date-time with its UTC offset; otherwise leave it out.",
            kind: ExtractKind::Text,
        });
        fields
    }
}

/// The extracted field that says the caller opted out.
pub const OPT_OUT_KEY: &str = "opt_out";
/// The extracted field with the time the caller asked to be called back (RFC 3339).
pub const CALL_BACK_KEY: &str = "call_back_at";

/// One value a provider is asked to extract from a call.
pub struct Extract<'a> {
    /// Its key in the provider's extracted data: the question's field id.
    pub name: &'a str,
    /// What it is, for the provider's model.
    pub description: &'a str,
    /// Its type.
    pub kind: ExtractKind<'a>,
}

/// The type of an extracted value.
pub enum ExtractKind<'a> {
    /// A string.
    Text,
    /// True or false.
    Boolean,
    /// A number.
    Number,
    /// One of these strings.
    Choice(&'a [String]),
}

impl Extract<'_> {
    /// The value as a JSON Schema property (Vapi's structured-data schema).
    pub fn json_schema(&self) -> Value {
        let mut schema = match self.kind {
            ExtractKind::Text => json!({ "type": "string" }),
            ExtractKind::Boolean => json!({ "type": "boolean" }),
            ExtractKind::Number => json!({ "type": "number" }),
            ExtractKind::Choice(options) => json!({ "type": "string", "enum": options }),
        };
        schema["description"] = self.description.into();
        schema
    }
}

/// The extracted data of an ended call, keyed by name, as its report: the answers typed
/// by JSON's own types (a string stays text; the host checks each against its question's
/// kind), the opt-out flag, and a call-back time when one parses.
pub fn report(
    outcome: impl FnOnce(Option<i64>) -> AttemptOutcome,
    mut extracted: BTreeMap<String, Value>,
    transcript: Option<String>,
) -> CallReport {
    // Assistants set up by hand before dials carried the schema reported unix ms.
    let set_up_by_hand = extracted.remove("call_back_at_ms").and_then(|v| v.as_i64());
    let call_back_at_ms = (extracted.remove(CALL_BACK_KEY))
        .and_then(|v| DateTime::parse_from_rfc3339(v.as_str()?).ok())
        .map(|at| at.timestamp_millis())
        .or(set_up_by_hand);
    let opted_out = extracted.remove(OPT_OUT_KEY).and_then(|v| v.as_bool());
    let lower = transcript.as_deref().unwrap_or("").to_lowercase();
    CallReport {
        outcome: outcome(call_back_at_ms),
        answers: extracted
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(field_id, v)| Answer {
                field_id,
                value: answer_value(&v),
            })
            .collect(),
        transcript,
        opt_out: opted_out.unwrap_or(false) || OPT_OUT.iter().any(|p| lower.contains(p)),
    }
}

/// Phrases in a transcript that mean "do not call me again", for a provider that did not
/// extract the flag.
const OPT_OUT: [&str; 4] = [
    "don't call me again",
    "do not call me again",
    "stop calling",
    "remove me from your list",
];

/// An extracted value as an answer: JSON's own types say which, so nothing is guessed.
fn answer_value(value: &Value) -> AnswerValue {
    match value {
        Value::Bool(yes) => AnswerValue::YesNo(*yes),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| AnswerValue::Text(n.to_string()), AnswerValue::Number),
        Value::String(text) => AnswerValue::Text(text.clone()),
        other => AnswerValue::Text(other.to_string()),
    }
}

/// Whether a provider's call id may go into a request path: it came from the provider's
/// answer, so it is used only when it looks like an id.
pub fn is_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An end reason no table lists: a failure that names it, so the cadence decides and
/// the journal shows what the provider said.
pub fn unknown_end_reason(provider: &str, reason: &str) -> AttemptOutcome {
    AttemptOutcome::Failed(format!("unknown {provider} end reason {reason:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redial_sdk::Question;

    fn item() -> OutboxItem {
        OutboxItem {
            key: "t-00001/dial/1".into(),
            tenant: "t".into(),
            case_id: "t-00001".into(),
            effect: Effect::Dial {
                attempt: 1,
                to: "+15125550100".into(),
                from: "+15125550199".into(),
                script: Script {
                    opening: "Hi".into(),
                    availability_check: "Is now good?".into(),
                    questions: vec![
                        Question {
                            field_id: "owner".into(),
                            text: "Do you own the house?".into(),
                            kind: AnswerKind::YesNo,
                        },
                        Question {
                            field_id: "when".into(),
                            text: "How soon?".into(),
                            kind: AnswerKind::Choice(vec!["today".into(), "later".into()]),
                        },
                    ],
                },
                known: vec![Field::new("name", "Dana")],
                voicemail: None,
            },
        }
    }

    #[test]
    fn a_dial_asks_for_each_question_by_field_id_and_kind_plus_opt_out_and_call_back() {
        let item = item();
        let call = CallRequest::of(&item).unwrap();
        let schemas: Vec<(String, Value)> = (call.extraction().iter())
            .map(|e| (e.name.to_string(), e.json_schema()))
            .collect();
        assert_eq!(schemas[0].0, "owner");
        assert_eq!(schemas[0].1["type"], "boolean");
        assert_eq!(schemas[1].1["enum"], json!(["today", "later"]));
        assert_eq!(schemas[2].0, "opt_out");
        assert_eq!(schemas[3].0, "call_back_at");
        assert_eq!(call.variables()["known_context"], "name: Dana");
    }

    #[test]
    fn a_report_reads_the_call_back_time_and_opt_out_and_never_guesses_a_type() {
        let extracted: BTreeMap<String, Value> = serde_json::from_value(json!({
            "owner": "yes", "when": "today", "budget": null,
            "call_back_at": "2026-12-08T15:00:00-06:00", "opt_out": false,
        }))
        .unwrap();
        let report = report(
            |at| at.map_or(AttemptOutcome::Connected, AttemptOutcome::CallLater),
            extracted,
            None,
        );
        assert_eq!(report.outcome, AttemptOutcome::CallLater(1_796_763_600_000));
        assert!(!report.opt_out);
        assert_eq!(report.answers.len(), 2, "a null is no answer");
        assert_eq!(report.answers[0].value, AnswerValue::Text("yes".into()));
    }
}
