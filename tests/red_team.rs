//! A hostile tenant against the real server on loopback: everything a tenant token may
//! send is held to the trust model (ARCHITECTURE.md), each attack is refused naming what
//! it tried, the refused request changes nothing, and the other tenants are still served.

mod common;

use common::provider_stub::{Mode, ProviderStub, vapi_voice};
use common::server::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The HVAC tenant's own policy as the test server loaded it, plus `extra` TOML.
fn hvac_policy(extra: &str) -> String {
    let base = with_webhooks(&redial_bench::all_day_window(&common::policy_text(
        "lone-star-hvac.toml",
    )));
    format!("{base}\n{extra}")
}

/// The HVAC tenant's policy as the tenant submits it: webhook secrets named as its own
/// secrets, plus `extra` TOML.
fn submitted_policy(extra: &str) -> String {
    let base = with_secret_refs(&redial_bench::all_day_window(&common::policy_text(
        "lone-star-hvac.toml",
    )));
    format!("{base}\n{extra}")
}

/// PUTs `policy` as the tenant itself; returns status and body.
fn put_as_tenant(s: &Server, token: &str, policy: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, text) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &auth)],
        Some(policy.as_bytes()),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The policy text live for HVAC now.
fn live_policy(s: &Server) -> String {
    s.engine.tenant(HVAC).unwrap().policy.source.clone()
}

#[test]
fn a_tenant_cannot_read_server_secrets_files_or_addresses_through_its_policy() {
    let s = Server::simulated();
    let token = s.token_for(HVAC);
    s.set_webhook_secrets(HVAC, &token);
    let before = live_policy(&s);
    let attacks = [
        // The server's environment (the admin token, other tenants' keys) sent as the
        // provider's bearer token to an address the tenant chose.
        (
            "[voice]\nprovider = \"vapi\"\n[voice.settings]\napi_key = \"env:REDIAL_ADMIN_TOKEN\"\n\
             assistant_id = \"a\"\nphone_number_id = \"p\"\n",
            "voice.settings.api_key",
        ),
        (
            "[voice]\nprovider = \"vapi\"\n[voice.settings]\napi_key = \"secret:vapi\"\nassistant_id = \"a\"\n\
             phone_number_id = \"p\"\nbase_url = \"http://127.0.0.1:9/steal\"\n",
            "voice.settings.base_url",
        ),
        // The tenant's own endpoint inside the server's network.
        (
            "[notify]\nprovider = \"webhook\"\n[notify.settings]\nurl = \"https://169.254.169.254/latest/meta-data\"\nsecret = \"secret:signing\"\n",
            "notify.settings.url",
        ),
        (
            "[crm_connector]\nprovider = \"webhook\"\n[crm_connector.settings]\nurl = \"http://crm.example.com/hook\"\nsecret = \"secret:signing\"\n",
            "crm_connector.settings.url",
        ),
    ];
    for (extra, key) in attacks {
        let (status, body) = put_as_tenant(&s, &token, &submitted_policy(extra));
        assert_eq!(status, 422, "{key}: {body}");
        assert_eq!(body["error"]["field"], key, "{body}");
    }
    // A server file as a plugin: refused before anything is read.
    let from_file = submitted_policy("").replacen(
        "[trigger]\nplugin = ",
        "[trigger]\npath = \"/dev/zero\"\n# plugin = ",
        1,
    );
    assert!(
        from_file.contains("/dev/zero"),
        "the policy has a [trigger] plugin line"
    );
    let (status, body) = put_as_tenant(&s, &token, &from_file);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "trigger.path", "{body}");
    // A credential written into the policy itself would be served back by GET.
    let (status, body) = put_as_tenant(&s, &token, &hvac_policy(""));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "webhooks.signing_secret", "{body}");
    // Empty secrets would accept requests that carry none.
    let empty = submitted_policy("").replace("vapi_secret = \"secret:vapi\"", "vapi_secret = \"\"");
    let (status, body) = put_as_tenant(&s, &token, &empty);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "webhooks.vapi_secret", "{body}");

    // Nothing changed, and the tenant's own legitimate edit still goes through.
    assert_eq!(live_policy(&s), before);
    let (status, body) = put_as_tenant(&s, &token, &submitted_policy("# a legitimate edit\n"));
    assert_eq!(status, 200, "{body}");
    // The other tenant was served throughout: its signal opened a case with a callback.
    let (status, body) = s.signal(SAAS, "evt-red-1", &missed_call("+15125550177"));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], "opened", "{body}");
    let (_, case) = s.get(
        &format!("/v1/cases/{}", body["case"].as_str().unwrap()),
        ADMIN,
    );
    let case = &case["case"];
    assert!(
        case["first_dial_ms"].is_i64() || case["timer"]["kind"] == "next-attempt",
        "its callback was placed or scheduled: {case}"
    );
}

