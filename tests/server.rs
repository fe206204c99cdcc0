//! `redial serve`'s API over real HTTP on loopback: signed webhooks in, the loop running
//! behind them, queries, tenant isolation, policy swaps and bad input.

mod common;

use redial_connectors::Simulator;
use redial_core::clock::{Clock, SystemClock};
use redial_server::auth::twilio_signature;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::*;

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
        "analysis": { "structuredData": { "timeline": "today", "role": "yes, I own it", "current_system": "gas furnace" } }
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
    let good = before.replace("sla_minutes = 20", "sla_minutes = 45");
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
    let (status, body) = s.send("GET", "/metrics", &[], None);
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

/// One request a fake provider received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A contact the fake CRM already has: id, properties, last note.
type KnownContact = (String, Value, String);

/// A local stand-in for Vapi, Twilio, HubSpot and a webhook receiver: records every
/// request and answers as the provider documents; the first `failures` requests to paths
/// starting with a prefix get the given status (429 with `Retry-After: 0`, or 500).
#[derive(Clone, Default)]
struct FakeProviders {
    seen: Arc<std::sync::Mutex<Vec<Seen>>>,
    /// `(path prefix, status, times)`: answer that status instead, so many times.
    failures: Arc<std::sync::Mutex<Vec<(String, u16, u32)>>>,
    /// `(path prefix, misbehaviour, times)`: hang, drop the connection or answer garbage.
    misbehave: Arc<std::sync::Mutex<Vec<(String, Misbehave, u32)>>>,
    contacts: Arc<std::sync::Mutex<HashMap<String, String>>>,
    /// Contacts the CRM already knows: phone → (id, properties, last note).
    known: Arc<std::sync::Mutex<HashMap<String, KnownContact>>>,
}

/// Ways a provider fails other than an error status.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Misbehave {
    /// Holds the request past the client's timeout, then answers 503.
    Hang,
    /// Sends the status line, then drops the connection mid-body.
    Close,
    /// Answers 200 with a body that is not the provider's JSON.
    Garbage,
}

impl FakeProviders {
    /// The misbehaviour due for `path`, if any (counted down).
    fn misbehaviour(&self, path: &str) -> Option<Misbehave> {
        let mut list = self.misbehave.lock().unwrap();
        let m = list
            .iter_mut()
            .find(|(prefix, _, n)| path.starts_with(prefix.as_str()) && *n > 0)?;
        m.2 -= 1;
        Some(m.1)
    }

