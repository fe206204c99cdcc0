//! What a tenant may not say in a policy it submits through the API.
//!
//! The operator's own files (the policies folder, the command line) are trusted: they may
//! read the server's environment (`env:NAME`), load a component from a file and point a
//! provider at another address (a test double, a regional endpoint). A policy a tenant
//! PUTs is not: with those three it could read the server's secrets and other tenants'
//! keys, read the server's files, and send the server's credentials to an address of its
//! choosing. So a submitted policy names its plugins by name or by the hash of a component
//! the host already has, names its credentials as the tenant's own secrets (`secret:NAME`,
//! set through the API and never returned), and leaves provider addresses as the host
//! fixes them; its own webhook endpoints must be `https` to a public host.

use super::{Connector, Policy, PolicyError, Provider, SECRET_PREFIX};
use redial_runtime::Slot;
use std::net::IpAddr;

impl Policy {
    /// Refuses what only the operator may write (see the module header); `origin` names the
    /// policy in errors.
    pub fn check_submitted(&self, origin: &str) -> Result<(), PolicyError> {
        let invalid = |key: String, message: &str| PolicyError::Invalid {
            path: origin.to_string(),
            key,
            message: message.to_string(),
        };
        for slot in Slot::ALL {
            if self.plugin(slot).path.is_some() {
                return Err(invalid(
                    format!("{slot}.path"),
                    "a submitted policy names its plugin (`plugin`) or an uploaded component \
                     (`sha256`); files are for the operator's own policies",
                ));
            }
        }
        for (key, value) in self.credentials() {
            if !value.starts_with(SECRET_PREFIX) {
                let message = format!(
                    "a submitted policy names each credential as `secret:NAME`, set with \
                     PUT /v1/tenants/{}/secrets/NAME (never returned); the value itself \
                     and `env:` are for the operator's own files",
                    self.tenant
                );
                return Err(invalid(key, &message));
            }
        }
        for (name, connector) in self.connectors() {
            for (key, value) in &connector.settings {
                let key_path = format!("{name}.settings.{key}");
                let text = value.as_str().unwrap_or_default();
                if text.starts_with("env:") {
                    return Err(invalid(
                        key_path,
                        "`env:` reads the server's environment, which only the operator's \
                         own policies may do; give the value itself",
                    ));
                }
                if key == "base_url" {
                    return Err(invalid(
                        key_path,
                        "a provider's address is fixed by the host; only the operator's own \
                         policies may move it",
                    ));
                }
                if connector.provider == Provider::Webhook
                    && key == "url"
                    && let Err(why) = public_https(text)
                {
                    return Err(invalid(key_path, &why));
                }
            }
        }
        Ok(())
    }

    /// Each connector table with its key.
    pub(super) fn connectors(&self) -> [(&'static str, &Connector); 4] {
        [
            ("voice", &self.voice),
            ("sms_connector", &self.sms_connector),
            ("crm_connector", &self.crm_connector),
            ("notify", &self.notify),
        ]
    }

    /// [`Policy::connectors`], to edit (credentials put in place of their references).
    pub(super) fn connectors_mut(&mut self) -> [(&'static str, &mut Connector); 4] {
        [
            ("voice", &mut self.voice),
            ("sms_connector", &mut self.sms_connector),
            ("crm_connector", &mut self.crm_connector),
            ("notify", &mut self.notify),
        ]
    }
}

/// A tenant's own endpoint: `https`, and not an address inside the server's network
/// (loopback, private, link-local such as cloud metadata, unspecified). A host name is
/// checked again when it is resolved, at delivery.
fn public_https(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("must be an https:// URL".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("names no host".into());
    }
    let internal_name =
        host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost");
    let internal_ip = host.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip));
    if internal_name || internal_ip {
        return Err(format!("{host} is not a public address"));
    }
    Ok(())
}

/// Whether an address is on the public internet (not loopback, private, link-local,
/// shared, documentation or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_to_public_hosts_is_a_tenant_endpoint() {
        for ok in [
            "https://hooks.example.com/redial",
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]:8443/h",
        ] {
            assert!(public_https(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://hooks.example.com/",
            "https://localhost:8080/",
            "https://127.0.0.1/",
            "https://10.0.0.5/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://user@192.168.1.1/",
            "https://100.64.0.1/",
            "https:///path",
        ] {
            assert!(public_https(refused).is_err(), "{refused}");
        }
    }
}
