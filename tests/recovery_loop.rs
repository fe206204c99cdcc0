//! End-to-end runs of each simulated persona through the real engine, store and wasm
//! plugins, plus the loop's guarantees as a user sees them in the journal. Every test runs
//! twice, on sled and on PostgreSQL (`on_both_stores!`).

mod common;

use common::*;
use redial_connectors::Behaviour;
use redial_core::engine::Ingested;
use redial_core::records::{CaseState, Event};
use redial_runtime::content_hash;
use redial_sdk::{AttemptOutcome, SignalKind::*};

const HVAC: &str = "lone-star-hvac";
const CALLER: &str = "+15125550999";

fn hvac() -> String {
    policy_text("lone-star-hvac.toml")
}

fn one(behaviour: Behaviour) -> (Loop, String) {
    let l = Loop::new(&[hvac()], &[(CALLER, hvac_persona(behaviour))]);
    let id = opened(l.signal(
        HVAC,
        MissedCall,
        CALLER,
        &[("name", "Dana"), ("message", "no heat upstairs")],
    ));
    l.run();
    (l, id)
}

fn outcomes(l: &Loop, id: &str) -> Vec<AttemptOutcome> {
    l.case(id).attempts.into_iter().map(|a| a.outcome).collect()
}

on_both_stores! {
    fn a_caller_who_answers_is_qualified_handed_off_and_written_to_the_crm() {
        let (l, id) = one(Behaviour::Qualifies);
        let case = l.case(&id);
        let CaseState::HandedOff {
            owner,
            acknowledged,
            breached,
            ..
        } = &case.state
        else {
            panic!("{:?}", case.state)
        };
        assert_eq!(owner, "mike@lonestar-hvac.example");
        assert!(
            !acknowledged && *breached,
            "nobody acknowledged, so the SLA escalated"
        );
        assert_eq!(outcomes(&l, &id), [AttemptOutcome::Connected]);
        assert_eq!(l.delivered(&id, "crm"), 3, "contact, call and deal");
        assert_eq!(l.delivered(&id, "handoff"), 1);
        assert_eq!(l.delivered(&id, "escalation"), 1);
        let d = case.disposition.unwrap();
        assert_eq!(d.reason_code.name(), "emergency-repair");
    }
}

on_both_stores! {
    fn every_decision_in_the_journal_names_the_plugin_hash_and_contract_that_made_it() {
        let (l, id) = one(Behaviour::Qualifies);
        let hashes: Vec<String> = [
            "standard-trigger",
            "standard-cadence",
            "bant-qualify",
            "hubspot-crm",
        ]
        .iter()
        .map(|p| content_hash(&std::fs::read(redial_builtin::path(p)).unwrap()))
        .collect();
        let journal = l.journal(&id);
        let decisions = events(&journal, |e| matches!(e, Event::Decision { .. }));
        assert_eq!(
            decisions.len(),
            5,
            "trigger, cadence, script, evaluate, crm"
        );
        for d in decisions {
            let Event::Decision {
                plugin, contract, ..
            } = &d.event
            else {
                unreachable!()
            };
            assert!(hashes.contains(plugin), "{plugin}");
            assert_eq!(
                contract, "0.2.0",
                "the contract the plugin was built against"
            );
        }
    }
}

on_both_stores! {
    fn an_acknowledged_handoff_stops_the_sla_timer() {
        let l = Loop::new(&[hvac()], &[(CALLER, hvac_persona(Behaviour::Qualifies))]);
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[("message", "no heat")]));
        // Run only until the handoff: deliver the dial, then acknowledge before the SLA.
        l.engine.fire_due_timers().unwrap();
        l.engine.deliver_outbox(&l.sim).unwrap();
        assert!(l.engine.acknowledge(&id).unwrap());
        l.run();
        let CaseState::HandedOff {
            acknowledged,
            breached,
            ..
        } = l.case(&id).state
        else {
            panic!()
        };
        assert!(acknowledged && !breached);
        assert_eq!(l.delivered(&id, "escalation"), 0);
    }
}

on_both_stores! {
    fn a_busy_caller_is_retried_sooner_then_qualified() {
        let (l, id) = one(Behaviour::BusyThenAnswers);
        let case = l.case(&id);
        assert_eq!(
            outcomes(&l, &id),
            [AttemptOutcome::Busy, AttemptOutcome::Connected]
        );
        let gap = case.attempts[1].at_unix_ms - case.attempts[0].at_unix_ms;
        assert_eq!(gap, 120_000, "busy retry spacing from the cadence config");
        assert!(matches!(case.state, CaseState::HandedOff { .. }));
    }
}