    fn start(self) -> String {
        use axum::extract::Request;
        use axum::response::IntoResponse;
        let (tx, rx) = std::sync::mpsc::channel();
        let fake = self.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().fallback(move |req: Request| {
                    let fake = fake.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        match fake.misbehaviour(&seen.path) {
                            None => fake.answer(seen).into_response(),
                            Some(how) => {
                                let path = format!("{how:?} {}", seen.path).to_uppercase();
                                fake.seen.lock().unwrap().push(Seen { path, ..seen });
                                misbehave(how).await
                            }
                        }
                    }
                });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        format!("http://{}", rx.recv().unwrap())
    }

    fn answer(
        &self,
        seen: Seen,
    ) -> (
        axum::http::StatusCode,
        [(&'static str, &'static str); 1],
        String,
    ) {
        use axum::http::StatusCode;
        let ok =
            |status: StatusCode, body: Value| (status, [("retry-after", "0")], body.to_string());
        {
            let mut failures = self.failures.lock().unwrap();
            if let Some(f) = failures
                .iter_mut()
                .find(|(prefix, _, n)| seen.path.starts_with(prefix.as_str()) && *n > 0)
            {
                f.2 -= 1;
                let status = StatusCode::from_u16(f.1).unwrap();
                self.seen.lock().unwrap().push(Seen {
                    path: format!("FAILED {}", seen.path),
                    ..seen
                });
                return ok(status, json!({ "error": "try again" }));
            }
        }
        let n = self.seen.lock().unwrap().len();
        let body = seen.json();
        let path = seen.path.clone();
        self.seen.lock().unwrap().push(seen);
        match path.as_str() {
            "/call" => ok(StatusCode::CREATED, json!({ "id": format!("call-{n}") })),
            p if p.ends_with("/Messages.json") => {
                ok(StatusCode::CREATED, json!({ "sid": format!("SM{n}") }))
            }
            "/crm/v3/objects/contacts/search"
                if let Some((id, props, _)) = body
                    .pointer("/filterGroups/0/filters/0/value")
                    .and_then(Value::as_str)
                    .and_then(|p| self.known.lock().unwrap().get(p).cloned()) =>
            {
                ok(
                    StatusCode::OK,
                    json!({ "total": 1, "results": [{ "id": id, "properties": props }] }),
                )
            }
            "/crm/v3/objects/notes/search" => {
                let contact = body
                    .pointer("/filterGroups/0/filters/0/value")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let note = self
                    .known
                    .lock()
                    .unwrap()
                    .values()
                    .find(|(id, _, _)| id == contact)
                    .map(|(_, _, n)| n.clone());
                let results: Vec<Value> = note
                    .map(|n| json!({ "id": "note-1", "properties": { "hs_note_body": n } }))
                    .into_iter()
                    .collect();
                ok(StatusCode::OK, json!({ "results": results }))
            }
            "/crm/v3/objects/contacts/search" => {
                let phone = body
                    .pointer("/filterGroups/0/filters/0/value")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let results: Vec<Value> = self
                    .contacts
                    .lock()
                    .unwrap()
                    .get(phone)
                    .map(|id| json!({ "id": id }))
                    .into_iter()
                    .collect();
                ok(
                    StatusCode::OK,
                    json!({ "total": results.len(), "results": results }),
                )
            }
            p if p.starts_with("/crm/v3/objects/") => {
                let object = p.trim_start_matches("/crm/v3/objects/").to_string();
                let id = format!("{object}-{n}");
                if object == "contacts"
                    && let Some(phone) = body.pointer("/properties/phone").and_then(Value::as_str)
                {
                    self.contacts
                        .lock()
                        .unwrap()
                        .insert(phone.to_string(), id.clone());
                }
                ok(StatusCode::CREATED, json!({ "id": id }))
            }
            _ => ok(StatusCode::OK, json!({ "ok": true })),
        }
    }

    fn requests(&self, path_prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// Waits (bounded) until `n` successful requests to a path prefix arrived.
    fn wait(&self, path_prefix: &str, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.requests(path_prefix);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn provider_settings(base: &str) -> String {
    format!(
        r#"
[voice]
provider = "vapi"
[voice.settings]
base_url = "{base}"
api_key = "vapi-private-key"
assistant_id = "asst_lonestar"
phone_number_id = "pn_lonestar"

[sms_connector]
provider = "twilio"
[sms_connector.settings]
base_url = "{base}"
account_sid = "AC123"
auth_token = "tw-secret"
from = "+15125550200"

[crm_connector]
provider = "hubspot"
[crm_connector.settings]
base_url = "{base}"
access_token = "pat-na1-test"

[notify]
provider = "webhook"
[notify.settings]
url = "{base}/hooks/handoff"
secret = "{SECRET}"
"#
    )
}

async fn misbehave(how: Misbehave) -> axum::response::Response {
    use axum::response::IntoResponse;
    match how {
        Misbehave::Hang => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "late").into_response()
        }
        Misbehave::Close => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "provider dropped the connection",
                ))
            });
            axum::response::Response::new(axum::body::Body::from_stream(broken))
        }
        Misbehave::Garbage => (
            axum::http::StatusCode::OK,
            "<html><body>502 Bad Gateway (from a proxy)</body></html>",
        )
            .into_response(),
    }
}

fn provider_server(fake: &FakeProviders) -> Server {
    provider_server_with_timeout(fake, Duration::from_secs(5))
}

fn provider_server_with_timeout(fake: &FakeProviders, timeout: Duration) -> Server {
    let base = fake.clone().start();
    Server::start_with(
        |app| app.provider_timeout(timeout),
        &provider_settings(&base),
    )
}

