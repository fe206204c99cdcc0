//! The store's own guarantees, on a real sled database in a temporary folder.

use super::*;
use redial_core::records::*;
use redial_sdk::{Moment, Signal, SignalKind};

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

/// Opens the store again after a `Store` on the same folder was dropped in this process.
/// sled releases its lock on the folder once its last handle is gone, which can trail the
/// drop while its I/O threads finish (a test once failed with "could not acquire lock"
/// under load); a real restart is a new process.
fn reopen(dir: &std::path::Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(dir) {
            Err(e)
                if e.to_string().contains("acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

redial_core::store_conformance!(|run: &dyn Fn(&dyn Store)| run(&open().1));

fn case(state: CaseState) -> CaseRecord {
    let signal = Signal {
        kind: SignalKind::MissedCall,
        caller: "+15550001111".into(),
        line: "+15550009999".into(),
        at: Moment {
            unix_ms: 1_000,
            utc_offset_minutes: 0,
            local_weekday: 0,
            local_minute: 600,
        },
        context: vec![],
    };
    CaseRecord {
        state,
        ..CaseRecord::new("acme-00001".into(), "acme".into(), signal, 1, 1_000)
    }
}

fn scheduled(due_ms: i64) -> JournalEntry {
    JournalEntry {
        at_ms: due_ms,
        event: Event::Scheduled { due_ms },
    }
}

/// Commits a step that moves `case` to `state` and appends one event per time in `times`.
fn step(store: &SledStore, case: &mut CaseRecord, state: CaseState, times: &[i64]) {
    let previous_state = Some(case.state.name());
    case.state = state;
    case.journal_len += times.len() as u32;
    store
        .commit(&Step {
            case: Some(case.clone()),
            previous_state,
            events: times.iter().map(|&t| scheduled(t)).collect(),
            ..Step::default()
        })
        .unwrap();
}

/// The times of a case's journal entries, in the order the store returns them.
fn journal_times(store: &SledStore, case_id: &str) -> Vec<i64> {
    let journal = store.journal(case_id).unwrap();
    journal.iter().map(|e| e.at_ms).collect()
}

#[test]
fn a_journal_written_step_by_step_reads_back_whole_and_in_order() {
    let (_dir, store) = open();
    let mut c = case(CaseState::Waiting);
    step(&store, &mut c, CaseState::Waiting, &[1, 2, 3]);
    step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[4]);
    step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[]);
    step(&store, &mut c, CaseState::Waiting, &[5, 6]);
    assert_eq!(journal_times(&store, &c.id), [1, 2, 3, 4, 5, 6]);
    assert_eq!(c.journal_len, 6);
}

#[test]
fn a_journal_written_one_record_per_event_still_reads() {
    let (_dir, store) = open();
    // As the earliest stores wrote them: one unversioned JSON object per event.
    for seq in 0..3u32 {
        let entry = scheduled(10 + i64::from(seq));
        store
            .t()
            .journal
            .insert(
                journal_key("old-00001", seq),
                serde_json::to_vec(&entry).unwrap(),
            )
            .unwrap();
    }
    let mut c = case(CaseState::Waiting);
    c.id = "old-00001".into();
    c.journal_len = 3;
    step(&store, &mut c, CaseState::Waiting, &[13, 14]);
    assert_eq!(journal_times(&store, &c.id), [10, 11, 12, 13, 14]);
}

#[test]
fn a_callers_open_case_is_found_apart_from_its_history_until_it_closes() {
    let (_dir, store) = open();
    let ids = |cases: &[CaseRecord]| cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let mut first = case(CaseState::Waiting);
    step(&store, &mut first, CaseState::Waiting, &[1]);
    step(
        &store,
        &mut first,
        CaseState::Closed {
            reason: "done".into(),
        },
        &[2],
    );
    let mut second = CaseRecord {
        id: "acme-00002".into(),
        opened_ms: 3_000,
        ..case(CaseState::Waiting)
    };
    step(&store, &mut second, CaseState::Waiting, &[3]);
    step(&store, &mut second, CaseState::Dialing { attempt: 1 }, &[4]);

    let open_id = |store: &SledStore| {
        store
            .open_case("acme", &first.caller)
            .unwrap()
            .map(|c| c.id)
    };
    assert_eq!(open_id(&store), Some(second.id.clone()));
    let cases = store.caller_cases("acme", &first.caller).unwrap();
    assert_eq!(cases.open.map(|c| c.id), Some(second.id.clone()));
    assert_eq!(ids(&cases.others), [first.id.clone()]);

    step(
        &store,
        &mut second,
        CaseState::Closed {
            reason: "done".into(),
        },
        &[5],
    );
    assert_eq!(open_id(&store), None);
    let cases = store.caller_cases("acme", &first.caller).unwrap();
    assert!(cases.open.is_none());
    assert_eq!(
        ids(&cases.others),
        [first.id.clone(), second.id.clone()],
        "oldest first"
    );
    assert_eq!(
        store.case_states("acme").unwrap(),
        [("closed".to_string(), 2)]
    );
}

#[test]
fn state_counts_share_the_tenant_counters_record_and_keep_the_steps_counters() {
    let (_dir, store) = open();
    let mut c = case(CaseState::Waiting);
    c.journal_len = 1;
    let counters = TenantCounters {
        signals: 7,
        cases: 1,
        ..TenantCounters::default()
    };
    store
        .commit(&Step {
            case: Some(c.clone()),
            events: vec![scheduled(1)],
            counters: Some(("acme".into(), counters)),
            ..Step::default()
        })
        .unwrap();
    step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[]);
    let stored = store.counters("acme").unwrap();
    assert_eq!((stored.signals, stored.cases), (7, 1));
    assert_eq!(
        store.case_states("acme").unwrap(),
        [("dialing".to_string(), 1)]
    );
}

