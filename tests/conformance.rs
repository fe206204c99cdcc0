//! Provider conformance: the request and webhook payloads in `tests/fixtures/providers/`,
//! written from each provider's public API reference (sources in that folder's README),
//! run through the real server and connectors against a loopback fake that checks every
//! request against the fields its provider requires, and answers with the provider's own
//! documented responses.

mod common;

use common::server::*;
use redial_core::clock::{Clock, ManualClock, SystemClock};
use redial_server::auth::twilio_signature;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/providers")
}

/// A fixture's text with each `{{name}}` replaced.
fn fill(path: &str, values: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(fixtures().join(path)).unwrap();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "{path}: a placeholder is left: {text}"
    );
    text
}

/// What a provider requires of one request Redial sends it (`requests.json`).
#[derive(Debug, Clone, serde::Deserialize)]
struct Contract {
    name: String,
    method: String,
    /// The path, `*` standing for one segment.
    path: String,
    authorization: Option<String>,
    /// `json` or `form`; none: no body is read.
    body: Option<String>,
    /// JSON pointer → what must be there.
    #[serde(default)]
    required: HashMap<String, String>,
    /// For each array or object at a pointer, what each of its items must hold.
    #[serde(default)]
    each: HashMap<String, HashMap<String, String>>,
}

impl Contract {
    fn matches(&self, method: &str, path: &str) -> bool {
        let (want, got): (Vec<&str>, Vec<&str>) =
            (self.path.split('/').collect(), path.split('/').collect());
        self.method == method
            && want.len() == got.len()
            && want.iter().zip(&got).all(|(w, g)| *w == "*" || w == g)
    }

    /// What is wrong with a request, one line each.
    fn violations(&self, headers: &HashMap<String, String>, body: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        if let Some(auth) = &self.authorization
            && headers.get("authorization") != Some(auth)
        {
            wrong.push(format!("Authorization is not {auth:?}"));
        }
        let doc = match self.body.as_deref() {
            Some("json") => {
                if !headers
                    .get("content-type")
                    .is_some_and(|t| t.starts_with("application/json"))
                {
                    wrong.push("not sent as application/json".into());
                }
                serde_json::from_str(body).unwrap_or(Value::Null)
            }
            Some("form") => {
                let form: HashMap<String, String> =
                    serde_urlencoded::from_str(body).unwrap_or_default();
                serde_json::to_value(form).unwrap()
            }
            _ => Value::Null,
        };
        for (pointer, kind) in &self.required {
            if let Err(why) = check(doc.pointer(pointer), kind) {
                wrong.push(format!("{pointer}: {why}"));
            }
        }
        for (pointer, fields) in &self.each {
            let items: Vec<&Value> = match doc.pointer(pointer) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(Value::Object(items)) => items.values().collect(),
                _ => Vec::new(),
            };
            for (i, item) in items.iter().enumerate() {
                for (field, kind) in fields {
                    if let Err(why) = check(item.pointer(field), kind) {
                        wrong.push(format!("{pointer}[{i}]{field}: {why}"));
                    }
                }
            }
        }
        wrong
    }
}

