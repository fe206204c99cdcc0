//! `redial bench signal-to-dial | ingest | swap`: what the server sustains on loopback, with
//! durability on.
//!
//! Starts the real server (sled store flushed on every step, wasm plugins, the Vapi
//! connector) on loopback with a local stand-in for Vapi, drives it with signed signals
//! from several client threads for a fixed time, and reports signals/s, request latency
//! and signal-to-dial latency (request sent → dial request received by the fake Vapi).
//! The same load against a bare axum endpoint that does nothing is measured in the same
//! run as the floor.
#![deny(missing_docs)]

pub mod neighbours;
pub mod nodes;
pub mod soak;
pub mod tenants;

mod cpu;
mod load;

pub use cpu::CpuSplit;

use load::{LoadResult, case_of, signal, start_load, start_paced_load};
use redial_server::SignalRate;

use redial_server::{AppBuilder, StoreAt};

use axum::http::header::CONTENT_TYPE;
use redial_core::engine::Engine;
use redial_core::policy::Policy;
use redial_runtime::Slot;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest sample.
    pub max: Duration,
    /// Samples.
    pub n: usize,
}

impl Latency {
    fn of(mut v: Vec<Duration>) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort();
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Latency {
            p50: at(0.5),
            p99: at(0.99),
            max: v[v.len() - 1],
            n: v.len(),
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct ServeReport {
    /// Signals accepted per second.
    pub signals_per_sec: f64,
    /// Request latency of signal posts.
    pub request: Latency,
    /// Request sent → dial request at the fake Vapi.
    pub signal_to_dial: Latency,
    /// Dial requests that reached the fake Vapi per second during the load window: when
    /// this keeps up with `signals_per_sec`, the rate is sustained end to end.
    pub dials_per_sec: f64,
    /// Requests that did not get a 2xx.
    pub failed: u64,
    /// Floor: the same load against an endpoint that does nothing.
    pub floor_per_sec: f64,
    /// Floor request latency.
    pub floor: Latency,
    /// CPU used during the load window, by the load generator, the fake Vapi and the server.
    pub cpu: CpuSplit,
    /// Each slot's decisions during the load window: what a decision costs under load, next
    /// to `plugin_call`'s figure for one in isolation.
    pub decisions: Vec<SlotCalls>,
}

/// One slot's plugin calls over a stretch of time.
#[derive(Debug, Clone, Copy)]
pub struct SlotCalls {
    /// The slot.
    pub slot: Slot,
    /// Calls made.
    pub calls: u64,
    /// Their mean wall time, from instantiation to the instance's teardown.
    pub mean: Duration,
    /// Of that, the mean instantiation.
    pub instantiate: Duration,
    /// Of that, the mean teardown (resetting the instance's pooled memory).
    pub teardown: Duration,
}

/// Every slot's running call totals: calls, then nanoseconds in all, instantiating and
/// tearing down.
fn call_totals(engine: &Engine) -> Vec<(Slot, [u64; 4])> {
    Slot::ALL
        .into_iter()
        .map(|slot| {
            let s = engine.runtime().stats(slot);
            let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let totals = [&s.calls, &s.nanos, &s.instantiate_nanos, &s.teardown_nanos];
            (slot, totals.map(load))
        })
        .collect()
}

/// The calls made between two [`call_totals`].
fn calls_since(now: &[(Slot, [u64; 4])], before: &[(Slot, [u64; 4])]) -> Vec<SlotCalls> {
    now.iter()
        .zip(before)
        .map(|(&(slot, now), &(_, before))| {
            let [calls, nanos, instantiate, teardown] = [0, 1, 2, 3].map(|i| now[i] - before[i]);
            let mean = |total: u64| Duration::from_nanos(total / calls.max(1));
            SlotCalls {
                slot,
                calls,
                mean: mean(nanos),
                instantiate: mean(instantiate),
                teardown: mean(teardown),
            }
        })
        .collect()
}

/// A tokio runtime whose threads carry `name` (for the CPU split): multi-threaded like the
/// server's, or one thread for a stand-in whose cost is the bench's, not the server's.
fn named_runtime(name: &str, threads: Threads) -> tokio::runtime::Runtime {
    let mut builder = match threads {
        Threads::Many => tokio::runtime::Builder::new_multi_thread(),
        Threads::One => tokio::runtime::Builder::new_current_thread(),
    };
    builder
        .enable_all()
        .thread_name(name)
        .build()
        .expect("tokio runtime")
}

/// How many threads a [`named_runtime`] runs.
#[derive(Clone, Copy)]
enum Threads {
    Many,
    One,
}

/// Serves `app` on a loopback port from a runtime whose threads are called `name`.
fn spawn_server(app: axum::Router, name: &'static str, threads: Threads) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = named_runtime(name, threads);
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        })
        .expect("spawn a bench server");
    rx.recv().unwrap()
}

