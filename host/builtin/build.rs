//! Builds every plugin in `plugins/` (reference and test-only) for `wasm32-wasip2`, so the
//! host, its tests and `redial demo` always use components freshly built from source.
//!
//! The components land in `<target>/plugins/wasm32-wasip2/plugin/`, shared by every host
//! profile (a `cargo test` and a `cargo bench` do not build them twice); the path is
//! exported to this crate as `REDIAL_PLUGIN_DIR`. A machine without the wasm target gets it
//! from rustup here, so the README's two commands work on a fresh machine.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// The workspace's native host crates, which are never built for the wasm target.
const HOST_CRATES: [&str; 10] = [
    "redial",
    "redial-runtime",
    "redial-builtin",
    "redial-core",
    "redial-store-format",
    "redial-store-sled",
    "redial-store-postgres",
    "redial-connectors",
    "redial-server",
    "redial-bench",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host/builtin lives two levels below the workspace root");
    for watched in [
        "plugins",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = plugin_target_dir();
    ensure_wasm_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--workspace"])
        .args(HOST_CRATES.iter().flat_map(|c| ["--exclude", c]))
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers are for the host, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_LLVM_COV",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .expect("failed to run cargo to build the plugins");
    if !out.status.success() {
        panic!(
            "building the plugins for {TARGET} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wasm_dir = target_dir.join(TARGET).join(PROFILE);
    println!("cargo:rustc-env=REDIAL_PLUGIN_DIR={}", wasm_dir.display());
}

/// `<target>/plugins`, where `<target>` is the directory cargo marks with `CACHEDIR.TAG`
/// above OUT_DIR (`<target>[/<triple>]/<profile>/build/<pkg>/out`).
fn plugin_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .or_else(|| out_dir.ancestors().nth(4))
        .expect("OUT_DIR is inside cargo's target directory");
    target.join("plugins")
}

/// Installs the wasm target through rustup when the active toolchain lacks it (rustup does
/// not add a toolchain file's targets by itself).
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_target = |root: &Path| root.join("lib/rustlib").join(TARGET).exists();
    if sysroot.as_deref().is_some_and(has_target) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (first build only)");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    let status = cmd.status();
    if !status.is_ok_and(|s| s.success()) {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; \
             install it by hand and build again"
        );
    }
}
