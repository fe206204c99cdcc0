//! The receipt of a caller's erasure.

use redial_core::engine;
use serde::Serialize;
use utoipa::ToSchema;

/// What an erasure removed. Erasing a number the tenant holds nothing on answers with
/// every count zero.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// The tenant.
    pub tenant: String,
    /// The cases removed, by id.
    pub cases: Vec<String>,
    /// Journal entries removed with them.
    pub journal_entries: u64,
    /// Side effects not yet delivered, removed (a dial or message not yet sent is not
    /// sent).
    pub outbox_items: u64,
    /// Dead letters removed.
    pub dead_letters: u64,
    /// Signals of this caller that started no case, removed.
    pub ignored_signals: u64,
    /// The caller had opted out: the opt-out stays, as a keyed hash that holds no readable
    /// number, so they are still not called.
    pub suppression_kept: bool,
    /// The store's files were rewritten before this answer: the number is in none of them.
    pub files_rewritten: bool,
    /// When not yet: the time (unix ms) by which they will have been (rewrites are spaced
    /// out, and one covers every erasure before it).
    pub files_rewritten_by_ms: Option<i64>,
}

impl ErasureReceipt {
    /// The receipt of `tenant`'s erasure.
    pub fn new(tenant: String, e: engine::Erasure) -> Self {
        ErasureReceipt {
            tenant,
            cases: e.cases,
            journal_entries: e.journal_entries,
            outbox_items: e.outbox_items,
            dead_letters: e.dead_letters,
            ignored_signals: e.ignored_signals,
            suppression_kept: e.suppression_kept,
            files_rewritten: e.files_rewritten,
            files_rewritten_by_ms: e.files_rewritten_by_ms,
        }
    }
}