#[test]
fn extreme_signal_times_are_refused_naming_the_field_not_a_crash() {
    let s = Server::simulated();
    for at_ms in [i64::MAX, i64::MIN, -1, i64::MAX / 2] {
        let mut body = missed_call("+15125550178");
        body["at_ms"] = at_ms.into();
        let (status, answer) = s.signal(HVAC, &format!("evt-time-{at_ms}"), &body);
        assert_eq!(status, 400, "{at_ms}: {answer}");
        assert_eq!(answer["error"]["field"], "at_ms", "{answer}");
    }
    assert_eq!(
        s.signals_recorded(HVAC),
        0,
        "a refused signal records nothing"
    );
    let (status, answer) = s.signal(HVAC, "evt-time-ok", &missed_call("+15125550178"));
    assert_eq!(status, 202, "{answer}");
}

/// Sends only the head of a request that announces a large body, and returns the status
/// line the server answers with before any of the body is sent (`None`: it waited).
fn answer_before_body(s: &Server, head: &str) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let addr = s.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    (!line.is_empty()).then_some(line)
}

#[test]
fn an_unauthenticated_request_is_refused_before_its_body_is_read() {
    let s = Server::simulated();
    let heads = [
        format!(
            "PUT /v1/tenants/{HVAC}/plugins/trigger HTTP/1.1\r\nhost: x\r\n\
             content-type: application/wasm\r\ncontent-length: 16000000\r\n\r\n"
        ),
        format!(
            "PUT /v1/tenants/{HVAC}/policy HTTP/1.1\r\nhost: x\r\n\
             authorization: Bearer not-a-token\r\ncontent-length: 200000\r\n\r\n"
        ),
        format!(
            "POST /v1/tenants/{HVAC}/signals HTTP/1.1\r\nhost: x\r\n\
             content-type: application/json\r\ncontent-length: 200000\r\n\r\n"
        ),
        format!(
            "POST /v1/tenants/{HVAC}/vapi HTTP/1.1\r\nhost: x\r\n\
             content-type: application/json\r\nx-vapi-secret: wrong\r\ncontent-length: 200000\r\n\r\n"
        ),
    ];
    for head in heads {
        let status = answer_before_body(&s, &head);
        assert!(
            status.as_deref().is_some_and(|l| l.contains(" 401 ")),
            "{head:?} answered {status:?}"
        );
    }
}