#[test]
fn a_store_with_state_counts_under_their_own_keys_is_recounted_into_the_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        let mut c = case(CaseState::Waiting);
        step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[1]);
        // The previous layout: counts under `tenant\0state\0name`, its own marker, and a
        // counters record without them.
        let old = TenantCounters {
            signals: 3,
            ..TenantCounters::default()
        };
        store.t().counters.insert("acme", encode(&old)).unwrap();
        store
            .t()
            .counters
            .insert(b"acme\0state\0waiting", &5u64.to_be_bytes())
            .unwrap();
        store.t().counters.insert(b"\0state-counts", &[]).unwrap();
        store.t().counters.remove(b"\0states-in-counters").unwrap();
        store.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(
        store.case_states("acme").unwrap(),
        [("dialing".to_string(), 1)]
    );
    assert_eq!(store.counters("acme").unwrap().signals, 3);
    assert!(
        !store
            .t()
            .counters
            .contains_key(b"acme\0state\0waiting")
            .unwrap()
    );
}

#[test]
fn a_step_logged_but_cut_short_by_a_crash_is_applied_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = case(CaseState::Waiting);
    c.journal_len = 2;
    let step = Step {
        case: Some(c.clone()),
        events: vec![scheduled(1), scheduled(2)],
        counters: Some((
            "acme".into(),
            TenantCounters {
                signals: 1,
                cases: 1,
                ..TenantCounters::default()
            },
        )),
        ..Step::default()
    };
    {
        let store = SledStore::open(dir.path()).unwrap();
        // What a crash between logging the step and applying its writes leaves: the
        // record, and only the first write applied.
        let w = store.step_writes(&step).unwrap().set;
        store
            .t()
            .wal
            .insert(7u64.to_be_bytes(), w.encode())
            .unwrap();
        let (tree, key, value) = w.iter().next().unwrap();
        store
            .t()
            .tree(tree)
            .unwrap()
            .insert(key, value.unwrap())
            .unwrap();
        store.t().db.flush().unwrap();
        assert!(store.counters("acme").unwrap().cases == 0);
    }
    let store = reopen(dir.path());
    assert_eq!(
        store.case(&c.id).unwrap().unwrap().state,
        CaseState::Waiting
    );
    assert_eq!(journal_times(&store, &c.id), [1, 2]);
    assert_eq!(
        store.open_case("acme", &c.caller).unwrap().map(|c| c.id),
        Some(c.id.clone())
    );
    let counters = store.counters("acme").unwrap();
    assert_eq!((counters.signals, counters.cases), (1, 1));
    assert_eq!(counters.states.get("waiting"), Some(&1));
    assert!(store.t().wal.is_empty(), "a replayed record is removed");
}

