//! Where handlers run engine work: off the async threads, in a bounded number of slots, and
//! with a per-tenant share of them.
//!
//! Engine steps do store I/O and run plugins, so they go to tokio's blocking pool. At most
//! [`ENGINE_WORKERS`] run at once and the rest wait in arrival order without holding a
//! thread, which keeps two cores from being shared by dozens of runnable threads under
//! overload. Work on one tenant's cases also waits for one of that tenant's
//! [`TENANT_SLOTS`]: its tenant lock runs its steps one at a time anyway, and a tenant whose
//! plugin runs into its deadline on every call must not fill every slot while the other
//! tenants wait (`redial bench neighbours` measures this).

use crate::ApiError;
use redial_core::engine::EngineError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Requests doing engine work at once, per server. A signal holds its slot only for its
/// step, not for the fsync after it (see `Store::durable`). Four keeps both cores busy
/// without more runnable threads than cores can serve (BENCHMARKS.md).
pub const ENGINE_WORKERS: usize = 4;

/// Of the [`ENGINE_WORKERS`] slots, how many one tenant's requests may hold: two, so the
/// next step of a busy tenant is ready on its thread when the lock passes to it, and half
/// the slots stay free for the other tenants.
pub const TENANT_SLOTS: usize = ENGINE_WORKERS / 2;

/// The server's engine-work slots: shared by every handler through the app state.
pub struct EngineSlots {
    all: Semaphore,
    per_tenant: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Default for EngineSlots {
    fn default() -> Self {
        EngineSlots {
            all: Semaphore::new(ENGINE_WORKERS),
            per_tenant: Mutex::default(),
        }
    }
}

impl EngineSlots {
    /// Runs engine work in one of the slots.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.all.acquire().await.expect("never closed");
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join) => Err(ApiError::internal(join)),
        }
    }

    /// [`EngineSlots::run`] for work on one tenant's cases: beyond [`TENANT_SLOTS`] at once,
    /// that tenant's requests wait here, holding neither a thread nor a slot.
    pub async fn run_for<T: Send + 'static>(
        &self,
        tenant: &str,
        work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = self
            .per_tenant
            .lock()
            .unwrap()
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(TENANT_SLOTS)))
            .clone();
        let _turn = turn.acquire().await.expect("never closed");
        self.run(work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_whose_work_hangs_leaves_slots_for_the_others() {
        let slots = Arc::new(EngineSlots::default());
        // More of one tenant's requests than there are slots, each stuck (as behind a
        // plugin running into its deadline) until released.
        let (release, stuck) = mpsc::channel::<()>();
        let stuck = Arc::new(Mutex::new(stuck));
        let hung: Vec<_> = (0..ENGINE_WORKERS + 2)
            .map(|_| {
                let (stuck, slots) = (stuck.clone(), slots.clone());
                tokio::spawn(async move {
                    slots
                        .run_for("hangs", move || {
                            stuck.lock().unwrap().recv().ok();
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            slots.run_for("quiet", || Ok("done")),
        )
        .await;
        for _ in &hung {
            release.send(()).unwrap();
        }
        for h in hung {
            h.await.unwrap().unwrap();
        }
        assert_eq!(other.expect("the quiet tenant got a slot").unwrap(), "done");
    }
}
