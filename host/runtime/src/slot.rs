//! The four policy slots and how a component's exports name them.

use std::fmt;
use std::str::FromStr;

/// The WIT package versions this host can load, oldest first. A plugin built against any
/// of them works: `bindings.rs` has one module per version.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0", CONTRACT_VERSION];

/// The newest contract version: what `redial-sdk` and the reference plugins build against,
/// and what a policy compiled into the host speaks.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// One of the four places in the recovery loop where a tenant's plugin decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Signal in: ignore or recover.
    Trigger,
    /// When to call, fall back or give up.
    Cadence,
    /// The call script and the reading of the answers.
    Qualify,
    /// Disposition to CRM operations.
    Crm,
}

impl Slot {
    /// Every slot, in loop order.
    pub const ALL: [Slot; 4] = [Slot::Trigger, Slot::Cadence, Slot::Qualify, Slot::Crm];

    /// The slot's name in policies, CLI flags and errors.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Trigger => "trigger",
            Slot::Cadence => "cadence",
            Slot::Qualify => "qualify",
            Slot::Crm => "crm",
        }
    }

    /// The interface a component must export to fill this slot.
    pub fn interface(self) -> &'static str {
        match self {
            Slot::Trigger => "trigger-policy",
            Slot::Cadence => "cadence-policy",
            Slot::Qualify => "qualify-policy",
            Slot::Crm => "crm-policy",
        }
    }

    /// Reads an export name such as `redial:policy/trigger-policy@0.1.0` into the slot and
    /// the WIT version it was built against.
    pub fn from_export(name: &str) -> Option<(Slot, String)> {
        let rest = name.strip_prefix("redial:policy/")?;
        let (iface, version) = rest.split_once('@')?;
        let slot = Slot::ALL.into_iter().find(|s| s.interface() == iface)?;
        Some((slot, version.to_string()))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A slot is written as its name wherever it is serialised (CLI output, API answers).
impl serde::Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FromStr for Slot {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Slot::ALL
            .into_iter()
            .find(|slot| slot.name() == s)
            .ok_or_else(|| format!("unknown slot {s:?}: expected trigger, cadence, qualify or crm"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_map_to_slots_and_versions() {
        assert_eq!(
            Slot::from_export("redial:policy/qualify-policy@0.1.0"),
            Some((Slot::Qualify, "0.1.0".into()))
        );
        assert_eq!(Slot::from_export("wasi:cli/run@0.2.0"), None);
        assert_eq!(Slot::from_export("redial:policy/types@0.1.0"), None);
    }

    #[test]
    fn slot_names_round_trip() {
        for slot in Slot::ALL {
            assert_eq!(slot.name().parse::<Slot>(), Ok(slot));
        }
        assert!("dialer".parse::<Slot>().unwrap_err().contains("dialer"));
    }
}
