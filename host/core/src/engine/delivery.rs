//! Outbox delivery for the server: long-lived lane threads that share out the outbox
//! fairly between tenants.
//!
//! `dispatch` queues each durable, not-yet-claimed outbox item under its tenant and
//! returns at once, so the loop thread is never stuck behind a slow provider and a new
//! dial goes out as soon as its step is on disk. A free lane takes the next item of the
//! next tenant in turn (round robin), skipping a tenant that already has its share of
//! lanes ([`LaneConfig::tenant_lanes`]), any item whose case has one in flight, and any
//! item whose route (its provider's host, [`Connectors::route`]) holds half the lanes: one
//! tenant's hung provider holds at most its own share, a provider that hangs for everyone
//! at most half the lanes, and a case's effects still leave in order. An item is claimed while in flight, so it is never handed
//! out twice. New items come from the store's list of what steps committed, so a pass
//! costs what is new, not the size of the backlog; a full scan of the outbox every
//! [`RESCAN_EVERY`] picks up what a failed delivery left behind (retried under the same
//! idempotency key, after a backoff that doubles per failure up to [`MAX_BACKOFF`]) and
//! anything committed before the server started. After [`LaneConfig::dead_after`]
//! failures an item is set aside among its tenant's dead letters (see
//! [`Engine::dead_letters`]).

use super::{Engine, EngineError, Sent};
use crate::connectors::Connectors;
use crate::records::OutboxItem;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often `dispatch` scans the whole outbox: the delay before an item whose delivery
/// failed (after the connector's own retries) is tried again.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Deliveries one tenant has in flight at once, by default: enough to overlap provider
/// round trips on two cores without a thread per item (BENCHMARKS.md). Each waits for its
/// provider's answer, so one tenant's dials per second stay under this ÷ the provider's
/// latency (16 against a provider that takes 200 ms place at most 80 dials a second);
/// `redial serve --delivery-lanes` raises it.
pub const DEFAULT_LANES: usize = 16;

/// The most delivery lanes a server starts (a thread each, and an idle connection each
/// kept per provider host).
pub const MAX_LANES: usize = 256;

/// How many tenants' full shares the lanes hold: with every lane of that many tenants
/// stuck on hung providers, the lanes left still serve everyone else.
pub const SHARES: usize = 4;

/// Failed deliveries of one item before it is set aside as a dead letter, by default:
/// with the backoff that is about 8 minutes of a provider failing every try.
pub const DEFAULT_DEAD_AFTER: u32 = 10;

/// The longest wait before a failing item is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How the lanes share out deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    /// Deliveries one tenant may have in flight at once; the lanes number [`SHARES`] times
    /// this, up to [`MAX_LANES`].
    pub tenant_lanes: usize,
    /// Failed deliveries of one item before it becomes a dead letter.
    pub dead_after: u32,
}

impl Default for LaneConfig {
    fn default() -> Self {
        LaneConfig {
            tenant_lanes: DEFAULT_LANES,
            dead_after: DEFAULT_DEAD_AFTER,
        }
    }
}

impl LaneConfig {
    /// How many lane threads to start.
    fn lanes(&self) -> usize {
        (self.tenant_lanes.max(1) * SHARES).min(MAX_LANES)
    }

    /// What one tenant, and one route (a provider's host), may hold: a tenant its
    /// `tenant_lanes`, a route half the lanes, so a provider that hangs for every tenant
    /// still leaves the other half to SMS, CRM and notices.
    fn shares(&self) -> Shares {
        Shares {
            tenant: self.tenant_lanes.max(1),
            route: (self.lanes() / 2).max(1),
        }
    }
}

/// What is handed out (by outbox id) and which failed items wait.
#[derive(Debug, Default)]
struct Claims {
    handed: HashSet<u64>,
    retries: HashMap<u64, Retry>,
}

/// A failing item's retry state.
#[derive(Debug, Clone, Copy)]
struct Retry {
    failures: u32,
    not_before: Instant,
}