#[test]
fn end_to_end_twilio_missed_call_to_vapi_to_hubspot_to_handoff_and_ack() {
    let fake = FakeProviders::default();
    let s = provider_server(&fake);

    // 1. Twilio reports a missed call.
    let path = format!("/v1/tenants/{HVAC}/twilio/voice-status");
    let params = [
        ("CallSid", "CA9001"),
        ("From", "+15125550190"),
        ("To", "+15125550200"),
        ("CallStatus", "no-answer"),
    ];
    let (owned, body) = twilio_form(&params);
    let sig = twilio_signature(TWILIO_TOKEN, &format!("{}{path}", s.base), &owned);
    let (status, text) = s.send(
        "POST",
        &path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-twilio-signature", &sig),
        ],
        Some(&body),
    );
    assert_eq!(status, 202, "{text}");
    let case = serde_json::from_str::<Value>(&text).unwrap()["case"]
        .as_str()
        .unwrap()
        .to_string();

    // 2. The callback reaches Vapi as documented.
    let calls = fake.wait("/call", 1);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.headers["authorization"], "Bearer vapi-private-key");
    let v = call.json();
    assert_eq!(v["assistantId"], "asst_lonestar");
    assert_eq!(v["phoneNumberId"], "pn_lonestar");
    assert_eq!(v["customer"]["number"], "+15125550190");
    assert!(
        v["assistantOverrides"]["variableValues"]["opening"]
            .as_str()
            .unwrap()
            .contains("Lone Star")
    );
    assert_eq!(v["metadata"]["case_id"], case);

    // 3. Vapi posts the end-of-call report back.
    let report = json!({ "message": {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "call": { "id": v["metadata"]["case_id"], "metadata": v["metadata"] },
        "artifact": { "transcript": "the furnace stopped working, no heat" },
        "analysis": { "structuredData": { "reason": "furnace stopped working, no heat", "timeline": "today", "role": "yes, I own it" } }
    }});
    let (status, text) = s.send(
        "POST",
        &format!("/v1/tenants/{HVAC}/vapi"),
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", VAPI_SECRET),
        ],
        Some(&serde_json::to_vec(&report).unwrap()),
    );
    assert_eq!(status, 200, "{text}");

    // 4. HubSpot gets the contact, the call (associated) and the deal (associated).
    let created = fake.wait("/crm/v3/objects/deals", 1);
    assert_eq!(created.len(), 1);
    let hub = fake.requests("/crm/v3/objects");
    let paths: Vec<&str> = hub.iter().map(|r| r.path.as_str()).collect();
    // The context lookup at ingest, then the contact upsert (search + create), the call
    // and the deal.
    assert_eq!(
        paths,
        [
            "/crm/v3/objects/contacts/search",
            "/crm/v3/objects/contacts/search",
            "/crm/v3/objects/contacts",
            "/crm/v3/objects/calls",
            "/crm/v3/objects/deals"
        ]
    );
    assert!(
        hub.iter()
            .all(|r| r.headers["authorization"] == "Bearer pat-na1-test")
    );
    let contact_id = format!(
        "contacts-{}",
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .position(|r| r.path == "/crm/v3/objects/contacts")
            .unwrap()
    );
    let call_body = hub[3].json();
    assert_eq!(call_body["properties"]["hs_call_direction"], "OUTBOUND");
    assert_eq!(call_body["associations"][0]["to"]["id"], contact_id);
    assert_eq!(
        call_body["associations"][0]["types"][0]["associationTypeId"],
        194
    );
    assert_eq!(
        hub[4].json()["associations"][0]["types"][0]["associationTypeId"],
        3
    );

    // 5. The owner gets a signed handoff notice.
    let notices = fake.wait("/hooks/handoff", 1);
    let notice = &notices[0];
    let mut headers = axum::http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, notice.headers[name].parse().unwrap());
    }
    let now_s = SystemClock.now_ms() / 1000;
    redial_server::auth::verify_standard_webhook(SECRET, &headers, notice.body.as_bytes(), now_s)
        .expect("valid signature");
    assert_eq!(notice.json()["type"], "handoff.notice");
    assert_eq!(notice.json()["data"]["owner"], "mike@lonestar-hvac.example");

    // 6. The owner acknowledges; the SLA stops.
    let (status, _) = s.send(
        "POST",
        &format!("/v1/cases/{case}/ack"),
        &[("authorization", &format!("Bearer {ADMIN}"))],
        Some(b""),
    );
    assert_eq!(status, 200);
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(v["case"]["state"]["acknowledged"], true, "{v}");
    assert!(v["case"]["timer"].is_null());
}

