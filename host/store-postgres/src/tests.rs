//! The PostgreSQL store on a real server (`REDIAL_TEST_POSTGRES`, which
//! `tests/with-postgres` provides): the port's conformance suite, then what only this
//! backend does.

use super::*;
use crate::scratch::ScratchDatabase;
use redial_core::records::{Effect, OutboxItem};
use redial_core::store::{InboundEvent, LEASE_RENEWAL, LEASE_TERM, Ownership, Step, Store};

fn fresh() -> (ScratchDatabase, PgStore) {
    let db = ScratchDatabase::for_test("unit");
    let store = PgStore::open(&db.url).unwrap();
    (db, store)
}

redial_core::store_conformance!(|run: &dyn Fn(&dyn Store)| {
    let (_db, store) = fresh();
    run(&store);
});

#[test]
fn a_server_that_cannot_be_reached_fails_at_open_naming_where_and_why() {
    // Port 1 on loopback: nothing listens there.
    let err = PgStore::open("postgres://redial:secret@127.0.0.1:1/redial")
        .err()
        .expect("no server there");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{message}");
    assert!(message.contains("127.0.0.1:1/redial"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password stays out: {message}"
    );
}

#[test]
fn a_wrong_password_fails_at_open_and_creates_nothing() {
    let db = ScratchDatabase::for_test("auth");
    let url = db.url.replacen(":redial-test@", ":wrong@", 1);
    assert_ne!(url, db.url, "the test server's password is redial-test");
    let message = PgStore::open(&url).err().expect("refused").to_string();
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    // Nothing was created: the first open with the right password migrates from zero.
    let store = PgStore::open(&db.url).unwrap();
    let found: i64 = store
        .query("SELECT count(*) FROM redial_schema", &[])
        .unwrap()[0]
        .get(0);
    assert_eq!(found, 1);
}

#[test]
fn a_url_that_is_not_postgres_is_refused_before_connecting() {
    let message = PgStore::open("mysql://x@y/z").err().unwrap().to_string();
    assert!(message.contains("not a PostgreSQL URL"), "{message}");
}

#[test]
fn a_schema_from_a_newer_redial_is_refused_naming_both_versions_and_left_alone() {
    let (db, store) = fresh();
    store
        .execute(
            "UPDATE redial_schema SET version = $1, written_by = 'Redial 9.9.9'",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    drop(store);
    let message = PgStore::open(&db.url).err().expect("refused").to_string();
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert!(
        message.contains(&format!("version {SCHEMA_VERSION}")),
        "{message}"
    );
    assert!(message.contains("Redial 9.9.9"), "{message}");
    let admin = PgStore::connect(&db.url).unwrap();
    let version: i32 = admin
        .query("SELECT version FROM redial_schema", &[])
        .unwrap()[0]
        .get(0);
    assert_eq!(version, SCHEMA_VERSION + 1, "the newer schema is untouched");
}

#[test]
fn nodes_opening_one_database_at_once_migrate_it_once() {
    let db = ScratchDatabase::for_test("race");
    let opened: Vec<Result<PgStore, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| PgStore::open(&db.url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
    }
}

fn sms(key: &str) -> OutboxItem {
    OutboxItem {
        key: key.into(),
        tenant: "acme".into(),
        case_id: "acme-00001".into(),
        effect: Effect::Sms {
            to: "+15550001111".into(),
            body: "hello".into(),
        },
    }
}

#[test]
fn a_step_repeating_an_idempotency_key_or_an_event_id_fails_whole() {
    let (_db, store) = fresh();
    let inbound = |id: &str| InboundEvent {
        tenant: "acme".into(),
        id: id.into(),
        at_ms: 1,
    };
    store
        .commit(&Step {
            effects: vec![sms("acme-00001/dial-1")],
            inbound: Some(inbound("evt-1")),
            ..Step::default()
        })
        .unwrap();
    let again = store.commit(&Step {
        effects: vec![sms("acme-00001/sms")],
        inbound: Some(inbound("evt-1")),
        ..Step::default()
    });
    assert!(again.is_err(), "a second step for one event");
    let doubled = store.commit(&Step {
        effects: vec![sms("acme-00001/dial-1")],
        inbound: Some(inbound("evt-2")),
        ..Step::default()
    });
    assert!(doubled.is_err(), "a second item under one key");
    let keys: Vec<String> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.key)
        .collect();
    assert_eq!(
        keys,
        ["acme-00001/dial-1"],
        "neither failed step left anything"
    );
    assert!(!store.seen_inbound("acme", "evt-2").unwrap());
}

#[test]
fn a_rewrite_compacts_the_tables_and_sizes_are_reported() {
    let (_db, store) = fresh();
    store
        .commit(&Step {
            effects: (0..50).map(|i| sms(&format!("k{i}"))).collect(),
            ..Step::default()
        })
        .unwrap();
    let sizes = store.sizes().unwrap();
    assert!(
        sizes.on_disk > 0 && sizes.live <= sizes.on_disk,
        "{sizes:?}"
    );
    store.rewrite().unwrap();
    assert_eq!(store.outbox_len(), 50);
    let refused = store.backup(std::path::Path::new("/tmp/x")).unwrap_err();
    assert!(refused.to_string().contains("pg_dump"));
}

#[test]
fn a_tenants_steps_wait_for_another_nodes_step_and_other_tenants_do_not() {
    let (db, a) = fresh();
    let b = PgStore::open(&db.url).unwrap();
    let held = a.lock_tenant("acme").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _other = b.lock_tenant("beta").unwrap();
            tx.send("beta").unwrap();
            let _same = b.lock_tenant("acme").unwrap();
            tx.send("acme").unwrap();
        });
        let wait = std::time::Duration::from_millis(300);
        assert_eq!(
            rx.recv_timeout(wait * 10),
            Ok("beta"),
            "another tenant goes on"
        );
        assert!(
            rx.recv_timeout(wait).is_err(),
            "acme waits for the other node"
        );
        drop(held);
        assert_eq!(
            rx.recv_timeout(wait * 10),
            Ok("acme"),
            "and goes once it is released"
        );
    });
}

