//! Policy parsing and checks.

use super::*;

pub(crate) const MINIMAL: &str = r#"
tenant = "acme"
name = "Acme"
timezone = "America/Chicago"
triggers = ["missed-call"]
[callback]
first_call_within_secs = 60
max_attempts = 3
fallback_line = "Sorry we missed you"
[disposition]
reason_codes = ["pricing-question"]
[handoff]
owners = ["sam@acme.example"]
sla_minutes = 30
escalate_to = "boss@acme.example"
[trigger]
plugin = "standard-trigger"
[cadence]
plugin = "standard-cadence"
[qualify]
plugin = "bant-qualify"
[crm]
plugin = "hubspot-crm"
"#;

#[test]
fn a_minimal_policy_gets_sane_defaults() {
    let p = Policy::parse(MINIMAL, "acme.toml").unwrap();
    assert_eq!(p.calling_window, CallingWindow::default());
    assert_eq!(p.retention.mode, RetentionMode::Full);
    assert_eq!(p.max_questions, 4);
    assert_eq!(p.on_plugin_failure, FailureDefault::HumanReview);
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let text = MINIMAL.replace("sla_minutes = 30", "sla_minutes = 30\nsla_minuets = 5");
    let err = Policy::parse(&text, "acme.toml").unwrap_err().to_string();
    assert!(err.contains("sla_minuets"), "{err}");
    assert!(err.contains("line 15"), "{err}");
}

#[test]
fn more_than_four_questions_is_refused() {
    let text = MINIMAL.replace("triggers =", "max_questions = 5\ntriggers =");
    let err = Policy::parse(&text, "acme.toml").unwrap_err().to_string();
    assert!(
        err.contains("max_questions") && err.contains("hard cap 4"),
        "{err}"
    );
}

#[test]
fn a_bad_time_zone_and_window_are_named() {
    let err = Policy::parse(&MINIMAL.replace("America/Chicago", "Mars/Olympus"), "x").unwrap_err();
    assert!(err.to_string().contains("`timezone`"), "{err}");
    let text = MINIMAL.replace(
        "triggers =",
        "calling_window = { start = \"21:00\", end = \"08:00\" }\ntriggers =",
    );
    let err = Policy::parse(&text, "x").unwrap_err();
    assert!(err.to_string().contains("`calling_window`"), "{err}");
}

#[test]
fn a_slot_needs_exactly_one_plugin_source() {
    let text = MINIMAL.replace(
        "plugin = \"hubspot-crm\"",
        "plugin = \"hubspot-crm\"\nsha256 = \"abc\"",
    );
    let err = Policy::parse(&text, "x").unwrap_err();
    assert!(err.to_string().contains("`crm`"), "{err}");
}

#[test]
fn the_pilot_sheet_states_all_six_decisions() {
    let sheet = pilot_sheet(&Policy::parse(MINIMAL, "x").unwrap());
    for needle in [
        "1. Triggers: missed call",
        "2. Callback: first call within 60 s, at most 3",
        "3. Fallback",
        "4. Questions: at most 4",
        "5. CRM",
        "6. Handoff: sam@acme.example",
    ] {
        assert!(sheet.contains(needle), "missing {needle:?} in\n{sheet}");
    }
}

#[test]
fn a_provider_base_address_with_a_query_is_refused_even_from_the_operator() {
    let voice = |base: &str| {
        format!(
            "{MINIMAL}[voice]\nprovider = \"vapi\"\n[voice.settings]\napi_key = \"k\"\n\
             assistant_id = \"a\"\nphone_number_id = \"p\"\nbase_url = \"{base}\"\n"
        )
    };
    for bad in [
        "https://api.example/v1?x=",
        "https://api.example/#",
        "ftp://api.example",
    ] {
        let err = Policy::parse(&voice(bad), "acme.toml").unwrap_err();
        assert_eq!(err.key(), Some("voice.settings.base_url"), "{bad}: {err}");
    }
    for good in [
        "https://api.example/v1",
        "http://127.0.0.1:9000",
        "env:VAPI_BASE",
    ] {
        Policy::parse(&voice(good), "acme.toml").unwrap();
    }
}

#[test]
fn a_voice_provider_is_one_the_host_speaks_with_every_setting_it_needs() {
    let voice = |provider: &str, settings: &str| {
        format!("{MINIMAL}[voice]\nprovider = \"{provider}\"\n[voice.settings]\n{settings}\n")
    };
    let retell = Policy::parse(&voice("retell", "api_key = \"k\"\nagent_id = \"a\""), "x");
    assert_eq!(retell.unwrap().voice.provider, Provider::Retell);
    let err = Policy::parse(&voice("retell", "api_key = \"k\""), "x").unwrap_err();
    assert_eq!(err.key(), Some("voice.settings.agent_id"), "{err}");
    let err = Policy::parse(&voice("twilio", "api_key = \"k\""), "x").unwrap_err();
    assert_eq!(err.key(), Some("voice.provider"), "{err}");
    assert!(err.to_string().contains("\"retell\""), "{err}");
    let err = Policy::parse(&voice("bland", ""), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("provider") && err.contains("bland"), "{err}");
}

#[test]
fn a_voicemail_message_is_said_from_its_attempt_on_and_bounded() {
    let voicemail = |table: &str| {
        MINIMAL.replace(
            "[disposition]",
            &format!("[callback.voicemail]\n{table}\n[disposition]"),
        )
    };
    let p = Policy::parse(&voicemail("message = \"Acme here\"\nfrom_attempt = 2"), "x").unwrap();
    assert_eq!(p.callback.voicemail_for(1), None);
    assert_eq!(p.callback.voicemail_for(3), Some("Acme here"));
    let every = Policy::parse(&voicemail("message = \"Acme here\""), "x").unwrap();
    assert_eq!(every.callback.voicemail_for(1), Some("Acme here"));
    for (table, key) in [
        ("message = \"  \"", "callback.voicemail.message"),
        (
            "message = \"hi\"\nfrom_attempt = 4",
            "callback.voicemail.from_attempt",
        ),
        (
            "message = \"hi\"\nfrom_attempt = 0",
            "callback.voicemail.from_attempt",
        ),
    ] {
        let err = Policy::parse(&voicemail(table), "x").unwrap_err();
        assert_eq!(err.key(), Some(key), "{table}: {err}");
    }
}
