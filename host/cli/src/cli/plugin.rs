//! `redial plugin check|run`: let policy authors validate and try a plugin without a server.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use redial_builtin as builtin;
use redial_runtime::{CallCost, Plugin, PluginRuntime, RuntimeConfig, Slot};
use redial_sdk::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component: prints its slot, WIT version, size and compile time.
    Check {
        /// Component file, or the name of a plugin built from `plugins/`.
        plugin: String,
        /// The slot it must fill (default: the one it exports).
        #[arg(long)]
        slot: Option<Slot>,
    },
    /// Run one call offline and print the decision as JSON with its cost.
    Run(RunArgs),
}

/// Arguments of `redial plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Component file, or the name of a plugin built from `plugins/`.
    plugin: String,
    /// The slot to call.
    #[arg(long)]
    slot: Slot,
    /// JSON input for the slot (see `plugins/examples/`).
    #[arg(long)]
    input: PathBuf,
    /// The plugin's config table as TOML (what a tenant policy would give it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// For the qualify slot: which function (default: `evaluate` if the input has answers).
    #[arg(long, value_enum)]
    call: Option<QualifyCall>,
    /// Tenant-specific reason codes to accept from `evaluate` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    reason_codes: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum QualifyCall {
    Script,
    Evaluate,
}

/// Runs a plugin subcommand.
pub fn run(cmd: PluginCommand) -> Result<()> {
    match cmd {
        PluginCommand::Check { plugin, slot } => check(&plugin, slot),
        PluginCommand::Run(args) => call(args),
    }
}

fn runtime() -> Result<PluginRuntime> {
    Ok(PluginRuntime::new(RuntimeConfig::default())?)
}

fn load(runtime: &PluginRuntime, arg: &str, slot: Option<Slot>) -> Result<std::sync::Arc<Plugin>> {
    let path = builtin::resolve(arg);
    Ok(runtime.load_file(&path, slot)?)
}

fn check(arg: &str, slot: Option<Slot>) -> Result<()> {
    let plugin = load(&runtime()?, arg, slot)?;
    // A second runtime has not compiled it yet, so it shows what an upload waits for.
    let bytes = std::fs::read(builtin::resolve(arg))?;
    let quick = runtime()?.load_quick(&plugin.id.name, &bytes, Some(plugin.slot))?;
    println!("plugin   {}", plugin.id);
    println!("sha256   {}", plugin.id.hash);
    println!("slot     {}", plugin.slot);
    println!("wit      redial:policy@{}", plugin.version);
    println!("size     {} bytes", plugin.size);
    println!(
        "compile  {:.1} ms optimised (cranelift); {:.1} ms quick (winch, what an upload waits for)",
        plugin.compile_time.as_secs_f64() * 1e3,
        quick.compile_time.as_secs_f64() * 1e3
    );
    println!("ok");
    Ok(())
}

#[derive(Serialize)]
struct RunOutput<T> {
    plugin: String,
    slot: Slot,
    decision: T,
    cost: CallCost,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid input for this slot", path.display()))
}

/// The plugin's TOML config as the JSON text the contract carries.
fn config_json(path: Option<&Path>) -> Result<Option<String>> {
    let Some(path) = path else { return Ok(None) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    Ok(Some(serde_json::to_string(&table)?))
}

fn print<T: Serialize>(plugin: &Plugin, decision: T, cost: CallCost) -> Result<()> {
    let out = RunOutput {
        plugin: plugin.id.to_string(),
        slot: plugin.slot,
        decision,
        cost,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn call(args: RunArgs) -> Result<()> {
    let runtime = runtime()?;
    let plugin = load(&runtime, &args.plugin, Some(args.slot))?;
    let config = config_json(args.config.as_deref())?;
    let with_config = |existing: &mut String| {
        if let Some(c) = &config {
            existing.clone_from(c);
        }
    };
    match args.slot {
        Slot::Trigger => {
            let mut input: TriggerInput = read_json(&args.input)?;
            with_config(&mut input.config);
            let d = runtime.trigger(&plugin, input)?;
            print(&plugin, d.value, d.cost)
        }
        Slot::Cadence => {
            let mut input: CadenceInput = read_json(&args.input)?;
            with_config(&mut input.config);
            let d = runtime.cadence(&plugin, input)?;
            print(&plugin, d.value, d.cost)
        }
        Slot::Qualify => {
            let raw: serde_json::Value = read_json(&args.input)?;
            let which = args.call.unwrap_or(if raw.get("answers").is_some() {
                QualifyCall::Evaluate
            } else {
                QualifyCall::Script
            });
            match which {
                QualifyCall::Script => {
                    let mut input: ScriptInput =
                        serde_json::from_value(raw).context("not a valid script input")?;
                    with_config(&mut input.config);
                    let d = runtime.script(&plugin, input)?;
                    print(&plugin, d.value, d.cost)
                }
                QualifyCall::Evaluate => {
                    let mut input: EvaluateInput =
                        serde_json::from_value(raw).context("not a valid evaluate input")?;
                    with_config(&mut input.config);
                    let d = runtime.evaluate(&plugin, input, &args.reason_codes)?;
                    print(&plugin, d.value, d.cost)
                }
            }
        }
        Slot::Crm => {
            let mut input: CrmInput = read_json(&args.input)?;
            with_config(&mut input.config);
            let d = runtime.crm(&plugin, input)?;
            print(&plugin, d.value, d.cost)
        }
    }
}