on_both_stores! {
    fn a_caller_who_declines_gets_the_fallback_message() {
        let (l, id) = one(Behaviour::Declines);
        assert_eq!(
            l.case(&id).state,
            CaseState::Closed {
                reason: "fallback sent".into()
            }
        );
        assert_eq!(l.delivered(&id, "sms"), 1);
        assert_eq!(l.delivered(&id, "dial"), 1);
    }
}

on_both_stores! {
    fn voicemail_and_no_answer_stop_at_the_attempt_cap_then_fall_back() {
        for behaviour in [Behaviour::Voicemail, Behaviour::NeverAnswers] {
            let (l, id) = one(behaviour);
            assert_eq!(
                l.case(&id).attempts.len(),
                3,
                "{behaviour:?}: max_attempts = 3"
            );
            assert_eq!(l.delivered(&id, "dial"), 3);
            assert_eq!(l.delivered(&id, "sms"), 1);
            assert!(matches!(l.case(&id).state, CaseState::Closed { .. }));
        }
    }
}

on_both_stores! {
    fn the_host_caps_attempts_even_when_the_cadence_would_go_on() {
        let policy = hvac().replace(
            "max_attempts = 3\nfallback_line",
            "max_attempts = 1\nfallback_line",
        );
        let l = Loop::new(
            &[policy],
            &[(CALLER, hvac_persona(Behaviour::NeverAnswers))],
        );
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[]));
        l.run();
        assert_eq!(l.delivered(&id, "dial"), 1);
        let journal = l.journal(&id);
        assert_eq!(
            events(
                &journal,
                |e| matches!(e, Event::Guard { rule, .. } if rule == "attempt-cap")
            )
            .len(),
            1
        );
    }
}

on_both_stores! {
    fn a_caller_who_says_dont_call_again_is_opted_out_for_good() {
        let (l, id) = one(Behaviour::OptsOut);
        assert_eq!(
            l.case(&id).state,
            CaseState::Closed {
                reason: "caller opted out".into()
            }
        );
        let again = l.signal(HVAC, MissedCall, CALLER, &[]);
        assert_eq!(again, Ingested::Ignored("caller opted out".into()));
        l.run();
        assert_eq!(l.delivered(&id, "dial"), 1);
    }
}

on_both_stores! {
    fn a_caller_who_asks_for_later_is_called_back_then() {
        let (l, id) = one(Behaviour::CallLater);
        let case = l.case(&id);
        assert!(matches!(
            case.attempts[0].outcome,
            AttemptOutcome::CallLater(_)
        ));
        assert_eq!(
            case.attempts[1].at_unix_ms - case.attempts[0].at_unix_ms,
            2 * 3_600_000
        );
        assert!(matches!(case.state, CaseState::HandedOff { .. }));
    }
}

on_both_stores! {
    fn repeat_signals_join_the_open_case_and_never_start_a_second_callback() {
        let l = Loop::new(
            &[hvac()],
            &[(CALLER, hvac_persona(Behaviour::NeverAnswers))],
        );
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[("name", "Dana")]));
        assert_eq!(
            l.signal(HVAC, Voicemail, CALLER, &[("message", "please call")]),
            Ingested::Joined(id.clone())
        );
        l.engine.fire_due_timers().unwrap();
        assert_eq!(
            l.signal(HVAC, MissedCall, CALLER, &[]),
            Ingested::Joined(id.clone()),
            "joins while dialing"
        );
        l.run();
        let case = l.case(&id);
        assert_eq!(case.signals, 3);
        assert!(case.signal.context.iter().any(|f| f.key == "message"));
        assert_eq!(l.engine.store().cases(Some(HVAC)).unwrap().len(), 1);
        assert_eq!(
            l.delivered(&id, "dial"),
            3,
            "one callback at a time, capped"
        );
    }
}

