//! `redial serve` against fake providers on loopback (Vapi, Twilio, HubSpot, a webhook
//! endpoint): each side effect reaches its provider exactly once, whether the provider
//! answers, fails, hangs or answers garbage, and the CRM lookup feeds the call script.

mod common;

use common::server::*;
use redial_core::clock::{Clock, SystemClock};
use redial_server::auth::twilio_signature;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Redirects the request to another address (303: a client that follows it sends a
    /// GET there, with its headers).
    Redirect,
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
        Misbehave::Redirect => (
            axum::http::StatusCode::SEE_OTHER,
            [("location", "/stolen-credentials")],
            "",
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
        |app| app.provider_timeout(timeout).allow_private_destinations(),
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
        "analysis": { "structuredData": { "reason": "furnace stopped working, no heat", "timeline": "today", "role": true } }
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
    let case = qualified_call(s, fake, event, caller);
    fake.wait("/hooks/handoff", 1);
    fake.wait("/crm/v3/objects/deals", 1);
    case
}

/// A signal whose Vapi call qualifies the caller: what follows (handoff, CRM) is queued.
fn qualified_call(s: &Server, fake: &FakeProviders, event: &str, caller: &str) -> String {
    let (_, body) = s.signal(HVAC, event, &missed_call(caller));
    let case = body["case"].as_str().unwrap().to_string();
    let call = fake.wait("/call", 1);
    let meta = call[0].json()["metadata"].clone();
    let report = json!({ "message": { "type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": { "id": "c", "metadata": meta },
        "analysis": { "structuredData": { "reason": "no heat", "timeline": "today", "role": true } } } });
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
fn a_declined_call_sends_the_fallback_sms_through_twilio() {
    let fake = FakeProviders::default();
    let s = provider_server(&fake);
    let (_, body) = s.signal(HVAC, "evt-decline", &missed_call("+15125550195"));
    let case = body["case"].as_str().unwrap().to_string();
    let call = fake.wait("/call", 1);
    let report = json!({ "message": { "type": "end-of-call-report", "endedReason": "vonage-rejected",
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
fn a_provider_redirect_is_not_followed_and_the_effect_is_retried() {
    let fake = FakeProviders::default();
    fake.misbehave
        .lock()
        .unwrap()
        .push(("/call".to_string(), Misbehave::Redirect, 1));
    let s = provider_server(&fake);
    let (status, body) = s.signal(HVAC, "evt-redirect", &missed_call("+15125550175"));
    assert_eq!(status, 202, "{body}");
    // The redirected try failed; the retry placed the call once.
    assert_eq!(fake.wait("/call", 1).len(), 1);
    assert_eq!(fake.requests("REDIRECT /CALL").len(), 1);
    assert!(
        fake.requests("/stolen-credentials").is_empty(),
        "the provider's key went where the redirect pointed"
    );
}

#[test]
fn a_tenant_webhook_that_resolves_inside_the_servers_network_is_not_sent() {
    let fake = FakeProviders::default();
    let base = fake.clone().start();
    // The operator has not allowed private destinations. The tenant's notify webhook points
    // at loopback (as a tenant's DNS name could); Vapi and HubSpot are the operator's own
    // settings and are reached.
    let s = Server::start_with(
        |app| app.provider_timeout(Duration::from_secs(2)),
        &provider_settings(&base),
    );
    let case = qualified_call(&s, &fake, "evt-ssrf", "+15125550174");
    fake.wait("/crm/v3/objects/deals", 1);
    let settled = s.settled(&case);
    assert_eq!(settled["case"]["state"]["state"], "handed-off", "{settled}");
    assert!(
        fake.requests("/hooks").is_empty(),
        "a loopback webhook was sent to"
    );
    assert!(
        s.engine.store().outbox_len() > 0,
        "the refused notice waits, undelivered"
    );
}

#[test]
fn a_vapi_call_whose_report_never_comes_is_looked_up_after_the_policy_timeout() {
    use common::provider_stub::{Mode, ProviderStub, vapi_voice};
    use redial_core::clock::ManualClock;
    let stub = ProviderStub::start(Mode::PlaceCall);
    let now = SystemClock.now_ms();
    let clock = Arc::new(ManualClock::new(now));
    let engine_clock = clock.clone();
    let s = Server::start_with(|app| app.clock(engine_clock), &vapi_voice(&stub.base));
    let (status, body) = s.signal(HVAC, "evt-stuck", &missed_call("+15125550166"));
    assert_eq!(status, 202, "{body}");
    let case = body["case"].as_str().unwrap().to_string();
    let placed = s.wait_for(&case, |v| v["case"]["timer"]["kind"] == "report-due");
    assert_eq!(placed["case"]["state"]["state"], "dialing", "{placed}");
    assert!(
        placed["journal"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["event"] == "call-placed"
                && e["event"]["provider_id"] == "call-stub"),
        "{placed}"
    );
    assert_eq!(stub.lookups(), 0, "not before the timeout");

    // No webhook ever comes; 15 minutes later the provider is asked.
    clock.advance_to(now + 16 * 60_000);
    let v = s.wait_for(&case, |v| {
        v["case"]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(stub.lookups(), 1);
    assert_eq!(
        v["case"]["attempts"][0]["outcome"]["kind"], "connected",
        "{v}"
    );
    assert_ne!(v["case"]["state"]["state"], "dialing", "{v}");
}
