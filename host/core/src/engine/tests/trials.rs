//! Trials: a candidate in shadow or on a split beside the live plugin, then promoted or
//! ended.

use super::*;
use crate::records::{Trial, TrialMode};
use std::time::{Duration, Instant};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// The engine of [`start`], shared, as a server holds it (a trial's optimised compile runs
/// on the engine's background thread).
fn started(policy: Policy) -> (Arc<Engine>, Arc<ManualClock>) {
    let (engine, clock) = start(policy, Plugins::default());
    (Arc::new(engine), clock)
}

fn try_eager(engine: &Arc<Engine>, mode: TrialMode) -> Trial {
    let eager = component("test-eager-trigger");
    engine
        .start_trial(TENANT, Slot::Trigger, &eager, mode, deadline())
        .unwrap()
}

/// Who decided each trigger decision in a case's journal, and the priorities decided.
fn triggers(engine: &Engine, case: &CaseRecord) -> Vec<(String, u64)> {
    (journal(engine, case).into_iter())
        .filter_map(|e| match e {
            Event::Decision {
                slot,
                plugin,
                decision,
                ..
            } if slot == "trigger" => Some((plugin, decision["recover"]["priority"].as_u64()?)),
            _ => None,
        })
        .collect()
}

fn cases(engine: &Engine) -> Vec<CaseRecord> {
    engine.store().cases(Some(TENANT)).unwrap()
}

#[test]
fn a_shadow_candidate_decides_beside_the_live_plugin_with_no_effect() {
    let (engine, clock) = started(policy(|t| t));
    let trial = try_eager(&engine, TrialMode::Shadow);
    three_callers(&engine, &clock);
    // A caller the live trigger ignores as spam; the candidate would have recovered them.
    let spam = SignalIn {
        caller: "+19005550100".into(),
        ..missed_call("evt-spam")
    };
    assert!(matches!(
        engine.ingest(TENANT, spam).unwrap(),
        Ingested::Ignored(_)
    ));

    let live = engine
        .tenant(TENANT)
        .unwrap()
        .plugin(Slot::Trigger)
        .0
        .id
        .hash
        .clone();
    for case in cases(&engine) {
        // The live plugin decided, and its priority stood.
        let decided = triggers(&engine, &case);
        assert_eq!(decided.len(), 1, "{decided:?}");
        assert_eq!(decided[0].0, live);
        assert_eq!(u64::from(case.priority), decided[0].1);
        let shadows: Vec<_> = (journal(&engine, &case).into_iter())
            .filter_map(|e| match e {
                Event::Shadow { shadow } => Some(shadow),
                _ => None,
            })
            .collect();
        assert_eq!(shadows.len(), 1, "only the trigger is on trial");
        assert_eq!(shadows[0].plugin, trial.sha256);
        assert_eq!(
            shadows[0].decision.as_ref().unwrap()["recover"]["priority"],
            99
        );
    }

    let report = engine.trial_report(TENANT, Slot::Trigger).unwrap().unwrap();
    let shadow = report.shadow.expect("a shadow trial");
    assert!(report.split.is_none());
    // Three cases and the ignored signal; the after-hours caller (40 → 99) and the spam
    // caller (ignored → recovered) differ.
    assert_eq!(
        (shadow.compared, shadow.changed, shadow.failed),
        (4, 2, 0),
        "{shadow:?}"
    );
    assert_eq!(shadow.by_field.get("priority-band"), Some(&2));
    assert_eq!(shadow.by_field.get("outcome"), Some(&1));
    let ignored = &shadow.differences[0];
    assert_eq!(ignored.case_id, None, "newest first: the spam signal");
    assert_eq!(ignored.live["ignore"], "caller matches a spam prefix");
    let after_hours = &shadow.differences[1];
    assert_eq!(after_hours.live["recover"]["priority"], 40);
    assert_eq!(after_hours.shadow.changed, ["priority-band"]);
}

#[test]
fn a_failing_shadow_costs_the_live_decisions_nothing() {
    let (engine, clock) = started(policy(|t| t));
    let trap = component("test-trap");
    engine
        .start_trial(TENANT, Slot::Cadence, &trap, TrialMode::Shadow, deadline())
        .unwrap();
    let case = run(&engine, &clock, &ANSWERS);
    assert!(
        matches!(case.state, CaseState::HandedOff { .. }),
        "{:?}",
        case.state
    );
    assert!(!(journal(&engine, &case).iter()).any(|e| matches!(e, Event::PluginFailed { .. })));
    let report = engine.trial_report(TENANT, Slot::Cadence).unwrap().unwrap();
    let shadow = report.shadow.unwrap();
    assert!(
        shadow.compared > 0 && shadow.failed == shadow.compared,
        "{shadow:?}"
    );
    assert!(
        (shadow.differences[0].shadow.error.as_deref()).is_some_and(|e| e.contains("trap")),
        "{shadow:?}"
    );
}

