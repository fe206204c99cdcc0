//! A plugin author's path, outside this repository, in each language `redial plugin new`
//! writes: scaffold every slot in a temporary folder, build it with the language's own
//! tools (installed from their registries), check it and pass its example case through the
//! host, and upload one to a server where it decides live.

mod common;

use common::server::{ADMIN, HVAC, Server, missed_call};
use common::tools;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SLOTS: [&str; 4] = ["trigger", "cadence", "qualify", "crm"];

fn redial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redial"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `redial plugin new <slot> --lang <lang>` into `home/<lang>-<slot>`; the project folder.
fn scaffold(home: &Path, lang: &str, slot: &str) -> PathBuf {
    let dir = home.join(format!("{lang}-{slot}"));
    let out = redial(&["plugin", "new", slot, "--lang", lang, dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    dir
}

/// Runs a build step in `dir`, failing the test with its output if it fails.
fn build(dir: &Path, cmd: &mut Command, what: &str) {
    tools::run(cmd.current_dir(dir), what);
}

/// The component fills `slot` and passes its project's example case; the trigger also
/// passes `redial plugin check` (two more compiles of the component, so only one slot).
fn passes_its_case(wasm: &Path, slot: &str, project: &Path) -> String {
    let wasm = wasm.to_str().unwrap();
    if slot == "trigger" {
        let check = redial(&["plugin", "check", wasm, "--slot", slot]);
        assert!(check.status.success(), "{slot}: {}", text(&check));
    }
    let cases = project.join("cases");
    let test = redial(&["plugin", "test", wasm, cases.to_str().unwrap()]);
    let out = text(&test);
    assert!(test.status.success(), "{slot}: {out}");
    assert!(out.contains(&format!("({slot} slot)")), "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    println!("{out}");
    out
}

/// Uploads `wasm` as the HVAC tenant's trigger and shows the next signal decided by it.
fn goes_live(wasm: &Path) {
    let s = Server::simulated();
    let component = std::fs::read(wasm).unwrap();
    let (status, body) = s.send(
        "PUT",
        &format!("/v1/tenants/{HVAC}/plugins/trigger"),
        &[
            ("authorization", &format!("Bearer {ADMIN}")),
            ("content-type", "application/wasm"),
        ],
        Some(&component),
    );
    assert_eq!(status, 200, "{body}");
    let (_, v) = s.signal(HVAC, "evt-new-plugin", &missed_call("+15125550177"));
    let case = v["case"]
        .as_str()
        .expect("the new trigger recovered the caller");
    let journal = s.engine.store().journal(case).unwrap();
    let decided_by = journal.iter().find_map(|e| match &e.event {
        redial_core::records::Event::Decision { slot, plugin, .. } if slot == "trigger" => {
            Some(plugin.clone())
        }
        _ => None,
    });
    assert_eq!(decided_by, Some(redial_runtime::content_hash(&component)));
}

#[test]
fn rust_projects_build_outside_the_repository_pass_their_cases_and_go_live() {
    let home = tempfile::tempdir().unwrap();
    // The four builds share one target folder, so the SDK's dependencies build once.
    let target = home.path().join("target");
    let mut built = Vec::new();
    for slot in SLOTS {
        let dir = scaffold(home.path(), "rust", slot);
        build(
            &dir,
            Command::new("cargo")
                .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
                .env("CARGO_TARGET_DIR", &target),
            "cargo build",
        );
        let wasm = target.join(format!("wasm32-wasip2/release/rust_{slot}.wasm"));
        passes_its_case(&wasm, slot, &dir);
        built.push(wasm);
    }
    // The example's own native test passes too.
    build(
        &home.path().join("rust-trigger"),
        Command::new("cargo")
            .args(["test", "--quiet"])
            .env("CARGO_TARGET_DIR", &target),
        "cargo test",
    );
    goes_live(&built[0]);
}

#[test]
fn python_projects_build_with_componentize_py_pass_their_cases_and_an_18_mib_one_goes_live() {
    let bin = tools::python_with_componentize_py();
    let home = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut built = Vec::new();
    for slot in SLOTS {
        let dir = scaffold(home.path(), "python", slot);
        build(
            &dir,
            Command::new("./build.sh").env("PATH", &path),
            "./build.sh",
        );
        let wasm = dir.join(format!("python_{slot}.wasm"));
        passes_its_case(&wasm, slot, &dir);
        built.push(wasm);
    }
    let size = std::fs::metadata(&built[0]).unwrap().len();
    println!("a Python trigger component: {size} bytes");
    assert!(size > 16 << 20, "bigger than the old 16 MiB upload limit");
    goes_live(&built[0]);
}

#[test]
fn javascript_projects_build_with_componentize_js_and_pass_their_cases() {
    let home = tempfile::tempdir().unwrap();
    let mut built = Vec::new();
    for slot in SLOTS {
        let dir = scaffold(home.path(), "js", slot);
        if slot == "trigger" {
            build(
                &dir,
                Command::new("npm").args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ]),
                "npm install",
            );
        } else {
            // The projects ask for the same packages: the first one's serve them all.
            let first = home.path().join("js-trigger/node_modules");
            std::os::unix::fs::symlink(first, dir.join("node_modules")).unwrap();
        }
        build(
            &dir,
            Command::new("npm").args(["run", "--silent", "build"]),
            "npm run build",
        );
        let wasm = dir.join(format!("js_{slot}.wasm"));
        passes_its_case(&wasm, slot, &dir);
        built.push(wasm);
    }
    goes_live(&built[0]);
}

#[test]
fn an_unknown_slot_or_language_is_refused_naming_the_choices_and_a_used_folder_is_left_alone() {
    let out = redial(&["plugin", "new", "billing"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("trigger, cadence, qualify or crm"),
        "{}",
        text(&out)
    );
    let out = redial(&["plugin", "new", "trigger", "--lang", "cobol"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("rust, python, js"), "{}", text(&out));
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("notes.txt"), "mine").unwrap();
    let out = redial(&["plugin", "new", "trigger", home.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 1);
}
