//! The path parameters, as the handlers extract them and the document describes them.

use serde::Deserialize;
use utoipa::IntoParams;

/// A tenant's routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant id (its policy's `tenant`).
    #[param(example = "lone-star-hvac")]
    pub tenant: String,
}

/// A case's routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CasePath {
    /// The case id.
    #[param(example = "lone-star-hvac-00001")]
    pub case: String,
}

/// One of a tenant's dead letters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeadLetterPath {
    /// The tenant id.
    #[param(example = "lone-star-hvac")]
    pub tenant: String,
    /// The dead letter's id.
    pub id: u64,
}

/// One of a tenant's callers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CallerPath {
    /// The tenant id.
    #[param(example = "lone-star-hvac")]
    pub tenant: String,
    /// The caller's number, E.164 (`+` may be sent as `%2B`).
    #[param(example = "+15125550111", pattern = r"^\+[1-9][0-9]{5,14}$")]
    pub number: String,
}

/// One of a tenant's secrets.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// The tenant id.
    #[param(example = "lone-star-hvac")]
    pub tenant: String,
    /// The secret's name (1-64 letters, digits, `-` or `_`).
    #[param(example = "vapi-key", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub name: String,
}

/// A tenant's plugin slot.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SlotPath {
    /// The tenant id.
    #[param(example = "lone-star-hvac")]
    pub tenant: String,
    /// The slot: `trigger`, `cadence`, `qualify` or `crm`.
    // Text here, parsed by the route, so an unknown slot is refused naming the field.
    #[param(inline, value_type = SlotName)]
    pub slot: String,
}

/// The four places in the loop where a tenant's plugin decides.
// The `slot` parameter's schema only.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum SlotName {
    Trigger,
    Cadence,
    Qualify,
    Crm,
}
