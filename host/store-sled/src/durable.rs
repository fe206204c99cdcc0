//! Waiting for durability without a thread. A request that has committed its step takes a
//! [`Ticket`] and awaits [`Store::durable`], so the thread that ran the step goes back to
//! work instead of sleeping through the group fsync.
//!
//! Why: a request waiting for the fsync on a blocking thread would hold that thread, and one
//! of the server's engine-work slots, idle while it waits, and cost two more context
//! switches; under load that caps signals/s (`redial bench ingest`).
//!
//! The flushes are [`Store::flush`]'s group commit. The first waiter that finds no flush
//! task running starts one on tokio's blocking pool, and that task goes on flushing while a
//! waiter wants more than is durable. Each flush publishes what it made durable, or its
//! failure, to every waiter.

use super::SledStore;
use redial_core::store::Store as _;
use redial_core::store::{StoreError, Ticket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::watch;

/// What the flushes so far have done.
#[derive(Debug, Clone, Default)]
struct Durability {
    /// Steps made durable (the group commit's count).
    steps: u64,
    /// Flushes that failed, and the last one's error.
    failures: u64,
    last_error: Option<String>,
}

/// The store's side: every flush publishes here; waiters subscribe.
#[derive(Debug)]
pub(super) struct Published {
    durability: watch::Sender<Durability>,
    /// The highest ticket any waiter waits for.
    wanted: AtomicU64,
    /// Whether a flush task is running (at most one is).
    flushing: AtomicBool,
}

impl Default for Published {
    fn default() -> Self {
        Published {
            durability: watch::Sender::new(Durability::default()),
            wanted: AtomicU64::new(0),
            flushing: AtomicBool::new(false),
        }
    }
}

impl Published {
    /// Called by every flush with its result and the count of steps now durable.
    pub(super) fn flushed<T>(&self, result: &Result<T, sled::Error>, durable: u64) {
        self.durability.send_modify(|d| match result {
            Ok(_) => d.steps = d.steps.max(durable),
            Err(err) => {
                d.failures += 1;
                d.last_error = Some(err.to_string());
            }
        });
    }
}

impl SledStore {
    /// A ticket covering every step committed so far.
    pub(crate) fn current_ticket(&self) -> Ticket {
        Ticket(self.group.committed.load(Ordering::SeqCst))
    }

    /// Resolves once every step `ticket` covers is durable, or with the error of a flush
    /// that failed meanwhile. Holds no thread while it waits; must run on a tokio runtime
    /// (the flushes run on its blocking pool).
    pub(crate) async fn wait_durable(self, ticket: Ticket) -> Result<(), StoreError> {
        let published = &self.group.published;
        let mut seen = published.durability.subscribe();
        let failures = {
            let now = seen.borrow_and_update();
            if now.steps >= ticket.0 {
                return Ok(());
            }
            now.failures
        };
        published.wanted.fetch_max(ticket.0, Ordering::SeqCst);
        self.start_flushing();
        let now = seen
            .wait_for(|d| d.steps >= ticket.0 || d.failures > failures)
            .await
            .map_err(|_| StoreError::Flush("the store closed".into()))?;
        if now.steps >= ticket.0 {
            Ok(())
        } else {
            Err(StoreError::Flush(
                now.last_error.clone().unwrap_or_default(),
            ))
        }
    }

    /// Starts the flush task unless one is running.
    fn start_flushing(&self) {
        let flushing = &self.group.published.flushing;
        if flushing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.flush_while_wanted());
        }
    }

    /// Flushes until no waiter wants more than is durable. Stops at a failure, which the
    /// waiters receive; the next waiter starts a new task.
    fn flush_while_wanted(&self) {
        let published = &self.group.published;
        loop {
            let failed = self.flush().is_err();
            // Cleared before `wanted` is read: a waiter that raises `wanted` after this
            // read finds no task running and starts one.
            published.flushing.store(false, Ordering::SeqCst);
            let durable = published.durability.borrow().steps;
            if failed || published.wanted.load(Ordering::SeqCst) <= durable {
                return;
            }
            if published
                .flushing
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return; // a waiter started another task meanwhile
            }
        }
    }
}
