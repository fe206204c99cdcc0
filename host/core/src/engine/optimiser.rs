//! Background recompilation of uploads that went live on quick (Winch) code: one worker
//! thread takes them in order, compiles each with Cranelift, and swaps the result in only
//! if that upload is still the slot's live plugin. An upload superseded meanwhile is
//! skipped, so a burst of uploads costs one optimised compile, not one each.

use super::Engine;
use redial_runtime::Plugin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, Weak};

/// An upload running on quick code, with the bytes to compile it again.
pub(super) struct Job {
    pub tenant: String,
    pub quick: Arc<Plugin>,
    pub bytes: Vec<u8>,
}

/// The queue to the worker, started with the first job; the worker ends with the engine.
#[derive(Default)]
pub(super) struct Optimiser {
    queue: Mutex<Option<Sender<Job>>>,
}

impl Optimiser {
    /// Queues `job` for `engine`'s worker (starting it if needed).
    pub(super) fn submit(&self, engine: &Arc<Engine>, job: Job) {
        let mut queue = self.queue.lock().unwrap();
        let sender = queue.get_or_insert_with(|| {
            let (tx, rx) = channel();
            let weak = Arc::downgrade(engine);
            std::thread::Builder::new()
                .name("redial-optimiser".into())
                .spawn(move || work(weak, rx))
                .expect("spawn the optimiser thread");
            tx
        });
        if let Err(lost) = sender.send(job) {
            tracing::warn!(tenant = %lost.0.tenant, plugin = %lost.0.quick.id, "optimiser gone; the upload stays on quick code");
        }
    }
}

fn work(engine: Weak<Engine>, jobs: Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        // Holding the engine only while working lets it drop between jobs.
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.optimise(job);
    }
}