#[test]
fn a_policy_that_does_not_load_stops_its_tenant_not_the_server() {
    let dir = tempfile::tempdir().unwrap();
    for (tenant, file) in [
        (HVAC, "lone-star-hvac.toml"),
        (SAAS, "northwind-software.toml"),
    ] {
        let text = with_webhooks(&redial_bench::all_day_window(&common::policy_text(file)));
        std::fs::write(dir.path().join(format!("{tenant}.toml")), text).unwrap();
    }
    // One file that does not parse, one whose plugin is a component the host never had.
    std::fs::write(dir.path().join("garbled.toml"), "tenant = \"garbled\"\n[[[").unwrap();
    let unknown_plugin = common::policy_text("northwind-software.toml")
        .replace("tenant = \"northwind-software\"", "tenant = \"ghost\"")
        .replacen(
            "[trigger]\nplugin = ",
            &format!("[trigger]\nsha256 = \"{}\"\n# plugin = ", "0".repeat(64)),
            1,
        );
    std::fs::write(dir.path().join("ghost.toml"), unknown_plugin).unwrap();
    let policies = dir.path().to_path_buf();
    let s = Server::simulated_with(move |app| app.policies_dir(policies));

    // The server started and says who is not served, and why (to the admin only).
    let (status, health) = s.send("GET", "/healthz", &[], None);
    assert_eq!(status, 200);
    assert_eq!(health, "degraded: not serving garbled, ghost");
    let (status, list) = s.get("/v1/tenants", ADMIN);
    assert_eq!(status, 200, "{list}");
    let serving: Vec<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(serving, [HVAC, SAAS]);
    let down = list["not_serving"].as_array().unwrap();
    assert_eq!(down.len(), 2, "{list}");
    assert!(
        down[1]["problem"].as_str().unwrap().contains("ghost"),
        "{list}"
    );

    // The others are served.
    let (status, body) = s.signal(HVAC, "evt-degraded-1", &missed_call("+15125550176"));
    assert_eq!(status, 202, "{body}");
    // The admin can remove a tenant that never loaded.
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = s.send(
        "DELETE",
        "/v1/tenants/garbled",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (_, health) = s.send("GET", "/healthz", &[], None);
    assert_eq!(health, "degraded: not serving ghost");
}

/// A server serving the HVAC tenant as the test server has it, plus, for each
/// `(tenant, extra)`, a copy of it under that id with `extra` TOML appended (its own
/// providers). The folder must outlive the server.
fn serve_tenants(
    tenants: &[(&str, String)],
    configure: impl FnOnce(redial_server::AppBuilder) -> redial_server::AppBuilder,
) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let hvac = hvac_policy("");
    std::fs::write(dir.path().join(format!("{HVAC}.toml")), &hvac).unwrap();
    for (tenant, extra) in tenants {
        let text = hvac.replace(
            &format!("tenant = \"{HVAC}\""),
            &format!("tenant = \"{tenant}\""),
        );
        assert_ne!(text, hvac, "the policy names its tenant");
        std::fs::write(
            dir.path().join(format!("{tenant}.toml")),
            format!("{text}{extra}"),
        )
        .unwrap();
    }
    let policies = dir.path().to_path_buf();
    let s = Server::start_with(|app| configure(app.policies_dir(policies)), "");
    (s, dir)
}

/// Opens a case for `tenant` with a signed missed call; returns its id.
fn open_case(s: &Server, tenant: &str, event: &str, caller: &str) -> String {
    let (status, body) = s.signal(tenant, event, &missed_call(caller));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], "opened", "{body}");
    body["case"].as_str().unwrap().to_string()
}

