//! Onboarding a client: a template (dental, HVAC, B2B software, or a copy of another
//! client) filled in with the business's name, time zone, calling window, owners and
//! providers, checked with its pilot sheet shown, then made live.
//!
//! The page composes the policy here (`POST /console/onboard/compose`, which changes
//! nothing); `console.js` then checks it, sets the secrets and puts the policy through the
//! JSON API. Secrets go from the form straight to the secrets route: they are never sent to
//! a console route, rendered into a page or kept in the browser.

use super::layout::{Viewer, error_page, frame};
use crate::{ApiError, AppState};
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

/// The built-in templates: key, label, policy text.
const TEMPLATES: [(&str, &str, &str); 3] = [
    (
        "dental",
        "Dental clinic",
        include_str!("../../../../policies/bright-smile-dental.toml"),
    ),
    (
        "hvac",
        "HVAC contractor (emergency line)",
        include_str!("../../../../policies/lone-star-hvac.toml"),
    ),
    (
        "b2b",
        "B2B software seller",
        include_str!("../../../../policies/northwind-software.toml"),
    ),
];

/// Time zones offered first (any IANA name may be typed).
const ZONES: [&str; 10] = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Toronto",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "UTC",
];

/// `GET /console/onboard` (the agency only).
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    if !viewer.is_agency() {
        return error_page(
            Some(&viewer),
            ApiError::forbidden("onboarding a client needs the agency's admin token"),
        );
    }
    let clients: Vec<(String, String)> = state
        .engine
        .tenant_ids()
        .into_iter()
        .filter_map(|id| state.engine.tenant(&id).ok())
        .map(|t| (t.policy.tenant.clone(), t.policy.name.clone()))
        .collect();
    let body = html! {
        h1 { "Onboard a client" }
        p.lede { "Start from a template, fill in the business, preview its pilot sheet, then make it live. Secrets are sent once to the secrets store and never shown again." }
        form #onboard.stack novalidate {
            fieldset {
                legend { "Business" }
                label for="o-template" { "Template" }
                select #o-template name="template" {
                    @for (key, label, _) in TEMPLATES { option value=(key) { (label) } }
                    @for (id, name) in &clients { option value={ "copy:" (id) } { "Copy of " (name) } }
                }
                label for="o-tenant" { "Client id " small { "(lowercase letters, digits and dashes; used in URLs)" } }
                input #o-tenant name="tenant" required pattern="[a-z0-9][a-z0-9\\-]{1,62}" autocomplete="off";
                label for="o-name" { "Business name" }
                input #o-name name="name" required autocomplete="organization";
                label for="o-timezone" { "Time zone" }
                input #o-timezone name="timezone" required list="zones" value="America/Chicago";
                datalist #zones { @for z in ZONES { option value=(z) {} } }
                div.pair {
                    div { label for="o-start" { "Calls from" } input #o-start name="window_start" required pattern="[0-2][0-9]:[0-5][0-9]" value="08:00"; }
                    div { label for="o-end" { "until" } input #o-end name="window_end" required pattern="[0-2][0-9]:[0-5][0-9]" value="20:00"; }
                }
            }
            fieldset {
                legend { "People" }
                label for="o-owners" { "Owners who take handoffs " small { "(one email per line)" } }
                textarea #o-owners name="owners" rows="3" required {}
                label for="o-escalate" { "Escalate a missed SLA to" }
                input #o-escalate name="escalate_to" type="email" required;
            }
            fieldset {
                legend { "Providers" }
                label for="o-voice" { "Voice AI" }
                select #o-voice name="voice" {
                    option value="simulator" { "Simulator (no real calls)" }
                    option value="vapi" { "Vapi" }
                    option value="retell" { "Retell" }
                }
                div data-when-voice="vapi retell" {
                    label for="o-agent" { "Assistant id (Vapi) or agent id (Retell)" }
                    input #o-agent name="voice_agent" autocomplete="off";
                    label for="o-number" { "Phone number id (Vapi) or from number (Retell, optional)" }
                    input #o-number name="voice_number" autocomplete="off";
                    label for="s-voice-api-key" { "Voice provider API key" }
                    input #s-voice-api-key type="password" data-secret="voice-api-key" autocomplete="new-password";
                }
                div data-when-voice="vapi" {
                    label for="s-vapi-webhook" { "Vapi webhook secret" }
                    input #s-vapi-webhook type="password" data-secret="vapi-webhook" autocomplete="new-password";
                }
                label for="o-crm" { "CRM" }
                select #o-crm name="crm" {
                    option value="simulator" { "Simulator (no real CRM)" }
                    option value="hubspot" { "HubSpot" }
                }
                div data-when-crm="hubspot" {
                    label for="s-crm-token" { "HubSpot private app access token" }
                    input #s-crm-token type="password" data-secret="crm-access-token" autocomplete="new-password";
                }
                label for="s-signing" { "Signal signing secret " small { "(the Standard Webhooks secret, whsec_…, your call tracking signs missed calls with)" } }
                input #s-signing type="password" data-secret="signing" autocomplete="new-password";
            }
            div.buttons {
                button #o-preview type="submit" { "Preview" }
                button #o-live type="button" disabled { "Make it live" }
            }
        }
        section #o-result aria-live="polite" hidden {
            h2 { "Preview" }
            ul #o-problems.problems {}
            pre #o-sheet.sheet {}
            details { summary { "The policy" } pre #o-policy {} }
        }
    };
    frame("Onboard a client", Some(&viewer), None, body)
}

