//! A tenant's secrets: set (sealed at rest), listed by name, deleted when unused, and
//! opened only here, to put their values in place of a policy's `secret:NAME` references.

use super::{Engine, EngineError};
use crate::policy::{Policy, SECRET_PREFIX};
use crate::records::SealedSecret;
use crate::secrets::{MAX_SECRET, SecretKey, valid_name};
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    /// The key tenant secrets are sealed with; without one, a policy that names a secret
    /// does not load and no secret can be set.
    pub fn with_secret_key(mut self, key: SecretKey) -> Self {
        self.secret_key = Some(Arc::new(key));
        self
    }

    fn secret_key(&self) -> Result<&SecretKey, EngineError> {
        self.secret_key.as_deref().ok_or_else(|| {
            EngineError::SecretRefused("this server keeps no tenant secrets (no key)".into())
        })
    }

    /// Puts the tenant's secrets in place of the policy's `secret:NAME` references.
    pub(super) fn resolve_secrets(&self, policy: &mut Policy) -> Result<(), EngineError> {
        if policy.secret_names().is_empty() {
            return Ok(());
        }
        let key = self.secret_key()?;
        let tenant = policy.tenant.clone();
        let named = policy.secret_names();
        let mut opened = HashMap::new();
        for (name, sealed) in self.store.secrets(&tenant)? {
            if named.contains(&name) {
                let value = key.open(&tenant, &name, &sealed.sealed)?;
                opened.insert(name, value);
            }
        }
        policy.resolve_secrets(|name| opened.get(name).cloned())?;
        Ok(())
    }

    /// Sets (or rotates) one of a tenant's secrets, sealed at rest. When the tenant's live
    /// policy names it, the policy is loaded again with the new value at once. Returns
    /// whether it replaced one.
    pub fn set_secret(&self, tenant: &str, name: &str, value: &str) -> Result<bool, EngineError> {
        if !valid_name(name) {
            let why = "a secret's name is 1-64 letters, digits, '-' or '_'";
            return Err(EngineError::SecretRefused(why.into()));
        }
        if value.trim().is_empty() || value.chars().count() > MAX_SECRET {
            let why = format!("a secret is 1 to {MAX_SECRET} characters, not only spaces");
            return Err(EngineError::SecretRefused(why));
        }
        // Credentials are resolved once: a value that read as a reference would reach the
        // server's environment.
        if value.starts_with("env:") || value.starts_with(SECRET_PREFIX) {
            let why = "a secret's value is used as given; it cannot name the environment or \
                       another secret";
            return Err(EngineError::SecretRefused(why.into()));
        }
        let sealed = SealedSecret {
            sealed: self.secret_key()?.seal(tenant, name, value),
            updated_ms: self.clock.now_ms(),
        };
        let replaced = self.store.secrets(tenant)?.iter().any(|(n, _)| n == name);
        self.store.put_secret(tenant, name, &sealed)?;
        // Read and loaded under the lock, so a policy PUT meanwhile is not undone.
        let _one_at_a_time = self.policy_loads.lock().unwrap();
        if let Ok(live) = self.tenant(tenant)
            && live.policy.secret_names().contains(name)
        {
            let policy = Policy::parse(&live.policy.source, &format!("{tenant}.toml"))?;
            self.load_tenant_now(policy)?;
        }
        Ok(replaced)
    }

    /// A tenant's secrets: name and when each was set (never the values).
    pub fn secret_names(&self, tenant: &str) -> Result<Vec<(String, i64)>, EngineError> {
        let secrets = self.store.secrets(tenant)?.into_iter();
        Ok(secrets.map(|(name, s)| (name, s.updated_ms)).collect())
    }

    /// Deletes one of a tenant's secrets, unless its live policy names it. Returns whether
    /// it existed.
    pub fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool, EngineError> {
        if let Ok(live) = self.tenant(tenant)
            && live.policy.secret_names().contains(name)
        {
            return Err(EngineError::SecretInUse(name.into()));
        }
        Ok(self.store.delete_secrets(tenant, Some(name))?)
    }
}