/// Whether `value` is what `kind` says: `string` (non-empty), `e164`, `url`, `number`,
/// `boolean`, `object`, `object-of-strings`, `array`, `one-of:a|b`, or `=literal`.
fn check(value: Option<&Value>, kind: &str) -> Result<(), String> {
    let value = value.ok_or("missing")?;
    let text = value.as_str().unwrap_or_default();
    let ok = match kind {
        "string" => !text.is_empty(),
        "e164" => {
            let digits = text.strip_prefix('+').unwrap_or("");
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
        "url" => text.starts_with("https://") || text.starts_with("http://"),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "object-of-strings" => value
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        "array" => value.is_array(),
        _ if kind.starts_with("one-of:") => kind["one-of:".len()..].split('|').any(|k| k == text),
        _ if kind.starts_with('=') => {
            let want = &kind[1..];
            text == want || serde_json::from_str::<Value>(want).ok().as_ref() == Some(value)
        }
        other => panic!("unknown kind {other:?} in a contract"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{value} is not {kind}"))
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
struct Received {
    contract: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn form(&self) -> HashMap<String, String> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }
}

/// Vapi, Retell, Twilio and HubSpot on loopback: every request is held to its contract
/// (a request no contract names is a violation too) and answered with the provider's
/// documented response.
#[derive(Clone, Default)]
struct Fake {
    contracts: Vec<Contract>,
    received: Arc<Mutex<Vec<Received>>>,
    violations: Arc<Mutex<Vec<String>>>,
    /// Each looked-up call's case and attempt, by call id.
    calls: Arc<Mutex<HashMap<String, (String, u32)>>>,
}

impl Fake {
    fn start() -> (Fake, String) {
        let mut fake = Fake::default();
        for provider in ["vapi", "retell", "twilio", "hubspot"] {
            let text = std::fs::read_to_string(fixtures().join(provider).join("requests.json"));
            let list: Vec<Contract> = serde_json::from_str(&text.unwrap()).unwrap();
            fake.contracts.extend(list);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let serving = fake.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let fake = serving.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                        let headers = (parts.headers.iter())
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        fake.answer(
                            parts.method.as_str(),
                            parts.uri.path(),
                            &headers,
                            &String::from_utf8_lossy(&body),
                        )
                    }
                });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let base = format!("http://{}", rx.recv().unwrap());
        (fake, base)
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        headers: &HashMap<String, String>,
        body: &str,
    ) -> (
        axum::http::StatusCode,
        [(&'static str, &'static str); 1],
        String,
    ) {
        use axum::http::StatusCode;
        let Some(contract) = self.contracts.iter().find(|c| c.matches(method, path)) else {
            self.violations.lock().unwrap().push(format!(
                "{method} {path}: no provider documents this request"
            ));
            return (
                StatusCode::NOT_FOUND,
                [("content-type", "application/json")],
                "{}".into(),
            );
        };
        for why in contract.violations(headers, body) {
            (self.violations.lock().unwrap()).push(format!("{}: {why}", contract.name));
        }
        let mut received = self.received.lock().unwrap();
        let n = received.len().to_string();
        received.push(Received {
            contract: contract.name.clone(),
            body: body.to_string(),
        });
        drop(received);
        let sent: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let meta = |v: &Value| {
            let case = v.pointer("/metadata/case_id").and_then(Value::as_str);
            let attempt = v.pointer("/metadata/attempt").and_then(Value::as_u64);
            (case.unwrap_or("").to_string(), attempt.unwrap_or(0) as u32)
        };
        let placed = |fixture: &str, id: String, to: &str, from: &str| {
            let (case, attempt) = meta(&sent);
            self.calls
                .lock()
                .unwrap()
                .insert(id.clone(), (case.clone(), attempt));
            let attempt = attempt.to_string();
            let values = [
                ("call_id", id.as_str()),
                ("to", to),
                ("from", from),
                ("case_id", case.as_str()),
                ("attempt", attempt.as_str()),
            ];
            fill(fixture, &values)
        };
        let looked_up = |fixture: &str| {
            let id = path.rsplit('/').next().unwrap_or("");
            let (case, attempt) = self
                .calls
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .unwrap_or_default();
            let attempt = attempt.to_string();
            fill(
                fixture,
                &[("call_id", id), ("case_id", &case), ("attempt", &attempt)],
            )
        };
        let str_at = |p: &str| {
            sent.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (status, text) = match contract.name.as_str() {
            "create call" => (
                StatusCode::CREATED,
                placed(
                    "vapi/create-call.response.json",
                    format!("vapi-{n}"),
                    &str_at("/customer/number"),
                    "",
                ),
            ),
            "get call" if path.starts_with("/call/") => {
                (StatusCode::OK, looked_up("vapi/get-call.response.json"))
            }
            "create phone call" => (
                StatusCode::CREATED,
                placed(
                    "retell/create-phone-call.response.json",
                    format!("retell_{n}"),
                    &str_at("/to_number"),
                    &str_at("/from_number"),
                ),
            ),
            "get call" => (StatusCode::OK, looked_up("retell/get-call.response.json")),
            "create message" => {
                let to = serde_urlencoded::from_str::<HashMap<String, String>>(body)
                    .unwrap_or_default()
                    .remove("To")
                    .unwrap_or_default();
                let values = [("call_id", format!("SM{n}")), ("to", to)];
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                (
                    StatusCode::CREATED,
                    fill("twilio/create-message.response.json", &values),
                )
            }
            "search objects" => (StatusCode::OK, fill("hubspot/search.response.json", &[])),
            "create object" | "update object" => (
                StatusCode::CREATED,
                fill("hubspot/create-object.response.json", &[("call_id", &n)]),
            ),
            _ => (
                StatusCode::OK,
                fill("hubspot/associate.response.json", &[("call_id", &n)]),
            ),
        };
        (status, [("content-type", "application/json")], text)
    }

    /// Waits (bounded) for `n` requests under a contract.
    fn wait(&self, contract: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got: Vec<Received> = (self.received.lock().unwrap().iter())
                .filter(|r| r.contract == contract)
                .cloned()
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_conformant(&self) {
        let wrong = self.violations.lock().unwrap();
        assert!(
            wrong.is_empty(),
            "requests a provider would refuse:\n{}",
            wrong.join("\n")
        );
    }
}

/// The settings that send every channel of the HVAC tenant to the fake.
fn settings(voice: &str, base: &str) -> String {
    let voice = match voice {
        "retell" => format!(
            "[voice]\nprovider = \"retell\"\n[voice.settings]\nbase_url = \"{base}\"\n\
             api_key = \"retell-key\"\nagent_id = \"agent_lonestar\"\n"
        ),
        _ => format!(
            "[voice]\nprovider = \"vapi\"\n[voice.settings]\nbase_url = \"{base}\"\n\
             api_key = \"vapi-private-key\"\nassistant_id = \"asst_lonestar\"\n\
             phone_number_id = \"pn_lonestar\"\n"
        ),
    };
    format!(
        "\n{voice}\n[sms_connector]\nprovider = \"twilio\"\n[sms_connector.settings]\n\
         base_url = \"{base}\"\naccount_sid = \"AC123\"\nauth_token = \"tw-secret\"\n\
         from = \"+15125550200\"\n\n[crm_connector]\nprovider = \"hubspot\"\n\
         [crm_connector.settings]\nbase_url = \"{base}\"\naccess_token = \"pat-na1-test\"\n"
    )
}

/// Opens a case for `caller` and returns it with the metadata of its first call.
fn dialled(s: &Server, fake: &Fake, contract: &str, caller: &str, n: usize) -> (String, Value) {
    let (status, body) = s.signal(HVAC, &format!("evt-{caller}"), &missed_call(caller));
    assert_eq!(status, 202, "{body}");
    let case = body["case"].as_str().unwrap().to_string();
    let calls = fake.wait(contract, n);
    assert_eq!(calls.len(), n, "the call was placed");
    (case, calls[n - 1].json())
}

/// `POST path` with `headers` and `body`; the answer's status and JSON.
fn post(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let (status, text) = s.send("POST", path, headers, Some(body));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn journal_events(s: &Server, case: &str) -> Vec<Value> {
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    (v["journal"].as_array().unwrap().iter())
        .map(|e| e["event"].clone())
        .collect()
}

#[test]
fn vapi_twilio_and_hubspot_get_every_field_they_require_and_vapis_messages_are_read() {
    let (fake, base) = Fake::start();
    let s = Server::start_with(
        |app| app.allow_private_destinations(),
        &settings("vapi", &base),
    );
    let (case, dial) = dialled(&s, &fake, "create call", "+15125550141", 1);

    // The dial tells Vapi what to extract, typed by each question's kind.
    let schema = &dial["assistantOverrides"]["analysisPlan"]["structuredDataPlan"]["schema"];
    assert_eq!(schema["properties"]["role"]["type"], "boolean", "{schema}");
    assert_eq!(
        schema["properties"]["timeline"]["type"], "string",
        "{schema}"
    );
    assert_eq!(
        schema["properties"]["opt_out"]["type"], "boolean",
        "{schema}"
    );
    assert!(schema["properties"]["call_back_at"].is_object(), "{schema}");

    let call_id = "vapi-0";
    let values = [
        ("call_id", call_id),
        ("case_id", case.as_str()),
        ("attempt", "1"),
    ];
    let post = |fixture: &str| {
        post(
            &s,
            &format!("/v1/tenants/{HVAC}/vapi"),
            &[
                ("content-type", "application/json"),
                ("x-vapi-secret", VAPI_SECRET),
            ],
            fill(fixture, &values).as_bytes(),
        )
    };
    assert_eq!(
        post("vapi/status-update.json"),
        (200, json!({ "result": "acknowledged" }))
    );
    let (status, body) = post("vapi/end-of-call-report.json");
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("recorded")),
        "{body}"
    );

    // The report's typed answers reached the journal; the CRM got the qualified caller.
    let events = journal_events(&s, &case);
    let result = events.iter().find(|e| e["event"] == "call-result").unwrap();
    assert_eq!(result["unanswered"], json!([]), "{result}");
    let role = (result["answers"].as_array().unwrap().iter())
        .find(|a| a["field_id"] == "role")
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(
        role["value"],
        json!({ "kind": "yes-no", "value": true }),
        "{result}"
    );
    assert!(!fake.wait("create object", 2).is_empty());
    assert!(!fake.wait("search objects", 1).is_empty());
    fake.assert_conformant();
}

/// A Retell event, signed as Retell signs it at `at_ms`.
fn retell_event(s: &Server, body: &str, at_ms: i64) -> (u16, Value) {
    let signature = redial_connectors::retell::sign(body.as_bytes(), "retell-key", at_ms);
    post(
        s,
        &format!("/v1/tenants/{HVAC}/retell"),
        &[
            ("content-type", "application/json"),
            ("x-retell-signature", &signature),
        ],
        body.as_bytes(),
    )
}

/// The fake, and a server whose HVAC tenant calls through Retell, on a clock the test
/// moves (Retell's signatures are checked against it).
fn retell_server() -> (Fake, Server, Arc<ManualClock>) {
    let (fake, base) = Fake::start();
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let engine_clock = clock.clone();
    let s = Server::start_with(
        |app| app.clock(engine_clock).allow_private_destinations(),
        &settings("retell", &base),
    );
    (fake, s, clock)
}

#[test]
fn retell_is_dialled_as_its_reference_says_and_its_signed_events_end_the_attempt_once() {
    let (fake, s, clock) = retell_server();
    let now = clock.now_ms();
    let (case, dial) = dialled(&s, &fake, "create phone call", "+15125550142", 1);
    let analysis = dial["agent_override"]["agent"]["post_call_analysis_data"]
        .as_array()
        .unwrap();
    let role = analysis.iter().find(|f| f["name"] == "role").unwrap();
    assert_eq!(role["type"], "boolean", "{dial}");
    assert_eq!(
        dial["from_number"], "+15125550200",
        "the line the caller called"
    );
    let call = dial["metadata"].clone();
    let values = [
        ("call_id", "retell_0"),
        ("to", "+15125550142"),
        ("case_id", call["case_id"].as_str().unwrap()),
        ("attempt", "1"),
    ];
    let event = |fixture: &str| fill(fixture, &values);
    let journal_len = || journal_events(&s, &case).len();

    // A stale, tampered or missing signature is refused and nothing is recorded.
    let analyzed = event("retell/call_analyzed.json");
    let before = journal_len();
    assert_eq!(
        retell_event(&s, &analyzed, now - 6 * 60_000).0,
        401,
        "stale"
    );
    let signed = redial_connectors::retell::sign(analyzed.as_bytes(), "retell-key", now);
    let tampered = analyzed.replace("\"role\": true", "\"role\": false");
    let headers = [
        ("content-type", "application/json"),
        ("x-retell-signature", signed.as_str()),
    ];
    let path = format!("/v1/tenants/{HVAC}/retell");
    assert_eq!(
        s.send("POST", &path, &headers, Some(tampered.as_bytes())).0,
        401,
        "tampered"
    );
    let unsigned = [("content-type", "application/json")];
    assert_eq!(
        s.send("POST", &path, &unsigned, Some(analyzed.as_bytes()))
            .0,
        401,
        "missing"
    );
    assert_eq!(journal_len(), before);

    // Started, ended (a conversation: its answers come with the analysis), analysed.
    assert_eq!(
        retell_event(&s, &event("retell/call_started.json"), now).1["result"],
        "acknowledged"
    );
    assert_eq!(
        retell_event(&s, &event("retell/call_ended.json"), now).1["result"],
        "acknowledged"
    );
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(v["case"]["state"]["state"], "dialing", "{v}");
    let (status, body) = retell_event(&s, &analyzed, now);
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("recorded")),
        "{body}"
    );
    let (_, v) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(
        v["case"]["attempts"][0]["outcome"]["kind"], "connected",
        "{v}"
    );
    assert_ne!(v["case"]["state"]["state"], "dialing", "{v}");

    // Retell retries: the same report again changes nothing, journalled.
    assert_eq!(retell_event(&s, &analyzed, now).0, 200);
    let (_, again) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    assert_eq!(again["case"]["attempts"], v["case"]["attempts"]);
    assert!(
        journal_events(&s, &case)
            .iter()
            .any(|e| e["rule"] == "repeated-report")
    );

    // A report for another tenant's case or an attempt never made: 404, nothing recorded.
    let before = journal_len();
    let unknown = analyzed.replace(&case, "northwind-software-00001");
    assert_eq!(retell_event(&s, &unknown, now).0, 404);
    let never = analyzed.replace("\"attempt\": 1", "\"attempt\": 7");
    assert_eq!(retell_event(&s, &never, now).0, 404);
    assert_eq!(journal_len(), before);
    fake.assert_conformant();
}

