//! The loop's flows on the reference plugins compiled natively ([`NativePolicy`]) and the
//! in-memory store: no wasm, no disk, so each runs in milliseconds. The same behaviour on
//! wasm components and sled is covered end to end in `tests/`.

use super::*;
use crate::clock::ManualClock;
use crate::connectors::{ConnectorError, Delivery, Recipient};
use crate::records::{CaseState, Effect, Event, TimerKind};
use crate::scheduler::run_simulated;
use crate::store::memory::MemoryStore;
use redial_runtime::{NativePolicy, RuntimeConfig};
use redial_sdk::{
    Answer, AnswerKind, AnswerValue, AttemptOutcome, CadenceDecision, CadenceInput, CadencePlugin,
    SignalKind, TriggerDecision, TriggerInput, TriggerPlugin,
};

/// Tuesday 2025-11-25, 10:00 in Austin: inside the HVAC tenant's calling window.
const START_MS: i64 = 1_764_086_400_000;
const TENANT: &str = "lone-star-hvac";
const CALLER: &str = "+15125550111";
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The HVAC example policy with `edit` applied to its text.
fn policy(edit: impl Fn(String) -> String) -> Policy {
    let path = Policy::default_dir().join("lone-star-hvac.toml");
    let text = std::fs::read_to_string(path).unwrap();
    Policy::parse(&edit(text), "lone-star-hvac.toml").unwrap()
}

/// Slot plugins as native code, in [`Slot::ALL`] order.
struct Plugins {
    trigger: NativePolicy,
    cadence: NativePolicy,
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins {
            trigger: NativePolicy::trigger::<standard_trigger::StandardTrigger>(),
            cadence: NativePolicy::cadence::<standard_cadence::StandardCadence>(),
        }
    }
}

/// An engine on the in-memory store with one tenant on native plugins.
fn start(policy: Policy, plugins: Plugins) -> (Engine, Arc<ManualClock>) {
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig::default()).unwrap());
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = Engine::new(Arc::new(MemoryStore::new()), runtime.clone(), clock.clone());
    let native = [
        runtime.native("trigger", plugins.trigger),
        runtime.native("cadence", plugins.cadence),
        runtime.native(
            "bant-qualify",
            NativePolicy::qualify::<bant_qualify::BantQualify>(),
        ),
        runtime.native(
            "hubspot-crm",
            NativePolicy::crm::<hubspot_crm::HubspotCrm>(),
        ),
    ];
    engine.load_tenant_with(policy, native);
    (engine, clock)
}

/// A callee who picks up and answers every question as `answer` says.
struct Callee {
    outcome: AttemptOutcome,
    answer: fn(&str) -> &'static str,
}

impl Connectors for Callee {
    fn deliver(&self, item: &OutboxItem, _: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        let Effect::Dial { script, .. } = &item.effect else {
            return Ok(Delivery::Done);
        };
        // As a provider fills the dial's schema: a yes/no question's answer as a boolean.
        let answers: Vec<Answer> = script
            .questions
            .iter()
            .map(|q| {
                let said = (self.answer)(&q.field_id);
                match q.kind {
                    AnswerKind::YesNo if said.starts_with("yes") => Answer {
                        field_id: q.field_id.clone(),
                        value: AnswerValue::YesNo(true),
                    },
                    _ => Answer::text(q.field_id.clone(), said),
                }
            })
            .collect();
        let transcript: Vec<_> = answers.iter().map(|a| a.value.as_text()).collect();
        Ok(Delivery::CallEnded(CallReport {
            outcome: self.outcome.clone(),
            transcript: Some(transcript.join(" / ")),
            answers,
            opt_out: false,
        }))
    }
}

/// An HVAC customer with an emergency: a same-day job, and the homeowner.
fn urgent_homeowner(field: &str) -> &'static str {
    match field {
        "timeline" => "today please, no heat at all",
        "role" => "yes, I own the house",
        _ => "gas furnace, ten years old",
    }
}

fn missed_call(event: &str) -> SignalIn {
    SignalIn {
        event_id: Some(event.into()),
        kind: SignalKind::MissedCall,
        caller: CALLER.into(),
        line: "+15125550200".into(),
        at_ms: START_MS,
        context: vec![Field::new("name", "Dana")],
    }
}

/// Ingests one missed call and runs the loop until nothing is left to do.
fn run(engine: &Engine, clock: &ManualClock, callee: &Callee) -> CaseRecord {
    let Ingested::Opened(case) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("the missed call opened no case");
    };
    run_simulated(engine, callee, clock, |_| Ok::<_, EngineError>(None)).unwrap();
    engine.store().case(&case).unwrap().unwrap()
}

