//! What a plugin instance can reach: nothing but its input.
//!
//! Components built for `wasm32-wasip2` import WASI (the Rust standard library does), so
//! the host links WASI but hands every instance a context with no filesystem, no network,
//! no environment, a clock frozen at the epoch and a fixed random stream. Time and all
//! facts arrive in the input; the same input always gives the same decision, which makes
//! plugins replayable. Stderr is kept in a small buffer so a panic message can be
//! attached to the error.

use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
};

/// The data of one call's `Store`.
pub struct Sandbox {
    /// Built on the guest's first WASI call (a panic message writing to stderr, say): the
    /// reference plugins make none in a decision, and a context built up front would be
    /// paid for on every call (`plugin_call` shows it).
    wasi: Option<(WasiCtx, MemoryOutputPipe)>,
    stderr_bytes: usize,
    table: ResourceTable,
    /// Enforces the memory cap and remembers whether it was hit.
    pub(super) memory: MemoryGuard,
}

impl Sandbox {
    /// A locked-down context for one call.
    pub fn new(memory_limit: usize, stderr_bytes: usize) -> Self {
        Sandbox {
            wasi: None,
            stderr_bytes,
            table: ResourceTable::new(),
            memory: MemoryGuard {
                limit: memory_limit,
                exceeded: false,
            },
        }
    }

    /// The WASI context every instance gets: no filesystem, network or environment, a
    /// frozen clock, fixed random streams, and stderr into a small buffer.
    fn locked_down(stderr_bytes: usize) -> (WasiCtx, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(stderr_bytes);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(Deterministic::new(vec![0x5a]))
            .insecure_random(Deterministic::new(vec![0xa5]))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        (wasi, stderr)
    }

    /// What the guest wrote to stderr (lossy UTF-8).
    pub fn stderr(&self) -> String {
        match &self.wasi {
            Some((_, stderr)) => String::from_utf8_lossy(&stderr.contents()).into_owned(),
            None => String::new(),
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, _) = self
            .wasi
            .get_or_insert_with(|| Sandbox::locked_down(self.stderr_bytes));
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the cap and records that it did, so a trap that follows
/// is reported as a memory error rather than a bare "unreachable".
pub struct MemoryGuard {
    limit: usize,
    /// Set once a growth request was refused.
    pub exceeded: bool,
}

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A clock that always reads the unix epoch: plugins get time only from their input.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
