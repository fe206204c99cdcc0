//! What every backend of the Store port must do, as test bodies any backend's tests run
//! against a fresh store of their own:
//! `store_conformance!(|run: &dyn Fn(&dyn Store)| run(&open_a_fresh_store()))` writes one
//! `#[test]` per body. The in-memory, sled and PostgreSQL stores all run them,
//! so the engine can rely on the port, not on one backend.

use super::{InboundEvent, Purge, Step, Store};
use crate::records::{
    CaseRecord, CaseState, DeadLetter, Effect, Event, Funnel, IgnoredSignal, JournalEntry,
    OutboxItem, PluginVersion, SealedSecret, TenantCounters, Timer, TimerKind, Tombstone, Trial,
    TrialMode,
};
use redial_sdk::{Moment, Signal, SignalKind};

/// Writes one `#[test]` per conformance body. `$with` is a closure that opens a fresh
/// store, passes it to the body it is given, and cleans up after.
#[macro_export]
macro_rules! store_conformance {
    ($with:expr) => {
        $crate::store_conformance!(@each $with;
            a_step_writes_its_case_journal_timer_and_effects_together,
            a_journal_reads_back_whole_and_in_order_across_steps,
            a_timer_moves_with_its_case_and_leaves_when_it_settles,
            a_callers_open_case_is_found_apart_from_their_history,
            state_counts_follow_each_case_between_states,
            delivered_items_leave_the_outbox_and_dead_letters_wait_apart,
            new_effects_are_listed_once_tracking_starts,
            inbound_ids_are_remembered_until_their_window_ends,
            opt_outs_are_kept_per_tenant_and_can_be_rekeyed,
            a_purge_removes_cases_with_everything_naming_them_and_keeps_the_rollup,
            a_forgotten_tenant_leaves_nothing_keyed_by_it,
            the_clock_survives_in_the_store);
    };
    (@each $with:expr; $($name:ident),*) => {
        $(#[test]
        fn $name() {
            let with: &dyn Fn(&dyn Fn(&dyn $crate::store::Store)) = &$with;
            with(&$crate::store::conformance::$name);
        })*
    };
}

fn signal(caller: &str) -> Signal {
    Signal {
        kind: SignalKind::MissedCall,
        caller: caller.into(),
        line: "+15550009999".into(),
        at: Moment {
            unix_ms: 1_000,
            utc_offset_minutes: 0,
            local_weekday: 0,
            local_minute: 600,
        },
        context: vec![],
    }
}

fn new_case(id: &str, tenant: &str, caller: &str, opened_ms: i64) -> CaseRecord {
    CaseRecord::new(id.into(), tenant.into(), signal(caller), 1, opened_ms)
}

fn scheduled(due_ms: i64) -> JournalEntry {
    JournalEntry {
        at_ms: due_ms,
        event: Event::Scheduled { due_ms },
    }
}

fn sms(tenant: &str, case_id: &str, key: &str) -> OutboxItem {
    OutboxItem {
        key: key.into(),
        tenant: tenant.into(),
        case_id: case_id.into(),
        effect: Effect::Sms {
            to: "+15550001111".into(),
            body: "hello".into(),
        },
    }
}

/// Commits a step that moves `case` to `state`, appends one event per time in `times`,
/// and sets its timer to `timer`.
fn advance(
    store: &dyn Store,
    case: &mut CaseRecord,
    state: CaseState,
    times: &[i64],
    timer: Option<Timer>,
) {
    let previous_state = Some(case.state.name());
    let previous_timer = case.timer;
    case.state = state;
    case.timer = timer;
    case.journal_len += times.len() as u32;
    store
        .commit(&Step {
            case: Some(case.clone()),
            previous_state,
            previous_timer,
            events: times.iter().map(|&t| scheduled(t)).collect(),
            ..Step::default()
        })
        .unwrap();
}

fn dialing() -> CaseState {
    CaseState::Dialing { attempt: 1 }
}

fn handed_off() -> CaseState {
    CaseState::HandedOff {
        owner: "sam".into(),
        sla_deadline_ms: 60_000,
        acknowledged: false,
        breached: false,
    }
}

fn closed() -> CaseState {
    CaseState::Closed {
        reason: "gave up".into(),
    }
}

fn timer(due_ms: i64) -> Option<Timer> {
    Some(Timer {
        due_ms,
        kind: TimerKind::NextAttempt,
    })
}

