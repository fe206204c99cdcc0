//! Replays of candidate plugins on the journalled inputs.

use super::*;

#[test]
fn replay_runs_a_candidate_on_the_journalled_inputs_and_reports_what_it_would_change() {
    let (engine, clock) = start(policy(|t| t), Plugins::default());
    three_callers(&engine, &clock);

    // A trigger that recovers everyone at 99: only the after-hours caller's band moves.
    let eager = engine
        .replay(TENANT, Slot::Trigger, &component("test-eager-trigger"), 0)
        .unwrap();
    assert_eq!((eager.cases, eager.replayed), (3, 3), "{eager:?}");
    assert_eq!(eager.changed, 1, "{:?}", eager.differences);
    assert_eq!(eager.by_field.get("priority-band"), Some(&1));
    assert_eq!(eager.differences[0].live["recover"]["priority"], 40);

    // The live plugins themselves, as components, decide every recorded input the same.
    for (slot, name) in [
        (Slot::Trigger, "standard-trigger"),
        (Slot::Cadence, "standard-cadence"),
        (Slot::Qualify, "bant-qualify"),
        (Slot::Crm, "hubspot-crm"),
    ] {
        let same = engine.replay(TENANT, slot, &component(name), 0).unwrap();
        assert!(same.replayed > 0, "{slot}: {same:?}");
        assert_eq!(
            (same.changed, same.failed, same.not_kept),
            (0, 0, 0),
            "{slot}: {same:?}"
        );
    }

    // `since` leaves older cases out.
    let later = engine
        .replay(
            TENANT,
            Slot::Trigger,
            &component("test-eager-trigger"),
            START_MS + 1,
        )
        .unwrap();
    assert_eq!(
        later.cases, 0,
        "cases are dated by when they opened: {later:?}"
    );

    // A candidate for another slot is refused before anything runs.
    let refused = engine.replay(TENANT, Slot::Cadence, &component("test-eager-trigger"), 0);
    assert!(
        matches!(refused, Err(EngineError::Plugin { .. })),
        "{refused:?}"
    );
}

#[test]
fn replay_does_not_guess_what_retention_did_not_keep() {
    let zero = |t: String| t.replacen("retention = \"full\"", "retention = \"zero\"", 1);
    let (engine, clock) = start(policy(zero), Plugins::default());
    assert_eq!(
        engine.tenant(TENANT).unwrap().policy.retention.mode,
        crate::policy::RetentionMode::Zero
    );
    three_callers(&engine, &clock);
    let report = engine
        .replay(TENANT, Slot::Qualify, &component("bant-qualify"), 0)
        .unwrap();
    // The scripts are replayed; the evaluations, whose answers were never kept, are not.
    assert!(report.replayed > 0 && report.not_kept > 0, "{report:?}");
    assert_eq!(report.changed, 0, "{report:?}");
}
