//! `redial caller erase`: a caller's erasure through a running server.

use anyhow::Result;
use clap::Subcommand;

/// Caller subcommands.
#[derive(Debug, Subcommand)]
pub enum CallerCommand {
    /// Erase everything a tenant holds on a number and print the receipt (an opt-out stays
    /// as a keyed hash, so they are still not called).
    Erase {
        /// The number, E.164 (`+15125550111`).
        number: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The running server (its admin token in `REDIAL_ADMIN_TOKEN`).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
}

/// Runs a caller subcommand.
pub fn run(cmd: CallerCommand) -> Result<()> {
    match cmd {
        CallerCommand::Erase {
            number,
            tenant,
            server,
        } => {
            let encoded = number.replace('+', "%2B");
            let path = format!("/v1/tenants/{tenant}/callers/{encoded}");
            let receipt = super::api::call(&server, "DELETE", &path, None)?;
            println!("{}", serde_json::to_string_pretty(&receipt)?);
        }
    }
    Ok(())
}