/// A step is all or nothing, and every part of it reads back.
pub fn a_step_writes_its_case_journal_timer_and_effects_together(store: &dyn Store) {
    let mut case = new_case("acme-00001", "acme", "+15550001111", 1_000);
    case.timer = timer(5_000);
    case.journal_len = 2;
    let counters = TenantCounters {
        signals: 1,
        cases: 1,
        ..TenantCounters::default()
    };
    store
        .commit(&Step {
            case: Some(case.clone()),
            events: vec![scheduled(1), scheduled(2)],
            effects: vec![
                sms("acme", "acme-00001", "acme-00001/a"),
                sms("acme", "acme-00001", "acme-00001/b"),
            ],
            counters: Some(("acme".into(), counters)),
            ..Step::default()
        })
        .unwrap();
    assert_eq!(store.case("acme-00001").unwrap(), Some(case.clone()));
    assert_eq!(store.cases(Some("acme")).unwrap(), [case.clone()]);
    assert_eq!(store.cases(None).unwrap(), [case]);
    assert!(store.cases(Some("other")).unwrap().is_empty());
    assert_eq!(store.journal("acme-00001").unwrap().len(), 2);
    let due = store.due_timers(5_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0, "acme-00001");
    assert!(store.due_timers(4_999).unwrap().is_empty());
    assert_eq!(store.next_timer_ms().unwrap(), Some(5_000));
    let outbox = store.outbox().unwrap();
    let keys: Vec<&str> = outbox.iter().map(|(_, i)| i.key.as_str()).collect();
    assert_eq!(keys, ["acme-00001/a", "acme-00001/b"], "in commit order");
    assert!(outbox[0].0 < outbox[1].0, "outbox ids rise");
    assert_eq!(store.outbox_len(), 2);
    assert!(store.in_outbox(outbox[0].0).unwrap());
    let counters = store.counters("acme").unwrap();
    assert_eq!((counters.signals, counters.cases), (1, 1));
    assert_eq!(store.case_states("acme").unwrap(), [("waiting".into(), 1)]);
    assert!(store.case("acme-00002").unwrap().is_none());
}

/// A case's journal is the concatenation of its steps' events, in order.
pub fn a_journal_reads_back_whole_and_in_order_across_steps(store: &dyn Store) {
    let mut case = new_case("acme-00001", "acme", "+15550001111", 1_000);
    for times in [&[1, 2][..], &[3], &[4, 5, 6], &[]] {
        advance(store, &mut case, CaseState::Waiting, times, None);
    }
    let times: Vec<i64> = store
        .journal("acme-00001")
        .unwrap()
        .iter()
        .map(|e| e.at_ms)
        .collect();
    assert_eq!(times, [1, 2, 3, 4, 5, 6]);
    assert!(store.journal("acme-00002").unwrap().is_empty());
}