on_both_stores! {
    fn a_call_at_night_is_moved_into_the_calling_window_and_the_journal_says_so() {
        // 23:30 in Chicago.
        let night = START_MS + (13 * 60 + 30) * 60_000;
        let l = Loop::at(
            night,
            &[hvac()],
            &[(CALLER, hvac_persona(Behaviour::Qualifies))],
        );
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[]));
        l.run();
        let case = l.case(&id);
        let local = redial_core::policy::LocalClock(chrono_tz::America::Chicago)
            .moment(case.attempts[0].at_unix_ms);
        assert_eq!(
            local.local_minute,
            7 * 60,
            "dialled at the window's 07:00 opening"
        );
        let journal = l.journal(&id);
        let guards = events(
            &journal,
            |e| matches!(e, Event::Guard { rule, .. } if rule == "calling-window"),
        );
        assert_eq!(guards.len(), 1);
    }
}

on_both_stores! {
    fn do_not_call_numbers_are_never_called() {
        let policy = hvac().replace("do_not_call = []", &format!("do_not_call = [\"{CALLER}\"]"));
        let l = Loop::new(&[policy], &[]);
        let got = l.signal(HVAC, MissedCall, CALLER, &[]);
        assert_eq!(
            got,
            Ingested::Ignored("caller is on the do-not-call list".into())
        );
        l.run();
        assert!(l.sim.ledger().is_empty());
    }
}

on_both_stores! {
    fn a_replayed_event_changes_nothing() {
        let l = Loop::new(&[hvac()], &[]);
        let signal = redial_core::engine::SignalIn {
            event_id: Some("CA123".into()),
            kind: MissedCall,
            caller: CALLER.into(),
            line: "+15125550200".into(),
            at_ms: START_MS,
            context: vec![],
        };
        assert!(matches!(
            l.engine.ingest(HVAC, signal.clone()).unwrap(),
            Ingested::Opened(_)
        ));
        assert_eq!(l.engine.ingest(HVAC, signal).unwrap(), Ingested::Duplicate);
        assert_eq!(l.engine.store().counters(HVAC).unwrap().signals, 1);
    }
}

on_both_stores! {
    fn a_crashing_plugin_costs_one_decision_and_other_tenants_go_on() {
        let trap = redial_builtin::path("test-trap");
        let broken = hvac()
            .replace("tenant = \"lone-star-hvac\"", "tenant = \"broken-hvac\"")
            .replace(
                "[cadence]\nplugin = \"standard-cadence\"",
                &format!("[cadence]\npath = {:?}", trap.display().to_string()),
            )
            .replace("[cadence.config]", "[cadence.unused]");
        let broken = broken.split("[cadence.unused]").next().unwrap().to_string()
            + &broken
                .split("[qualify]")
                .skip(1)
                .map(|s| format!("[qualify]{s}"))
                .collect::<String>();
        let l = Loop::new(
            &[hvac(), broken],
            &[(CALLER, hvac_persona(Behaviour::Qualifies))],
        );
        let bad = opened(l.signal("broken-hvac", MissedCall, "+15125550111", &[]));
        let good = opened(l.signal(HVAC, MissedCall, CALLER, &[]));
        l.run();
        let journal = l.journal(&bad);
        let failures = events(&journal, |e| matches!(e, Event::PluginFailed { .. }));
        assert_eq!(failures.len(), 1);
        let Event::PluginFailed { error, .. } = &failures[0].event else {
            unreachable!()
        };
        assert!(error.contains("deliberate failure"), "{error}");
        assert!(matches!(l.case(&bad).state, CaseState::HumanReview { .. }));
        assert!(matches!(l.case(&good).state, CaseState::HandedOff { .. }));
    }
}

on_both_stores! {
    fn retry_later_retries_a_failing_plugin_a_bounded_number_of_times() {
        let trap = redial_builtin::path("test-trap");
        let text = hvac().replace(
            "on_plugin_failure = \"human-review\"",
            "on_plugin_failure = \"retry-later\"",
        );
        let text = text.replace(
            "[cadence]\nplugin = \"standard-cadence\"",
            &format!("[cadence]\npath = {:?}", trap.display().to_string()),
        );
        let text = text.split("[cadence.config]").next().unwrap().to_string()
            + &text
                .split("[qualify]")
                .skip(1)
                .map(|s| format!("[qualify]{s}"))
                .collect::<String>();
        let l = Loop::new(&[text], &[]);
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[]));
        l.run();
        let journal = l.journal(&id);
        assert_eq!(
            events(&journal, |e| matches!(e, Event::PluginFailed { .. })).len(),
            4,
            "three retries, then review"
        );
        assert!(matches!(l.case(&id).state, CaseState::HumanReview { .. }));
    }
}