fn tenants(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("tenant-{i:02}")).collect()
}

fn held(ownership: &Ownership) -> std::collections::BTreeSet<String> {
    match ownership {
        Ownership::Only(tenants) => tenants.clone(),
        Ownership::All => panic!("a shared store owns only what it leases"),
    }
}

#[test]
fn nodes_share_the_tenants_fairly_and_a_silent_nodes_pass_to_the_others_within_the_term() {
    let (db, a) = fresh();
    let b = PgStore::open(&db.url).unwrap();
    let known = tenants(10);
    assert_eq!(
        held(&a.claim_tenants(&known).unwrap()).len(),
        10,
        "alone: all"
    );
    assert!(
        held(&b.claim_tenants(&known).unwrap()).is_empty(),
        "all taken"
    );
    assert_eq!(
        held(&a.claim_tenants(&known).unwrap()).len(),
        5,
        "a gives up half"
    );
    let of_b = held(&b.claim_tenants(&known).unwrap());
    let of_a = held(&a.claim_tenants(&known).unwrap());
    assert_eq!(of_b.len(), 5, "b takes them");
    assert!(of_a.is_disjoint(&of_b), "no tenant has two owners");
    assert_eq!(of_a.len() + of_b.len(), 10);

    // a stops renewing (killed): b holds everything once a's leases lapse.
    let silent = std::time::Instant::now();
    let lapsed = loop {
        let of_b = held(&b.claim_tenants(&known).unwrap());
        if of_b.len() == 10 {
            break silent.elapsed();
        }
        assert!(
            silent.elapsed() < LEASE_TERM * 2,
            "still {} of 10",
            of_b.len()
        );
        std::thread::sleep(LEASE_RENEWAL / 4);
    };
    assert!(
        lapsed >= LEASE_TERM - LEASE_RENEWAL,
        "not before the term: {lapsed:?}"
    );
    println!("a silent node's tenants passed to the other after {lapsed:?}");
}
