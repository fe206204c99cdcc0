//! The `redial` command line and the `redial demo` scenario, on top of the layered crates:
//! `redial-runtime` (plugins), `redial-core` (the loop), `redial-store-sled`,
//! `redial-connectors`, `redial-server` (HTTP and the app builder) and `redial-bench`.
//!
//! # Layout
//! - [`cli`]: one module per subcommand; `main.rs` only sets up logging and calls it.
//! - [`demo`]: the `redial demo` scenario (tenants, personas, scripted signals) and its
//!   driver on a simulated clock.
#![deny(missing_docs)]

pub mod cli;
pub mod demo;
