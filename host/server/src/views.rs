//! What the API answers with: named, documented wire types, one per body the routes
//! return (and the request bodies that are JSON or forms).
//!
//! The store's records and the plugin contract's types stay free to change; these are the
//! shapes clients are promised, and `/openapi.json` is generated from them. Each converts
//! from the record it shows. A field that may be `null` is always present (`required`
//! and nullable in the document), so typed clients need no third "absent" case.
//!
//! # Layout
//! - `case.rs`: a case and the parts it is made of (signal, attempts, state, disposition).
//! - `journal.rs`: a case's journal events.
//! - `reports.rs`: case lists, one case with its timeline, the follow-up queue, the funnel.
//! - `admin.rs`: tenants, tokens, plugin versions.
//! - `replay.rs`: what a candidate plugin would have decided on a tenant's recorded cases.
//! - `trial.rs`: a candidate on trial beside the live plugin (shadow or split) and its
//!   report.
//! - `dead_letter.rs`: side effects the host stopped retrying.
//! - `erasure.rs`: the receipt of a caller's erasure.
//! - `secret.rs`: a tenant's secrets (names only).
//! - `inbound.rs`: provider webhook bodies and what the server answers them.
//! - `paths.rs`: the path parameters.

mod admin;
mod case;
mod dead_letter;
mod erasure;
mod inbound;
mod journal;
mod paths;
mod replay;
mod reports;
mod secret;
mod trial;

pub use admin::{
    BackupMade, BackupRequest, Change, IssuedToken, LivePlugin, NotServingTenant, PluginListing,
    PluginUploaded, PluginVersion, PolicyCheck, PolicyProblem, RolledBack, SlotPlugins,
    TenantChange, TenantDeleted, TenantList, TenantSummary, Tier, UploadAccepted, UploadStatus,
};
pub use case::{
    Answer, AnswerValue, Attempt, Case, CaseState, CaseStateName, ContextField, Disposition,
    NextAction, Outcome, Qualification, QualifiedValue, Signal, SignalKind, Timer, TimerKind,
    Urgency,
};
pub use dead_letter::{DeadLetter, DeadLetterList, DeadLetterSettled};
pub use erasure::ErasureReceipt;
pub use inbound::{
    CallMetadata, CallReportAnswer, MessageStatusAnswer, MessageStatusQuery, RetellCall,
    RetellWebhook, SignalAccepted, SignalBody, TwilioMessageStatus, TwilioSms, TwilioVoiceStatus,
    VapiAnalysis, VapiArtifact, VapiCall, VapiMessage, VapiWebhook,
};
pub use journal::{Event, JournalEntry};
pub use paths::{CallerPath, CasePath, DeadLetterPath, SecretPath, SlotPath, TenantPath};
pub use replay::{Replay, ReplayDifference};
pub use reports::{
    Acknowledged, CaseDetail, CaseList, FollowUpItem, FollowUpQueue, Funnel, FunnelReport,
};
pub use secret::{SecretBody, SecretChange, SecretInfo, SecretList};
pub use trial::{
    ShadowDecision, ShadowDifference, ShadowReport, SplitReport, Trial, TrialEnded, TrialModeName,
    TrialReport, TrialStarted,
};
