//! Reading a plugin's config.
//!
//! The host turns the plugin's table in the tenant policy (TOML) into JSON text once, at
//! policy load, and hands it to every call. Plugins parse it into their own config struct;
//! an empty string means "no table", read as an empty one, so the struct's defaults apply.
//!
//! Every decision parses its config afresh, so its cost is paid per call. A struct-wide
//! `#[serde(default)]` builds the whole default value before reading a key: fine for a few
//! scalars, but defaults that allocate much are cheaper per field (`default = "..."`).
//! `#[serde(flatten)]` buffers every key and value first; list the fields instead.

use crate::prelude::*;

use serde::de::DeserializeOwned;

/// Parses the plugin's config; no config reads as an empty table. The error names the
/// offending key, so the host can show it to the policy author.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
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
