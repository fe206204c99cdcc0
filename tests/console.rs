//! The agency console, end to end in a real browser: headless Chromium (Debian's
//! `chromium`, which `.ci/run` installs when missing) driven by Playwright against a real
//! server on loopback. `tests/console/e2e.mjs` holds the steps; this test starts the
//! server, runs them, then checks on the server what the browser did.

mod common;

use common::server::{ADMIN, HVAC, Server, missed_call};
use common::tools;
use redial_connectors::Simulator;
use redial_core::clock::SystemClock;
use redial_core::connectors::{ConnectorError, Connectors, Delivery, Recipient};
use redial_core::records::{Effect, OutboxItem};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The simulator, except that HVAC's dials fail: with one failure allowed, each becomes a
/// dead letter at once, so HVAC is the client the overview marks.
struct HvacDialsFail(Simulator);

impl Connectors for HvacDialsFail {
    fn deliver(&self, item: &OutboxItem, to: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        match item.effect {
            Effect::Dial { .. } if item.tenant == HVAC => Err(ConnectorError {
                connector: "voice".into(),
                message: "HTTP 503 from the voice provider".into(),
            }),
            _ => self.0.deliver(item, to),
        }
    }
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/console")
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG"))
}

#[test]
fn the_agency_onboards_a_client_and_acknowledges_its_handoff_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's `chromium` package (.ci/run does)"
    );
    let project = tools::npm_project(&console_dir(), "console-e2e");
    let sim = Simulator::new(Arc::new(SystemClock), HashMap::new(), None).unwrap();
    let s =
        Server::simulated_with(|app| app.dead_after(1).connectors(Arc::new(HvacDialsFail(sim))));
    // Another client's case, which the new client's token must not see.
    let (status, other) = s.signal(HVAC, "evt-other", &missed_call("+15125550999"));
    assert_eq!(status, 202, "{other}");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-e2e");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let run = Command::new("node")
        .arg(project.join("e2e.mjs"))
        .current_dir(&project)
        .env("BASE", &s.base)
        .env("ADMIN", ADMIN)
        .env("OUT", &out)
        .env("CHROMIUM", CHROMIUM)
        .env("OTHER_CASE", other["case"].as_str().unwrap())
        .env("CANDIDATE", redial_builtin::path("test-eager-trigger"))
        .output()
        .expect("node runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{log}");
    assert!(run.status.success(), "the browser run failed:\n{log}");

    // What the browser did, as the server keeps it.
    let tenant = s
        .engine
        .tenant("acme-heating")
        .expect("the client was onboarded");
    assert_eq!(tenant.policy.name, "Acme Heating");
    let cases = s.engine.store().cases(Some("acme-heating")).unwrap();
    assert_eq!(cases.len(), 2, "the onboarding case and the shadow trial's");
    assert!(
        matches!(
            cases[0].state,
            redial_core::records::CaseState::HandedOff {
                acknowledged: true,
                ..
            }
        ),
        "{:?}",
        cases[0].state
    );
    let secrets = s.engine.secret_names("acme-heating").unwrap();
    assert_eq!(secrets.len(), 1, "only the signing secret was entered");
    for shot in [
        "plugins.png",
        "overview.png",
        "overview-phone.png",
        "client.png",
        "case-timeline.png",
    ] {
        assert!(is_png(&out.join(shot)), "{shot} was not saved");
    }
    println!("screenshots and page figures in {}", out.display());
}
