//! Replay: a candidate plugin run on the inputs a tenant's journal recorded for one slot,
//! and its decisions set beside the live ones, before it is swapped in.
//!
//! The journal keeps each decision, not each input, so the inputs are rebuilt from what it
//! does keep: the case's signal, the attempts ended before the decision, the answers and
//! transcript of the call before it (only under `full` retention) and the disposition.
//! A decision whose input retention did not keep is counted as such, never guessed at.
//! Nothing is written: the candidate decides in the sandbox and the results are returned.

use super::{Engine, EngineError};
use crate::policy::Text;
use crate::records::{CaseRecord, Event};
use redial_runtime::{Request, Slot};
use redial_sdk::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One decision the candidate made differently (or failed to make).
#[derive(Debug, Clone, Serialize)]
pub struct ReplayedDecision {
    /// The case.
    pub case_id: String,
    /// When the live decision was made (unix ms).
    pub at_ms: i64,
    /// The call (`trigger`, `cadence`, `qualify.script`, `qualify.evaluate`, `crm`).
    pub call: String,
    /// The live decision, as the journal has it.
    pub live: Value,
    /// The candidate's decision, when it made one.
    pub candidate: Option<Value>,
    /// Why the candidate failed, when it did.
    pub error: Option<String>,
    /// What differs: `reason-code`, `urgency`, `next-action`, `intent-band`,
    /// `qualification`, `outcome`, `priority-band`, `step`, `delay`, `questions`,
    /// `operations`.
    pub changed: Vec<String>,
}

/// What a replay found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The candidate (`name@sha256-prefix`).
    pub candidate: String,
    /// Cases looked at.
    pub cases: usize,
    /// Decisions the candidate made again.
    pub replayed: usize,
    /// Of those, how many differ from the live one.
    pub changed: usize,
    /// Calls the candidate failed.
    pub failed: usize,
    /// Live decisions whose input the tenant's retention did not keep (not replayed).
    pub not_kept: usize,
    /// How many decisions differ in each field.
    pub by_field: BTreeMap<String, usize>,
    /// Each decision that differs or failed, oldest first.
    pub differences: Vec<ReplayedDecision>,
}

impl Engine {
    /// Runs `candidate` (a component's bytes, which must fill `slot`) on the inputs of
    /// `tenant`'s journalled `slot` decisions in cases opened at or after `since_ms`, and
    /// reports how its decisions differ from the live ones. A candidate for another slot
    /// is refused before anything runs.
    pub fn replay(
        &self,
        tenant_id: &str,
        slot: Slot,
        candidate: &[u8],
        since_ms: i64,
    ) -> Result<ReplayReport, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let plugin = self
            .runtime
            .load_quick(
                &format!("{tenant_id}-{slot}-candidate"),
                candidate,
                Some(slot),
            )
            .map_err(|source| EngineError::Plugin {
                tenant: tenant_id.into(),
                source,
            })?;
        let config = tenant.config(slot);
        let mut report = ReplayReport {
            tenant: tenant_id.into(),
            slot: slot.name().into(),
            candidate: plugin.id.to_string(),
            ..ReplayReport::default()
        };
        let mut cases = self.store.cases(Some(tenant_id))?;
        cases.retain(|c| c.opened_ms >= since_ms);
        cases.sort_by_key(|c| c.opened_ms);
        let history = History::of(&cases);
        for case in &cases {
            report.cases += 1;
            let inputs = Inputs {
                engine: self,
                tenant: &tenant,
                case,
                config,
                history: &history,
            };
            for (at_ms, call, live, input) in inputs.recorded(slot)? {
                let Some(input) = input else {
                    report.not_kept += 1;
                    continue;
                };
                report.replayed += 1;
                let mut replayed = ReplayedDecision {
                    case_id: case.id.clone(),
                    at_ms,
                    call: call.clone(),
                    live,
                    candidate: None,
                    error: None,
                    changed: Vec::new(),
                };
                match self.runtime.decide(&plugin, input, &tenant.custom_codes) {
                    Ok(redial_runtime::Decision {
                        value: decision, ..
                    }) => {
                        replayed.changed = differences(&call, &replayed.live, &decision);
                        replayed.candidate = Some(decision);
                        if replayed.changed.is_empty() {
                            continue;
                        }
                        report.changed += 1;
                        for field in &replayed.changed {
                            *report.by_field.entry(field.clone()).or_default() += 1;
                        }
                    }
                    Err(e) => {
                        report.failed += 1;
                        replayed.error = Some(e.to_string());
                    }
                }
                report.differences.push(replayed);
            }
        }
        Ok(report)
    }
}