#[test]
fn a_record_logged_by_an_earlier_version_with_the_open_index_still_replays() {
    let dir = tempfile::tempdir().unwrap();
    let c = case(CaseState::Waiting);
    {
        let store = SledStore::open(dir.path()).unwrap();
        let mut w = WriteSet::default();
        w.insert(TreeId::Cases, c.id.as_bytes(), encode(&c));
        w.insert(TreeId::Open, pair("acme", &c.caller), c.id.as_bytes());
        store
            .t()
            .wal
            .insert(9u64.to_be_bytes(), w.encode())
            .unwrap();
        store.t().db.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(store.recovered_steps(), 1);
    assert_eq!(store.case(&c.id).unwrap(), Some(c));
    assert!(
        !store.t().db.tree_names().contains(&LEGACY_OPEN_TREE.into()),
        "the old index is dropped once replayed"
    );
}

#[test]
fn a_flush_removes_the_write_ahead_records_it_made_durable() {
    let (_dir, store) = open();
    let mut c = case(CaseState::Waiting);
    step(&store, &mut c, CaseState::Waiting, &[1]);
    step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[2]);
    assert_eq!(store.t().wal.len(), 2, "logged until a flush covers them");
    store.flush().unwrap();
    assert!(store.t().wal.is_empty());
    assert_eq!(journal_times(&store, &c.id), [1, 2]);
}

#[test]
fn after_a_step_fails_part_way_no_further_step_is_taken() {
    let (_dir, store) = open();
    store.halted.set("disk full".into()).unwrap();
    let mut c = case(CaseState::Waiting);
    c.journal_len = 1;
    let err = store
        .commit(&Step {
            case: Some(c.clone()),
            events: vec![scheduled(1)],
            ..Step::default()
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Halted(_)), "{err}");
    assert!(err.to_string().contains("restart"), "{err}");
    assert!(store.case(&c.id).unwrap().is_none(), "nothing written");
}

#[test]
fn a_store_closed_after_a_flush_reopens_with_nothing_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = case(CaseState::Waiting);
    {
        let store = SledStore::open(dir.path()).unwrap();
        step(&store, &mut c, CaseState::Waiting, &[1]);
        step(&store, &mut c, CaseState::Dialing { attempt: 1 }, &[2]);
        store.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(store.recovered_steps(), 0);
    assert_eq!(journal_times(&store, &c.id), [1, 2]);
}

/// Awaits `future`, failing the test instead of hanging when it never resolves.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), future)
        .await
        .expect("resolved within 30 s")
}

#[tokio::test]
async fn a_ticket_resolves_once_the_steps_it_covers_are_flushed() {
    let (_dir, store) = open();
    let mut c = case(CaseState::Waiting);
    step(&store, &mut c, CaseState::Waiting, &[1]);
    let ticket = store.ticket();
    assert_eq!(store.t().wal.len(), 1, "logged, not yet flushed");
    within(store.durable(ticket)).await.unwrap();
    assert!(
        store.t().wal.is_empty(),
        "the flush that made it durable removed its record"
    );
    within(store.durable(ticket)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_waiting_at_once_all_see_their_steps_durable() {
    let (_dir, store) = open();
    let waiters: Vec<_> = (0..64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let committer = store.clone();
                let ticket = tokio::task::spawn_blocking(move || {
                    let mut c = CaseRecord {
                        id: format!("acme-{n:05}"),
                        ..case(CaseState::Waiting)
                    };
                    step(&committer, &mut c, CaseState::Waiting, &[n]);
                    committer.ticket()
                })
                .await
                .unwrap();
                store.durable(ticket).await.unwrap();
            })
        })
        .collect();
    for waited in within(futures_util::future::join_all(waiters)).await {
        waited.unwrap();
    }
    assert_eq!(store.cases(Some("acme")).unwrap().len(), 64);
}

