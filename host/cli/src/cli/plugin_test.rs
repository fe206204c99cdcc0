//! `redial plugin test`: a plugin's decisions held to cases, each an input and the
//! decision expected of it. Prints a pass/fail table with each case's time (or JSON, for
//! CI) and fails when any case does.

use super::plugin::{Call, DecideError, decide};
use anyhow::{Context, Result, bail};
use clap::Args;
use redial_builtin as builtin;
use redial_runtime::{Plugin, PluginRuntime, RuntimeConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Arguments of `redial plugin test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Component file, or the name of a plugin built from `plugins/`.
    plugin: String,
    /// A folder of cases (every `*.json` in it, in name order), or one case file.
    cases: PathBuf,
    /// Print the results as JSON (for CI).
    #[arg(long)]
    json: bool,
}

/// One case file: an input for the plugin and what it should decide.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks (default: the file's name).
    #[serde(default)]
    name: Option<String>,
    /// Which function (default: the plugin's slot's; for qualify, `evaluate` when the
    /// input has answers, else `script`).
    #[serde(default)]
    call: Option<Call>,
    /// The function's input, as `redial plugin run` takes it (`plugins/examples/`).
    input: Value,
    /// The plugin's config table, in place of the input's (what a policy gives it).
    #[serde(default)]
    config: Option<Value>,
    /// The tenant's own reason codes, which `evaluate` may also return.
    #[serde(default)]
    reason_codes: Vec<String>,
    /// The decision expected: every field given must match what the plugin decided.
    expect: Value,
    /// Whether the decision must be exactly `expect`, with no other fields.
    #[serde(default)]
    exact: bool,
}

/// How one case went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    /// The decision matched.
    Pass,
    /// The plugin decided something else.
    Fail,
    /// The case could not be run (it does not parse, or the plugin failed the call).
    Error,
}

/// One case's result.
#[derive(Debug, Serialize)]
struct Outcome {
    case: String,
    file: String,
    verdict: Verdict,
    /// Instantiation, call and teardown.
    time_us: u64,
    /// Where the decision differs from the expected one (JSON pointers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mismatches: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Value>,
}

/// The whole run, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    plugin: String,
    slot: String,
    passed: usize,
    failed: usize,
    cases: Vec<Outcome>,
}

/// Runs every case; an error when any case did not pass.
pub fn run(args: TestArgs) -> Result<()> {
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let plugin = runtime.load_file(&builtin::resolve(&args.plugin), None)?;
    let files = case_files(&args.cases)?;
    if files.is_empty() {
        bail!("no case files (*.json) in {}", args.cases.display());
    }
    let cases: Vec<Outcome> = files.iter().map(|f| one(&runtime, &plugin, f)).collect();
    let passed = cases.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let report = Report {
        plugin: plugin.id.to_string(),
        slot: plugin.slot.to_string(),
        passed,
        failed: cases.len() - passed,
        cases,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if report.failed > 0 {
        bail!("{} of {} cases failed", report.failed, report.cases.len());
    }
    Ok(())
}

fn case_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs one case file.
fn one(runtime: &PluginRuntime, plugin: &Plugin, file: &Path) -> Outcome {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let mut outcome = Outcome {
        case: stem.to_string(),
        file: file.display().to_string(),
        verdict: Verdict::Error,
        time_us: 0,
        mismatches: Vec::new(),
        error: None,
        decision: None,
    };
    let case = match read_case(file) {
        Ok(case) => case,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    if let Some(name) = &case.name {
        outcome.case.clone_from(name);
    }
    let call = case
        .call
        .unwrap_or_else(|| Call::of(plugin.slot, &case.input, None));
    if call.slot() != plugin.slot {
        outcome.error = Some(format!(
            "`call`: {call:?} is a {} call, and this plugin fills the {} slot",
            call.slot(),
            plugin.slot
        ));
        return outcome;
    }
    let config = case.config.as_ref().map(Value::to_string);
    match decide(
        runtime,
        plugin,
        call,
        case.input,
        config,
        &case.reason_codes,
    ) {
        Ok((decision, cost)) => {
            outcome.time_us = cost.total().as_micros() as u64;
            differences(
                &case.expect,
                &decision,
                case.exact,
                "",
                &mut outcome.mismatches,
            );
            outcome.verdict = if outcome.mismatches.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            outcome.decision = Some(decision);
        }
        Err(DecideError::Input { source, .. }) => {
            outcome.error = Some(format!("`input.{}`: {}", source.path(), source.inner()));
        }
        Err(e) => outcome.error = Some(format!("the plugin failed: {e}")),
    }
    outcome
}

/// Reads a case file; the error names the field at fault.
fn read_case(file: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read it: {e}"))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| match e.path().to_string() {
        p if p == "." => e.inner().to_string(),
        p => format!("`{p}`: {}", e.inner()),
    })
}

/// Where `actual` differs from `expected`, as `pointer: why` lines. Objects match when
/// every expected field matches (and, if `exact`, no other field is there); lists match
/// item by item; numbers match by value (`75` is `75.0`).
fn differences(expected: &Value, actual: &Value, exact: bool, at: &str, out: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, w) in want {
                let path = format!("{at}/{key}");
                match got.get(key) {
                    Some(g) => differences(w, g, exact, &path, out),
                    None => out.push(format!("{path}: missing (expected {w})")),
                }
            }
            if exact {
                for (key, g) in got.iter().filter(|(k, _)| !want.contains_key(*k)) {
                    out.push(format!("{at}/{key}: not expected (got {g})"));
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                differences(w, g, exact, &format!("{at}/{i}"), out);
            }
        }
        (Value::Array(want), Value::Array(got)) => out.push(format!(
            "{here}: expected {} items, got {}: {actual}",
            want.len(),
            got.len()
        )),
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{here}: expected {w}, got {g}")),
    }
}

fn print_table(report: &Report) {
    println!("plugin {} ({} slot)", report.plugin, report.slot);
    let width = report.cases.iter().map(|c| c.case.len()).max().unwrap_or(0);
    for c in &report.cases {
        let verdict = match c.verdict {
            Verdict::Pass => "PASS ",
            Verdict::Fail => "FAIL ",
            Verdict::Error => "ERROR",
        };
        let time = if c.verdict == Verdict::Error {
            String::new()
        } else {
            format!("{:>8.2} ms", c.time_us as f64 / 1000.0)
        };
        println!("{verdict}  {:<width$}  {time}", c.case);
        for m in &c.mismatches {
            println!("       {m}");
        }
        if let Some(e) = &c.error {
            println!("       {}: {e}", c.file);
        }
    }
    println!(
        "{} cases: {} passed, {} failed",
        report.cases.len(),
        report.passed,
        report.failed
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diff(expected: Value, actual: Value, exact: bool) -> Vec<String> {
        let mut out = Vec::new();
        differences(&expected, &actual, exact, "", &mut out);
        out
    }

    #[test]
    fn a_subset_matches_and_each_difference_is_named_by_its_pointer() {
        let decided = json!({ "recover": { "priority": 75, "known": [{ "key": "name" }] } });
        assert!(
            diff(
                json!({ "recover": { "priority": 75.0 } }),
                decided.clone(),
                false
            )
            .is_empty()
        );
        assert_eq!(
            diff(
                json!({ "recover": { "priority": 90 } }),
                decided.clone(),
                false
            ),
            ["/recover/priority: expected 90, got 75"]
        );
        assert_eq!(
            diff(json!({ "ignore": "spam" }), decided.clone(), false),
            ["/ignore: missing (expected \"spam\")"]
        );
        assert_eq!(
            diff(json!({ "recover": { "priority": 75 } }), decided, true),
            ["/recover/known: not expected (got [{\"key\":\"name\"}])"]
        );
        assert_eq!(
            diff(json!({ "call-after": 60 }), json!("give-up"), false),
            ["/: expected {\"call-after\":60}, got \"give-up\""]
        );
    }
}
