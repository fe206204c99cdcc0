//! Outbox items as they are committed, for the one consumer that asked for them (the
//! server's dispatcher): it hands new items to the delivery lanes without scanning the
//! whole outbox on every pass, a scan that grows with the backlog exactly when the server
//! is busiest. Every backend keeps its list with this ([`Store::take_new_effects`]).
//!
//! [`Store::take_new_effects`]: super::Store::take_new_effects

use crate::records::OutboxItem;
use std::sync::Mutex;

/// More new items than this, not yet taken, and the list is dropped: the consumer falls
/// back to one scan of the outbox instead of the store holding an unbounded copy.
const MAX_PENDING: usize = 65_536;

/// The list of new items (off until someone tracks them).
#[derive(Debug, Default)]
pub struct NewEffects(Mutex<Pending>);

#[derive(Debug, Default)]
struct Pending {
    tracking: bool,
    overflowed: bool,
    items: Vec<(u64, OutboxItem)>,
}

impl NewEffects {
    /// Starts recording; until the first take, the consumer must scan the outbox.
    pub fn track(&self) {
        let mut p = self.0.lock().unwrap();
        p.tracking = true;
        p.overflowed = true;
    }

    /// Records a step's items, once their writes have applied.
    pub fn record(&self, items: impl IntoIterator<Item = (u64, OutboxItem)>) {
        let mut p = self.0.lock().unwrap();
        if !p.tracking || p.overflowed {
            return;
        }
        p.items.extend(items);
        if p.items.len() > MAX_PENDING {
            p.items = Vec::new();
            p.overflowed = true;
        }
    }

    /// The items recorded since the last take, in commit order; `None` when some were
    /// not recorded (not tracking, just started, or overflowed): then scan the outbox.
    pub fn take(&self) -> Option<Vec<(u64, OutboxItem)>> {
        let mut p = self.0.lock().unwrap();
        let items = std::mem::take(&mut p.items);
        if !p.tracking || std::mem::replace(&mut p.overflowed, false) {
            return None;
        }
        Some(items)
    }
}
