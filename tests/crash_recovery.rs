//! Crash safety: `redial demo` is killed with SIGKILL at random points, again and again,
//! and restarted with `--resume` until it finishes. The result must match an undisturbed
//! run exactly: no case lost, no callback placed twice, no CRM operation lost or doubled.
//! `redial serve` is also killed in the middle of plugin uploads (hot swaps): after each
//! restart the slot serves either the old or the new plugin, never a broken record.

mod common;

use rand::Rng;
use redial::connectors::{LedgerEntry, Simulator};
use redial::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many kills the loop test inflicts (each on a live process).
const KILLS: u32 = 200;
/// How many uploads the swap test kills.
const SWAP_KILLS: u32 = 20;

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
    let (mut lost_cases, mut duplicate_dials, mut duplicate_crm, mut duplicate_other) =
        (0, 0, 0, 0);
    while kills < KILLS {
        rounds += 1;
        let crashed: PathBuf = dir.path().join(format!("crashed-{rounds}"));
        let mut resume = false;
        loop {
            let mut child = demo(&crashed, resume).spawn().unwrap();
            resume = true;
            runs += 1;
            let delay =
                Duration::from_secs_f64(clean_run.as_secs_f64() * rng.random_range(0.05..0.4));
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
        let got = outcome(&crashed);
        lost_cases += expected.keys().filter(|id| !got.contains_key(*id)).count();
        let crash = ledger(&crashed);
        let firsts = crash.iter().filter(|e| !e.duplicate);
        let mut keys = BTreeSet::new();
        for e in firsts {
            if !keys.insert(e.key.clone()) {
                match e.effect.as_str() {
                    "dial" => duplicate_dials += 1,
                    "crm" => duplicate_crm += 1,
                    _ => duplicate_other += 1,
                }
            }
        }
        assert_eq!(
            got, expected,
            "round {rounds}: every case ends as in the undisturbed run"
        );
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
        "crash test: {kills} SIGKILLs survived over {runs} runs in {rounds} rounds; {lost_cases} lost cases, {duplicate_dials} duplicate dials, {duplicate_crm} duplicate CRM operations, {duplicate_other} other duplicate effects"
    );
    assert_eq!(
        (lost_cases, duplicate_dials, duplicate_crm, duplicate_other),
        (0, 0, 0, 0)
    );
    println!("crash test: {redeliveries} redeliveries absorbed by idempotency keys");
}

/// `redial serve` on a free loopback port; returns the child and its base URL.
fn serve(store: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_redial"))
        .args(["serve", "--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .arg("--policies")
        .arg(common::policy_file(""))
        .env("REDIAL_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.contains("http://")))
        .expect("serve prints its address");
    let url = line[line.find("http://").unwrap()..].trim().to_string();
    (child, url)
}

const ADMIN: &str = "crash-test-admin";

fn live_trigger(agent: &ureq::Agent, url: &str) -> String {
    let mut resp = agent
        .get(format!("{url}/v1/tenants/lone-star-hvac/plugins"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .call()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    v["slots"]["trigger"]["live"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_server_killed_during_plugin_uploads_restarts_with_the_old_or_the_new_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("serve");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = std::fs::read(redial::builtin::path("standard-trigger")).unwrap();
    let mut rng = rand::rng();
    let (mut kills, mut old_live, mut new_live) = (0, 0, 0);
    let (mut server, mut url) = serve(&store);
    let mut live = live_trigger(&agent, &url);
    let mut round = 0;
    while kills < SWAP_KILLS {
        round += 1;
        // A new component each time (so every upload compiles and writes a file).
        let component = redial::bench::with_custom_section(&base, &format!("crash-{round}"), 64);
        let hash = redial::runtime::content_hash(&component);
        let upload = {
            let (agent, url, component) = (agent.clone(), url.clone(), component.clone());
            std::thread::spawn(move || {
                agent
                    .put(format!("{url}/v1/tenants/lone-star-hvac/plugins/trigger"))
                    .header("authorization", format!("Bearer {ADMIN}"))
                    .header("content-type", "application/wasm")
                    .send(&component[..])
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        server.kill().unwrap(); // SIGKILL, wherever the upload is
        server.wait().unwrap();
        let answered = upload.join().unwrap();
        kills += 1;
        (server, url) = serve(&store);
        let now = live_trigger(&agent, &url);
        if answered == 200 {
            assert_eq!(now, hash, "an acknowledged upload survives the crash");
        }
        assert!(
            now == hash || now == live,
            "round {round}: live plugin is the old ({live}) or the new ({hash}), not {now}"
        );
        if now == hash {
            new_live += 1;
        } else {
            old_live += 1;
        }
        live = now;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    println!(
        "swap crash test: {kills} SIGKILLs during uploads; after restart {new_live} had the new plugin live, {old_live} the old, 0 broken"
    );
}
