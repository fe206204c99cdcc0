//! `standard-trigger`: decides which signals start a recovery case.
//!
//! Config (the `[trigger.config]` table of a tenant policy):
//! ```toml
//! kinds = ["missed-call", "voicemail"]      # which signal kinds count (default: all)
//! business_days = [0, 1, 2, 3, 4]            # local weekdays, 0 = Monday
//! open = "08:00"                             # business hours, local time
//! close = "18:00"
//! after_hours = "recover"                    # "recover" | "ignore"
//! after_hours_priority = 40                  # priority outside business hours
//! priority = 70                              # priority inside business hours
//! form_priority = 90                         # failed call after a web form
//! blocked_numbers = ["+15550000000"]         # never call these back
//! spam_prefixes = ["+1900"]                  # premium-rate and known spam ranges
//! ignore_open_case = true                    # the host joins such signals to the case
//! ```
#![no_std]

use redial_sdk::prelude::*;
redial_sdk::trap_on_panic!();
use redial_sdk::{
    Field, Recovery, SignalKind, TriggerDecision, TriggerInput, TriggerPlugin, config,
};
use serde::Deserialize;

/// The plugin's config; see the crate docs for the TOML keys.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    kinds: Vec<SignalKind>,
    business_days: Vec<u8>,
    open: String,
    close: String,
    after_hours: AfterHours,
    after_hours_priority: u8,
    priority: u8,
    form_priority: u8,
    blocked_numbers: Vec<String>,
    spam_prefixes: Vec<String>,
    ignore_open_case: bool,
}

/// What to do with signals outside business hours.
#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum AfterHours {
    Recover,
    Ignore,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kinds: vec![
                SignalKind::MissedCall,
                SignalKind::AfterHoursInquiry,
                SignalKind::FailedCallAfterForm,
                SignalKind::Voicemail,
            ],
            business_days: vec![0, 1, 2, 3, 4],
            open: "08:00".into(),
            close: "18:00".into(),
            after_hours: AfterHours::Recover,
            after_hours_priority: 40,
            priority: 70,
            form_priority: 90,
            blocked_numbers: Vec::new(),
            spam_prefixes: Vec::new(),
            ignore_open_case: true,
        }
    }
}

/// Parses "HH:MM" into minutes since midnight.
fn minute_of(hhmm: &str) -> Result<u16, String> {
    let (h, m) = hhmm
        .split_once(':')
        .ok_or_else(|| format!("invalid time {hhmm:?}: expected HH:MM"))?;
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| format!("invalid hour in {hhmm:?}"))?,
        m.parse()
            .map_err(|_| format!("invalid minute in {hhmm:?}"))?,
    );
    if h > 24 || m > 59 || h * 60 + m > 1440 {
        return Err(format!("invalid time {hhmm:?}: out of range"));
    }
    Ok(h * 60 + m)
}

/// The plugin type exported as the component.
pub struct StandardTrigger;

impl TriggerPlugin for StandardTrigger {
    fn decide(input: TriggerInput) -> Result<TriggerDecision, String> {
        let cfg: Config = config::parse(&input.config)?;
        let signal = &input.signal;
        let ignore = |reason: &str| Ok(TriggerDecision::Ignore(reason.to_string()));

        if !cfg.kinds.contains(&signal.kind) {
            return ignore("signal kind not handled by this tenant");
        }
        if input.history.opted_out {
            return ignore("caller opted out");
        }
        if cfg.blocked_numbers.iter().any(|n| n == &signal.caller) {
            return ignore("caller is on the blocked list");
        }
        if cfg
            .spam_prefixes
            .iter()
            .any(|p| signal.caller.starts_with(p))
        {
            return ignore("caller matches a spam prefix");
        }
        if cfg.ignore_open_case && input.history.open_case {
            return ignore("caller already has an open case");
        }

        let (open, close) = (minute_of(&cfg.open)?, minute_of(&cfg.close)?);
        let minute = signal.at.local_minute;
        let in_hours = cfg.business_days.contains(&signal.at.local_weekday)
            && minute >= open
            && minute < close;
        if !in_hours && cfg.after_hours == AfterHours::Ignore {
            return ignore("outside business hours");
        }

        let priority = match (signal.kind, in_hours) {
            (SignalKind::FailedCallAfterForm, _) => cfg.form_priority,
            (_, true) => cfg.priority,
            (_, false) => cfg.after_hours_priority,
        };
        let mut known: Vec<Field> = signal
            .context
            .iter()
            .filter(|f| !f.value.trim().is_empty())
            .cloned()
            .collect();
        if !in_hours {
            known.push(Field::new("called-after-hours", "true"));
        }
        if input.history.prior_cases > 0 {
            known.push(Field::new("returning-caller", "true"));
        }
        Ok(TriggerDecision::Recover(Recovery {
            priority: priority.min(100),
            known,
        }))
    }
}

