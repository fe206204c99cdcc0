//! Where uploaded components compile: their own queue, apart from the engine-work slots
//! signals use, one compile at a time per server and per tenant, each bounded in time. A
//! tenant uploading in a loop therefore waits on itself: it neither starves the other
//! tenants' signals nor queues ahead of another tenant's upload more than once.

use crate::ApiError;
use redial_core::engine::EngineError;
use redial_runtime::Slot;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Compiles at once, per server: a compile already uses every core it can.
pub const COMPILE_WORKERS: usize = 1;

/// The longest an upload waits for its turn and compiles, in all; past it the upload is
/// refused (503) and the live plugin stays.
pub const COMPILE_BOUND: Duration = Duration::from_secs(60);

/// Uploads a server reads or compiles at once: each holds its body in memory, so this and
/// the size limit bound what uploads take (4 × 64 MiB by default).
pub const UPLOADS_AT_ONCE: usize = 4;

/// The upload queue: shared through the app state.
pub struct CompileQueue {
    /// Held by the compile itself, so one that outlives its request still counts.
    all: Arc<Semaphore>,
    /// Uploads being read or compiled.
    uploads: Arc<Semaphore>,
    /// Tenants with an upload being read, waiting or compiling.
    busy: Mutex<HashSet<String>>,
    /// Each slot's latest upload since the server started, by tenant and slot.
    progress: Mutex<HashMap<(String, Slot), UploadProgress>>,
    bound: Duration,
    max_bytes: usize,
}

/// Where a slot's latest upload is: compiling, live, or failed and why. Kept in memory: a
/// restart ends any compile under way, and the version list then shows what is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    /// sha256 of the uploaded component.
    pub sha256: String,
    /// How far it got.
    pub state: UploadState,
    /// When the upload's body had arrived (unix ms).
    pub started_ms: i64,
    /// When it went live or failed (unix ms).
    pub finished_ms: Option<i64>,
}

/// How far an upload got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    /// Compiling (or waiting for the compile queue).
    Compiling,
    /// Live: the slot switched to it.
    Live,
    /// Refused or not compiled in time; the reason. The slot kept its live plugin.
    Failed(String),
}

impl Default for CompileQueue {
    fn default() -> Self {
        CompileQueue::new(COMPILE_BOUND, crate::MAX_PLUGIN)
    }
}

/// A tenant's claim on the queue, from before its upload's body is read until the upload
/// is done, however it ends.
pub struct Turn {
    queue: Arc<CompileQueue>,
    tenant: String,
    _upload: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.queue.busy.lock().unwrap().remove(&self.tenant);
    }
}

impl CompileQueue {
    /// A queue whose uploads may take `bound` in all and be `max_bytes` long.
    pub fn new(bound: Duration, max_bytes: usize) -> Self {
        CompileQueue {
            all: Arc::new(Semaphore::new(COMPILE_WORKERS)),
            uploads: Arc::new(Semaphore::new(UPLOADS_AT_ONCE)),
            busy: Mutex::default(),
            progress: Mutex::default(),
            bound,
            max_bytes,
        }
    }

    /// The latest upload of `tenant`'s `slot` since the server started, if any.
    pub fn progress(&self, tenant: &str, slot: Slot) -> Option<UploadProgress> {
        let key = (tenant.to_string(), slot);
        self.progress.lock().unwrap().get(&key).cloned()
    }

    /// Notes that an upload of `sha256` for `tenant`'s `slot` arrived and compiles.
    pub fn started(&self, tenant: &str, slot: Slot, sha256: &str, now_ms: i64) {
        let progress = UploadProgress {
            sha256: sha256.to_string(),
            state: UploadState::Compiling,
            started_ms: now_ms,
            finished_ms: None,
        };
        let key = (tenant.to_string(), slot);
        self.progress.lock().unwrap().insert(key, progress);
    }

    /// Notes how the upload of `sha256` for `tenant`'s `slot` ended (a later upload's
    /// record is left as it is).
    pub fn finished(
        &self,
        tenant: &str,
        slot: Slot,
        sha256: &str,
        state: UploadState,
        now_ms: i64,
    ) {
        let key = (tenant.to_string(), slot);
        if let Some(p) = self.progress.lock().unwrap().get_mut(&key)
            && p.sha256 == sha256
            && p.state == UploadState::Compiling
        {
            p.state = state;
            p.finished_ms = Some(now_ms);
        }
    }

    /// The largest component an upload may be.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Claims `tenant`'s turn before its upload's body is read. A second upload of a
    /// tenant while one is under way is refused (429), as is any upload while
    /// [`UPLOADS_AT_ONCE`] others are being read or compiled.
    pub fn claim(self: &Arc<Self>, tenant: &str) -> Result<Turn, ApiError> {
        let busy = || {
            ApiError::rate_limited(
                "another upload of this tenant is compiling; try again when it is done",
                Duration::from_secs(5),
            )
        };
        let upload = self.uploads.clone().try_acquire_owned().map_err(|_| {
            ApiError::rate_limited(
                "the server is taking other uploads; try again shortly",
                Duration::from_secs(5),
            )
        })?;
        if !self.busy.lock().unwrap().insert(tenant.to_string()) {
            return Err(busy());
        }
        Ok(Turn {
            queue: self.clone(),
            tenant: tenant.to_string(),
            _upload: upload,
        })
    }

    /// Runs `compile` (given its deadline) for `tenant` in its turn: [`Self::claim`],
    /// then [`Self::compile`].
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        tenant: &str,
        compile: impl FnOnce(Instant) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = self.claim(tenant)?;
        self.compile(turn, compile).await
    }

    /// Runs `compile` (given its deadline) in the turn `turn` claimed. An upload that
    /// does not finish within the bound is refused (503), and `compile` must then change
    /// nothing.
    pub async fn compile<T: Send + 'static>(
        &self,
        turn: Turn,
        compile: impl FnOnce(Instant) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = turn;
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
        let queue = Arc::new(CompileQueue::new(Duration::from_millis(300), 1 << 20));
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
