//! `redial serve`'s API over real HTTP on loopback: signed webhooks in, the loop running
//! behind them, queries, tenant isolation, policy edits and bad input.

mod common;

use common::server::*;
use redial_connectors::Simulator;
use redial_core::clock::SystemClock;
use redial_server::auth::twilio_signature;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_signed_signal_runs_through_the_loop_to_a_handoff_and_an_ack() {
    let s = Server::simulated();
    let (status, body) = s.signal(HVAC, "evt-1", &missed_call("+15125550111"));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], "opened");
    let case = body["case"].as_str().unwrap().to_string();
    let v = s.settled(&case);
    assert_eq!(v["case"]["state"]["state"], "handed-off", "{v}");
    assert!(v["timeline"].as_str().unwrap().contains("handed off to"));
    let (status, ack) = s.send(
        "POST",
        &format!("/v1/cases/{case}/ack"),
        &[("authorization", &format!("Bearer {ADMIN}"))],
        Some(b""),
    );
    assert_eq!(status, 200, "{ack}");
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(v["case"]["state"]["acknowledged"], true);
    let (_, funnel) = s.get(&format!("/v1/tenants/{HVAC}/funnel"), ADMIN);
    assert_eq!(funnel["funnel"]["handed_off"], 1, "{funnel}");
    assert_eq!(funnel["sla_met_pct"], 100.0);
}

#[test]
fn a_replayed_webhook_changes_nothing() {
    let s = Server::simulated();
    let (status, first) = s.signal(HVAC, "evt-replay", &missed_call("+15125550112"));
    assert_eq!((status, first["result"].as_str()), (202, Some("opened")));
    let (status, again) = s.signal(HVAC, "evt-replay", &missed_call("+15125550112"));
    assert_eq!((status, again["result"].as_str()), (202, Some("duplicate")));
    assert_eq!(s.signals_recorded(HVAC), 1);
}

#[test]
fn bad_input_is_refused_with_a_json_error_naming_the_problem_and_nothing_is_recorded() {
    let s = Server::simulated();
    let good = serde_json::to_vec(&missed_call("+15125550113")).unwrap();
    // Each case: what is sent, what the signature covers, content type, status, and a
    // word the error must contain (message or field).
    struct Bad<'a> {
        what: &'a str,
        sent: &'a [u8],
        signed: &'a [u8],
        content_type: &'a str,
        status: u16,
        needle: &'a str,
    }
    let no_caller = br#"{"kind":"missed-call","line":"+15125550200"}"#;
    let bad_phone = br#"{"kind":"missed-call","caller":"555-1234","line":"+15125550200"}"#;
    let bad_kind = br#"{"kind":"smoke-signal","caller":"+15125550113","line":"+15125550200"}"#;
    let json = "application/json";
    let cases = [
        Bad {
            what: "tampered body",
            sent: br#"{"kind":"missed-call"}"#,
            signed: &good,
            content_type: json,
            status: 401,
            needle: "webhook-signature",
        },
        Bad {
            what: "wrong content type",
            sent: &good,
            signed: &good,
            content_type: "text/plain",
            status: 415,
            needle: json,
        },
        Bad {
            what: "malformed JSON",
            sent: b"{not json",
            signed: b"{not json",
            content_type: json,
            status: 400,
            needle: "invalid signal",
        },
        Bad {
            what: "missing field",
            sent: no_caller,
            signed: no_caller,
            content_type: json,
            status: 400,
            needle: "caller",
        },
        Bad {
            what: "bad phone number",
            sent: bad_phone,
            signed: bad_phone,
            content_type: json,
            status: 400,
            needle: "caller",
        },
        Bad {
            what: "unknown kind",
            sent: bad_kind,
            signed: bad_kind,
            content_type: json,
            status: 400,
            needle: "smoke-signal",
        },
    ];
    for c in cases {
        let (got, body) = s.signal_raw(
            HVAC,
            &format!("evt-{}", c.what),
            c.signed,
            c.sent,
            c.content_type,
        );
        assert_eq!(got, c.status, "{}: {body}", c.what);
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(c.needle) || body["error"]["field"] == c.needle,
            "{}: {body}",
            c.what
        );
    }
    let (status, body) = s.signal("no-such-tenant", "evt-x", &missed_call("+15125550113"));
    assert_eq!(status, 404, "{body}");
    let huge = vec![b'x'; redial_server::MAX_BODY + 1];
    let (status, _) = s.signal_raw(HVAC, "evt-huge", &huge, &huge, "application/json");
    assert!(
        status == 413 || status == 0,
        "oversize body refused, got {status}"
    );
    assert_eq!(
        s.signals_recorded(HVAC),
        0,
        "no rejected request is recorded"
    );
}

