//! Data lifecycle over real HTTP on loopback and the real sled store: a caller's erasure
//! (down to the bytes of the store's files), and backup and restore of a running server.

mod common;

use common::server::*;
use redial_server::auth::twilio_signature;
use serde_json::Value;
use std::path::Path;

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

fn erase(s: &Server, tenant: &str, number: &str, token: &str) -> (u16, Value) {
    let (status, body) = s.send(
        "DELETE",
        &format!("/v1/tenants/{tenant}/callers/{number}"),
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn stop_by_sms(s: &Server, tenant: &str, caller: &str, sid: &str) {
    let path = format!("/v1/tenants/{tenant}/twilio/sms");
    let (owned, form) = twilio_form(&[
        ("MessageSid", sid),
        ("From", caller),
        ("To", "+15125550200"),
        ("Body", "STOP"),
    ]);
    let sig = twilio_signature(TWILIO_TOKEN, &format!("{}{path}", s.base), &owned);
    let (status, body) = s.send(
        "POST",
        &path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-twilio-signature", &sig),
        ],
        Some(&form),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_erased_caller_is_in_no_file_of_the_store_stays_opted_out_and_still_counts() {
    let s = Server::simulated();
    let erased = "+15125550177";
    let digits = b"5125550177";
    let kept = "+15125550133";
    let mut cases = Vec::new();
    for (event, caller) in [("evt-1", erased), ("evt-2", kept)] {
        let (status, body) = s.signal(HVAC, event, &missed_call(caller));
        assert_eq!(status, 202, "{body}");
        cases.push(body["case"].as_str().unwrap().to_string());
    }
    for case in &cases {
        s.settled(case);
    }
    stop_by_sms(&s, HVAC, erased, "SM-stop");
    let (_, ignored) = s.signal(HVAC, "evt-3", &missed_call(erased));
    assert_eq!(ignored["reason"], "caller opted out", "{ignored}");
    let (_, before) = s.get(&format!("/v1/tenants/{HVAC}/funnel"), ADMIN);
    s.engine.store().sync().unwrap();
    let data_dir = s._dir.path();
    assert!(
        !files_holding(data_dir, digits).is_empty(),
        "written at all"
    );

    let hvac = s.token_for(HVAC);
    let saas = s.token_for(SAAS);
    assert_eq!(
        erase(&s, HVAC, erased, &saas).0,
        403,
        "another tenant's token"
    );
    let (status, receipt) = erase(&s, HVAC, erased, &hvac);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["cases"], serde_json::json!([cases[0]]), "{receipt}");
    assert!(
        receipt["journal_entries"].as_u64().unwrap() > 5,
        "{receipt}"
    );
    assert_eq!(receipt["ignored_signals"], 1, "{receipt}");
    assert_eq!(receipt["suppression_kept"], true);
    assert_eq!(receipt["files_rewritten"], true, "{receipt}");

    let holding = files_holding(data_dir, digits);
    assert!(
        holding.is_empty(),
        "the erased number is still in {holding:?}"
    );
    let (status, _) = s.get(&format!("/v1/cases/{}", cases[0]), ADMIN);
    assert_eq!(status, 404);
    let (status, _) = s.get(&format!("/v1/cases/{}", cases[1]), ADMIN);
    assert_eq!(status, 200, "the other caller's case is untouched");
    let (_, after) = s.get(&format!("/v1/tenants/{HVAC}/funnel"), ADMIN);
    assert_eq!(
        after["funnel"], before["funnel"],
        "the funnel still counts them"
    );

    let (_, again) = s.signal(HVAC, "evt-4", &missed_call(erased));
    assert_eq!(
        again["reason"], "caller opted out",
        "the opt-out outlives the erasure"
    );
    let (status, body) = s.signal(HVAC, "evt-5", &missed_call(kept));
    assert_eq!(status, 202, "the server goes on after a rewrite: {body}");
}

#[test]
fn erasing_an_unknown_number_answers_an_empty_receipt_and_a_malformed_one_names_the_field() {
    let s = Server::simulated();
    let (status, receipt) = erase(&s, HVAC, "+15125550999", ADMIN);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["cases"], serde_json::json!([]));
    assert_eq!(receipt["journal_entries"], 0);
    assert_eq!(receipt["suppression_kept"], false);
    for bad in ["5125550999", "+1-512-555", "%2B12"] {
        let (status, body) = erase(&s, HVAC, bad, ADMIN);
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "number", "{body}");
    }
    assert_eq!(erase(&s, "no-such-tenant", "+15125550999", ADMIN).0, 404);
}