fn has_attempt(case: &Value) -> bool {
    case["case"]["attempts"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

#[test]
fn a_tenant_whose_provider_hangs_holds_only_its_own_share_of_the_delivery_lanes() {
    let stub = ProviderStub::start(Mode::Hang);
    // Two lanes per tenant; the hung provider would hold a request for two minutes.
    let (s, _dir) = serve_tenants(&[("stalled", vapi_voice(&stub.base))], |app| {
        app.lanes(2).provider_timeout(Duration::from_secs(120))
    });
    for n in 0..6 {
        open_case(
            &s,
            "stalled",
            &format!("evt-stall-{n}"),
            &format!("+1512555{n:04}"),
        );
    }
    assert_eq!(
        stub.wait_for_requests(2),
        2,
        "its share of dials is in flight"
    );
    // Every other tenant's callbacks go out meanwhile, each placed and answered.
    for n in 0..4 {
        let case = open_case(
            &s,
            HVAC,
            &format!("evt-calm-{n}"),
            &format!("+1737555{n:04}"),
        );
        let seen = s.wait_for(&case, has_attempt);
        assert!(
            has_attempt(&seen),
            "{case} was not called while a neighbour's provider hung: {seen}"
        );
    }
    assert_eq!(
        stub.requests(),
        2,
        "the stalled tenant never held more than its share"
    );
}

/// The tenant's dead letters, as `token` sees them.
fn dead_letters(s: &Server, tenant: &str, token: &str) -> Vec<Value> {
    let (status, body) = s.get(&format!("/v1/tenants/{tenant}/dead-letters"), token);
    assert_eq!(status, 200, "{body}");
    body["dead_letters"].as_array().unwrap().clone()
}

/// Waits (bounded) for a dead letter of `case`.
fn wait_for_dead_letter(s: &Server, tenant: &str, token: &str, case: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = dead_letters(s, tenant, token)
            .into_iter()
            .find(|d| d["case"] == case);
        if let Some(dead) = found {
            return dead;
        }
        assert!(Instant::now() < deadline, "no dead letter for {case}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn journal_has(s: &Server, case: &str, wanted: impl Fn(&Value) -> bool) -> bool {
    let (_, detail) = s.get(&format!("/v1/cases/{case}"), ADMIN);
    detail["journal"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| wanted(&e["event"]))
}

#[test]
fn a_delivery_that_keeps_failing_becomes_a_dead_letter_its_tenant_can_retry_or_discard() {
    let stub = ProviderStub::start(Mode::Fail);
    let (s, _dir) = serve_tenants(&[("broken", vapi_voice(&stub.base))], |app| {
        app.dead_after(2)
    });
    let token = s.token_for("broken");
    let first = open_case(&s, "broken", "evt-dead-1", "+15125550301");
    let dead = wait_for_dead_letter(&s, "broken", &token, &first);
    assert_eq!(dead["effect"], "dial", "{dead}");
    assert_eq!(dead["failures"], 2, "{dead}");
    assert!(
        dead["error"].as_str().unwrap().contains("HTTP 500"),
        "{dead}"
    );
    assert!(
        journal_has(&s, &first, |e| e["event"] == "guard"
            && e["rule"] == "dead-letter"),
        "the case's journal says so"
    );
    let tries = stub.requests();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        stub.requests(),
        tries,
        "a dead letter is not retried by the host"
    );
    let auth = format!("Bearer {ADMIN}");
    let (_, metrics) = s.send("GET", "/metrics", &[("authorization", &auth)], None);
    assert!(
        metrics.contains("redial_dead_letters{tenant=\"broken\"} 1"),
        "{metrics}"
    );

    // Another tenant can neither see nor touch them.
    let other = s.token_for(HVAC);
    let id = dead["id"].as_u64().unwrap();
    let (status, _) = s.get("/v1/tenants/broken/dead-letters", &other);
    assert_eq!(status, 403);
    let path = format!("/v1/tenants/broken/dead-letters/{id}");
    let other_auth = format!("Bearer {other}");
    let (status, _) = s.send("DELETE", &path, &[("authorization", &other_auth)], None);
    assert_eq!(status, 403);

    // Discarded: the attempt counts as failed and the case moves on.
    let tenant_auth = format!("Bearer {token}");
    let (status, body) = s.send("DELETE", &path, &[("authorization", &tenant_auth)], None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = s.send("DELETE", &path, &[("authorization", &tenant_auth)], None);
    assert_eq!(status, 404, "discarded once");
    let (_, case) = s.get(&format!("/v1/cases/{first}"), &token);
    assert_eq!(
        case["case"]["attempts"][0]["outcome"]["kind"], "failed",
        "{case}"
    );

    // Retried once the provider works again: delivered under its own key.
    let second = open_case(&s, "broken", "evt-dead-2", "+15125550302");
    let dead = wait_for_dead_letter(&s, "broken", &token, &second);
    stub.set(Mode::PlaceCall);
    let retry = format!("/v1/tenants/broken/dead-letters/{}/retry", dead["id"]);
    let (status, body) = s.send("POST", &retry, &[("authorization", &tenant_auth)], None);
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    // A dial Vapi took is journalled as placed, with the call's id.
    while !journal_has(&s, &second, |e| {
        e["event"] == "call-placed" && e["provider_id"] == "call-stub"
    }) {
        assert!(
            Instant::now() < deadline,
            "the retried dial was not delivered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        dead_letters(&s, "broken", &token)
            .iter()
            .all(|d| d["case"] != second)
    );
}

/// Posts a Vapi status update signed with `secret`; returns the status.
fn vapi_with(s: &Server, secret: &str) -> u16 {
    let body =
        serde_json::json!({ "message": { "type": "status-update", "status": "in-progress" } });
    let (status, _) = s.send(
        "POST",
        &format!("/v1/tenants/{HVAC}/vapi"),
        &[
            ("content-type", "application/json"),
            ("x-vapi-secret", secret),
        ],
        Some(&serde_json::to_vec(&body).unwrap()),
    );
    status
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[test]
fn a_tenants_secrets_are_write_only_sealed_at_rest_and_rotate_live() {
    let s = Server::simulated();
    let token = s.token_for(HVAC);
    // The operator's file holds its webhook secrets literally: never served back.
    let (_, policy) = s.send(
        "GET",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    assert!(
        !policy.contains(VAPI_SECRET) && !policy.contains(SECRET),
        "{policy}"
    );
    assert!(policy.contains("<redacted>"), "{policy}");

    const FIRST: &str = "vapi-inbound-first-7f3a9c";
    const SECOND: &str = "vapi-inbound-second-2b8e41";
    s.set_webhook_secrets(HVAC, &token);
    assert_eq!(s.set_secret(HVAC, &token, "vapi", FIRST), 200, "replaced");
    let (status, body) = put_as_tenant(&s, &token, &submitted_policy(""));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        vapi_with(&s, FIRST),
        200,
        "the policy uses the secret's value"
    );
    assert_eq!(vapi_with(&s, VAPI_SECRET), 401);

    // Rotated: the live policy uses the new value at once.
    assert_eq!(s.set_secret(HVAC, &token, "vapi", SECOND), 200);
    assert_eq!(vapi_with(&s, SECOND), 200);
    assert_eq!(vapi_with(&s, FIRST), 401, "the old value no longer works");

    // Names and dates come back; values never do, from any route.
    let (status, list) = s.get(&format!("/v1/tenants/{HVAC}/secrets"), &token);
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["signing", "twilio", "vapi"]);
    assert_eq!(list["secrets"][2]["in_use"], true);
    let (_, policy) = s.send(
        "GET",
        &format!("/v1/tenants/{HVAC}/policy"),
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    for text in [list.to_string(), policy] {
        assert!(!text.contains(SECOND) && !text.contains(FIRST), "{text}");
    }
    // Sealed at rest: no file of the server's holds the value in clear.
    for (path, bytes) in files_under(s._dir.path()) {
        let found = bytes.windows(SECOND.len()).any(|w| w == SECOND.as_bytes());
        assert!(!found, "{} holds the secret in clear", path.display());
    }

    // What cannot be done: delete one in use, read or set another tenant's, name the
    // environment, or set an empty one.
    let auth = format!("Bearer {token}");
    let (status, body) = s.send(
        "DELETE",
        &format!("/v1/tenants/{HVAC}/secrets/vapi"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status, 409, "{body}");
    let (status, _) = s.get(&format!("/v1/tenants/{SAAS}/secrets"), &token);
    assert_eq!(status, 403);
    assert_eq!(s.set_secret(SAAS, &token, "vapi", "x"), 403);
    assert_eq!(
        s.set_secret(HVAC, &token, "leak", "env:REDIAL_ADMIN_TOKEN"),
        422
    );
    assert_eq!(s.set_secret(HVAC, &token, "blank", "   "), 422);
    assert_eq!(s.set_secret(HVAC, &token, "bad.name", "x"), 422);
    // A policy naming a secret the tenant never set is refused; the live one stays.
    let missing = submitted_policy("").replace("secret:twilio", "secret:never-set");
    let (status, body) = put_as_tenant(&s, &token, &missing);
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"], "webhooks.twilio_auth_token",
        "{body}"
    );
    assert_eq!(vapi_with(&s, SECOND), 200);
    // One no longer used can go.
    assert_eq!(s.set_secret(HVAC, &token, "spare", "spare-value"), 201);
    let (status, _) = s.send(
        "DELETE",
        &format!("/v1/tenants/{HVAC}/secrets/spare"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn uploading_a_failing_plugin_again_does_not_reset_its_circuit_breaker() {
    let s = Server::simulated();
    let token = s.token_for(HVAC);
    let auth = format!("Bearer {token}");
    let trap = std::fs::read(redial_builtin::path("test-trap")).unwrap();
    let upload = || {
        let (status, body) = s.send(
            "PUT",
            &format!("/v1/tenants/{HVAC}/plugins/cadence"),
            &[
                ("authorization", &auth),
                ("content-type", "application/wasm"),
            ],
            Some(&trap),
        );
        assert_eq!(status, 200, "{body}");
    };
    // How the cadence failed for the n-th caller's signal (it plans the first call).
    let failure = |n: usize| {
        let caller = format!("+1512555{n:04}");
        let (status, body) = s.signal(HVAC, &format!("evt-trap-{n}"), &missed_call(&caller));
        assert_eq!(status, 202, "{body}");
        let case = body["case"].as_str().unwrap();
        let journal = s.engine.store().journal(case).unwrap();
        let kinds: Vec<String> = journal
            .iter()
            .filter_map(|e| e.event.plugin_failure_kind("cadence").map(str::to_string))
            .collect();
        kinds.join(",")
    };
    upload();
    let trips = redial_core::engine::breaker::TRIP_AFTER as usize;
    let first: Vec<String> = (0..=trips).map(failure).collect();
    let mut expected = vec!["trap".to_string(); trips];
    expected.push("suspended".into());
    assert_eq!(first, expected);
    // The same failing component again: one trial call, then suspended at once.
    upload();
    let after: Vec<String> = (10..12).map(failure).collect();
    assert_eq!(after, ["trap", "suspended"]);
}

#[test]
fn a_tenant_flooding_signals_is_refused_past_its_rate_and_the_others_are_not() {
    let rate = redial_server::SignalRate::per_second(std::num::NonZeroU32::new(5).unwrap());
    let s = Server::simulated_with(|app| app.signal_rate(Some(rate)));
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..40 {
        let body = serde_json::to_vec(&missed_call(&format!("+1512555{n:04}"))).unwrap();
        let id = format!("evt-flood-{n}");
        let (status, headers, text) =
            s.signal_exchange(HVAC, &id, &body, &body, "application/json");
        match status {
            202 => accepted += 1,
            429 => {
                refused += 1;
                let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=2).contains(&wait), "Retry-After {wait}");
                assert!(text.contains("rate-limited"), "{text}");
            }
            other => panic!("{other}: {text}"),
        }
    }
    assert!(refused > 0, "the flood was limited");
    assert!(accepted >= 10, "the burst was taken: {accepted}");
    assert_eq!(
        s.signals_recorded(HVAC),
        accepted,
        "a refused signal records nothing"
    );
    // The other tenant is not limited by its neighbour's flood.
    let (status, body) = s.signal(SAAS, "evt-calm-1", &missed_call("+15125550999"));
    assert_eq!(status, 202, "{body}");
}

#[test]
fn parallel_uploads_wait_on_their_own_tenant_and_the_others_signals_are_served() {
    let s = std::sync::Arc::new(Server::simulated());
    let token = s.token_for(HVAC);
    let trigger = std::fs::read(redial_builtin::path("standard-trigger")).unwrap();
    let uploads: Vec<_> = (0..6u8)
        .map(|n| {
            let (s, token) = (s.clone(), token.clone());
            // A custom section makes each a new component, compiled anew.
            let mut wasm = trigger.clone();
            wasm.extend_from_slice(&[0, 7, 5, b'n', b'o', b'n', b'c', b'e', n][..]);
            std::thread::spawn(move || {
                let auth = format!("Bearer {token}");
                let (status, body) = s.send(
                    "PUT",
                    &format!("/v1/tenants/{HVAC}/plugins/trigger"),
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/wasm"),
                    ],
                    Some(&wasm),
                );
                assert!(status == 200 || status == 429, "{status}: {body}");
                status
            })
        })
        .collect();
    for n in 0..20 {
        let (status, body) = s.signal(
            SAAS,
            &format!("evt-beside-{n}"),
            &missed_call(&format!("+1737555{n:04}")),
        );
        assert_eq!(status, 202, "{body}");
    }
    let statuses: Vec<u16> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "one upload of a tenant at a time: {statuses:?}"
    );
}

#[test]
fn silent_connections_cannot_hold_the_server_past_its_connection_cap() {
    use std::io::{Read, Write};
    let s = Server::simulated_with(|app| app.max_connections(4));
    let addr = s.base.trim_start_matches("http://").to_string();
    // Four connections that never send a request take every place.
    let mut silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut next = std::net::TcpStream::connect(&addr).unwrap();
    next.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    next.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut answer = String::new();
    assert!(
        next.read_to_string(&mut answer).is_err() && answer.is_empty(),
        "the fifth connection waits while four hold their places: {answer:?}"
    );
    // The server closes them once their time to send a request head is up; then the
    // waiting one is served.
    next.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    next.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for conn in &mut silent {
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let closed = conn.read_to_end(&mut rest).is_ok();
        assert!(closed, "a silent connection was closed by the server");
    }
}
