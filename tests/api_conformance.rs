//! The API document held to the real server on loopback: an OpenAPI conformance fuzzer
//! (schemathesis, every check) as the agency admin, the signed webhook routes' documented
//! examples, and a TypeScript client generated from the document, compiled and called.
//! The tools come from PyPI and npm on first use (`common::tools`).

mod common;

use common::server::*;
use common::tools;
use std::path::PathBuf;
use std::process::Command;

fn api_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/api")
}

#[test]
fn schemathesis_finds_the_server_true_to_its_document() {
    let bin = tools::python_with_schemathesis();
    let s = Server::simulated();
    // Cases for the linked case routes to find, and a scratch tenant for the deletes
    // (`schemathesis.toml` points `deleteTenant` at it).
    for (tenant, event) in [(HVAC, "evt-fuzz-1"), (SAAS, "evt-fuzz-2")] {
        let (status, body) = s.signal(tenant, event, &missed_call("+15125550188"));
        assert_eq!(status, 202, "{body}");
    }
    let scratch = common::policy_text("northwind-software.toml")
        .replace("tenant = \"northwind-software\"", "tenant = \"scratch\"");
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = s.send(
        "PUT",
        "/v1/tenants/scratch/policy",
        &[("authorization", &auth)],
        Some(scratch.as_bytes()),
    );
    assert_eq!(status, 201, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.ndjson");
    let out = Command::new(bin.join("st"))
        .arg("--config-file")
        .arg(api_dir().join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", s.base)])
        .args(["--checks", "all", "--workers", "1", "--max-examples", "40"])
        .args(["--seed", "20261207", "--no-color"])
        .args(["-H", &format!("Authorization: Bearer {ADMIN}")])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report)
        .env(
            "SCHEMATHESIS_HOOKS",
            api_dir().join("schemathesis_hooks.py"),
        )
        .current_dir(dir.path())
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated,") || l.starts_with("====") || l.contains("Tested:"))
        .collect();
    println!("{}", summary.join("\n"));
    assert!(
        out.status.success(),
        "schemathesis found the server and its document disagree:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation was exercised (all 35 but `GET /openapi.json`, the document itself,
    // and the backup route, which writes where it is told: see `schemathesis.toml`),
    // and none of the run's cases failed or errored.
    assert!(text.contains("Tested: 34"), "{text}");
    let cases = text
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or("");
    assert!(
        cases.contains("passed") && !cases.contains("failed") && !cases.contains("errored"),
        "{text}"
    );
}

#[test]
fn the_signed_webhook_examples_are_answered_as_documented() {
    let bin = tools::python_with_schemathesis();
    let s = Server::simulated();
    let out = tools::run(
        Command::new(bin.join("python"))
            .arg(api_dir().join("webhook_examples.py"))
            .args([&s.base, HVAC, SECRET, TWILIO_TOKEN, VAPI_SECRET]),
        "the webhook examples",
    );
    println!("{out}");
    assert!(out.contains("all answered as documented"), "{out}");
    // The examples did what they say: the signal opened a case and Vapi's report ended
    // its first attempt.
    let case = s.wait_for("lone-star-hvac-00001", |v| {
        v["case"]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(case["case"]["caller"], "+15125550196", "{case}");
}

#[test]
fn a_typescript_client_generated_from_the_document_compiles_and_calls() {
    let project = tools::npm_project(&api_dir().join("client"), "ts-client");
    let s = Server::simulated();
    let npx = |args: &[&str], what: &str| {
        tools::run(
            Command::new("npx")
                .args(["--no-install"])
                .args(args)
                .current_dir(&project),
            what,
        )
    };
    // `redial openapi` prints what the server serves; the client is generated from it, as
    // the README shows.
    let printed = tools::run(
        Command::new(env!("CARGO_BIN_EXE_redial")).arg("openapi"),
        "redial openapi",
    );
    let (status, served) = s.send("GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
    let printed_doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        printed_doc,
        serde_json::from_str::<serde_json::Value>(&served).unwrap()
    );
    std::fs::write(project.join("redial.json"), &printed).unwrap();
    npx(
        &["openapi-typescript", "redial.json", "-o", "schema.d.ts"],
        "openapi-typescript",
    );
    npx(
        &["tsc", "-p", "."],
        "compiling the client call (tsc --strict)",
    );
    let out = tools::run(
        Command::new("node")
            .arg("out/call.js")
            .env("REDIAL_URL", &s.base)
            .env("REDIAL_TOKEN", ADMIN)
            .current_dir(&project),
        "calling the server through the generated client",
    );
    let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["tenants"], serde_json::json!([HVAC, SAAS]), "{out}");
    assert_eq!(answer["signals"], 0, "{out}");

    // The types are real: code that misreads a body does not compile.
    std::fs::write(
        project.join("misuse.ts"),
        "import type { components } from \"./schema.js\";\n\
         declare const t: components[\"schemas\"][\"TenantSummary\"];\n\
         const n: number = t.timezone;\nconsole.log(n, t.colour);\n",
    )
    .unwrap();
    let misuse = Command::new("npx")
        .args(["--no-install", "tsc", "--noEmit", "--strict", "misuse.ts"])
        .current_dir(&project)
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&misuse.stdout);
    assert!(!misuse.status.success(), "misuse compiled");
    assert!(
        errors.contains("timezone") && errors.contains("colour"),
        "{errors}"
    );
}
