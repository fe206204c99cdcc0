//! Building text without `core::fmt`.
//!
//! `format!` and `to_string` run through `core::fmt`, which calls its writers and
//! formatters through function pointers. In a fresh instance every table entry such a call
//! goes through is initialised by the host on first use, so a decision pays for that on
//! each call, besides `core::fmt`'s own work. Gluing known pieces together needs none of
//! it: the reference plugins build their text with these (BENCHMARKS.md, seventh sitting).

use crate::prelude::*;

/// `parts` joined into one string, allocated once at its final length. The standard
/// library's `[&str]::concat` does the same, but measured 0.1–0.2 µs slower per script or
/// crm decision in a fresh instance (six alternating `plugin_call` runs, eighth sitting).
pub fn concat(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// The decimal digits of `n`, as `n.to_string()` writes them.
pub fn decimal(n: impl itoa::Integer) -> String {
    itoa::Buffer::new().format(n).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_glues_the_parts_in_order() {
        assert_eq!(
            concat(&["Reason: ", "demo-request", ""]),
            "Reason: demo-request"
        );
        assert_eq!(concat(&[]), "");
    }

    #[test]
    fn decimal_matches_to_string() {
        for n in [0_i64, -1, 42, 1_764_141_000_000, i64::MIN, i64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
        assert_eq!(decimal(100_u8), "100");
    }
}
