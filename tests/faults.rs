//! The fault suite against a real server on loopback: hostile input on every inbound
//! parser, a tenant whose plugin loops or traps while others are served, and zero retention
//! checked on the store's files themselves. The tests that touch the store run on sled and
//! on PostgreSQL (`on_both_stores!`). (Provider misbehaviour is in `server.rs`, crashes in
//! `crash_recovery.rs`.)

mod common;

use common::backend;
use common::server::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use redial_connectors::Simulator;
use redial_connectors::webhooks::sign_standard_webhook;
use redial_core::clock::{Clock, SystemClock};
use redial_core::policy::Policy;
use redial_server::auth::twilio_signature;
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What the store took in for both tenants (signals and cases counted, cases, ignored
/// signals): unchanged means a request recorded nothing.
fn recorded(s: &Server) -> [u64; 6] {
    let store = s.engine.store();
    let (h, c) = (store.counters(HVAC).unwrap(), store.counters(SAAS).unwrap());
    [
        h.signals,
        h.cases,
        c.signals,
        c.cases,
        store.cases(None).unwrap().len() as u64,
        store.ignored(HVAC).unwrap().len() as u64,
    ]
}

/// A request an attacker or a broken client might send to an inbound endpoint.
#[derive(Debug, Clone)]
struct Hostile {
    endpoint: usize,
    body: Vec<u8>,
    /// 0: no credentials, 1: wrong ones, 2: valid ones over this very body.
    auth: u8,
    content_type: &'static str,
    /// Seconds to shift the signature timestamp by (replays and clock skew).
    skew: i64,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!("+15125550199")),
        Just(json!("missed-call")),
        Just(json!("end-of-call-report")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::hash_map(
                prop_oneof![
                    Just("kind".to_string()),
                    Just("caller".to_string()),
                    Just("line".to_string()),
                    Just("context".to_string()),
                    Just("message".to_string()),
                    Just("type".to_string()),
                    Just("call".to_string()),
                    Just("metadata".to_string()),
                    Just("case_id".to_string()),
                    Just("attempt".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        Just("CallSid"),
        Just("From"),
        Just("To"),
        Just("CallStatus"),
        Just("DialCallStatus"),
        Just("MessageSid"),
        Just("Body"),
        Just("x"),
    ];
    prop::collection::vec((key, "\\PC{0,24}"), 0..7).prop_map(|pairs| {
        let owned: Vec<(String, String)> =
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        serde_urlencoded::to_string(&owned).unwrap().into_bytes()
    })
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let valid_signal = (
        prop_oneof![Just("missed-call"), Just("voicemail"), Just("smoke-signal")],
        "\\+1[0-9]{10}|[0-9]{3}-[0-9]{4}",
        prop::collection::hash_map("[a-z]{1,8}", "\\PC{0,20}", 0..4),
    )
        .prop_map(|(kind, caller, context)| {
            serde_json::to_vec(&json!({
                "kind": kind, "caller": caller, "line": "+15125550200", "context": context
            }))
            .unwrap()
        });
    let body = prop_oneof![
        3 => valid_signal,
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => form_body(),
    ];
    (
        0usize..4,
        body,
        prop_oneof![1 => Just(0u8), 1 => Just(1), 3 => Just(2)],
        prop_oneof![
            3 => Just("application/json"),
            1 => Just("application/x-www-form-urlencoded"),
            1 => Just("text/plain"),
            1 => Just(""),
        ],
        prop_oneof![4 => Just(0i64), 1 => Just(-3600), 1 => Just(86_400)],
    )
        .prop_map(|(endpoint, body, auth, content_type, skew)| Hostile {
            endpoint,
            body,
            auth,
            content_type,
            skew,
        })
}

/// Sends a hostile request; returns the status.
fn send_hostile(s: &Server, h: &Hostile, n: u64) -> (u16, String) {
    let routes = ["signals", "twilio/voice-status", "twilio/sms", "vapi"];
    let path = format!("/v1/tenants/{HVAC}/{}", routes[h.endpoint]);
    let mut headers: Vec<(String, String)> = Vec::new();
    if !h.content_type.is_empty() {
        headers.push(("content-type".into(), h.content_type.into()));
    }
    match (h.endpoint, h.auth) {
        (_, 0) => {}
        (0, a) => {
            let ts = SystemClock.now_ms() / 1000 + h.skew;
            let secret = if a == 2 {
                SECRET
            } else {
                "whsec_d3JvbmctYnV0LXdlbGwtZm9ybWVk"
            };
            let id = format!("hostile-{n}");
            let sig = sign_standard_webhook(secret, &id, ts, &h.body);
            headers.push(("webhook-id".into(), id));
            headers.push(("webhook-timestamp".into(), ts.to_string()));
            headers.push(("webhook-signature".into(), sig));
        }
        (1 | 2, a) => {
            let params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&h.body).unwrap_or_default();
            let token = if a == 2 {
                TWILIO_TOKEN
            } else {
                "not-the-token"
            };
            let sig = twilio_signature(token, &format!("{}{path}", s.base), &params);
            headers.push(("x-twilio-signature".into(), sig));
        }
        (_, a) => {
            let secret = if a == 2 { VAPI_SECRET } else { "nope" };
            headers.push(("x-vapi-secret".into(), secret.into()));
        }
    }
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    s.send("POST", &path, &refs, Some(&h.body))
}

on_both_stores! {
    fn hostile_requests_never_get_a_5xx_and_a_refused_one_records_nothing() {
        let s = Server::simulated();
        let mut runner = TestRunner::new(Config {
            cases: 1500,
            failure_persistence: None,
            ..Config::default()
        });
        let (n, refused, accepted) = (Cell::new(0u64), Cell::new(0u32), Cell::new(0u32));
        runner
            .run(&hostile(), |h| {
                n.set(n.get() + 1);
                let before = recorded(&s);
                let (status, body) = send_hostile(&s, &h, n.get());
                prop_assert!(
                    (200..500).contains(&status),
                    "status {status} for {h:?}: {body}"
                );
                if status >= 400 {
                    refused.set(refused.get() + 1);
                    let error: Value = serde_json::from_str(&body).unwrap_or_default();
                    prop_assert!(
                        error["error"]["message"].is_string(),
                        "a refusal explains itself: {body}"
                    );
                    prop_assert_eq!(recorded(&s), before, "a refused request recorded something");
                } else {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(h.auth == 2, "accepted without valid credentials: {h:?}");
                }
                Ok(())
            })
            .unwrap();
        println!(
            "hostile input: {} requests, {} refused (4xx, nothing recorded), {} accepted (validly signed), 0 server errors",
            n.get(),
            refused.get(),
            accepted.get()
        );
    }
}

on_both_stores! {
    fn a_tampered_or_replayed_signature_is_refused() {
        let s = Server::simulated();
        let body = serde_json::to_vec(&missed_call("+15125550177")).unwrap();
        let (status, _) = s.signal_raw(HVAC, "evt-once", &body, &body, "application/json");
        assert_eq!(status, 202);
        let before = recorded(&s);
        // Same id again (a replay): accepted as a duplicate, changes nothing.
        let (status, v) = s.signal_raw(HVAC, "evt-once", &body, &body, "application/json");
        assert_eq!((status, v["result"].as_str()), (202, Some("duplicate")));
        assert_eq!(recorded(&s), before);
        // A flipped byte in the body, or a signature from a day ago: refused.
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        let (status, _) = s.signal_raw(HVAC, "evt-tampered", &body, &tampered, "application/json");
        assert_eq!(status, 401);
        let old = SystemClock.now_ms() / 1000 - 86_400;
        let sig = sign_standard_webhook(SECRET, "evt-old", old, &body);
        let old = old.to_string();
        let (status, text) = s.send(
            "POST",
            &format!("/v1/tenants/{HVAC}/signals"),
            &[
                ("content-type", "application/json"),
                ("webhook-id", "evt-old"),
                ("webhook-timestamp", &old),
                ("webhook-signature", &sig),
            ],
            Some(&body),
        );
        assert_eq!(status, 401, "{text}");
        assert_eq!(recorded(&s), before);
    }
}

/// A policy text with one line replaced by `line`.
fn mutated_policy(base: &str, at: usize, line: &str) -> String {
    let mut lines: Vec<&str> = base.lines().collect();
    let at = at % lines.len();
    lines[at] = line;
    lines.join("\n")
}

#[test]
fn the_policy_parser_never_panics_and_names_what_is_wrong() {
    let bases: Vec<String> = [
        "lone-star-hvac.toml",
        "bright-smile-dental.toml",
        "northwind-software.toml",
    ]
    .iter()
    .map(|f| common::policy_text(f))
    .collect();
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let line = prop_oneof![
        "\\PC{0,60}",
        "[a-z_]{1,20} = \"[^\"]{0,20}\"",
        "[a-z_]{1,20} = -?[0-9]{1,12}",
        "\\[[a-z_.]{1,20}\\]",
        Just("calling_window = { start = \"25:00\", end = \"07:00\" }".to_string()),
        Just("timezone = \"Mars/Olympus\"".to_string()),
        Just("max_attempts = 0".to_string()),
        Just("max_questions = 9".to_string()),
    ];
    let (ok, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&(0usize..3, any::<usize>(), line), |(base, at, line)| {
            let text = mutated_policy(&bases[base], at, &line);
            match Policy::parse(&text, "fuzzed.toml") {
                Ok(_) => ok.set(ok.get() + 1),
                Err(e) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "policy parser: {} mutated policies accepted, {} refused with a reason, no panic",
        ok.get(),
        refused.get()
    );
}

on_both_stores! {
    fn a_looping_or_trapping_plugin_is_suspended_and_its_tenant_does_not_hold_up_the_others() {
        // Both tenants send as fast as they can: no rate limit, so every signal reaches the
        // plugins this test is about.
        let s = Arc::new(Server::simulated_with(|app| app.signal_rate(None)));
        // The quiet tenant's request p99 over 300 signals while the neighbour (SaaS) posts
        // signals as fast as it can, or sits idle.
        let quiet_p99 = |label: &str, neighbour: bool| {
            let stop = Arc::new(AtomicBool::new(false));
            let noisy = neighbour.then(|| {
                let (s, stop) = (s.clone(), stop.clone());
                let label = label.to_string();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let caller = format!("+1415{label:.3}{n:04}");
                        let (status, body) =
                            s.signal(SAAS, &format!("{label}-n{n}"), &missed_call(&caller));
                        assert_eq!(
                            status, 202,
                            "the neighbour's signals are still taken: {body}"
                        );
                    }
                    n
                })
            });
            let mut lat = Vec::new();
            for i in 0..300 {
                let started = Instant::now();
                let (status, body) = s.signal(
                    HVAC,
                    &format!("{label}-{i}"),
                    &missed_call(&format!("+1512{label:.3}{i:04}")),
                );
                lat.push(started.elapsed());
                assert_eq!(status, 202, "{body}");
            }
            stop.store(true, Ordering::Relaxed);
            let sent = noisy.map_or(0, |t| t.join().unwrap());
            lat.sort();
            (lat[(lat.len() - 1) * 99 / 100], sent)
        };
        let admin = format!("Bearer {ADMIN}");
        let upload = |slot: &str, test_plugin: &str| {
            let wasm = std::fs::read(redial_builtin::path(test_plugin)).unwrap();
            let (status, body) = s.send(
                "PUT",
                &format!("/v1/tenants/{SAAS}/plugins/{slot}"),
                &[
                    ("authorization", &admin),
                    ("content-type", "application/wasm"),
                ],
                Some(&wasm),
            );
            assert_eq!(status, 200, "{body}");
        };

        let (alone, _) = quiet_p99("111", false);
        let (beside_good, _) = quiet_p99("222", true);

        upload("trigger", "test-loop-forever");
        let (beside_looping, looping_signals) = quiet_p99("333", true);
        let looping = failures_of(&s, "+1415333", "trigger");
        assert_ran_then_suspended(&looping, "deadline", looping_signals);

        // The well-behaved trigger back, then a cadence that traps on every input.
        let (status, body) = s.send(
            "POST",
            &format!("/v1/tenants/{SAAS}/plugins/trigger/rollback"),
            &[("authorization", &admin)],
            None,
        );
        assert_eq!(status, 200, "{body}");
        upload("cadence", "test-trap");
        let (beside_trapping, trapping_signals) = quiet_p99("444", true);
        let trapping = failures_of(&s, "+1415444", "cadence");
        assert_ran_then_suspended(&trapping, "trap", trapping_signals);

        let against_good =
            |p99: std::time::Duration| 100.0 * (p99.as_secs_f64() / beside_good.as_secs_f64() - 1.0);
        println!(
            "looping plugin: {looping_signals} signals to the neighbour ({} ran into the 100 ms deadline, the rest skipped while suspended); trapping plugin: {trapping_signals} signals ({} trapped, the rest skipped while suspended)",
            looping["deadline"], trapping["trap"]
        );
        println!(
            "the quiet tenant's request p99: {alone:?} alone, {beside_good:?} beside a busy well-behaved neighbour, {beside_looping:?} beside the same load with a looping trigger ({:+.0}%), {beside_trapping:?} with a trapping cadence ({:+.0}%)",
            against_good(beside_looping),
            against_good(beside_trapping)
        );
    }
}

/// How the `slot` plugin failed, by kind ("deadline", "trap", "suspended"...), over the
/// cases of callers starting with `caller_prefix`.
fn failures_of(s: &Server, caller_prefix: &str, slot: &str) -> HashMap<String, usize> {
    let store = s.engine.store();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for case in store
        .cases(Some(SAAS))
        .unwrap()
        .iter()
        .filter(|c| c.caller.starts_with(caller_prefix))
    {
        for e in store.journal(&case.id).unwrap() {
            if let Some(kind) = e.event.plugin_failure_kind(slot) {
                *kinds.entry(kind.to_string()).or_default() += 1;
            }
        }
    }
    kinds
}

/// The failing plugin ran (and failed with `kind`) a few times, then the circuit breaker
/// kept it from running: later signals took the policy's failure default without a call.
fn assert_ran_then_suspended(kinds: &HashMap<String, usize>, kind: &str, signals: usize) {
    let ran = kinds.get(kind).copied().unwrap_or(0);
    assert!(ran >= 1, "the plugin ran and failed with {kind}: {kinds:?}");
    assert!(
        ran <= 2 * redial_core::engine::breaker::TRIP_AFTER as usize,
        "then the breaker kept it from running again: {kinds:?}"
    );
    if signals > ran {
        assert!(kinds.get("suspended").is_some_and(|n| *n > 0), "{kinds:?}");
    }
}

on_both_stores! {
    fn zero_retention_leaves_no_transcript_or_answer_in_the_store_files() {
        let sim = Simulator::new(Arc::new(SystemClock), HashMap::new(), None).unwrap();
        let now = SystemClock.now_ms();
        let clock = Arc::new(redial_core::clock::ManualClock::new(now));
        let engine_clock = clock.clone();
        let s = Server::start_with(
            |app| {
                app.connectors(Arc::new(PlacesCalls(sim)))
                    .clock(engine_clock)
            },
            "",
        );
        // The same conversation for a full-retention tenant (HVAC) and a zero-retention one
        // (SaaS), each with its own marker words: the HVAC markers must be found in the files
        // (the scan works), the SaaS ones must not.
        for (tenant, caller, marker) in [
            (HVAC, "+15125550161", "PAPRIKAFULL"),
            (SAAS, "+15125550162", "PAPRIKAZERO"),
        ] {
            let (_, body) = s.signal(tenant, &format!("evt-{marker}"), &missed_call(caller));
            let case = body["case"].as_str().unwrap().to_string();
            // The SaaS tenant's cadence calls three minutes after the signal.
            clock.advance_to(clock.now_ms() + 200_000);
            let placed = s.wait_for(&case, |v| {
                v["journal"]
                    .as_array()
                    .is_some_and(|j| j.iter().any(|e| e["event"]["event"] == "call-placed"))
            });
            assert_eq!(placed["case"]["state"]["state"], "dialing", "{placed}");
            let report = json!({ "message": {
                "type": "end-of-call-report",
                "endedReason": "customer-ended-call",
                "call": { "id": format!("call-{marker}"), "metadata": { "case_id": case, "attempt": 1 } },
                "artifact": { "transcript": format!("AI: hello. User: my secret is {marker}-TRANSCRIPT") },
                "analysis": { "structuredData": {
                    "timeline": format!("{marker}-ANSWER next week"),
                    "role": format!("{marker}-ANSWER I decide"),
                    "budget": format!("{marker}-ANSWER fifty thousand"),
                    "need": format!("{marker}-ANSWER replace our dialer"),
                    "reason": format!("{marker}-ANSWER no heat"),
                } }
            }});
            let (status, text) = s.send(
                "POST",
                &format!("/v1/tenants/{tenant}/vapi"),
                &[
                    ("content-type", "application/json"),
                    ("x-vapi-secret", VAPI_SECRET),
                ],
                Some(&serde_json::to_vec(&report).unwrap()),
            );
            assert_eq!(status, 200, "{text}");
            let (params, form) = twilio_form(&[
                ("MessageSid", &format!("SM{marker}")),
                ("From", caller),
                ("To", "+15125550200"),
                ("Body", &format!("{marker}-SMS call me at noon")),
            ]);
            let path = format!("/v1/tenants/{tenant}/twilio/sms");
            let sig = twilio_signature(TWILIO_TOKEN, &format!("{}{path}", s.base), &params);
            let (status, text) = s.send(
                "POST",
                &path,
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("x-twilio-signature", &sig),
                ],
                Some(&form),
            );
            assert!((200..300).contains(&status), "{text}");
        }
        s.engine.store().flush().unwrap();
        let db = s._dir.path().join("db");
        let scan = |needle: &str| backend::where_stored(&db, needle);
        for what in ["TRANSCRIPT", "ANSWER", "SMS"] {
            let full = scan(&format!("PAPRIKAFULL-{what}"));
        println!("full-retention {what} found in {full:?}");
            let zero = scan(&format!("PAPRIKAZERO-{what}"));
            if what != "TRANSCRIPT" {
                assert!(
                    !full.is_empty(),
                    "the full-retention {what} is on disk (the scan works)"
                );
            }
            assert!(
                zero.is_empty(),
                "zero retention left its {what} in {zero:?}"
            );
        }
        println!(
            "zero retention: no transcript, answer or SMS text of the zero-retention tenant in any store file; the full-retention tenant's are there"
        );
    }
}
