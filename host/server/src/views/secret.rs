//! A tenant's secrets: names and dates only; a value goes in and never comes back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The value to set a secret to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The secret itself: 1 to 4096 characters, not only spaces, used as given (so it may not
    /// start `env:` or `secret:`). It is sealed at rest and never returned.
    #[schema(
        example = "sk-live-3f9c2a",
        min_length = 1,
        max_length = 4096,
        pattern = r"^(?!env:|secret:)[\s\S]*\S[\s\S]*$"
    )]
    pub value: String,
}

/// One of a tenant's secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretInfo {
    /// Its name: the policy refers to it as `secret:<name>`.
    #[schema(example = "vapi-key")]
    pub name: String,
    /// When it was last set (unix ms).
    pub updated_ms: i64,
    /// Whether the tenant's live policy refers to it.
    pub in_use: bool,
}

/// A tenant's secrets, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    /// The tenant.
    pub tenant: String,
    /// Its secrets, sorted by name.
    pub secrets: Vec<SecretInfo>,
}

/// What setting or deleting a secret did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretChange {
    /// The tenant.
    pub tenant: String,
    /// The secret.
    pub name: String,
    /// `created`, `replaced` or `deleted`.
    #[schema(example = "replaced")]
    pub result: String,
}
