//! Connectors: how side effects leave the host. The engine hands each outbox item to
//! [`Connectors::deliver`] and never knows whether a simulator or a real provider is on the
//! other side.

mod coalesce;
mod providers;
pub(crate) mod resolver;
pub mod simulator;

pub use providers::{ProviderConnectors, hubspot_lookup};
pub use simulator::{Behaviour, LedgerEntry, Persona, Simulator};

use crate::store::OutboxItem;
use redial_sdk::{Answer, AttemptOutcome};

/// A connector could not deliver (the item stays in the outbox and is retried).
#[derive(Debug, thiserror::Error)]
#[error("{connector}: {message}")]
pub struct ConnectorError {
    /// Which connector.
    pub connector: String,
    /// What happened.
    pub message: String,
}

/// How a finished call went, as a voice provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallReport {
    /// The outcome.
    pub outcome: AttemptOutcome,
    /// The answers to the script's questions.
    pub answers: Vec<Answer>,
    /// The transcript.
    pub transcript: Option<String>,
    /// The customer asked not to be called again.
    pub opt_out: bool,
}

/// What delivering an item produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Done; nothing comes back.
    Done,
    /// A call was placed and has already ended (the simulator answers at once).
    CallEnded(CallReport),
    /// A call was placed; its report arrives later by webhook.
    CallPlaced {
        /// The provider's call id.
        provider_id: String,
    },
}

/// Delivers side effects. Implementations must treat the item's key as an idempotency
/// key: a redelivered item must not act twice.
pub trait Connectors: Send + Sync {
    /// Delivers one item.
    fn deliver(&self, item: &OutboxItem) -> Result<Delivery, ConnectorError>;
}