impl Claims {
    /// Records a delivery's end: a success (or an item set aside) forgets the item's
    /// failures, a failure sets when it may be tried next.
    fn finished(&mut self, id: u64, delivered: bool, now: Instant) {
        self.handed.remove(&id);
        if delivered {
            self.retries.remove(&id);
        } else {
            let failures = self.failures(id) + 1;
            let not_before = now + backoff(id, failures);
            self.retries.insert(
                id,
                Retry {
                    failures,
                    not_before,
                },
            );
        }
    }

    /// How many deliveries of an item failed so far.
    fn failures(&self, id: u64) -> u32 {
        self.retries.get(&id).map_or(0, |r| r.failures)
    }

    fn waiting(&self, id: u64, now: Instant) -> bool {
        self.retries.get(&id).is_some_and(|r| r.not_before > now)
    }
}

/// The wait after an item's `failures`-th failure: 1 s doubling per failure up to
/// [`MAX_BACKOFF`], less up to a quarter (spread by the item's id, so items that failed
/// together are not retried together).
fn backoff(id: u64, failures: u32) -> Duration {
    let full = Duration::from_secs(1)
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let mut h = DefaultHasher::new();
    (id, failures).hash(&mut h);
    let spread = (h.finish() % 1000) as u32; // 0..1000 thousandths of a quarter
    full - full / 4 * spread / 1000
}

/// An item waiting for a lane, with where it goes.
#[derive(Debug)]
struct Queued {
    id: u64,
    item: OutboxItem,
    /// The provider and host it goes to (see [`Connectors::route`]).
    route: Option<String>,
}

/// How many deliveries may be in flight at once for one tenant, and to one route.
#[derive(Debug, Clone, Copy)]
struct Shares {
    tenant: usize,
    route: usize,
}

/// Items waiting for a lane, per tenant, and what is in flight.
#[derive(Debug, Default)]
struct Queue {
    claims: Claims,
    /// Each tenant's items in outbox order.
    waiting: BTreeMap<String, VecDeque<Queued>>,
    /// Cases with an item in flight: their next item waits for it.
    busy_cases: HashSet<String>,
    /// Deliveries in flight per tenant.
    in_flight: HashMap<String, usize>,
    /// Deliveries in flight per route.
    on_route: HashMap<String, usize>,
    /// The tenant served last: the next turn starts after it.
    last_served: String,
    closed: bool,
}

fn count_up(counts: &mut HashMap<String, usize>, key: &str) {
    *counts.entry(key.to_string()).or_default() += 1;
}

fn count_down(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Queue {
    /// The next item a lane should deliver: the first deliverable item (its case idle, its
    /// route under its share) of the first tenant after the one served last that is under
    /// its share. Marks it in flight.
    fn take(&mut self, shares: Shares) -> Option<Queued> {
        let after = Bound::Excluded(self.last_served.clone());
        let turn = self
            .waiting
            .range((after, Bound::Unbounded))
            .chain(self.waiting.range(..=self.last_served.clone()));
        let under = |counts: &HashMap<String, usize>, key: &str, share: usize| {
            counts.get(key).copied().unwrap_or(0) < share
        };
        let (tenant, pos) = turn
            .filter(|(tenant, _)| under(&self.in_flight, tenant, shares.tenant))
            .find_map(|(tenant, items)| {
                let free = |q: &Queued| {
                    !self.busy_cases.contains(&q.item.case_id)
                        && q.route
                            .as_deref()
                            .is_none_or(|r| under(&self.on_route, r, shares.route))
                };
                items.iter().position(free).map(|pos| (tenant.clone(), pos))
            })?;
        let items = self.waiting.get_mut(&tenant).expect("found above");
        let queued = items.remove(pos).expect("found above");
        if items.is_empty() {
            self.waiting.remove(&tenant);
        }
        self.busy_cases.insert(queued.item.case_id.clone());
        count_up(&mut self.in_flight, &tenant);
        if let Some(route) = &queued.route {
            count_up(&mut self.on_route, route);
        }
        self.last_served = tenant;
        Some(queued)
    }

    /// A lane is done with an item: `settled` when it left the outbox (delivered or set
    /// aside), else it failed and waits for its retry.
    fn release(&mut self, done: &Queued, settled: bool, now: Instant) {
        self.busy_cases.remove(&done.item.case_id);
        count_down(&mut self.in_flight, &done.item.tenant);
        if let Some(route) = &done.route {
            count_down(&mut self.on_route, route);
        }
        self.claims.finished(done.id, settled, now);
    }

    fn busy(&self) -> usize {
        self.in_flight.values().sum()
    }
}

/// The queue and the lanes' wake-ups.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Rung when an item is queued, a share or case frees up, or the lanes close.
    work: Condvar,
    /// Rung when a delivery ends after the lanes closed (shutdown waits on it).
    done: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap()
    }
}

