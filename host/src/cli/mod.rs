//! The `redial` command line. `main.rs` only parses arguments and calls [`run`]; each
//! subcommand lives in its own module and prints its own output.

mod plugin;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The redial command line.
#[derive(Debug, Parser)]
#[command(
    name = "redial",
    version,
    about = "Missed-call recovery loop with WebAssembly tenant policies"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check or run plugin components offline.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plugin(cmd) => plugin::run(cmd),
    }
}