#[test]
fn a_split_gives_the_candidate_a_stable_share_of_callers_and_a_funnel_of_its_own() {
    let (engine, clock) = started(policy(|t| t));
    let trial = try_eager(&engine, TrialMode::Split { percent: 30 });
    let callers: Vec<String> = (0..40).map(|n| format!("+151255504{n:02}")).collect();
    for (n, caller) in callers.iter().enumerate() {
        let signal = SignalIn {
            caller: caller.clone(),
            at_ms: START_MS + n as i64 * 1000,
            ..missed_call(&format!("evt-split-{n}"))
        };
        engine.ingest(TENANT, signal).unwrap();
    }
    run_simulated(&engine, &ANSWERS, &clock, |_| Ok::<_, EngineError>(None)).unwrap();

    let in_share = |caller: &str| split_bucket(TENANT, Slot::Trigger, caller) < 30;
    let candidates = callers.iter().filter(|c| in_share(c)).count();
    assert!(
        (4..=20).contains(&candidates),
        "about 30% of 40: {candidates}"
    );
    for case in cases(&engine) {
        let (plugin, priority) = triggers(&engine, &case).remove(0);
        assert_eq!(
            plugin == trial.sha256,
            in_share(&case.caller),
            "{}: the caller's bucket picks the plugin",
            case.caller
        );
        assert_eq!(priority == 99, in_share(&case.caller));
    }

    let split = (engine.trial_report(TENANT, Slot::Trigger).unwrap().unwrap())
        .split
        .expect("a split trial");
    assert_eq!(split.percent, 30);
    assert_eq!(split.candidate.cases as usize, candidates);
    assert_eq!(split.live.cases as usize, callers.len() - candidates);
    assert_eq!(
        split.candidate.handed_off + split.live.handed_off,
        callers.len() as u64
    );

    // A caller keeps their variant: the same number calls again and is decided the same way.
    let again = callers.iter().find(|c| in_share(c)).unwrap();
    let before = engine.store().cases(Some(TENANT)).unwrap().len();
    clock.advance_to(clock.now_ms() + DAY_MS);
    let signal = SignalIn {
        caller: again.clone(),
        at_ms: clock.now_ms(),
        ..missed_call("evt-split-again")
    };
    let Ingested::Opened(id) = engine.ingest(TENANT, signal).unwrap() else {
        panic!("a new case");
    };
    assert_eq!(cases(&engine).len(), before + 1);
    let case = engine.store().case(&id).unwrap().unwrap();
    assert_eq!(triggers(&engine, &case)[0].0, trial.sha256);
}

#[test]
fn promotion_makes_the_candidate_live_and_ending_a_trial_leaves_the_live_plugin() {
    let (engine, _clock) = started(policy(|t| t));
    let live = || {
        engine
            .tenant(TENANT)
            .unwrap()
            .plugin(Slot::Trigger)
            .0
            .id
            .hash
            .clone()
    };
    let before = live();
    let on_trial = || {
        engine
            .tenant(TENANT)
            .unwrap()
            .trial(Slot::Trigger)
            .is_some()
    };

    // Ended: the live plugin stays, and nothing is left on trial.
    try_eager(&engine, TrialMode::Split { percent: 20 });
    let ended = engine.end_trial(TENANT, Slot::Trigger).unwrap();
    assert!(ended.is_some());
    assert_eq!(live(), before);
    assert!(!on_trial());
    assert_eq!(engine.store().trial(TENANT, "trigger").unwrap(), None);
    assert!(
        engine
            .trial_report(TENANT, Slot::Trigger)
            .unwrap()
            .is_none()
    );
    assert!(engine.end_trial(TENANT, Slot::Trigger).unwrap().is_none());

    // Promoted: the candidate is the slot's newest version and decides for everyone.
    let trial = try_eager(&engine, TrialMode::Shadow);
    let (versions, _) = engine
        .promote_trial(TENANT, Slot::Trigger)
        .unwrap()
        .unwrap();
    assert_eq!(versions.last().unwrap().sha256, trial.sha256);
    assert_eq!(live(), trial.sha256);
    assert!(!on_trial());
    // ...and a rollback goes back to the policy's own plugin, as after any upload.
    let left = engine.rollback_plugin(TENANT, Slot::Trigger).unwrap();
    assert!(left.is_empty());
    assert_ne!(live(), trial.sha256);
}

#[test]
fn a_trial_outlives_a_policy_reload_and_bad_trials_are_refused() {
    let (engine, _clock) = started(policy(|t| t));
    let trial = try_eager(&engine, TrialMode::Split { percent: 20 });
    let reloaded = engine
        .load_tenant(engine.tenant(TENANT).unwrap().policy.clone())
        .unwrap();
    assert_eq!(reloaded.trial(Slot::Trigger).unwrap().trial, trial);

    let eager = component("test-eager-trigger");
    for percent in [0, 100] {
        let refused = engine.start_trial(
            TENANT,
            Slot::Trigger,
            &eager,
            TrialMode::Split { percent },
            deadline(),
        );
        assert!(
            matches!(&refused, Err(EngineError::TrialRefused(m)) if m.contains("1 to 99")),
            "{refused:?}"
        );
    }
    let wrong_slot =
        engine.start_trial(TENANT, Slot::Cadence, &eager, TrialMode::Shadow, deadline());
    assert!(
        matches!(wrong_slot, Err(EngineError::Plugin { .. })),
        "{wrong_slot:?}"
    );
    assert_eq!(engine.store().trial(TENANT, "cadence").unwrap(), None);
    // The running trial is untouched by the refusals.
    assert_eq!(
        engine.store().trial(TENANT, "trigger").unwrap(),
        Some(trial)
    );
}