/// A case has at most one timer: a step moving it leaves no trace of the old one.
pub fn a_timer_moves_with_its_case_and_leaves_when_it_settles(store: &dyn Store) {
    let mut a = new_case("acme-00001", "acme", "+15550001111", 1_000);
    let mut b = new_case("acme-00002", "acme", "+15550002222", 1_100);
    advance(store, &mut a, CaseState::Waiting, &[1], timer(9_000));
    advance(store, &mut b, CaseState::Waiting, &[1], timer(7_000));
    advance(store, &mut a, CaseState::Waiting, &[2], timer(3_000));
    let due: Vec<(String, i64)> = store
        .due_timers(10_000)
        .unwrap()
        .into_iter()
        .map(|(id, t)| (id, t.due_ms))
        .collect();
    assert_eq!(
        due,
        [("acme-00001".into(), 3_000), ("acme-00002".into(), 7_000)],
        "earliest first, the moved timer only at its new time"
    );
    advance(store, &mut a, handed_off(), &[3], None);
    let due = store.due_timers(10_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(store.next_timer_ms().unwrap(), Some(7_000));
}

/// A new signal finds its caller's open case and history without scanning the tenant.
pub fn a_callers_open_case_is_found_apart_from_their_history(store: &dyn Store) {
    let caller = "+15550001111";
    let mut first = new_case("acme-00001", "acme", caller, 1_000);
    advance(store, &mut first, closed(), &[1], None);
    let mut second = new_case("acme-00002", "acme", caller, 2_000);
    advance(store, &mut second, CaseState::Waiting, &[2], None);
    let mut other_tenant = new_case("beta-00001", "beta", caller, 1_500);
    advance(store, &mut other_tenant, CaseState::Waiting, &[1], None);

    let found = store.caller_cases("acme", caller).unwrap();
    assert_eq!(found.open.map(|c| c.id), Some("acme-00002".into()));
    let history: Vec<String> = found.others.into_iter().map(|c| c.id).collect();
    assert_eq!(history, ["acme-00001"]);
    assert!(store.open_case("acme", "+15550009999").unwrap().is_none());

    advance(store, &mut second, handed_off(), &[3], None);
    let found = store.caller_cases("acme", caller).unwrap();
    assert!(found.open.is_none(), "a handed-off case is not open");
    assert_eq!(found.others.len(), 2);
}

/// Every step moves its case between the per-state counts, kept with the tenant's
/// counters: `/metrics` reads them without reading cases.
pub fn state_counts_follow_each_case_between_states(store: &dyn Store) {
    let mut a = new_case("acme-00001", "acme", "+15550001111", 1_000);
    let mut b = new_case("acme-00002", "acme", "+15550002222", 1_100);
    advance(store, &mut a, CaseState::Waiting, &[1], None);
    advance(store, &mut b, CaseState::Waiting, &[1], None);
    advance(store, &mut a, dialing(), &[2], None);
    advance(store, &mut a, handed_off(), &[3], None);
    assert_eq!(
        store.case_states("acme").unwrap(),
        [("handed-off".into(), 1), ("waiting".into(), 1)]
    );
    // A step carrying the tenant's counters keeps them, with the case's move counted in.
    let mut counters = store.counters("acme").unwrap();
    counters.signals = 7;
    let previous_state = Some(b.state.name());
    b.state = dialing();
    b.journal_len += 1;
    store
        .commit(&Step {
            case: Some(b.clone()),
            previous_state,
            events: vec![scheduled(4)],
            counters: Some(("acme".into(), counters)),
            ..Step::default()
        })
        .unwrap();
    let counters = store.counters("acme").unwrap();
    assert_eq!(counters.signals, 7);
    assert_eq!(
        store.case_states("acme").unwrap(),
        [("dialing".into(), 1), ("handed-off".into(), 1)]
    );
    assert!(store.case_states("beta").unwrap().is_empty());
}

/// A delivered item leaves the outbox; one set aside waits among its tenant's dead
/// letters until it is revived into the outbox under the same key.
pub fn delivered_items_leave_the_outbox_and_dead_letters_wait_apart(store: &dyn Store) {
    for tenant in ["acme", "beta"] {
        let case_id = format!("{tenant}-00001");
        let items = vec![
            sms(tenant, &case_id, &format!("{case_id}/a")),
            sms(tenant, &case_id, &format!("{case_id}/b")),
        ];
        store
            .commit(&Step {
                effects: items,
                ..Step::default()
            })
            .unwrap();
    }
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 4);
    let (delivered, _) = outbox[0].clone();
    store
        .commit(&Step {
            consumed: Some(delivered),
            ..Step::default()
        })
        .unwrap();
    assert!(!store.in_outbox(delivered).unwrap());
    let (failed, item) = outbox[1].clone();
    let dead = DeadLetter {
        id: failed,
        item: item.clone(),
        failures: 10,
        error: "HTTP 500".into(),
        at_ms: 5_000,
    };
    store
        .commit(&Step {
            dead_letter: Some(dead.clone()),
            ..Step::default()
        })
        .unwrap();
    assert!(!store.in_outbox(failed).unwrap());
    assert_eq!(store.outbox_len(), 2, "beta's items stay");
    assert_eq!(store.dead_letters("acme").unwrap(), [dead]);
    assert!(store.dead_letters("beta").unwrap().is_empty());
    assert_eq!(store.dead_letter_counts().unwrap(), [("acme".into(), 1)]);
    let later = store.outbox_where(&|id| id > outbox[2].0).unwrap();
    assert_eq!(later.len(), 1);
    store
        .commit(&Step {
            revived: Some(("acme".into(), failed)),
            effects: vec![item],
            ..Step::default()
        })
        .unwrap();
    assert!(store.dead_letters("acme").unwrap().is_empty());
    assert!(store.dead_letter_counts().unwrap().is_empty());
    assert_eq!(store.outbox_len(), 3, "retried: back in the outbox");
}

