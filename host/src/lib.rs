//! Redial: the missed-call recovery loop, with every business decision made by a tenant's
//! WebAssembly plugin.
//!
//! # Layout
//! - [`runtime`]: loads plugin components and runs each decision in a fresh, bounded
//!   sandbox (deadline, memory and stack caps), compiled once per content hash.
//! - [`builtin`]: where the plugins built from `plugins/` live, for the CLI and tests.
//! - [`cli`]: the `redial` command line (the binary is a thin wrapper around it).
//!
//! The policy contract itself is the WIT package in `wit/`; its plain Rust form is the
//! `redial-sdk` crate, which the host and the plugins share.
#![deny(missing_docs)]

pub mod builtin;
pub mod cli;
pub mod runtime;