on_both_stores! {
    fn a_disposition_missing_a_mandatory_field_goes_to_human_review_not_the_crm() {
        let persona =
            redial_connectors::Persona::new(Behaviour::Qualifies).answer("timeline", "not sure");
        let l = Loop::new(&[hvac()], &[(CALLER, persona)]);
        let id = opened(l.signal(HVAC, MissedCall, CALLER, &[("message", "no heat")]));
        l.run();
        let CaseState::HumanReview { reason } = l.case(&id).state else {
            panic!()
        };
        assert!(reason.contains("timeline"), "{reason}");
        assert_eq!(l.delivered(&id, "crm"), 0);
    }
}

on_both_stores! {
    fn a_reason_code_the_policy_does_not_allow_goes_to_human_review() {
        let codes = "reason_codes = [\"emergency-repair\", \"pricing-question\", \"information-request\", \"support-issue\"]";
        // A built-in code the tenant did not list is caught by the host's disposition check;
        // a custom one by the runtime's contract check. Either way: human review, no CRM.
        for (allowed, message, expected) in [
            (
                "reason_codes = [\"emergency-repair\"]",
                "quote to replace my AC",
                "pricing-question",
            ),
            (
                "reason_codes = [\"pricing-question\"]",
                "no heat",
                "emergency-repair",
            ),
        ] {
            let l = Loop::new(
                &[hvac().replace(codes, allowed)],
                &[(CALLER, hvac_persona(Behaviour::Qualifies))],
            );
            let id = opened(l.signal(HVAC, MissedCall, CALLER, &[("message", message)]));
            l.run();
            assert!(
                matches!(l.case(&id).state, CaseState::HumanReview { .. }),
                "{expected}"
            );
            assert!(
                serde_json::to_string(&l.journal(&id))
                    .unwrap()
                    .contains(expected)
            );
            assert_eq!(l.delivered(&id, "crm"), 0);
        }
    }
}

on_both_stores! {
    fn zero_retention_keeps_no_answer_text_in_cases_or_journals() {
        let caller = "+442079460399";
        let persona = redial_connectors::Persona::new(Behaviour::Qualifies)
            .answer("role", "Head of ops, I sign off")
            .answer("timeline", "this quarter")
            .answer("current_system", "Spreadsheet Zebra")
            .answer("budget", "about 20k a year");
        let l = Loop::new(
            &[policy_text("northwind-software.toml")],
            &[(caller, persona)],
        );
        let id = opened(l.signal(
            "northwind-software",
            AfterHoursInquiry,
            caller,
            &[("message", "demo please")],
        ));
        l.run();
        assert!(matches!(l.case(&id).state, CaseState::HandedOff { .. }));
        let at_rest = serde_json::to_string(&(
            l.case(&id),
            l.journal(&id),
            l.engine.store().outbox().unwrap(),
        ))
        .unwrap();
        for secret in ["Spreadsheet Zebra", "Head of ops", "about 20k"] {
            assert!(!at_rest.contains(secret), "{secret:?} kept at rest");
        }
    }
}

on_both_stores! {
    fn full_retention_keeps_the_answers_in_the_journal() {
        let (l, id) = one(Behaviour::Qualifies);
        let journal = serde_json::to_string(&l.journal(&id)).unwrap();
        assert!(journal.contains("gas furnace"));
    }
}

