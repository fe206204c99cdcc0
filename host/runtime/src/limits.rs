//! The bounds every plugin call runs under, with defaults a host can run with as is.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Per-call limits and pool sizes. Configured once per host (`[runtime]` in the host
/// config); every tenant's plugins share them so one tenant cannot buy itself more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// `deadline_ms`: wall-clock budget of one call, instantiation included. A decision
    /// takes microseconds; anything near this is a runaway loop.
    pub deadline_ms: u64,
    /// `memory_bytes`: cap on a plugin's linear memory.
    pub memory_bytes: usize,
    /// `stack_bytes`: cap on the wasm stack (deep recursion traps instead of crashing).
    pub stack_bytes: usize,
    /// `stderr_bytes`: how much of a plugin's stderr (panic messages) is kept for errors.
    pub stderr_bytes: usize,
    /// `max_concurrent_calls`: instances the pooling allocator keeps slots for.
    pub max_concurrent_calls: u32,
    /// `epoch_tick_ms`: granularity of the deadline clock. 5 ms: a runaway call stops
    /// within one or two ticks past its deadline, and the clock's thread wakes 200 times
    /// a second rather than 1,000 (each wake-up takes a core from a request).
    pub epoch_tick_ms: u64,
    /// `keep_resident_bytes`: how much of each pooled instance's memory stays mapped
    /// between calls (zeroed in place instead of returned to the kernel). A decision
    /// touches well under this, so calls avoid page faults and TLB shootdowns.
    pub keep_resident_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 100,
            memory_bytes: 32 << 20,
            stack_bytes: 512 << 10,
            stderr_bytes: 16 << 10,
            max_concurrent_calls: 64,
            epoch_tick_ms: 5,
            keep_resident_bytes: 2 << 20,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Epoch ticks a call may run before it is interrupted (at least one full tick).
    pub fn deadline_ticks(&self) -> u64 {
        self.deadline_ms.div_ceil(self.epoch_tick_ms.max(1)).max(1) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_tight_but_workable() {
        let l = Limits::default();
        assert_eq!(l.deadline(), Duration::from_millis(100));
        // 20 ticks of 5 ms, plus one: a call never stops before its full deadline.
        assert_eq!(l.deadline_ticks(), 21);
    }

    #[test]
    fn partial_toml_keeps_other_defaults() {
        let l: Limits = toml::from_str("deadline_ms = 5").unwrap();
        assert_eq!(l.deadline_ms, 5);
        assert_eq!(l.memory_bytes, Limits::default().memory_bytes);
        assert!(toml::from_str::<Limits>("deadline = 5").is_err());
    }
}
