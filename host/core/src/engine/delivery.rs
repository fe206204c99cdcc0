//! Outbox delivery for the server: long-lived lane threads, one case per lane.
//!
//! `dispatch` hands each durable, not-yet-claimed outbox item to the lane its case hashes
//! to and returns at once, so the loop thread is never stuck behind a slow provider and a
//! new dial goes out as soon as its step is on disk. A case's effects share a lane, so they
//! leave in order; other cases overlap. An item is claimed while in flight, so it is never
//! handed out twice. New items come from the store's list of what steps committed, so a
//! pass costs what is new, not the size of the backlog; a full scan of the outbox every
//! [`RESCAN_EVERY`] picks up what a failed delivery left behind (retried under the same
//! idempotency key) and anything committed before the server started.

use super::{Engine, EngineError};
use crate::connectors::Connectors;
use crate::records::OutboxItem;
use std::collections::HashSet;
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

/// The lanes and what is in flight on them.
pub struct DeliveryLanes {
    engine: Arc<Engine>,
    lanes: Vec<Sender<(u64, OutboxItem)>>,
    claimed: Arc<Mutex<HashSet<u64>>>,
    threads: Vec<JoinHandle<()>>,
    last_scan: Mutex<Option<Instant>>,
}

impl DeliveryLanes {
    /// Starts `lanes` delivery threads (at least one).
    pub fn start(engine: Arc<Engine>, connectors: Arc<dyn Connectors>, lanes: usize) -> Self {
        let claimed: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let (mut senders, mut threads) = (Vec::new(), Vec::new());
        for n in 0..lanes.max(1) {
            let (tx, rx) = channel::<(u64, OutboxItem)>();
            let (engine, connectors, claimed) =
                (engine.clone(), connectors.clone(), claimed.clone());
            let thread = std::thread::Builder::new()
                .name(format!("redial-lane-{n}"))
                .spawn(move || {
                    for (id, item) in rx {
                        if let Err(err) = engine.deliver_one(connectors.as_ref(), id, &item) {
                            tracing::error!(key = %item.key, cause = %err, "recording a delivery failed; will retry");
                        }
                        claimed.lock().unwrap().remove(&id);
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
            claimed,
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
                *self.last_scan.lock().unwrap() = Some(Instant::now());
                let claimed = self.claimed.lock().unwrap().clone();
                let items = store.outbox_where(&|id| !claimed.contains(&id))?;
                // The scan may see items of steps committed since the flush above.
                store.sync()?;
                items
            }
        };
        let mut handed = 0;
        for (id, item) in candidates {
            if !self.claimed.lock().unwrap().insert(id) {
                continue;
            }
            // A lane may have delivered it since it was listed: its claim is released only
            // after the delivery was recorded, so checking again after claiming is enough.
            if !store.in_outbox(id)? {
                self.claimed.lock().unwrap().remove(&id);
                continue;
            }
            let lane = lane_of(&item.case_id, self.lanes.len());
            if self.lanes[lane].send((id, item)).is_err() {
                self.claimed.lock().unwrap().remove(&id);
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
    fn a_case_always_maps_to_the_same_lane() {
        for case in ["acme-00001", "acme-00002", "b-1"] {
            let lane = lane_of(case, 8);
            assert!(lane < 8);
            assert_eq!(lane_of(case, 8), lane);
        }
    }
}
