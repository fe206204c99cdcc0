//! A tenant's dead letters: side effects the host stopped retrying.

use redial_core::records;
use serde::Serialize;
use utoipa::ToSchema;

/// One side effect whose delivery kept failing. Its content (numbers, texts, CRM data)
/// stays in the host; the case's journal shows what it was for.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    /// Its id: retry or discard it by this.
    #[schema(example = 7_340_032)]
    pub id: u64,
    /// The case it belongs to.
    pub case: String,
    /// Its idempotency key (a retry sends it under the same key).
    pub key: String,
    /// What it is: `dial`, `sms`, `crm`, `handoff` or `escalation`.
    pub effect: String,
    /// Deliveries tried.
    pub failures: u32,
    /// The last failure, as the provider or the connection reported it.
    pub error: String,
    /// When it was set aside (unix ms).
    pub at_ms: i64,
}

impl From<&records::DeadLetter> for DeadLetter {
    fn from(d: &records::DeadLetter) -> Self {
        DeadLetter {
            id: d.id,
            case: d.item.case_id.clone(),
            key: d.item.key.clone(),
            effect: d.item.effect.name().to_string(),
            failures: d.failures,
            error: d.error.clone(),
            at_ms: d.at_ms,
        }
    }
}

/// A tenant's dead letters, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// The tenant.
    pub tenant: String,
    /// Its dead letters.
    pub dead_letters: Vec<DeadLetter>,
}

/// What became of a dead letter.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterSettled {
    /// The dead letter.
    pub id: u64,
    /// `retried` (back in the outbox, delivered again shortly) or `discarded`.
    #[schema(example = "retried")]
    pub action: String,
}
