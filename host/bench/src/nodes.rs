//! `redial bench ingest --postgres`: the same load on sled (one node) and on PostgreSQL with
//! one, two and three nodes sharing one database, in one run, and the failover gap: how
//! long after a node stops its tenants' leases pass to the others, and their next dial.
//!
//! Every node is an in-process server (`AppBuilder` as `redial serve` wires it) with its
//! own fake Vapi; the load spreads over every node and tenant, as a load balancer without
//! stickiness would. On one machine the nodes share its cores, so the figures compare the
//! stores and the cost of coordination, not capacity.

use crate::{BenchServer, Delivery, Latency};
use redial_core::store::Ownership;
use redial_server::StoreAt;
use redial_store_postgres::scratch::ScratchDatabase;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One configuration's figures.
#[derive(Debug, Clone)]
pub struct NodesRow {
    /// Which store, how many nodes.
    pub label: String,
    /// Signals accepted per second, over every node.
    pub signals_per_sec: f64,
    /// Request sent (to any node) → dial request at a fake Vapi (from the tenant's owner).
    pub signal_to_dial: Latency,
    /// Requests without a 2xx.
    pub failed: u64,
}

/// A node stopped while its peers go on.
#[derive(Debug, Clone)]
pub struct Failover {
    /// Nodes before the stop.
    pub nodes: usize,
    /// Tenants the stopped node held.
    pub tenants_held: usize,
    /// Stop → the others hold every one of them.
    pub takeover: Duration,
    /// Stop → the first dial of one of them.
    pub next_dial: Option<Duration>,
}

/// The run's figures.
#[derive(Debug, Clone)]
pub struct NodesReport {
    /// sled, then PostgreSQL with 1..=max nodes.
    pub rows: Vec<NodesRow>,
    /// With the most nodes, one stopped.
    pub failover: Option<Failover>,
}

/// The load each row runs.
#[derive(Debug, Clone, Copy)]
pub struct NodesLoad {
    /// Tenants the signals are spread over (nodes share out tenants).
    pub tenants: usize,
    /// Closed-loop clients.
    pub clients: usize,
    /// How long each row's load lasts.
    pub duration: Duration,
    /// How the nodes deliver dials.
    pub delivery: Delivery,
    /// The most nodes on PostgreSQL.
    pub max_nodes: usize,
}

/// Runs the comparison: sled, then PostgreSQL (a scratch database on `server`, a URL whose
/// role may create databases) with 1 to `load.max_nodes` nodes.
pub fn run(
    dir: &Path,
    policy_text: &str,
    server: &str,
    load: NodesLoad,
) -> anyhow::Result<NodesReport> {
    let NodesLoad {
        tenants,
        clients,
        duration,
        delivery,
        max_nodes,
    } = load;
    let mut rows = Vec::new();
    {
        let sled = BenchServer::start(&dir.join("sled"), policy_text, tenants, delivery)?;
        rows.push(measure("sled, 1 node", &[sled], clients, duration));
    }
    let mut failover = None;
    for n in 1..=max_nodes {
        let db = ScratchDatabase::create(server, "bench").map_err(anyhow::Error::msg)?;
        let mut nodes = (0..n)
            .map(|i| {
                BenchServer::start_on(
                    &dir.join(format!("pg-{n}-{i}")),
                    policy_text,
                    tenants,
                    delivery,
                    Some(StoreAt::Postgres(db.url.clone())),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        spread(&nodes, tenants)?;
        let label = format!("PostgreSQL, {n} node{}", if n > 1 { "s" } else { "" });
        rows.push(measure(&label, &nodes, clients, duration));
        if n == max_nodes && n > 1 {
            failover = Some(stop_one(&mut nodes, tenants)?);
        }
        drop(nodes);
        drop(db);
    }
    Ok(NodesReport { rows, failover })
}

fn held(node: &BenchServer) -> BTreeSet<String> {
    match &*node.engine.ownership() {
        Ownership::Only(tenants) => tenants.clone(),
        Ownership::All => node.tenants.iter().cloned().collect(),
    }
}

/// Waits until every node holds a fair share of the tenants (their leases spread).
fn spread(nodes: &[BenchServer], tenants: usize) -> anyhow::Result<()> {
    let fair = tenants.div_ceil(nodes.len());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shares: Vec<usize> = nodes.iter().map(|n| held(n).len()).collect();
        if shares.iter().sum::<usize>() == tenants && shares.iter().all(|s| *s + 1 >= fair) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "leases did not spread: {shares:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every node's dials so far: case → when its first dial arrived.
fn dials(nodes: &[BenchServer]) -> HashMap<String, Instant> {
    let mut all: HashMap<String, Instant> = HashMap::new();
    for node in nodes {
        for (case, at) in node.dials.lock().unwrap().iter() {
            let first = all.entry(case.clone()).or_insert(*at);
            *first = (*first).min(*at);
        }
    }
    all
}

/// `clients` closed-loop clients for `duration` over every node's signal endpoints.
fn measure(label: &str, nodes: &[BenchServer], clients: usize, duration: Duration) -> NodesRow {
    let urls: Vec<String> = nodes.iter().flat_map(BenchServer::signals_urls).collect();
    let started = Instant::now();
    let (run, _) = crate::load(&urls, clients, duration, true);
    let elapsed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while dials(nodes).len() < run.sent.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let dialed = dials(nodes);
    let waits = run
        .sent
        .iter()
        .filter_map(|(case, at)| dialed.get(case).map(|d| d.duration_since(*at)))
        .collect();
    NodesRow {
        label: label.to_string(),
        signals_per_sec: run.ok as f64 / elapsed.as_secs_f64(),
        signal_to_dial: Latency::of(waits),
        failed: run.failed,
    }
}

/// Stops the first node while two clients keep signalling the others, and times the
/// takeover of its tenants and their next dial.
fn stop_one(nodes: &mut Vec<BenchServer>, tenants: usize) -> anyhow::Result<Failover> {
    let count = nodes.len();
    let victim = nodes.remove(0);
    let orphans = held(&victim);
    let urls: Vec<String> = nodes.iter().flat_map(BenchServer::signals_urls).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let running = crate::start_load(&urls, 2, Some(crate::SECRET), stop.clone(), 1 << 40);
    std::thread::sleep(Duration::from_millis(500));
    let stopped = Instant::now();
    drop(victim);
    let deadline = stopped + Duration::from_secs(30);
    let takeover = loop {
        let covered: usize = nodes.iter().map(|n| held(n).len()).sum();
        if covered == tenants {
            break stopped.elapsed();
        }
        anyhow::ensure!(Instant::now() < deadline, "the others never took over");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the new owners dial what waited for them.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let _ = running.join();
    let next_dial = dials(nodes)
        .iter()
        .filter(|(case, at)| {
            let tenant = case.rsplit_once('-').map_or(case.as_str(), |(t, _)| t);
            orphans.contains(tenant) && **at > stopped
        })
        .map(|(_, at)| at.duration_since(stopped))
        .min();
    Ok(Failover {
        nodes: count,
        tenants_held: orphans.len(),
        takeover,
        next_dial,
    })
}
