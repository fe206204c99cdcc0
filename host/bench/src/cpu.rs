//! Where the CPU went during a load run: the on-CPU time of this process's threads, read
//! from `/proc/self/task/*/schedstat` (nanoseconds, Linux) and grouped by thread name. The
//! bench runs its load generator, the server and the fake Vapi in one process, so the
//! split tells what the server itself cost per signal.

use std::collections::HashMap;
use std::time::Duration;

/// Name prefixes of the bench's own threads; every other thread is the server's.
pub const LOAD_THREADS: &str = "bench-client";
/// The fake Vapi's runtime threads.
pub const FAKE_VAPI_THREADS: &str = "fake-vapi";
/// The floor endpoint's runtime threads.
pub const FLOOR_THREADS: &str = "bench-floor";

/// The first field of a `schedstat` file: nanoseconds spent on a CPU.
fn schedstat(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// On-CPU time per thread id, with the thread's name.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(HashMap<u32, (String, Duration)>);

impl Snapshot {
    /// The process's threads now (empty where `/proc` is not available).
    pub fn take() -> Snapshot {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Snapshot::default();
        };
        let read = |tid: u32| -> Option<(String, Duration)> {
            let base = format!("/proc/self/task/{tid}");
            let name = std::fs::read_to_string(format!("{base}/comm")).ok()?;
            Some((
                name.trim().to_string(),
                schedstat(&format!("{base}/schedstat"))?,
            ))
        };
        Snapshot(
            tasks
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter_map(|tid| Some((tid, read(tid)?)))
                .collect(),
        )
    }

    /// CPU used since `earlier`, split into load generator, fake Vapi and server.
    pub fn since(&self, earlier: &Snapshot) -> CpuSplit {
        let mut split = CpuSplit::default();
        for (tid, (name, now)) in &self.0 {
            let before = earlier.0.get(tid).map(|(_, d)| *d).unwrap_or_default();
            let used = now.saturating_sub(before);
            if name.starts_with(LOAD_THREADS) {
                split.load_generator += used;
            } else if name.starts_with(FAKE_VAPI_THREADS) {
                split.fake_vapi += used;
            } else if !name.starts_with(FLOOR_THREADS) {
                split.server += used;
                let group = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
                match split.server_by_thread.iter_mut().find(|(g, _)| g == group) {
                    Some((_, total)) => *total += used,
                    None => split.server_by_thread.push((group.to_string(), used)),
                }
            }
        }
        split
            .server_by_thread
            .sort_by_key(|(_, used)| std::cmp::Reverse(*used));
        split
    }
}

/// CPU time of a run by who used it.
#[derive(Debug, Clone, Default)]
pub struct CpuSplit {
    /// The closed-loop clients.
    pub load_generator: Duration,
    /// The stand-in for Vapi.
    pub fake_vapi: Duration,
    /// Everything else: HTTP, engine, plugins, store, delivery.
    pub server: Duration,
    /// The server's share by thread name (numbered threads of one kind together, such as
    /// `redial-lane` or `sled-io`), most first.
    pub server_by_thread: Vec<(String, Duration)>,
}

impl CpuSplit {
    /// All three.
    pub fn total(&self) -> Duration {
        self.load_generator + self.fake_vapi + self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_is_counted_in_its_group() {
        // Busy until this thread has had `d` of CPU (not of wall time: on a loaded machine
        // a thread may wait for a core most of its wall time).
        let busy = |d: Duration| {
            let on_cpu = || {
                let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
                let ns: u64 = stat.split_whitespace().next().unwrap().parse().unwrap();
                Duration::from_nanos(ns)
            };
            let start = on_cpu();
            let mut x = 0u64;
            while on_cpu() - start < d {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
        };
        let before = Snapshot::take();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
        let exit_rx = std::sync::Arc::new(std::sync::Mutex::new(exit_rx));
        let workers: Vec<_> = [FAKE_VAPI_THREADS, LOAD_THREADS]
            .into_iter()
            .map(|group| {
                let (done_tx, exit_rx) = (done_tx.clone(), exit_rx.clone());
                std::thread::Builder::new()
                    .name(format!("{group}-t"))
                    .spawn(move || {
                        busy(Duration::from_millis(30));
                        done_tx.send(()).unwrap();
                        // Still alive when the second snapshot is taken.
                        let _ = exit_rx.lock().unwrap().recv();
                    })
                    .unwrap()
            })
            .collect();
        done_rx.recv().unwrap();
        done_rx.recv().unwrap();
        let split = Snapshot::take().since(&before);
        drop(exit_tx);
        for w in workers {
            w.join().unwrap();
        }
        assert!(split.fake_vapi >= Duration::from_millis(10), "{split:?}");
        assert!(
            split.load_generator >= Duration::from_millis(10),
            "{split:?}"
        );
    }
}
