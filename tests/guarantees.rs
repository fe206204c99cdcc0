//! Property tests of the guarantees the host keeps whatever the plugins decide: the
//! calling window in the callee's local time, the attempt cap and the question cap, over
//! random policies and random signal times.

mod common;

use common::*;
use proptest::prelude::*;
use redial_connectors::{Behaviour, Persona, Simulator};
use redial_core::clock::{Clock, ManualClock};
use redial_core::connectors::{ConnectorError, Connectors, Delivery, Recipient};
use redial_core::policy::{CallingWindow, LocalClock};
use redial_core::records::{Effect, OutboxItem};
use redial_sdk::SignalKind;
use std::sync::{Arc, Mutex};

const ZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::America::Los_Angeles,
    chrono_tz::America::Chicago,
    chrono_tz::Europe::London,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Sydney,
];

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn minute_of_day(tz: chrono_tz::Tz, ms: i64) -> u32 {
    u32::from(LocalClock(tz).moment(ms).local_minute)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The next allowed time is never earlier, always inside the window, unchanged when
    /// already inside, otherwise the window's opening edge (the minute before it is not
    /// allowed), and at most two days away (a window lying wholly in a DST gap skips a day).
    #[test]
    fn calling_window_moves_calls_only_forward_and_into_the_window(
        start in 0u32..1380, len in 1u32..1440, zone in 0usize..ZONES.len(),
        at in 1_700_000_000_000i64..1_900_000_000_000,
    ) {
        let end = (start + len).min(1439);
        prop_assume!(start < end);
        let w = CallingWindow { start: hhmm(start), end: hhmm(end) };
        let tz = ZONES[zone];
        let next = w.next_allowed(tz, at);
        prop_assert!(next >= at);
        prop_assert!(next - at <= 49 * 3_600_000, "moved {} ms", next - at);
        if next != at {
            prop_assert!(!w.allows(tz, next - 60_000), "an earlier minute was allowed");
        }
        let m = minute_of_day(tz, next);
        prop_assert!(m >= start && m < end, "{m} outside {start}..{end}");
        if w.allows(tz, at) {
            prop_assert_eq!(next, at);
        }
    }
}

/// Records every dial (time and question count) on its way to the simulator.
struct Recording {
    inner: Simulator,
    clock: Arc<ManualClock>,
    dials: Mutex<Vec<(i64, usize)>>,
}

impl Connectors for Recording {
    fn deliver(&self, item: &OutboxItem, to: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        if let Effect::Dial { script, .. } = &item.effect {
            self.dials
                .lock()
                .unwrap()
                .push((self.clock.now_ms(), script.questions.len()));
        }
        self.inner.deliver(item, to)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the policy and the time of the missed call: dials happen only inside the
    /// callee's calling window, never more than the attempt cap, never with more questions
    /// than the question cap.
    #[test]
    fn the_engine_keeps_window_attempt_and_question_caps(
        start_h in 6u32..12, end_h in 13u32..22, max_attempts in 1u32..5, max_questions in 1u8..5,
        offset_min in 0i64..(7 * 24 * 60), behaviour in prop_oneof![
            Just(Behaviour::NeverAnswers), Just(Behaviour::Voicemail), Just(Behaviour::BusyThenAnswers),
        ],
    ) {
        let policy = policy_text("lone-star-hvac.toml")
            .replace("calling_window = { start = \"07:00\", end = \"21:00\" }",
                     &format!("calling_window = {{ start = \"{start_h:02}:00\", end = \"{end_h:02}:00\" }}"))
            .replace("max_attempts = 3\nfallback_line", &format!("max_attempts = {max_attempts}\nfallback_line"))
            .replace("max_questions = 3", &format!("max_questions = {max_questions}"))
            .replace("mandatory = [\"timeline\", \"buying-role\"]", "mandatory = []");
        let caller = "+15125550777";
        let persona = Persona::new(behaviour).answer("message", "no heat");
        let l = Loop::at(START_MS + offset_min * 60_000, &[policy], &[(caller, persona)]);
        l.signal("lone-star-hvac", SignalKind::MissedCall, caller, &[("message", "no heat")]);
        let rec = Recording { inner: l.sim.clone(), clock: l.clock.clone(), dials: Mutex::new(vec![]) };
        l.run_with(&rec);
        let dials = rec.dials.into_inner().unwrap();
        prop_assert!(!dials.is_empty());
        prop_assert!(dials.len() as u32 <= max_attempts, "{} dials, cap {max_attempts}", dials.len());
        for (at, questions) in dials {
            let m = minute_of_day(chrono_tz::America::Chicago, at);
            prop_assert!(m >= start_h * 60 && m < end_h * 60, "dial at minute {m}, window {start_h}..{end_h}");
            prop_assert!(questions <= usize::from(max_questions));
        }
    }
}
