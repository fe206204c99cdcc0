//! Third-party test tools, installed on first use from the package registries into
//! cargo's target folder (so `cargo test` needs nothing installed beforehand, and a second
//! run reuses them): schemathesis and componentize-py from PyPI, a TypeScript client
//! generator from npm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The pinned schemathesis release the conformance run uses.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The pinned componentize-py release that builds Python plugins in the tests.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// One installer at a time within a test binary.
static INSTALLING: Mutex<()> = Mutex::new(());

fn tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api-tools")
}

/// Runs `cmd` and panics with its output if it fails: an install or a tool run that
/// fails must fail the test that needs it, saying why.
pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// A Python virtual environment with schemathesis in it; returns its `bin` folder.
pub fn python_with_schemathesis() -> PathBuf {
    python_with("venv", SCHEMATHESIS)
}

/// A Python virtual environment with componentize-py in it; returns its `bin` folder.
pub fn python_with_componentize_py() -> PathBuf {
    python_with("venv-componentize", COMPONENTIZE_PY)
}

/// The virtual environment `name` with `package` (a pinned requirement) installed;
/// returns its `bin` folder.
fn python_with(name: &str, package: &str) -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = tools_dir().join(name);
    let bin = venv.join("bin");
    let stamp = venv.join(".installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(package) {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "creating a Python venv",
        );
        run(
            Command::new(bin.join("pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                package,
            ]),
            &format!("pip install {package}"),
        );
        std::fs::write(&stamp, package).unwrap();
    }
    bin
}

/// A copy of `template` (a folder with a `package.json`) with its npm packages installed;
/// reinstalled only when the `package.json` changes.
pub fn npm_project(template: &Path, name: &str) -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tools_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(template).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    let manifest = std::fs::read_to_string(dir.join("package.json")).unwrap();
    let stamp = dir.join("node_modules").join(".installed-from");
    if std::fs::read_to_string(&stamp).ok() != Some(manifest.clone()) {
        run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir),
            "npm install",
        );
        std::fs::write(&stamp, manifest).unwrap();
    }
    dir
}