/// The dispatcher learns of new items from the list, without scanning the outbox.
pub fn new_effects_are_listed_once_tracking_starts(store: &dyn Store) {
    let commit = |key: &str| {
        store
            .commit(&Step {
                effects: vec![sms("acme", "acme-00001", key)],
                ..Step::default()
            })
            .unwrap()
    };
    commit("before");
    store.track_new_effects();
    commit("first");
    assert!(
        store.take_new_effects().is_none(),
        "the first take cannot know what came before tracking"
    );
    commit("second");
    commit("third");
    let keys: Vec<String> = store
        .take_new_effects()
        .unwrap()
        .into_iter()
        .map(|(_, item)| item.key)
        .collect();
    assert_eq!(keys, ["second", "third"]);
    assert_eq!(store.take_new_effects().unwrap(), []);
    let ticket = store.ticket();
    commit("fourth");
    assert!(
        store.ticket() > ticket,
        "a ticket covers the steps before it"
    );
}

/// A processed provider event is remembered, so a replay changes nothing, until its
/// replay window ends.
pub fn inbound_ids_are_remembered_until_their_window_ends(store: &dyn Store) {
    let seen = |tenant: &str, id: &str, at_ms| Step {
        inbound: Some(InboundEvent {
            tenant: tenant.into(),
            id: id.into(),
            at_ms,
        }),
        ..Step::default()
    };
    store.commit(&seen("acme", "old", 1_000)).unwrap();
    store.commit(&seen("acme", "new", 9_000)).unwrap();
    assert!(store.seen_inbound("acme", "old").unwrap());
    assert!(!store.seen_inbound("beta", "old").unwrap(), "per tenant");
    assert_eq!(store.forget_inbound(5_000, 10_000).unwrap(), 1);
    assert!(!store.seen_inbound("acme", "old").unwrap());
    assert!(store.seen_inbound("acme", "new").unwrap());
}

/// Opt-outs are kept per tenant as suppression ids, and can be rekeyed (a key rotation).
pub fn opt_outs_are_kept_per_tenant_and_can_be_rekeyed(store: &dyn Store) {
    for (tenant, entry) in [("acme", "h1"), ("acme", "h2"), ("beta", "h1")] {
        store
            .commit(&Step {
                opt_out: Some((tenant.into(), entry.into())),
                ..Step::default()
            })
            .unwrap();
    }
    assert!(store.opted_out("acme", "h2").unwrap());
    assert!(!store.opted_out("beta", "h2").unwrap());
    assert_eq!(store.opt_outs().unwrap().len(), 3);
    store.replace_opt_out("acme", "h2", Some("k2")).unwrap();
    store.replace_opt_out("beta", "h1", None).unwrap();
    assert!(store.opted_out("acme", "k2").unwrap());
    assert!(!store.opted_out("acme", "h2").unwrap());
    assert!(!store.opted_out("beta", "h1").unwrap());
}

/// A purge removes each case with its journal, timer, undelivered items and dead
/// letters, the ignored signals it selects, and writes the rollup that counts them.
pub fn a_purge_removes_cases_with_everything_naming_them_and_keeps_the_rollup(store: &dyn Store) {
    let mut gone = new_case("acme-00001", "acme", "+15550001111", 1_000);
    advance(store, &mut gone, CaseState::Waiting, &[1, 2], timer(9_000));
    let mut kept = new_case("acme-00002", "acme", "+15550002222", 1_100);
    advance(store, &mut kept, CaseState::Waiting, &[3], timer(9_500));
    store
        .commit(&Step {
            effects: vec![
                sms("acme", "acme-00001", "acme-00001/sms"),
                sms("acme", "acme-00002", "acme-00002/sms"),
                sms("acme", "acme-00001", "acme-00001/crm"),
            ],
            ..Step::default()
        })
        .unwrap();
    let crm = store.outbox().unwrap()[2].clone();
    store
        .commit(&Step {
            dead_letter: Some(DeadLetter {
                id: crm.0,
                item: crm.1,
                failures: 10,
                error: "HTTP 500".into(),
                at_ms: 5_000,
            }),
            ..Step::default()
        })
        .unwrap();
    for (at_ms, caller) in [
        (100, "+15550003333"),
        (6_000, "+15550003333"),
        (7_000, "+1555"),
    ] {
        let ignored = IgnoredSignal {
            at_ms,
            caller: caller.into(),
            kind: SignalKind::MissedCall,
            reason: "outside hours".into(),
            shadow: None,
        };
        store
            .commit(&Step {
                ignored: Some(("acme".into(), ignored)),
                ..Step::default()
            })
            .unwrap();
    }
    let rollup = Funnel {
        cases: 1,
        ..Funnel::default()
    };
    store
        .purge(&Purge {
            tenant: "acme".into(),
            cases: vec![gone],
            ignored_before_ms: Some(1_000),
            ignored_of: Some("+1555".into()),
            rollup: rollup.clone(),
        })
        .unwrap();
    assert!(store.case("acme-00001").unwrap().is_none());
    assert!(store.journal("acme-00001").unwrap().is_empty());
    let due: Vec<String> = store
        .due_timers(i64::MAX)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(due, ["acme-00002"]);
    let outbox: Vec<String> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.key)
        .collect();
    assert_eq!(outbox, ["acme-00002/sms"]);
    assert!(store.dead_letters("acme").unwrap().is_empty());
    let ignored: Vec<i64> = store
        .ignored("acme")
        .unwrap()
        .iter()
        .map(|i| i.at_ms)
        .collect();
    assert_eq!(ignored, [6_000]);
    assert_eq!(store.rollup("acme").unwrap(), rollup);
    assert_eq!(store.cases(Some("acme")).unwrap(), [kept]);
}

