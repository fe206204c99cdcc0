//! A step's writes, logged as one record before they are applied: a write-ahead log inside
//! sled, in place of a sled transaction.
//!
//! Why: every sled 0.34 transaction seals and writes sled's I/O buffer twice (its
//! `pin_log` rolls the buffer before and after reserving the batch), so each step cost two
//! log writes, each with a `sync_file_range`, whatever the group commit saved. A single
//! insert is atomic in sled, and after a crash sled recovers a prefix of its log (recovery
//! stops at the first torn message). So a step inserts the record of all its writes first,
//! then applies them with plain inserts; the record is removed once a flush has made the
//! writes durable. A crash in between leaves the record, and [`super::SledStore::open`] applies
//! it again: every write sets or removes a whole value, so applying it twice is harmless.
//!
//! A record is applied again only with the records after it that write the same keys:
//! steps of one tenant, the only ones that do, are ordered by the tenant lock, and records
//! are removed in the order their steps applied, one flush's batch after another's. So a
//! surviving record's successors survive too (sled recovers a prefix), and replaying them
//! in order ends on the newest values. If a removal fails, the store stops taking steps
//! rather than remove later records out of order.

use super::StoreError;
use serde::{Deserialize, Serialize};

/// The trees a step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum TreeId {
    Cases,
    Journal,
    Timers,
    Outbox,
    /// The open-case index of earlier versions, kept so their records still decode and
    /// replay (the variants are encoded by position).
    Open,
    Optout,
    Ignored,
    Counters,
    Meta,
    Inbound,
    ByCaller,
    DeadLetters,
    Rollups,
}

/// Every write of one step, in order: `(tree, key, Some(value))` sets a key, `None`
/// removes it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct WriteSet {
    writes: Vec<Write>,
}

/// One write. Keys and values are byte strings to serde (`serde_bytes`), so postcard copies
/// them whole instead of pushing one `u8` at a time; the encoding is the same either way,
/// so records logged by earlier versions still decode.
#[derive(Debug, Serialize, Deserialize)]
struct Write(
    TreeId,
    #[serde(with = "serde_bytes")] Vec<u8>,
    #[serde(with = "serde_bytes")] Option<Vec<u8>>,
);

impl WriteSet {
    /// Sets `key` in `tree`.
    pub fn insert(&mut self, tree: TreeId, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes
            .push(Write(tree, key.into(), Some(value.into())));
    }

    /// Removes `key` from `tree`.
    pub fn remove(&mut self, tree: TreeId, key: impl Into<Vec<u8>>) {
        self.writes.push(Write(tree, key.into(), None));
    }

    /// The writes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (TreeId, &[u8], Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|Write(t, k, v)| (*t, k.as_slice(), v.as_deref()))
    }

    /// The record logged for these writes (compact binary: it is written on every step).
    pub fn encode(&self) -> Vec<u8> {
        // Sized up front: a length prefix and a tag per write, besides the bytes.
        let size: usize = self
            .writes
            .iter()
            .map(|Write(_, k, v)| 16 + k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        postcard::to_extend(self, Vec::with_capacity(size + 8)).expect("a write set serializes")
    }

    /// Reads a logged record back.
    pub fn decode(bytes: &[u8]) -> Result<WriteSet, StoreError> {
        postcard::from_bytes(bytes).map_err(|e| StoreError::Decode {
            what: "write-ahead record".into(),
            cause: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_the_same_writes_in_order() {
        let mut w = WriteSet::default();
        w.insert(TreeId::Cases, b"t-1".to_vec(), b"{}".to_vec());
        w.remove(TreeId::Timers, b"old".to_vec());
        w.insert(TreeId::Cases, b"t-1".to_vec(), b"{\"v\":2}".to_vec());
        let back = WriteSet::decode(&w.encode()).unwrap();
        let writes: Vec<_> = back.iter().collect();
        assert_eq!(
            writes,
            vec![
                (TreeId::Cases, &b"t-1"[..], Some(&b"{}"[..])),
                (TreeId::Timers, &b"old"[..], None),
                (TreeId::Cases, &b"t-1"[..], Some(&b"{\"v\":2}"[..])),
            ]
        );
    }

    #[test]
    fn a_record_logged_before_keys_were_byte_strings_still_decodes() {
        // How earlier versions encoded a record: plain tuples of byte vectors.
        type Old = Vec<(TreeId, Vec<u8>, Option<Vec<u8>>)>;
        let old: Old = vec![
            (TreeId::Cases, b"t-1".to_vec(), Some(b"{}".to_vec())),
            (TreeId::Timers, b"old".to_vec(), None),
        ];
        let bytes = postcard::to_allocvec(&old).unwrap();
        let mut now = WriteSet::default();
        now.insert(TreeId::Cases, b"t-1".to_vec(), b"{}".to_vec());
        now.remove(TreeId::Timers, b"old".to_vec());
        assert_eq!(now.encode(), bytes);
        let back: Vec<_> = WriteSet::decode(&bytes)
            .unwrap()
            .iter()
            .map(|(t, k, v)| (t, k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(back, old);
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let err = WriteSet::decode(&[0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().contains("write-ahead record"), "{err}");
    }
}
