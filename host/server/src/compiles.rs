//! Where uploaded components compile: their own queue, apart from the engine-work slots
//! signals use, one compile at a time per server and per tenant, each bounded in time. A
//! tenant uploading in a loop therefore waits on itself: it neither starves the other
//! tenants' signals nor queues ahead of another tenant's upload more than once.

use crate::ApiError;
use redial_core::engine::EngineError;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Compiles at once, per server: a compile already uses every core it can.
pub const COMPILE_WORKERS: usize = 1;

/// The longest an upload waits for its turn and compiles, in all; past it the upload is
/// refused (503) and the live plugin stays.
pub const COMPILE_BOUND: Duration = Duration::from_secs(60);

/// The upload queue: shared through the app state.
pub struct CompileQueue {
    /// Held by the compile itself, so one that outlives its request still counts.
    all: Arc<Semaphore>,
    /// Tenants with an upload waiting or compiling.
    busy: Mutex<HashSet<String>>,
    bound: Duration,
}

impl Default for CompileQueue {
    fn default() -> Self {
        CompileQueue::new(COMPILE_BOUND)
    }
}

/// Takes a tenant off the busy list when its upload is done, however it ends.
struct Turn<'a> {
    queue: &'a CompileQueue,
    tenant: String,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.queue.busy.lock().unwrap().remove(&self.tenant);
    }
}

impl CompileQueue {
    /// A queue whose uploads may take `bound` in all.
    pub fn new(bound: Duration) -> Self {
        CompileQueue {
            all: Arc::new(Semaphore::new(COMPILE_WORKERS)),
            busy: Mutex::default(),
            bound,
        }
    }

    /// Runs `compile` (given its deadline) for `tenant` in its turn. A second upload of a
    /// tenant while one is under way is refused (429); an upload that does not finish
    /// within the bound is refused (503), and `compile` must then change nothing.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        compile: impl FnOnce(Instant) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if !self.busy.lock().unwrap().insert(tenant.to_string()) {
            return Err(ApiError::rate_limited(
                "another upload of this tenant is compiling; try again when it is done",
                Duration::from_secs(5),
            ));
        }
        let _turn = Turn {
            queue: self,
            tenant: tenant.to_string(),
        };
        let deadline = Instant::now() + self.bound;
        let too_slow = || {
            ApiError::busy(
                format!(
                    "the upload did not compile within {} s; the live plugin stays",
                    self.bound.as_secs()
                ),
                Duration::from_secs(30),
            )
        };
        let work = async {
            let permit = self
                .all
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                compile(deadline)
            })
            .await
        };
        match tokio::time::timeout_at(deadline.into(), work).await {
            Ok(Ok(result)) => result.map_err(ApiError::from),
            Ok(Err(join)) => Err(ApiError::internal(join)),
            Err(_) => Err(too_slow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_upload_per_tenant_at_a_time_and_none_past_the_bound() {
        let queue = Arc::new(CompileQueue::new(Duration::from_millis(300)));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let slow = {
            let queue = queue.clone();
            tokio::spawn(async move {
                queue
                    .run("noisy", move |deadline| {
                        started_tx.send(()).unwrap();
                        std::thread::sleep(Duration::from_millis(500));
                        Ok(Instant::now() > deadline)
                    })
                    .await
            })
        };
        started_rx.recv().unwrap();
        let again = queue.run("noisy", |_| Ok(false)).await.unwrap_err();
        assert_eq!(again.status().as_u16(), 429, "one at a time per tenant");
        let refused = slow.await.unwrap().unwrap_err();
        assert_eq!(refused.status().as_u16(), 503, "past the bound");
        // The compile that outlived its request still held the queue: the next one ran
        // after it, and knew its own deadline.
        let past_deadline = queue.run("quiet", |deadline| Ok(Instant::now() > deadline));
        assert!(!past_deadline.await.unwrap());
    }
}