#[test]
fn twilio_status_callbacks_are_verified_and_missed_calls_open_cases() {
    let s = Server::simulated();
    let path = format!("/v1/tenants/{HVAC}/twilio/voice-status");
    let post = |params: &[(&str, &str)], token: &str| {
        let (owned, body) = twilio_form(params);
        let sig = twilio_signature(token, &format!("{}{path}", s.base), &owned);
        s.send(
            "POST",
            &path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-twilio-signature", &sig),
            ],
            Some(&body),
        )
    };
    let missed = [
        ("CallSid", "CA0001"),
        ("From", "+15125550114"),
        ("To", "+15125550200"),
        ("CallStatus", "no-answer"),
    ];
    let (status, body) = post(&missed, TWILIO_TOKEN);
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("opened"), "{body}");
    let (status, body) = post(&missed, TWILIO_TOKEN);
    assert!(status == 202 && body.contains("duplicate"), "{body}");
    let dial = [
        ("CallSid", "CA0002"),
        ("From", "+15125550115"),
        ("To", "+15125550200"),
        ("CallStatus", "completed"),
        ("DialCallStatus", "busy"),
    ];
    let (status, body) = post(&dial, TWILIO_TOKEN);
    assert!(
        status == 202 && body.contains("opened"),
        "DialCallStatus busy is a missed call: {body}"
    );
    let answered = [
        ("CallSid", "CA0003"),
        ("From", "+15125550116"),
        ("To", "+15125550200"),
        ("CallStatus", "completed"),
    ];
    let (status, body) = post(&answered, TWILIO_TOKEN);
    assert!(status == 200 && body.contains("ignored"), "{body}");
    let (status, body) = post(
        &[
            ("CallSid", "CA0004"),
            ("From", "+15125550117"),
            ("To", "+15125550200"),
            ("CallStatus", "busy"),
        ],
        "wrong-token",
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(s.signals_recorded(HVAC), 2);
}

#[test]
fn a_vapi_end_of_call_report_completes_the_placed_call() {
    let sim = Simulator::new(Arc::new(SystemClock), HashMap::new(), None).unwrap();
    let s = Server::start(Arc::new(PlacesCalls(sim)));
    let (_, body) = s.signal(HVAC, "evt-vapi", &missed_call("+15125550118"));
    let case = body["case"].as_str().unwrap().to_string();
    let placed = s.wait_for(&case, |v| {
        v["journal"]
            .as_array()
            .is_some_and(|j| j.iter().any(|e| e["event"]["event"] == "delivered"))
    });
    assert_eq!(
        placed["case"]["state"]["state"], "dialing",
        "waits for the provider's report: {placed}"
    );
    let report = json!({ "message": {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "call": { "id": "call-1", "metadata": { "case_id": case, "attempt": 1 } },
        "artifact": { "transcript": "AI: Hi Dana... User: the furnace stopped working" },
        "analysis": { "structuredData": { "timeline": "today", "role": true, "current_system": "gas furnace" } }
    }});
    let path = format!("/v1/tenants/{HVAC}/vapi");
    let body = serde_json::to_vec(&report).unwrap();
    let (status, text) = s.send(
        "POST",
        &path,
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", "wrong"),
        ],
        Some(&body),
    );
    assert_eq!(status, 401, "{text}");
    let (status, text) = s.send(
        "POST",
        &path,
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", VAPI_SECRET),
        ],
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(v["case"]["state"]["state"], "handed-off", "{v}");
    let (status, _) = s.send(
        "POST",
        &path,
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", VAPI_SECRET),
        ],
        Some(&body),
    );
    assert_eq!(
        status, 200,
        "a replayed report is accepted and changes nothing"
    );
    let (_, again) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(again["case"]["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn a_tenant_token_sees_and_changes_only_its_own_tenant() {
    let s = Server::simulated();
    let (_, body) = s.signal(
        SAAS,
        "evt-iso",
        &json!({ "kind": "missed-call", "caller": "+442079460311", "line": "+442079460300" }),
    );
    let saas_case = body["case"].as_str().unwrap().to_string();
    let hvac_token = s.token_for(HVAC);
    let auth = format!("Bearer {hvac_token}");
    for path in [
        format!("/v1/tenants/{SAAS}/cases"),
        format!("/v1/tenants/{SAAS}/fua"),
        format!("/v1/tenants/{SAAS}/funnel"),
        format!("/v1/tenants/{SAAS}/policy"),
        format!("/v1/tenants/{SAAS}/plugins"),
        "/v1/tenants".to_string(),
        format!("/v1/cases/{saas_case}"),
    ] {
        let (status, body) = s.send("GET", &path, &[("authorization", &auth)], None);
        assert!(
            status == 403 || status == 404,
            "GET {path}: {status} {body}"
        );
    }
    for (method, path) in [
        ("POST", format!("/v1/cases/{saas_case}/ack")),
        ("PUT", format!("/v1/tenants/{SAAS}/policy")),
        ("POST", format!("/v1/tenants/{SAAS}/tokens")),
        ("DELETE", format!("/v1/tenants/{SAAS}")),
        ("PUT", format!("/v1/tenants/{SAAS}/plugins/trigger")),
        (
            "POST",
            format!("/v1/tenants/{SAAS}/plugins/trigger/rollback"),
        ),
    ] {
        let (status, body) = s.send(method, &path, &[("authorization", &auth)], Some(b""));
        assert!(
            status == 403 || status == 404,
            "{method} {path}: {status} {body}"
        );
    }
    let (status, _) = s.get(&format!("/v1/tenants/{HVAC}/cases"), &hvac_token);
    assert_eq!(status, 200, "its own tenant is fine");
    let (status, _) = s.get(&format!("/v1/tenants/{HVAC}/cases"), "not-a-token");
    assert_eq!(status, 401);
    let (status, _) = s.send("GET", &format!("/v1/tenants/{HVAC}/cases"), &[], None);
    assert_eq!(status, 401);
}

#[test]
fn a_bad_policy_is_refused_with_the_reason_and_the_old_one_stays_live() {
    let s = Server::simulated();
    let auth = format!("Bearer {ADMIN}");
    let (_, before) = s.send(
        "GET",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &auth)],
        None,
    );
    let bad = before.replace("sla_minutes = 20", "sla_minutes = 20\nsla_minuets = 1");
    let (status, body) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &auth)],
        Some(bad.as_bytes()),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("sla_minuets"), "{body}");
    let (_, live) = s.send(
        "GET",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(live, before);
    // A good one names its webhook secrets, set first.
    s.set_webhook_secrets(HVAC, ADMIN);
    let file = redial_bench::all_day_window(&common::policy_text("lone-star-hvac.toml"));
    let good = with_secret_refs(&file).replace("sla_minutes = 20", "sla_minutes = 45");
    let (status, body) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &auth)],
        Some(good.as_bytes()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.engine.tenant(HVAC).unwrap().policy.handoff.sla_minutes,
        45
    );
}

