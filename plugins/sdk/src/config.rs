//! Reading a plugin's config.
//!
//! The host turns the plugin's table in the tenant policy (TOML) into JSON text once, at
//! policy load, and hands it to every call. Plugins parse it into their own config struct;
//! an empty string means "no table", so defaults apply.

use crate::prelude::*;

use serde::de::DeserializeOwned;

/// Parses the plugin's config, or its `Default` when the policy gave none. The error
/// names the offending key, so the host can show it to the policy author.
pub fn parse<T: DeserializeOwned + Default>(json: &str) -> Result<T, String> {
    if json.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(json).map_err(|e| format!("invalid plugin config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        max_attempts: u32,
    }

    #[test]
    fn empty_config_means_defaults() {
        assert_eq!(parse::<Cfg>("").unwrap(), Cfg::default());
    }

    #[test]
    fn unknown_key_is_named_in_the_error() {
        let err = parse::<Cfg>(r#"{"max_attempt": 3}"#).unwrap_err();
        assert!(err.contains("max_attempt"), "{err}");
    }
}
