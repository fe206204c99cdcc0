//! `redial plugin new`: a plugin project for one slot, written anywhere (outside this
//! repository too), that builds into a component with one command and holds a working
//! example decision, a README and an example test case.
//!
//! Every project carries its own copy of the contract's WIT, and a Rust one its own copy
//! of the SDK, both compiled into this binary from the repository's `wit/` and
//! `plugins/sdk/`: a project always matches the host that made it and needs nothing
//! beyond its language's package registry (crates.io, PyPI's componentize-py, npm's
//! componentize-js).

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
    /// Python, built by componentize-py (`pip install componentize-py`).
    Python,
    /// JavaScript, built by componentize-js (`npm install`).
    Js,
}

/// The componentize-js release a JavaScript project asks for (the one tested here).
const COMPONENTIZE_JS: &str = "^0.23.0";

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
const RUST: [(&str, &str); 5] = [
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
];

/// The Python project's files, for every slot.
const PYTHON: [(&str, &str); 3] = [
    (
        "README.md",
        include_str!("../../templates/python/README.md"),
    ),
    ("build.sh", include_str!("../../templates/python/build.sh")),
    (
        ".gitignore",
        include_str!("../../templates/python/gitignore"),
    ),
];

/// The JavaScript project's files, for every slot.
const JS: [(&str, &str); 3] = [
    ("README.md", include_str!("../../templates/js/README.md")),
    (
        "package.json",
        include_str!("../../templates/js/package.json"),
    ),
    (".gitignore", include_str!("../../templates/js/gitignore")),
];

/// Each slot's example decision in each language: (file, source).
fn example(lang: Lang, slot: Slot) -> (&'static str, &'static str) {
    macro_rules! by_slot {
        ($file:literal, $dir:literal, $ext:literal) => {
            match slot {
                Slot::Trigger => (
                    $file,
                    include_str!(concat!("../../templates/", $dir, "/trigger", $ext)),
                ),
                Slot::Cadence => (
                    $file,
                    include_str!(concat!("../../templates/", $dir, "/cadence", $ext)),
                ),
                Slot::Qualify => (
                    $file,
                    include_str!(concat!("../../templates/", $dir, "/qualify", $ext)),
                ),
                Slot::Crm => (
                    $file,
                    include_str!(concat!("../../templates/", $dir, "/crm", $ext)),
                ),
            }
        };
    }
    match lang {
        Lang::Rust => by_slot!("src/lib.rs", "rust/src", ".rs"),
        Lang::Python => by_slot!("app.py", "python", ".py"),
        Lang::Js => by_slot!("plugin.js", "js", ".js"),
    }
}

/// Each slot's example test case, the same in every language.
fn example_case(slot: Slot) -> &'static str {
    match slot {
        Slot::Trigger => include_str!("../../templates/cases/trigger.json"),
        Slot::Cadence => include_str!("../../templates/cases/cadence.json"),
        Slot::Qualify => include_str!("../../templates/cases/qualify.json"),
        Slot::Crm => include_str!("../../templates/cases/crm.json"),
    }
}

/// Writes the project and prints how to build it.
pub fn run(args: NewArgs) -> Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| PathBuf::from(format!("redial-{}", args.slot)));
    let name = project_name(&dir)?;
    let files = project_files(args.lang, args.slot, &name);
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
    let file = name.replace('-', "_");
    let (lang, source, build, wasm) = match args.lang {
        Lang::Rust => (
            "Rust",
            "src/lib.rs",
            "rustup target add wasm32-wasip2   # once\n  cargo build --release --target wasm32-wasip2",
            format!("target/wasm32-wasip2/release/{file}.wasm"),
        ),
        Lang::Python => {
            make_executable(&dir.join("build.sh"))?;
            (
                "Python",
                "app.py",
                "pip install componentize-py      # once\n  ./build.sh",
                format!("{file}.wasm"),
            )
        }
        Lang::Js => (
            "JavaScript",
            "plugin.js",
            "npm install                       # once\n  npm run build",
            format!("{file}.wasm"),
        ),
    };
    println!(
        "A {lang} {} plugin in {}: the decision is in {source}, a test case in cases/.",
        args.slot,
        dir.display()
    );
    println!("Build and test it:");
    println!("  cd {}", dir.display());
    println!("  {build}");
    println!("  redial plugin test {wasm} cases/");
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<()> {
    Ok(())
}

/// A project (crate, package) name from the folder's name: lowercase letters, digits and
/// `-`, starting with a letter.
fn project_name(dir: &Path) -> Result<String> {
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

/// Every file of a project in `lang` for `slot`, its placeholders filled (the vendored
/// SDK's sources are copied as they are).
fn project_files(lang: Lang, slot: Slot, name: &str) -> Vec<(String, String)> {
    let fill = |text: &str| {
        text.replace("{{crate}}", name)
            .replace("{{file}}", &name.replace('-', "_"))
            .replace("{{slot}}", slot.name())
            .replace("{{contract}}", contract_version())
            .replace("{{componentize_js}}", COMPONENTIZE_JS)
    };
    let own: &[(&str, &str)] = match lang {
        Lang::Rust => &RUST,
        Lang::Python => &PYTHON,
        Lang::Js => &JS,
    };
    let (source, code) = example(lang, slot);
    let mut files: Vec<(String, String)> = (own.iter())
        .chain([(source, code), ("wit/policy.wit", CONTRACT)].iter())
        .map(|(path, text)| (path.to_string(), fill(text)))
        .collect();
    files.push(("cases/example.json".into(), example_case(slot).to_string()));
    if lang == Lang::Rust {
        for (path, text) in SDK {
            files.push((format!("redial-sdk/{path}"), text.to_string()));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_named_after_its_folder_and_holds_the_sdk_and_contract() {
        assert_eq!(
            project_name(Path::new("/tmp/My Trigger_2")).unwrap(),
            "my-trigger-2"
        );
        assert!(project_name(Path::new("/tmp/2fast")).is_err());
        assert!(contract_version().starts_with("0."));
        let files = project_files(Lang::Rust, Slot::Cadence, "my-cadence");
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
    fn python_and_javascript_projects_name_their_slot_and_build_command() {
        let python = project_files(Lang::Python, Slot::Qualify, "acme-qualify");
        let build = &python.iter().find(|(p, _)| p == "build.sh").unwrap().1;
        assert!(
            build.contains("-w qualify componentize app -o acme_qualify.wasm"),
            "{build}"
        );
        let js = project_files(Lang::Js, Slot::Crm, "acme-crm");
        let package = &js.iter().find(|(p, _)| p == "package.json").unwrap().1;
        let package: serde_json::Value = serde_json::from_str(package).unwrap();
        assert!(
            package["scripts"]["build"]
                .as_str()
                .unwrap()
                .contains("--world-name crm")
        );
        for files in [&python, &js] {
            assert!(!files.iter().any(|(p, _)| p.starts_with("redial-sdk")));
            assert!(
                !files.iter().any(|(_, t)| t.contains("{{")),
                "a placeholder is left"
            );
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
