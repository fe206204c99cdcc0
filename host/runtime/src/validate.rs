//! Contract rules a decision must meet before the host acts on it.
//!
//! The WIT types bound the shape of a decision; these rules bound its values (question
//! count, score ranges, known reason codes, sane times and sizes). Every string a plugin
//! returns is bounded, names and ids more tightly than text, and so is every list, so one
//! decision cannot write megabytes to the journal or the outbox. A decision that breaks a
//! rule is refused as a whole, so the engine never acts on half of a bad answer.

use redial_sdk::*;
use std::collections::HashSet;

/// Longest text field accepted from a plugin (scripts, summaries, properties).
const MAX_TEXT: usize = 4096;
/// Longest fallback message (ten concatenated SMS segments).
const MAX_MESSAGE: usize = 1600;
/// The furthest ahead a cadence may schedule a call.
const MAX_DELAY_SECS: u32 = 30 * 24 * 3600;
/// Most CRM operations one disposition may produce.
const MAX_CRM_OPERATIONS: usize = 32;
/// Most context facts a trigger may carry forward.
const MAX_KNOWN_FIELDS: usize = 64;
/// Longest key, id or name (field keys, question ids, CRM ids, systems, objects).
const MAX_NAME: usize = 128;
/// Most properties in one CRM operation.
const MAX_PROPERTIES: usize = 64;
/// Most choices a question offers.
const MAX_CHOICES: usize = 16;

/// Why a decision was refused.
pub type Problem = String;

/// `what` names the text in the error; it is formatted only when the check fails.
fn text(what: impl std::fmt::Display, value: &str) -> Result<(), Problem> {
    if value.len() > MAX_TEXT {
        return Err(format!(
            "{what} is {} bytes, the limit is {MAX_TEXT}",
            value.len()
        ));
    }
    Ok(())
}

/// `what` names the key or id in the error.
fn name(what: impl std::fmt::Display, value: &str) -> Result<(), Problem> {
    if value.len() > MAX_NAME {
        return Err(format!(
            "{what} is {} bytes, the limit is {MAX_NAME}",
            value.len()
        ));
    }
    Ok(())
}

/// A key and its value.
fn field(what: &str, f: &Field) -> Result<(), Problem> {
    name(format_args!("{what} key"), &f.key)?;
    text(format_args!("{what} {:?}", f.key), &f.value)
}

/// A list's length.
fn count(what: &str, n: usize, max: usize) -> Result<(), Problem> {
    if n > max {
        return Err(format!("{n} {what}, the limit is {max}"));
    }
    Ok(())
}

/// Checks a trigger decision.
pub fn trigger(d: &TriggerDecision) -> Result<(), Problem> {
    match d {
        TriggerDecision::Ignore(reason) => text("ignore reason", reason),
        TriggerDecision::Recover(r) => {
            if r.priority > 100 {
                return Err(format!("priority {} is above 100", r.priority));
            }
            count("known fields", r.known.len(), MAX_KNOWN_FIELDS)?;
            r.known.iter().try_for_each(|f| field("known field", f))
        }
    }
}

/// Checks a cadence decision against the case's current time.
pub fn cadence(d: &CadenceDecision, now_ms: i64) -> Result<(), Problem> {
    match d {
        CadenceDecision::CallAfter(secs) if *secs > MAX_DELAY_SECS => {
            Err(format!("call-after {secs}s is more than 30 days ahead"))
        }
        CadenceDecision::CallAt(at) if *at > now_ms + i64::from(MAX_DELAY_SECS) * 1000 => Err(
            format!("call-at {at} is more than 30 days after now ({now_ms})"),
        ),
        CadenceDecision::CallAt(at) if *at < 0 => Err(format!("call-at {at} is before 1970")),
        CadenceDecision::Fallback(f) => {
            if f.message.trim().is_empty() {
                return Err("fallback message is empty".into());
            }
            if f.message.len() > MAX_MESSAGE {
                return Err(format!(
                    "fallback message is {} bytes, the limit is {MAX_MESSAGE}",
                    f.message.len()
                ));
            }
            match &f.link {
                Some(link) if !(link.starts_with("https://") || link.starts_with("http://")) => {
                    let start: String = link.chars().take(40).collect();
                    Err(format!("fallback link {start:?} is not an http(s) URL"))
                }
                Some(link) => text("fallback link", link),
                None => Ok(()),
            }
        }
        CadenceDecision::GiveUp(reason) => text("give-up reason", reason),
        _ => Ok(()),
    }
}

