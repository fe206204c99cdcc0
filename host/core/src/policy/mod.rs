//! Tenant policies: one TOML file per tenant, checked once at load into a [`Policy`].
//!
//! A policy names the plugin for each slot (built-in name, path or content hash) with that
//! plugin's own config table, and writes down the six decisions a business makes before a
//! pilot (see [`pilot_sheet`]). The host enforces these decisions whatever the plugins say.
//! Parse errors name the key and the line (toml's spans); semantic checks name the key.

mod credentials;
mod pilot;
mod problems;
mod retention;
mod submitted;
mod window;

pub use credentials::{CREDENTIAL_SETTINGS, REDACTED, SECRET_PREFIX};
pub use pilot::pilot_sheet;
pub use problems::{Problem, locate, syntax_problems};
pub use retention::{DEFAULT_KEEP_DAYS, MAX_KEEP_DAYS, Retention, RetentionMode, Text};
pub use submitted::is_public;
pub use window::{CallingWindow, LocalClock};

use redial_runtime::Slot;
use redial_sdk::SignalKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        source: std::io::Error,
    },
    /// TOML syntax or an unknown/mistyped key (the message names key and line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, with line, column and key.
        message: String,
        /// Where in the text (bytes), when toml says.
        span: Option<std::ops::Range<usize>>,
        /// toml's message alone, without the excerpt of the text.
        reason: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// The offending key, when one is named (for an API error's `field`).
    pub fn key(&self) -> Option<&str> {
        match self {
            PolicyError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A tenant's checked policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `tenant`: the tenant id (URL-safe; unique per host).
    pub tenant: String,
    /// `name`: the business's display name.
    pub name: String,
    /// `timezone`: IANA zone of the business (e.g. "America/Chicago"); also the callee's
    /// zone unless the signal carries a `timezone` context field.
    pub timezone: String,
    /// `calling_window`: when callbacks may ring, in the recipient's local time.
    #[serde(default)]
    pub calling_window: CallingWindow,
    /// `do_not_call`: numbers never to call.
    #[serde(default)]
    pub do_not_call: Vec<String>,
    /// `retention`: what is kept at rest about calls, and how long settled cases keep it.
    #[serde(default)]
    pub retention: Retention,
    /// `triggers`: which signal kinds may start a case (decision 1).
    pub triggers: Vec<SignalKind>,
    /// `[callback]`: how fast and how many times (decision 2) and the fallback line (3).
    pub callback: Callback,
    /// `max_questions`: questions per call, at most 4 (decision 4).
    #[serde(default = "default_max_questions")]
    pub max_questions: u8,
    /// `[disposition]`: mandatory fields and allowed reason codes (decision 5).
    pub disposition: DispositionRules,
    /// `[handoff]`: owners, assignment, SLA and escalation (decision 6).
    pub handoff: Handoff,
    /// `[follow_up]`: the FUA queue for lower-intent cases.
    #[serde(default)]
    pub follow_up: FollowUp,
    /// `on_plugin_failure`: the safe default when a plugin fails a decision.
    #[serde(default)]
    pub on_plugin_failure: FailureDefault,
    /// `retry_later_minutes`: delay for `on_plugin_failure = "retry-later"`.
    #[serde(default = "default_retry_later")]
    pub retry_later_minutes: u32,
    /// `[voice]`: the voice-AI connector.
    #[serde(default)]
    pub voice: Connector,
    /// `[crm_connector]`: where CRM operations are delivered (simulator, hubspot, webhook).
    #[serde(default)]
    pub crm_connector: Connector,
    /// `[sms_connector]`: where fallback messages go (simulator, twilio).
    #[serde(default)]
    pub sms_connector: Connector,
    /// `[notify]`: where handoff notices and escalations go (simulator, webhook).
    #[serde(default)]
    pub notify: Connector,
    /// `[webhooks]`: secrets that authenticate inbound webhooks for this tenant.
    #[serde(default)]
    pub webhooks: Webhooks,
    /// `[trigger]`, `[cadence]`, `[qualify]`, `[crm]`: the plugins.
    pub trigger: PluginRef,
    /// The cadence plugin.
    pub cadence: PluginRef,
    /// The qualify plugin.
    pub qualify: PluginRef,
    /// The crm plugin.
    pub crm: PluginRef,
    /// The TOML text this policy was read from (served back by the API, redacted).
    #[serde(skip)]
    pub source: String,
    /// The tenant secrets its credentials named, once [`Policy::resolve_secrets`] put
    /// their values in their place.
    #[serde(skip)]
    secret_refs: std::collections::BTreeSet<String>,
}

fn default_max_questions() -> u8 {
    4
}

fn default_retry_later() -> u32 {
    15
}

/// `[callback]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// `first_call_within_secs`: the promise for the first callback (shown on the sheet;
    /// the cadence plugin decides the exact delay, the host caps it to this).
    pub first_call_within_secs: u32,
    /// `max_attempts`: hard cap on dials per case.
    pub max_attempts: u32,
    /// `fallback_line`: what the customer gets when busy/declined and calls run out.
    pub fallback_line: String,
    /// `booking_link`: offered with the fallback line.
    #[serde(default)]
    pub booking_link: Option<String>,
    /// `report_timeout_minutes`: how long a placed call may go without its final report
    /// before the provider is asked what became of it (a lost webhook, a provider
    /// incident); 1 to 1440, default 15.
    #[serde(default = "default_report_timeout")]
    pub report_timeout_minutes: u32,
    /// `max_concurrent_calls`: calls the tenant's voice account may have in progress at
    /// once (Vapi accounts start at 10); dials beyond it wait for a line, the most urgent
    /// first. Unset: no cap.
    #[serde(default)]
    pub max_concurrent_calls: Option<u32>,
    /// `[callback.voicemail]`: the message the voice AI leaves when an attempt reaches
    /// voicemail. Unset: the assistant's own voicemail setting applies.
    #[serde(default)]
    pub voicemail: Option<Voicemail>,
}