/// What the onboarding form sends to be composed (no secrets: those go to the API).
#[derive(Debug, Deserialize)]
pub struct Compose {
    template: String,
    tenant: String,
    name: String,
    timezone: String,
    window_start: String,
    window_end: String,
    owners: String,
    escalate_to: String,
    voice: String,
    #[serde(default)]
    voice_agent: String,
    #[serde(default)]
    voice_number: String,
    crm: String,
}

/// `POST /console/onboard/compose`: the policy the form describes, as TOML (changes
/// nothing; the page checks it through the API next).
pub async fn compose(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<Compose>,
) -> Response {
    if !viewer.is_agency() {
        return (StatusCode::FORBIDDEN, "onboarding needs the admin token").into_response();
    }
    let base = match form.template.strip_prefix("copy:") {
        Some(id) => match state.engine.tenant(id) {
            Ok(t) => (t.policy.redacted_source(), t.policy.name.clone()),
            Err(_) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no client {id:?} to copy"),
                )
                    .into_response();
            }
        },
        None => match TEMPLATES.iter().find(|(key, _, _)| *key == form.template) {
            Some((_, _, text)) => {
                let name = toml::from_str::<toml::Table>(text)
                    .ok()
                    .and_then(|t| t.get("name")?.as_str().map(str::to_string))
                    .unwrap_or_default();
                (text.to_string(), name)
            }
            None => {
                return (StatusCode::UNPROCESSABLE_ENTITY, "unknown template").into_response();
            }
        },
    };
    match fill(&base.0, &base.1, &form) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/toml")], text).into_response(),
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, why).into_response(),
    }
}

