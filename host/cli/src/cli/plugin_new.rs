//! `redial plugin new`: a plugin project for one slot, written anywhere (outside this
//! repository too), that builds into a component with one command and holds a working
//! example decision, a README and an example test case.
//!
//! The Rust project carries its own copy of the SDK and of the contract's WIT, both
//! compiled into this binary from the repository's `plugins/sdk/` and `wit/`, so a project
//! always matches the host that made it and needs nothing beyond crates.io.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use redial_runtime::Slot;
use std::path::{Path, PathBuf};

/// Arguments of `redial plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The slot the plugin fills: trigger, cadence, qualify or crm.
    slot: Slot,
    /// The project's language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Where to write it (default: `./redial-<slot>`); it must not exist, or be empty.
    dir: Option<PathBuf>,
}

/// The languages a project can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    /// Rust with the Redial SDK, built for `wasm32-wasip2` by cargo.
    Rust,
}

/// The SDK's sources, as the project's `redial-sdk/` holds them.
const SDK: [(&str, &str); 8] = [
    (
        "src/lib.rs",
        include_str!("../../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "src/arena.rs",
        include_str!("../../../../plugins/sdk/src/arena.rs"),
    ),
    (
        "src/config.rs",
        include_str!("../../../../plugins/sdk/src/config.rs"),
    ),
    (
        "src/contract.rs",
        include_str!("../../../../plugins/sdk/src/contract.rs"),
    ),
    (
        "src/export.rs",
        include_str!("../../../../plugins/sdk/src/export.rs"),
    ),
    (
        "src/guest.rs",
        include_str!("../../../../plugins/sdk/src/guest.rs"),
    ),
    (
        "src/lift.rs",
        include_str!("../../../../plugins/sdk/src/lift.rs"),
    ),
    (
        "src/text.rs",
        include_str!("../../../../plugins/sdk/src/text.rs"),
    ),
];

/// The contract, as the host that made the project speaks it.
const CONTRACT: &str = include_str!("../../../../wit/policy.wit");

/// The Rust project's files (path in the project, template), for every slot.
const RUST: [(&str, &str); 6] = [
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml"),
    ),
    ("README.md", include_str!("../../templates/rust/README.md")),
    (
        ".cargo/config.toml",
        include_str!("../../templates/rust/cargo-config.toml"),
    ),
    (".gitignore", include_str!("../../templates/rust/gitignore")),
    (
        "redial-sdk/Cargo.toml",
        include_str!("../../templates/rust/sdk-Cargo.toml"),
    ),
    ("wit/policy.wit", CONTRACT),
];

/// Each slot's example decision and its test case.
fn rust_example(slot: Slot) -> (&'static str, &'static str) {
    match slot {
        Slot::Trigger => (
            include_str!("../../templates/rust/src/trigger.rs"),
            include_str!("../../templates/rust/cases/trigger.json"),
        ),
        Slot::Cadence => (
            include_str!("../../templates/rust/src/cadence.rs"),
            include_str!("../../templates/rust/cases/cadence.json"),
        ),
        Slot::Qualify => (
            include_str!("../../templates/rust/src/qualify.rs"),
            include_str!("../../templates/rust/cases/qualify.json"),
        ),
        Slot::Crm => (
            include_str!("../../templates/rust/src/crm.rs"),
            include_str!("../../templates/rust/cases/crm.json"),
        ),
    }
}

/// Writes the project and prints how to build it.
pub fn run(args: NewArgs) -> Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| PathBuf::from(format!("redial-{}", args.slot)));
    let krate = crate_name(&dir)?;
    let files = match args.lang {
        Lang::Rust => rust_files(args.slot, &krate),
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty; give a new folder",
            dir.display()
        );
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let wasm = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        krate.replace('-', "_")
    );
    println!(
        "A Rust {} plugin in {}: the decision is in src/lib.rs, a test case in cases/.",
        args.slot,
        dir.display()
    );
    println!("Build and test it:");
    println!("  cd {}", dir.display());
    println!("  rustup target add wasm32-wasip2   # once");
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  redial plugin test {wasm} cases/");
    Ok(())
}

/// A crate name from the folder's name: lowercase letters, digits and `-`, starting with
/// a letter.
fn crate_name(dir: &Path) -> Result<String> {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_string();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!(
            "cannot name a crate after {:?}: give a folder whose name starts with a letter",
            dir.display()
        );
    }
    Ok(name)
}

/// The contract version the project's WIT declares (`package redial:policy@X;`).
fn contract_version() -> &'static str {
    CONTRACT
        .split_once("package redial:policy@")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map_or("?", |(version, _)| version)
}

/// Every file of a Rust project for `slot`, its placeholders filled.
fn rust_files(slot: Slot, krate: &str) -> Vec<(String, String)> {
    let fill = |text: &str| {
        text.replace("{{crate}}", krate)
            .replace("{{file}}", &krate.replace('-', "_"))
            .replace("{{slot}}", slot.name())
            .replace("{{contract}}", contract_version())
    };
    let (lib, case) = rust_example(slot);
    let mut files: Vec<(String, String)> = RUST
        .iter()
        .map(|(path, text)| (path.to_string(), fill(text)))
        .collect();
    files.push(("src/lib.rs".into(), fill(lib)));
    files.push(("cases/example.json".into(), case.to_string()));
    for (path, text) in SDK {
        files.push((format!("redial-sdk/{path}"), text.to_string()));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_named_after_its_folder_and_holds_the_sdk_and_contract() {
        assert_eq!(
            crate_name(Path::new("/tmp/My Trigger_2")).unwrap(),
            "my-trigger-2"
        );
        assert!(crate_name(Path::new("/tmp/2fast")).is_err());
        assert!(contract_version().starts_with("0."));
        let files = rust_files(Slot::Cadence, "my-cadence");
        let lib = &files.iter().find(|(p, _)| p == "src/lib.rs").unwrap().1;
        assert!(lib.contains("export_cadence!(wit: \"wit\""), "{lib}");
        let ours = files
            .iter()
            .filter(|(p, _)| !p.starts_with("redial-sdk/src"));
        assert!(
            !ours.clone().any(|(_, t)| t.contains("{{")),
            "a placeholder is left"
        );
        for needed in [
            "redial-sdk/src/lib.rs",
            "wit/policy.wit",
            "cases/example.json",
        ] {
            assert!(files.iter().any(|(p, _)| p == needed), "{needed}");
        }
    }

    #[test]
    fn the_vendored_sdk_depends_on_what_the_repositorys_does() {
        let vendored = include_str!("../../templates/rust/sdk-Cargo.toml");
        let ours = include_str!("../../../../plugins/sdk/Cargo.toml");
        let workspace = include_str!("../../../../Cargo.toml");
        for dep in ["serde", "serde_json", "itoa", "wit-bindgen"] {
            assert!(ours.contains(&format!("\n{dep}")), "{dep}");
            let line = (vendored.lines())
                .find(|l| l.starts_with(&format!("{dep} =")))
                .unwrap_or_else(|| panic!("{dep} missing from the template"));
            let version = line.split('"').nth(1).unwrap();
            let pinned = format!("{dep} = \"{version}\"");
            let workspace_line = format!("{dep} = {{ version = \"{version}\"");
            assert!(
                ours.contains(&pinned) || workspace.contains(&workspace_line),
                "{dep} {version} is not the version the repository builds with"
            );
        }
    }
}