#[test]
fn providers_that_answer_429_and_500_still_get_each_side_effect_exactly_once() {
    let fake = FakeProviders::default();
    fake.failures.lock().unwrap().extend([
        ("/call".to_string(), 429, 2),
        ("/crm/v3/objects/calls".to_string(), 500, 3),
        ("/hooks".to_string(), 503, 1),
    ]);
    let s = provider_server(&fake);
    let case = qualified_call_to_handoff(&s, &fake, "evt-flaky", "+15125550191");
    assert_eq!(fake.requests("/call").len(), 1, "one placed call");
    assert_eq!(fake.requests("FAILED /call").len(), 2);
    assert_eq!(
        fake.requests("/crm/v3/objects/calls").len(),
        1,
        "one call engagement"
    );
    assert_eq!(fake.requests("FAILED /crm/v3/objects/calls").len(), 3);
    assert_eq!(fake.requests("/hooks/handoff").len(), 1);
    assert_eq!(drained_outbox(&s), 0, "nothing left undelivered for {case}");
}

#[test]
fn providers_that_hang_drop_the_connection_or_answer_garbage_still_get_each_effect_once() {
    let fake = FakeProviders::default();
    fake.misbehave.lock().unwrap().extend([
        ("/call".to_string(), Misbehave::Garbage, 1),
        ("/call".to_string(), Misbehave::Close, 1),
        ("/crm/v3/objects/calls".to_string(), Misbehave::Hang, 1),
        ("/crm/v3/objects/deals".to_string(), Misbehave::Garbage, 1),
        ("/hooks".to_string(), Misbehave::Close, 1),
    ]);
    let s = provider_server_with_timeout(&fake, Duration::from_millis(800));
    let case = qualified_call_to_handoff(&s, &fake, "evt-unreliable", "+15125550193");
    assert_eq!(drained_outbox(&s), 0, "all delivered for {case}");

    // Every misbehaviour happened, and each effect was applied exactly once after it.
    for (seen, n) in [
        ("GARBAGE /CALL", 1),
        ("CLOSE /CALL", 1),
        ("HANG /CRM/V3/OBJECTS/CALLS", 1),
        ("GARBAGE /CRM/V3/OBJECTS/DEALS", 1),
        ("CLOSE /HOOKS", 1),
        ("/call", 1),
        ("/crm/v3/objects/calls", 1),
        ("/crm/v3/objects/deals", 1),
        ("/hooks/handoff", 1),
    ] {
        assert_eq!(fake.requests(seen).len(), n, "{seen}");
    }
    // Retries reuse the effect's idempotency key, which is what lets a provider that did
    // act on a lost answer recognise the repeat.
    let key = |s: &Seen| s.headers.get("idempotency-key").cloned();
    let calls: Vec<Option<String>> = fake
        .requests("GARBAGE /CALL")
        .iter()
        .chain(&fake.requests("CLOSE /CALL"))
        .chain(&fake.requests("/call"))
        .map(key)
        .collect();
    assert!(
        calls[0].is_some() && calls.iter().all(|k| *k == calls[0]),
        "{calls:?}"
    );
    println!(
        "misbehaving providers: 5 failures (garbage, dropped connections, a hang past the timeout) absorbed; each effect applied once"
    );
}

/// A missed call from `caller` through the provider fakes: the call is placed, Vapi reports
/// a qualified lead, and the handoff notice and the deal have arrived. Returns the case.
fn qualified_call_to_handoff(
    s: &Server,
    fake: &FakeProviders,
    event: &str,
    caller: &str,
) -> String {
    let (_, body) = s.signal(HVAC, event, &missed_call(caller));
    let case = body["case"].as_str().unwrap().to_string();
    let call = fake.wait("/call", 1);
    let meta = call[0].json()["metadata"].clone();
    let report = json!({ "message": { "type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": { "id": "c", "metadata": meta },
        "analysis": { "structuredData": { "reason": "no heat", "timeline": "today", "role": "yes" } } } });
    let (status, _) = s.send(
        "POST",
        &format!("/v1/tenants/{HVAC}/vapi"),
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", VAPI_SECRET),
        ],
        Some(&serde_json::to_vec(&report).unwrap()),
    );
    assert_eq!(status, 200);
    fake.wait("/hooks/handoff", 1);
    fake.wait("/crm/v3/objects/deals", 1);
    case
}