/// Checks a call script: 2..=4 distinct questions, a non-empty opening.
pub fn script(s: &Script) -> Result<(), Problem> {
    if !(2..=4).contains(&s.questions.len()) {
        return Err(format!(
            "script has {} questions, the contract allows 2 to 4",
            s.questions.len()
        ));
    }
    if s.opening.trim().is_empty() {
        return Err("script opening is empty".into());
    }
    text("opening", &s.opening)?;
    text("availability check", &s.availability_check)?;
    let mut seen = HashSet::new();
    for q in &s.questions {
        if q.field_id.trim().is_empty() || q.text.trim().is_empty() {
            return Err("a question has an empty field id or text".into());
        }
        name("question field id", &q.field_id)?;
        if !seen.insert(q.field_id.as_str()) {
            return Err(format!("question field id {:?} appears twice", q.field_id));
        }
        text("question", &q.text)?;
        if let AnswerKind::Choice(options) = &q.kind {
            if options.len() < 2 {
                return Err(format!(
                    "question {:?} offers fewer than 2 choices",
                    q.field_id
                ));
            }
            count("choices", options.len(), MAX_CHOICES)?;
            options.iter().try_for_each(|o| name("a choice", o))?;
        }
    }
    Ok(())
}

/// Checks a disposition; `allowed_custom` lists the tenant's own reason codes.
pub fn disposition(d: &Disposition, allowed_custom: &[String]) -> Result<(), Problem> {
    if d.intent_score > 100 {
        return Err(format!("intent score {} is above 100", d.intent_score));
    }
    if let ReasonCode::Custom(code) = &d.reason_code
        && !allowed_custom.iter().any(|c| c == code)
    {
        let allowed = if allowed_custom.is_empty() {
            "none are allowed".to_string()
        } else {
            format!("allowed: {}", allowed_custom.join(", "))
        };
        let code: String = code.chars().take(MAX_NAME).collect();
        return Err(format!("unknown reason code {code:?} ({allowed})"));
    }
    let q = &d.qualification;
    for (what, value) in [
        ("buying role", &q.buying_role),
        ("timeline", &q.timeline),
        ("existing system", &q.existing_system),
        ("budget range", &q.budget_range),
    ] {
        if let Some(value) = &value.value {
            text(what, value)?;
        }
    }
    text("summary", &d.summary)
}