/// The lanes and what is in flight on them.
pub struct DeliveryLanes {
    engine: Arc<Engine>,
    connectors: Arc<dyn Connectors>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    last_scan: Mutex<Option<Instant>>,
}

impl DeliveryLanes {
    /// Starts the delivery threads.
    pub fn start(engine: Arc<Engine>, connectors: Arc<dyn Connectors>, config: LaneConfig) -> Self {
        let shared: Arc<Shared> = Arc::default();
        let threads = (0..config.lanes())
            .map(|n| {
                let (engine, connectors, shared) =
                    (engine.clone(), connectors.clone(), shared.clone());
                std::thread::Builder::new()
                    .name(format!("redial-lane-{n}"))
                    .spawn(move || lane(&engine, connectors.as_ref(), &shared, config))
                    .expect("spawn a delivery lane")
            })
            .collect();
        engine.store.track_new_effects();
        DeliveryLanes {
            engine,
            connectors,
            shared,
            threads,
            last_scan: Mutex::default(),
        }
    }

    /// Makes every committed step durable, then queues each new outbox item (or, on a
    /// scan, each unclaimed one) for the lanes. Returns how many were queued.
    pub fn dispatch(&self) -> Result<usize, EngineError> {
        let store = &self.engine.store;
        // Taken before the flush, so the flush covers every item taken: nothing leaves the
        // host before the step that caused it is durable.
        let fresh = store.take_new_effects();
        store.flush()?;
        let candidates = match fresh {
            Some(items) if !self.scan_due() => items,
            _ => {
                let now = Instant::now();
                *self.last_scan.lock().unwrap() = Some(now);
                let skip: HashSet<u64> = {
                    let queue = self.shared.queue();
                    let claims = &queue.claims;
                    let waiting = claims.retries.keys().filter(|id| claims.waiting(**id, now));
                    claims.handed.iter().chain(waiting).copied().collect()
                };
                let items = store.outbox_where(&|id| !skip.contains(&id))?;
                // The scan may see items of steps committed since the flush above.
                store.sync()?;
                items
            }
        };
        let mut queued = 0;
        // Another process delivers the items of tenants it holds the lease of.
        let ownership = self.engine.ownership();
        for (id, item) in candidates {
            if !ownership.owns(&item.tenant) {
                continue;
            }
            if !self.shared.queue().claims.handed.insert(id) {
                continue;
            }
            // A lane may have delivered it since it was listed: its claim is released only
            // after the delivery was recorded, so checking again after claiming is enough.
            let mut queue = self.shared.queue();
            if queue.closed || !store.in_outbox(id)? {
                queue.claims.handed.remove(&id);
                continue;
            }
            let route = self
                .engine
                .tenant(&item.tenant)
                .ok()
                .and_then(|t| self.connectors.route(&item, &t.policy));
            let tenant = queue.waiting.entry(item.tenant.clone()).or_default();
            tenant.push_back(Queued { id, item, route });
            queued += 1;
        }
        // One lane per new item: waking every lane for each would cost them all a turn at
        // the lock for nothing.
        for _ in 0..queued {
            self.shared.work.notify_one();
        }
        Ok(queued)
    }