/// `[callback.voicemail]`: which attempts leave a message on voicemail, and what it says.
/// Providers detect voicemail themselves and speak the message in its place; the journal
/// records each one left.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// `message`: what is said, 1 to 1000 characters.
    pub message: String,
    /// `from_attempt`: the first attempt that leaves it (default 1: every attempt), so a
    /// business can stay silent on the first try and leave word on later ones.
    #[serde(default = "default_from_attempt")]
    pub from_attempt: u32,
}

fn default_from_attempt() -> u32 {
    1
}

impl Callback {
    /// The voicemail message attempt number `attempt` leaves, if any.
    pub fn voicemail_for(&self, attempt: u32) -> Option<&str> {
        self.voicemail
            .as_ref()
            .filter(|v| attempt >= v.from_attempt)
            .map(|v| v.message.as_str())
    }
}

fn default_report_timeout() -> u32 {
    15
}

/// `[disposition]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionRules {
    /// `reason_codes`: allowed codes (built-in names and the tenant's own).
    pub reason_codes: Vec<String>,
    /// `mandatory`: qualification fields that must be confirmed before the CRM gets it
    /// (`buying-role`, `timeline`, `existing-system`, `budget-range`).
    #[serde(default)]
    pub mandatory: Vec<String>,
}

/// `[handoff]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// `owners`: who takes handed-off cases.
    pub owners: Vec<String>,
    /// `assignment`: how owners are picked.
    #[serde(default)]
    pub assignment: Assignment,
    /// `sla_minutes`: time for the owner to acknowledge.
    pub sla_minutes: u32,
    /// `escalate_to`: who hears about a breached SLA.
    pub escalate_to: String,
    /// `min_intent`: intent score at or above which a case goes to a human even when the
    /// plugin suggested automation.
    #[serde(default = "default_min_intent")]
    pub min_intent: u8,
}

fn default_min_intent() -> u8 {
    80
}

/// Owner assignment.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// Each owner in turn.
    #[default]
    RoundRobin,
    /// Always the first owner (others are backups).
    FirstOwner,
}

/// `[follow_up]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// `due_hours`: when the FUA step is due.
    pub due_hours: u32,
}

impl Default for FollowUp {
    fn default() -> Self {
        FollowUp { due_hours: 24 }
    }
}