/// After a deleted tenant's cases are purged, nothing keyed by it remains.
pub fn a_forgotten_tenant_leaves_nothing_keyed_by_it(store: &dyn Store) {
    let secret = SealedSecret {
        sealed: vec![1, 2, 3],
        updated_ms: 5,
    };
    let version = PluginVersion {
        sha256: "ab".repeat(32),
        uploaded_ms: 7,
    };
    let trial = Trial {
        sha256: "cd".repeat(32),
        mode: TrialMode::Shadow,
        started_ms: 9,
    };
    for tenant in ["acme", "beta"] {
        store.put_token(&format!("hash-{tenant}"), tenant).unwrap();
        store.put_secret(tenant, "HUBSPOT", &secret).unwrap();
        store.put_secret(tenant, "A_FIRST", &secret).unwrap();
        store
            .set_plugin_versions(tenant, "trigger", std::slice::from_ref(&version))
            .unwrap();
        store.set_trial(tenant, "trigger", Some(&trial)).unwrap();
        store
            .commit(&Step {
                opt_out: Some((tenant.into(), "h1".into())),
                counters: Some((tenant.into(), TenantCounters::default())),
                ..Step::default()
            })
            .unwrap();
    }
    let tombstone = Tombstone {
        deleted_ms: 1,
        purge_after_ms: 2,
    };
    store.put_tombstone("acme", &tombstone).unwrap();
    assert_eq!(store.tombstones().unwrap(), [("acme".into(), tombstone)]);
    assert_eq!(
        store.token_tenant("hash-acme").unwrap(),
        Some("acme".into())
    );
    let names: Vec<String> = store
        .secrets("acme")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["A_FIRST", "HUBSPOT"], "sorted by name");
    assert_eq!(
        store.plugin_versions("acme", "trigger").unwrap(),
        std::slice::from_ref(&version)
    );
    assert_eq!(store.trial("acme", "trigger").unwrap(), Some(trial.clone()));
    assert!(store.delete_secrets("acme", Some("A_FIRST")).unwrap());
    assert!(!store.delete_secrets("acme", Some("A_FIRST")).unwrap());

    store.forget_tenant("acme").unwrap();
    assert!(store.tombstones().unwrap().is_empty());
    assert!(store.token_tenant("hash-acme").unwrap().is_none());
    assert!(store.secrets("acme").unwrap().is_empty());
    assert!(store.plugin_versions("acme", "trigger").unwrap().is_empty());
    assert!(store.trial("acme", "trigger").unwrap().is_none());
    assert!(!store.opted_out("acme", "h1").unwrap());
    // The other tenant keeps everything.
    assert_eq!(
        store.token_tenant("hash-beta").unwrap(),
        Some("beta".into())
    );
    assert_eq!(store.secrets("beta").unwrap().len(), 2);
    assert_eq!(store.trial("beta", "trigger").unwrap(), Some(trial));
    assert!(store.opted_out("beta", "h1").unwrap());
    store.revoke_tokens("beta").unwrap();
    assert!(store.token_tenant("hash-beta").unwrap().is_none());
    store.set_trial("beta", "trigger", None).unwrap();
    assert!(store.trial("beta", "trigger").unwrap().is_none());
}

/// The demo's accelerated clock resumes where it stopped.
pub fn the_clock_survives_in_the_store(store: &dyn Store) {
    assert_eq!(store.clock_ms().unwrap(), None);
    for ms in [5_000, 9_000] {
        store
            .commit(&Step {
                clock_ms: Some(ms),
                ..Step::default()
            })
            .unwrap();
    }
    assert_eq!(store.clock_ms().unwrap(), Some(9_000));
}
