//! Redial: the missed-call recovery loop, with every business decision made by a tenant's
//! WebAssembly plugin.
//!
//! # Layout
//! - [`runtime`]: loads plugin components and runs each decision in a fresh, bounded
//!   sandbox (deadline, memory and stack caps), compiled once per content hash.
//! - [`api`]: the HTTP API (axum): webhooks, queries, admin, health.
//! - [`bench`]: loopback benchmarks of the server.
//! - [`policy`]: tenant policies (TOML) checked into structs, and the pilot sheet.
//! - [`engine`]: the recovery loop and the guarantees the host enforces.
//! - [`store`]: the durable sled store (cases, journals, timers, outbox) and its steps.
//! - [`connectors`]: where side effects go; the built-in call simulator.
//! - [`demo`]: the `redial demo` scenario and driver.
//! - [`report`]: timelines and funnels.
//! - [`scheduler`]: drives deliveries and timers (simulated time for the demo and tests).
//! - [`watch`]: reloads tenant policies when their files change.
//! - [`clock`]: injectable time.
//! - [`builtin`]: where the plugins built from `plugins/` live, for the CLI and tests.
//! - [`cli`]: the `redial` command line (the binary is a thin wrapper around it).
//!
//! The policy contract itself is the WIT package in `wit/`; its plain Rust form is the
//! `redial-sdk` crate, which the host and the plugins share.
#![deny(missing_docs)]

pub mod api;
pub mod bench;
pub mod builtin;
pub mod cli;
pub mod clock;
pub mod connectors;
pub mod demo;
pub mod engine;
pub mod policy;
pub mod report;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod watch;
