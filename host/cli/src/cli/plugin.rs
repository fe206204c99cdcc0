//! `redial plugin check|run|test|new`: let policy authors start, validate, try and test a
//! plugin without a server (`test` is in `plugin_test.rs`, `new` in `plugin_new.rs`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use redial_builtin as builtin;
use redial_runtime::{CallCost, Plugin, PluginRuntime, Request, RuntimeConfig, Slot};
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
    /// Run a plugin on cases (an input and the decision expected) and print a pass/fail
    /// table; exits non-zero when any case fails.
    Test(super::plugin_test::TestArgs),
    /// Write a new plugin project for a slot: an example decision, a test case, a README,
    /// and everything it needs to build on its own.
    New(super::plugin_new::NewArgs),
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
pub(crate) enum QualifyCall {
    Script,
    Evaluate,
}

/// Runs a plugin subcommand.
pub fn run(cmd: PluginCommand) -> Result<()> {
    match cmd {
        PluginCommand::Check { plugin, slot } => check(&plugin, slot),
        PluginCommand::Run(args) => call(args),
        PluginCommand::Test(args) => super::plugin_test::run(args),
        PluginCommand::New(args) => super::plugin_new::run(args),
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
struct RunOutput {
    plugin: String,
    slot: Slot,
    decision: serde_json::Value,
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

fn print(plugin: &Plugin, decision: serde_json::Value, cost: CallCost) -> Result<()> {
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
    let input: serde_json::Value = read_json(&args.input)?;
    let which = Call::of(args.slot, &input, args.call);
    let (decision, cost) = decide(&runtime, &plugin, which, input, config, &args.reason_codes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    print(&plugin, decision, cost)
}

/// One plugin function, as the cases of `redial plugin test` and `run` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Call {
    Trigger,
    Cadence,
    Script,
    Evaluate,
    Crm,
}

impl Call {
    /// The function a slot's input goes to: for qualify, `evaluate` when the input has
    /// answers, else `script`, unless `asked` says which.
    pub(crate) fn of(slot: Slot, input: &serde_json::Value, asked: Option<QualifyCall>) -> Call {
        match slot {
            Slot::Trigger => Call::Trigger,
            Slot::Cadence => Call::Cadence,
            Slot::Crm => Call::Crm,
            Slot::Qualify => match asked {
                Some(QualifyCall::Script) => Call::Script,
                Some(QualifyCall::Evaluate) => Call::Evaluate,
                None if input.get("answers").is_some() => Call::Evaluate,
                None => Call::Script,
            },
        }
    }

    /// The slot whose plugin makes this call.
    pub(crate) fn slot(self) -> Slot {
        match self {
            Call::Trigger => Slot::Trigger,
            Call::Cadence => Slot::Cadence,
            Call::Script | Call::Evaluate => Slot::Qualify,
            Call::Crm => Slot::Crm,
        }
    }
}

/// Why a call could not be made or did not decide.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecideError {
    /// The input is not this call's input; the path names the field.
    #[error("not a valid {call:?} input: {source}")]
    Input {
        call: Call,
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    /// The plugin failed the call (trap, deadline, a decision out of bounds...).
    #[error(transparent)]
    Plugin(#[from] redial_runtime::PluginError),
}

/// Parses `input` as `T`, naming the field at fault.
fn input<T: serde::de::DeserializeOwned>(
    call: Call,
    input: serde_json::Value,
) -> Result<T, DecideError> {
    serde_path_to_error::deserialize(input).map_err(|source| DecideError::Input { call, source })
}

/// Makes `call` on `plugin` with `raw` as its input and `config` (JSON text) in place of
/// the input's own; the decision as the contract's JSON, and what it cost.
pub(crate) fn decide(
    runtime: &PluginRuntime,
    plugin: &Plugin,
    call: Call,
    raw: serde_json::Value,
    config: Option<String>,
    reason_codes: &[String],
) -> Result<(serde_json::Value, CallCost), DecideError> {
    let configure = |existing: &mut String| {
        if let Some(c) = &config {
            existing.clone_from(c);
        }
    };
    let request = match call {
        Call::Trigger => {
            let mut i: TriggerInput = input(call, raw)?;
            configure(&mut i.config);
            Request::Trigger(i)
        }
        Call::Cadence => {
            let mut i: CadenceInput = input(call, raw)?;
            configure(&mut i.config);
            Request::Cadence(i)
        }
        Call::Script => {
            let mut i: ScriptInput = input(call, raw)?;
            configure(&mut i.config);
            Request::Script(i)
        }
        Call::Evaluate => {
            let mut i: EvaluateInput = input(call, raw)?;
            configure(&mut i.config);
            Request::Evaluate(i)
        }
        Call::Crm => {
            let mut i: CrmInput = input(call, raw)?;
            configure(&mut i.config);
            Request::Crm(i)
        }
    };
    let decision = runtime.decide(plugin, request, reason_codes)?;
    Ok((decision.value, decision.cost))
}