#[test]
fn a_deleted_tenant_stops_at_once_keeps_its_id_until_purged_and_a_new_one_sees_nothing_old() {
    let s = Server::simulated();
    let (_, body) = s.signal(HVAC, "evt-1", &missed_call("+15125550144"));
    let old_case = body["case"].as_str().unwrap().to_string();
    s.settled(&old_case);
    let admin = format!("Bearer {ADMIN}");
    let delete = |query: &str| {
        let (status, body) = s.send(
            "DELETE",
            &format!("/v1/tenants/{HVAC}{query}"),
            &[("authorization", &admin)],
            None,
        );
        (status, serde_json::from_str::<Value>(&body).unwrap())
    };
    let (status, deleted) = delete("");
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["purged"], false);
    assert!(deleted["purge_after_ms"].as_i64().unwrap() > 0, "{deleted}");
    let (status, _) = s.signal(HVAC, "evt-2", &missed_call("+15125550144"));
    assert_eq!(status, 404, "the tenant stopped at once");

    let policy = common::policy_text("lone-star-hvac.toml");
    let put = || {
        s.send(
            "PUT",
            &format!("/v1/tenants/{HVAC}/policy"),
            &[("authorization", &admin)],
            Some(policy.as_bytes()),
        )
    };
    let (status, body) = put();
    assert_eq!(status, 409, "the id is held until the purge: {body}");
    assert!(body.contains("purge=now"), "{body}");
    assert_eq!(delete("?purge=later").0, 400);

    let (status, purged) = delete("?purge=now");
    assert_eq!(status, 200, "{purged}");
    assert_eq!(purged["purged"], true);
    assert_eq!(s.engine.store().cases(Some(HVAC)).unwrap().len(), 0);
    assert_eq!(put().0, 201, "the id is free again");
    let (status, _) = s.get(&format!("/v1/cases/{old_case}"), ADMIN);
    assert_eq!(status, 404);
    let (_, funnel) = s.get(&format!("/v1/tenants/{HVAC}/funnel"), ADMIN);
    assert_eq!(funnel["funnel"]["cases"], 0, "{funnel}");
    assert_eq!(funnel["funnel"]["signals"], 0, "{funnel}");
    assert_eq!(delete("").0, 200);
    assert_eq!(
        s.send(
            "DELETE",
            "/v1/tenants/never-was",
            &[("authorization", &admin)],
            None
        )
        .0,
        404
    );
}

#[test]
fn a_backup_taken_under_load_restores_into_a_server_that_resumes_every_open_case_and_timer() {
    use redial_core::clock::ManualClock;
    use redial_core::store::Store;
    use std::sync::Arc;

    // Now, held still: signed webhooks are checked against the engine's clock.
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let clock = Arc::new(ManualClock::new(start_ms));
    let engine_clock = clock.clone();
    let s = Server::simulated_with(|app| app.clock(engine_clock).signal_rate(None));
    let backup_root = tempfile::tempdir().unwrap();
    let backup = backup_root.path().join("snapshot");
    let backed_up = std::thread::scope(|scope| {
        let load: Vec<_> = (0..4)
            .map(|worker| {
                let s = &s;
                scope.spawn(move || {
                    for n in 0..40 {
                        let tenant = if n % 2 == 0 { HVAC } else { SAAS };
                        let caller = format!("+1512555{worker}{n:03}");
                        let (status, body) =
                            s.signal(tenant, &format!("evt-{worker}-{n}"), &missed_call(&caller));
                        assert_eq!(status, 202, "{body}");
                    }
                })
            })
            .collect();
        // Mid-load: some signals in, more arriving.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while s.signals_recorded(HVAC) + s.signals_recorded(SAAS) < 40
            && std::time::Instant::now() < deadline
            && !load.iter().all(|w| w.is_finished())
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let body = serde_json::json!({ "dir": backup });
        let (status, made) = s.send(
            "POST",
            "/v1/admin/backups",
            &[
                ("authorization", &format!("Bearer {ADMIN}")),
                ("content-type", "application/json"),
            ],
            Some(body.to_string().as_bytes()),
        );
        for worker in load {
            worker.join().unwrap();
        }
        (status, made)
    });
    assert_eq!(backed_up.0, 201, "{}", backed_up.1);
    let (status, again) = s.send(
        "POST",
        "/v1/admin/backups",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        Some(serde_json::json!({ "dir": backup }).to_string().as_bytes()),
    );
    assert_eq!(status, 409, "not over a backup: {again}");
    drop(s);

    // What the backup holds still to do: open cases, and timers (SLA clocks).
    let (cases, pending) = {
        let snapshot = redial_store_sled::SledStore::open(&backup).unwrap();
        let cases = snapshot.cases(None).unwrap();
        let pending: Vec<(String, u32, Option<i64>)> = cases
            .iter()
            .filter(|c| c.state.is_open() || c.timer.is_some())
            .map(|c| (c.id.clone(), c.journal_len, c.timer.map(|t| t.due_ms)))
            .collect();
        (cases.len(), pending)
    };
    assert!(
        cases >= 40,
        "the backup holds what was acknowledged before it: {cases}"
    );
    assert!(
        pending.iter().any(|(_, _, timer)| timer.is_some()),
        "the backup was taken with timers pending"
    );

    let timers = pending.iter().filter(|(_, _, t)| t.is_some()).count();
    println!(
        "backup under load: {cases} cases, {} with work pending ({timers} timers)",
        pending.len()
    );
    let restored = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redial"))
        .args(["store", "restore"])
        .arg(&backup)
        .arg("--data")
        .arg(restored.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored"));

    // A day later every SLA has run out: each timer fires, each open case moves on.
    let later = Arc::new(ManualClock::new(start_ms + 24 * 3600 * 1000));
    let b = Server::simulated_in(restored, |app| app.clock(later).signal_rate(None));
    assert_eq!(b.engine.store().cases(None).unwrap().len(), cases);
    for (id, journal_len, timer) in &pending {
        let v = b.wait_for(id, |v| {
            let state = v["case"]["state"]["state"].as_str().unwrap_or("");
            let fired = timer.is_none() || v["case"]["timer"]["due_ms"].as_i64() != *timer;
            fired && !["waiting", "dialing"].contains(&state)
        });
        let grew = v["journal"].as_array().unwrap().len() > *journal_len as usize;
        let state = v["case"]["state"]["state"].as_str().unwrap_or("");
        assert!(
            grew && !["waiting", "dialing"].contains(&state),
            "{id} did not resume: {v}"
        );
        if timer.is_some() {
            assert_ne!(
                v["case"]["timer"]["due_ms"].as_i64(),
                *timer,
                "{id}'s timer never fired: {v}"
            );
        }
    }
}