#[test]
fn a_dead_letter_leaves_the_outbox_survives_a_restart_and_goes_when_revived() {
    let (dir, store) = open();
    let item = |tenant: &str| OutboxItem {
        key: format!("{tenant}-00001/sms"),
        tenant: tenant.into(),
        case_id: format!("{tenant}-00001"),
        effect: Effect::Sms {
            to: "+15550001111".into(),
            body: "hello".into(),
        },
    };
    for tenant in ["acme", "acme-2"] {
        store
            .commit(&Step {
                effects: vec![item(tenant)],
                ..Step::default()
            })
            .unwrap();
    }
    let (id, _) = store.outbox().unwrap()[0].clone();
    let dead = DeadLetter {
        id,
        item: item("acme"),
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
    store.flush().unwrap();
    drop(store);

    let store = reopen(dir.path());
    assert!(!store.in_outbox(id).unwrap());
    assert_eq!(store.outbox_len(), 1, "the other tenant's item stays");
    assert_eq!(store.dead_letters("acme").unwrap(), [dead]);
    assert!(store.dead_letters("acme-2").unwrap().is_empty());
    assert_eq!(
        store.dead_letter_counts().unwrap(),
        [("acme".to_string(), 1)]
    );
    store
        .commit(&Step {
            revived: Some(("acme".into(), id)),
            effects: vec![item("acme")],
            ..Step::default()
        })
        .unwrap();
    assert!(store.dead_letters("acme").unwrap().is_empty());
    assert!(store.dead_letter_counts().unwrap().is_empty());
    assert_eq!(store.outbox_len(), 2, "retried: back in the outbox");
}

#[test]
fn inbound_ids_are_forgotten_after_their_window_and_old_untimed_ones_start_one() {
    let (_dir, store) = open();
    let seen = |tenant: &str, id: &str, at_ms| Step {
        inbound: Some(redial_core::store::InboundEvent {
            tenant: tenant.into(),
            id: id.into(),
            at_ms,
        }),
        ..Step::default()
    };
    store.commit(&seen("acme", "old", 1_000)).unwrap();
    store.commit(&seen("acme", "new", 9_000)).unwrap();
    // An id an earlier version stored without a time.
    store
        .t()
        .inbound
        .insert(pair("acme", "untimed"), &[])
        .unwrap();
    assert_eq!(store.forget_inbound(5_000, 10_000).unwrap(), 1);
    assert!(!store.seen_inbound("acme", "old").unwrap());
    assert!(store.seen_inbound("acme", "new").unwrap());
    assert!(
        store.seen_inbound("acme", "untimed").unwrap(),
        "its window starts now"
    );
    assert_eq!(store.forget_inbound(9_500, 20_000).unwrap(), 1, "new goes");
    assert_eq!(
        store.forget_inbound(10_001, 30_000).unwrap(),
        1,
        "then untimed"
    );
    assert!(!store.seen_inbound("acme", "untimed").unwrap());
}

#[test]
fn a_purge_removes_a_case_with_everything_naming_it_and_keeps_its_rollup_across_a_restart() {
    let (dir, store) = open();
    let mut gone = case(CaseState::Waiting);
    step(&store, &mut gone, CaseState::Waiting, &[1, 2]);
    let mut kept = CaseRecord {
        id: "acme-00002".into(),
        ..case(CaseState::Waiting)
    };
    step(&store, &mut kept, CaseState::Waiting, &[3]);
    let effect = |case_id: &str| OutboxItem {
        key: format!("{case_id}/sms"),
        tenant: "acme".into(),
        case_id: case_id.into(),
        effect: Effect::Sms {
            to: "+15550001111".into(),
            body: "hello".into(),
        },
    };
    store
        .commit(&Step {
            effects: vec![effect(&gone.id), effect(&kept.id)],
            ..Step::default()
        })
        .unwrap();
    let ignored = |at_ms, caller: &str| IgnoredSignal {
        at_ms,
        caller: caller.into(),
        kind: SignalKind::MissedCall,
        reason: "outside".into(),
        shadow: None,
    };
    for record in [ignored(10, "+1555000"), ignored(20, "+1555999")] {
        store
            .commit(&Step {
                ignored: Some(("acme".into(), record)),
                ..Step::default()
            })
            .unwrap();
    }
    let mut rollup = Funnel::default();
    rollup.roll_up(&gone);
    rollup.ignored = 1;
    store
        .purge(&Purge {
            tenant: "acme".into(),
            cases: vec![gone.clone()],
            ignored_before_ms: Some(15),
            rollup: rollup.clone(),
            ..Purge::default()
        })
        .unwrap();
    drop(store);
    let store = reopen(dir.path());
    assert!(store.case(&gone.id).unwrap().is_none());
    assert!(store.journal(&gone.id).unwrap().is_empty());
    let history = store.caller_cases("acme", &gone.caller).unwrap();
    assert_eq!(history.open.map(|c| c.id), Some(kept.id.clone()));
    let outbox: Vec<String> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.case_id)
        .collect();
    assert_eq!(outbox, [kept.id.clone()]);
    assert_eq!(journal_times(&store, &kept.id), [3]);
    let left: Vec<i64> = store
        .ignored("acme")
        .unwrap()
        .iter()
        .map(|i| i.at_ms)
        .collect();
    assert_eq!(left, [20]);
    assert_eq!(store.rollup("acme").unwrap(), rollup);
    assert_eq!(store.rollup("other").unwrap(), Funnel::default());
}