/// What the host does when a plugin fails a decision.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureDefault {
    /// Put the case in the human review queue.
    #[default]
    HumanReview,
    /// Try the same step again later.
    RetryLater,
}

/// Where a channel's side effects go. Which providers a channel accepts is checked when
/// the policy is validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The built-in simulator (no network).
    #[default]
    Simulator,
    /// Vapi outbound calls (`[voice]`).
    Vapi,
    /// Retell outbound calls (`[voice]`).
    Retell,
    /// Twilio SMS (`[sms_connector]`).
    Twilio,
    /// HubSpot v3 (`[crm_connector]`).
    Hubspot,
    /// A Standard Webhooks endpoint of the tenant's (`[crm_connector]`, `[notify]`).
    Webhook,
}

impl Provider {
    /// The name in policies.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Simulator => "simulator",
            Provider::Vapi => "vapi",
            Provider::Retell => "retell",
            Provider::Twilio => "twilio",
            Provider::Hubspot => "hubspot",
            Provider::Webhook => "webhook",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A connector choice: `provider` plus its `settings` table (strings; `env:NAME` reads
/// the environment at use).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// `provider`: "simulator" (default) or a real provider ("vapi", "retell", "twilio", "hubspot",
    /// "webhook", as the channel allows).
    #[serde(default)]
    pub provider: Provider,
    /// Provider settings (ids, secrets by env var name).
    #[serde(default)]
    pub settings: toml::Table,
}

impl Connector {
    /// A setting, resolved (`env:NAME` reads the environment).
    pub fn setting(&self, key: &str) -> Option<String> {
        let raw = self.settings.get(key)?.as_str()?;
        match raw.strip_prefix("env:") {
            Some(name) => std::env::var(name).ok(),
            None => Some(raw.to_string()),
        }
    }
}

/// `[webhooks]`. Each value is the secret itself or `env:NAME` to read it from the
/// environment. A webhook whose secret is not configured is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// `signing_secret`: Standard Webhooks secret (`whsec_...`) for the generic signal endpoint.
    pub signing_secret: Option<String>,
    /// `twilio_auth_token`: verifies `X-Twilio-Signature`.
    pub twilio_auth_token: Option<String>,
    /// `vapi_secret`: compared with Vapi's `X-Vapi-Secret` header.
    pub vapi_secret: Option<String>,
}

impl Webhooks {
    /// Each secret with its key, for the checks every secret must pass.
    pub fn secrets(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("signing_secret", &self.signing_secret),
            ("twilio_auth_token", &self.twilio_auth_token),
            ("vapi_secret", &self.vapi_secret),
        ]
    }
}

/// Where a slot's plugin comes from, and its config table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// `plugin`: a plugin built from `plugins/` by name.
    #[serde(default)]
    pub plugin: Option<String>,
    /// `path`: a component file (relative to the policy file).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `sha256`: a component already known to the host by content hash.
    #[serde(default)]
    pub sha256: Option<String>,
    /// `config`: the plugin's own table, handed to it as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

impl PluginRef {
    /// The plugin's config as the JSON text the contract carries.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).expect("a TOML table is valid JSON")
    }
}