on_both_stores! {
    fn delivery_lanes_bound_how_many_dials_wait_on_a_slow_provider_at_once() {
        use redial_core::connectors::{ConnectorError, Connectors, Delivery, Recipient};
        use redial_core::engine::{DeliveryLanes, Engine, LaneConfig, SignalIn};
        use redial_core::records::OutboxItem;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::time::{Duration, Instant};

        /// A provider that takes 100 ms to answer, counting the requests it holds at once.
        #[derive(Default)]
        struct Slow {
            now: AtomicUsize,
            peak: AtomicUsize,
            done: AtomicUsize,
        }
        impl Connectors for Slow {
            fn deliver(
                &self,
                _item: &OutboxItem,
                _: &Recipient<'_>,
            ) -> Result<Delivery, ConnectorError> {
                let held = self.now.fetch_add(1, SeqCst) + 1;
                self.peak.fetch_max(held, SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                self.now.fetch_sub(1, SeqCst);
                self.done.fetch_add(1, SeqCst);
                Ok(Delivery::CallPlaced {
                    provider_id: "call".into(),
                })
            }
        }

        const DIALS: usize = 24;
        let mut peaks = vec![];
        for lanes in [2, 8] {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(redial_core::clock::ManualClock::new(START_MS));
            let engine = Arc::new(Engine::new(
                backend::open_store(&dir.path().join("db")),
                Arc::new(runtime()),
                clock.clone(),
            ));
            engine
                .load_tenant(redial_core::policy::Policy::parse(&hvac(), "test policy").unwrap())
                .unwrap();
            engine.claim_tenants().unwrap();
            for n in 0..DIALS {
                opened(
                    engine
                        .ingest(
                            HVAC,
                            SignalIn {
                                event_id: Some(format!("evt-{n}")),
                                kind: MissedCall,
                                caller: format!("+1512555{n:04}"),
                                line: "+15125550200".into(),
                                at_ms: START_MS,
                                context: vec![],
                            },
                        )
                        .unwrap(),
                );
            }
            let provider = Arc::new(Slow::default());
            let config = LaneConfig {
                tenant_lanes: lanes,
                ..LaneConfig::default()
            };
            let delivery = DeliveryLanes::start(engine.clone(), provider.clone(), config);
            assert_eq!(
                delivery.dispatch().unwrap(),
                DIALS,
                "every first dial handed out"
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while provider.done.load(SeqCst) < DIALS && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(delivery.shutdown(Duration::from_secs(5)), 0);
            assert_eq!(provider.done.load(SeqCst), DIALS, "every dial delivered");
            let peak = provider.peak.load(SeqCst);
            assert!(
                peak <= lanes,
                "{peak} dials waited at once on {lanes} lanes"
            );
            peaks.push(peak);
        }
        // More lanes, more dials waiting on the provider at once: dials/s = lanes ÷ latency.
        assert_eq!(peaks[0], 2, "{peaks:?}");
        assert!(peaks[1] > 4, "{peaks:?}");
    }
}

on_both_stores! {
    fn a_deleted_tenants_timers_and_effects_are_closed_and_the_other_tenants_calls_still_go_out() {
        const SAAS: &str = "northwind-software";
        let (waiting, unsent, other) = ("+15125550901", "+15125550902", "+15125550903");
        let l = Loop::new(
            &[hvac(), policy_text("northwind-software.toml")],
            &[
                (waiting, hvac_persona(Behaviour::NeverAnswers)),
                (unsent, hvac_persona(Behaviour::Qualifies)),
                (other, hvac_persona(Behaviour::Qualifies)),
            ],
        );
        // One HVAC case tried once and waiting for its next attempt (a timer), one whose dial
        // is still in the outbox; then the tenant is deleted.
        let with_timer = opened(l.signal(HVAC, MissedCall, waiting, &[]));
        l.engine.fire_due_timers().unwrap();
        l.engine.deliver_outbox(&l.sim).unwrap();
        assert!(
            l.case(&with_timer).timer.is_some(),
            "{:?}",
            l.case(&with_timer)
        );
        let with_dial = opened(l.signal(HVAC, MissedCall, unsent, &[]));
        l.engine.fire_due_timers().unwrap();
        l.engine.remove_tenant(HVAC).unwrap();

        // Another tenant's new case runs to its end: the loop does not stall on the first's.
        let saas = opened(l.signal(SAAS, MissedCall, other, &[]));
        l.run();
        assert!(
            l.delivered(&saas, "dial") >= 1,
            "the other tenant's callback went out"
        );
        assert!(!l.case(&saas).state.is_open(), "{:?}", l.case(&saas).state);

        // The deleted tenant's cases are closed, saying why, and nothing more left for them.
        for (id, dropped) in [(&with_timer, "timer"), (&with_dial, "dial effect")] {
            let case = l.case(id);
            assert_eq!(
                case.state,
                CaseState::Closed {
                    reason: "tenant removed".into()
                },
                "{id}"
            );
            assert_eq!(case.timer, None);
            let journal = l.journal(id);
            let guard = events(
                &journal,
                |e| matches!(e, Event::Guard { rule, detail } if rule == "tenant-removed" && detail.contains(dropped)),
            );
            assert_eq!(guard.len(), 1, "{id}: {journal:#?}");
        }
        assert_eq!(
            l.delivered(&with_timer, "dial"),
            1,
            "only the attempt before the deletion"
        );
        assert_eq!(l.delivered(&with_dial, "dial"), 0);
        assert_eq!(l.engine.store().outbox_len(), 0);
    }
}
