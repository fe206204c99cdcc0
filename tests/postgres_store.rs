//! What only the PostgreSQL store does, through the real server and binary: a database
//! that goes away mid-run (503 with `Retry-After`, then resuming with nothing lost), and
//! the refusals at start (unreachable, wrong password, a newer schema). The behaviour both
//! stores share runs on each in `recovery_loop.rs`, `crash_recovery.rs` and `faults.rs`.

mod common;

use common::proxy::Proxy;
use common::server::*;
use redial_server::StoreAt;
use redial_store_postgres::scratch::ScratchDatabase;
use std::process::Command;

/// `url` with its `host:port` replaced by `addr`.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let at = url.find('@').unwrap() + 1;
    let slash = at + url[at..].find('/').unwrap();
    format!("{}{addr}{}", &url[..at], &url[slash..])
}

/// The `host:port` of a URL.
fn server_of(url: &str) -> std::net::SocketAddr {
    let at = url.find('@').unwrap() + 1;
    let slash = at + url[at..].find('/').unwrap();
    url[at..slash].parse().unwrap()
}

#[test]
fn losing_the_database_answers_503_with_retry_after_then_resumes_with_nothing_lost() {
    let db = ScratchDatabase::for_test("outage");
    let proxy = Proxy::start(server_of(&db.url));
    let through_proxy = StoreAt::Postgres(via(&db.url, proxy.addr));
    let s = Server::simulated_with(|app| app.store(through_proxy));
    let send = |id: &str, caller: &str| {
        let body = serde_json::to_vec(&missed_call(caller)).unwrap();
        s.signal_exchange(HVAC, id, &body, &body, "application/json")
    };

    let mut cases = Vec::new();
    for n in 0..5 {
        let (status, _, body) = send(&format!("before-{n}"), &format!("+1512555{n:04}"));
        assert_eq!(status, 202, "{body}");
        cases.push(serde_json::from_str::<serde_json::Value>(&body).unwrap()["case"].clone());
    }

    proxy.cut();
    let mut refused = Vec::new();
    for n in 0..5 {
        let (id, caller) = (format!("during-{n}"), format!("+1512666{n:04}"));
        let (status, headers, body) = send(&id, &caller);
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("store is unavailable"), "{body}");
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After: {wait}");
        refused.push((id, caller));
    }
    let (status, _) = s.get(&format!("/v1/tenants/{HVAC}/cases"), ADMIN);
    assert_eq!(status, 503, "reads wait for the database too");

    proxy.restore();
    // The provider retries what was refused, under the same event ids.
    for (id, caller) in &refused {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, _, body) = send(id, caller);
            if status == 202 {
                cases.push(
                    serde_json::from_str::<serde_json::Value>(&body).unwrap()["case"].clone(),
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{status} {body}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    // Every case, acknowledged before or after the outage, reaches its end on the simulator.
    for case in &cases {
        let case = case.as_str().unwrap();
        let settled = s.settled(case);
        assert_ne!(settled["case"]["state"]["state"], "waiting", "{settled}");
    }
    let (_, listed) = s.get(&format!("/v1/tenants/{HVAC}/cases"), ADMIN);
    let listed = listed["cases"].as_array().unwrap().len();
    assert_eq!(
        listed, 10,
        "five before and five retried after: no more, no fewer"
    );
    println!(
        "database outage: 5 signals taken before, 5 refused with 503 + Retry-After during, \
         all 5 retried after it came back; {listed} cases, each settled"
    );
}

/// `redial serve` with `store` in REDIAL_STORE and its data folder in `data`: its exit
/// status and what it printed on stderr.
fn serve_once(store: &str, data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redial"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("REDIAL_STORE", store)
        .env("REDIAL_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_node_that_cannot_reach_or_log_in_to_its_database_stops_at_start_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (code, stderr) = serve_once("postgres://redial:pw@127.0.0.1:1/redial", &data);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach PostgreSQL at 127.0.0.1:1/redial"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains(":pw@"),
        "the password stays out of messages: {stderr}"
    );

    let db = ScratchDatabase::for_test("login");
    let wrong = db.url.replacen(":redial-test@", ":wrong@", 1);
    let (code, stderr) = serve_once(&wrong, &data);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!data.exists(), "no data folder was made");
    let tables = redial_store_postgres::PgStore::open(&db.url)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        tables,
        Ok(()),
        "the database was left empty for a good start"
    );
}

#[test]
fn a_database_migrated_by_a_newer_redial_is_refused_naming_both_versions() {
    let db = ScratchDatabase::for_test("newer");
    drop(redial_store_postgres::PgStore::open(&db.url).unwrap());
    let newer = redial_store_postgres::SCHEMA_VERSION + 1;
    bump_schema(&db.url, newer);
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve_once(&db.url, &dir.path().join("node"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("schema is version {newer}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "version {}, the newest this build",
            redial_store_postgres::SCHEMA_VERSION
        )),
        "{stderr}"
    );
}

/// Marks the database's schema as `version`, as a newer Redial would have left it.
fn bump_schema(url: &str, version: i32) {
    common::backend::sql(
        url,
        &format!("UPDATE redial_schema SET version = {version}, written_by = 'Redial 9.0.0'"),
    )
    .unwrap();
}