/// Checks CRM operations: unique ids, references to earlier operations only, upserts with
/// a match key.
pub fn crm(ops: &[CrmOperation]) -> Result<(), Problem> {
    if ops.len() > MAX_CRM_OPERATIONS {
        return Err(format!(
            "{} CRM operations, the limit is {MAX_CRM_OPERATIONS}",
            ops.len()
        ));
    }
    let mut earlier = HashSet::new();
    for op in ops {
        if op.id.is_empty() || op.system.is_empty() || op.object.is_empty() {
            return Err("a CRM operation has an empty id, system or object".into());
        }
        name("CRM operation id", &op.id)?;
        name("CRM system", &op.system)?;
        name("CRM object", &op.object)?;
        if let Some(key) = &op.match_key {
            field("CRM match key", key)?;
        }
        count("properties", op.properties.len(), MAX_PROPERTIES)?;
        count("associations", op.associate.len(), MAX_CRM_OPERATIONS)?;
        if op.action == CrmAction::Upsert && op.match_key.is_none() {
            return Err(format!("upsert {:?} has no match key", op.id));
        }
        if op.action == CrmAction::Associate && op.associate.len() < 2 {
            return Err(format!(
                "associate {:?} names fewer than 2 operations",
                op.id
            ));
        }
        if let Some(missing) = op
            .associate
            .iter()
            .find(|id| !earlier.contains(id.as_str()))
        {
            return Err(format!(
                "operation {:?} refers to {missing:?}, which is not an earlier operation",
                op.id
            ));
        }
        op.properties
            .iter()
            .try_for_each(|f| field("property", f))?;
        if !earlier.insert(op.id.as_str()) {
            return Err(format!("operation id {:?} appears twice", op.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(id: &str) -> Question {
        Question {
            field_id: id.into(),
            text: "?".into(),
            kind: AnswerKind::FreeText,
        }
    }

    fn script_with(n: usize) -> Script {
        Script {
            opening: "Hi".into(),
            availability_check: "Now ok?".into(),
            questions: (0..n).map(|i| question(&format!("q{i}"))).collect(),
        }
    }

    #[test]
    fn question_count_must_be_two_to_four() {
        assert!(script(&script_with(1)).is_err());
        assert!(script(&script_with(2)).is_ok());
        assert!(script(&script_with(4)).is_ok());
        assert!(script(&script_with(5)).unwrap_err().contains("5 questions"));
    }

    #[test]
    fn duplicate_question_ids_are_refused() {
        let mut s = script_with(2);
        s.questions[1].field_id = "q0".into();
        assert!(script(&s).unwrap_err().contains("twice"));
    }

    #[test]
    fn custom_reason_codes_must_be_allowed() {
        let d = Disposition {
            reason_code: ReasonCode::Custom("warranty".into()),
            urgency: Urgency::ThisWeek,
            qualification: Qualification::default(),
            next_action: NextAction::MaterialSend,
            intent_score: 10,
            summary: String::new(),
        };
        assert!(disposition(&d, &[]).unwrap_err().contains("warranty"));
        assert!(disposition(&d, &["warranty".into()]).is_ok());
    }

    #[test]
    fn crm_references_must_point_backwards() {
        let op = |id: &str, assoc: &[&str]| CrmOperation {
            id: id.into(),
            system: "hubspot".into(),
            object: "calls".into(),
            action: CrmAction::Create,
            match_key: None,
            properties: vec![],
            associate: assoc.iter().map(|s| s.to_string()).collect(),
        };
        assert!(crm(&[op("a", &[]), op("b", &["a"])]).is_ok());
        assert!(
            crm(&[op("b", &["a"]), op("a", &[])])
                .unwrap_err()
                .contains("not an earlier")
        );
        assert!(
            crm(&[op("a", &[]), op("a", &[])])
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn every_string_and_list_a_plugin_returns_is_bounded() {
        let long = "k".repeat(MAX_NAME + 1);
        let recover = |known: Vec<Field>| TriggerDecision::Recover(Recovery { priority: 1, known });
        let huge_key = Field {
            key: long.clone(),
            value: "v".into(),
        };
        assert!(
            trigger(&recover(vec![huge_key]))
                .unwrap_err()
                .contains("key")
        );
        let mut s = script_with(2);
        s.questions[0].field_id = long.clone();
        assert!(script(&s).unwrap_err().contains("field id"));
        let mut s = script_with(2);
        s.questions[0].kind =
            AnswerKind::Choice((0..=MAX_CHOICES).map(|i| i.to_string()).collect());
        assert!(script(&s).unwrap_err().contains("choices"));
        let op = CrmOperation {
            id: "a".into(),
            system: "hubspot".into(),
            object: long,
            action: CrmAction::Create,
            match_key: None,
            properties: vec![],
            associate: vec![],
        };
        assert!(crm(&[op]).unwrap_err().contains("CRM object"));
        let link = CadenceDecision::Fallback(Fallback {
            channel: FallbackChannel::Sms,
            message: "hi".into(),
            link: Some(format!("https://x.example/{}", "a".repeat(MAX_TEXT))),
        });
        assert!(cadence(&link, 0).unwrap_err().contains("link"));
    }

    #[test]
    fn cadence_times_are_bounded() {
        assert!(cadence(&CadenceDecision::CallAfter(MAX_DELAY_SECS + 1), 0).is_err());
        assert!(cadence(&CadenceDecision::CallAt(1_000), 0).is_ok());
        let bad_link = CadenceDecision::Fallback(Fallback {
            channel: FallbackChannel::Sms,
            message: "hi".into(),
            link: Some("javascript:alert(1)".into()),
        });
        assert!(cadence(&bad_link, 0).is_err());
    }
}
