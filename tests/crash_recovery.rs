//! Crash safety: `redial demo` is killed with SIGKILL at random points, again and again,
//! and restarted with `--resume` until it finishes. The result must match an undisturbed
//! run exactly: no case lost, no callback placed twice, no CRM operation lost or doubled.
//! `redial serve` is also killed in the middle of plugin uploads (hot swaps): after each
//! restart the slot serves either the old or the new plugin, never a broken record. And it
//! is killed while clients post signals and its delivery lanes dial: every acknowledged
//! signal keeps its case, a provider's retry of an unacknowledged one opens no second
//! case, and every placed attempt is dialed exactly once; that test runs on sled and on
//! PostgreSQL.

mod common;

use common::backend::{self, Backend};
use common::server::{Client, HVAC, missed_call};
use rand::Rng;
use redial_connectors::{LedgerEntry, Simulator};
use redial_core::store::Store;
use redial_server::StoreAt;
use redial_store_sled::SledStore;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many kills the loop test inflicts (each on a live process).
const KILLS: u32 = 200;
/// How many uploads the swap test kills.
const SWAP_KILLS: u32 = 20;
/// SIGKILLs of `redial serve` while clients post signals and the lanes deliver.
const LOAD_KILLS: u32 = 15;

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
    let store = SledStore::open(&store.join("db")).unwrap();
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

/// The per-state case counts the store keeps step by step agree with a count of the cases
/// themselves, for every tenant (they are written in the same transactions, so no crash
/// can make them drift).
fn assert_state_counts_agree(db: &dyn Store) {
    let mut counted: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for case in db.cases(None).unwrap() {
        *counted
            .entry(case.tenant.clone())
            .or_default()
            .entry(case.state.name().to_string())
            .or_default() += 1;
    }
    for (tenant, want) in counted {
        let kept: BTreeMap<String, u64> = db.case_states(&tenant).unwrap().into_iter().collect();
        assert_eq!(kept, want, "state counts of {tenant}");
    }
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
        assert_state_counts_agree(&SledStore::open(&crashed.join("db")).unwrap());
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

/// Steps the servers re-applied from their stores' write-ahead records when they started,
/// by store folder.
static RECOVERED_STEPS: std::sync::Mutex<BTreeMap<std::path::PathBuf, usize>> =
    std::sync::Mutex::new(BTreeMap::new());

fn recovered_steps(store: &Path) -> usize {
    RECOVERED_STEPS
        .lock()
        .unwrap()
        .get(store)
        .copied()
        .unwrap_or(0)
}

/// `redial serve` on a free loopback port; returns the child and a client for it.
fn serve(store: &Path) -> (std::process::Child, Client) {
    serve_policies(store, &common::policy_file(""))
}

/// `redial serve` with the policies in `policies`, with no signal rate limit: these tests
/// load one tenant as hard as they can and count what the store keeps.
fn serve_policies(store: &Path, policies: &Path) -> (std::process::Child, Client) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redial"));
    command.args(["serve", "--addr", "127.0.0.1:0"]);
    match backend::store_at(&store.join("db")) {
        StoreAt::Sled(_) => command.arg("--store").arg(store),
        StoreAt::Postgres(url) => command.arg("--data").arg(store).env("REDIAL_STORE", url),
    };
    command
        .arg("--policies")
        .arg(policies)
        .args(["--signal-rate", "0"])
        .env("REDIAL_ADMIN_TOKEN", ADMIN);
    common::server::spawn_serve(command, |line| {
        if let Some(n) = line.strip_prefix("store: re-applied ")
            && let Some(n) = n.split(' ').next().and_then(|n| n.parse::<usize>().ok())
        {
            *RECOVERED_STEPS
                .lock()
                .unwrap()
                .entry(store.to_path_buf())
                .or_default() += n;
        }
    })
}

const ADMIN: &str = "crash-test-admin";