fn journal(engine: &Engine, case: &CaseRecord) -> Vec<Event> {
    let entries = engine.store().journal(&case.id).unwrap();
    entries.into_iter().map(|e| e.event).collect()
}

const ANSWERS: Callee = Callee {
    outcome: AttemptOutcome::Connected,
    answer: urgent_homeowner,
};

#[test]
fn an_urgent_qualified_caller_goes_to_an_owner_with_an_sla_timer() {
    let (engine, clock) = start(policy(|p| p), Plugins::default());
    let case = run(&engine, &clock, &ANSWERS);
    let CaseState::HandedOff {
        owner,
        sla_deadline_ms,
        ..
    } = &case.state
    else {
        panic!("not handed off: {:?}", case.state);
    };
    assert_eq!(owner, "mike@lonestar-hvac.example");
    let events = journal(&engine, &case);
    let notice = events
        .iter()
        .any(|e| matches!(e, Event::Delivered { key } if key.ends_with("handoff")));
    assert!(notice, "the owner was notified: {events:?}");
    // Unacknowledged, the SLA ran out and was escalated on the simulated clock.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SlaBreached { .. }))
    );
    assert!(*sla_deadline_ms > START_MS);
}

#[test]
fn a_reason_code_the_policy_does_not_allow_goes_to_human_review() {
    let emergencies_only = policy(|p| {
        p.replace(
            r#"reason_codes = ["emergency-repair", "pricing-question", "information-request", "support-issue"]"#,
            r#"reason_codes = ["emergency-repair"]"#,
        )
    });
    let (engine, clock) = start(emergencies_only, Plugins::default());
    let wants_a_quote = Callee {
        outcome: AttemptOutcome::Connected,
        answer: |_| "I'd like a quote to replace it",
    };
    let case = run(&engine, &clock, &wants_a_quote);
    let CaseState::HumanReview { reason } = &case.state else {
        panic!("not in review: {:?}", case.state);
    };
    assert!(reason.contains("is not allowed by the policy"), "{reason}");
    assert_eq!(case.crm_operations, 0, "nothing reached the CRM");
}

