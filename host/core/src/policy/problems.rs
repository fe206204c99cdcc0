//! Where in its text a policy is wrong: every syntax error (the TOML parser recovers and
//! reads on), or else the error of meaning, each placed at its line, so an editor can show
//! them beside the text.

use super::{Policy, PolicyError};
use serde::Serialize;
use toml::de::{DeTable, DeValue};

/// One thing wrong with a policy's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line, when the problem has a place in the text (a missing key has none).
    pub line: Option<usize>,
    /// 1-based column on that line.
    pub column: Option<usize>,
    /// The key at fault, when one is named (`handoff.owners`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Every syntax error in `text`; none when it parses as TOML.
pub fn syntax_problems(text: &str) -> Vec<Problem> {
    let (_, errors) = DeTable::parse_recoverable(text);
    errors
        .iter()
        .map(|e| {
            let (line, column) = e.span().map(|s| place(text, s.start)).unzip();
            Problem {
                line,
                column,
                key: None,
                message: e.message().trim_end().to_string(),
            }
        })
        .collect()
}

/// `err` (which `text` was refused with) placed at its line: a type or unknown-key error at
/// the span toml reported, a refused value at its key.
pub fn locate(text: &str, err: &PolicyError) -> Problem {
    let (span, key, message) = match err {
        PolicyError::Parse { span, reason, .. } => (span.clone(), None, reason.clone()),
        PolicyError::Invalid { key, message, .. } => {
            (key_span(text, key), Some(key.clone()), message.clone())
        }
        PolicyError::Read { .. } => (None, None, err.to_string()),
    };
    let (line, column) = span.map(|s| place(text, s.start)).unzip();
    Problem {
        line,
        column,
        key,
        message,
    }
}

impl Policy {
    /// Checks `text` as [`Policy::parse`] does and, for a tenant's own submission, as
    /// [`Policy::check_submitted`] does; refused, it says every syntax error, or the first
    /// error of meaning, each at its line.
    pub fn parse_placed(text: &str, origin: &str, submitted: bool) -> Result<Policy, Vec<Problem>> {
        let syntax = syntax_problems(text);
        if !syntax.is_empty() {
            return Err(syntax);
        }
        let policy = Policy::parse(text, origin).map_err(|e| vec![locate(text, &e)])?;
        if submitted {
            policy
                .check_submitted(origin)
                .map_err(|e| vec![locate(text, &e)])?;
        }
        Ok(policy)
    }
}

/// 1-based line and column of byte `offset`.
fn place(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the key path `key` (`handoff.owners`, `voice.settings.api_key`) is written: the
/// deepest part of it the text has, so a key that is missing points at its table.
fn key_span(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = doc.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let part = part.split('[').next().unwrap_or(part);
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else {
            break;
        };
        found = Some(k.span());
        match v.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::MINIMAL;

    fn line_of(text: &str, needle: &str) -> Option<usize> {
        text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
    }

    #[test]
    fn every_syntax_error_is_placed_at_its_line() {
        let text = "tenant = \"t\"\nname = = \"x\"\ntimezone = \"UTC\"\n[handoff\nowners = []\n";
        let problems = syntax_problems(text);
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert!(lines.contains(&Some(2)), "{problems:?}");
        assert!(lines.contains(&Some(4)), "{problems:?}");
    }

    #[test]
    fn a_refused_value_is_placed_at_its_key_and_an_unknown_key_at_its_span() {
        let bad_zone = MINIMAL.replace("America/Chicago", "Mars/Olympus");
        let problems = Policy::parse_placed(&bad_zone, "t.toml", false).unwrap_err();
        assert_eq!(problems[0].line, line_of(&bad_zone, "Mars"), "{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some("timezone"));

        let unknown = MINIMAL.replace("[handoff]\n", "[handoff]\nowner = \"x\"\n");
        let problems = Policy::parse_placed(&unknown, "t.toml", false).unwrap_err();
        assert_eq!(
            problems[0].line,
            line_of(&unknown, "owner ="),
            "{problems:?}"
        );
        assert!(problems[0].message.contains("owner"), "{problems:?}");
    }

    #[test]
    fn a_literal_credential_in_a_submission_is_placed_at_its_key() {
        let text = format!("{MINIMAL}\n[webhooks]\nsigning_secret = \"whsec_abc\"\n");
        assert!(Policy::parse_placed(&text, "t.toml", false).is_ok());
        let problems = Policy::parse_placed(&text, "t.toml", true).unwrap_err();
        assert_eq!(
            problems[0].line,
            line_of(&text, "signing_secret"),
            "{problems:?}"
        );
        assert_eq!(problems[0].key.as_deref(), Some("webhooks.signing_secret"));
    }
}
