//! `redial bench serve`: what the server sustains on loopback, with durability on.
//!
//! Starts the real server (sled store flushed on every step, wasm plugins, the Vapi
//! connector) on loopback with a local stand-in for Vapi, drives it with signed signals
//! from several client threads for a fixed time, and reports signals/s, request latency
//! and signal-to-dial latency (request sent → dial request received by the fake Vapi).
//! The same load against a bare axum endpoint that does nothing is measured in the same
//! run as the floor.

use crate::api::auth::{sign_standard_webhook, token_hash};
use crate::api::{self, AppState, Metrics};
use crate::clock::SystemClock;
use crate::connectors::{ProviderConnectors, Simulator};
use crate::engine::Engine;
use crate::policy::Policy;
use crate::runtime::{PluginRuntime, RuntimeConfig};
use crate::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Requests that did not get a 2xx.
    pub failed: u64,
    /// Floor: the same load against an endpoint that does nothing.
    pub floor_per_sec: f64,
    /// Floor request latency.
    pub floor: Latency,
}

fn spawn_server(app: axum::Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// Posts signed signals from `clients` threads for `duration`; returns (ok count, failed,
/// latencies, send times by case id).
fn load(
    url: &str,
    clients: usize,
    duration: Duration,
    signed: bool,
) -> (u64, u64, Vec<Duration>, HashMap<String, Instant>) {
    let seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (url, seq, stop) = (url.to_string(), seq.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let (mut ok, mut failed, mut lat, mut sent) =
                    (0u64, 0u64, Vec::new(), HashMap::new());
                while !stop.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let body = format!(
                        r#"{{"kind":"missed-call","caller":"+1512{:07}","line":"+15125550200"}}"#,
                        n % 10_000_000
                    );
                    let id = format!("bench-{n}");
                    let ts = chrono::Utc::now().timestamp();
                    let sig = sign_standard_webhook(SECRET, &id, ts, body.as_bytes());
                    let started = Instant::now();
                    let mut req = agent.post(&url).header("content-type", "application/json");
                    if signed {
                        req = req
                            .header("webhook-id", &id)
                            .header("webhook-timestamp", ts.to_string())
                            .header("webhook-signature", &sig);
                    }
                    match req.send(body.as_bytes()) {
                        Ok(mut resp) if resp.status().is_success() => {
                            lat.push(started.elapsed());
                            ok += 1;
                            let text = resp.body_mut().read_to_string().unwrap_or_default();
                            if let Some(case) = serde_json::from_str::<serde_json::Value>(&text)
                                .ok()
                                .and_then(|v| v["case"].as_str().map(str::to_string))
                            {
                                sent.insert(case, started);
                            }
                        }
                        _ => failed += 1,
                    }
                }
                (ok, failed, lat, sent)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed, mut lat, mut sent) = (0, 0, Vec::new(), HashMap::new());
    for h in handles {
        let (o, f, l, s) = h.join().unwrap();
        ok += o;
        failed += f;
        lat.extend(l);
        sent.extend(s);
    }
    (ok, failed, lat, sent)
}

/// Runs the benchmark in `dir` (a fresh store is made there).
pub fn serve(
    dir: &Path,
    policy_text: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<ServeReport> {
    // The floor: a bare endpoint under the same load.
    let floor_addr =
        spawn_server(axum::Router::new().route("/noop", axum::routing::post(|| async { "{}" })));
    let (floor_ok, _, floor_lat, _) = load(
        &format!("http://{floor_addr}/noop"),
        clients,
        duration,
        false,
    );

    // The fake Vapi records when each case's dial request arrives.
    let dials: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = dials.clone();
    let vapi = spawn_server(axum::Router::new().route(
        "/call",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                if let Some(case) = body["metadata"]["case_id"].as_str() {
                    seen.lock()
                        .unwrap()
                        .entry(case.to_string())
                        .or_insert_with(Instant::now);
                }
                axum::Json(serde_json::json!({ "id": "call" }))
            }
        }),
    ));

    std::fs::create_dir_all(dir)?;
    let text = format!(
        "{policy_text}\n[webhooks]\nsigning_secret = \"{SECRET}\"\n[voice]\nprovider = \"vapi\"\n[voice.settings]\nbase_url = \"http://{vapi}\"\napi_key = \"k\"\nassistant_id = \"a\"\nphone_number_id = \"p\"\n"
    );
    let policy = Policy::parse(&text, "bench policy")?;
    let tenant = policy.tenant.clone();
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.join("compiled")),
        ..RuntimeConfig::default()
    })?);
    let engine = Arc::new(Engine::new(
        Store::open(&dir.join("db"))?,
        runtime,
        Arc::new(SystemClock),
    ));
    engine.load_tenant(policy)?;
    let simulator = Simulator::new(Arc::new(SystemClock), HashMap::new(), None)?;
    let connectors = Arc::new(ProviderConnectors::new(
        engine.clone(),
        simulator,
        Duration::from_secs(5),
    ));
    let state = AppState {
        engine: engine.clone(),
        admin_token_hash: Some(token_hash("bench")),
        public_url: String::new(),
        policies_dir: None,
        metrics: Arc::new(Metrics::default()),
        wake: Arc::default(),
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = api::serve(listener, state, connectors, async {
                let _ = stop_rx.await;
            })
            .await;
        });
    });
    let addr = addr_rx.recv()?;
    let started = Instant::now();
    let (ok, failed, lat, sent) = load(
        &format!("http://{addr}/v1/tenants/{tenant}/signals"),
        clients,
        duration,
        true,
    );
    let elapsed = started.elapsed();

    // Let the loop finish dialing what was accepted (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    while dials.lock().unwrap().len() < sent.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = stop_tx.send(());
    let _ = server.join();
    let dials = dials.lock().unwrap();
    let to_dial: Vec<Duration> = sent
        .iter()
        .filter_map(|(case, at)| dials.get(case).map(|d| d.duration_since(*at)))
        .collect();
    Ok(ServeReport {
        signals_per_sec: ok as f64 / elapsed.as_secs_f64(),
        request: Latency::of(lat),
        signal_to_dial: Latency::of(to_dial),
        failed,
        floor_per_sec: floor_ok as f64 / duration.as_secs_f64(),
        floor: Latency::of(floor_lat),
    })
}
