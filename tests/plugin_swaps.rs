//! Plugin uploads and rollbacks through the API while signals flow: no request fails, and
//! an upload goes live on quick code, then on optimised code.

mod common;

use common::server::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Posts a missed call and returns the hash of the trigger plugin that decided it.
fn trigger_of_next_signal(s: &Server, event: &str, caller: &str) -> String {
    let (_, body) = s.signal(HVAC, event, &missed_call(caller));
    trigger_hash(s, body["case"].as_str().unwrap())
}

fn trigger_hash(s: &Server, case: &str) -> String {
    let journal = s.engine.store().journal(case).unwrap();
    journal
        .iter()
        .find_map(|e| match &e.event {
            redial_core::records::Event::Decision { slot, plugin, .. } if slot == "trigger" => {
                Some(plugin.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Uploads a trigger plugin for the HVAC tenant as the admin.
fn upload_trigger(s: &Server, component: &[u8]) -> (u16, Value) {
    let (status, body) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/plugins/trigger"),
        &[
            ("authorization", &format!("Bearer {ADMIN}")),
            ("content-type", "application/wasm"),
        ],
        Some(component),
    );
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[test]
fn plugins_swap_and_roll_back_under_load_with_no_failed_request() {
    let s = Arc::new(Server::simulated());
    let standard = std::fs::read(redial_builtin::path("standard-trigger")).unwrap();
    let eager = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    let (standard_hash, eager_hash) = (
        redial_runtime::content_hash(&standard),
        redial_runtime::content_hash(&eager),
    );
    let auth = format!("Bearer {ADMIN}");

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut results = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 5000 {
                n += 1;
                let caller = format!("+1512600{n:04}");
                let (status, body) = s.signal(HVAC, &format!("load-{n}"), &missed_call(&caller));
                results.push((status, body["case"].as_str().map(str::to_string)));
            }
            results
        })
    };

    let mut swap_times = Vec::new();
    let bad = b"\0asm\x0d\0\x01\0garbage".to_vec();
    for round in 0..4 {
        let started = Instant::now();
        let (status, body) = upload_trigger(&s, &eager);
        assert_eq!(status, 200, "{body}");
        let next = trigger_of_next_signal(
            &s,
            &format!("after-swap-{round}"),
            &format!("+15127000{round:03}"),
        );
        swap_times.push(started.elapsed());
        assert_eq!(
            next, eager_hash,
            "the first request after the swap uses the new plugin"
        );

        let (status, body) = upload_trigger(&s, &bad);
        assert_eq!(status, 422, "a bad component is refused: {body}");

        let (status, body) = s.send(
            "POST",
            &format!("/v1/tenants/{HVAC}/plugins/trigger/rollback"),
            &[("authorization", &auth)],
            Some(b""),
        );
        assert_eq!(status, 200, "{body}");
        let next = trigger_of_next_signal(
            &s,
            &format!("after-rollback-{round}"),
            &format!("+15127100{round:03}"),
        );
        assert_eq!(next, standard_hash, "rollback is live at once");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = load.join().unwrap();
    assert!(!results.is_empty());
    assert!(
        results.iter().all(|(status, _)| *status == 202),
        "every request under load succeeded"
    );
    for (_, case) in &results {
        let hash = trigger_hash(&s, case.as_deref().unwrap());
        assert!(
            hash == standard_hash || hash == eager_hash,
            "each decision names the plugin that made it: {hash}"
        );
    }
    let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    assert_eq!(
        listing["slots"]["trigger"]["live"]["sha256"],
        standard_hash.as_str()
    );
    swap_times.sort();
    println!(
        "hot swap: {} requests under load, 0 failed; swap-to-live (upload + first decision) median {:?}, max {:?}",
        results.len(),
        swap_times[swap_times.len() / 2],
        swap_times.last().unwrap()
    );
}

#[test]
fn a_new_component_goes_live_on_quick_code_then_moves_to_optimised_code() {
    let s = Server::simulated();
    // A custom section makes bytes no runtime has compiled, in memory or on disk.
    let base = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    let unique = format!("tiers-{}", std::process::id());
    let fresh = redial_bench::with_custom_section(&base, &unique, 64);
    let hash = redial_runtime::content_hash(&fresh);
    let (status, body) = upload_trigger(&s, &fresh);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "quick", "{body}");
    assert_eq!(trigger_of_next_signal(&s, "tier-1", "+15127200001"), hash);

    let waited = Instant::now();
    loop {
        let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
        let live = &listing["slots"]["trigger"]["live"];
        assert_eq!(live["sha256"], hash.as_str(), "the upload stays live");
        if live["tier"] == "optimised" {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "still on quick code after a minute: {listing}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        trigger_of_next_signal(&s, "tier-2", "+15127200002"),
        hash,
        "the same plugin, now on optimised code"
    );

    // The optimised compile is cached: uploading the same bytes again skips the quick tier.
    let (status, body) = upload_trigger(&s, &fresh);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "optimised", "{body}");
}

#[test]
fn a_slot_keeps_its_last_ten_uploads_and_rolls_back_through_them_to_the_policys_own() {
    let s = Server::simulated();
    let auth = format!("Bearer {ADMIN}");
    let base = std::fs::read(redial_builtin::path("standard-trigger")).unwrap();
    let mut uploaded = Vec::new();
    for n in 0..12u8 {
        // A custom section makes each upload a component of its own.
        let mut wasm = base.clone();
        wasm.extend_from_slice(&[0, 7, 5, b'n', b'o', b'n', b'c', b'e', n]);
        let (status, body) = s.send(
            "PUT",
            &format!("/v1/tenants/{HVAC}/plugins/trigger"),
            &[
                ("authorization", &auth),
                ("content-type", "application/wasm"),
            ],
            Some(&wasm),
        );
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        uploaded.push(body["live"].as_str().unwrap().to_string());
    }
    let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    let kept: Vec<&str> = listing["slots"]["trigger"]["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(kept, uploaded[2..], "the last ten, oldest first");
    let rollback = || {
        let (status, body) = s.send(
            "POST",
            &format!("/v1/tenants/{HVAC}/plugins/trigger/rollback"),
            &[("authorization", &auth)],
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["live"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for back in (2..11).rev() {
        assert_eq!(rollback(), uploaded[back], "back to upload {back}");
    }
    let policys_own = rollback();
    assert!(
        !uploaded.contains(&policys_own),
        "then the policy's own plugin"
    );
}

#[test]
fn uploads_are_held_to_the_operators_size_limit_and_claim_their_turn_before_the_body() {
    use std::io::Write;
    let s = Server::simulated_with(|app| app.max_plugin_bytes(1 << 20));
    let live = trigger_of_next_signal(&s, "evt-size-1", "+15125550131");

    // Within the limit: live. Past it: 413 naming the limit, and the live plugin stays.
    let eager = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    assert!(eager.len() < 1 << 20);
    let (status, body) = upload_trigger(&s, &eager);
    assert_eq!(status, 200, "{body}");
    let eager_hash = redial_runtime::content_hash(&eager);
    let mut big = eager.clone();
    big.resize((1 << 20) + 1, 0);
    let (status, body) = upload_trigger(&s, &big);
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1048576"),
        "{body}"
    );
    assert_eq!(
        trigger_of_next_signal(&s, "evt-size-2", "+15125550132"),
        eager_hash
    );
    assert_ne!(live, eager_hash);

    // An upload whose body is still arriving holds its tenant's turn: a second one is
    // refused at once, before a byte of its body is read.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    let head = format!(
        "PUT /v1/tenants/{HVAC}/plugins/trigger HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {ADMIN}\r\nContent-Type: application/wasm\r\n\
         Content-Length: {}\r\n\r\n",
        eager.len()
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&eager[..1024]).unwrap();
    // Given time to reach its handler, it is still being read: no answer yet.
    slow.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut early = [0u8; 512];
    let n = std::io::Read::read(&mut slow, &mut early).unwrap_or(0);
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&early[..n]));
    let (status, body) = upload_trigger(&s, &eager);
    assert_eq!(status, 429, "{body}");
    // The slow upload finishes and goes live; the turn is free again.
    slow.write_all(&eager[1024..]).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = [0u8; 64];
    let n = std::io::Read::read(&mut slow, &mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(slow);
    let (status, body) = upload_trigger(&s, &eager);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_upload_that_prefers_to_be_answered_at_once_compiles_behind_and_the_list_shows_how_it_ended() {
    let s = Server::simulated();
    let auth = format!("Bearer {ADMIN}");
    let upload_async = |component: &[u8]| {
        let (status, body) = s.send(
            "PUT",
            &format!("/v1/tenants/{HVAC}/plugins/trigger"),
            &[
                ("authorization", &auth),
                ("content-type", "application/wasm"),
                ("prefer", "respond-async"),
            ],
            Some(component),
        );
        (status, serde_json::from_str::<Value>(&body).unwrap())
    };
    let latest = |done: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
            let trigger = v["slots"]["trigger"].clone();
            if trigger["latest_upload"]["state"] == done || Instant::now() > deadline {
                return trigger;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (_, before) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    assert_eq!(before["slots"]["trigger"]["latest_upload"], Value::Null);

    let eager = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    let (status, body) = upload_async(&eager);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["upload"]["state"], "compiling", "{body}");
    let sha = redial_runtime::content_hash(&eager);
    assert_eq!(body["upload"]["sha256"], sha.as_str());
    let trigger = latest("live");
    assert_eq!(trigger["latest_upload"]["state"], "live", "{trigger}");
    assert_eq!(trigger["live"]["sha256"], sha.as_str(), "{trigger}");
    assert!(
        trigger["latest_upload"]["finished_ms"].is_i64(),
        "{trigger}"
    );

    // Bytes that are no component: accepted at once, then failed with the reason; the
    // live plugin stays.
    let (status, _) = upload_async(b"\0asm not really");
    assert_eq!(status, 202);
    let trigger = latest("failed");
    assert_eq!(trigger["latest_upload"]["state"], "failed", "{trigger}");
    assert!(
        !trigger["latest_upload"]["reason"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        trigger["live"]["sha256"],
        sha.as_str(),
        "the live plugin stays"
    );
}

#[test]
fn redial_replay_shows_what_a_candidate_would_have_decided_on_the_tenants_cases() {
    let s = Server::simulated();
    let mut cases = Vec::new();
    for n in 0..3 {
        let caller = format!("+1512555014{n}");
        let (_, body) = s.signal(HVAC, &format!("evt-replay-{n}"), &missed_call(&caller));
        cases.push(body["case"].as_str().unwrap().to_string());
    }
    for case in &cases {
        s.wait_for(case, |v| v["case"]["state"]["state"] != "dialing");
    }
    let dir = tempfile::tempdir().unwrap();
    let eager = dir.path().join("eager.wasm");
    std::fs::copy(redial_builtin::path("test-eager-trigger"), &eager).unwrap();
    let replay = |slot: &str, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_redial"))
            .args(["replay", "--tenant", HVAC, "--slot", slot, "--candidate"])
            .arg(&eager)
            .args(["--server", &s.base])
            .args(extra)
            .env("REDIAL_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap()
    };
    let out = replay("trigger", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("(trigger slot) on lone-star-hvac: 3 cases, 3 decisions replayed"),
        "{text}"
    );
    let out = replay("trigger", &["--json", "--since", "2020-01-01"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replayed"], 3, "{report}");
    assert!(
        report["candidate"].as_str().unwrap().contains("candidate"),
        "{report}"
    );
    // Nothing changed: the live trigger still decides.
    let (_, v) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    assert_eq!(
        v["slots"]["trigger"]["uploads"],
        serde_json::json!([]),
        "{v}"
    );

    // A candidate for another slot is refused before anything runs.
    let out = replay("cadence", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("422"), "{err}");
}

/// Sends a candidate trigger to the HVAC tenant's trial route with `query`.
fn start_trial(s: &Server, query: &str, slot: &str, component: &[u8]) -> (u16, Value) {
    let (status, body) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/plugins/{slot}/trial?{query}"),
        &[
            ("authorization", &format!("Bearer {ADMIN}")),
            ("content-type", "application/wasm"),
        ],
        Some(component),
    );
    (status, serde_json::from_str(&body).unwrap())
}

fn trial_call(s: &Server, method: &str, path: &str) -> (u16, Value) {
    let (status, body) = s.send(
        method,
        &format!("/v1/tenants/{HVAC}/plugins/trigger/trial{path}"),
        &[("authorization", &format!("Bearer {ADMIN}"))],
        None,
    );
    (status, serde_json::from_str(&body).unwrap())
}

#[test]
fn a_candidate_runs_in_shadow_then_on_a_split_and_is_promoted_or_ended_in_one_call() {
    let s = Server::simulated();
    let eager = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    let eager_hash = redial_runtime::content_hash(&eager);
    let standard_hash = trigger_of_next_signal(&s, "before-trial", "+15127300000");

    // Bad trials are refused, naming the field, and start nothing.
    for query in ["split=0", "split=100", "split=half"] {
        let (status, body) = start_trial(&s, query, "trigger", &eager);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], "split", "{query}: {body}");
    }
    let (status, body) = start_trial(&s, "", "cadence", &eager);
    assert_eq!(
        status, 422,
        "a trigger cannot be tried as a cadence: {body}"
    );
    assert_eq!(trial_call(&s, "GET", "").0, 404);

    // Shadow: the candidate decides beside the live trigger, with no effect.
    let (status, body) = start_trial(&s, "", "trigger", &eager);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trial"]["mode"], "shadow");
    assert_eq!(body["trial"]["sha256"], eager_hash.as_str());
    let case = {
        let (_, body) = s.signal(HVAC, "shadow-1", &missed_call("+15127300001"));
        body["case"].as_str().unwrap().to_string()
    };
    assert_eq!(
        trigger_hash(&s, &case),
        standard_hash,
        "the live plugin decides"
    );
    let (status, spam) = s.signal(HVAC, "shadow-spam", &missed_call("+19005550100"));
    assert_eq!(
        (status, spam["result"].as_str()),
        (202, Some("ignored")),
        "{spam}"
    );
    let (_, detail) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    let shadow = (detail["journal"].as_array().unwrap().iter())
        .find(|e| e["event"]["event"] == "shadow")
        .unwrap_or_else(|| panic!("a shadow event in the journal: {detail}"));
    assert_eq!(shadow["event"]["shadow"]["plugin"], eager_hash.as_str());

    let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    assert_eq!(listing["slots"]["trigger"]["trial"]["mode"], "shadow");
    assert_eq!(listing["slots"]["cadence"]["trial"], Value::Null);

    // The trial survives a restart, report and all.
    let s = Server::simulated_in(s.stop(), |app| app);
    let (status, report) = trial_call(&s, "GET", "");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["shadow"]["compared"], 2, "{report}");
    let spam_diff = &report["shadow"]["differences"][0];
    assert_eq!(spam_diff["case_id"], Value::Null, "{report}");
    assert_eq!(spam_diff["live"]["ignore"], "caller matches a spam prefix");
    assert_eq!(spam_diff["shadow"]["decision"]["recover"]["priority"], 99);
    assert!(
        (spam_diff["shadow"]["changed"].as_array().unwrap()).contains(&"outcome".into()),
        "{report}"
    );

    // A split: the candidate decides for real for its share of callers.
    let (status, body) = start_trial(&s, "split=50", "trigger", &eager);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trial"]["percent"], 50);
    let mut in_share = 0;
    for n in 0..20 {
        let caller = format!("+151273010{n:02}");
        let decided_by = trigger_of_next_signal(&s, &format!("split-{n}"), &caller);
        let candidate =
            redial_core::engine::split_bucket(HVAC, redial_runtime::Slot::Trigger, &caller) < 50;
        in_share += usize::from(candidate);
        let expected = if candidate {
            &eager_hash
        } else {
            &standard_hash
        };
        assert_eq!(&decided_by, expected, "{caller}");
    }
    let (_, report) = trial_call(&s, "GET", "");
    assert_eq!(report["shadow"], Value::Null);
    assert_eq!(report["split"]["candidate"]["cases"], in_share, "{report}");
    assert_eq!(report["split"]["live"]["cases"], 20 - in_share, "{report}");

    // Ended: the live plugin alone decides again.
    let (status, body) = trial_call(&s, "DELETE", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ended"]["mode"], "split");
    assert_eq!(body["live"], standard_hash.as_str());
    assert_eq!(trial_call(&s, "GET", "").0, 404);

    // Promoted: the candidate is the slot's newest version, live for everyone.
    assert_eq!(start_trial(&s, "", "trigger", &eager).0, 200);
    let (status, body) = trial_call(&s, "POST", "/promote");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], eager_hash.as_str());
    assert_eq!(
        trigger_of_next_signal(&s, "after-promotion", "+15127302000"),
        eager_hash
    );
    let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    assert_eq!(listing["slots"]["trigger"]["trial"], Value::Null);
    assert_eq!(
        trial_call(&s, "POST", "/promote").0,
        404,
        "nothing left on trial"
    );
}

#[test]
fn redial_trial_starts_shows_and_promotes_a_candidate_on_a_running_server() {
    let s = Server::simulated();
    let dir = tempfile::tempdir().unwrap();
    let eager = dir.path().join("eager.wasm");
    std::fs::copy(redial_builtin::path("test-eager-trigger"), &eager).unwrap();
    let trial = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_redial"))
            .arg("trial")
            .args(args)
            .args(["--tenant", HVAC, "--slot", "trigger", "--server", &s.base])
            .env("REDIAL_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, err)
    };
    let candidate = eager.to_str().unwrap();
    let (ok, text, err) = trial(&["start", "--candidate", candidate, "--split", "40"]);
    assert!(ok, "{text}{err}");
    assert!(text.contains("live for 40% of callers"), "{text}");
    let (ok, _, err) = trial(&["start", "--candidate", candidate, "--split", "0"]);
    assert!(
        !ok && err.contains("--split"),
        "refused before sending: {err}"
    );

    for n in 0..6 {
        s.signal(
            HVAC,
            &format!("cli-trial-{n}"),
            &missed_call(&format!("+151273050{n:02}")),
        );
    }
    let (ok, text, err) = trial(&["show"]);
    assert!(ok, "{text}{err}");
    assert!(
        text.contains("split: the candidate decides for 40% of callers"),
        "{text}"
    );
    assert!(text.contains("  candidate signals"), "{text}");
    let (_, json, _) = trial(&["show", "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let cases = |v: &str| report["split"][v]["cases"].as_u64().unwrap();
    assert_eq!(cases("live") + cases("candidate"), 6, "{report}");

    let (ok, text, err) = trial(&["promote"]);
    assert!(ok, "{text}{err}");
    let sha = redial_runtime::content_hash(&std::fs::read(&eager).unwrap());
    assert!(text.contains(&sha), "{text}");
    let (ok, _, err) = trial(&["end"]);
    assert!(!ok && err.contains("404"), "nothing left to end: {err}");
}

#[test]
fn a_new_candidate_is_tried_on_quick_code_then_on_optimised_code() {
    let s = Server::simulated();
    // A custom section makes bytes no runtime has compiled, in memory or on disk.
    let base = std::fs::read(redial_builtin::path("test-eager-trigger")).unwrap();
    let fresh =
        redial_bench::with_custom_section(&base, &format!("trial-{}", std::process::id()), 64);
    let (status, body) = start_trial(&s, "split=99", "trigger", &fresh);
    assert_eq!(status, 200, "{body}");
    let waited = Instant::now();
    loop {
        let (status, report) = trial_call(&s, "GET", "");
        assert_eq!(status, 200, "{report}");
        if report["tier"] == "optimised" {
            break;
        }
        assert_eq!(report["tier"], "quick", "{report}");
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "still on quick code after a minute: {report}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still the same candidate, on the same trial, deciding for its share.
    let (_, report) = trial_call(&s, "GET", "");
    assert_eq!(
        report["trial"]["sha256"], body["trial"]["sha256"],
        "{report}"
    );
    let caller = (0..100)
        .map(|n| format!("+15127306{n:03}"))
        .find(|c| redial_core::engine::split_bucket(HVAC, redial_runtime::Slot::Trigger, c) < 99)
        .unwrap();
    assert_eq!(
        trigger_of_next_signal(&s, "optimised-trial", &caller),
        redial_runtime::content_hash(&fresh)
    );

    // Promoted while still on quick code, it moves to optimised code as the live plugin.
    let other =
        redial_bench::with_custom_section(&base, &format!("promoted-{}", std::process::id()), 64);
    assert_eq!(start_trial(&s, "", "trigger", &other).0, 200);
    let (status, body) = trial_call(&s, "POST", "/promote");
    assert_eq!(status, 200, "{body}");
    let waited = Instant::now();
    loop {
        let (_, listing) = s.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
        let live = &listing["slots"]["trigger"]["live"];
        assert_eq!(
            live["sha256"],
            redial_runtime::content_hash(&other).as_str()
        );
        if live["tier"] == "optimised" {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "still on quick code after a minute: {listing}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
