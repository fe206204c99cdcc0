//! Test-only qualify plugin whose answers break the contract's ranges: five questions and
//! a reason code no policy allows. The host must refuse both.
use redial_sdk::*;

/// The plugin type exported as the component.
pub struct OutOfRange;

impl QualifyPlugin for OutOfRange {
    fn script(_input: ScriptInput) -> Result<Script, String> {
        let questions = (1..=5)
            .map(|i| Question {
                field_id: format!("q{i}"),
                text: format!("Question {i}?"),
                kind: AnswerKind::FreeText,
            })
            .collect();
        Ok(Script {
            opening: "Hello".into(),
            availability_check: "Is now a good time?".into(),
            questions,
        })
    }

    fn evaluate(_input: EvaluateInput) -> Result<Disposition, String> {
        Ok(Disposition {
            reason_code: ReasonCode::Custom("made-up-code".into()),
            urgency: Urgency::ThisWeek,
            qualification: Qualification::default(),
            next_action: NextAction::AutomatedFollowUp,
            intent_score: 50,
            summary: "out of range".into(),
        })
    }
}

redial_sdk::export_qualify!(wit: "../../../wit", plugin: crate::OutOfRange);