/// `template` (a policy for `template_name`) made the form's: its identity, window,
/// people and providers set, the old business's name replaced wherever a line says it, the
/// old do-not-call list dropped, and every credential named as a secret.
fn fill(template: &str, template_name: &str, form: &Compose) -> Result<String, String> {
    use toml::{Table, Value};
    let mut doc: Table = toml::from_str(template).map_err(|e| e.to_string())?;
    let name = form.name.trim();
    if !template_name.is_empty() && !name.is_empty() {
        rename(&mut doc, template_name, name);
    }
    let text = |s: &str| Value::String(s.trim().to_string());
    doc.insert("tenant".into(), text(&form.tenant));
    doc.insert("name".into(), text(name));
    doc.insert("timezone".into(), text(&form.timezone));
    doc.insert("do_not_call".into(), Value::Array(Vec::new()));
    let mut window = Table::new();
    window.insert("start".into(), text(&form.window_start));
    window.insert("end".into(), text(&form.window_end));
    doc.insert("calling_window".into(), Value::Table(window));
    let owners: Vec<Value> = form
        .owners
        .split([',', '\n'])
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(text)
        .collect();
    let handoff = doc
        .entry("handoff")
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(handoff) = handoff {
        handoff.insert("owners".into(), Value::Array(owners));
        handoff.insert("escalate_to".into(), text(&form.escalate_to));
    }
    let mut webhooks = Table::new();
    webhooks.insert("signing_secret".into(), text("secret:signing"));
    doc.remove("voice");
    if form.voice != "simulator" {
        let mut settings = Table::new();
        settings.insert("api_key".into(), text("secret:voice-api-key"));
        let (agent, number) = match form.voice.as_str() {
            "vapi" => ("assistant_id", "phone_number_id"),
            "retell" => ("agent_id", "from_number"),
            other => return Err(format!("unknown voice provider {other:?}")),
        };
        settings.insert(agent.into(), text(&form.voice_agent));
        if !form.voice_number.trim().is_empty() {
            settings.insert(number.into(), text(&form.voice_number));
        }
        if form.voice == "vapi" {
            webhooks.insert("vapi_secret".into(), text("secret:vapi-webhook"));
        }
        let mut voice = Table::new();
        voice.insert("provider".into(), text(&form.voice));
        voice.insert("settings".into(), Value::Table(settings));
        doc.insert("voice".into(), Value::Table(voice));
    }
    doc.remove("crm_connector");
    if form.crm == "hubspot" {
        let mut settings = Table::new();
        settings.insert("access_token".into(), text("secret:crm-access-token"));
        let mut crm = Table::new();
        crm.insert("provider".into(), text("hubspot"));
        crm.insert("settings".into(), Value::Table(settings));
        doc.insert("crm_connector".into(), Value::Table(crm));
    } else if form.crm != "simulator" {
        return Err(format!("unknown CRM {:?}", form.crm));
    }
    doc.insert("webhooks".into(), Value::Table(webhooks));
    let body = toml::to_string(&doc).map_err(|e| e.to_string())?;
    Ok(format!(
        "# {name}: onboarded from the console ({}).\n{body}",
        form.template
    ))
}

/// Replaces `from` with `to` in every string of `table`, nested tables and arrays too.
fn rename(table: &mut toml::Table, from: &str, to: &str) {
    fn walk(value: &mut toml::Value, from: &str, to: &str) {
        match value {
            toml::Value::String(s) if s.contains(from) => *s = s.replace(from, to),
            toml::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, from, to)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| walk(v, from, to)),
            _ => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| walk(v, from, to));
}

#[cfg(test)]
mod tests {
    use super::*;
    use redial_core::policy::Policy;

    fn form(template: &str, voice: &str, crm: &str) -> Compose {
        Compose {
            template: template.into(),
            tenant: "acme-air".into(),
            name: "Acme Air".into(),
            timezone: "America/Denver".into(),
            window_start: "07:30".into(),
            window_end: "19:00".into(),
            owners: "a@acme.example\nb@acme.example".into(),
            escalate_to: "boss@acme.example".into(),
            voice: voice.into(),
            voice_agent: "agent-1".into(),
            voice_number: String::new(),
            crm: crm.into(),
        }
    }

    #[test]
    fn every_template_fills_into_a_policy_a_tenant_may_submit() {
        for (key, _, text) in TEMPLATES {
            let old_name: toml::Table = toml::from_str(text).unwrap();
            let old_name = old_name["name"].as_str().unwrap();
            for (voice, crm) in [
                ("simulator", "simulator"),
                ("vapi", "hubspot"),
                ("retell", "simulator"),
            ] {
                let mut form = form(key, voice, crm);
                if voice == "vapi" {
                    form.voice_number = "pn-1".into();
                }
                let filled = fill(text, old_name, &form).unwrap();
                let policy = Policy::parse_placed(&filled, "acme-air.toml", true)
                    .unwrap_or_else(|p| panic!("{key}/{voice}: {p:?}\n{filled}"));
                assert_eq!(policy.tenant, "acme-air");
                assert_eq!(policy.handoff.owners, ["a@acme.example", "b@acme.example"]);
                assert_eq!(policy.calling_window.start, "07:30");
                assert!(
                    policy.do_not_call.is_empty(),
                    "{key}: the old list is dropped"
                );
                assert!(
                    !filled.contains(old_name),
                    "{key}: {old_name} left in\n{filled}"
                );
                let secrets = policy.secret_names();
                assert!(secrets.contains("signing"), "{key}");
                assert_eq!(secrets.contains("voice-api-key"), voice != "simulator");
                assert_eq!(secrets.contains("crm-access-token"), crm == "hubspot");
            }
        }
    }
}
