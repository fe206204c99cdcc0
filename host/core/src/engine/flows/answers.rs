//! A call report's answers read against what the attempt asked: each question's answer
//! must have the question's kind, or the question counts as unanswered. Nothing is
//! guessed: a yes/no question answered "probably" is unanswered, not "yes".

use crate::records::Asking;
use redial_sdk::{Answer, AnswerKind, AnswerValue};

/// The answers of attempt `attempt`'s report that fit what it asked, in the script's
/// order, and the field ids left unanswered. A choice may arrive as text (providers
/// report an enum as a string) and counts when it is one of the options exactly. With no
/// record of what was asked (a case from before it was kept) the answers pass as given.
pub(super) fn typed(
    asking: Option<&Asking>,
    attempt: u32,
    answers: Vec<Answer>,
) -> (Vec<Answer>, Vec<String>) {
    let Some(asking) = asking.filter(|a| a.attempt == attempt) else {
        return (answers, Vec::new());
    };
    let mut kept = Vec::with_capacity(asking.fields.len());
    let mut unanswered = Vec::new();
    for (field_id, kind) in &asking.fields {
        let given = answers.iter().find(|a| a.field_id == *field_id);
        match given.and_then(|a| fit(kind, &a.value)) {
            Some(value) => kept.push(Answer {
                field_id: field_id.clone(),
                value,
            }),
            None => unanswered.push(field_id.clone()),
        }
    }
    (kept, unanswered)
}

/// `value` as an answer of `kind`, if it is one.
fn fit(kind: &AnswerKind, value: &AnswerValue) -> Option<AnswerValue> {
    match (kind, value) {
        (AnswerKind::FreeText, AnswerValue::Text(t)) if !t.trim().is_empty() => Some(value.clone()),
        (AnswerKind::YesNo, AnswerValue::YesNo(_)) => Some(value.clone()),
        (AnswerKind::Number, AnswerValue::Number(n)) if n.is_finite() => Some(value.clone()),
        (AnswerKind::Choice(options), AnswerValue::Choice(t) | AnswerValue::Text(t))
            if options.contains(t) =>
        {
            Some(AnswerValue::Choice(t.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking() -> Asking {
        Asking {
            attempt: 2,
            fields: vec![
                ("reason".into(), AnswerKind::FreeText),
                ("owner".into(), AnswerKind::YesNo),
                ("units".into(), AnswerKind::Number),
                (
                    "when".into(),
                    AnswerKind::Choice(vec!["this week".into(), "later".into()]),
                ),
            ],
            voicemail: false,
        }
    }

    fn answer(id: &str, value: AnswerValue) -> Answer {
        Answer {
            field_id: id.into(),
            value,
        }
    }

    #[test]
    fn answers_of_the_asked_kind_are_kept_and_the_rest_are_unanswered_not_guessed() {
        let given = vec![
            answer("when", AnswerValue::Text("this week".into())),
            answer("owner", AnswerValue::Text("yes".into())),
            answer("units", AnswerValue::Number(3.0)),
            answer("not-asked", AnswerValue::Text("x".into())),
        ];
        let (kept, unanswered) = typed(Some(&asking()), 2, given);
        assert_eq!(
            kept,
            vec![
                answer("units", AnswerValue::Number(3.0)),
                answer("when", AnswerValue::Choice("this week".into())),
            ]
        );
        assert_eq!(unanswered, vec!["reason", "owner"]);
    }

    #[test]
    fn a_choice_outside_the_options_and_an_empty_text_are_unanswered() {
        let given = vec![
            answer("reason", AnswerValue::Text("  ".into())),
            answer("when", AnswerValue::Choice("next year".into())),
            answer("owner", AnswerValue::YesNo(false)),
            answer("units", AnswerValue::Number(f64::NAN)),
        ];
        let (kept, unanswered) = typed(Some(&asking()), 2, given);
        assert_eq!(kept, vec![answer("owner", AnswerValue::YesNo(false))]);
        assert_eq!(unanswered, vec!["reason", "units", "when"]);
    }

    #[test]
    fn without_a_record_of_the_attempt_the_answers_pass_as_given() {
        let given = vec![answer("owner", AnswerValue::Text("yes".into()))];
        assert_eq!(typed(None, 1, given.clone()), (given.clone(), vec![]));
        assert_eq!(typed(Some(&asking()), 1, given.clone()), (given, vec![]));
    }
}
