//! The core of Redial: the recovery loop and every guarantee the host owes a tenant, with
//! no knowledge of HTTP, of sled, or of any provider's wire format.
//!
//! # Layout
//! - [`policy`]: tenant policies (TOML) checked into structs once, the calling window, the
//!   pilot sheet.
//! - [`engine`]: the loop (`flows/`), the per-tenant lock, circuit breakers, plugin
//!   swaps, and the delivery lanes that drain the outbox.
//! - [`records`]: the domain records the engine reads and writes (cases, journal events,
//!   timers, outbox effects, counters).
//! - [`store`]: the port the engine persists through: one atomic [`store::Step`] per change,
//!   and the queries it needs. `redial-store-sled` implements it.
//! - [`connectors`]: the port side effects leave through. `redial-connectors` implements
//!   it (the simulator and real providers).
//! - [`scheduler`]: drives timers and deliveries on a simulated clock (the demo, tests).
//! - [`report`]: a case's timeline and a tenant's funnel, for people to read.
//! - [`clock`]: injectable time.
//!
//! Plugins are called through `redial-runtime`; the core never sees generated bindings,
//! only `redial-sdk`'s plain contract types.
#![deny(missing_docs)]

pub mod clock;
pub mod connectors;
pub mod engine;
pub mod policy;
pub mod records;
pub mod report;
pub mod scheduler;
pub mod secrets;
pub mod store;
