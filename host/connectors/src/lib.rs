//! Where side effects leave the host: implementations of the core's
//! [`Connectors`](redial_core::connectors::Connectors) port.
//!
//! - [`Simulator`]: the built-in callee simulator (personas, a ledger file, idempotency by
//!   key), used by the demo, the tests and every channel a tenant leaves on "simulator".
//! - [`ProviderConnectors`]: real providers (Vapi or Retell calls, Twilio SMS, HubSpot v3, Standard
//!   Webhooks), chosen per channel by the tenant's policy, with the simulator behind them.
//! - [`voice`]: [`VoiceProvider`](voice::VoiceProvider), the trait Vapi, Retell and the
//!   simulator all speak, and what a dial asks every provider to extract.
//! - [`webhooks`]: Standard Webhooks signatures (this crate signs; the server verifies).
//!
//! Connectors know nothing of the engine or the store: each item comes with what they may
//! know of its tenant ([`Recipient`](redial_core::connectors::Recipient)).
#![deny(missing_docs)]

mod coalesce;
mod providers;
pub(crate) mod resolver;
pub mod simulator;
pub mod voice;
pub mod webhooks;

pub use providers::{ProviderConnectors, retell, vapi};
pub use resolver::Destinations;
pub use simulator::{Behaviour, LedgerEntry, Persona, Simulator};
