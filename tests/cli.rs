//! The `redial` commands, run as a user would run them.

mod common;

use common::example;
use std::process::{Command, Output};

fn redial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redial"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plugin_check_prints_slot_version_size_and_compile_time() {
    let out = redial(&["plugin", "check", "bant-qualify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "slot     qualify",
        "wit      redial:policy@0.2.0",
        "size     ",
        "compile  ",
        "ok",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn plugin_check_refuses_a_component_for_a_slot_it_does_not_fill() {
    let out = redial(&["plugin", "check", "standard-cadence", "--slot", "trigger"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("standard-cadence@") && err.contains("trigger slot"),
        "{err}"
    );
}

#[test]
fn plugin_run_prints_the_decision_and_its_cost_as_json() {
    let input = example("cadence.json");
    let config = example("standard-cadence.toml");
    let out = redial(&[
        "plugin",
        "run",
        "standard-cadence",
        "--slot",
        "cadence",
        "--input",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["slot"], "cadence");
    assert_eq!(json["decision"], serde_json::json!({"call-after": 120}));
    assert!(json["cost"]["instantiate_us"].as_f64().unwrap() > 0.0);
    assert!(json["cost"]["teardown_us"].as_f64().unwrap() > 0.0);
}

#[test]
fn plugin_run_names_the_bad_field_of_a_malformed_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"signal": {"kind": "smoke-signal"}}"#).unwrap();
    let out = redial(&[
        "plugin",
        "run",
        "standard-trigger",
        "--slot",
        "trigger",
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("smoke-signal"), "{}", stderr(&out));
}

#[test]
fn plugin_run_reports_a_runaway_plugin_without_hanging() {
    let input = example("trigger.json");
    let out = redial(&[
        "plugin",
        "run",
        "test-loop-forever",
        "--slot",
        "trigger",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("deadline"), "{}", stderr(&out));
}

#[test]
fn plugin_test_passes_the_example_cases_and_fails_a_wrong_expectation_by_its_field() {
    for (plugin, cases) in [
        ("standard-trigger", "cases/standard-trigger"),
        ("bant-qualify", "cases/bant-qualify"),
    ] {
        let cases = example(cases);
        let out = redial(&["plugin", "test", plugin, cases.to_str().unwrap()]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("0 failed"), "{}", stdout(&out));
    }

    // A case whose expectation is wrong, one that does not parse, and one for another
    // slot's call, beside one that passes.
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(example("cases/standard-trigger/blocked-number.json"));
    let good: serde_json::Value = serde_json::from_str(&good.unwrap()).unwrap();
    let mut wrong = good.clone();
    wrong["name"] = "expects the wrong reason".into();
    wrong["expect"] = serde_json::json!({ "ignore": "some other reason" });
    let mut other_slot = good.clone();
    other_slot["call"] = "evaluate".into();
    let mut bad_input = good.clone();
    bad_input["input"]["signal"]["kind"] = "carrier-pigeon".into();
    for (file, case) in [
        ("a-good.json", good),
        ("b-wrong.json", wrong),
        ("c-other-slot.json", other_slot),
        ("d-bad-input.json", bad_input),
    ] {
        std::fs::write(dir.path().join(file), case.to_string()).unwrap();
    }
    std::fs::write(
        dir.path().join("e-not-a-case.json"),
        r#"{"input": {}, "expected": 1}"#,
    )
    .unwrap();
    let cases = dir.path().to_str().unwrap();
    let out = redial(&["plugin", "test", "standard-trigger", cases]);
    assert!(!out.status.success(), "a failing case fails the run");
    let text = stdout(&out);
    for expected in [
        "PASS ",
        "FAIL   expects the wrong reason",
        "/ignore: expected \"some other reason\", got \"caller is on the blocked list\"",
        "`call`: Evaluate is a qualify call, and this plugin fills the trigger slot",
        "`input.signal.kind`: unknown variant `carrier-pigeon`",
        "e-not-a-case.json: `expected`: unknown field",
        "5 cases: 1 passed, 4 failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        stderr(&out).contains("4 of 5 cases failed"),
        "{}",
        stderr(&out)
    );

    // The same run as JSON, for CI.
    let out = redial(&["plugin", "test", "standard-trigger", cases, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(report["cases"][1]["verdict"], "fail");
    assert!(report["cases"][0]["time_us"].as_u64().unwrap() > 0);
}

#[test]
fn policy_check_prints_the_pilot_sheet_of_every_example_tenant() {
    for file in [
        "bright-smile-dental.toml",
        "lone-star-hvac.toml",
        "northwind-software.toml",
    ] {
        let path = common::policy_file(file);
        let out = redial(&["policy", "check", path.to_str().unwrap()]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let text = stdout(&out);
        for n in 1..=6 {
            assert!(
                text.contains(&format!("\n{n}. ")),
                "{file}: decision {n} missing:\n{text}"
            );
        }
        assert!(text.contains("policy ok"));
    }
}

#[test]
fn policy_check_names_the_bad_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = common::policy_text("lone-star-hvac.toml")
        .replace("sla_minutes = 20", "sla_minutes = 20\nsla_minuets = 5");
    std::fs::write(&bad, text).unwrap();
    let out = redial(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("sla_minuets") && err.contains("line"), "{err}");
}

#[test]
fn policy_check_refuses_a_policy_whose_plugin_fills_another_slot() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = common::policy_text("lone-star-hvac.toml").replace(
        "[crm]\nplugin = \"hubspot-crm\"",
        "[crm]\nplugin = \"standard-trigger\"",
    );
    std::fs::write(&bad, text).unwrap();
    let out = redial(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("crm slot"), "{}", stderr(&out));
}

#[test]
fn demo_runs_the_loop_for_every_tenant_and_prints_funnels() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo");
    let policies = common::policy_file("");
    let out = redial(&[
        "demo",
        "--store",
        store.to_str().unwrap(),
        "--policies",
        policies.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "=== Funnels ===",
        "Bright Smile Dental",
        "Lone Star Heating & Air",
        "Northwind Software",
        "caller is on the do-not-call list",
        "joined the open case",
        "host guard calling-window",
        "caller opted out",
        "SLA breached",
        "fallback SMS",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn bench_signal_to_dial_prints_its_figures_against_the_floor() {
    let out = redial(&[
        "bench",
        "signal-to-dial",
        "--seconds",
        "0.5",
        "--clients",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "floor (bare axum endpoint)",
        "signals:",
        "0 failed",
        "signal-to-dial",
        "plugin decisions during the load",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Each signal's step asked the trigger, the cadence and the script once.
    let decisions = text
        .lines()
        .find(|l| l.contains("plugin decisions during the load"))
        .unwrap();
    for slot in ["trigger", "cadence", "qualify"] {
        assert!(decisions.contains(&format!("{slot} ")), "{decisions}");
    }
}

#[test]
fn bench_neighbours_measures_tenants_beside_bad_plugins_and_bad_providers() {
    let out = redial(&[
        "bench",
        "neighbours",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--quiet-clients",
        "1",
        "--noisy-clients",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "neighbour idle",
        "(baseline)",
        "trigger loops",
        " deadline",
        "cadence traps",
        " trap",
        "suspended",
        "quiet run",
        "noisy run",
        "refused with 429",
        "target (noisy p99",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        !text.contains(" 0 requests"),
        "every phase measured: {text}"
    );
    assert_eq!(
        text.matches(", 0 failed, ").count(),
        4,
        "the quiet tenant lost no request: {text}"
    );
    assert_eq!(
        text.matches(", 0 failed or undialed").count(),
        2,
        "every well-behaved signal was dialed, quiet and noisy: {text}"
    );
}

#[test]
fn bench_swap_and_tenants_print_their_figures() {
    let out = redial(&["bench", "swap", "--rounds", "1", "--clients", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("swap-to-live"), "{text}");
    assert!(text.contains(", 0 failed"), "{text}");
    let out = redial(&["bench", "tenants", "--count", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "cold cache",
        "warm cache",
        "plugins from cache: true",
        "with 30 tenants",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn bench_soak_prints_sizes_that_stop_growing_once_retention_purges() {
    let out = redial(&[
        "bench",
        "soak",
        "--days",
        "30",
        "--tenants",
        "3",
        "--per-day",
        "4",
        "--keep-days",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = |day: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {day} |")))
            .unwrap_or_else(|| panic!("no day {day} row in:\n{text}"));
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let day30 = row("30");
    let (kept, counted): (u64, u64) = (day30[5].parse().unwrap(), day30[6].parse().unwrap());
    assert!(
        kept < counted,
        "past keep_days cases are purged yet still counted: {text}"
    );
    assert!(text.contains("on disk at day 30"), "{text}");
}

#[test]
fn bench_plugin_prints_a_components_decision_cost_beside_its_slots_rust_plugin() {
    let eager = redial_builtin::path("test-eager-trigger");
    let out = redial(&["bench", "plugin", eager.to_str().unwrap(), "--calls", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "20 warm decisions each on the trigger slot",
        "| standard-trigger@",
        "| test-eager-trigger@",
        "µs |",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn replay_on_the_demos_data_shows_what_a_candidate_changes_and_what_retention_did_not_keep() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("demo");
    let out = redial(&["demo", "--quiet", "--store", store.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replay = |tenant: &str, slot: &str, candidate: &str| {
        let path = redial_builtin::path(candidate);
        let out = redial(&[
            "replay",
            "--data",
            store.to_str().unwrap(),
            "--policies",
            example("../../policies").to_str().unwrap(),
            "--tenant",
            tenant,
            "--slot",
            slot,
            "--candidate",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // The dental clinic's after-hours caller was recovered at 40; the eager trigger's 99
    // moves the priority band.
    let eager = replay("bright-smile-dental", "trigger", "test-eager-trigger");
    assert!(
        eager.contains("4 cases, 4 decisions replayed, 1 changed"),
        "{eager}"
    );
    assert!(eager.contains("changed fields: priority-band 1"), "{eager}");
    // The live qualify plugin changes nothing; under the clinic's `summary` retention the
    // answers were never kept, so its evaluations are not replayed.
    let same = replay("lone-star-hvac", "qualify", "bant-qualify");
    assert!(same.contains("0 changed, 0 failed, 0 not kept"), "{same}");
    let summary = replay("bright-smile-dental", "qualify", "bant-qualify");
    assert!(
        summary.contains("0 changed") && !summary.contains(" 0 not kept"),
        "{summary}"
    );
}