/// Posts signals from `clients` connections for `duration`; also returns the CPU every
/// thread used meanwhile (read while the clients still run, so theirs counts too).
fn load(
    urls: &[String],
    clients: usize,
    duration: Duration,
    signed: bool,
) -> (LoadResult, CpuSplit) {
    let stop = Arc::new(AtomicBool::new(false));
    let before = cpu::Snapshot::take();
    let running = start_load(urls, clients, signed.then_some(SECRET), stop.clone(), 0);
    std::thread::sleep(duration);
    let cpu = cpu::Snapshot::take().since(&before);
    stop.store(true, Ordering::Relaxed);
    (running.join().unwrap(), cpu)
}

/// Posts a signed missed-call signal from `caller` with event id `id`; returns the
/// response (any status).
fn send_signal(
    agent: &ureq::Agent,
    url: &str,
    id: &str,
    caller: &str,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let (body, headers) = signal(id, caller, Some(SECRET));
    let mut req = agent.post(url);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req.send(body.as_bytes())
}

/// What the fake Vapi reads of a dial request: the case it is for.
#[derive(serde::Deserialize)]
struct FakeDial {
    metadata: FakeDialMetadata,
}

#[derive(serde::Deserialize)]
struct FakeDialMetadata {
    case_id: String,
}

/// How the bench server delivers dials.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Delivery lanes (`redial serve --delivery-lanes`).
    pub lanes: usize,
    /// How long the fake Vapi takes to answer each dial request. It is instant by default;
    /// a real provider's API takes a few hundred ms, and each lane waits that long.
    pub provider_latency: Duration,
    /// How long the server waits for a provider's answer.
    pub provider_timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            lanes: redial_core::engine::DEFAULT_LANES,
            provider_latency: Duration::ZERO,
            provider_timeout: Duration::from_secs(5),
        }
    }
}

