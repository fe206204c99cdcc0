//! Crash safety: `redial demo` is killed with SIGKILL at random points, again and again,
//! and restarted with `--resume` until it finishes. The result must match an undisturbed
//! run exactly: no case lost, no callback placed twice, no CRM operation lost or doubled.

mod common;

use rand::Rng;
use redial::connectors::{LedgerEntry, Simulator};
use redial::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many kills the test inflicts (each on a live process).
const KILLS: u32 = 40;

fn demo(store: &Path, resume: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redial"));
    cmd.args(["demo", "--quiet", "--store"])
        .arg(store)
        .arg("--policies")
        .arg(common::policy_file(""))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

/// Per case: final state, attempts, CRM operations, reason code.
fn outcome(store: &Path) -> BTreeMap<String, (String, usize, u32, Option<String>)> {
    let store = Store::open(&store.join("db")).unwrap();
    store
        .cases(None)
        .unwrap()
        .into_iter()
        .map(|c| {
            let code = c
                .disposition
                .as_ref()
                .map(|d| d.reason_code.name().to_string());
            (
                c.id.clone(),
                (
                    c.state.name().to_string(),
                    c.attempts.len(),
                    c.crm_operations,
                    code,
                ),
            )
        })
        .collect()
}

fn ledger(store: &Path) -> Vec<LedgerEntry> {
    Simulator::read_ledger(&store.join("simulator-ledger.jsonl"))
}

/// Keys of first deliveries, by effect kind.
fn first_deliveries(entries: &[LedgerEntry]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in entries.iter().filter(|e| !e.duplicate) {
        let fresh = out
            .entry(e.effect.clone())
            .or_default()
            .insert(e.key.clone());
        assert!(fresh, "{} delivered twice as new", e.key);
    }
    out
}

#[test]
fn the_loop_survives_repeated_sigkill_with_nothing_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let started = Instant::now();
    assert!(demo(&reference, false).status().unwrap().success());
    let clean_run = started.elapsed();

    // Rounds of kill-and-resume, each on a fresh store, until enough kills landed on a
    // live process. Every round must end exactly like the undisturbed run.
    let expected = outcome(&reference);
    let want = first_deliveries(&ledger(&reference));
    let mut rng = rand::rng();
    let (mut kills, mut runs, mut rounds, mut redeliveries) = (0, 0, 0, 0);
    while kills < KILLS {
        rounds += 1;
        let crashed: PathBuf = dir.path().join(format!("crashed-{rounds}"));
        let mut resume = false;
        loop {
            let mut child = demo(&crashed, resume).spawn().unwrap();
            resume = true;
            runs += 1;
            let delay =
                Duration::from_secs_f64(clean_run.as_secs_f64() * rng.random_range(0.02..0.9));
            std::thread::sleep(delay);
            match child.try_wait().unwrap() {
                Some(status) => {
                    assert!(status.success(), "a resumed run failed");
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                }
            }
        }
        assert_eq!(
            outcome(&crashed),
            expected,
            "round {rounds}: every case ends as in the undisturbed run"
        );
        let crash = ledger(&crashed);
        assert_eq!(
            first_deliveries(&crash),
            want,
            "round {rounds}: the same effects, each once"
        );
        redeliveries += crash.iter().filter(|e| e.duplicate).count();
    }
    assert!(expected.len() >= 12, "the demo has its cases");
    let got = &want;
    let dials: usize = expected.values().map(|(_, attempts, _, _)| attempts).sum();
    assert_eq!(
        got["dial"].len() + got.get("dial-opt-out").map_or(0, |s| s.len()),
        dials,
        "one placed call per attempt"
    );
    let crm: u32 = expected.values().map(|(_, _, ops, _)| ops).sum();
    assert_eq!(
        got["crm"].len(),
        crm as usize,
        "every CRM operation delivered once"
    );
    println!(
        "crash test: {kills} SIGKILLs survived over {runs} runs in {rounds} rounds; 0 lost cases, 0 duplicate dials, 0 lost or duplicate CRM operations"
    );
    println!("crash test: {redeliveries} redeliveries absorbed by idempotency keys");
}