#[test]
fn health_and_metrics_answer() {
    let s = Server::simulated();
    s.signal(HVAC, "evt-m", &missed_call("+15125550119"));
    let (status, body) = s.send("GET", "/healthz", &[], None);
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _) = s.send("GET", "/metrics", &[], None);
    assert_eq!(status, 401, "every tenant's figures are the operator's");
    let tenant = format!("Bearer {}", s.token_for(HVAC));
    let (status, _) = s.send("GET", "/metrics", &[("authorization", &tenant)], None);
    assert_eq!(status, 403);
    let admin = format!("Bearer {ADMIN}");
    let (status, body) = s.send("GET", "/metrics", &[("authorization", &admin)], None);
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(
            "redial_signals_received_total{{tenant=\"{HVAC}\"}} 1"
        )),
        "{body}"
    );
    assert!(body.contains("redial_outbox_depth"));
    assert!(
        body.contains("redial_plugin_calls_total{slot=\"trigger\"} 1"),
        "{body}"
    );
    let hvac_cases: u64 = body
        .lines()
        .filter(|l| l.starts_with(&format!("redial_cases{{tenant=\"{HVAC}\",")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        hvac_cases, 1,
        "one case, in whatever state it reached: {body}"
    );
}

#[test]
fn editing_a_policy_file_reloads_the_tenant_and_a_broken_edit_is_refused() {
    let s = Server::simulated();
    let dir = s._dir.path().join("policies");
    let file = dir.join(format!("{HVAC}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut watcher = redial_server::PolicyWatcher::new(&dir);
    // A broken edit: refused, the live policy is unchanged.
    std::fs::write(
        &file,
        text.replace("sla_minutes = 20", "sla_minutes = \"soon\""),
    )
    .unwrap();
    bump_mtime(&file);
    let reloads = watcher.poll(&s.engine);
    assert!(
        matches!(&reloads[..], [redial_server::Reload::Refused { reason, .. }] if reason.contains("sla_minutes")),
        "{reloads:?}"
    );
    assert_eq!(
        s.engine.tenant(HVAC).unwrap().policy.handoff.sla_minutes,
        20
    );
    // A good edit applies.
    std::fs::write(&file, text.replace("sla_minutes = 20", "sla_minutes = 35")).unwrap();
    bump_mtime(&file);
    let reloads = watcher.poll(&s.engine);
    assert!(
        matches!(&reloads[..], [redial_server::Reload::Applied { .. }]),
        "{reloads:?}"
    );
    assert_eq!(
        s.engine.tenant(HVAC).unwrap().policy.handoff.sla_minutes,
        35
    );
}

/// Moves a file's modification time forward, so a rewrite within the filesystem's
/// timestamp granularity still counts as a change.
fn bump_mtime(path: &std::path::Path) {
    static BUMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let secs = BUMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let when = std::time::SystemTime::now() + Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

#[test]
fn sms_replies_join_the_case_and_stop_opts_the_caller_out() {
    let s = Server::simulated();
    let caller = "+15125550194";
    let (_, body) = s.signal(HVAC, "evt-sms", &missed_call(caller));
    let case = body["case"].as_str().unwrap().to_string();
    let path = format!("/v1/tenants/{HVAC}/twilio/sms");
    let reply = |sid: &str, text: &str, token: &str| {
        let (owned, form) = twilio_form(&[
            ("MessageSid", sid),
            ("From", caller),
            ("To", "+15125550200"),
            ("Body", text),
        ]);
        let sig = twilio_signature(token, &format!("{}{path}", s.base), &owned);
        s.send(
            "POST",
            &path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-twilio-signature", &sig),
            ],
            Some(&form),
        )
    };
    let (status, body) = reply("SM1", "Tuesday after 3 works", TWILIO_TOKEN);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Response>"), "{body}");
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert!(
        v["timeline"]
            .as_str()
            .unwrap()
            .contains("caller replied: Tuesday after 3 works"),
        "{v}"
    );
    assert_eq!(reply("SM2", "STOP", "wrong-token").0, 401);
    assert_eq!(reply("SM2", " Stop ", TWILIO_TOKEN).0, 200);
    let (status, body) = s.signal(HVAC, "evt-sms-2", &missed_call(caller));
    assert_eq!(status, 202);
    assert_eq!(body["result"], "ignored", "{body}");
    assert_eq!(body["reason"], "caller opted out");
}

#[test]
fn every_documented_operation_is_served_and_every_refusal_is_json() {
    let s = Server::simulated();
    let (status, body) = s.send("GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, methods) in paths {
        let path = path
            .replace("{tenant}", HVAC)
            .replace("{case}", "no-such-case")
            .replace("{slot}", "trigger")
            .replace("{id}", "1")
            .replace("{name}", "vapi");
        for method in methods.as_object().unwrap().keys() {
            operations += 1;
            // Unauthenticated and bodiless: refused or answered, never "no such route".
            let (status, text) = s.send(&method.to_uppercase(), &path, &[], Some(b""));
            assert!(
                status != 405 && !text.contains("no such route"),
                "{method} {path} is documented but not served: {status} {text}"
            );
            if status >= 400 {
                let error: Value = serde_json::from_str(&text).unwrap();
                assert!(
                    error["error"]["code"].is_string(),
                    "{method} {path}: {text}"
                );
            }
        }
    }
    assert_eq!(operations, 36, "every route, one operation per method");
    // What axum and tower answer on their own takes the same shape.
    let (status, text) = s.send("PATCH", "/v1/tenants", &[], Some(b""));
    assert_eq!(status, 405);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "method-not-allowed", "{text}");
}

#[test]
fn case_queries_filter_by_state_reason_urgency_and_owner() {
    let s = Server::simulated();
    let (_, body) = s.signal(HVAC, "evt-q1", &missed_call("+15125550196"));
    let case = body["case"].as_str().unwrap().to_string();
    s.settled(&case);
    let want = vec![case];
    let ids = |query: &str| -> Vec<String> {
        let (status, v) = s.get(&format!("/v1/tenants/{HVAC}/cases{query}"), ADMIN);
        assert_eq!(status, 200, "{v}");
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(""), want);
    assert_eq!(ids("?state=handed-off"), want);
    assert_eq!(ids("?reason_code=emergency-repair&urgency=same-day"), want);
    assert_eq!(ids("?owner=mike@lonestar-hvac.example"), want);
    assert!(ids("?state=follow-up").is_empty());
    assert!(ids("?owner=jess@lonestar-hvac.example").is_empty());
    let (status, v) = s.get(&format!("/v1/tenants/{HVAC}/cases?colour=red"), ADMIN);
    assert_eq!(status, 400, "unknown filters are refused: {v}");
    assert_eq!(v["error"]["field"], "colour", "{v}");
}