redial_sdk::export_trigger!(wit: "../../wit", plugin: crate::StandardTrigger);

#[cfg(test)]
mod tests {
    use super::*;
    use redial_sdk::{CallerHistory, Moment, Signal};

    fn input(kind: SignalKind, weekday: u8, minute: u16, config: &str) -> TriggerInput {
        TriggerInput {
            signal: Signal {
                kind,
                caller: "+15551230000".into(),
                line: "+15559870000".into(),
                at: Moment {
                    unix_ms: 0,
                    utc_offset_minutes: 0,
                    local_weekday: weekday,
                    local_minute: minute,
                },
                context: vec![Field::new("name", "Dana")],
            },
            history: CallerHistory::default(),
            config: config.into(),
        }
    }

    #[test]
    fn missed_call_in_hours_is_recovered_with_context() {
        let d = StandardTrigger::decide(input(SignalKind::MissedCall, 1, 600, "")).unwrap();
        let TriggerDecision::Recover(r) = d else {
            panic!("{d:?}")
        };
        assert_eq!(r.priority, 70);
        assert_eq!(r.known, vec![Field::new("name", "Dana")]);
    }

    #[test]
    fn after_hours_can_be_ignored() {
        let cfg = r#"{"after_hours": "ignore"}"#;
        let d = StandardTrigger::decide(input(SignalKind::MissedCall, 1, 23 * 60, cfg)).unwrap();
        assert_eq!(d, TriggerDecision::Ignore("outside business hours".into()));
        let d = StandardTrigger::decide(input(SignalKind::MissedCall, 6, 600, cfg)).unwrap();
        assert!(matches!(d, TriggerDecision::Ignore(_)), "Sunday is closed");
    }

    #[test]
    fn blocked_and_spam_numbers_are_ignored() {
        let cfg = r#"{"blocked_numbers": ["+15551230000"]}"#;
        let d = StandardTrigger::decide(input(SignalKind::MissedCall, 1, 600, cfg)).unwrap();
        assert!(matches!(d, TriggerDecision::Ignore(r) if r.contains("blocked")));
        let cfg = r#"{"spam_prefixes": ["+1555"]}"#;
        let d = StandardTrigger::decide(input(SignalKind::MissedCall, 1, 600, cfg)).unwrap();
        assert!(matches!(d, TriggerDecision::Ignore(r) if r.contains("spam")));
    }

    #[test]
    fn unhandled_kind_and_open_case_are_ignored() {
        let cfg = r#"{"kinds": ["missed-call"]}"#;
        let d = StandardTrigger::decide(input(SignalKind::Voicemail, 1, 600, cfg)).unwrap();
        assert!(matches!(d, TriggerDecision::Ignore(_)));
        let mut i = input(SignalKind::MissedCall, 1, 600, "");
        i.history.open_case = true;
        assert!(matches!(
            StandardTrigger::decide(i).unwrap(),
            TriggerDecision::Ignore(_)
        ));
    }

    #[test]
    fn bad_config_is_an_error_naming_the_key() {
        let err =
            StandardTrigger::decide(input(SignalKind::MissedCall, 1, 600, r#"{"opne": "x"}"#))
                .unwrap_err();
        assert!(err.contains("opne"), "{err}");
    }
}
