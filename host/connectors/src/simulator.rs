//! The built-in call simulator: simulated callees with personas, so the whole loop runs
//! locally with no network.
//!
//! It plays every provider at once (voice, SMS, CRM, notifications) and keeps a ledger of
//! what it received, appended to a file when one is given, like a provider's own records.
//! Like a well-behaved provider it honours idempotency keys: a redelivered dial returns
//! the first call's report and places no second call.

use crate::voice::{CallRequest, VoiceProvider};
use redial_core::clock::Clock;
use redial_core::connectors::{CallReport, ConnectorError, Connectors, Delivery, Recipient};
use redial_core::records::{Effect, OutboxItem};
use redial_sdk::{Answer, AnswerKind, AnswerValue, AttemptOutcome};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How a simulated callee behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Picks up and answers every question.
    Qualifies,
    /// Busy on the first attempt, then picks up and answers.
    BusyThenAnswers,
    /// Declines the call.
    Declines,
    /// Always goes to voicemail.
    Voicemail,
    /// Never picks up.
    NeverAnswers,
    /// Picks up and asks not to be called again.
    OptsOut,
    /// Picks up, asks to be called in two hours, then answers.
    CallLater,
}

/// A simulated callee: behaviour plus what they say to each question (by field id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persona {
    /// How they behave.
    pub behaviour: Behaviour,
    /// Answers by question field id; other questions get a plain "yes".
    pub answers: Vec<(String, String)>,
}

impl Persona {
    /// A persona with no scripted answers.
    pub fn new(behaviour: Behaviour) -> Self {
        Persona {
            behaviour,
            answers: Vec::new(),
        }
    }

    /// Adds a scripted answer.
    pub fn answer(mut self, field_id: &str, text: &str) -> Self {
        self.answers.push((field_id.into(), text.into()));
        self
    }
}

/// One thing the simulator received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Idempotency key.
    pub key: String,
    /// Tenant.
    pub tenant: String,
    /// Case.
    pub case_id: String,
    /// Effect name (dial, sms, crm, handoff, escalation).
    pub effect: String,
    /// Whether this key had been received before (a redelivery).
    pub duplicate: bool,
    /// For dials: the simulated outcome.
    pub outcome: Option<AttemptOutcome>,
}

struct State {
    reports: HashMap<String, Option<CallReport>>,
    ledger: Vec<LedgerEntry>,
    file: Option<std::fs::File>,
}

/// The simulator. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Simulator {
    personas: Arc<HashMap<String, Persona>>,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl Simulator {
    /// A simulator with these callees; `ledger` (if given) is appended to and reloaded on
    /// restart so idempotency survives a crash.
    pub fn new(
        clock: Arc<dyn Clock>,
        personas: HashMap<String, Persona>,
        ledger: Option<&Path>,
    ) -> std::io::Result<Self> {
        let mut state = State {
            reports: HashMap::new(),
            ledger: Vec::new(),
            file: None,
        };
        if let Some(path) = ledger {
            if let Ok(text) = std::fs::read_to_string(path) {
                // A line cut short by a kill is dropped: its delivery will come again.
                // Personas are deterministic, so a redelivered dial is simulated again
                // (same report) but counted as a duplicate, not as a second call.
                for entry in text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<LedgerEntry>(l).ok())
                {
                    state.reports.entry(entry.key.clone()).or_insert(None);
                    state.ledger.push(entry);
                }
            }
            state.file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            );
        }
        Ok(Simulator {
            personas: Arc::new(personas),
            clock,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// Everything received so far (including entries reloaded from the ledger file).
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.state.lock().unwrap().ledger.clone()
    }

    /// The ledger file's entries (for tests that inspect a killed process's work).
    pub fn read_ledger(path: &PathBuf) -> Vec<LedgerEntry> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn persona(&self, caller: &str) -> Persona {
        self.personas
            .get(caller)
            .cloned()
            .unwrap_or_else(|| Persona::new(Behaviour::Qualifies))
    }

    fn simulate_call(
        &self,
        to: &str,
        attempt: u32,
        questions: &[redial_sdk::Question],
    ) -> CallReport {
        let persona = self.persona(to);
        let answered = |p: &Persona| -> Vec<Answer> {
            questions
                .iter()
                .map(|q| {
                    let said = p
                        .answers
                        .iter()
                        .find(|(id, _)| *id == q.field_id)
                        .map_or("yes", |(_, t)| t.as_str());
                    Answer {
                        field_id: q.field_id.clone(),
                        value: extract(&q.kind, said),
                    }
                })
                .collect()
        };
        let connected = |p: &Persona| {
            let answers = answered(p);
            let transcript = answers
                .iter()
                .map(|a| format!("Q[{}] A: {}", a.field_id, a.value.as_text()))
                .collect::<Vec<_>>()
                .join("\n");
            CallReport {
                outcome: AttemptOutcome::Connected,
                answers,
                transcript: Some(transcript),
                opt_out: false,
            }
        };
        let plain = |outcome| CallReport {
            outcome,
            answers: vec![],
            transcript: None,
            opt_out: false,
        };
        match persona.behaviour {
            Behaviour::Qualifies => connected(&persona),
            Behaviour::BusyThenAnswers if attempt == 1 => plain(AttemptOutcome::Busy),
            Behaviour::BusyThenAnswers => connected(&persona),
            Behaviour::Declines => plain(AttemptOutcome::Declined),
            Behaviour::Voicemail => plain(AttemptOutcome::Voicemail),
            Behaviour::NeverAnswers => plain(AttemptOutcome::NoAnswer),
            Behaviour::OptsOut => CallReport {
                outcome: AttemptOutcome::Declined,
                answers: vec![],
                transcript: Some("Please don't call me again.".into()),
                opt_out: true,
            },
            Behaviour::CallLater if attempt == 1 => plain(AttemptOutcome::CallLater(
                self.clock.now_ms() + 2 * 3_600_000,
            )),
            Behaviour::CallLater => connected(&persona),
        }
    }
}

