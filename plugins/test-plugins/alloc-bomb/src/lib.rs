//! Test-only crm plugin that allocates without bound: the host's memory cap must stop it.
use redial_sdk::{CrmInput, CrmOperation, CrmPlugin};

/// The plugin type exported as the component.
pub struct AllocBomb;

impl CrmPlugin for AllocBomb {
    fn operations(_input: CrmInput) -> Result<Vec<CrmOperation>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

redial_sdk::export_crm!(wit: "../../../wit", plugin: crate::AllocBomb);