/// `redial serve` in-process on loopback: durable store, wasm plugins, the Vapi connector
/// pointed at a local fake that records when each case's dial request arrives.
struct BenchServer {
    addr: SocketAddr,
    tenant: String,
    tenants: Vec<String>,
    engine: Arc<Engine>,
    dials: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BenchServer {
    /// Starts the server with `tenants` copies of the policy (ids suffixed `-<n>` when more
    /// than one), each with its own lock, counters and cases.
    fn start(
        dir: &Path,
        policy_text: &str,
        tenants: usize,
        delivery: Delivery,
    ) -> anyhow::Result<BenchServer> {
        BenchServer::start_on(dir, policy_text, tenants, delivery, None)
    }

    /// [`BenchServer::start`] on `store` (`None`: sled in `dir`).
    fn start_on(
        dir: &Path,
        policy_text: &str,
        tenants: usize,
        delivery: Delivery,
        store: Option<StoreAt>,
    ) -> anyhow::Result<BenchServer> {
        BenchServer::start_with(
            dir,
            policy_text,
            &vec![None; tenants],
            delivery,
            None,
            store,
        )
    }

    /// [`BenchServer::start`] with one tenant per entry of `voices`: where its dials go
    /// (`None`: the fake Vapi that records them); and each tenant's signal rate (`None`:
    /// unlimited, for the load benchmarks, which measure how fast the host takes signals).
    fn start_with(
        dir: &Path,
        policy_text: &str,
        voices: &[Option<String>],
        delivery: Delivery,
        signal_rate: Option<SignalRate>,
        store: Option<StoreAt>,
    ) -> anyhow::Result<BenchServer> {
        let tenants = voices.len();
        let dials: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let seen = dials.clone();
        let vapi = spawn_server(
            axum::Router::new().route(
                "/call",
                axum::routing::post(move |axum::Json(dial): axum::Json<FakeDial>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock()
                            .unwrap()
                            .entry(dial.metadata.case_id)
                            .or_insert_with(Instant::now);
                        if !delivery.provider_latency.is_zero() {
                            tokio::time::sleep(delivery.provider_latency).await;
                        }
                        ([(CONTENT_TYPE, "application/json")], r#"{"id":"call"}"#)
                    }
                }),
            ),
            cpu::FAKE_VAPI_THREADS,
            Threads::One,
        );
        std::fs::create_dir_all(dir)?;
        let policy_text = all_day_window(policy_text);
        let text = format!(
            "{policy_text}\n[webhooks]\nsigning_secret = \"{SECRET}\"\n[voice]\nprovider = \"vapi\"\n[voice.settings]\nbase_url = \"http://{vapi}\"\napi_key = \"k\"\nassistant_id = \"a\"\nphone_number_id = \"p\"\n"
        );
        let policy = Policy::parse(&text, "bench policy")?;
        let tenant = policy.tenant.clone();
        let mut builder = AppBuilder::new(dir)
            .admin_token(ADMIN)
            .provider_timeout(delivery.provider_timeout)
            .lanes(delivery.lanes)
            .signal_rate(signal_rate);
        if let Some(store) = store {
            builder = builder.store(store);
        }
        let mut ids = vec![tenant.clone()];
        if tenants > 1 {
            ids = (0..tenants).map(|i| format!("{tenant}-{i}")).collect();
            for (id, voice) in ids.iter().zip(voices) {
                let mut copy = text.replacen(
                    &format!("tenant = \"{tenant}\""),
                    &format!("tenant = \"{id}\""),
                    1,
                );
                if let Some(base) = voice {
                    copy = copy.replace(
                        &format!("base_url = \"http://{vapi}\""),
                        &format!("base_url = \"{base}\""),
                    );
                }
                builder = builder.policy(Policy::parse(&copy, "bench policy")?);
            }
        } else {
            builder = builder.policy(policy);
        }
        let app = builder.build()?;
        let engine = app.engine.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = named_runtime("redial-http", Threads::Many);
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = app
                    .serve(listener, async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        Ok(BenchServer {
            addr: addr_rx.recv()?,
            tenant: ids[0].clone(),
            tenants: ids,
            engine,
            dials,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn signals_url(&self) -> String {
        format!("http://{}/v1/tenants/{}/signals", self.addr, self.tenant)
    }

    /// The signals endpoint of every tenant.
    fn signals_urls(&self) -> Vec<String> {
        self.tenants
            .iter()
            .map(|t| format!("http://{}/v1/tenants/{t}/signals", self.addr))
            .collect()
    }

    /// Uploads `wasm` to a tenant's plugin slot through the API, as an operator would.
    fn put_plugin(
        &self,
        agent: &ureq::Agent,
        tenant: &str,
        slot: redial_runtime::Slot,
        wasm: &[u8],
    ) -> anyhow::Result<()> {
        let resp = agent
            .put(&format!(
                "http://{}/v1/tenants/{tenant}/plugins/{}",
                self.addr,
                slot.name()
            ))
            .header("authorization", &format!("Bearer {ADMIN}"))
            .header("content-type", "application/wasm")
            .send(wasm)?;
        anyhow::ensure!(
            resp.status().is_success(),
            "upload refused: {}",
            resp.status()
        );
        Ok(())
    }

    /// Puts a tenant's previous plugin for `slot` back through the API.
    fn rollback_plugin(
        &self,
        agent: &ureq::Agent,
        tenant: &str,
        slot: redial_runtime::Slot,
    ) -> anyhow::Result<()> {
        let resp = agent
            .post(&format!(
                "http://{}/v1/tenants/{tenant}/plugins/{}/rollback",
                self.addr,
                slot.name()
            ))
            .header("authorization", &format!("Bearer {ADMIN}"))
            .send_empty()?;
        anyhow::ensure!(
            resp.status().is_success(),
            "rollback refused: {}",
            resp.status()
        );
        Ok(())
    }

    /// Waits (up to a minute) until every case in `sent` has been dialed.
    fn await_dials(&self, sent: &HashMap<String, Instant>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.dials.lock().unwrap().len() < sent.len() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Request sent → dial received, for every case in `sent` that was dialed.
    fn signal_to_dial(&self, sent: &HashMap<String, Instant>) -> Latency {
        let dials = self.dials.lock().unwrap();
        Latency::of(
            sent.iter()
                .filter_map(|(case, at)| dials.get(case).map(|d| d.duration_since(*at)))
                .collect(),
        )
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const ADMIN: &str = "bench";

/// Runs the load benchmark in `dir` (a fresh store is made there): `clients` closed-loop
/// clients for `duration` spread over `tenants` tenants, after the same load on a bare
/// endpoint as the floor.
pub fn serve(
    dir: &Path,
    policy_text: &str,
    tenants: usize,
    clients: usize,
    duration: Duration,
    delivery: Delivery,
) -> anyhow::Result<ServeReport> {
    // The floor: a bare endpoint under the same load. It reads the request body, as the
    // signal endpoint does: hyper closes a connection whose request body was left unread,
    // and the clients' reconnecting (about 1,100 connections a second) understated the floor.
    let floor_addr = spawn_server(
        axum::Router::new().route(
            "/noop",
            axum::routing::post(|_body: axum::body::Bytes| async { "{}" }),
        ),
        cpu::FLOOR_THREADS,
        Threads::Many,
    );
    let (floor, _) = load(
        &[format!("http://{floor_addr}/noop")],
        clients,
        duration,
        false,
    );

    let server = BenchServer::start(dir, policy_text, tenants, delivery)?;
    let started = Instant::now();
    let calls_before = call_totals(&server.engine);
    let (run, cpu) = load(&server.signals_urls(), clients, duration, true);
    let decisions = calls_since(&call_totals(&server.engine), &calls_before);
    let elapsed = started.elapsed();
    let dialed_in_window = server
        .dials
        .lock()
        .unwrap()
        .values()
        .filter(|at| at.duration_since(started) <= elapsed)
        .count();
    server.await_dials(&run.sent);
    Ok(ServeReport {
        signals_per_sec: run.ok as f64 / elapsed.as_secs_f64(),
        dials_per_sec: dialed_in_window as f64 / elapsed.as_secs_f64(),
        request: Latency::of(run.latencies),
        signal_to_dial: server.signal_to_dial(&run.sent),
        failed: run.failed,
        floor_per_sec: floor.ok as f64 / duration.as_secs_f64(),
        floor: Latency::of(floor.latencies),
        cpu,
        decisions,
    })
}

/// Swap figures for one component size.
#[derive(Debug, Clone, Default)]
pub struct SwapReport {
    /// Component size in bytes.
    pub bytes: usize,
    /// Upload → the first decision by the new plugin (a signal posted after the upload).
    pub to_live: Latency,
    /// The upload request alone (validate, compile, swap).
    pub upload: Latency,
    /// Upload → the optimising compile of the new plugin live (what swap-to-live was before
    /// uploads went live on quick code).
    pub to_optimised: Latency,
}

/// `policy` with a calling window of every hour (00:00–24:00), so a benchmark or a test on
/// the system clock places its calls at once whatever the hour (the example policies call
/// only in business hours, or in the default 08:00–21:00 when they name no window).
pub fn all_day_window(policy: &str) -> String {
    let rest: Vec<&str> = policy
        .lines()
        .filter(|line| !line.trim_start().starts_with("calling_window"))
        .collect();
    format!(
        "calling_window = {{ start = \"00:00\", end = \"24:00\" }}\n{}",
        rest.join("\n")
    )
}

/// `component` with a custom section appended: a distinct, valid component (new hash, so
/// every upload is compiled afresh) padded by `pad` bytes.
pub fn with_custom_section(component: &[u8], name: &str, pad: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend((0..pad).map(|i| (i * 31 % 251) as u8));
    let mut out = component.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

/// Hot swaps of the trigger plugin while `clients` post signals: for a small component and
/// one padded to about 1 MB, `rounds` uploads each (every one a new hash). Returns the
/// figures per size and how many load requests failed during the swaps.
pub fn swap(
    dir: &Path,
    policy_text: &str,
    clients: usize,
    rounds: usize,
) -> anyhow::Result<(Vec<SwapReport>, u64, u64)> {
    let server = BenchServer::start(dir, policy_text, 1, Delivery::default())?;
    let stop = Arc::new(AtomicBool::new(false));
    let running = start_load(
        &server.signals_urls(),
        clients,
        Some(SECRET),
        stop.clone(),
        0,
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = std::fs::read(redial_builtin::path("standard-trigger"))?;
    let mut reports = Vec::new();
    let mut probe = 0u64;
    for pad in [16usize, 1 << 20] {
        let (mut to_live, mut upload, mut to_optimised) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for round in 0..rounds {
            let component = with_custom_section(&base, &format!("redial-bench-{pad}-{round}"), pad);
            bytes = component.len();
            let hash = redial_runtime::content_hash(&component);
            let started = Instant::now();
            server.put_plugin(
                &agent,
                &server.tenant,
                redial_runtime::Slot::Trigger,
                &component,
            )?;
            upload.push(started.elapsed());
            // The first signal after the upload must be decided by the new plugin.
            probe += 1;
            let case = post_signal(&agent, &server.signals_url(), 9_000_000 + probe)?;
            to_live.push(started.elapsed());
            let decided_by =
                server
                    .engine
                    .store()
                    .journal(&case)?
                    .into_iter()
                    .find_map(|e| match e.event {
                        redial_core::records::Event::Decision { slot, plugin, .. }
                            if slot == "trigger" =>
                        {
                            Some(plugin)
                        }
                        _ => None,
                    });
            anyhow::ensure!(
                decided_by.as_deref() == Some(hash.as_str()),
                "the first signal after an upload was decided by {decided_by:?}, not {hash}"
            );
            loop {
                let tenant = server.engine.tenant(&server.tenant)?;
                let live = tenant.plugin(redial_runtime::Slot::Trigger).0;
                anyhow::ensure!(live.id.hash == hash, "the upload is no longer live");
                if live.tier == redial_runtime::Tier::Optimised {
                    to_optimised.push(started.elapsed());
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(60),
                    "the optimising compile took over a minute"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        reports.push(SwapReport {
            bytes,
            to_live: Latency::of(to_live),
            upload: Latency::of(upload),
            to_optimised: Latency::of(to_optimised),
        });
    }
    stop.store(true, Ordering::Relaxed);
    let run = running.join().unwrap();
    Ok((reports, run.ok, run.failed))
}

/// Posts one signed signal; returns the case it opened.
fn post_signal(agent: &ureq::Agent, url: &str, n: u64) -> anyhow::Result<String> {
    let caller = format!("+1737{:07}", n % 10_000_000);
    let mut resp = send_signal(agent, url, &format!("probe-{n}"), &caller)?;
    let status = resp.status();
    let answer = resp.body_mut().read_to_vec().unwrap_or_default();
    case_of(&answer).ok_or_else(|| anyhow::anyhow!("no case opened (HTTP {status})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redial_core::policy::Policy;

    /// An example policy without a calling window.
    fn without_window() -> String {
        let path = Policy::default_dir().join("lone-star-hvac.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("calling_window"))
            .collect();
        kept.join("\n")
    }

    #[test]
    fn all_day_window_replaces_or_adds_the_window() {
        let with = "tenant = \"a\"\ncalling_window = { start = \"07:00\", end = \"21:00\" }\n";
        for text in [without_window().as_str(), with] {
            let widened = all_day_window(text);
            assert_eq!(widened.matches("calling_window").count(), 1, "{widened}");
            assert!(widened.contains(r#"end = "24:00""#));
        }
        let p = Policy::parse(&all_day_window(&without_window()), "t").unwrap();
        assert_eq!(
            (
                p.calling_window.start.as_str(),
                p.calling_window.end.as_str()
            ),
            ("00:00", "24:00")
        );
    }
}
