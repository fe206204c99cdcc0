//! `redial serve`'s API over real HTTP on loopback: signed webhooks in, the loop running
//! behind them, queries, tenant isolation, policy swaps and bad input.

mod common;

use redial::api::auth::{sign_standard_webhook, twilio_signature};
use redial::api::{self, AppState, Metrics};
use redial::clock::{Clock, SystemClock};
use redial::connectors::{ConnectorError, Connectors, Delivery, Simulator};
use redial::engine::Engine;
use redial::policy::Policy;
use redial::store::{Effect, OutboxItem, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TWILIO_TOKEN: &str = "twilio-token-123";
const VAPI_SECRET: &str = "vapi-secret-xyz";
const ADMIN: &str = "admin-token-for-tests";
const HVAC: &str = "lone-star-hvac";
const SAAS: &str = "northwind-software";

fn with_webhooks(policy: &str) -> String {
    format!(
        "{policy}\n[webhooks]\nsigning_secret = \"{SECRET}\"\ntwilio_auth_token = \"{TWILIO_TOKEN}\"\nvapi_secret = \"{VAPI_SECRET}\"\n"
    )
}

struct Server {
    base: String,
    engine: Arc<Engine>,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(connectors: Arc<dyn Connectors>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let engine = Arc::new(Engine::new(
            store,
            Arc::new(common::runtime()),
            Arc::new(SystemClock),
        ));
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        for (tenant, file) in [
            (HVAC, "lone-star-hvac.toml"),
            (SAAS, "northwind-software.toml"),
        ] {
            let text = with_webhooks(&common::policy_text(file));
            std::fs::write(policies.join(format!("{tenant}.toml")), &text).unwrap();
            engine
                .load_tenant(Policy::parse(&text, file).unwrap())
                .unwrap();
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state_engine = engine.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let state = AppState {
                    engine: state_engine,
                    admin_token_hash: Some(redial::api::auth::token_hash(ADMIN)),
                    public_url: format!("http://{addr}"),
                    policies_dir: Some(policies),
                    metrics: Arc::new(Metrics::default()),
                };
                addr_tx.send(addr).unwrap();
                api::serve(listener, state, connectors, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            base: format!("http://{addr}"),
            engine,
            agent,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn simulated() -> Server {
        let sim = Simulator::new(Arc::new(SystemClock), HashMap::new(), None).unwrap();
        Server::start(Arc::new(sim))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            (m, body) => {
                let mut r = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(body.unwrap_or_default())
            }
        }
        .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let (status, body) = self.send("GET", path, &[("authorization", &auth)], None);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    fn signal(&self, tenant: &str, id: &str, body: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(body).unwrap();
        self.signal_raw(tenant, id, &body, &body, "application/json")
    }

    /// Posts `sent`, signed as if the body were `signed`.
    fn signal_raw(
        &self,
        tenant: &str,
        id: &str,
        signed: &[u8],
        sent: &[u8],
        content_type: &str,
    ) -> (u16, Value) {
        let ts = SystemClock.now_ms() / 1000;
        let sig = sign_standard_webhook(SECRET, id, ts, signed);
        let ts = ts.to_string();
        let headers = [
            ("content-type", content_type),
            ("webhook-id", id),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ];
        let (status, body) = self.send(
            "POST",
            &format!("/v1/tenants/{tenant}/signals"),
            &headers,
            Some(sent),
        );
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    fn token_for(&self, tenant: &str) -> String {
        let auth = format!("Bearer {ADMIN}");
        let (status, body) = self.send(
            "POST",
            &format!("/v1/tenants/{tenant}/tokens"),
            &[("authorization", &auth)],
            Some(b""),
        );
        assert_eq!(status, 201, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls a case until `done(case JSON)` holds (bounded; the loop runs in the background).
    fn wait_for(&self, case: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = self.get(&format!("/v1/cases/{case}"), ADMIN);
            if done(&v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls a case until it leaves the open states.
    fn settled(&self, case: &str) -> Value {
        self.wait_for(case, |v| {
            !["waiting", "dialing"].contains(&v["case"]["state"]["state"].as_str().unwrap_or(""))
        })
    }

    fn signals_recorded(&self, tenant: &str) -> u64 {
        self.engine.store().counters(tenant).unwrap().signals
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn missed_call(caller: &str) -> Value {
    json!({ "kind": "missed-call", "caller": caller, "line": "+15125550200", "context": { "name": "Dana", "message": "no heat upstairs" } })
}

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
    let huge = vec![b'x'; api::MAX_BODY + 1];
    let (status, _) = s.signal_raw(HVAC, "evt-huge", &huge, &huge, "application/json");
    assert_eq!(status, 413);
    assert_eq!(
        s.signals_recorded(HVAC),
        0,
        "no rejected request is recorded"
    );
}

fn twilio_form(params: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = serde_urlencoded::to_string(&owned).unwrap().into_bytes();
    (owned, body)
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

/// A dialer that places calls whose reports arrive later by webhook (like Vapi).
struct PlacesCalls(Simulator);

impl Connectors for PlacesCalls {
    fn deliver(&self, item: &OutboxItem) -> Result<Delivery, ConnectorError> {
        match item.effect {
            Effect::Dial { .. } => Ok(Delivery::CallPlaced {
                provider_id: format!("vapi-{}", item.key),
            }),
            _ => self.0.deliver(item),
        }
    }
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
}

#[test]
fn editing_a_policy_file_reloads_the_tenant_and_a_broken_edit_is_refused() {
    let s = Server::simulated();
    let dir = s._dir.path().join("policies");
    let file = dir.join(format!("{HVAC}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut watcher = redial::watch::PolicyWatcher::new(&dir);
    // A broken edit: refused, the live policy is unchanged.
    std::fs::write(
        &file,
        text.replace("sla_minutes = 20", "sla_minutes = \"soon\""),
    )
    .unwrap();
    bump_mtime(&file);
    let reloads = watcher.poll(&s.engine);
    assert!(
        matches!(&reloads[..], [redial::watch::Reload::Refused { reason, .. }] if reason.contains("sla_minutes")),
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
        matches!(&reloads[..], [redial::watch::Reload::Applied { .. }]),
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