    fn scan_due(&self) -> bool {
        self.last_scan
            .lock()
            .unwrap()
            .is_none_or(|at| at.elapsed() >= RESCAN_EVERY)
    }

    /// Stops the lanes: nothing more is taken, and deliveries in flight get up to `grace`
    /// to finish. Everything not delivered stays in the outbox for the next start. Returns
    /// how many deliveries were still in flight when the grace ran out (their threads are
    /// left to end on their own).
    pub fn shutdown(self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut queue = self.shared.queue();
        queue.closed = true;
        queue.waiting.clear();
        self.shared.work.notify_all();
        while queue.busy() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return queue.busy();
            }
            queue = self.shared.done.wait_timeout(queue, left).unwrap().0;
        }
        drop(queue);
        for t in self.threads {
            let _ = t.join();
        }
        0
    }
}

/// One lane: takes the next item in turn and delivers it, until the lanes close.
fn lane(engine: &Engine, connectors: &dyn Connectors, shared: &Shared, config: LaneConfig) {
    let mut queue = shared.queue();
    loop {
        if queue.closed {
            return;
        }
        let Some(taken) = queue.take(config.shares()) else {
            queue = shared.work.wait(queue).unwrap();
            continue;
        };
        drop(queue);
        let (id, item) = (taken.id, &taken.item);
        let sent = engine
            .deliver_one(connectors, id, item)
            .unwrap_or_else(|err| Sent::Failed(format!("recording the delivery failed: {err}")));
        let delivered = match sent {
            Sent::Done => true,
            Sent::Failed(error) => {
                let failures = shared.queue().claims.failures(id) + 1;
                tracing::warn!(key = %item.key, failures, cause = %error, "delivery failed; will retry");
                failures >= config.dead_after
                    && engine
                        .set_aside(id, item, failures, error)
                        .inspect_err(|err| tracing::error!(key = %item.key, cause = %err, "setting a dead letter aside failed; will retry"))
                        .is_ok()
            }
        };
        queue = shared.queue();
        queue.release(&taken, delivered, Instant::now());
        // This lane takes the next item itself; what it freed (a tenant's share, a case, a
        // route's share) may let one more go, to another lane.
        shared.work.notify_one();
        if queue.closed {
            shared.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Effect;

    #[test]
    fn a_failing_item_waits_longer_after_each_failure_up_to_the_cap() {
        let mut last = Duration::ZERO;
        for failures in 1..=12 {
            let wait = backoff(7, failures);
            let full = Duration::from_secs(1 << (failures - 1)).min(MAX_BACKOFF);
            assert!(wait <= full && wait >= full * 3 / 4, "{failures}: {wait:?}");
            assert!(wait >= last * 3 / 4, "{failures}: {wait:?} after {last:?}");
            last = wait;
        }
        assert!(backoff(7, u32::MAX) <= MAX_BACKOFF);
        // Items that failed together spread out.
        let waits: std::collections::HashSet<Duration> = (0..50).map(|id| backoff(id, 3)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn a_failed_item_waits_and_a_delivered_one_is_forgotten() {
        let now = Instant::now();
        let mut claims = Claims::default();
        claims.handed.extend([1, 2]);
        claims.finished(1, false, now);
        claims.finished(2, true, now);
        assert!(claims.handed.is_empty());
        assert!(claims.waiting(1, now));
        assert_eq!(claims.failures(1), 1);
        assert!(!claims.waiting(1, now + MAX_BACKOFF));
        assert!(!claims.waiting(2, now));
        claims.finished(1, true, now);
        assert!(claims.retries.is_empty());
    }

    fn item(tenant: &str, case: &str) -> OutboxItem {
        OutboxItem {
            key: format!("{case}/sms"),
            tenant: tenant.into(),
            case_id: case.into(),
            effect: Effect::Sms {
                to: "+15125550100".into(),
                body: "hi".into(),
            },
        }
    }

    /// A queue of `(tenant, case, route)` items, ids from 0.
    fn queue(items: &[(&str, &str, Option<&str>)]) -> Queue {
        let mut queue = Queue::default();
        for (id, (tenant, case, route)) in items.iter().enumerate() {
            let tenant_items = queue.waiting.entry(tenant.to_string()).or_default();
            tenant_items.push_back(Queued {
                id: id as u64,
                item: item(tenant, case),
                route: route.map(str::to_string),
            });
        }
        queue
    }

    fn tenant_of(taken: &Option<Queued>) -> String {
        taken
            .as_ref()
            .map_or("none".into(), |q| q.item.tenant.clone())
    }

    const ANY_ROUTE: usize = 100;

    fn tenant_share(tenant: usize) -> Shares {
        Shares {
            tenant,
            route: ANY_ROUTE,
        }
    }

    #[test]
    fn tenants_take_turns_and_none_takes_more_than_its_share() {
        let mut q = queue(&[
            ("busy", "busy-1", None),
            ("busy", "busy-2", None),
            ("busy", "busy-3", None),
            ("busy", "busy-4", None),
            ("quiet", "quiet-1", None),
        ]);
        let taken: Vec<Option<Queued>> = (0..4).map(|_| q.take(tenant_share(2))).collect();
        let order: Vec<String> = taken.iter().map(tenant_of).collect();
        // The quiet tenant's one item goes second, not after the busy tenant's backlog;
        // the busy tenant stops at its share of two.
        assert_eq!(order, ["busy", "quiet", "busy", "none"]);
        q.release(taken[0].as_ref().unwrap(), true, Instant::now());
        assert_eq!(
            tenant_of(&q.take(tenant_share(2))),
            "busy",
            "a freed share is used again"
        );
        assert_eq!(q.busy(), 3);
    }

    #[test]
    fn a_cases_next_effect_waits_for_the_one_in_flight_but_other_cases_do_not() {
        let mut q = queue(&[("t", "t-1", None), ("t", "t-1", None), ("t", "t-2", None)]);
        let first = q.take(tenant_share(8)).unwrap();
        let second = q.take(tenant_share(8)).unwrap();
        assert_eq!(
            (first.id, second.id),
            (0, 2),
            "t-2 overtakes t-1's second effect"
        );
        assert!(
            q.take(tenant_share(8)).is_none(),
            "t-1's second effect waits"
        );
        q.release(&first, true, Instant::now());
        assert_eq!(q.take(tenant_share(8)).unwrap().id, 1);
        q.release(&second, false, Instant::now());
        assert_eq!(q.claims.failures(second.id), 1);
    }

    #[test]
    fn a_provider_that_hangs_for_every_tenant_holds_only_its_routes_share() {
        let vapi = Some("vapi:");
        let mut q = queue(&[
            ("a", "a-1", vapi),
            ("b", "b-1", vapi),
            ("c", "c-1", vapi),
            ("c", "c-2", Some("twilio:")),
            ("d", "d-1", None),
        ]);
        let shares = Shares {
            tenant: 8,
            route: 2,
        };
        let taken: Vec<Option<Queued>> = (0..5).map(|_| q.take(shares)).collect();
        let ids: Vec<Option<u64>> = taken.iter().map(|t| t.as_ref().map(|q| q.id)).collect();
        // Two dials to Vapi, then c's SMS passes its third dial, and d's item goes out.
        assert_eq!(ids, [Some(0), Some(1), Some(3), Some(4), None]);
        q.release(taken[0].as_ref().unwrap(), true, Instant::now());
        assert_eq!(
            q.take(shares).unwrap().id,
            2,
            "a freed route share is used again"
        );
    }
}
