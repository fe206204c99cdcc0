//! `standard-cadence`: when to call back, how often, and what to do when it fails.
//!
//! Config (the `[cadence.config]` table of a tenant policy):
//! ```toml
//! first_call_delay_secs = 0             # immediate first callback
//! retry_spacing_secs = [300, 1800, 7200] # after no answer / voicemail / failed dial
//! busy_retry_secs = 120                 # busy: retry sooner
//! max_attempts = 3
//! fallback_channel = "sms"              # "sms" | "email"
//! fallback_message = "Sorry we missed you! Book a time here:"
//! booking_link = "https://book.example.com/acme"
//! fallback_after_max_attempts = true    # send the fallback when attempts run out
//! ```
#![no_std]

use redial_sdk::prelude::*;
redial_sdk::trap_on_panic!();
use redial_sdk::{
    AttemptOutcome, CadenceDecision, CadenceInput, CadencePlugin, Fallback, FallbackChannel, config,
};
use serde::Deserialize;

/// The plugin's config; see the crate docs for the TOML keys.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    first_call_delay_secs: u32,
    retry_spacing_secs: Vec<u32>,
    busy_retry_secs: u32,
    max_attempts: u32,
    fallback_channel: FallbackChannel,
    fallback_message: String,
    booking_link: Option<String>,
    fallback_after_max_attempts: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            first_call_delay_secs: 0,
            retry_spacing_secs: vec![300, 1800, 7200],
            busy_retry_secs: 120,
            max_attempts: 3,
            fallback_channel: FallbackChannel::Sms,
            fallback_message: "Sorry we missed you! Reply here or book a time that suits you."
                .into(),
            booking_link: None,
            fallback_after_max_attempts: true,
        }
    }
}

impl Config {
    fn fallback(&self) -> CadenceDecision {
        CadenceDecision::Fallback(Fallback {
            channel: self.fallback_channel,
            message: self.fallback_message.clone(),
            link: self.booking_link.clone(),
        })
    }

    /// Spacing before retry number `n` (1-based); the last spacing repeats.
    fn spacing(&self, n: usize) -> u32 {
        let idx = n
            .saturating_sub(1)
            .min(self.retry_spacing_secs.len().saturating_sub(1));
        self.retry_spacing_secs.get(idx).copied().unwrap_or(900)
    }
}

/// The plugin type exported as the component.
pub struct StandardCadence;

impl CadencePlugin for StandardCadence {
    fn next(input: CadenceInput) -> Result<CadenceDecision, String> {
        let cfg: Config = config::parse(&input.config)?;
        let attempts = &input.case.attempts;
        let Some(last) = attempts.last() else {
            return Ok(CadenceDecision::CallAfter(cfg.first_call_delay_secs));
        };
        match &last.outcome {
            AttemptOutcome::Connected => return Ok(CadenceDecision::GiveUp("reached".into())),
            AttemptOutcome::Declined => return Ok(cfg.fallback()),
            _ => {}
        }
        if attempts.len() as u32 >= cfg.max_attempts {
            return Ok(if cfg.fallback_after_max_attempts {
                cfg.fallback()
            } else {
                CadenceDecision::GiveUp(format!("no answer after {} attempts", attempts.len()))
            });
        }
        Ok(match &last.outcome {
            AttemptOutcome::CallLater(at) => CadenceDecision::CallAt(*at),
            AttemptOutcome::Busy => CadenceDecision::CallAfter(cfg.busy_retry_secs),
            _ => CadenceDecision::CallAfter(cfg.spacing(attempts.len())),
        })
    }
}

redial_sdk::export_cadence!(wit: "../../wit", plugin: crate::StandardCadence);

#[cfg(test)]
mod tests {
    use super::*;
    use redial_sdk::{Attempt, CaseView, Moment, Signal, SignalKind};

    fn input(outcomes: &[AttemptOutcome], config: &str) -> CadenceInput {
        let now = Moment {
            unix_ms: 1_000_000,
            utc_offset_minutes: 0,
            local_weekday: 0,
            local_minute: 600,
        };
        CadenceInput {
            case: CaseView {
                case_id: "c1".into(),
                signal: Signal {
                    kind: SignalKind::MissedCall,
                    caller: "+15551230000".into(),
                    line: "+15559870000".into(),
                    at: now,
                    context: vec![],
                },
                attempts: outcomes
                    .iter()
                    .map(|o| Attempt {
                        at_unix_ms: 0,
                        outcome: o.clone(),
                    })
                    .collect(),
                now,
            },
            config: config.into(),
        }
    }

    #[test]
    fn first_call_is_immediate() {
        assert_eq!(
            StandardCadence::next(input(&[], "")),
            Ok(CadenceDecision::CallAfter(0))
        );
    }

    #[test]
    fn busy_is_retried_sooner_than_no_answer() {
        let busy = StandardCadence::next(input(&[AttemptOutcome::Busy], "")).unwrap();
        let none = StandardCadence::next(input(&[AttemptOutcome::NoAnswer], "")).unwrap();
        assert_eq!(busy, CadenceDecision::CallAfter(120));
        assert_eq!(none, CadenceDecision::CallAfter(300));
        let second = StandardCadence::next(input(
            &[AttemptOutcome::NoAnswer, AttemptOutcome::Voicemail],
            "",
        ));
        assert_eq!(second, Ok(CadenceDecision::CallAfter(1800)));
    }

    #[test]
    fn declined_gets_the_fallback_with_booking_link() {
        let cfg = r#"{"booking_link": "https://book.example.com/x"}"#;
        let d = StandardCadence::next(input(&[AttemptOutcome::Declined], cfg)).unwrap();
        let CadenceDecision::Fallback(f) = d else {
            panic!("{d:?}")
        };
        assert_eq!(f.link.as_deref(), Some("https://book.example.com/x"));
        assert_eq!(f.channel, FallbackChannel::Sms);
    }

    #[test]
    fn call_later_is_honoured() {
        let d = StandardCadence::next(input(&[AttemptOutcome::CallLater(5_000_000)], "")).unwrap();
        assert_eq!(d, CadenceDecision::CallAt(5_000_000));
    }

    #[test]
    fn gives_up_or_falls_back_after_max_attempts() {
        let three = [
            AttemptOutcome::NoAnswer,
            AttemptOutcome::NoAnswer,
            AttemptOutcome::NoAnswer,
        ];
        assert!(matches!(
            StandardCadence::next(input(&three, "")),
            Ok(CadenceDecision::Fallback(_))
        ));
        let cfg = r#"{"fallback_after_max_attempts": false}"#;
        assert!(matches!(
            StandardCadence::next(input(&three, cfg)),
            Ok(CadenceDecision::GiveUp(_))
        ));
    }
}
