//! The credentials a policy holds, and how each may be written.
//!
//! A credential (a webhook secret, a provider's key or token) is written one of three ways:
//! `secret:NAME`, one of the tenant's own secrets, set through the API and sealed at rest
//! (see [`crate::secrets`]); `env:NAME`, the server's environment; or the value itself. Only
//! the first is open to a tenant: the other two are for the operator's own files. A policy
//! is served back with every literal credential redacted.

use super::{Policy, PolicyError};
use std::collections::BTreeSet;

/// Connector settings that hold credentials (in any provider's table).
pub const CREDENTIAL_SETTINGS: [&str; 4] = ["api_key", "auth_token", "access_token", "secret"];

/// How a credential refers to one of the tenant's secrets.
pub const SECRET_PREFIX: &str = "secret:";

/// What a literal credential reads as when a policy is served back.
pub const REDACTED: &str = "<redacted>";

impl Policy {
    /// Every credential the policy holds, as written, with its key path
    /// (`webhooks.vapi_secret`, `voice.settings.api_key`).
    pub fn credentials(&self) -> Vec<(String, &str)> {
        let webhooks = self
            .webhooks
            .secrets()
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|v| (format!("webhooks.{key}"), v)));
        let settings = self.connectors().into_iter().flat_map(|(table, c)| {
            CREDENTIAL_SETTINGS.iter().filter_map(move |key| {
                let value = c.settings.get(*key)?.as_str()?;
                Some((format!("{table}.settings.{key}"), value))
            })
        });
        webhooks.chain(settings).collect()
    }

    /// The names of the tenant's secrets the policy refers to (`secret:NAME`), as written
    /// (kept after [`Policy::resolve_secrets`] replaced the references).
    pub fn secret_names(&self) -> BTreeSet<String> {
        if !self.secret_refs.is_empty() {
            return self.secret_refs.clone();
        }
        let named = self.credentials().into_iter();
        named
            .filter_map(|(_, v)| v.strip_prefix(SECRET_PREFIX).map(str::to_string))
            .collect()
    }

    /// Replaces every `secret:NAME` credential with the tenant's secret `NAME`, as
    /// `lookup` opens it; a name the tenant has not set is refused naming the key.
    pub fn resolve_secrets(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), PolicyError> {
        let names = self.secret_names();
        let tenant = self.tenant.clone();
        let resolve = |key: String, value: &mut String| -> Result<(), PolicyError> {
            let Some(name) = value.strip_prefix(SECRET_PREFIX) else {
                return Ok(());
            };
            *value = lookup(name).ok_or_else(|| PolicyError::Invalid {
                path: format!("{tenant}.toml"),
                key,
                message: format!(
                    "the tenant has no secret {name:?}; set it first \
                     (PUT /v1/tenants/{tenant}/secrets/{name})"
                ),
            })?;
            Ok(())
        };
        for (key, value) in self.webhooks.secrets_mut() {
            if let Some(value) = value {
                resolve(format!("webhooks.{key}"), value)?;
            }
        }
        for (table, connector) in self.connectors_mut() {
            for key in CREDENTIAL_SETTINGS {
                if let Some(toml::Value::String(value)) = connector.settings.get_mut(key) {
                    resolve(format!("{table}.settings.{key}"), value)?;
                }
            }
        }
        self.secret_refs = names;
        Ok(())
    }

    /// The policy's text with every literal credential replaced by [`REDACTED`] (the text
    /// as written when it holds none): what the API serves back.
    pub fn redacted_source(&self) -> String {
        let literal = |v: &str| !v.starts_with(SECRET_PREFIX) && !v.starts_with("env:");
        let paths: Vec<String> = self
            .credentials()
            .into_iter()
            .filter(|(_, v)| literal(v))
            .map(|(path, _)| path)
            .collect();
        if paths.is_empty() {
            return self.source.clone();
        }
        let Ok(mut table) = self.source.parse::<toml::Table>() else {
            return String::new();
        };
        for path in paths {
            let mut parts = path.split('.').peekable();
            let mut at = &mut table;
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    at.insert(part.to_string(), REDACTED.into());
                } else if let Some(toml::Value::Table(inner)) = at.get_mut(part) {
                    at = inner;
                } else {
                    break;
                }
            }
        }
        toml::to_string(&table).unwrap_or_default()
    }
}

impl super::Webhooks {
    fn secrets_mut(&mut self) -> [(&'static str, &mut Option<String>); 3] {
        [
            ("signing_secret", &mut self.signing_secret),
            ("twilio_auth_token", &mut self.twilio_auth_token),
            ("vapi_secret", &mut self.vapi_secret),
        ]
    }
}