/// What the simulated voice AI extracts from what the callee said, as the question's kind
/// asks (a real provider fills the schema the dial sent the same way): "yes, I own it" is
/// yes, "about 20 units" is 20, a choice is the option the words name. Words that fit no
/// value of the kind stay text, which the host records as unanswered.
fn extract(kind: &AnswerKind, said: &str) -> AnswerValue {
    let lower = said.trim().to_lowercase();
    let first_word = lower
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    let typed = match kind {
        AnswerKind::FreeText => None,
        AnswerKind::YesNo => match first_word {
            "yes" | "yeah" | "yep" => Some(AnswerValue::YesNo(true)),
            "no" | "nope" => Some(AnswerValue::YesNo(false)),
            _ => None,
        },
        AnswerKind::Number => lower
            .split_whitespace()
            .find_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .map(AnswerValue::Number),
        AnswerKind::Choice(options) => options
            .iter()
            .find(|o| lower.contains(&o.to_lowercase()))
            .map(|o| AnswerValue::Choice(o.clone())),
    };
    typed.unwrap_or_else(|| AnswerValue::Text(said.to_string()))
}

impl VoiceProvider for Simulator {
    fn place(&self, call: &CallRequest<'_>) -> Result<Delivery, ConnectorError> {
        self.record(call.item)
    }

    /// The simulator reports every call as it places it, so no call of its is ever
    /// overdue: one asked about is unknown to it.
    fn look_up(&self, _provider_id: &str) -> Result<Delivery, ConnectorError> {
        Ok(Delivery::Done)
    }
}

impl Connectors for Simulator {
    fn deliver(&self, item: &OutboxItem, _: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        self.record(item)
    }
}

impl Simulator {
    /// Acts on an item as the provider of its channel would, and writes it in the ledger.
    fn record(&self, item: &OutboxItem) -> Result<Delivery, ConnectorError> {
        let mut state = self.state.lock().unwrap();
        let duplicate = state.reports.contains_key(&item.key);
        let (delivery, outcome, effect) = match &item.effect {
            Effect::Dial {
                attempt,
                to,
                script,
                ..
            } => {
                let report = match state.reports.get(&item.key) {
                    Some(Some(report)) => report.clone(),
                    _ => self.simulate_call(to, *attempt, &script.questions),
                };
                let name = if report.opt_out {
                    "dial-opt-out"
                } else {
                    "dial"
                };
                state.reports.insert(item.key.clone(), Some(report.clone()));
                (
                    Delivery::CallEnded(report.clone()),
                    Some(report.outcome),
                    name.to_string(),
                )
            }
            other => {
                state.reports.insert(item.key.clone(), None);
                (Delivery::Done, None, other.name().to_string())
            }
        };
        let entry = LedgerEntry {
            key: item.key.clone(),
            tenant: item.tenant.clone(),
            case_id: item.case_id.clone(),
            effect,
            duplicate,
            outcome,
        };
        if let Some(file) = state.file.as_mut() {
            let mut line = serde_json::to_vec(&entry).expect("ledger entries serialize");
            line.push(b'\n');
            file.write_all(&line).map_err(|e| ConnectorError {
                connector: "simulator".into(),
                message: e.to_string(),
            })?;
        }
        state.ledger.push(entry);
        Ok(delivery)
    }
}
