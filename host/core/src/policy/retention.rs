//! What a tenant's retention lets the host keep at rest, and for how long. The engine asks
//! one question wherever it is about to store text about a caller: "may this kind of text
//! be kept?" ([`Retention::keeps`]), stores a disposition only through
//! [`Retention::redact`], and purges a settled case's detail [`Retention::keep_days`] after
//! its last change (its counts stay in the tenant's rollup).

use redial_sdk::Disposition;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// How long settled cases keep their detail unless the policy says otherwise.
pub const DEFAULT_KEEP_DAYS: u32 = 90;

/// The longest `keep_days` the host accepts (ten years): a longer promise is not one an
/// operator can keep.
pub const MAX_KEEP_DAYS: u32 = 3650;

/// `retention`: what is kept at rest about calls, and for how long. Written either as the
/// mode alone (`retention = "summary"`, detail kept [`DEFAULT_KEEP_DAYS`]) or as a table
/// (`retention = { mode = "full", keep_days = 30 }`).
///
/// | mode | conversation (answers, transcript) | notes (summary, qualification values, replies, context in packets, answers for the CRM) | free text of an open case (signal context, CRM lookup) | decision fields |
/// |---|---|---|---|---|
/// | `full` | kept | kept | kept | kept |
/// | `summary` | not kept | kept | kept | kept |
/// | `zero` | not kept | not kept | only while the case is open | kept |
///
/// Whatever the mode, a settled case (not open, no timer, nothing left to deliver) keeps
/// its detail `keep_days` after its last change; then its projection, journal and indexes
/// are purged and only its counts remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// What is kept.
    pub mode: RetentionMode,
    /// Days a settled case keeps its detail.
    pub keep_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            mode: RetentionMode::Full,
            keep_days: DEFAULT_KEEP_DAYS,
        }
    }
}

/// What is kept at rest about calls (see [`Retention`]).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetentionMode {
    /// Transcript, answers and decision fields.
    #[default]
    Full,
    /// Decision fields and the one-line summary; no transcript, no answer text.
    Summary,
    /// Decision fields only.
    Zero,
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RetentionVisitor;

        impl<'de> Visitor<'de> for RetentionVisitor {
            type Value = Retention;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#"a mode ("full", "summary" or "zero") or a table { mode = "...", keep_days = N }"#,
                )
            }

            fn visit_str<E: de::Error>(self, mode: &str) -> Result<Retention, E> {
                let mode = RetentionMode::deserialize(de::value::StrDeserializer::new(mode))?;
                Ok(Retention {
                    mode,
                    ..Retention::default()
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Retention, M::Error> {
                let mut retention = Retention::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "mode" => retention.mode = map.next_value()?,
                        "keep_days" => retention.keep_days = map.next_value()?,
                        other => {
                            return Err(de::Error::unknown_field(other, &["mode", "keep_days"]));
                        }
                    }
                }
                Ok(retention)
            }
        }

        deserializer.deserialize_any(RetentionVisitor)
    }
}

/// Kinds of text about a caller, by how much of what they said they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// What the caller said on the call, word for word: the answers and the transcript,
    /// and a plugin's error message (which may quote them).
    Conversation,
    /// What the business needs to act on a case: the disposition's summary and
    /// qualification values, the caller's SMS replies, the signal's context in a handoff
    /// packet, and the answers handed to the CRM plugin.
    Notes,
    /// Free text a case carries while it is open (the signal's context: web-form text, a
    /// voicemail transcript, what the CRM lookup found), for the callback to use.
    OpenCaseContext,
}

impl Retention {
    /// Whether text of this kind may be kept at rest once the case is settled (or, for
    /// conversation and notes, at all) under this mode.
    pub fn keeps(self, text: Text) -> bool {
        match self.mode {
            RetentionMode::Full => true,
            RetentionMode::Summary => text != Text::Conversation,
            RetentionMode::Zero => false,
        }
    }