/// Each caller's cases by when they opened, for the trigger's view of a caller's past.
struct History<'a>(BTreeMap<&'a str, Vec<&'a CaseRecord>>);

impl<'a> History<'a> {
    fn of(cases: &'a [CaseRecord]) -> Self {
        let mut by_caller: BTreeMap<&str, Vec<&CaseRecord>> = BTreeMap::new();
        for case in cases {
            by_caller.entry(&case.caller).or_default().push(case);
        }
        History(by_caller)
    }

    /// The caller's past as it stood when `case` opened (closed cases before it; the
    /// replay looks only at cases opened since its start, so older ones are not counted).
    fn before(&self, case: &CaseRecord) -> CallerHistory {
        let earlier: Vec<&&CaseRecord> = (self.0.get(case.caller.as_str()).into_iter())
            .flatten()
            .filter(|c| c.opened_ms < case.opened_ms)
            .collect();
        CallerHistory {
            open_case: false,
            prior_cases: earlier.len() as u32,
            last_outcome: earlier.last().map(|c| c.state.name().to_string()),
            opted_out: false,
        }
    }
}

/// What the journal of one case lets a replay rebuild.
struct Inputs<'a> {
    engine: &'a Engine,
    tenant: &'a super::Tenant,
    case: &'a CaseRecord,
    config: &'a str,
    history: &'a History<'a>,
}

/// One live decision: when, which call, what it decided, and its input (`None` when the
/// tenant's retention did not keep it).
type Recorded = (i64, String, Value, Option<Request>);

impl Inputs<'_> {
    fn view(&self, attempts: &[Attempt], at_ms: i64) -> CaseView {
        CaseView {
            case_id: self.case.id.clone(),
            signal: self.case.signal.clone(),
            attempts: attempts.to_vec(),
            now: self.tenant.local.moment(at_ms),
        }
    }

    /// The case's live decisions for `slot`, with their rebuilt inputs, in journal order.
    fn recorded(&self, slot: Slot) -> Result<Vec<Recorded>, EngineError> {
        let config = self.config.to_string();
        let retention = self.tenant.policy.retention;
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_call: Option<LastCall> = None;
        let mut disposition: Option<Disposition> = None;
        let mut joined = false;
        let mut found = Vec::new();
        for entry in self.engine.store.journal(&self.case.id)? {
            let at = entry.at_ms;
            match entry.event {
                Event::Signal { joined: j, .. } => joined = j,
                Event::CallResult {
                    outcome,
                    answers,
                    transcript,
                    unanswered,
                    ..
                } => {
                    let connected = outcome == AttemptOutcome::Connected;
                    let whole = retention.keeps(Text::Conversation)
                        && (!connected || !answers.is_empty() || !unanswered.is_empty());
                    attempts.push(Attempt {
                        at_unix_ms: at,
                        outcome,
                    });
                    last_call = Some(LastCall {
                        answers,
                        transcript,
                        whole,
                    });
                }
                Event::Disposition { disposition: d } => disposition = Some(d),
                Event::Decision {
                    slot: name,
                    decision,
                    ..
                } if slot_of_call(&name) == Some(slot) => {
                    let view = || self.view(&attempts, at);
                    let heard = last_call.as_ref().filter(|c| c.whole);
                    let input = match name.as_str() {
                        "trigger" => Some(Request::Trigger(TriggerInput {
                            signal: self.case.signal.clone(),
                            history: CallerHistory {
                                open_case: joined,
                                ..self.history.before(self.case)
                            },
                            config: config.clone(),
                        })),
                        "cadence" => Some(Request::Cadence(CadenceInput {
                            case: view(),
                            config: config.clone(),
                        })),
                        "qualify.script" => Some(Request::Script(ScriptInput {
                            case: view(),
                            config: config.clone(),
                        })),
                        "qualify.evaluate" => heard.map(|c| {
                            Request::Evaluate(EvaluateInput {
                                case: view(),
                                answers: c.answers.clone(),
                                transcript: c.transcript.clone(),
                                config: config.clone(),
                            })
                        }),
                        // A crm decision follows the disposition journalled just before
                        // it, whole only where retention keeps notes.
                        "crm" => match (&disposition, heard) {
                            (Some(d), Some(c)) if retention.keeps(Text::Notes) => {
                                Some(Request::Crm(CrmInput {
                                    case: view(),
                                    disposition: d.clone(),
                                    answers: c.answers.clone(),
                                    config: config.clone(),
                                }))
                            }
                            _ => None,
                        },
                        _ => continue,
                    };
                    found.push((at, name, decision, input));
                }
                _ => {}
            }
        }
        Ok(found)
    }
}

