//! Outbox delivery for the server: long-lived lane threads, one case per lane.
//!
//! `dispatch` hands each durable, not-yet-claimed outbox item to the lane its case hashes
//! to and returns at once, so the loop thread is never stuck behind a slow provider and a
//! new dial goes out as soon as its step is on disk. A case's effects share a lane, so they
//! leave in order; other cases overlap. An item is claimed while in flight, so it is never
//! handed out twice. New items come from the store's list of what steps committed, so a
//! pass costs what is new, not the size of the backlog; a full scan of the outbox every
//! [`RESCAN_EVERY`] picks up what a failed delivery left behind (retried under the same
//! idempotency key, after a backoff that doubles per failure up to [`MAX_BACKOFF`]) and
//! anything committed before the server started.

use super::{Engine, EngineError};
use crate::connectors::Connectors;
use crate::records::OutboxItem;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often `dispatch` scans the whole outbox: the delay before an item whose delivery
/// failed (after the connector's own retries) is tried again.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Outbox deliveries in flight at once, by default: enough to overlap provider round trips
/// on two cores without a thread per item (BENCHMARKS.md). Each lane waits for its
/// provider's answer, so dials per second stay under lanes ÷ the provider's latency (16
/// lanes against a provider that takes 200 ms place at most 80 dials a second);
/// `redial serve --delivery-lanes` raises it.
pub const DEFAULT_LANES: usize = 16;

/// The most delivery lanes a server starts (a thread each, and an idle connection each
/// kept per provider host).
pub const MAX_LANES: usize = 256;

/// The longest wait before a failing item is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

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
    /// Records a delivery's end: a success forgets the item's failures, a failure sets
    /// when it may be tried next.
    fn finished(&mut self, id: u64, delivered: bool, now: Instant) {
        self.handed.remove(&id);
        if delivered {
            self.retries.remove(&id);
        } else {
            let failures = self.retries.get(&id).map_or(0, |r| r.failures) + 1;
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

/// The lanes and what is in flight on them.
pub struct DeliveryLanes {
    engine: Arc<Engine>,
    lanes: Vec<Sender<(u64, OutboxItem)>>,
    claims: Arc<Mutex<Claims>>,
    threads: Vec<JoinHandle<()>>,
    last_scan: Mutex<Option<Instant>>,
}

impl DeliveryLanes {
    /// Starts `lanes` delivery threads (at least one).
    pub fn start(engine: Arc<Engine>, connectors: Arc<dyn Connectors>, lanes: usize) -> Self {
        let claims: Arc<Mutex<Claims>> = Arc::default();
        let (mut senders, mut threads) = (Vec::new(), Vec::new());
        for n in 0..lanes.max(1) {
            let (tx, rx) = channel::<(u64, OutboxItem)>();
            let (engine, connectors, claims) = (engine.clone(), connectors.clone(), claims.clone());
            let thread = std::thread::Builder::new()
                .name(format!("redial-lane-{n}"))
                .spawn(move || {
                    for (id, item) in rx {
                        let delivered = engine
                            .deliver_one(connectors.as_ref(), id, &item)
                            .unwrap_or_else(|err| {
                                tracing::error!(key = %item.key, cause = %err, "recording a delivery failed; will retry");
                                false
                            });
                        claims.lock().unwrap().finished(id, delivered, Instant::now());
                    }
                })
                .expect("spawn a delivery lane");
            senders.push(tx);
            threads.push(thread);
        }
        engine.store.track_new_effects();
        DeliveryLanes {
            engine,
            lanes: senders,
            claims,
            threads,
            last_scan: Mutex::default(),
        }
    }

    /// Makes every committed step durable, then hands each new outbox item (or, on a scan,
    /// each unclaimed one) to its lane. Returns how many were handed out.
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
                    let claims = self.claims.lock().unwrap();
                    let waiting = claims.retries.keys().filter(|id| claims.waiting(**id, now));
                    claims.handed.iter().chain(waiting).copied().collect()
                };
                let items = store.outbox_where(&|id| !skip.contains(&id))?;
                // The scan may see items of steps committed since the flush above.
                store.sync()?;
                items
            }
        };
        let mut handed = 0;
        for (id, item) in candidates {
            if !self.claims.lock().unwrap().handed.insert(id) {
                continue;
            }
            // A lane may have delivered it since it was listed: its claim is released only
            // after the delivery was recorded, so checking again after claiming is enough.
            let lane = lane_of(&item.case_id, self.lanes.len());
            if !store.in_outbox(id)? || self.lanes[lane].send((id, item)).is_err() {
                self.claims.lock().unwrap().handed.remove(&id);
                continue;
            }
            handed += 1;
        }
        Ok(handed)
    }

    fn scan_due(&self) -> bool {
        self.last_scan
            .lock()
            .unwrap()
            .is_none_or(|at| at.elapsed() >= RESCAN_EVERY)
    }

    /// Lets the lanes finish what they were handed, then stops them.
    pub fn shutdown(self) {
        drop(self.lanes);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The lane of a case: stable, so a case's effects always share one lane.
fn lane_of(case_id: &str, lanes: usize) -> usize {
    let mut h = DefaultHasher::new();
    case_id.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!claims.waiting(1, now + MAX_BACKOFF));
        assert!(!claims.waiting(2, now));
        claims.finished(1, true, now);
        assert!(claims.retries.is_empty());
    }

    #[test]
    fn a_case_always_maps_to_the_same_lane() {
        for case in ["acme-00001", "acme-00002", "b-1"] {
            let lane = lane_of(case, 8);
            assert!(lane < 8);
            assert_eq!(lane_of(case, 8), lane);
        }
    }
}
