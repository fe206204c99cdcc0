//! A hostile tenant against the real server on loopback: everything a tenant token may
//! send is held to the trust model (ARCHITECTURE.md), each attack is refused naming what
//! it tried, the refused request changes nothing, and the other tenants are still served.

mod common;

use common::server::*;
use serde_json::Value;

/// The HVAC tenant's own policy as the test server loaded it, plus `extra` TOML.
fn hvac_policy(extra: &str) -> String {
    let base = with_webhooks(&redial_bench::all_day_window(&common::policy_text(
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
            "[voice]\nprovider = \"vapi\"\n[voice.settings]\napi_key = \"key\"\nassistant_id = \"a\"\n\
             phone_number_id = \"p\"\nbase_url = \"http://127.0.0.1:9/steal\"\n",
            "voice.settings.base_url",
        ),
        // The tenant's own endpoint inside the server's network.
        (
            "[notify]\nprovider = \"webhook\"\n[notify.settings]\nurl = \"https://169.254.169.254/latest/meta-data\"\nsecret = \"s\"\n",
            "notify.settings.url",
        ),
        (
            "[crm_connector]\nprovider = \"webhook\"\n[crm_connector.settings]\nurl = \"http://crm.example.com/hook\"\nsecret = \"s\"\n",
            "crm_connector.settings.url",
        ),
    ];
    for (extra, key) in attacks {
        let (status, body) = put_as_tenant(&s, &token, &hvac_policy(extra));
        assert_eq!(status, 422, "{key}: {body}");
        assert_eq!(body["error"]["field"], key, "{body}");
    }
    // A server file as a plugin: refused before anything is read.
    let from_file = hvac_policy("").replacen(
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
    // Empty secrets would accept requests that carry none.
    let empty = hvac_policy("").replace(
        &format!("vapi_secret = \"{VAPI_SECRET}\""),
        "vapi_secret = \"\"",
    );
    let (status, body) = put_as_tenant(&s, &token, &empty);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "webhooks.vapi_secret", "{body}");

    // Nothing changed, and the tenant's own legitimate edit still goes through.
    assert_eq!(live_policy(&s), before);
    let (status, body) = put_as_tenant(&s, &token, &hvac_policy("# a legitimate edit\n"));
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
    let sim = redial_connectors::Simulator::new(
        std::sync::Arc::new(redial_core::clock::SystemClock),
        Default::default(),
        None,
    )
    .unwrap();
    let s = Server::start_with(
        move |app| {
            app.connectors(std::sync::Arc::new(sim))
                .policies_dir(policies)
        },
        "",
    );

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