#[test]
fn zero_retention_keeps_no_answer_or_transcript_in_the_journal() {
    let zero = policy(|p| p.replace(r#"retention = "full""#, r#"retention = "zero""#));
    let (engine, clock) = start(zero, Plugins::default());
    let case = run(&engine, &clock, &ANSWERS);
    let stored = serde_json::to_string(&journal(&engine, &case)).unwrap();
    for said in ["no heat at all", "I own the house", "gas furnace"] {
        assert!(!stored.contains(said), "{said:?} kept under zero retention");
    }
    let disposition = case.disposition.expect("qualified");
    assert!(disposition.summary.is_empty());
}

/// A cadence whose every decision fails.
struct FailingCadence;

impl CadencePlugin for FailingCadence {
    fn next(_: CadenceInput) -> Result<CadenceDecision, String> {
        Err("no cadence today".into())
    }
}

#[test]
fn retry_later_reconsiders_a_failed_cadence_three_times_then_asks_a_person() {
    let retry = policy(|p| {
        p.replace(
            r#"on_plugin_failure = "human-review""#,
            r#"on_plugin_failure = "retry-later""#,
        )
    });
    let plugins = Plugins {
        cadence: NativePolicy::cadence::<FailingCadence>(),
        ..Plugins::default()
    };
    let (engine, clock) = start(retry, plugins);
    let case = run(&engine, &clock, &ANSWERS);
    let events = journal(&engine, &case);
    let fallbacks: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::PluginFailed { slot, fallback, .. } if slot == "cadence" => {
                Some(fallback.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fallbacks,
        [
            "reconsider later",
            "reconsider later",
            "reconsider later",
            "human review"
        ]
    );
    assert_eq!(
        case.state,
        CaseState::HumanReview {
            reason: "cadence plugin failed (refused)".into()
        }
    );
    assert!(case.timer.is_none());
}

#[test]
fn human_review_is_the_default_for_a_failed_cadence() {
    let plugins = Plugins {
        cadence: NativePolicy::cadence::<FailingCadence>(),
        ..Plugins::default()
    };
    let (engine, clock) = start(policy(|p| p), plugins);
    let case = run(&engine, &clock, &ANSWERS);
    assert!(matches!(case.state, CaseState::HumanReview { .. }));
    assert_eq!(case.plugin_failures, 1);
    assert!(
        !journal(&engine, &case)
            .iter()
            .any(|e| matches!(e, Event::DialRequested { .. })),
        "no call without a cadence decision"
    );
}

/// A trigger whose every decision fails.
struct FailingTrigger;

impl TriggerPlugin for FailingTrigger {
    fn decide(_: TriggerInput) -> Result<TriggerDecision, String> {
        Err("no trigger today".into())
    }
}

#[test]
fn a_failed_trigger_still_opens_the_case_for_a_person_or_a_call() {
    let plugins = || Plugins {
        trigger: NativePolicy::trigger::<FailingTrigger>(),
        ..Plugins::default()
    };
    // The default: the case opens in human review, and no one is called.
    let (engine, _) = start(policy(|p| p), plugins());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(
        case.state,
        CaseState::HumanReview {
            reason: "trigger plugin failed (refused)".into()
        }
    );
    // Retry-later recovers the caller with the default priority, and calls at once.
    let retry = policy(|p| {
        p.replace(
            r#"on_plugin_failure = "human-review""#,
            r#"on_plugin_failure = "retry-later""#,
        )
    });
    let (engine, _) = start(retry, plugins());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(case.priority, 50);
    assert_eq!(case.state, CaseState::Dialing { attempt: 1 });
    assert_eq!(
        case.plugin_failures, 0,
        "the trigger's failure is not a retry"
    );
}

#[test]
fn a_busy_caller_is_called_again_on_the_cadence_timer() {
    let busy = Callee {
        outcome: AttemptOutcome::Busy,
        answer: urgent_homeowner,
    };
    let (engine, _) = start(policy(|p| p), Plugins::default());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    engine.deliver_outbox(&busy).unwrap();
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(case.attempts.len(), 1);
    assert_eq!(case.state, CaseState::Waiting);
    let timer = case.timer.expect("a next attempt is scheduled");
    assert_eq!(timer.kind, TimerKind::NextAttempt);
    assert_eq!(timer.due_ms, START_MS + 120_000, "the cadence's busy retry");
}

/// A CRM that knows every caller as "Dana Reyes", and counts how often it is asked.
struct KnowsCallers(std::sync::atomic::AtomicUsize);

impl Connectors for KnowsCallers {
    fn deliver(&self, _: &OutboxItem, _: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        Ok(Delivery::Done)
    }

    fn knows_callers(&self, _: &Policy) -> bool {
        true
    }

    fn caller_context(&self, _: &Policy, _: &str, _: std::time::Duration) -> Vec<Field> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        vec![
            Field::new("name", "Dana Reyes"),
            Field::new("crm-stage", "customer"),
        ]
    }
}

#[test]
fn the_crm_is_asked_about_a_caller_only_before_their_case_opens() {
    let (engine, _) = start(policy(|p| p), Plugins::default());
    let crm = KnowsCallers(Default::default());
    let mut signal = missed_call("evt-1");
    signal.add_context(engine.caller_context(TENANT, CALLER, &crm).unwrap());
    // What the signal carries wins over the CRM; what it lacks is added.
    let context: Vec<(&str, &str)> = signal
        .context
        .iter()
        .map(|f| (f.key.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(context, [("name", "Dana"), ("crm-stage", "customer")]);
    engine.ingest(TENANT, signal).unwrap();
    let again = engine.caller_context(TENANT, CALLER, &crm).unwrap();
    assert!(
        again.is_empty(),
        "the open case already carries the context"
    );
    assert_eq!(crm.0.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn an_event_id_is_remembered_for_the_replay_window_then_forgotten() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    engine.ingest(TENANT, missed_call("evt-replay")).unwrap();
    assert_eq!(
        engine.ingest(TENANT, missed_call("evt-replay")).unwrap(),
        Ingested::Duplicate
    );
    clock.advance_to(START_MS + REPLAY_WINDOW_MS - 60_000);
    assert_eq!(
        engine.forget_old_inbound().unwrap(),
        0,
        "still in the window"
    );
    clock.advance_to(START_MS + REPLAY_WINDOW_MS + 60_000);
    assert_eq!(engine.forget_old_inbound().unwrap(), 1);
    assert_ne!(
        engine.ingest(TENANT, missed_call("evt-replay")).unwrap(),
        Ingested::Duplicate,
        "past the window the id is no longer known"
    );
}

#[test]
fn a_settled_case_is_purged_after_keep_days_and_the_funnel_still_counts_it() {
    let keep_30 = policy(|p| {
        p.replace(
            r#"retention = "full""#,
            r#"retention = { mode = "full", keep_days = 30 }"#,
        )
    });
    let (engine, clock) = start(keep_30, Plugins::default());
    let case = run(&engine, &clock, &ANSWERS);
    assert!(case.is_settled(), "{:?}", case.state);
    let before = crate::report::funnel(engine.store(), TENANT).unwrap();
    assert_eq!(before.cases, 1);

    clock.advance_to(case.changed_ms + 29 * DAY_MS);
    assert_eq!(engine.apply_retention().unwrap().cases, 0, "inside 30 days");
    clock.advance_to(case.changed_ms + 30 * DAY_MS + 1);
    assert_eq!(engine.apply_retention().unwrap().cases, 1);

    let store = engine.store();
    assert!(store.case(&case.id).unwrap().is_none());
    assert!(store.journal(&case.id).unwrap().is_empty());
    let history = store.caller_cases(TENANT, CALLER).unwrap();
    assert!(history.open.is_none() && history.others.is_empty());
    let mut after = crate::report::funnel(store, TENANT).unwrap();
    after.first_dial_waits = before.first_dial_waits.clone();
    assert_eq!(after, before, "the funnel counts the purged case");
    assert_eq!(engine.apply_retention().unwrap().cases, 0, "nothing twice");
}

#[test]
fn an_open_case_is_never_purged_however_old() {
    let keep_1 = policy(|p| p.replace(r#"retention = "full""#, "retention = { keep_days = 1 }"));
    let (engine, clock) = start(keep_1, Plugins::default());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    clock.advance_to(START_MS + 40 * DAY_MS);
    engine.apply_retention().unwrap();
    assert!(engine.store().case(&id).unwrap().is_some());
}

#[test]
fn zero_retention_drops_the_signals_free_text_when_the_case_settles() {
    let zero = policy(|p| p.replace(r#"retention = "full""#, r#"retention = "zero""#));
    let (engine, clock) = start(zero, Plugins::default());
    let mut signal = missed_call("evt-1");
    signal.add_context(vec![Field::new("voicemail", "my furnace is leaking gas")]);
    let Ingested::Opened(id) = engine.ingest(TENANT, signal).unwrap() else {
        panic!("no case");
    };
    let open = engine.store().case(&id).unwrap().unwrap();
    assert!(
        !open.signal.context.is_empty(),
        "an open case keeps the context its callback uses"
    );
    run_simulated(&engine, &ANSWERS, &clock, |_| Ok::<_, EngineError>(None)).unwrap();
    let settled = engine.store().case(&id).unwrap().unwrap();
    assert!(settled.is_settled());
    assert!(settled.signal.context.is_empty(), "{:?}", settled.signal);
}

/// A qualify plugin that fails quoting what the caller said.
struct QuotingQualify;

impl redial_sdk::QualifyPlugin for QuotingQualify {
    fn script(input: redial_sdk::ScriptInput) -> Result<redial_sdk::Script, String> {
        <bant_qualify::BantQualify as redial_sdk::QualifyPlugin>::script(input)
    }

    fn evaluate(input: redial_sdk::EvaluateInput) -> Result<redial_sdk::Disposition, String> {
        Err(format!("cannot parse {:?}", input.answers))
    }
}

#[test]
fn a_plugins_error_text_is_not_kept_unless_retention_keeps_the_conversation() {
    for (mode, kept) in [("full", true), ("summary", false), ("zero", false)] {
        let p = policy(|p| p.replace(r#"retention = "full""#, &format!("retention = {mode:?}")));
        let runtime = Arc::new(PluginRuntime::new(RuntimeConfig::default()).unwrap());
        let clock = Arc::new(ManualClock::new(START_MS));
        let engine = Engine::new(Arc::new(MemoryStore::new()), runtime.clone(), clock.clone());
        let plugins = Plugins::default();
        engine.load_tenant_with(
            p,
            [
                runtime.native("trigger", plugins.trigger),
                runtime.native("cadence", plugins.cadence),
                runtime.native("quoting", NativePolicy::qualify::<QuotingQualify>()),
                runtime.native(
                    "hubspot-crm",
                    NativePolicy::crm::<hubspot_crm::HubspotCrm>(),
                ),
            ],
        );
        let case = run(&engine, &clock, &ANSWERS);
        let stored = serde_json::to_string(&journal(&engine, &case)).unwrap();
        assert!(stored.contains("plugin-failed"), "{stored}");
        assert_eq!(stored.contains("no heat at all"), kept, "{mode}: {stored}");
    }
}

#[test]
fn a_deleted_tenant_is_purged_when_its_grace_is_over_and_its_id_is_refused_until_then() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    let engine = engine.with_tenant_grace(std::time::Duration::from_secs(7 * 24 * 3600));
    let case = run(&engine, &clock, &ANSWERS);
    let stone = engine.delete_tenant(TENANT, false).unwrap().unwrap();
    assert_eq!(stone.purge_after_ms, clock.now_ms() + 7 * DAY_MS);
    assert!(matches!(
        engine.load_tenant(policy(|t| t)),
        Err(EngineError::TenantDeleted { .. })
    ));
    clock.advance_to(stone.purge_after_ms - 1);
    assert_eq!(engine.purge_deleted_tenants().unwrap(), 0);
    assert!(engine.store().case(&case.id).unwrap().is_some());
    clock.advance_to(stone.purge_after_ms);
    assert_eq!(engine.purge_deleted_tenants().unwrap(), 1);
    assert!(engine.store().case(&case.id).unwrap().is_none());
    assert_eq!(engine.store().counters(TENANT).unwrap(), Default::default());
    assert_eq!(engine.store().rollup(TENANT).unwrap(), Default::default());
    assert!(engine.tombstone(TENANT).unwrap().is_none());
    engine.load_tenant(policy(|t| t)).unwrap();
}

#[test]
fn uploaded_files_no_tenant_names_are_deleted_once_an_hour_old() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = start(policy(|t| t), Plugins::default());
    let engine = engine.with_uploads(dir.path().to_path_buf());
    let version = PluginVersion {
        sha256: "kept".into(),
        uploaded_ms: START_MS,
    };
    engine
        .store()
        .set_plugin_versions(TENANT, "trigger", &[version])
        .unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for (name, old) in [("kept", true), ("forgotten", true), ("fresh", false)] {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, b"\0asm").unwrap();
        if old {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(two_hours_ago).unwrap();
        }
    }
    assert_eq!(engine.forget_unreferenced_uploads().unwrap(), 1);
    let left = |name: &str| dir.path().join(format!("{name}.wasm")).exists();
    assert!(left("kept") && left("fresh") && !left("forgotten"));
}

#[test]
fn a_dead_letter_past_retention_is_dropped_and_nothing_is_sent_in_its_place() {
    let keep_7 = policy(|p| p.replace(r#"retention = "full""#, "retention = { keep_days = 7 }"));
    let (engine, clock) = start(keep_7, Plugins::default());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    let (outbox_id, dial) = engine.store().outbox().unwrap().remove(0);
    engine
        .set_aside(outbox_id, &dial, 10, "provider down".into())
        .unwrap();
    assert_eq!(engine.store().dead_letters(TENANT).unwrap().len(), 1);

    clock.advance_to(START_MS + 8 * DAY_MS);
    assert_eq!(engine.apply_retention().unwrap().dead_letters, 1);
    assert!(engine.store().dead_letters(TENANT).unwrap().is_empty());
    assert_eq!(
        engine.store().outbox_len(),
        0,
        "no redial, no fallback message"
    );
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(case.state.name(), "closed", "{:?}", case.state);
}

/// A provider that places calls and never sends their reports; asked about one, it says
/// what `lookup` says.
struct PlacesCallsSilently {
    lookup: fn() -> Delivery,
    lookups: std::sync::atomic::AtomicUsize,
}

impl Connectors for PlacesCallsSilently {
    fn deliver(&self, item: &OutboxItem, _: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        Ok(match &item.effect {
            Effect::Dial { attempt, .. } => Delivery::CallPlaced {
                provider_id: format!("call-{attempt}"),
            },
            Effect::CallLookup { attempt, .. } => {
                if *attempt == 1 {
                    self.lookups
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (self.lookup)()
            }
            _ => Delivery::Done,
        })
    }
}

fn silent(lookup: fn() -> Delivery) -> PlacesCallsSilently {
    PlacesCallsSilently {
        lookup,
        lookups: Default::default(),
    }
}

/// Ingests a missed call and runs the loop until `stop` holds for its case.
fn run_until(
    engine: &Engine,
    clock: &ManualClock,
    connectors: &dyn Connectors,
    stop: impl Fn(&CaseRecord) -> bool,
) -> CaseRecord {
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    run_simulated(engine, connectors, clock, |_| {
        let case = engine.store().case(&id)?.unwrap();
        // Stop the run by asking for no more time once the case got where it should.
        Ok::<_, EngineError>(if stop(&case) {
            None
        } else {
            Some(clock.now_ms() + 1)
        })
    })
    .unwrap();
    engine.store().case(&id).unwrap().unwrap()
}

#[test]
fn a_call_whose_report_never_comes_is_looked_up_and_ends_with_what_the_provider_says() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    let provider = silent(|| {
        Delivery::CallEnded(CallReport {
            outcome: AttemptOutcome::Connected,
            answers: vec![Answer::text("timeline", "today please")],
            transcript: None,
            opt_out: false,
        })
    });
    let case = run_until(&engine, &clock, &provider, |c| !c.state.is_open());
    assert_eq!(case.attempts.len(), 1);
    assert_eq!(case.attempts[0].outcome, AttemptOutcome::Connected);
    let events = journal(&engine, &case);
    let placed = events
        .iter()
        .position(|e| matches!(e, Event::CallPlaced { .. }));
    let asked = events
        .iter()
        .position(|e| matches!(e, Event::Guard { rule, .. } if rule == "stuck-call"));
    assert!(placed.is_some() && asked > placed, "{events:?}");
    assert_eq!(
        case.first_dial_ms
            .map(|d| d + 15 * 60_000 <= clock.now_ms()),
        Some(true)
    );

    // The webhook turns up after all: journalled, nothing changes twice.
    let late = CallReport {
        outcome: AttemptOutcome::Busy,
        answers: vec![],
        transcript: None,
        opt_out: false,
    };
    engine.call_ended(&case.id, 1, late).unwrap();
    let after = engine.store().case(&case.id).unwrap().unwrap();
    assert_eq!(after.attempts, case.attempts);
    assert_eq!(after.state, case.state);
    let events = journal(&engine, &after);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Guard { rule, .. } if rule == "late-report")),
        "{events:?}"
    );
}

#[test]
fn a_call_the_provider_does_not_know_fails_with_no_report_and_the_cadence_decides() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    let provider = silent(|| Delivery::Done);
    let case = run_until(&engine, &clock, &provider, |c| !c.attempts.is_empty());
    assert_eq!(
        case.attempts[0].outcome,
        AttemptOutcome::Failed("no report from the provider".into())
    );
    assert_ne!(case.state.name(), "dialing", "the cadence moved it on");
}

#[test]
fn a_call_still_running_is_asked_about_four_times_then_counts_as_failed() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    let provider = silent(|| Delivery::CallRunning);
    let case = run_until(&engine, &clock, &provider, |c| !c.attempts.is_empty());
    assert_eq!(
        provider.lookups.load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    assert!(matches!(
        case.attempts[0].outcome,
        AttemptOutcome::Failed(_)
    ));
}

#[test]
fn dials_past_the_concurrent_call_cap_wait_for_a_line_and_take_it_when_one_frees() {
    let capped = policy(|p| p.replace("[callback]\n", "[callback]\nmax_concurrent_calls = 2\n"));
    assert_eq!(capped.callback.max_concurrent_calls, Some(2));
    let (engine, clock) = start(capped, Plugins::default());
    let mut ids = Vec::new();
    for n in 0..4 {
        let signal = SignalIn {
            caller: format!("+1512555077{n}"),
            ..missed_call(&format!("evt-{n}"))
        };
        let Ingested::Opened(id) = engine.ingest(TENANT, signal).unwrap() else {
            panic!("no case");
        };
        ids.push(id);
    }
    let case = |id: &str| engine.store().case(id).unwrap().unwrap();
    let dialing = || {
        ids.iter()
            .filter(|id| case(id).state.name() == "dialing")
            .count()
    };
    assert_eq!(dialing(), 2);
    for waiting in &ids[2..] {
        let c = case(waiting);
        assert_eq!(c.timer.map(|t| t.kind), Some(TimerKind::LineWait), "{c:?}");
        let events = journal(&engine, &c);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Guard { rule, .. } if rule == "concurrent-calls"))
        );
    }

    // A round with every line busy: still waiting, and journalled only once.
    clock.advance_to(case(&ids[2]).timer.unwrap().due_ms);
    engine.fire_due_timers().unwrap();
    assert_eq!(dialing(), 2);
    let guards = |id: &str| {
        journal(&engine, &case(id))
            .iter()
            .filter(|e| matches!(e, Event::Guard { rule, .. } if rule == "concurrent-calls"))
            .count()
    };
    assert_eq!(guards(&ids[2]), 1);

    // A call ends: the next round's first waiting case takes the line.
    let report = CallReport {
        outcome: AttemptOutcome::NoAnswer,
        answers: vec![],
        transcript: None,
        opt_out: false,
    };
    engine.call_ended(&ids[0], 1, report).unwrap();
    assert_eq!(dialing(), 1);
    clock.advance_to(case(&ids[2]).timer.unwrap().due_ms);
    engine.fire_due_timers().unwrap();
    assert_eq!(dialing(), 2, "one line freed, one waiting case dialed");
    assert_eq!(case(&ids[2]).state.name(), "dialing");
    assert_eq!(case(&ids[3]).state.name(), "waiting");
}

/// A provider that reports what `report` makes of each dial, and keeps the dials it got.
struct Reports {
    report: fn(&Effect) -> CallReport,
    dials: std::sync::Mutex<Vec<Effect>>,
}

impl Connectors for Reports {
    fn deliver(&self, item: &OutboxItem, _: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        if !matches!(item.effect, Effect::Dial { .. }) {
            return Ok(Delivery::Done);
        }
        self.dials.lock().unwrap().push(item.effect.clone());
        Ok(Delivery::CallEnded((self.report)(&item.effect)))
    }
}

fn reports(report: fn(&Effect) -> CallReport) -> Reports {
    Reports {
        report,
        dials: Default::default(),
    }
}

#[test]
fn an_answer_not_of_its_questions_kind_is_recorded_as_unanswered_not_guessed() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    // `role` is a yes/no question; this provider reports it as words.
    let provider = reports(|_| CallReport {
        outcome: AttemptOutcome::Connected,
        answers: vec![
            Answer::text("timeline", "today please, no heat at all"),
            Answer::text("role", "yes, I own the house"),
            Answer::text("not-asked", "anything"),
        ],
        transcript: None,
        opt_out: false,
    });
    let case = run_until(&engine, &clock, &provider, |c| !c.attempts.is_empty());
    let events = journal(&engine, &case);
    let Some(Event::CallResult {
        answers,
        unanswered,
        ..
    }) = events
        .iter()
        .find(|e| matches!(e, Event::CallResult { .. }))
    else {
        panic!("no call result: {events:?}");
    };
    let ids: Vec<&str> = answers.iter().map(|a| a.field_id.as_str()).collect();
    assert_eq!(ids, ["timeline"], "only the asked, well-typed answers");
    assert!(unanswered.contains(&"role".to_string()), "{unanswered:?}");
    assert!(!unanswered.contains(&"timeline".to_string()));
    assert_eq!(
        case.asking, None,
        "what was asked is done with once reported"
    );
}

#[test]
fn attempts_from_the_policys_voicemail_attempt_leave_the_message_and_the_journal_says_so() {
    let with_voicemail = |t: String| {
        t.replace(
            "[disposition]",
            "[callback.voicemail]\nmessage = \"Lone Star here, returning your call.\"\nfrom_attempt = 2\n\n[disposition]",
        )
    };
    let (engine, clock) = start(policy(with_voicemail), Plugins::default());
    let provider = reports(|_| CallReport {
        outcome: AttemptOutcome::Voicemail,
        answers: vec![],
        transcript: None,
        opt_out: false,
    });
    let case = run_until(&engine, &clock, &provider, |c| c.attempts.len() >= 2);
    let messages: Vec<Option<String>> = (provider.dials.lock().unwrap().iter())
        .map(|d| match d {
            Effect::Dial { voicemail, .. } => voicemail.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        messages[..2],
        [
            None,
            Some("Lone Star here, returning your call.".to_string())
        ]
    );
    let left: Vec<u32> = (journal(&engine, &case).iter())
        .filter_map(|e| match e {
            Event::VoicemailLeft { attempt } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(
        left.first(),
        Some(&2),
        "the first attempt left none: {left:?}"
    );
}

#[test]
fn a_report_for_an_attempt_the_case_never_made_is_refused_and_records_nothing() {
    let (engine, _clock) = start(policy(|t| t), Plugins::default());
    let Ingested::Opened(id) = engine.ingest(TENANT, missed_call("evt-1")).unwrap() else {
        panic!("no case");
    };
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(case.state, CaseState::Dialing { attempt: 1 });
    let report = CallReport {
        outcome: AttemptOutcome::Busy,
        answers: vec![],
        transcript: None,
        opt_out: false,
    };
    for attempt in [0, 2, 9] {
        let refused = engine.call_ended(&case.id, attempt, report.clone());
        assert!(
            matches!(refused, Err(EngineError::UnknownAttempt { .. })),
            "{refused:?}"
        );
    }
    let after = engine.store().case(&case.id).unwrap().unwrap();
    assert_eq!(after.journal_len, case.journal_len, "nothing recorded");
}

#[test]
fn the_sms_providers_final_status_is_journalled_on_its_case_once() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    let declines = Callee {
        outcome: AttemptOutcome::Declined,
        answer: urgent_homeowner,
    };
    let case = run(&engine, &clock, &declines);
    let events = journal(&engine, &case);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::FallbackQueued { .. })),
        "{events:?}"
    );
    let key = format!("{}/fallback-sms", case.id);
    let status = |status: &str, event: &str| {
        engine.message_status(TENANT, &key, status, Some("30003".into()), event)
    };
    assert_eq!(status("sent", "e1").unwrap(), MessageStatus::NotFinal);
    assert_eq!(
        status("undelivered", "e2").unwrap(),
        MessageStatus::Recorded(case.id.clone())
    );
    assert_eq!(
        status("undelivered", "e2").unwrap(),
        MessageStatus::Duplicate
    );
    let recorded = (journal(&engine, &case).iter())
        .filter(|e| matches!(e, Event::MessageStatus { .. }))
        .count();
    assert_eq!(recorded, 1);
    for (tenant, key) in [
        ("another-tenant", key.as_str()),
        (TENANT, &format!("{}/dial/1", case.id)),
        (TENANT, &format!("{TENANT}-99999/fallback-sms")),
    ] {
        let refused = engine.message_status(tenant, key, "delivered", None, "e3");
        assert!(matches!(refused, Err(EngineError::UnknownCase(_))), "{key}");
    }
}

/// A trigger that recovers every caller, as urgent as the last two digits of their number.
struct PriorityByCaller;

impl TriggerPlugin for PriorityByCaller {
    fn decide(input: TriggerInput) -> Result<TriggerDecision, String> {
        let digits = &input.signal.caller[input.signal.caller.len() - 2..];
        Ok(TriggerDecision::Recover(redial_sdk::Recovery {
            priority: digits.parse().unwrap(),
            known: vec![],
        }))
    }
}

#[test]
fn waiting_dials_take_a_freed_line_most_urgent_first_whatever_order_they_came_in() {
    let capped = policy(|p| p.replace("[callback]\n", "[callback]\nmax_concurrent_calls = 1\n"));
    let plugins = Plugins {
        trigger: NativePolicy::trigger::<PriorityByCaller>(),
        ..Plugins::default()
    };
    let (engine, clock) = start(capped, plugins);
    // Priority 10 takes the line; then 20, 90 and 50 arrive and wait, in that order.
    let ids: Vec<String> = [
        "+15125550710",
        "+15125550720",
        "+15125550790",
        "+15125550750",
    ]
    .iter()
    .enumerate()
    .map(|(n, caller)| {
        let signal = SignalIn {
            caller: caller.to_string(),
            ..missed_call(&format!("evt-{n}"))
        };
        match engine.ingest(TENANT, signal).unwrap() {
            Ingested::Opened(id) => id,
            other => panic!("{other:?}"),
        }
    })
    .collect();
    let case = |id: &str| engine.store().case(id).unwrap().unwrap();
    let dialing = || -> Vec<u8> {
        (ids.iter().map(|id| case(id)))
            .filter(|c| c.state.name() == "dialing")
            .map(|c| c.priority)
            .collect()
    };
    assert_eq!(dialing(), [10]);
    let no_answer = CallReport {
        outcome: AttemptOutcome::NoAnswer,
        answers: vec![],
        transcript: None,
        opt_out: false,
    };
    let mut order = Vec::new();
    let mut on_the_line = ids[0].clone();
    for _ in 0..3 {
        engine
            .call_ended(&on_the_line, 1, no_answer.clone())
            .unwrap();
        // Every waiting case's round is due; they go in priority order, one line free.
        let last = (ids.iter().filter_map(|id| case(id).timer))
            .filter(|t| t.kind == TimerKind::LineWait)
            .map(|t| t.due_ms)
            .max()
            .unwrap();
        clock.advance_to(last);
        engine.fire_due_timers().unwrap();
        let now_dialing: Vec<&String> = (ids.iter())
            .filter(|id| case(id).state == CaseState::Dialing { attempt: 1 })
            .collect();
        assert_eq!(now_dialing.len(), 1, "one line");
        on_the_line = now_dialing[0].clone();
        order.push(case(&on_the_line).priority);
    }
    assert_eq!(order, [90, 50, 20], "most urgent first, not first come");
}

/// Three HVAC callers: two in business hours, one at 21:00 (after hours: priority 40).
fn three_callers(engine: &Engine, clock: &ManualClock) {
    for (n, at_ms) in [START_MS, START_MS + 60_000, START_MS + 11 * 3_600_000]
        .into_iter()
        .enumerate()
    {
        let signal = SignalIn {
            caller: format!("+1512555030{n}"),
            at_ms,
            ..missed_call(&format!("evt-replay-{n}"))
        };
        engine.ingest(TENANT, signal).unwrap();
    }
    run_simulated(engine, &ANSWERS, clock, |_| Ok::<_, EngineError>(None)).unwrap();
}

fn component(name: &str) -> Vec<u8> {
    std::fs::read(redial_builtin::path(name)).unwrap()
}

mod replay;
mod trials;