/// Whether any file under `dir` holds `needle`.
fn files_hold(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            files_hold(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

fn with_caller(id: &str, caller: &str) -> CaseRecord {
    let mut c = case(CaseState::Waiting);
    c.id = id.into();
    c.caller = caller.into();
    c.signal.caller = caller.into();
    c
}

#[test]
fn after_a_rewrite_a_purged_callers_number_is_in_no_file_and_the_rest_reads_on() {
    let (dir, store) = open();
    let erased = "+15550007777";
    let mut gone = with_caller("acme-00001", erased);
    step(&store, &mut gone, CaseState::Waiting, &[1]);
    let mut kept = with_caller("acme-00002", "+15550003333");
    step(&store, &mut kept, CaseState::Waiting, &[2]);
    store.flush().unwrap();
    let first_id = store.t().next_id().unwrap();
    assert!(files_hold(dir.path(), erased.as_bytes()), "written at all");

    store
        .purge(&Purge {
            tenant: "acme".into(),
            cases: vec![gone],
            ..Purge::default()
        })
        .unwrap();
    let copied = store.rewrite().unwrap();
    assert!(copied.records > 0);
    assert!(
        !files_hold(dir.path(), erased.as_bytes()),
        "the number is still in a file"
    );
    assert!(store.t().next_id().unwrap() > first_id, "ids keep rising");
    assert_eq!(journal_times(&store, &kept.id), [2]);
    step(&store, &mut kept, CaseState::Waiting, &[3]);
    drop(store);

    let store = reopen(dir.path());
    assert_eq!(journal_times(&store, &kept.id), [2, 3]);
    assert!(store.t().next_id().unwrap() > first_id);
    assert_eq!(store.t().generation, 1);
}

#[test]
fn a_backup_restores_into_a_store_with_the_same_cases_and_timers() {
    let (_dir, store) = open();
    let mut timed = case(CaseState::Waiting);
    timed.timer = Some(Timer {
        due_ms: 5_000,
        kind: TimerKind::NextAttempt,
    });
    step(&store, &mut timed, CaseState::Waiting, &[1]);
    let backup = tempfile::tempdir().unwrap();
    let target = backup.path().join("snapshot");
    store.backup(&target).unwrap();
    assert!(store.backup(&target).is_err(), "a folder in use is refused");
    step(&store, &mut timed, CaseState::Waiting, &[2]);

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_path = restored_dir.path().join("db");
    SledStore::restore(&target, &restored_path).unwrap();
    let restored = reopen(&restored_path);
    assert_eq!(journal_times(&restored, &timed.id), [1], "as at the backup");
    assert_eq!(restored.due_timers(10_000).unwrap().len(), 1);
    assert!(
        SledStore::restore(&target, &restored_path).is_err(),
        "not over a store"
    );
}

#[test]
fn a_slots_trial_survives_a_restart_until_it_ends_or_its_tenant_is_forgotten() {
    let (dir, store) = open();
    let trial = Trial {
        sha256: "ab12".into(),
        mode: TrialMode::Split { percent: 20 },
        started_ms: 5,
    };
    store.set_trial("acme", "trigger", Some(&trial)).unwrap();
    store.set_trial("other", "trigger", Some(&trial)).unwrap();
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.trial("acme", "trigger").unwrap(), Some(trial.clone()));
    assert_eq!(store.trial("acme", "cadence").unwrap(), None);
    store.set_trial("acme", "trigger", None).unwrap();
    assert_eq!(store.trial("acme", "trigger").unwrap(), None);
    store.forget_tenant("other").unwrap();
    assert_eq!(store.trial("other", "trigger").unwrap(), None);
}
