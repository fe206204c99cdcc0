//! The port side effects leave the host through. The engine hands each outbox item to
//! [`Connectors::deliver`] and never knows whether a simulator or a real provider is on the
//! other side; `redial-connectors` holds both.

use crate::policy::Policy;
use crate::records::OutboxItem;
use redial_sdk::{Answer, AttemptOutcome, Field};
use std::time::Duration;

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
    /// A looked-up call has not ended yet.
    CallRunning,
}

/// What a connector may know, beyond the item itself, when it delivers: the item's tenant
/// as the engine has it loaded now. Connectors get this from the engine with each item, so
/// they never hold the engine or read the store themselves.
pub struct Recipient<'a> {
    /// The tenant's live policy (its connector choices and settings). Items of a tenant
    /// that no longer serves never reach a connector: the engine drops them, journalled.
    pub policy: &'a Policy,
    /// Looks up the caller of a case (a connector that lost its own memory of a case, after
    /// a restart, finds the caller's CRM records again by number).
    pub caller_of: &'a dyn Fn(&str) -> Option<String>,
}

/// Delivers side effects, and asks a tenant's CRM what it knows about a caller.
/// Implementations must treat an item's key as an idempotency key: a redelivered item must
/// not act twice.
pub trait Connectors: Send + Sync {
    /// Delivers one item.
    fn deliver(&self, item: &OutboxItem, to: &Recipient<'_>) -> Result<Delivery, ConnectorError>;

    /// Where an item of a tenant with `policy` goes (a provider and its host), so the
    /// delivery lanes can keep one provider that hangs from holding every lane; `None`
    /// when it does not leave the host (the simulator).
    fn route(&self, _item: &OutboxItem, _policy: &Policy) -> Option<String> {
        None
    }

    /// Whether the tenant's CRM can be asked about callers ([`Connectors::caller_context`]);
    /// cheap, so a signal pays for the lookup only where there is one.
    fn knows_callers(&self, _policy: &Policy) -> bool {
        false
    }

    /// What the tenant's CRM knows about `caller` (name, lifecycle stage, open deals, last
    /// note), as context fields for the call script; empty when nothing is found, the CRM
    /// fails, or `within` runs out.
    fn caller_context(&self, _policy: &Policy, _caller: &str, _within: Duration) -> Vec<Field> {
        Vec::new()
    }
}
