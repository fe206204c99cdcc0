//! The `redial` command line. `main.rs` only parses arguments and calls [`run`]; each
//! subcommand lives in its own module and prints its own output.

mod api;
mod bench;
mod caller;
mod demo;
mod plugin;
mod plugin_new;
mod plugin_test;
mod policy;
mod replay;
mod serve;
mod store;
mod trial;

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
    /// Measure: figures printed against a baseline taken in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Act on one caller's data through a running server (erasure).
    #[command(subcommand)]
    Caller(caller::CallerCommand),
    /// Run the whole recovery loop locally on simulated callees and print the results.
    Demo(demo::DemoArgs),
    /// Print the HTTP API's OpenAPI 3.1 document (what `GET /openapi.json` serves), for
    /// client generators that work offline.
    Openapi,
    /// Check, run or test plugin components offline.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Check tenant policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// What a candidate plugin would have decided on a tenant's recorded cases, against the
    /// live decisions (through a running server).
    Replay(replay::ReplayArgs),
    /// Serve the HTTP API and run the loop (sled store, policies/, simulator dialer).
    Serve(serve::ServeArgs),
    /// Back up, restore or rewrite the store.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Try a candidate plugin beside a slot's live one (in shadow, or on a split of
    /// callers), then promote it or end the trial (through a running server).
    #[command(subcommand)]
    Trial(trial::TrialCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench(cmd) => bench::run(cmd),
        Command::Caller(cmd) => caller::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Openapi => {
            println!("{}", redial_server::openapi::document().to_pretty_json()?);
            Ok(())
        }
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Replay(args) => replay::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Store(cmd) => store::run(cmd),
        Command::Trial(cmd) => trial::run(cmd),
    }
}