/// Qualification fields a policy may mark mandatory.
pub const QUALIFICATION_FIELDS: [&str; 4] =
    ["buying-role", "timeline", "existing-system", "budget-range"];

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut policy = Policy::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for slot in Slot::ALL {
            let r = policy.plugin_mut(slot);
            if let Some(p) = &r.path
                && p.is_relative()
            {
                r.path = Some(base.join(p));
            }
        }
        Ok(policy)
    }

    /// Reads and checks every `*.toml` policy in a folder, sorted by file name; the first
    /// bad file refuses the whole folder.
    pub fn load_dir(dir: &Path) -> Result<Vec<Policy>, PolicyError> {
        Policy::load_each(dir)?
            .into_iter()
            .map(|(_, policy)| policy)
            .collect()
    }

    /// Reads every `*.toml` in `dir`, each file on its own: one that does not load is
    /// returned with its error beside the others (a server serves the rest).
    #[allow(clippy::type_complexity)]
    pub fn load_each(
        dir: &Path,
    ) -> Result<Vec<(PathBuf, Result<Policy, PolicyError>)>, PolicyError> {
        let entries = std::fs::read_dir(dir).map_err(|source| PolicyError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .map(|f| {
                let policy = Policy::load(&f);
                (f, policy)
            })
            .collect())
    }

    /// The default policies folder: `./policies` if present, else the repository's.
    pub fn default_dir() -> PathBuf {
        let here = PathBuf::from("policies");
        if here.is_dir() {
            return here;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
    }

    /// Parses and checks policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let mut policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
            span: e.span(),
            reason: e.message().trim_end().to_string(),
        })?;
        policy.check(origin)?;
        policy.source = text.to_string();
        Ok(policy)
    }

    /// The plugin reference for a slot.
    pub fn plugin(&self, slot: Slot) -> &PluginRef {
        match slot {
            Slot::Trigger => &self.trigger,
            Slot::Cadence => &self.cadence,
            Slot::Qualify => &self.qualify,
            Slot::Crm => &self.crm,
        }
    }

    fn plugin_mut(&mut self, slot: Slot) -> &mut PluginRef {
        match slot {
            Slot::Trigger => &mut self.trigger,
            Slot::Cadence => &mut self.cadence,
            Slot::Qualify => &mut self.qualify,
            Slot::Crm => &mut self.crm,
        }
    }

    /// The tenant's zone.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().expect("checked at load")
    }

    /// `unix ms` as "Tue 14:05" in the tenant's zone: how journals and reports show a
    /// moment to the people of that business.
    pub fn local_time(&self, ms: i64) -> String {
        use chrono::TimeZone;
        match self.tz().timestamp_millis_opt(ms).earliest() {
            Some(dt) => dt.format("%a %H:%M").to_string(),
            None => ms.to_string(),
        }
    }

    /// Custom reason codes (those that are not built in), for the runtime's validation.
    pub fn custom_reason_codes(&self) -> Vec<String> {
        self.disposition
            .reason_codes
            .iter()
            .filter(|c| {
                matches!(
                    redial_sdk::ReasonCode::parse(c),
                    redial_sdk::ReasonCode::Custom(_)
                )
            })
            .cloned()
            .collect()
    }

    fn check(&self, origin: &str) -> Result<(), PolicyError> {
        let invalid = |key: &str, message: String| PolicyError::Invalid {
            path: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let id_ok = !self.tenant.is_empty()
            && self.tenant.len() <= 64
            && self
                .tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(invalid(
                "tenant",
                "use 1-64 letters, digits, '-' or '_'".into(),
            ));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(
                "timezone",
                format!("{:?} is not an IANA time zone", self.timezone),
            ));
        }
        self.calling_window
            .check()
            .map_err(|m| invalid("calling_window", m))?;
        self.retention
            .check()
            .map_err(|(key, why)| invalid(key, why))?;
        if self.triggers.is_empty() {
            return Err(invalid("triggers", "list at least one signal kind".into()));
        }
        if !(1..=4).contains(&self.max_questions) {
            return Err(invalid(
                "max_questions",
                format!("{} is outside 1..=4 (hard cap 4)", self.max_questions),
            ));
        }
        if !(1..=10).contains(&self.callback.max_attempts) {
            return Err(invalid("callback.max_attempts", "use 1 to 10".into()));
        }
        if self
            .callback
            .max_concurrent_calls
            .is_some_and(|n| !(1..=10_000).contains(&n))
        {
            return Err(invalid(
                "callback.max_concurrent_calls",
                "use 1 to 10000, or leave it out for no cap".into(),
            ));
        }
        if !(1..=1440).contains(&self.callback.report_timeout_minutes) {
            return Err(invalid(
                "callback.report_timeout_minutes",
                "use 1 to 1440".into(),
            ));
        }
        if let Some(v) = &self.callback.voicemail {
            let chars = v.message.trim().chars().count();
            if !(1..=1000).contains(&chars) {
                return Err(invalid(
                    "callback.voicemail.message",
                    "use 1 to 1000 characters".into(),
                ));
            }
            if !(1..=self.callback.max_attempts).contains(&v.from_attempt) {
                return Err(invalid(
                    "callback.voicemail.from_attempt",
                    format!(
                        "use 1 to callback.max_attempts ({})",
                        self.callback.max_attempts
                    ),
                ));
            }
        }
        if self.callback.fallback_line.trim().is_empty() {
            return Err(invalid(
                "callback.fallback_line",
                "must not be empty".into(),
            ));
        }
        if self.disposition.reason_codes.is_empty() {
            return Err(invalid(
                "disposition.reason_codes",
                "list at least one reason code".into(),
            ));
        }
        if let Some(f) = self
            .disposition
            .mandatory
            .iter()
            .find(|f| !QUALIFICATION_FIELDS.contains(&f.as_str()))
        {
            return Err(invalid(
                "disposition.mandatory",
                format!(
                    "unknown field {f:?}; use {}",
                    QUALIFICATION_FIELDS.join(", ")
                ),
            ));
        }
        if self.handoff.owners.is_empty() {
            return Err(invalid("handoff.owners", "name at least one owner".into()));
        }
        if self.handoff.sla_minutes == 0 {
            return Err(invalid("handoff.sla_minutes", "must be at least 1".into()));
        }
        for (key, secret) in self.webhooks.secrets() {
            if secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(invalid(
                    &format!("webhooks.{key}"),
                    "empty: a webhook secret must be set (or the key left out)".into(),
                ));
            }
        }
        for slot in Slot::ALL {
            let r = self.plugin(slot);
            let given = [r.plugin.is_some(), r.path.is_some(), r.sha256.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if given != 1 {
                return Err(invalid(
                    slot.name(),
                    "give exactly one of `plugin`, `path` or `sha256`".into(),
                ));
            }
            if let Some(h) = &r.sha256
                && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(invalid(
                    &format!("{slot}.sha256"),
                    "expected 64 hex digits".into(),
                ));
            }
        }
        type Providers<'a> = &'a [(Provider, &'a [&'a str])];
        let connectors: [(&str, &Connector, Providers); 4] = [
            (
                "voice",
                &self.voice,
                &[
                    (
                        Provider::Vapi,
                        &["api_key", "assistant_id", "phone_number_id"],
                    ),
                    (Provider::Retell, &["api_key", "agent_id"]),
                ],
            ),
            (
                "sms_connector",
                &self.sms_connector,
                &[(Provider::Twilio, &["account_sid", "auth_token", "from"])],
            ),
            (
                "crm_connector",
                &self.crm_connector,
                &[
                    (Provider::Hubspot, &["access_token"]),
                    (Provider::Webhook, &["url", "secret"]),
                ],
            ),
            (
                "notify",
                &self.notify,
                &[(Provider::Webhook, &["url", "secret"])],
            ),
        ];
        for (key, c, providers) in connectors {
            if c.provider == Provider::Simulator {
                continue;
            }
            let Some((_, required)) = providers.iter().find(|(p, _)| *p == c.provider) else {
                let names: Vec<String> = (providers.iter())
                    .map(|(p, _)| format!("{:?}", p.name()))
                    .collect();
                return Err(invalid(
                    &format!("{key}.provider"),
                    format!(
                        "{:?} is not supported here; use \"simulator\" or {}",
                        c.provider.name(),
                        names.join(" or ")
                    ),
                ));
            };
            if let Some(missing) = required.iter().find(|k| {
                c.settings
                    .get(**k)
                    .and_then(|v| v.as_str())
                    .is_none_or(|v| v.trim().is_empty())
            }) {
                return Err(invalid(
                    &format!("{key}.settings.{missing}"),
                    "required: a non-empty string (or, in the operator's own files, \"env:NAME\")"
                        .into(),
                ));
            }
            // The connector appends the API's path to it: a query or fragment would swallow
            // that path and send every request to the base address itself.
            if let Some(base) = c.settings.get("base_url").and_then(|v| v.as_str())
                && !base.starts_with("env:")
                && (!(base.starts_with("https://") || base.starts_with("http://"))
                    || base.contains(['?', '#']))
            {
                return Err(invalid(
                    &format!("{key}.settings.base_url"),
                    "an http(s):// address without `?` or `#` (the API's paths are appended)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
