//! The load generator: `clients` keep-alive HTTP/1.1 connections, each sending one signal
//! at a time, all driven by one thread's event loop.
//!
//! It shares the machine's two cores with the server it measures, so what it costs per
//! request is taken from the server. One event loop waking for many ready connections
//! costs a fraction of one blocking thread per client, each woken for every answer; the
//! floor is measured with the same generator.

use super::cpu;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use redial_connectors::webhooks::sign_standard_webhook;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a load run saw.
#[derive(Default)]
pub(super) struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    /// Of `failed`, answered 429 (over the tenant's signal rate).
    pub limited: u64,
    pub latencies: Vec<Duration>,
    /// When each opened case's signal was sent.
    pub sent: HashMap<String, Instant>,
}

impl LoadResult {
    fn merge(&mut self, one: LoadResult) {
        self.ok += one.ok;
        self.failed += one.failed;
        self.limited += one.limited;
        self.latencies.extend(one.latencies);
        self.sent.extend(one.sent);
    }
}

/// Where signals go: `http://host:port/path`.
#[derive(Clone)]
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Target {
        let uri: hyper::Uri = url.parse().expect("a bench url");
        Target {
            authority: uri.authority().expect("a bench url's host").to_string(),
            path: uri.path().to_string(),
        }
    }
}

/// The body and headers of a missed-call signal from `caller` with event id `id`, signed
/// with `secret` when given (Standard Webhooks).
pub(super) fn signal(
    id: &str,
    caller: &str,
    secret: Option<&str>,
) -> (String, Vec<(&'static str, String)>) {
    let body = format!(r#"{{"kind":"missed-call","caller":"{caller}","line":"+15125550200"}}"#);
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(secret) = secret {
        let ts = chrono::Utc::now().timestamp();
        let sig = sign_standard_webhook(secret, id, ts, body.as_bytes());
        headers.push(("webhook-id", id.to_string()));
        headers.push(("webhook-timestamp", ts.to_string()));
        headers.push(("webhook-signature", sig));
    }
    (body, headers)
}

/// The case id in a signal's answer.
pub(super) fn case_of(answer: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        case: Option<String>,
    }
    serde_json::from_slice::<Answer>(answer).ok()?.case
}

/// Posts signals (callers numbered from `first`, spread over `urls` in turn) over
/// `clients` connections until `stop` is set, each as fast as it is answered.
pub(super) fn start_load(
    urls: &[String],
    clients: usize,
    secret: Option<&'static str>,
    stop: Arc<AtomicBool>,
    first: u64,
) -> std::thread::JoinHandle<LoadResult> {
    start_paced_load(urls, clients, secret, stop, first, None)
}

/// [`start_load`], each client sending at most one signal per `pace` (a tenant's steady
/// traffic rather than a flood).
pub(super) fn start_paced_load(
    urls: &[String],
    clients: usize,
    secret: Option<&'static str>,
    stop: Arc<AtomicBool>,
    first: u64,
    pace: Option<Duration>,
) -> std::thread::JoinHandle<LoadResult> {
    let targets: Arc<[Target]> = urls.iter().map(|u| Target::parse(u)).collect();
    let seq = Arc::new(AtomicU64::new(first));
    std::thread::Builder::new()
        .name(cpu::LOAD_THREADS.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the load generator's runtime");
            rt.block_on(async move {
                let mut clients: tokio::task::JoinSet<LoadResult> = (0..clients)
                    .map(|_| client(targets.clone(), seq.clone(), stop.clone(), secret, pace))
                    .collect();
                let mut total = LoadResult::default();
                while let Some(one) = clients.join_next().await {
                    total.merge(one.expect("a load client"));
                }
                total
            })
        })
        .expect("spawn the load generator")
}

/// One client: a signal at a time over one keep-alive connection, reconnecting after a
/// failed exchange.
async fn client(
    targets: Arc<[Target]>,
    seq: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    secret: Option<&'static str>,
    pace: Option<Duration>,
) -> LoadResult {
    let mut out = LoadResult::default();
    let mut conn: Option<(String, SendRequest<Full<Bytes>>)> = None;
    while !stop.load(Ordering::Relaxed) {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        let target = &targets[(n % targets.len() as u64) as usize];
        let caller = format!("+1512{:07}", n % 10_000_000);
        let (body, headers) = signal(&format!("bench-{n}"), &caller, secret);
        let started = Instant::now();
        let answer = async {
            let sender = match &mut conn {
                Some((authority, sender)) if *authority == target.authority => sender,
                _ => {
                    &mut conn
                        .insert((target.authority.clone(), connect(&target.authority).await?))
                        .1
                }
            };
            let mut req = hyper::Request::post(&target.path).header("host", &target.authority);
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let req = req.body(Full::new(Bytes::from(body))).ok()?;
            sender.ready().await.ok()?;
            let resp = sender.send_request(req).await.ok()?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await.ok()?.to_bytes();
            Some((status, bytes))
        }
        .await;
        match answer {
            Some((status, bytes)) if status.is_success() => {
                out.latencies.push(started.elapsed());
                out.ok += 1;
                if let Some(case) = case_of(&bytes) {
                    out.sent.insert(case, started);
                }
            }
            Some((status, _)) => {
                out.failed += 1;
                out.limited += u64::from(status.as_u16() == 429);
            }
            None => {
                out.failed += 1;
                conn = None;
            }
        }
        if let Some(pace) = pace {
            tokio::time::sleep_until((started + pace).into()).await;
        }
    }
    out
}

/// Opens a keep-alive connection to `authority`, its driver running on this event loop.
async fn connect(authority: &str) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}