fn live_trigger(client: &Client) -> String {
    let (_, v) = client.get(&format!("/v1/tenants/{HVAC}/plugins"), ADMIN);
    v["slots"]["trigger"]["live"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_server_killed_during_plugin_uploads_restarts_with_the_old_or_the_new_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("serve");
    let base = std::fs::read(redial_builtin::path("standard-trigger")).unwrap();
    let mut rng = rand::rng();
    let (mut kills, mut old_live, mut new_live) = (0, 0, 0);
    let (mut server, mut client) = serve(&store);
    let mut live = live_trigger(&client);
    let mut round = 0;
    while kills < SWAP_KILLS {
        round += 1;
        // A new component each time (so every upload compiles and writes a file).
        let component = redial_bench::with_custom_section(&base, &format!("crash-{round}"), 64);
        let hash = redial_runtime::content_hash(&component);
        let upload = {
            let (client, component) = (Client::new(&client.base), component.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {ADMIN}");
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/wasm"),
                ];
                let path = format!("/v1/tenants/{HVAC}/plugins/trigger");
                client.send("PUT", &path, &headers, Some(&component)).0
            })
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        server.kill().unwrap(); // SIGKILL, wherever the upload is
        server.wait().unwrap();
        let answered = upload.join().unwrap();
        kills += 1;
        (server, client) = serve(&store);
        let now = live_trigger(&client);
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

/// Posts one signed missed-call signal; the status (0 when the server was gone) and the case.
fn post_signal(client: &Client, id: &str, caller: &str) -> (u16, Option<String>) {
    let (status, body) = client.signal(HVAC, id, &missed_call(caller));
    (status, body["case"].as_str().map(str::to_string))
}

/// The server's outbox depth, from `/metrics`.
fn outbox_depth(client: &Client) -> Option<u64> {
    let auth = format!("Bearer {ADMIN}");
    let (_, text) = client.send("GET", "/metrics", &[("authorization", &auth)], None);
    text.lines()
        .find_map(|l| l.strip_prefix("redial_outbox_depth "))
        .and_then(|n| n.trim().parse().ok())
}

/// A store folder and a policies folder holding the HVAC tenant, signed webhooks on and
/// calling at any hour, under `dir`.
fn hvac_server_folders(dir: &Path) -> (PathBuf, PathBuf) {
    let (store, policies) = (dir.join("serve"), dir.join("policies"));
    std::fs::create_dir_all(&policies).unwrap();
    let text = redial_bench::all_day_window(&common::policy_text("lone-star-hvac.toml"));
    std::fs::write(
        policies.join("lone-star-hvac.toml"),
        common::server::with_webhooks(&text),
    )
    .unwrap();
    (store, policies)
}

on_both_stores! {
    fn a_server_killed_under_load_loses_no_signal_and_dials_each_attempt_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, policies) = hvac_server_folders(dir.path());
        let mut rng = rand::rng();
        // Every signal sent: event id → (caller, the case it was acknowledged with).
        let mut signals: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        let (mut server, mut client) = serve_policies(&store, &policies);
        let mut next = 0u32;
        for kill in 0..LOAD_KILLS {
            let load: Vec<_> = (0..4)
                .map(|n| {
                    let client = Client::new(&client.base);
                    let first = next + n * 10_000;
                    std::thread::spawn(move || {
                        let mut sent = Vec::new();
                        for n in first.. {
                            let (id, caller) = (format!("load-{kill}-{n}"), format!("+1512{n:07}"));
                            let (status, case) = post_signal(&client, &id, &caller);
                            sent.push((id, caller, case.filter(|_| status == 202)));
                            if status == 0 {
                                return sent; // the server is gone
                            }
                        }
                        sent
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
            server.kill().unwrap(); // SIGKILL, mid-step, mid-flush or mid-delivery
            server.wait().unwrap();
            for thread in load {
                for (id, caller, case) in thread.join().unwrap() {
                    signals.insert(id, (caller, case));
                }
            }
            next += 40_000;
            (server, client) = serve_policies(&store, &policies);
            // The provider retries what was not acknowledged, under the same event id.
            for (id, (caller, case)) in signals.iter_mut().filter(|(_, (_, c))| c.is_none()) {
                let (status, answer) = post_signal(&client, id, caller);
                assert!(
                    status == 202 || status == 200,
                    "a retried signal is taken: {status}"
                );
                *case = answer;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while outbox_depth(&client) != Some(0) {
            assert!(
                Instant::now() < deadline,
                "the outbox drains after the last restart"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server.kill().unwrap();
        server.wait().unwrap();

        let db = backend::open_store(&store.join("db"));
        assert_state_counts_agree(&*db);
        let cases: BTreeMap<String, _> = db
            .cases(Some("lone-star-hvac"))
            .unwrap()
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let acknowledged: Vec<_> = signals
            .values()
            .filter_map(|(caller, c)| Some((caller, c.as_ref()?)))
            .collect();
        let lost = acknowledged
            .iter()
            .filter(|(caller, case)| cases.get(*case).is_none_or(|c| &c.caller != *caller))
            .count();
        let mut per_caller: BTreeMap<&str, u32> = BTreeMap::new();
        for c in cases.values() {
            *per_caller.entry(c.caller.as_str()).or_default() += 1;
        }
        let doubled_cases = per_caller.values().filter(|n| **n > 1).count();
        let ledger = Simulator::read_ledger(&store.join("simulator-ledger.jsonl"));
        let mut dial_keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in ledger.iter().filter(|e| e.effect.starts_with("dial")) {
            dial_keys
                .entry(e.case_id.as_str())
                .or_default()
                .insert(e.key.as_str());
        }
        let (mut undialed, mut extra_dials) = (0, 0);
        for (id, case) in &cases {
            let dialed = dial_keys.get(id.as_str()).map_or(0, |k| k.len());
            undialed += case.attempts.len().saturating_sub(dialed);
            extra_dials += dialed.saturating_sub(case.attempts.len());
        }
        // A dial for a case the store does not have left before its step was durable.
        let premature = dial_keys
            .keys()
            .filter(|id| !cases.contains_key(**id))
            .count();
        let redeliveries = ledger.iter().filter(|e| e.duplicate).count();
        let recovered = recovered_steps(&store);
        println!(
            "server crash test: {LOAD_KILLS} SIGKILLs under load; {} signals sent, {} cases; {lost} acknowledged signals lost, {doubled_cases} callers with two cases, {undialed} attempts never dialed, {extra_dials} extra dials, {premature} dials before their step was durable; {redeliveries} redeliveries absorbed by idempotency keys; {recovered} logged steps re-applied at restarts",
            signals.len(),
            cases.len()
        );
        assert!(cases.len() >= 50, "the load reached the server");
        if backend::current() == Backend::Sled {
            assert!(
                recovered > 0,
                "kills left logged steps for the restarts to re-apply"
            );
        }
        assert!(
            cases.values().all(|c| !c.attempts.is_empty()),
            "every case's first call was placed at once"
        );
        assert_eq!(
            (lost, doubled_cases, undialed, extra_dials, premature),
            (0, 0, 0, 0, 0)
        );
    }
}

#[test]
fn a_clean_stop_leaves_no_logged_step_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (store, policies) = hvac_server_folders(dir.path());
    let (server, client) = serve_policies(&store, &policies);
    for n in 0..30 {
        let (status, _) = post_signal(&client, &format!("clean-{n}"), &format!("+1512{n:07}"));
        assert_eq!(status, 202);
    }
    // SIGTERM at once, while the lanes are still delivering the dials.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut server = server;
    assert!(server.wait().unwrap().success(), "a clean stop");
    let (mut again, client) = serve_policies(&store, &policies);
    assert_eq!(
        recovered_steps(&store),
        0,
        "nothing to complete after a clean stop"
    );
    assert!(
        outbox_depth(&client).is_some(),
        "the restarted server answers"
    );
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn a_stop_while_a_provider_hangs_ends_within_the_grace_and_keeps_the_undelivered_dial() {
    use common::provider_stub::{Mode, ProviderStub, vapi_voice};
    let stub = ProviderStub::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let (store, policies) = hvac_server_folders(dir.path());
    let policy = policies.join("lone-star-hvac.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text + &vapi_voice(&stub.base)).unwrap();
    let (mut server, client) = serve_policies(&store, &policies);
    let (status, case) = post_signal(&client, "hang-1", "+15125550401");
    assert_eq!(status, 202);
    assert_eq!(
        stub.wait_for_requests(1),
        1,
        "the dial is in flight, and hangs"
    );

    let asked = Instant::now();
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    // The grace is 10 s; without a bound the stop waited on the provider for minutes.
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        if asked.elapsed() > Duration::from_secs(60) {
            server.kill().unwrap();
            panic!("still running a minute after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");
    let db = SledStore::open(&store.join("db")).unwrap();
    let outbox = db.outbox().unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(Some(outbox[0].1.case_id.clone()), case);
    assert_eq!(outbox[0].1.effect.name(), "dial");
}
