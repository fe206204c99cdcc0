//! What a tenant's retention mode lets the host keep at rest. The engine asks one question
//! wherever it is about to store text about a caller: "may this kind of text be kept?"
//! ([`Retention::keeps`]), and stores a disposition only through [`Retention::redact`].

use redial_sdk::Disposition;
use serde::{Deserialize, Serialize};

/// `retention`: what is kept at rest about calls.
///
/// | mode | conversation (answers, transcript) | notes (summary, qualification values, replies, context in packets, answers for the CRM) | decision fields |
/// |---|---|---|---|
/// | `full` | kept | kept | kept |
/// | `summary` | not kept | kept | kept |
/// | `zero` | not kept | not kept | kept |
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retention {
    /// Transcript, answers and decision fields.
    #[default]
    Full,
    /// Decision fields and the one-line summary; no transcript, no answer text.
    Summary,
    /// Decision fields only.
    Zero,
}

/// Kinds of text about a caller, by how much of what they said they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// What the caller said on the call, word for word: the answers and the transcript.
    Conversation,
    /// What the business needs to act on a case: the disposition's summary and
    /// qualification values, the caller's SMS replies, the signal's context in a handoff
    /// packet, and the answers handed to the CRM plugin.
    Notes,
}

impl Retention {
    /// Whether text of this kind may be kept at rest under this mode.
    pub fn keeps(self, text: Text) -> bool {
        match self {
            Retention::Full => true,
            Retention::Summary => text == Text::Notes,
            Retention::Zero => false,
        }
    }

    /// The disposition as it may be kept: without its summary and qualification values
    /// when notes may not be kept (the decision fields themselves always stay).
    pub fn redact(self, disposition: &Disposition) -> Disposition {
        let mut kept = disposition.clone();
        if !self.keeps(Text::Notes) {
            kept.summary = String::new();
            let q = &mut kept.qualification;
            for field in [
                &mut q.buying_role,
                &mut q.timeline,
                &mut q.existing_system,
                &mut q.budget_range,
            ] {
                field.value = None;
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_keeps_what_its_table_row_says() {
        use Retention::*;
        use Text::*;
        let kept = |mode: Retention| [mode.keeps(Conversation), mode.keeps(Notes)];
        assert_eq!(kept(Full), [true, true]);
        assert_eq!(kept(Summary), [false, true]);
        assert_eq!(kept(Zero), [false, false]);
    }

    #[test]
    fn zero_retention_redacts_the_summary_and_values_but_not_the_decision() {
        let example: serde_json::Value =
            serde_json::from_str(include_str!("../../../../plugins/examples/crm.json")).unwrap();
        let mut disposition: Disposition =
            serde_json::from_value(example["disposition"].clone()).unwrap();
        disposition.qualification.timeline.value = Some("this month".into());
        let zero = Retention::Zero.redact(&disposition);
        assert!(zero.summary.is_empty());
        assert_eq!(zero.qualification.timeline.value, None);
        assert_eq!(
            zero.qualification.timeline.confirmed,
            disposition.qualification.timeline.confirmed
        );
        assert_eq!(zero.reason_code, disposition.reason_code);
        assert_eq!(zero.intent_score, disposition.intent_score);
        assert_eq!(Retention::Summary.redact(&disposition), disposition);
    }
}