/// The slot a journalled call name belongs to (`qualify.evaluate` → qualify).
fn slot_of_call(name: &str) -> Option<Slot> {
    name.split('.').next()?.parse().ok()
}

/// The call before a decision, as far as the journal kept it.
struct LastCall {
    answers: Vec<Answer>,
    transcript: Option<String>,
    /// Whether its answers are all there: retention kept the conversation when the call
    /// was made (a connected call journals its answers or the questions left unanswered).
    whole: bool,
}

/// The fields in which `candidate` differs from `live` for `call`, by what a person
/// reviewing a swap cares about.
pub(super) fn differences(call: &str, live: &Value, candidate: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    let mut differs = |field: &str, a: Value, b: Value| {
        if a != b {
            changed.push(field.to_string());
        }
    };
    let tag = |v: &Value| match v {
        Value::Object(m) => m
            .keys()
            .next()
            .cloned()
            .map(Value::String)
            .unwrap_or(Value::Null),
        other => other.clone(),
    };
    let band = |v: Option<u64>| match v {
        None => Value::Null,
        Some(n) if n >= 70 => "high".into(),
        Some(n) if n >= 40 => "medium".into(),
        Some(_) => "low".into(),
    };
    match call {
        "trigger" => {
            differs("outcome", tag(live), tag(candidate));
            let priority = |v: &Value| band(v.pointer("/recover/priority").and_then(Value::as_u64));
            differs("priority-band", priority(live), priority(candidate));
        }
        "cadence" => {
            differs("step", tag(live), tag(candidate));
            differs(
                "delay",
                live.get("call-after").cloned().unwrap_or_default(),
                candidate.get("call-after").cloned().unwrap_or_default(),
            );
        }
        "qualify.script" => {
            let ids = |v: &Value| -> Value {
                (v.get("questions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten())
                .map(|q| q.get("field-id").cloned().unwrap_or_default())
                .collect()
            };
            differs("questions", ids(live), ids(candidate));
        }
        "qualify.evaluate" => {
            for field in ["reason-code", "urgency", "next-action"] {
                let get = |v: &Value| v.get(field).cloned().unwrap_or_default();
                differs(field, get(live), get(candidate));
            }
            let intent = |v: &Value| band(v.get("intent-score").and_then(Value::as_u64));
            differs("intent-band", intent(live), intent(candidate));
            let confirmed = |v: &Value| -> Value {
                (v.get("qualification")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten())
                .map(|(k, q)| (k.clone(), q.get("confirmed").cloned().unwrap_or_default()))
                .collect::<serde_json::Map<_, _>>()
                .into()
            };
            differs("qualification", confirmed(live), confirmed(candidate));
        }
        _ => {
            let ops = |v: &Value| -> Value {
                (v.as_array().into_iter().flatten())
                    .map(|op| {
                        serde_json::json!([op.get("object"), op.get("action"), op.get("associate")])
                    })
                    .collect()
            };
            differs("operations", ops(live), ops(candidate));
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_differ_by_the_fields_a_reviewer_cares_about() {
        let live = json!({ "reason-code": "pricing-question", "urgency": "this-week",
            "next-action": "booking-link", "intent-score": 75,
            "qualification": { "timeline": { "value": "soon", "confirmed": true } } });
        let mut candidate = live.clone();
        candidate["intent-score"] = json!(72);
        assert!(
            differences("qualify.evaluate", &live, &candidate).is_empty(),
            "same band"
        );
        candidate["intent-score"] = json!(30);
        candidate["urgency"] = json!("same-day");
        assert_eq!(
            differences("qualify.evaluate", &live, &candidate),
            ["urgency", "intent-band"]
        );
        let live = json!({ "call-after": 900 });
        assert_eq!(
            differences("cadence", &live, &json!({ "call-after": 600 })),
            ["delay"]
        );
        assert_eq!(
            differences("cadence", &live, &json!({ "give-up": "enough" })),
            ["step", "delay"]
        );
        let live = json!({ "recover": { "priority": 75 } });
        assert_eq!(
            differences("trigger", &live, &json!({ "ignore": "spam" })),
            ["outcome", "priority-band"]
        );
    }
}