    /// How long a settled case keeps its detail, in ms.
    pub fn keep_ms(self) -> i64 {
        i64::from(self.keep_days) * 24 * 3600 * 1000
    }

    /// Why this setting cannot be honoured, naming the key, if it cannot.
    pub fn check(self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_KEEP_DAYS).contains(&self.keep_days) {
            return Err((
                "retention.keep_days",
                format!(
                    "{} is outside 1..={MAX_KEEP_DAYS}: purges run hourly, so less than a day \
                     cannot be kept to, and more than ten years is not a retention limit",
                    self.keep_days
                ),
            ));
        }
        Ok(())
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

    fn mode(mode: RetentionMode) -> Retention {
        Retention {
            mode,
            keep_days: 30,
        }
    }

    #[test]
    fn each_mode_keeps_what_its_table_row_says() {
        use RetentionMode::*;
        use Text::*;
        let kept = |mode| {
            let r = Retention { mode, keep_days: 1 };
            [
                r.keeps(Conversation),
                r.keeps(Notes),
                r.keeps(OpenCaseContext),
            ]
        };
        assert_eq!(kept(Full), [true, true, true]);
        assert_eq!(kept(Summary), [false, true, true]);
        assert_eq!(kept(Zero), [false, false, false]);
    }

    #[test]
    fn zero_retention_redacts_the_summary_and_values_but_not_the_decision() {
        let example: serde_json::Value =
            serde_json::from_str(include_str!("../../../../plugins/examples/crm.json")).unwrap();
        let mut disposition: Disposition =
            serde_json::from_value(example["disposition"].clone()).unwrap();
        disposition.qualification.timeline.value = Some("this month".into());
        let zero = mode(RetentionMode::Zero).redact(&disposition);
        assert!(zero.summary.is_empty());
        assert_eq!(zero.qualification.timeline.value, None);
        assert_eq!(
            zero.qualification.timeline.confirmed,
            disposition.qualification.timeline.confirmed
        );
        assert_eq!(zero.reason_code, disposition.reason_code);
        assert_eq!(zero.intent_score, disposition.intent_score);
        assert_eq!(
            mode(RetentionMode::Summary).redact(&disposition),
            disposition
        );
    }

    #[derive(Deserialize)]
    struct Doc {
        retention: Retention,
    }

    fn parse(text: &str) -> Result<Retention, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.retention)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn retention_reads_as_a_mode_or_as_a_table_with_keep_days() {
        let summary = parse(r#"retention = "summary""#).unwrap();
        assert_eq!(
            summary,
            mode_days(RetentionMode::Summary, DEFAULT_KEEP_DAYS)
        );
        let table = parse(r#"retention = { mode = "zero", keep_days = 30 }"#).unwrap();
        assert_eq!(table, mode_days(RetentionMode::Zero, 30));
        let days_only = parse("retention = { keep_days = 7 }").unwrap();
        assert_eq!(days_only, mode_days(RetentionMode::Full, 7));
        let unknown = parse(r#"retention = { mode = "full", keep = 3 }"#).unwrap_err();
        assert!(unknown.contains("keep"), "{unknown}");
        let bad_mode = parse(r#"retention = "forever""#).unwrap_err();
        assert!(bad_mode.contains("forever"), "{bad_mode}");
    }

    #[test]
    fn a_keep_days_the_host_cannot_honour_is_refused_naming_the_key() {
        for days in [0, MAX_KEEP_DAYS + 1] {
            let (key, why) = mode_days(RetentionMode::Full, days).check().unwrap_err();
            assert_eq!(key, "retention.keep_days");
            assert!(why.contains(&days.to_string()), "{why}");
        }
        assert!(mode_days(RetentionMode::Full, 1).check().is_ok());
    }

    fn mode_days(mode: RetentionMode, keep_days: u32) -> Retention {
        Retention { mode, keep_days }
    }
}