#[test]
fn a_declined_retell_call_sends_a_twilio_fallback_whose_delivery_status_comes_back() {
    let (fake, s, clock) = retell_server();
    let now = clock.now_ms();
    let (case, _) = dialled(&s, &fake, "create phone call", "+15125550143", 1);
    let values = [
        ("call_id", "retell_0"),
        ("to", "+15125550143"),
        ("case_id", case.as_str()),
        ("attempt", "1"),
    ];
    let declined = fill("retell/call_ended-declined.json", &values);
    assert_eq!(retell_event(&s, &declined, now).1["result"], "recorded");

    // The fallback asks Twilio to report its fate to this server.
    let sms = fake.wait("create message", 1);
    assert_eq!(sms.len(), 1);
    let callback = sms[0].form()["StatusCallback"].clone();
    let prefix = format!("{}/v1/tenants/{HVAC}/twilio/sms-status?key=", s.base);
    assert!(callback.starts_with(&prefix), "{callback}");
    let path = &callback[s.base.len()..];
    let status = |fixture: &str| {
        let form: HashMap<String, String> = serde_json::from_str(&fill(
            fixture,
            &[("call_id", "SM1"), ("to", "+15125550143")],
        ))
        .unwrap();
        let params: Vec<(String, String)> = form.into_iter().collect();
        let signature = twilio_signature(TWILIO_TOKEN, &callback, &params);
        let body = serde_urlencoded::to_string(&params).unwrap();
        post(
            &s,
            path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-twilio-signature", &signature),
            ],
            body.as_bytes(),
        )
    };
    assert_eq!(
        status("twilio/message-status-sent.json").1["result"],
        "ignored"
    );
    let (code, body) = status("twilio/message-status-undelivered.json");
    assert_eq!((code, &body["result"]), (200, &json!("recorded")), "{body}");
    assert_eq!(
        status("twilio/message-status-undelivered.json").1["result"],
        "ignored"
    );
    let recorded: Vec<Value> = (journal_events(&s, &case).into_iter())
        .filter(|e| e["event"] == "message-status")
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["status"], "undelivered");
    assert_eq!(recorded[0]["error_code"], "30003");
    fake.assert_conformant();
}

#[test]
fn a_retell_call_whose_events_never_come_is_looked_up_and_ends_as_retell_says() {
    let (fake, s, clock) = retell_server();
    let now = clock.now_ms();
    let (case, _) = dialled(&s, &fake, "create phone call", "+15125550144", 1);
    s.wait_for(&case, |v| v["case"]["timer"]["kind"] == "report-due");
    clock.advance_to(now + 16 * 60_000);
    let v = s.wait_for(&case, |v| {
        v["case"]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(fake.wait("get call", 1).len(), 1);
    assert_eq!(v["case"]["attempts"][0]["outcome"]["kind"], "busy", "{v}");
    fake.assert_conformant();
}
