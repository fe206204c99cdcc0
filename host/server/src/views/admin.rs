//! Tenants, their tokens and their plugins' versions.

use redial_core::records;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One tenant (a client business).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSummary {
    /// Its id (the policy's `tenant`).
    #[schema(example = "lone-star-hvac")]
    pub tenant: String,
    /// Its display name.
    pub name: String,
    /// Its IANA time zone (calling window, reports).
    #[schema(example = "America/Chicago")]
    pub timezone: String,
}

/// Every tenant the server serves, and those it cannot.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// The tenants serving, by id.
    pub tenants: Vec<TenantSummary>,
    /// Tenants whose policy file does not load; every other tenant is served meanwhile.
    pub not_serving: Vec<NotServingTenant>,
}

/// A tenant whose policy does not load.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotServingTenant {
    /// Its id (the policy file's name when the file does not parse).
    pub tenant: String,
    /// Why, as the policy check or the plugin loader said it.
    pub problem: String,
}

/// What a tenant administration call did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A new tenant now serves.
    Created,
    /// The tenant's policy was swapped.
    Replaced,
}

/// The answer to a policy swap.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantChange {
    /// The tenant.
    pub tenant: String,
    /// What happened.
    pub result: Change,
}

/// What a policy check found: whether the policy would be accepted as it is, each
/// problem at its line, and the pilot sheet a business signs off before it goes live.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyCheck {
    /// The tenant the policy was checked for.
    pub tenant: String,
    /// No problems: a PUT of this text (once `missing_secrets` are set) goes live.
    pub valid: bool,
    /// Every syntax error, or else the first error of meaning, in the order of the text.
    pub problems: Vec<PolicyProblem>,
    /// Secrets the policy names that the tenant has not set: the PUT would refuse it until
    /// they are.
    pub missing_secrets: Vec<String>,
    /// The policy's six decisions in plain words (null when it has problems).
    #[schema(required)]
    pub pilot_sheet: Option<String>,
}

/// One problem with a policy's text.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyProblem {
    /// 1-based line (null when the problem has no place in the text, a missing key).
    #[schema(required)]
    pub line: Option<usize>,
    /// 1-based column.
    #[schema(required)]
    pub column: Option<usize>,
    /// The key at fault, when one is named.
    #[schema(required)]
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl From<redial_core::policy::Problem> for PolicyProblem {
    fn from(p: redial_core::policy::Problem) -> Self {
        PolicyProblem {
            line: p.line,
            column: p.column,
            key: p.key,
            message: p.message,
        }
    }
}

/// The answer to a tenant's deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDeleted {
    /// The tenant: it no longer serves.
    pub tenant: String,
    /// Its data is already purged (the id is free again).
    pub purged: bool,
    /// Otherwise, when its data is purged (unix ms); until then the id cannot be reused.
    pub purge_after_ms: Option<i64>,
}

/// Where to write a backup of the store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute path on the server's machine: a folder that does not exist yet, or is
    /// empty.
    #[schema(example = "/var/backups/redial/2026-12-07")]
    pub dir: String,
}

/// A backup written.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupMade {
    /// Where.
    pub dir: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the copy took (steps waited this long).
    pub took_ms: u64,
}

/// A freshly issued tenant API token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The tenant it acts for.
    pub tenant: String,
    /// The bearer token; only its hash is stored.
    #[schema(example = "rdl_3f9c…")]
    pub token: String,
}

/// Which compiler made a plugin's live code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Baseline code (Winch): a new upload goes live on it at once.
    Quick,
    /// Optimised code (Cranelift), swapped in when ready.
    Optimised,
}

impl From<redial_runtime::Tier> for Tier {
    fn from(t: redial_runtime::Tier) -> Self {
        match t {
            redial_runtime::Tier::Quick => Tier::Quick,
            redial_runtime::Tier::Optimised => Tier::Optimised,
        }
    }
}

/// The plugin serving a slot now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivePlugin {
    /// sha256 of the component.
    pub sha256: String,
    /// Its name (the policy's plugin name, or the upload's).
    pub name: String,
    /// The `redial:policy` contract version it was built against.
    #[schema(example = "0.2.0")]
    pub wit: String,
    /// Which compiler made its code.
    pub tier: Tier,
}

/// One uploaded version of a slot's plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginVersion {
    /// sha256 of the component.
    pub sha256: String,
    /// When it was uploaded (unix ms).
    pub uploaded_ms: i64,
}

impl From<&records::PluginVersion> for PluginVersion {
    fn from(v: &records::PluginVersion) -> Self {
        PluginVersion {
            sha256: v.sha256.clone(),
            uploaded_ms: v.uploaded_ms,
        }
    }
}

/// A slot's latest upload since the server started: compiling, live, or failed and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadStatus {
    /// sha256 of the uploaded component.
    pub sha256: String,
    /// `compiling`, `live` or `failed`.
    #[schema(example = "compiling")]
    pub state: String,
    /// Why it failed (the live plugin stayed).
    #[schema(required)]
    pub reason: Option<String>,
    /// When its body had arrived (unix ms).
    pub started_ms: i64,
    /// When it went live or failed (unix ms).
    #[schema(required)]
    pub finished_ms: Option<i64>,
}

impl From<&crate::compiles::UploadProgress> for UploadStatus {
    fn from(p: &crate::compiles::UploadProgress) -> Self {
        use crate::compiles::UploadState;
        let (state, reason) = match &p.state {
            UploadState::Compiling => ("compiling", None),
            UploadState::Live => ("live", None),
            UploadState::Failed(why) => ("failed", Some(why.clone())),
        };
        UploadStatus {
            sha256: p.sha256.clone(),
            state: state.into(),
            reason,
            started_ms: p.started_ms,
            finished_ms: p.finished_ms,
        }
    }
}

/// The answer to an upload sent with `Prefer: respond-async`: it compiles in the
/// background, and the slot's `latest_upload` in the plugin list shows how it ends.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadAccepted {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// The upload, compiling.
    pub upload: UploadStatus,
}

/// A slot's live plugin and its upload history.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotPlugins {
    /// What serves now.
    pub live: LivePlugin,
    /// Uploads, oldest first (rollback returns to the one before the last).
    pub uploads: Vec<PluginVersion>,
    /// The latest upload since the server started: compiling, live, or failed and why.
    #[schema(required)]
    pub latest_upload: Option<UploadStatus>,
    /// A candidate on trial beside the live plugin (null when none).
    #[schema(required)]
    pub trial: Option<super::Trial>,
}

/// A tenant's plugins, per slot (`trigger`, `cadence`, `qualify`, `crm`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginListing {
    /// The tenant.
    pub tenant: String,
    /// Each slot by name.
    pub slots: BTreeMap<String, SlotPlugins>,
}

/// The answer to an accepted upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginUploaded {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// sha256 of the component now live.
    #[schema(required)]
    pub live: Option<String>,
    /// Which compiler made the code that went live.
    pub tier: Tier,
    /// The slot's uploads, oldest first.
    pub versions: Vec<PluginVersion>,
}

/// The answer to a rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolledBack {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: String,
    /// sha256 of the component now live.
    pub live: String,
}
