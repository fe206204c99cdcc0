//! Conversions between the plain contract types and generated bindings.
//!
//! wasmtime's `bindgen!` (host) and wit-bindgen's `generate!` (guest) both turn the WIT
//! into Rust types with the same names and fields, but as distinct types. Rather than
//! hand-writing two sets of conversions, [`contract_conversions!`] writes them from one
//! list of the contract's types, for whichever generated module it is pointed at. When the
//! WIT changes, this list and `contract.rs` change with it, and the compiler finds every
//! place that disagrees.

use crate::prelude::*;

/// Converts a value into its counterpart type (generated binding <-> plain contract).
pub trait Lift<T> {
    /// Performs the conversion.
    fn lift(self) -> T;
}

macro_rules! lift_identity {
    ($($t:ty),*) => { $(impl Lift<$t> for $t { #[inline] fn lift(self) -> $t { self } })* };
}
lift_identity!(String, bool, u8, u16, u32, i32, i64, f64);

impl<A: Lift<B>, B> Lift<Vec<B>> for Vec<A> {
    fn lift(self) -> Vec<B> {
        self.into_iter().map(Lift::lift).collect()
    }
}

impl<A: Lift<B>, B> Lift<Option<B>> for Option<A> {
    fn lift(self) -> Option<B> {
        self.map(Lift::lift)
    }
}

/// Implements [`Lift`] both ways for one record (struct with named fields).
#[doc(hidden)]
#[macro_export]
macro_rules! __lift_record {
    ($w:ident :: $name:ident { $($f:ident),* $(,)? }) => {
        impl $crate::Lift<$crate::contract::$name> for $w::$name {
            fn lift(self) -> $crate::contract::$name {
                $crate::contract::$name { $($f: $crate::Lift::lift(self.$f)),* }
            }
        }
        impl $crate::Lift<$w::$name> for $crate::contract::$name {
            fn lift(self) -> $w::$name {
                $w::$name { $($f: $crate::Lift::lift(self.$f)),* }
            }
        }
    };
}

/// Implements [`Lift`] both ways for one variant or enum (cases with at most one payload).
#[doc(hidden)]
#[macro_export]
macro_rules! __lift_variant {
    ($w:ident :: $name:ident { $($case:ident $(($p:ident))?),* $(,)? }) => {
        impl $crate::Lift<$crate::contract::$name> for $w::$name {
            fn lift(self) -> $crate::contract::$name {
                match self {
                    $($w::$name::$case $(($p))? =>
                        $crate::contract::$name::$case $(($crate::Lift::lift($p)))?),*
                }
            }
        }
        impl $crate::Lift<$w::$name> for $crate::contract::$name {
            fn lift(self) -> $w::$name {
                match self {
                    $($crate::contract::$name::$case $(($p))? =>
                        $w::$name::$case $(($crate::Lift::lift($p)))?),*
                }
            }
        }
    };
}

/// Writes [`Lift`] conversions between every contract type and the generated types in
/// module `$w` (the bindings of the `redial:policy/types` interface, brought into scope
/// under that name), for the newest contract version. Used by the host and by the guest
/// glue. `contract_conversions!($w, answers: "0.1.0")` writes them for bindings of the
/// 0.1.0 contract, whose answers are text: a typed answer goes to such a plugin as its text.
#[macro_export]
macro_rules! contract_conversions {
    ($w:ident) => {
        $crate::__lift_shared!($w);
        $crate::__lift_variant!($w::AnswerValue {
            Text(x),
            YesNo(x),
            Number(x),
            Choice(x)
        });
        $crate::__lift_record!($w::Answer { field_id, value });
    };
    ($w:ident, answers: "0.1.0") => {
        $crate::__lift_shared!($w);
        impl $crate::Lift<$crate::contract::Answer> for $w::Answer {
            fn lift(self) -> $crate::contract::Answer {
                $crate::contract::Answer::text(self.field_id, self.text)
            }
        }
        impl $crate::Lift<$w::Answer> for $crate::contract::Answer {
            fn lift(self) -> $w::Answer {
                $w::Answer {
                    text: self.value.as_text().into_owned(),
                    field_id: self.field_id,
                }
            }
        }
    };
}

/// The conversions of every record the contract's versions share.
#[doc(hidden)]
#[macro_export]
macro_rules! __lift_shared {
    ($w:ident) => {
        $crate::__lift_variant!($w::SignalKind {
            MissedCall,
            AfterHoursInquiry,
            FailedCallAfterForm,
            Voicemail
        });
        $crate::__lift_record!($w::Moment {
            unix_ms,
            utc_offset_minutes,
            local_weekday,
            local_minute
        });
        $crate::__lift_record!($w::Field { key, value });
        $crate::__lift_record!($w::Signal {
            kind,
            caller,
            line,
            at,
            context
        });
        $crate::__lift_record!($w::CallerHistory {
            open_case,
            prior_cases,
            last_outcome,
            opted_out
        });
        $crate::__lift_record!($w::TriggerInput {
            signal,
            history,
            config
        });
        $crate::__lift_variant!($w::TriggerDecision {
            Ignore(x),
            Recover(x)
        });
        $crate::__lift_record!($w::Recovery { priority, known });
        $crate::__lift_variant!($w::AttemptOutcome {
            NoAnswer,
            Busy,
            Voicemail,
            Declined,
            CallLater(x),
            Connected,
            Failed(x)
        });
        $crate::__lift_record!($w::Attempt {
            at_unix_ms,
            outcome
        });
        $crate::__lift_record!($w::CaseView {
            case_id,
            signal,
            attempts,
            now
        });
        $crate::__lift_record!($w::CadenceInput { case, config });
        $crate::__lift_variant!($w::FallbackChannel { Sms, Email });
        $crate::__lift_record!($w::Fallback {
            channel,
            message,
            link
        });
        $crate::__lift_variant!($w::CadenceDecision {
            CallAfter(x),
            CallAt(x),
            Fallback(x),
            GiveUp(x)
        });
        $crate::__lift_variant!($w::AnswerKind {
            FreeText,
            YesNo,
            Number,
            Choice(x)
        });
        $crate::__lift_record!($w::Question {
            field_id,
            text,
            kind
        });
        $crate::__lift_record!($w::Script {
            opening,
            availability_check,
            questions
        });
        $crate::__lift_record!($w::ScriptInput { case, config });
        $crate::__lift_record!($w::EvaluateInput {
            case,
            answers,
            transcript,
            config
        });
        $crate::__lift_variant!($w::ReasonCode {
            PricingQuestion,
            DemoRequest,
            AppointmentChange,
            SupportIssue,
            InformationRequest,
            Custom(x)
        });
        $crate::__lift_variant!($w::Urgency {
            SameDay,
            ThisWeek,
            LongTermNurture
        });
        $crate::__lift_record!($w::QualifiedValue { value, confirmed });
        $crate::__lift_record!($w::Qualification {
            buying_role,
            timeline,
            existing_system,
            budget_range
        });
        $crate::__lift_variant!($w::NextAction {
            SellerCallback,
            MaterialSend,
            BookingLink,
            AutomatedFollowUp
        });
        $crate::__lift_record!($w::Disposition {
            reason_code,
            urgency,
            qualification,
            next_action,
            intent_score,
            summary
        });
        $crate::__lift_record!($w::CrmInput {
            case,
            disposition,
            answers,
            config
        });
        $crate::__lift_variant!($w::CrmAction {
            Upsert,
            Create,
            Associate
        });
        $crate::__lift_record!($w::CrmOperation {
            id,
            system,
            object,
            action,
            match_key,
            properties,
            associate
        });
    };
}
