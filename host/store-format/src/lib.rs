//! How records are laid out at rest, by every store (sled's values, PostgreSQL's `bytea`
//! columns): the stores' own types, versioned, never the core's, the contract's or the
//! API's. A change to any of those then changes what is stored only through a new version
//! here, which the compiler asks for (the conversions stop compiling)
//! instead of old stores silently failing to decode.
//!
//! Every value starts with its format version byte, then JSON of that version's types
//! (`v1.rs`). Values written before versions were recorded are JSON with no version byte
//! and the same shape as version 1; the decoder reads them as such. A version this build
//! does not know (a newer one) is refused by name, not misread.

mod convert;
mod v1;

use redial_core::records::{
    CaseRecord, DeadLetter, Funnel, IgnoredSignal, JournalEntry, OutboxItem, PluginVersion,
    SealedSecret, TenantCounters, TimerKind, Tombstone, Trial,
};
use redial_core::store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use convert::Convert;

/// The format every value is written in.
const CURRENT: u8 = 1;

/// A domain record and its stored form in each format version.
pub trait Record: Sized {
    /// The record as format version 1 lays it out.
    type V1: Serialize + DeserializeOwned + Convert<Self>;

    /// The record in the current format.
    fn to_current(&self) -> Self::V1;
}

macro_rules! records {
    ($($domain:ty => $v1:ty),* $(,)?) => {
        $(impl Record for $domain {
            type V1 = $v1;

            fn to_current(&self) -> $v1 {
                Convert::convert(self.clone())
            }
        })*
    };
}

records!(
    CaseRecord => v1::CaseRecord,
    JournalEntry => v1::JournalEntry,
    TimerKind => v1::TimerKind,
    OutboxItem => v1::OutboxItem,
    DeadLetter => v1::DeadLetter,
    SealedSecret => v1::SealedSecret,
    IgnoredSignal => v1::IgnoredSignal,
    TenantCounters => v1::TenantCounters,
    PluginVersion => v1::PluginVersion,
    Trial => v1::Trial,
    Funnel => v1::Funnel,
    Tombstone => v1::Tombstone,
);

impl<R: Record + Clone> Record for Vec<R> {
    type V1 = Vec<R::V1>;

    fn to_current(&self) -> Vec<R::V1> {
        self.iter().map(Record::to_current).collect()
    }
}

/// A record in the current format: its version byte, then its JSON.
pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    // Most records are a few hundred bytes to a few KB: start at 1 KiB rather than grow
    // from serde_json's 128 bytes by doubling.
    let mut out = Vec::with_capacity(1024);
    out.push(CURRENT);
    serde_json::to_writer(&mut out, &record.to_current()).expect("records serialize");
    out
}

/// Reads a record written in any format this build knows (`what` names it in errors).
pub fn decode<R: Record>(what: &str, bytes: &[u8]) -> Result<R, StoreError> {
    let json = match bytes.first() {
        Some(1) => &bytes[1..],
        // JSON text: written before formats were versioned, in version 1's shape.
        Some(b'{' | b'[' | b'"') => bytes,
        Some(version) => {
            return Err(StoreError::Decode {
                what: what.to_string(),
                cause: format!(
                    "format version {version} is not one this build reads (it reads 1); \
                     was the store written by a newer Redial?"
                ),
            });
        }
        None => &[],
    };
    let stored: R::V1 = serde_json::from_slice(json).map_err(|e| StoreError::Decode {
        what: what.to_string(),
        cause: e.to_string(),
    })?;
    Ok(stored.convert())
}

#[cfg(test)]
mod tests;