/// Waits (bounded) until the loop has recorded every delivery, which happens just after
/// each provider answers; returns what is left in the outbox.
fn drained_outbox(s: &Server) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.engine.store().outbox_len() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    s.engine.store().outbox_len()
}

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
fn the_crm_lookup_injects_what_hubspot_knows_into_the_call_script() {
    let fake = FakeProviders::default();
    fake.known.lock().unwrap().insert(
        "+15125550192".into(),
        (
            "contact-77".into(),
            json!({ "firstname": "Dana", "lastname": "Whitfield", "lifecyclestage": "customer", "num_associated_deals": "2" }),
            "Replaced the blower motor in March".into(),
        ),
    );
    let s = provider_server(&fake);
    let (status, body) = s.signal(
        HVAC,
        "evt-crm",
        &json!({ "kind": "missed-call", "caller": "+15125550192", "line": "+15125550200" }),
    );
    assert_eq!(status, 202, "{body}");
    let call = fake.wait("/call", 1);
    let vars = &call[0].json()["assistantOverrides"]["variableValues"];
    assert!(
        vars["opening"].as_str().unwrap().starts_with("Hi Dana,"),
        "{vars}"
    );
    let known = vars["known_context"].as_str().unwrap();
    for needle in [
        "crm-lifecycle-stage: customer",
        "crm-open-deals: 2",
        "crm-last-note: Replaced the blower motor",
    ] {
        assert!(known.contains(needle), "{needle} missing from {known}");
    }
}

#[test]
fn a_crm_that_fails_the_lookup_does_not_stop_the_callback() {
    let fake = FakeProviders::default();
    fake.failures
        .lock()
        .unwrap()
        .push(("/crm/v3/objects/contacts/search".to_string(), 500, 100));
    let s = provider_server(&fake);
    let (status, body) = s.signal(HVAC, "evt-crm-down", &missed_call("+15125550193"));
    assert_eq!(
        (status, body["result"].as_str()),
        (202, Some("opened")),
        "{body}"
    );
    assert_eq!(
        fake.wait("/call", 1).len(),
        1,
        "the callback is placed anyway"
    );
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
fn the_openapi_document_lists_every_route() {
    let s = Server::simulated();
    let (status, body) = s.send("GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let router =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src/lib.rs"))
            .unwrap();
    let routes: Vec<&str> = router
        .split(".route(")
        .skip(1)
        .filter_map(|r| r.split('"').nth(1))
        .collect();
    assert!(routes.len() >= 19, "{routes:?}");
    for route in routes {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} is served but not documented"
        );
    }
}

#[test]
fn a_declined_call_sends_the_fallback_sms_through_twilio() {
    let fake = FakeProviders::default();
    let s = provider_server(&fake);
    let (_, body) = s.signal(HVAC, "evt-decline", &missed_call("+15125550195"));
    let case = body["case"].as_str().unwrap().to_string();
    let call = fake.wait("/call", 1);
    let report = json!({ "message": { "type": "end-of-call-report", "endedReason": "customer-declined",
        "call": { "id": "c", "metadata": call[0].json()["metadata"] } } });
    let (status, _) = s.send(
        "POST",
        &format!("/v1/tenants/{HVAC}/vapi"),
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", VAPI_SECRET),
        ],
        Some(&serde_json::to_vec(&report).unwrap()),
    );
    assert_eq!(status, 200);
    let sms = fake.wait("/2010-04-01/Accounts/AC123/Messages.json", 1);
    assert_eq!(sms.len(), 1);
    let expected_auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "AC123:tw-secret"
        )
    );
    assert_eq!(sms[0].headers["authorization"], expected_auth);
    let form: HashMap<String, String> = serde_urlencoded::from_str(&sms[0].body).unwrap();
    assert_eq!(form["To"], "+15125550195");
    assert_eq!(form["From"], "+15125550200");
    assert!(
        form["Body"].contains("https://book.example.com/lone-star"),
        "{}",
        form["Body"]
    );
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(v["case"]["state"]["state"], "closed");
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
